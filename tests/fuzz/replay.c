/* replay.c: runs a libFuzzer harness without libFuzzer (any compiler; CTest, and under the sanitizers in
 * build-asan): every seed file given, then a fixed number of deterministic mutations of each (byte flips,
 * insertions of JSON/number fragments, truncations), so CI exercises the harness on inputs near the valid ones.
 * Usage: replay_NAME [--mutations N] SEED... */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t g_state = 0x9E3779B97F4A7C15ull;
static uint32_t next_u32(void) {
  g_state ^= g_state << 13;
  g_state ^= g_state >> 7;
  g_state ^= g_state << 17;
  return (uint32_t)(g_state >> 11);
}

static const char *const fragments[] = {"1e12", "-1", "0", "nan", "1e308", "[", "]", "{", "}", ",", "\"", "null",
                                        "[[1,0,0,0],[0,1,0,0],[0,0,1,0]]", "100000", "-2", "r_0_-1.png", "\n", " "};

int main(int argc, char **argv) {
  long mutations = 2000;
  int first = 1;
  if (argc > 2 && strcmp(argv[1], "--mutations") == 0) mutations = atol(argv[2]), first = 3;
  long runs = 0;
  for (int a = first; a < argc; ++a) {
    FILE *f = fopen(argv[a], "rb");
    if (!f) {
      fprintf(stderr, "replay: cannot open %s\n", argv[a]);
      return 1;
    }
    static uint8_t seed[1 << 16];
    size_t n = fread(seed, 1, sizeof seed, f);
    fclose(f);
    LLVMFuzzerTestOneInput(seed, n);
    ++runs;
    static uint8_t buf[(1 << 16) + 256];
    for (long m = 0; m < mutations; ++m) {
      memcpy(buf, seed, n);
      size_t len = n;
      int edits = 1 + (int)(next_u32() % 4);
      for (int e = 0; e < edits && len > 1; ++e) {
        size_t at = 1 + next_u32() % (len - 1);
        switch (next_u32() % 4) {
        case 0: buf[at] = (uint8_t)next_u32(); break;                    /* flip a byte */
        case 1: len = at; break;                                          /* truncate */
        case 2: memmove(buf + at, buf + at + 1, len - at - 1), --len; break; /* delete */
        default: {                                                        /* insert a fragment */
          const char *fr = fragments[next_u32() % (sizeof fragments / sizeof *fragments)];
          size_t fl = strlen(fr);
          if (len + fl > sizeof buf) break;
          memmove(buf + at + fl, buf + at, len - at);
          memcpy(buf + at, fr, fl);
          len += fl;
        }
        }
      }
      LLVMFuzzerTestOneInput(buf, len);
      ++runs;
    }
  }
  fprintf(stderr, "replay: %ld inputs, no crash\n", runs);
  return 0;
}
