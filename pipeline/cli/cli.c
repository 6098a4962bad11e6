#define _POSIX_C_SOURCE 200809L
#include "pipeline/cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/log.h"

static const pl_cli_option common_opts[] = {
    {"set", 's', "KEY=VALUE", "override a scene value, e.g. --set material.jelly.E=2e5 (repeatable)"},
    {"backend", 0, "NAME", "auto (cuda when a device is present), cpu or cuda; overrides sim.backend"},
    {"threads", 0, "N", "CPU threads (default: all cores)"},
    {"log", 0, "LEVEL", "error, warn, info (default) or debug"},
    {"quiet", 'q', NULL, "no progress bars, warnings and errors only"},
    {"help", 'h', NULL, "show this help"},
    {NULL, 0, NULL, NULL}};

static void print_opts(const pl_cli_option *o) {
  for (; o && o->name; ++o) {
    char head[96];
    if (o->short_name)
      snprintf(head, sizeof head, "-%c, --%s%s%s", o->short_name, o->name, o->arg ? " " : "", o->arg ? o->arg : "");
    else
      snprintf(head, sizeof head, "    --%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
    printf("  %-28s %s\n", head, o->help);
  }
}

static void print_help(const pl_cli_command *cmd) {
  printf("usage: pipeline %s %s\n\n%s\n", cmd->name, cmd->synopsis, cmd->summary);
  if (cmd->details && cmd->details[0]) printf("\n%s\n", cmd->details);
  if (cmd->options && cmd->options[0].name) {
    printf("\noptions:\n");
    print_opts(cmd->options);
  }
  printf("\ncommon options:\n");
  print_opts(common_opts);
  printf("\nexit status: 0 ok, 1 runtime failure, 2 usage or input error\n");
}

int pl_cli_parse(const pl_cli_command *cmd, int argc, char **argv, pl_cli_args *a) {
  memset(a, 0, sizeof *a);
  for (const pl_cli_option *o = cmd->options; o && o->name; ++o) a->opts[a->nopts++] = o;
  for (const pl_cli_option *o = common_opts; o->name; ++o) a->opts[a->nopts++] = o;
  int only_pos = 0;
  for (int i = 0; i < argc; ++i) {
    const char *arg = argv[i];
    if (only_pos || arg[0] != '-' || strcmp(arg, "-") == 0) {
      if (a->npos == PL_CLI_MAX_POS) {
        fprintf(stderr, "pipeline %s: too many arguments\n", cmd->name);
        return 2;
      }
      a->pos[a->npos++] = arg;
      continue;
    }
    if (strcmp(arg, "--") == 0) {
      only_pos = 1;
      continue;
    }
    int k = -1;
    const char *val = NULL;
    if (arg[1] == '-') {
      const char *name = arg + 2;
      const char *eq = strchr(name, '=');
      size_t len = eq ? (size_t)(eq - name) : strlen(name);
      for (int j = 0; j < a->nopts; ++j)
        if (strlen(a->opts[j]->name) == len && strncmp(a->opts[j]->name, name, len) == 0) k = j;
      if (k >= 0 && eq) {
        if (!a->opts[k]->arg) {
          fprintf(stderr, "pipeline %s: option --%s takes no value\n", cmd->name, a->opts[k]->name);
          return 2;
        }
        val = eq + 1;
      }
    } else if (arg[2] == '\0') {
      for (int j = 0; j < a->nopts; ++j)
        if (a->opts[j]->short_name == arg[1]) k = j;
    }
    if (k < 0) {
      fprintf(stderr, "pipeline %s: unknown option '%s' (see pipeline %s --help)\n", cmd->name, arg, cmd->name);
      return 2;
    }
    if (a->opts[k]->arg && !val) {
      if (i + 1 >= argc) {
        fprintf(stderr, "pipeline %s: option %s needs a value (%s)\n", cmd->name, arg, a->opts[k]->arg);
        return 2;
      }
      val = argv[++i];
    }
    if (strcmp(a->opts[k]->name, "help") == 0) {
      print_help(cmd);
      return -1;
    }
    if (a->count[k] == PL_CLI_MAX_VALUES) {
      fprintf(stderr, "pipeline %s: option --%s given too often\n", cmd->name, a->opts[k]->name);
      return 2;
    }
    a->values[k][a->count[k]++] = val ? val : "1";
  }
  if (cmd->no_scene && pl_cli_count(a, "set")) {
    fprintf(stderr, "pipeline %s: --set changes a scene's value, and %s takes no scene\n", cmd->name, cmd->name);
    return 2;
  }
  return 0;
}

static int find_opt(const pl_cli_args *a, const char *name) {
  for (int j = 0; j < a->nopts; ++j)
    if (strcmp(a->opts[j]->name, name) == 0) return j;
  return -1;
}

const char *pl_cli_get(const pl_cli_args *a, const char *name) {
  int k = find_opt(a, name);
  return (k >= 0 && a->count[k]) ? a->values[k][a->count[k] - 1] : NULL;
}
int pl_cli_count(const pl_cli_args *a, const char *name) {
  int k = find_opt(a, name);
  return k >= 0 ? a->count[k] : 0;
}
const char *pl_cli_get_nth(const pl_cli_args *a, const char *name, int i) {
  int k = find_opt(a, name);
  return (k >= 0 && i < a->count[k]) ? a->values[k][i] : NULL;
}

int pl_cli_int(const pl_cli_args *a, const char *name, long dflt, long *out) {
  const char *v = pl_cli_get(a, name);
  *out = dflt;
  if (!v) return 0;
  if (!pl_parse_int(v, out)) {
    fprintf(stderr, "pipeline: --%s: '%s' is not an integer\n", name, v);
    return 2;
  }
  return 0;
}
int pl_cli_real(const pl_cli_args *a, const char *name, double dflt, double *out) {
  const char *v = pl_cli_get(a, name);
  *out = dflt;
  if (!v) return 0;
  if (!pl_parse_real(v, out)) {
    fprintf(stderr, "pipeline: --%s: '%s' is not a number\n", name, v);
    return 2;
  }
  return 0;
}

int pl_cli_quiet(const pl_cli_args *a) { return pl_cli_count(a, "quiet") > 0; }

void pl_cli_apply_common(const pl_cli_args *a) {
  const char *lv = pl_cli_get(a, "log");
  if (pl_cli_quiet(a)) pl_log_set_level(PL_LOG_WARN);
  if (lv) {
    pl_log_level l;
    if (pl_log_parse_level(lv, &l) == 0)
      pl_log_set_level(l);
    else
      PL_WARN("--log: unknown level '%s' (error, warn, info, debug); keeping the default", lv);
  }
#ifdef _OPENMP
  long t = 0;
  const char *tv = pl_cli_get(a, "threads");
  if (tv && pl_parse_int_in(tv, 1, PL_MAX_THREADS, &t) == 1) omp_set_num_threads((int)t);
#endif
}

int pl_cli_report(const char *cmd, pl_status s) {
  fprintf(stderr, "pipeline %s: error: %s\n", cmd, pl_last_error()[0] ? pl_last_error() : pl_status_name(s));
  return pl_status_exit_code(s);
}

int pl_cli_load_scene(const pl_cli_args *a, const char *cmd, pl_scene *s) {
  memset(s, 0, sizeof *s);
  if (a->npos < 1) {
    fprintf(stderr, "pipeline %s: missing the scene file (usage: pipeline %s SCENE.cfg; see --help)\n", cmd, cmd);
    return 2;
  }
  if (a->npos > 1) {
    fprintf(stderr, "pipeline %s: one scene file per run: unexpected argument '%s' after %s (use --set KEY=VALUE for "
            "overrides)\n", cmd, a->pos[1], a->pos[0]);
    return 2;
  }
  int nsets = pl_cli_count(a, "set");
  const char *sets[PL_CLI_MAX_VALUES + 2];
  for (int i = 0; i < nsets; ++i) sets[i] = pl_cli_get_nth(a, "set", i);
  char backend_set[64], threads_set[64];
  const char *b = pl_cli_get(a, "backend");
  if (b) {
    snprintf(backend_set, sizeof backend_set, "sim.backend=%s", b);
    sets[nsets++] = backend_set;
  }
  const char *t = pl_cli_get(a, "threads");
  if (t) {
    snprintf(threads_set, sizeof threads_set, "sim.threads=%s", t);
    sets[nsets++] = threads_set;
  }
  pl_status st = pl_scene_load(s, a->pos[0], sets, nsets);
  if (st != PL_OK) return pl_cli_report(cmd, st);
  if (s->sim.threads > 0) {
#ifdef _OPENMP
    omp_set_num_threads(s->sim.threads);
#endif
  }
  return 0;
}
