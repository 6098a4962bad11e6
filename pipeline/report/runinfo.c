#define _POSIX_C_SOURCE 200809L
#include "pipeline/report/runinfo.h"
#include "pipeline/report/json_out.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/hd.h"
#include "core/log.h"
#include "core/progress.h"
#include "pipeline/cli/cli.h"

static void utc_now(char *out, size_t size, const char *fmt) {
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, size, fmt, &tm);
}

static int threads(void) {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

void pl_run_device(pl_backend backend, char *out, size_t size) {
  if (backend == PL_BACKEND_CUDA) {
    char desc[4096] = "";
    int n = pl_cuda_device_count(desc, sizeof desc);
    char *nl = strchr(desc, '\n');
    if (nl) *nl = '\0';
    snprintf(out, size, "%s", n > 0 && desc[0] ? desc : "CUDA device");
    return;
  }
  char model[256] = "CPU";
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (f) {
    char line[512];
    while (fgets(line, sizeof line, f))
      if (strncmp(line, "model name", 10) == 0) {
        const char *c = strchr(line, ':');
        if (c) {
          snprintf(model, sizeof model, "%s", c + 2);
          model[strcspn(model, "\n")] = '\0';
        }
        break;
      }
    fclose(f);
  }
  snprintf(out, size, "%s, %d thread%s", model, threads(), threads() == 1 ? "" : "s");
}

static cJSON *run_object(const pl_run *r, const pl_scene *s, const char *outcome, double seconds, pl_backend backend) {
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "command", r->command);
  cJSON *argv = cJSON_AddArrayToObject(j, "command_line");
  for (int i = 0; i < pl_cli_argc; ++i) cJSON_AddItemToArray(argv, cJSON_CreateString(pl_cli_argv[i]));
  char cwd[PL_PATH_MAX];
  if (getcwd(cwd, sizeof cwd)) cJSON_AddStringToObject(j, "working_directory", cwd);
  cJSON_AddStringToObject(j, "scene", s->path);
  cJSON_AddStringToObject(j, "resolved_scene", "scene.cfg");
  cJSON *ov = cJSON_AddArrayToObject(j, "overrides");
  for (int i = 0; i < s->config.nentries; ++i) {
    const pl_cfg_entry *e = &s->config.entries[i];
    if (e->line != 0 || strcmp(e->file, "--set") != 0) continue;
    const pl_cfg_section *sec = &s->config.sections[e->section];
    char t[1200];
    if (sec->name[0])
      snprintf(t, sizeof t, "%s.%s.%s=%s", sec->type, sec->name, e->key, e->value);
    else
      snprintf(t, sizeof t, "%s.%s=%s", sec->type, e->key, e->value);
    cJSON_AddItemToArray(ov, cJSON_CreateString(t));
  }
  cJSON_AddStringToObject(j, "version", pl_build_version);
  cJSON_AddStringToObject(j, "git_commit", pl_build_commit);
  cJSON_AddStringToObject(j, "build_type", pl_build_type);
  cJSON_AddStringToObject(j, "precision", PL_REAL_NAME);
  cJSON_AddStringToObject(j, "backend", backend == PL_BACKEND_AUTO ? "not started" : pl_backend_name(backend));
  char dev[512] = "";
  if (backend != PL_BACKEND_AUTO) pl_run_device(backend, dev, sizeof dev);
  cJSON_AddStringToObject(j, "device", dev);
  cJSON_AddNumberToObject(j, "threads", threads());
  char host[256] = "";
  if (gethostname(host, sizeof host - 1) == 0) cJSON_AddStringToObject(j, "host", host);
  cJSON_AddStringToObject(j, "started", r->started);
  char now[32];
  utc_now(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ");
  if (strcmp(outcome, "running") != 0) cJSON_AddStringToObject(j, "finished", now);
  cJSON_AddNumberToObject(j, "wall_seconds", seconds);
  cJSON_AddStringToObject(j, "outcome", outcome);
  cJSON_AddBoolToObject(j, "resumed", r->resumed);
  if (r->previous[0]) cJSON_AddStringToObject(j, "replaced_run", r->previous);
  return j;
}

pl_status pl_run_begin(pl_run *r, const char *command, const pl_scene *s, const char *out, int new_run, int resume,
                       int quiet) {
  memset(r, 0, sizeof *r);
  snprintf(r->command, sizeof r->command, "%s", command);
  utc_now(r->started, sizeof r->started, "%Y-%m-%dT%H:%M:%SZ");
  r->t0 = pl_now();
  r->resumed = resume;
  if (new_run) {
    char stamp[32];
    utc_now(stamp, sizeof stamp, "%Y%m%d-%H%M%S");
    int n = snprintf(r->folder, sizeof r->folder, "%s/%s", out, stamp);
    /* two runs in the same second get -2, -3, ... */
    for (int k = 2; access(r->folder, F_OK) == 0 && k < 1000; ++k)
      n = snprintf(r->folder, sizeof r->folder, "%s/%s-%d", out, stamp, k);
    if (n >= (int)sizeof r->folder) return pl_fail(PL_ERR_INVALID, "%s: output path too long", out);
  } else if (snprintf(r->folder, sizeof r->folder, "%s", out) >= (int)sizeof r->folder) {
    return pl_fail(PL_ERR_INVALID, "%s: output path too long", out);
  }
  PL_TRY(pl_mkdirs(r->folder));
  char path[PL_PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/run.json", r->folder);
  char *text = NULL;
  if (access(path, R_OK) == 0 && pl_read_file(path, &text, NULL) == PL_OK) {
    cJSON *j = cJSON_Parse(text);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "command"), *t = cJSON_GetObjectItemCaseSensitive(j, "started");
    snprintf(r->previous, sizeof r->previous, "%s started %s", cJSON_IsString(c) ? c->valuestring : "a run",
             cJSON_IsString(t) ? t->valuestring : "(unknown time)");
    int same = cJSON_IsString(c) && strcmp(c->valuestring, command) == 0;
    cJSON_Delete(j);
    free(text);
    if (resume && same)
      r->previous[0] = '\0'; /* the same run, continued */
    else if (!quiet && same)
      PL_WARN("%s already holds a run (%s): its files are replaced; --new-run writes to a new timestamped folder "
              "%s/YYYYmmdd-HHMMSS instead", r->folder, r->previous, out);
    else if (!quiet)
      PL_WARN("%s already holds a run (%s): its run.json and scene.cfg are replaced by this %s's (a fit keeps its "
              "own record in result.json); --new-run writes to a new timestamped folder instead", r->folder,
              r->previous, command);
  }
  /* the resolved scene: every value, overrides and defaults marked */
  snprintf(path, sizeof path, "%s/scene.cfg", r->folder);
  pl_out o;
  PL_TRY(pl_out_open(&o, path, 0));
  fprintf(o.f, "; the scene of the run in this folder (%s %s, %s); relative paths are relative to %s\n", command,
          r->started, pl_build_commit, s->config.dir ? s->config.dir : ".");
  pl_scene_print(s, o.f);
  PL_TRY(pl_out_commit(&o));
  snprintf(path, sizeof path, "%s/run.json", r->folder);
  cJSON *j = run_object(r, s, "running", 0, PL_BACKEND_AUTO);
  pl_status st = pl_write_json(path, j);
  cJSON_Delete(j);
  return st;
}

pl_status pl_run_end(pl_run *r, const pl_scene *s, pl_backend backend, int ok, int add_to_result) {
  double seconds = pl_now() - r->t0;
  char path[PL_PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/run.json", r->folder);
  cJSON *j = run_object(r, s, ok ? "finished" : "failed", seconds, backend);
  pl_status st = pl_write_json(path, j);
  if (st == PL_OK && add_to_result) {
    snprintf(path, sizeof path, "%s/result.json", r->folder);
    char *text = NULL;
    if (access(path, R_OK) == 0 && pl_read_file(path, &text, NULL) == PL_OK) {
      cJSON *res = cJSON_Parse(text);
      free(text);
      if (!res) {
        st = pl_fail(PL_ERR_PARSE, "%s: not JSON", path);
      } else {
        cJSON_DeleteItemFromObjectCaseSensitive(res, "run");
        cJSON_AddItemToObject(res, "run", cJSON_Duplicate(j, 1));
        st = pl_write_json(path, res);
        cJSON_Delete(res);
      }
    }
  }
  cJSON_Delete(j);
  return st;
}
