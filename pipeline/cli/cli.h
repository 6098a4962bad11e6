/* cli.h: the `pipeline` command line: subcommand table and a small option parser shared by all commands.
 *
 * Exit codes: 0 ok, 1 runtime failure, 2 usage or input error (bad option, bad scene file). */
#ifndef PL_CLI_H
#define PL_CLI_H

#include "core/backend.h"
#include "core/status.h"
#include "pipeline/scene/scene.h"

#define PL_CLI_MAX_OPTS 40
#define PL_CLI_MAX_VALUES 256
#define PL_CLI_MAX_POS 16

typedef struct {
  const char *name;    /* long name without "--" */
  char short_name;     /* 0 if none */
  const char *arg;     /* name of the value ("N", "KEY=VALUE"); NULL for a flag */
  const char *help;
} pl_cli_option;

typedef struct {
  int count[PL_CLI_MAX_OPTS];
  const char *values[PL_CLI_MAX_OPTS][PL_CLI_MAX_VALUES]; /* every occurrence, in order */
  const char *pos[PL_CLI_MAX_POS];
  int npos;
  int nopts;
  const pl_cli_option *opts[PL_CLI_MAX_OPTS];
} pl_cli_args;

typedef struct {
  const char *name;
  const char *summary;   /* one line for `pipeline --help` */
  const char *synopsis;  /* "SCENE.cfg [options]" */
  const char *details;   /* paragraph for `pipeline CMD --help` */
  const pl_cli_option *options; /* command-specific, terminated by name == NULL; common ones are added */
  int (*run)(const pl_cli_args *a);
  int no_scene;          /* takes no scene file: --set is refused */
} pl_cli_command;

/* Parse argv (after the command name). Prints help and returns -1 on --help; prints a usage error and
 * returns 2 on a bad option; 0 otherwise. */
int pl_cli_parse(const pl_cli_command *cmd, int argc, char **argv, pl_cli_args *a);
/* Value of an option (last occurrence), or NULL. */
const char *pl_cli_get(const pl_cli_args *a, const char *name);
int pl_cli_count(const pl_cli_args *a, const char *name);
const char *pl_cli_get_nth(const pl_cli_args *a, const char *name, int i);
/* Integer option with default; returns 0 ok, 2 on a malformed value (message printed). */
int pl_cli_int(const pl_cli_args *a, const char *name, long dflt, long *out);
int pl_cli_real(const pl_cli_args *a, const char *name, double dflt, double *out);

/* Apply the common options (--log, --quiet, --threads) to the process. */
void pl_cli_apply_common(const pl_cli_args *a);
/* Load the scene named by the first positional argument with the --set and --backend overrides.
 * Prints the error and returns its exit code (2 for input errors) on failure, 0 on success. */
int pl_cli_load_scene(const pl_cli_args *a, const char *cmd, pl_scene *s);
/* Report a failed status: prints "pipeline CMD: error: message" and returns the exit code. */
int pl_cli_report(const char *cmd, pl_status s);
int pl_cli_quiet(const pl_cli_args *a);

/* The process's arguments (set by main; gradcheck re-runs itself in double precision). */
extern int pl_cli_argc;
extern char **pl_cli_argv;

/* The command table (cli_main.c). */
extern const pl_cli_command *const pl_cli_commands[];

/* Commands, each in its own file. */
extern const pl_cli_command pl_cmd_info, pl_cmd_check, pl_cmd_schema, pl_cmd_render;
extern const pl_cli_command pl_cmd_render_ply; /* cli_render_ply.c */
extern const pl_cli_command pl_cmd_optimize, pl_cmd_gradcheck, pl_cmd_sweep; /* cmd_optimize.c, cmd_gradcheck.c, cmd_sweep.c */
extern const pl_cli_command pl_cmd_capture; /* cmd_capture.c */

#endif
