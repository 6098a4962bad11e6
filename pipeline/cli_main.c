/* cli_main.c: `pipeline` entry point, the command table, and the info / check / schema commands. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/hd.h"
#include "core/log.h"
#include "pipeline/cli.h"

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

static int run_info(const pl_cli_args *a) {
  pl_cli_apply_common(a);
  printf("pipeline %s\n", PL_VERSION);
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
    NULL, NULL, run_info};

/* ------------------------------------------------------------------ check */

static int run_check(const pl_cli_args *a) {
  pl_cli_apply_common(a);
  pl_scene s;
  int rc = pl_cli_load_scene(a, "check", &s);
  if (rc) return rc;
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
    "The printed scene is itself a valid scene file.",
    NULL, run_check};

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
    "[options]", NULL, NULL, run_schema};

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
