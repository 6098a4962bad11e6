#define _POSIX_C_SOURCE 200809L
#include "pipeline/scene/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "core/fileio.h"

/* ------------------------------------------------------------------ small helpers */

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = (char *)malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

static void trim_inplace(char *s) {
  size_t n = strlen(s);
  while (n && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
  size_t i = 0;
  while (s[i] && isspace((unsigned char)s[i])) ++i;
  if (i) memmove(s, s + i, n - i + 1);
}

int pl_edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 63 || lb > 63) return 1000;
  int d[64][64];
  for (size_t i = 0; i <= la; ++i) d[i][0] = (int)i;
  for (size_t j = 0; j <= lb; ++j) d[0][j] = (int)j;
  for (size_t i = 1; i <= la; ++i)
    for (size_t j = 1; j <= lb; ++j) {
      int cost = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1;
      int best = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
      if (d[i - 1][j - 1] + cost < best) best = d[i - 1][j - 1] + cost;
      /* transposition */
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
        best = d[i - 2][j - 2] + 1;
      d[i][j] = best;
    }
  return d[la][lb];
}

/* " (did you mean 'x'?)" for the closest candidate within a sensible distance, else "". */
static void suggest(const char *word, const char *const *cands, int n, char *out, size_t size) {
  int best = 1000;
  const char *pick = NULL;
  for (int i = 0; i < n; ++i) {
    int d = pl_edit_distance(word, cands[i]);
    if (d < best) {
      best = d;
      pick = cands[i];
    }
  }
  int lim = (int)strlen(word) / 3;
  if (lim < 2) lim = 2;
  if (pick && best <= lim)
    snprintf(out, size, " (did you mean '%s'?)", pick);
  else
    out[0] = '\0';
}

/* pl_parse_real, pl_parse_int, pl_parse_bool, pl_parse_reals: core/parse.c */

/* ------------------------------------------------------------------ schema lookups */

const pl_section_spec *pl_schema_section(const pl_schema *s, const char *type) {
  for (const pl_section_spec *sec = s->sections; sec->type; ++sec)
    if (strcmp(sec->type, type) == 0) return sec;
  return NULL;
}

const pl_key_spec *pl_schema_key(const pl_section_spec *sec, const char *key) {
  for (const pl_key_spec *k = sec->keys; k && k->key; ++k)
    if (strcmp(k->key, key) == 0) return k;
  return NULL;
}

static void suggest_key(const pl_section_spec *sec, const char *key, char *out, size_t size) {
  const char *cands[128];
  int n = 0;
  for (const pl_key_spec *k = sec->keys; k && k->key && n < 128; ++k) cands[n++] = k->key;
  suggest(key, cands, n, out, size);
}

static void suggest_type(const pl_schema *s, const char *type, char *out, size_t size) {
  const char *cands[64];
  int n = 0;
  for (const pl_section_spec *sec = s->sections; sec->type && n < 64; ++sec) cands[n++] = sec->type;
  suggest(type, cands, n, out, size);
}

static void section_label(const pl_config *c, int si, char *out, size_t size) {
  const pl_cfg_section *s = &c->sections[si];
  if (s->name[0])
    snprintf(out, size, "[%s %s]", s->type, s->name);
  else
    snprintf(out, size, "[%s]", s->type);
}

