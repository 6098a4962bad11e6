/* fuzz.h: the entry point every harness defines (libFuzzer's), shared by the fuzzer build and replay_main.c. */
#ifndef PL_FUZZ_H
#define PL_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
