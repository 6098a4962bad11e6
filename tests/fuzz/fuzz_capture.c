/* fuzz_capture.c: libFuzzer harness for the capture readers (pipeline/io/capture.c), from memory only.
 * The first byte picks the reader: 0 PAC-NeRF all_data.json, 1 transforms.json, 2 COLMAP text (cameras.txt and
 * images.txt separated by a line "====="). Image probing is off: no file is opened. Every input must come back
 * as PL_OK or an error, never a crash, a hang or an out-of-bounds access. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/io/capture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > (1u << 20)) return 0;
  int which = data[0] % 3;
  char *text = (char *)malloc(size);
  if (!text) return 0;
  memcpy(text, data + 1, size - 1);
  text[size - 1] = '\0';
  pl_capture c;
  pl_status st;
  if (which == 0) {
    st = pl_capture_parse_pacnerf(&c, text, size - 1, "all_data.json", "capture", 0);
  } else if (which == 1) {
    st = pl_capture_parse_transforms(&c, text, size - 1, "transforms.json", "capture", 0);
  } else {
    char *sep = strstr(text, "\n=====\n");
    const char *images = "";
    if (sep) {
      *sep = '\0';
      images = sep + 7;
    }
    st = pl_capture_parse_colmap(&c, text, images, "capture", "capture");
  }
  if (st == PL_OK) {
    /* what a reader returns is usable: every frame names a camera, every camera has a size and a focal length */
    for (int i = 0; i < c.nframes; ++i)
      if (c.frames[i].camera < 0 || c.frames[i].camera >= c.ncameras) abort();
    for (int k = 0; k < c.ncameras; ++k)
      if (c.cameras[k].width < 1 || c.cameras[k].width > PL_CAPTURE_MAX_SIDE || !(c.cameras[k].fx > 0)) abort();
    pl_capture_free(&c);
  }
  free(text);
  return 0;
}