/* Check one value against its spec; on failure record "where: message" and return PL_ERR_INVALID. */
static pl_status check_value(const pl_key_spec *k, const char *value, const char *where, const char *label) {
  char buf[64];
  double v[3];
  switch (k->kind) {
    case PL_KT_REAL: {
      if (!pl_parse_real(value, &v[0]))
        return pl_fail(PL_ERR_INVALID, "%s: %s key '%s': '%s' is not a number", where, label, k->key, value);
      break;
    }
    case PL_KT_INT: {
      long iv;
      if (!pl_parse_int(value, &iv))
        return pl_fail(PL_ERR_INVALID, "%s: %s key '%s': '%s' is not an integer", where, label, k->key, value);
      /* every integer key is stored in an int: refuse what would not fit before anything narrows it */
      if (iv < INT_MIN || iv > INT_MAX)
        return pl_fail(PL_ERR_INVALID, "%s: %s key '%s': %s is outside the integer range [%d, %d]", where, label,
                       k->key, value, INT_MIN, INT_MAX);
      v[0] = (double)iv;
      break;
    }
    case PL_KT_BOOL: {
      int b;
      if (!pl_parse_bool(value, &b))
        return pl_fail(PL_ERR_INVALID, "%s: %s key '%s': '%s' is not a boolean (true/false)", where, label, k->key,
                       value);
      return PL_OK;
    }
    case PL_KT_ENUM: {
      const char *p = k->choices;
      size_t n = strlen(value);
      while (*p) {
        const char *e = strchr(p, ' ');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && strncmp(p, value, n) == 0) return PL_OK;
        if (!e) break;
        p = e + 1;
      }
      return pl_fail(PL_ERR_INVALID, "%s: %s key '%s': '%s' is not one of: %s", where, label, k->key, value,
                     k->choices);
    }
    case PL_KT_VEC3: {
      int n = pl_parse_reals(value, v, 3);
      if (n == 1 && (k->flags & PL_KF_BROADCAST)) {
        v[1] = v[2] = v[0];
        n = 3;
      }
      if (n != 3)
        return pl_fail(PL_ERR_INVALID, "%s: %s key '%s': '%s' is not %s", where, label, k->key, value,
                       (k->flags & PL_KF_BROADCAST) ? "one number or three numbers" : "three numbers (x y z)");
      break;
    }
    case PL_KT_LIST: {
      /* empty only where the key's default is the empty list (targets.holdout: none), as a resolved scene prints it */
      if (!value[0] && !(k->def && !k->def[0]))
        return pl_fail(PL_ERR_INVALID, "%s: %s key '%s': empty list", where, label, k->key);
      return PL_OK;
    }
    case PL_KT_STRING:
    case PL_KT_PATH:
      if (!value[0] && !(k->def && !k->def[0]))
        return pl_fail(PL_ERR_INVALID, "%s: %s key '%s': empty value", where, label, k->key);
      return PL_OK;
  }
  int ncomp = k->kind == PL_KT_VEC3 ? 3 : 1;
  for (int i = 0; i < ncomp; ++i) {
    if ((k->flags & PL_KF_POSITIVE) && !(v[i] > 0))
      return pl_fail(PL_ERR_INVALID, "%s: %s key '%s': %s must be > 0", where, label, k->key, value);
    if ((k->flags & PL_KF_NONNEG) && !(v[i] >= 0))
      return pl_fail(PL_ERR_INVALID, "%s: %s key '%s': %s must be >= 0", where, label, k->key, value);
    if (k->flags & PL_KF_RANGE) {
      int lo_bad = (k->flags & PL_KF_OPEN_LO) ? !(v[i] > k->lo) : !(v[i] >= k->lo);
      int hi_bad = (k->flags & PL_KF_OPEN_HI) ? !(v[i] < k->hi) : !(v[i] <= k->hi);
      if (lo_bad || hi_bad) {
        snprintf(buf, sizeof buf, "%s%g, %g%s", (k->flags & PL_KF_OPEN_LO) ? "(" : "[", k->lo, k->hi,
                 (k->flags & PL_KF_OPEN_HI) ? ")" : "]");
        return pl_fail(PL_ERR_INVALID, "%s: %s key '%s': %s is outside %s", where, label, k->key, value, buf);
      }
    }
  }
  return PL_OK;
}

/* ------------------------------------------------------------------ store */

static int add_section(pl_config *c, const char *type, const char *name, const char *file, int line) {
  if (c->nsections == c->capsections) {
    int cap = c->capsections ? 2 * c->capsections : 16;
    pl_cfg_section *ns = (pl_cfg_section *)realloc(c->sections, (size_t)cap * sizeof *ns);
    if (!ns) return -1;
    c->sections = ns;
    c->capsections = cap;
  }
  pl_cfg_section *s = &c->sections[c->nsections];
  s->type = dup_str(type);
  s->name = dup_str(name);
  s->file = file;
  s->line = line;
  if (!s->type || !s->name) {
    free(s->type);
    free(s->name);
    return -1;
  }
  return c->nsections++;
}

