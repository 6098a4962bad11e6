/* config.h: scene files as a validated key/value store.
 *
 * A scene file is INI text (parsed with inih). Sections are `[type]` or `[type name]`; every value has the
 * address `type.key` (unnamed sections) or `type.name.key` (named ones; a name may itself contain dots, the
 * key is always the last component), which is what `--set address=value` and sweeps use. The set of section
 * types and keys, their kinds, defaults and ranges is a schema (pl_schema, see scene_schema.c), so that
 * unknown sections and keys are errors with file:line and the nearest valid key, and `check` can print the
 * resolved scene with every default filled in.
 *
 * Ownership: pl_config owns all strings it holds; pl_config_free releases them. */
#ifndef PL_CONFIG_H
#define PL_CONFIG_H

#include <stddef.h>

#include "core/parse.h"
#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- schema ---- */

typedef enum {
  PL_KT_REAL,   /* one number */
  PL_KT_INT,    /* one integer */
  PL_KT_BOOL,   /* true/false/yes/no/on/off/1/0 */
  PL_KT_STRING, /* free text */
  PL_KT_ENUM,   /* one of `choices` (space-separated) */
  PL_KT_VEC3,   /* three numbers separated by spaces or commas (one number allowed with PL_KF_BROADCAST) */
  PL_KT_PATH,   /* a file or folder, relative to the scene file (or to the working dir for --set) */
  PL_KT_LIST    /* a list of words or numbers separated by spaces or commas */
} pl_key_kind;

enum {
  PL_KF_REQUIRED = 1u << 0,  /* must be given */
  PL_KF_POSITIVE = 1u << 1,  /* > 0 (each component for vec3) */
  PL_KF_NONNEG = 1u << 2,    /* >= 0 */
  PL_KF_RANGE = 1u << 3,     /* lo <= value <= hi */
  PL_KF_BROADCAST = 1u << 4, /* vec3 given as one number means (s, s, s) */
  PL_KF_OPEN_LO = 1u << 5,   /* with RANGE: lo < value */
  PL_KF_OPEN_HI = 1u << 6,   /* with RANGE: value < hi */
  PL_KF_LEARNABLE = 1u << 7  /* may be named by a [param ...] section */
};

typedef struct {
  const char *key;
  pl_key_kind kind;
  const char *def;     /* default value as text; NULL: no default (unset unless given) */
  const char *choices; /* PL_KT_ENUM: space-separated list */
  unsigned flags;
  double lo, hi;       /* PL_KF_RANGE */
  const char *doc;     /* one line, with unit */
} pl_key_spec;

typedef struct {
  const char *type;          /* "sim", "material", ... */
  int named;                 /* [type name] (1) or [type] (0) */
  int address_keys;          /* keys are addresses of other values ([truth]) */
  const pl_key_spec *keys;   /* terminated by key == NULL */
  const char *doc;
} pl_section_spec;

typedef struct {
  const pl_section_spec *sections; /* terminated by type == NULL */
} pl_schema;

const pl_section_spec *pl_schema_section(const pl_schema *s, const char *type);
const pl_key_spec *pl_schema_key(const pl_section_spec *sec, const char *key);

/* ---- store ---- */

typedef struct {
  char *type, *name;   /* name is "" for unnamed sections */
  const char *file;    /* points into pl_config.files (or "--set") */
  int line;
} pl_cfg_section;

typedef struct {
  int section;         /* index into sections */
  char *key, *value;
  const char *file;    /* where the value came from: a scene file or "--set" */
  int line;            /* 0 for --set */
  char *base_dir;      /* paths in this value are relative to it */
} pl_cfg_entry;

typedef struct {
  char *path;          /* the scene file as given */
  char *dir;           /* its folder */
  pl_cfg_section *sections;
  int nsections, capsections;
  pl_cfg_entry *entries;
  int nentries, capentries;
  const pl_schema *schema;
  char *files[4];      /* owned file name strings entries point to */
  int nfiles;
} pl_config;

/* Parse `path` against `schema`: syntax, known sections and keys (with suggestions), duplicates, value
 * kinds and ranges, required keys. Errors name file:line and the key. */
pl_status pl_config_load(pl_config *c, const char *path, const pl_schema *schema);
/* Parse INI text held in memory (tests); `name` is used in messages and `dir` for relative paths. */
pl_status pl_config_load_string(pl_config *c, const char *text, const char *name, const char *dir,
                                const pl_schema *schema);
/* Apply "address=value" (as given to --set). Creates the section if it does not exist yet. Validated like
 * a line of the file; call pl_config_validate afterwards for required keys. */
pl_status pl_config_set(pl_config *c, const char *assignment);
/* Required keys and per-section checks (run after all --set). */
pl_status pl_config_validate(const pl_config *c);
void pl_config_free(pl_config *c);

/* Split an address "type.name.key" into its parts against the schema. Buffers of `size` bytes. */
pl_status pl_config_split_address(const pl_config *c, const char *address, char *type, char *name, char *key,
                                  size_t size);

/* ---- lookups (defaults from the schema when a value is not given) ---- */

/* Section indices of a type, in file order; returns the count (up to max). */
int pl_config_sections_of(const pl_config *c, const char *type, int *idx, int max);
/* Find a section by type and name (name "" for unnamed); -1 if absent. */
int pl_config_find_section(const pl_config *c, const char *type, const char *name);
/* The entry for (section, key), or NULL if not given. */
const pl_cfg_entry *pl_config_entry(const pl_config *c, int section, const char *key);
/* The value text of (type, name, key): the given one, else the default, else NULL. */
const char *pl_config_text(const pl_config *c, const char *type, const char *name, const char *key);

/* Typed getters. They return PL_OK and the value (given or default); PL_ERR_INVALID if the key is neither
 * given nor has a default (message names it); `given` (may be NULL) is set to whether it was in the file. */
pl_status pl_config_real(const pl_config *c, const char *type, const char *name, const char *key, double *out,
                         int *given);
pl_status pl_config_int(const pl_config *c, const char *type, const char *name, const char *key, long *out,
                        int *given);
pl_status pl_config_bool(const pl_config *c, const char *type, const char *name, const char *key, int *out,
                         int *given);
pl_status pl_config_vec3(const pl_config *c, const char *type, const char *name, const char *key, double out[3],
                         int *given);
/* Strings and enums: copies into out (size bytes). */
pl_status pl_config_string(const pl_config *c, const char *type, const char *name, const char *key, char *out,
                           size_t size, int *given);
/* Paths: resolved against the folder of the file the value came from (or the cwd for --set). */
pl_status pl_config_path(const pl_config *c, const char *type, const char *name, const char *key, char *out,
                         size_t size, int *given);
/* Where a value came from, "file:line" or "--set" or "default", for messages. */
const char *pl_config_where(const pl_config *c, const char *type, const char *name, const char *key, char *buf,
                            size_t size);

/* Print the resolved configuration (every key of every section, defaults marked) as valid INI. */
void pl_config_print(const pl_config *c, void *file /* FILE* */);

/* ---- value parsing helpers: core/parse.h (pl_parse_real, pl_parse_int, pl_parse_bool, pl_parse_reals) ---- */
/* Levenshtein distance, for suggestions. */
int pl_edit_distance(const char *a, const char *b);

#ifdef __cplusplus
}
#endif
#endif
