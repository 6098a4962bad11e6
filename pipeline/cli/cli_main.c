/* cli_main.c: `pipeline` entry point, the command table, and the info / check / schema commands. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include <cjson/cJSON.h>

#include "core/hd.h"
#include "core/log.h"
#include "pipeline/cli/cli.h"
#include "pipeline/report/runinfo.h"

#ifndef PL_VERSION
#define PL_VERSION "unknown"
#endif
#ifndef PL_BUILD_TYPE
#define PL_BUILD_TYPE "unknown"
#endif
#ifndef PL_CUDA_ARCHS
#define PL_CUDA_ARCHS ""
#endif

/* ------------------------------------------------------------------ info */

static const pl_cli_option info_opts[] = {{"json", 0, NULL, "print the same facts as one JSON object"},
                                         {NULL, 0, NULL, NULL}};

static void print_json(cJSON *j) {
  char *text = cJSON_Print(j);
  if (text) printf("%s\n", text);
  cJSON_free(text);
  cJSON_Delete(j);
}

static int info_json(void) {
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "version", PL_VERSION);
  cJSON_AddStringToObject(j, "git_commit", pl_build_commit);
  cJSON_AddStringToObject(j, "build_type", PL_BUILD_TYPE);
  cJSON_AddStringToObject(j, "precision", PL_REAL_NAME);
#ifdef _OPENMP
  cJSON_AddNumberToObject(j, "cpu_threads", omp_get_max_threads());
#else
  cJSON_AddNumberToObject(j, "cpu_threads", 1);
#endif
  char dev[512];
  pl_run_device(PL_BACKEND_CPU, dev, sizeof dev);
  cJSON_AddStringToObject(j, "cpu", dev);
  cJSON_AddBoolToObject(j, "cuda_compiled", pl_cuda_compiled());
  if (pl_cuda_compiled()) cJSON_AddStringToObject(j, "cuda_architectures", PL_CUDA_ARCHS);
  char desc[4096] = "";
  int n = pl_cuda_device_count(desc, sizeof desc);
  cJSON *devs = cJSON_AddArrayToObject(j, "cuda_devices");
  char *save = NULL;
  for (char *l = n > 0 ? strtok_r(desc, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save))
    cJSON_AddItemToArray(devs, cJSON_CreateString(l));
  pl_backend be;
  char why[256];
  if (pl_backend_resolve(PL_BACKEND_AUTO, &be, why, sizeof why) == PL_OK) {
    cJSON_AddStringToObject(j, "auto_backend", pl_backend_name(be));
    cJSON_AddStringToObject(j, "auto_backend_reason", why);
  }
  print_json(j);
  return 0;
}

static int run_info(const pl_cli_args *a) {
  pl_cli_apply_common(a);
  if (pl_cli_count(a, "json")) return info_json();
  printf("pipeline %s\n", PL_VERSION);
  printf("git commit:  %s\n", pl_build_commit);
  printf("build type:  %s%s\n", PL_BUILD_TYPE,
#if defined(__SANITIZE_ADDRESS__)
         " (AddressSanitizer)"
#else
         ""
#endif
  );
  printf("real type:   %s\n", PL_REAL_NAME);
#ifdef _OPENMP
  printf("cpu backend: yes (OpenMP, %d threads)\n", omp_get_max_threads());
#else
  printf("cpu backend: yes (single thread, built without OpenMP)\n");
#endif
  if (pl_cuda_compiled())
    printf("cuda backend: compiled (sm_%s)\n", PL_CUDA_ARCHS);
  else
    printf("cuda backend: not compiled (no nvcc at build time, or PL_CUDA=OFF)\n");
  char desc[4096];
  int n = pl_cuda_device_count(desc, sizeof desc);
  if (n > 0)
    printf("cuda devices: %d\n%s\n", n, desc);
  else
    printf("cuda devices: none found\n");
  pl_backend be;
  char why[256];
  if (pl_backend_resolve(PL_BACKEND_AUTO, &be, why, sizeof why) == PL_OK) printf("auto backend: %s\n", why);
  return 0;
}

const pl_cli_command pl_cmd_info = {
    "info", "Print the version, build type, real type, compiled backends and the CUDA devices found.", "[options]",
    NULL, info_opts, run_info, 1};