static pl_cfg_entry *add_entry(pl_config *c, int section, const char *key, const char *value, const char *file,
                               int line, const char *base_dir) {
  if (c->nentries == c->capentries) {
    int cap = c->capentries ? 2 * c->capentries : 64;
    pl_cfg_entry *ne = (pl_cfg_entry *)realloc(c->entries, (size_t)cap * sizeof *ne);
    if (!ne) return NULL;
    c->entries = ne;
    c->capentries = cap;
  }
  pl_cfg_entry *e = &c->entries[c->nentries];
  e->section = section;
  e->key = dup_str(key);
  e->value = dup_str(value);
  e->file = file;
  e->line = line;
  e->base_dir = dup_str(base_dir);
  if (!e->key || !e->value || !e->base_dir) {
    free(e->key);
    free(e->value);
    free(e->base_dir);
    return NULL;
  }
  c->nentries++;
  return e;
}

int pl_config_find_section(const pl_config *c, const char *type, const char *name) {
  for (int i = 0; i < c->nsections; ++i)
    if (strcmp(c->sections[i].type, type) == 0 && strcmp(c->sections[i].name, name) == 0) return i;
  return -1;
}

static pl_cfg_entry *find_entry_mut(pl_config *c, int section, const char *key) {
  for (int i = 0; i < c->nentries; ++i)
    if (c->entries[i].section == section && strcmp(c->entries[i].key, key) == 0) return &c->entries[i];
  return NULL;
}

const pl_cfg_entry *pl_config_entry(const pl_config *c, int section, const char *key) {
  return find_entry_mut((pl_config *)c, section, key);
}

int pl_config_sections_of(const pl_config *c, const char *type, int *idx, int max) {
  int n = 0;
  for (int i = 0; i < c->nsections; ++i)
    if (strcmp(c->sections[i].type, type) == 0) {
      if (n < max) idx[n] = i;
      ++n;
    }
  return n;
}

/* ------------------------------------------------------------------ parsing */

typedef struct {
  pl_config *c;
  const char *file;    /* owned by c->files */
  const char *text;    /* whole file */
  size_t pos;
  int line;            /* line number of the last line handed to inih */
  int max_line;
  pl_status err;       /* first error */
  int cur_section;     /* index of the section whose header was read last, -1 before any */
} parse_ctx;

/* Record the first error only. */
static int ctx_fail(parse_ctx *x, pl_status s) {
  if (x->err == PL_OK) x->err = s;
  return 0;
}

/* Split a header "type name..." into type and name (the rest, trimmed). */
static int split_header(const char *h, char *type, size_t tsize, char *name, size_t nsize) {
  while (isspace((unsigned char)*h)) ++h;
  size_t i = 0;
  while (h[i] && !isspace((unsigned char)h[i])) {
    if (i + 1 >= tsize) return 0;
    type[i] = h[i];
    ++i;
  }
  type[i] = '\0';
  const char *rest = h + i;
  while (isspace((unsigned char)*rest)) ++rest;
  if (strlen(rest) + 1 > nsize) return 0;
  memcpy(name, rest, strlen(rest) + 1);
  trim_inplace(name);
  return 1;
}

/* Open a section from a header line: known type, name present iff the type is named, no duplicates. */
static int open_section(parse_ctx *x, const char *header) {
  pl_config *c = x->c;
  char type[64], name[64], sug[96];
  if (!split_header(header, type, sizeof type, name, sizeof name))
    return ctx_fail(x, pl_fail(PL_ERR_PARSE, "%s:%d: section header [%s] is too long (type and name: at most 63 "
                               "characters each)", x->file, x->line, header));
  const pl_section_spec *spec = pl_schema_section(c->schema, type);
  if (!spec) {
    suggest_type(c->schema, type, sug, sizeof sug);
    return ctx_fail(x, pl_fail(PL_ERR_PARSE, "%s:%d: unknown section [%s]%s", x->file, x->line, header, sug));
  }
  if (spec->named && !name[0])
    return ctx_fail(x, pl_fail(PL_ERR_PARSE, "%s:%d: section [%s] needs a name, e.g. [%s main]", x->file, x->line,
                               type, type));
  if (!spec->named && name[0])
    return ctx_fail(x, pl_fail(PL_ERR_PARSE, "%s:%d: section [%s] takes no name (found '%s')", x->file, x->line,
                               type, name));
  for (const char *p = name; *p; ++p)
    if (isspace((unsigned char)*p) || *p == '=' || *p == '[' || *p == ']')
      return ctx_fail(x, pl_fail(PL_ERR_PARSE, "%s:%d: section name '%s' may not contain spaces, '=' or brackets",
                                 x->file, x->line, name));
  int prev = pl_config_find_section(c, type, name);
  if (prev >= 0) {
    char lab[300];
    section_label(c, prev, lab, sizeof lab);
    return ctx_fail(x, pl_fail(PL_ERR_PARSE, "%s:%d: duplicate section %s (first defined at %s:%d)", x->file, x->line,
                               lab, c->sections[prev].file, c->sections[prev].line));
  }
  int si = add_section(c, type, name, x->file, x->line);
  if (si < 0) return ctx_fail(x, pl_fail(PL_ERR_NOMEM, "out of memory reading %s", x->file));
  x->cur_section = si;
  return 1;
}

