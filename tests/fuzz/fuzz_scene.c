/* fuzz_scene.c: the scene loader (INI text, schema validation, --set, the scene builder) on arbitrary text.
 * Lines starting with "@set " are taken out of the text and applied as --set assignments (at most 8), so one
 * input exercises both paths. A loaded scene is printed and the printout loaded again, and its [truth]
 * overrides are applied. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "pipeline/scene/scene.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > (1 << 16)) return 0;
  pl_log_set_level(PL_LOG_ERROR);
  char *text = (char *)malloc(size + 1), *sets[8];
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  int nsets = 0;
  for (char *line = text; line && *line;) {
    char *nl = strchr(line, '\n');
    if (strncmp(line, "@set ", 5) == 0 && nsets < 8) {
      if (nl) *nl = '\0';
      sets[nsets++] = strdup(line + 5);
      size_t rest = nl ? strlen(nl + 1) + 1 : 1;
      memmove(line, nl ? nl + 1 : line + strlen(line), rest); /* drop the line from the scene text */
      continue;
    }
    line = nl ? nl + 1 : NULL;
  }
  pl_scene s;
  if (pl_scene_load_string(&s, text, "fuzz.cfg", "/nonexistent", (const char *const *)sets, nsets) == PL_OK) {
    char *out = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&out, &n);
    if (f) {
      pl_scene_print(&s, f);
      fclose(f);
      pl_scene again; /* may fail (a --set path was relative to the working folder), never crash */
      if (pl_scene_load_string(&again, out, "printed.cfg", "/nonexistent", NULL, 0) == PL_OK) pl_scene_free(&again);
      free(out);
    }
    if (s.ntruth > 0) {
      pl_scene t;
      if (pl_scene_with_truth(&t, &s) == PL_OK) pl_scene_free(&t);
    }
    pl_scene_free(&s);
  }
  for (int i = 0; i < nsets; ++i) free(sets[i]);
  free(text);
  return 0;
}
