/* replay_main.c: runs a harness over files and folders of inputs (the seed corpora, saved crashes) without
 * libFuzzer, so that every build (gcc release, ASan) replays them as a regression test:
 *   fuzz_ply_replay tests/fuzz/corpus/fuzz_ply [more files or folders]
 * PL_FUZZ_VERBOSE=1 prints each input's outcome (the error message, or "accepted"). */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/status.h"
#include "tests/fuzz/fuzz.h"

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "replay: cannot open %s\n", path);
    return 1;
  }
  size_t cap = 1 << 16, n = 0;
  uint8_t *buf = (uint8_t *)malloc(cap);
  for (size_t got; buf && (got = fread(buf + n, 1, cap - n, f)) > 0;) {
    n += got;
    if (n == cap) buf = (uint8_t *)realloc(buf, cap *= 2);
  }
  fclose(f);
  if (!buf) return 1;
  pl_clear_error();
  LLVMFuzzerTestOneInput(buf, n);
  free(buf);
  if (getenv("PL_FUZZ_VERBOSE")) /* what each input did: "" when it was accepted */
    fprintf(stderr, "%s: %s\n", path, pl_last_error()[0] ? pl_last_error() : "accepted");
  return 0;
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
  int files = 0, bad = 0;
  for (int i = 1; i < argc; ++i) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      fprintf(stderr, "replay: %s does not exist\n", argv[i]);
      return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
      bad |= run_file(argv[i]);
      ++files;
      continue;
    }
    DIR *d = opendir(argv[i]);
    char *names[4096];
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d)) != NULL && n < 4096;)
      if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
    if (d) closedir(d);
    qsort(names, (size_t)n, sizeof names[0], cmp);
    for (int k = 0; k < n; ++k) {
      char path[4096];
      snprintf(path, sizeof path, "%s/%s", argv[i], names[k]);
      bad |= run_file(path);
      ++files;
      free(names[k]);
    }
  }
  printf("replay: %d inputs, none crashed\n", files);
  return bad || files == 0;
}