/* Store one key/value of section `si` (from a file line or a --set). */
static pl_status store_value(pl_config *c, int si, const char *key, const char *value, const char *file, int line,
                             const char *base_dir, int allow_replace) {
  char where[512], lab[300], sug[96];
  if (line > 0)
    snprintf(where, sizeof where, "%s:%d", file, line);
  else
    snprintf(where, sizeof where, "%s", file);
  section_label(c, si, lab, sizeof lab);
  const pl_section_spec *spec = pl_schema_section(c->schema, c->sections[si].type);
  if (spec->address_keys) {
    /* [truth]-like: the key is an address of another value, checked when the scene is built */
    if (!strchr(key, '.'))
      return pl_fail(PL_ERR_INVALID, "%s: %s key '%s': expected an address like material.NAME.E", where, lab, key);
  } else {
    const pl_key_spec *k = pl_schema_key(spec, key);
    if (!k) {
      suggest_key(spec, key, sug, sizeof sug);
      return pl_fail(PL_ERR_INVALID, "%s: unknown key '%s' in %s%s", where, key, lab, sug);
    }
    PL_TRY(check_value(k, value, where, lab));
  }
  pl_cfg_entry *e = find_entry_mut(c, si, key);
  if (e) {
    if (!allow_replace)
      return pl_fail(PL_ERR_PARSE, "%s: duplicate key '%s' in %s (first set at %s:%d)", where, key, lab, e->file,
                     e->line);
    char *nv = dup_str(value), *nb = dup_str(base_dir);
    if (!nv || !nb) {
      free(nv);
      free(nb);
      return pl_fail(PL_ERR_NOMEM, "out of memory");
    }
    free(e->value);
    free(e->base_dir);
    e->value = nv;
    e->base_dir = nb;
    e->file = file;
    e->line = line;
    return PL_OK;
  }
  if (!add_entry(c, si, key, value, file, line, base_dir)) return pl_fail(PL_ERR_NOMEM, "out of memory");
  return PL_OK;
}

static int on_value(void *user, const char *section, const char *key, const char *value) {
  parse_ctx *x = (parse_ctx *)user;
  if (x->err != PL_OK) return 0;
  (void)section;
  if (x->cur_section < 0)
    return ctx_fail(x, pl_fail(PL_ERR_PARSE, "%s:%d: key '%s' outside any section (start with a header such as [sim])",
                               x->file, x->line, key));
  pl_status s = store_value(x->c, x->cur_section, key, value, x->file, x->line, x->c->dir, 0);
  if (s != PL_OK) return ctx_fail(x, s);
  return 1;
}

/* fgets-style reader over the file text: counts lines, rejects over-long lines, registers section headers
 * (also the empty ones, which inih does not report), and strips '#' comments after whitespace. */