/* ------------------------------------------------------------------ check */

static const pl_cli_option check_opts[] = {
    {"json", 0, NULL, "print {\"valid\", \"error\", \"scene\", \"sections\": [{type, name, values, defaults, overrides}]}"},
    {NULL, 0, NULL, NULL}};

/* The resolved scene as JSON: every section with its values (as text, as in the file), which of them are
 * defaults and which came from --set. */
static cJSON *scene_json(const pl_scene *s) {
  const pl_config *c = &s->config;
  cJSON *secs = cJSON_CreateArray();
  for (int si = 0; si < c->nsections; ++si) {
    const pl_cfg_section *sec = &c->sections[si];
    const pl_section_spec *spec = pl_schema_section(c->schema, sec->type);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", sec->type);
    if (sec->name[0]) cJSON_AddStringToObject(o, "name", sec->name);
    cJSON *vals = cJSON_AddObjectToObject(o, "values");
    cJSON *defs = cJSON_AddArrayToObject(o, "defaults");
    cJSON *ovs = cJSON_AddArrayToObject(o, "overrides");
    for (int i = 0; i < c->nentries; ++i) {
      const pl_cfg_entry *e = &c->entries[i];
      if (e->section != si) continue;
      cJSON_AddStringToObject(vals, e->key, e->value);
      if (e->line == 0) cJSON_AddItemToArray(ovs, cJSON_CreateString(e->key));
    }
    for (const pl_key_spec *k = spec && !spec->address_keys ? spec->keys : NULL; k && k->key; ++k)
      if (!pl_config_entry(c, si, k->key) && k->def) {
        cJSON_AddStringToObject(vals, k->key, k->def);
        cJSON_AddItemToArray(defs, cJSON_CreateString(k->key));
      }
    cJSON_AddItemToArray(secs, o);
  }
  return secs;
}

static int run_check(const pl_cli_args *a) {
  pl_cli_apply_common(a);
  pl_scene s;
  int json = pl_cli_count(a, "json") > 0;
  int rc = pl_cli_load_scene(a, "check", &s);
  if (rc) {
    if (json) {
      cJSON *j = cJSON_CreateObject();
      cJSON_AddBoolToObject(j, "valid", 0);
      cJSON_AddStringToObject(j, "error", pl_last_error());
      print_json(j);
    }
    return rc;
  }
  if (json) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddBoolToObject(j, "valid", 1);
    cJSON_AddStringToObject(j, "scene", s.path);
    cJSON_AddItemToObject(j, "sections", scene_json(&s));
    print_json(j);
    pl_scene_free(&s);
    return 0;
  }
  pl_scene_print(&s, stdout);
  fprintf(stderr, "pipeline check: %s is valid (%d material%s, %d object%s, %d collider%s, %d camera%s, %d learnable)\n",
          s.path, s.nmaterials, s.nmaterials == 1 ? "" : "s", s.nobjects, s.nobjects == 1 ? "" : "s", s.ncolliders,
          s.ncolliders == 1 ? "" : "s", s.ncameras, s.ncameras == 1 ? "" : "s", s.nparams);
  pl_scene_free(&s);
  return 0;
}

const pl_cli_command pl_cmd_check = {
    "check", "Parse and validate a scene file, then print the resolved scene (every value, defaults marked).",
    "SCENE.cfg [options]",
    "Errors name the file, line and key, and suggest the nearest valid key for a typo.\n"
    "The printed scene is itself a valid scene file. --json prints it as JSON instead (and, for an invalid scene,\n"
    "{\"valid\": false, \"error\": ...} with exit status 2).",
    check_opts, run_check, 0};

/* ------------------------------------------------------------------ schema */

static const char *kind_name(pl_key_kind k) {
  switch (k) {
    case PL_KT_REAL: return "number";
    case PL_KT_INT: return "integer";
    case PL_KT_BOOL: return "bool";
    case PL_KT_STRING: return "text";
    case PL_KT_ENUM: return "choice";
    case PL_KT_VEC3: return "3 numbers";
    case PL_KT_PATH: return "path";
    case PL_KT_LIST: return "list";
  }
  return "?";
}