static char *reader(char *str, int num, void *stream) {
  parse_ctx *x = (parse_ctx *)stream;
  if (x->err != PL_OK) return NULL;
  const char *t = x->text + x->pos;
  if (!*t) return NULL;
  const char *nl = strchr(t, '\n');
  size_t len = nl ? (size_t)(nl - t) : strlen(t);
  x->pos += len + (nl ? 1 : 0);
  x->line++;
  if (len + 2 > (size_t)num) {
    ctx_fail(x, pl_fail(PL_ERR_PARSE, "%s:%d: line too long (%zu characters; at most %d)", x->file, x->line, len,
                        num - 2));
    return NULL;
  }
  memcpy(str, t, len);
  str[len] = '\0';
  if (len && str[len - 1] == '\r') str[--len] = '\0';
  /* strip an inline '#' comment (a '#' at the start of a line is a comment for inih already) */
  for (size_t i = 1; i < len; ++i)
    if (str[i] == '#' && isspace((unsigned char)str[i - 1])) {
      str[i] = '\0';
      len = i;
      break;
    }
  /* section header? */
  char tmp[1024];
  snprintf(tmp, sizeof tmp, "%s", str);
  trim_inplace(tmp);
  if (tmp[0] == '[') {
    char *close = strchr(tmp, ']');
    if (!close) {
      ctx_fail(x, pl_fail(PL_ERR_PARSE, "%s:%d: section header without ']': %s", x->file, x->line, tmp));
      return NULL;
    }
    char *after = close + 1;
    while (isspace((unsigned char)*after)) ++after;
    if (*after && *after != ';' && *after != '#') {
      ctx_fail(x, pl_fail(PL_ERR_PARSE, "%s:%d: text after section header: %s", x->file, x->line, tmp));
      return NULL;
    }
    *close = '\0';
    char header[1024];
    snprintf(header, sizeof header, "%s", tmp + 1);
    trim_inplace(header);
    if (!open_section(x, header)) return NULL;
  }
  str[len] = '\n';
  str[len + 1] = '\0';
  return str;
}

static pl_status parse_text(pl_config *c, const char *text, const char *file) {
  parse_ctx x;
  memset(&x, 0, sizeof x);
  x.c = c;
  x.file = file;
  x.text = text;
  x.cur_section = -1;
  x.err = PL_OK;
  /* Library-wide inih options (Debian's inih exposes them as variables). */
  ini_allow_multiline = false; /* an indented line is a line of its own, never a silent continuation */
  ini_allow_inline_comments = true;
  ini_inline_comment_prefixes = (char *)";";
  ini_allow_no_value = false;
  int rc = ini_parse_stream(reader, &x, on_value, &x);
  if (x.err != PL_OK) return x.err;
  if (rc > 0) {
    /* re-read the offending line for the message */
    const char *t = text;
    for (int i = 1; i < rc && t; ++i) {
      t = strchr(t, '\n');
      if (t) ++t;
    }
    char line[128] = "";
    if (t) {
      size_t n = strcspn(t, "\r\n");
      if (n > sizeof line - 1) n = sizeof line - 1;
      memcpy(line, t, n);
      line[n] = '\0';
    }
    return pl_fail(PL_ERR_PARSE, "%s:%d: syntax error: expected 'key = value' or '[section]', found: %s", file, rc,
                   line);
  }
  if (rc < 0) return pl_fail(PL_ERR_NOMEM, "%s: the INI parser ran out of memory", file);
  return PL_OK;
}

static const char *own_file_name(pl_config *c, const char *name) {
  for (int i = 0; i < c->nfiles; ++i)
    if (strcmp(c->files[i], name) == 0) return c->files[i];
  if (c->nfiles == (int)(sizeof c->files / sizeof c->files[0])) return "?";
  c->files[c->nfiles] = dup_str(name);
  return c->files[c->nfiles] ? c->files[c->nfiles++] : "?";
}

pl_status pl_config_load_string(pl_config *c, const char *text, const char *name, const char *dir,
                                const pl_schema *schema) {
  memset(c, 0, sizeof *c);
  c->schema = schema;
  c->path = dup_str(name);
  c->dir = dup_str(dir);
  if (!c->path || !c->dir) return pl_fail(PL_ERR_NOMEM, "out of memory");
  const char *file = own_file_name(c, name);
  own_file_name(c, "--set");
  pl_status s = parse_text(c, text, file);
  if (s != PL_OK) return s;
  return PL_OK;
}

pl_status pl_config_load(pl_config *c, const char *path, const pl_schema *schema) {
  memset(c, 0, sizeof *c);
  char *text = NULL;
  size_t n = 0;
  pl_status rs = pl_read_file_max(path, PL_READ_MAX_TEXT, &text, &n);
  if (rs != PL_OK) return pl_fail_context(rs, "scene file ");
  if (memchr(text, '\0', n)) {
    free(text);
    return pl_fail(PL_ERR_PARSE, "%s: not a text file (contains NUL bytes)", path);
  }
  size_t dn = strlen(path) + 2; /* the folder part is never longer than the path ("." or "/" at least) */
  char *dir = (char *)malloc(dn);
  if (dir) pl_dirname(path, dir, dn);
  pl_status s = dir ? pl_config_load_string(c, text, path, dir, schema) : pl_fail(PL_ERR_NOMEM, "out of memory");
  free(dir);
  free(text);
  return s;
}

pl_status pl_config_split_address(const pl_config *c, const char *address, char *type, char *name, char *key,
                                  size_t size) {
  const char *dot = strchr(address, '.');
  if (!dot || dot == address)
    return pl_fail(PL_ERR_INVALID, "'%s' is not an address (expected section.key or section.name.key)", address);
  size_t tl = (size_t)(dot - address);
  if (tl + 1 > size) return pl_fail(PL_ERR_INVALID, "address '%s' is too long", address);
  memcpy(type, address, tl);
  type[tl] = '\0';
  const pl_section_spec *spec = pl_schema_section(c->schema, type);
  if (!spec) {
    char sug[96];
    suggest_type(c->schema, type, sug, sizeof sug);
    return pl_fail(PL_ERR_INVALID, "address '%s': unknown section type '%s'%s", address, type, sug);
  }
  const char *rest = dot + 1;
  if (spec->address_keys || !spec->named) {
    name[0] = '\0';
    if (strlen(rest) + 1 > size) return pl_fail(PL_ERR_INVALID, "address '%s' is too long", address);
    strcpy(key, rest);
  } else {
    const char *last = strrchr(rest, '.');
    if (!last || last == rest)
      return pl_fail(PL_ERR_INVALID, "address '%s': [%s] sections are named: use %s.NAME.KEY", address, type, type);
    size_t nl = (size_t)(last - rest);
    if (nl + 1 > size || strlen(last + 1) + 1 > size) return pl_fail(PL_ERR_INVALID, "address '%s' is too long", address);
    memcpy(name, rest, nl);
    name[nl] = '\0';
    strcpy(key, last + 1);
  }
  if (!key[0]) return pl_fail(PL_ERR_INVALID, "address '%s' has no key", address);
  return PL_OK;
}

/* A section created by --set obeys the rules of a file's section header (open_section). */
static pl_status check_set_section_name(const char *address, const char *name) {
  if (strlen(name) > 63)
    return pl_fail(PL_ERR_INVALID, "--set %s: section name '%s' is too long (at most 63 characters)", address, name);
  for (const char *p = name; *p; ++p)
    if (isspace((unsigned char)*p) || *p == '=' || *p == '[' || *p == ']' || !isprint((unsigned char)*p))
      return pl_fail(PL_ERR_INVALID, "--set %s: section name '%s' may not contain spaces, '=', brackets or control "
                     "characters", address, name);
  return PL_OK;
}

/* Two section names that differ only in their digits (capture0, capture1): a numbered series, where a new
 * member is meant, not a typo of an existing one. */
static int same_but_numbers(const char *a, const char *b) {
  for (;;) {
    while (*a >= '0' && *a <= '9') ++a;
    while (*b >= '0' && *b <= '9') ++b;
    if (*a != *b) return 0;
    if (!*a) return 1;
    ++a, ++b;
  }
}