static int run_schema(const pl_cli_args *a) {
  pl_cli_apply_common(a);
  for (const pl_section_spec *s = pl_scene_schema.sections; s->type; ++s) {
    printf("### [%s%s]\n\n%s.\n\n", s->type, s->named ? " NAME" : "", s->doc);
    if (s->address_keys) {
      printf("Keys are addresses of other values (`material.NAME.E = 2e5`).\n\n");
      continue;
    }
    printf("| key | kind | default | meaning |\n| --- | --- | --- | --- |\n");
    for (const pl_key_spec *k = s->keys; k && k->key; ++k) {
      char kind[160];
      if (k->kind == PL_KT_ENUM)
        snprintf(kind, sizeof kind, "one of `%s`", k->choices);
      else
        snprintf(kind, sizeof kind, "%s", kind_name(k->kind));
      char range[64] = "";
      if (k->flags & PL_KF_RANGE)
        snprintf(range, sizeof range, ", in %s%g, %g%s", (k->flags & PL_KF_OPEN_LO) ? "(" : "[", k->lo, k->hi,
                 (k->flags & PL_KF_OPEN_HI) ? ")" : "]");
      else if (k->flags & PL_KF_POSITIVE)
        snprintf(range, sizeof range, ", > 0");
      else if (k->flags & PL_KF_NONNEG)
        snprintf(range, sizeof range, ", >= 0");
      printf("| `%s` | %s%s | %s | %s%s |\n", k->key, kind, range,
             (k->flags & PL_KF_REQUIRED) ? "**required**" : (k->def ? k->def : "(unset)"), k->doc,
             (k->flags & PL_KF_LEARNABLE) ? " (learnable)" : "");
    }
    printf("\n");
  }
  return 0;
}

const pl_cli_command pl_cmd_schema = {
    "schema", "Print every section and key of the scene format as Markdown tables (docs/scene-format.md).",
    "[options]", NULL, NULL, run_schema, 1};

/* ------------------------------------------------------------------ dispatch */

const pl_cli_command *const pl_cli_commands[] = {&pl_cmd_optimize, &pl_cmd_render, &pl_cmd_gradcheck, &pl_cmd_sweep,
                                                  &pl_cmd_check,    &pl_cmd_info,   &pl_cmd_render_ply, &pl_cmd_schema,
                                                  &pl_cmd_capture, NULL};
int pl_cli_argc;
char **pl_cli_argv;

static void usage(FILE *f) {
  fprintf(f, "usage: pipeline COMMAND [arguments] [options]\n\n"
             "Recover physical parameters from images: MLS-MPM simulation -> surface Gaussians -> splatting,\n"
             "with one adjoint pass back to the material parameters.\n\ncommands:\n");
  for (int i = 0; pl_cli_commands[i]; ++i)
    fprintf(f, "  %-11s %s\n", pl_cli_commands[i]->name, pl_cli_commands[i]->summary);
  fprintf(f, "\n`pipeline COMMAND --help` describes a command. Exit status: 0 ok, 1 runtime failure, 2 usage or "
             "input error.\n");
}

int main(int argc, char **argv) {
  pl_cli_argc = argc;
  pl_cli_argv = argv;
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char *name = argv[1];
  if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
    usage(stdout);
    return 0;
  }
  if (strcmp(name, "--version") == 0) {
    printf("pipeline %s\n", PL_VERSION);
    return 0;
  }
  for (int i = 0; pl_cli_commands[i]; ++i) {
    const pl_cli_command *c = pl_cli_commands[i];
    if (strcmp(c->name, name) != 0) continue;
    pl_cli_args a;
    int rc = pl_cli_parse(c, argc - 2, argv + 2, &a);
    if (rc < 0) return 0;
    if (rc) return rc;
    return c->run(&a);
  }
  const char *best = NULL;
  int bd = 1000;
  for (int i = 0; pl_cli_commands[i]; ++i) {
    int d = pl_edit_distance(name, pl_cli_commands[i]->name);
    if (d < bd) bd = d, best = pl_cli_commands[i]->name;
  }
  if (best && bd <= 2)
    fprintf(stderr, "pipeline: unknown command '%s' (did you mean '%s'?)\n", name, best);
  else
    fprintf(stderr, "pipeline: unknown command '%s'\n", name);
  usage(stderr);
  return 2;
}