pl_status pl_config_set(pl_config *c, const char *assignment) {
  const char *eq = strchr(assignment, '=');
  if (!eq) return pl_fail(PL_ERR_INVALID, "--set '%s': expected address=value", assignment);
  char address[512], value[1024], type[512], name[512], key[512];
  size_t al = (size_t)(eq - assignment);
  if (al >= sizeof address || strlen(eq + 1) >= sizeof value)
    return pl_fail(PL_ERR_INVALID, "--set '%s': too long", assignment);
  memcpy(address, assignment, al);
  address[al] = '\0';
  trim_inplace(address);
  snprintf(value, sizeof value, "%s", eq + 1);
  trim_inplace(value);
  pl_status s = pl_config_split_address(c, address, type, name, key, sizeof type);
  if (s != PL_OK) return pl_fail_context(s, "--set: ");
  int si = pl_config_find_section(c, type, name);
  if (si < 0 && name[0]) {
    /* a misspelt name of an existing section is an error that names it, not a new section */
    const char *best = NULL;
    int bd = 1 << 30;
    for (int i = 0; i < c->nsections; ++i)
      if (strcmp(c->sections[i].type, type) == 0) {
        int d = pl_edit_distance(name, c->sections[i].name);
        if (d < bd) bd = d, best = c->sections[i].name;
      }
    if (best && bd <= 2 + (int)strlen(name) / 4 && !same_but_numbers(name, best))
      return pl_fail(PL_ERR_INVALID, "--set %s: the scene has no [%s %s]; did you mean '%s.%s.%s'?", address, type,
                     name, type, best, key);
  }
  if (si < 0) {
    PL_TRY(check_set_section_name(address, name));
    si = add_section(c, type, name, own_file_name(c, "--set"), 0);
    if (si < 0) return pl_fail(PL_ERR_NOMEM, "out of memory");
  }
  char cwd[8] = ".";
  return store_value(c, si, key, value, own_file_name(c, "--set"), 0, cwd, 1);
}

pl_status pl_config_validate(const pl_config *c) {
  for (int si = 0; si < c->nsections; ++si) {
    const pl_section_spec *spec = pl_schema_section(c->schema, c->sections[si].type);
    if (!spec || spec->address_keys) continue;
    for (const pl_key_spec *k = spec->keys; k && k->key; ++k)
      if ((k->flags & PL_KF_REQUIRED) && !pl_config_entry(c, si, k->key)) {
        char lab[300];
        section_label(c, si, lab, sizeof lab);
        return pl_fail(PL_ERR_INVALID, "%s:%d: %s is missing the required key '%s' (%s)", c->sections[si].file,
                       c->sections[si].line, lab, k->key, k->doc ? k->doc : "");
      }
  }
  return PL_OK;
}

void pl_config_free(pl_config *c) {
  if (!c) return;
  for (int i = 0; i < c->nsections; ++i) {
    free(c->sections[i].type);
    free(c->sections[i].name);
  }
  for (int i = 0; i < c->nentries; ++i) {
    free(c->entries[i].key);
    free(c->entries[i].value);
    free(c->entries[i].base_dir);
  }
  for (int i = 0; i < c->nfiles; ++i) free(c->files[i]);
  free(c->sections);
  free(c->entries);
  free(c->path);
  free(c->dir);
  memset(c, 0, sizeof *c);
}

/* ------------------------------------------------------------------ typed lookups */

static const pl_cfg_entry *lookup(const pl_config *c, const char *type, const char *name, const char *key,
                                  const pl_key_spec **spec_out) {
  const pl_section_spec *sec = pl_schema_section(c->schema, type);
  *spec_out = sec ? pl_schema_key(sec, key) : NULL;
  int si = pl_config_find_section(c, type, name ? name : "");
  return si >= 0 ? pl_config_entry(c, si, key) : NULL;
}

const char *pl_config_text(const pl_config *c, const char *type, const char *name, const char *key) {
  const pl_key_spec *k;
  const pl_cfg_entry *e = lookup(c, type, name, key, &k);
  if (e) return e->value;
  return k ? k->def : NULL;
}

static pl_status need_text(const pl_config *c, const char *type, const char *name, const char *key,
                           const char **text, const pl_key_spec **spec, int *given) {
  *text = "";
  const pl_cfg_entry *e = lookup(c, type, name, key, spec);
  if (given) *given = e != NULL;
  if (e) {
    *text = e->value;
    return PL_OK;
  }
  if (*spec && (*spec)->def) {
    *text = (*spec)->def;
    return PL_OK;
  }
  if (name && name[0])
    return pl_fail(PL_ERR_INVALID, "%s: [%s %s] needs the key '%s'", c->path, type, name, key);
  return pl_fail(PL_ERR_INVALID, "%s: [%s] needs the key '%s'", c->path, type, key);
}

pl_status pl_config_real(const pl_config *c, const char *type, const char *name, const char *key, double *out,
                         int *given) {
  const char *t;
  const pl_key_spec *k;
  PL_TRY(need_text(c, type, name, key, &t, &k, given));
  if (!pl_parse_real(t, out)) return pl_fail(PL_ERR_INVALID, "%s.%s: '%s' is not a number", type, key, t);
  return PL_OK;
}

pl_status pl_config_int(const pl_config *c, const char *type, const char *name, const char *key, long *out,
                        int *given) {
  const char *t;
  const pl_key_spec *k;
  PL_TRY(need_text(c, type, name, key, &t, &k, given));
  if (!pl_parse_int(t, out)) return pl_fail(PL_ERR_INVALID, "%s.%s: '%s' is not an integer", type, key, t);
  return PL_OK;
}

pl_status pl_config_bool(const pl_config *c, const char *type, const char *name, const char *key, int *out,
                         int *given) {
  const char *t;
  const pl_key_spec *k;
  PL_TRY(need_text(c, type, name, key, &t, &k, given));
  if (!pl_parse_bool(t, out)) return pl_fail(PL_ERR_INVALID, "%s.%s: '%s' is not a boolean", type, key, t);
  return PL_OK;
}

pl_status pl_config_vec3(const pl_config *c, const char *type, const char *name, const char *key, double out[3],
                         int *given) {
  const char *t;
  const pl_key_spec *k;
  PL_TRY(need_text(c, type, name, key, &t, &k, given));
  int n = pl_parse_reals(t, out, 3);
  if (n == 1 && k && (k->flags & PL_KF_BROADCAST)) {
    out[1] = out[2] = out[0];
    n = 3;
  }
  if (n != 3) return pl_fail(PL_ERR_INVALID, "%s.%s: '%s' is not three numbers", type, key, t);
  return PL_OK;
}

pl_status pl_config_string(const pl_config *c, const char *type, const char *name, const char *key, char *out,
                           size_t size, int *given) {
  const char *t;
  const pl_key_spec *k;
  PL_TRY(need_text(c, type, name, key, &t, &k, given));
  if (strlen(t) + 1 > size) return pl_fail(PL_ERR_INVALID, "%s.%s: value too long", type, key);
  strcpy(out, t);
  return PL_OK;
}

pl_status pl_config_path(const pl_config *c, const char *type, const char *name, const char *key, char *out,
                         size_t size, int *given) {
  const pl_key_spec *k;
  const pl_cfg_entry *e = lookup(c, type, name, key, &k);
  const char *t;
  int g;
  PL_TRY(need_text(c, type, name, key, &t, &k, &g));
  if (given) *given = g;
  const char *base = e ? e->base_dir : c->dir;
  int w;
  if (t[0] == '/' || !base || !base[0] || strcmp(base, ".") == 0)
    w = snprintf(out, size, "%s", t);
  else
    w = snprintf(out, size, "%s/%s", base, t);
  if (w < 0 || (size_t)w >= size) return pl_fail(PL_ERR_INVALID, "%s.%s: path too long", type, key);
  return PL_OK;
}

const char *pl_config_where(const pl_config *c, const char *type, const char *name, const char *key, char *buf,
                            size_t size) {
  const pl_key_spec *k;
  const pl_cfg_entry *e = lookup(c, type, name, key, &k);
  if (!e)
    snprintf(buf, size, "%s (default)", c->path);
  else if (e->line > 0)
    snprintf(buf, size, "%s:%d", e->file, e->line);
  else
    snprintf(buf, size, "--set %s", key);
  return buf;
}

void pl_config_print(const pl_config *c, void *fp) {
  FILE *f = (FILE *)fp;
  for (int si = 0; si < c->nsections; ++si) {
    const pl_cfg_section *s = &c->sections[si];
    const pl_section_spec *spec = pl_schema_section(c->schema, s->type);
    if (s->name[0])
      fprintf(f, "[%s %s]\n", s->type, s->name);
    else
      fprintf(f, "[%s]\n", s->type);
    if (spec->address_keys) {
      for (int i = 0; i < c->nentries; ++i)
        if (c->entries[i].section == si) fprintf(f, "%s = %s\n", c->entries[i].key, c->entries[i].value);
    } else {
      for (const pl_key_spec *k = spec->keys; k && k->key; ++k) {
        const pl_cfg_entry *e = pl_config_entry(c, si, k->key);
        if (e)
          fprintf(f, "%s = %s%s\n", k->key, e->value, e->line == 0 ? "   ; --set" : "");
        else if (k->def)
          fprintf(f, "%s = %s   ; default\n", k->key, k->def);
      }
    }
    fputc('\n', f);
  }
}
