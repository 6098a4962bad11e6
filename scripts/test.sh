#!/usr/bin/env bash
# test.sh: set up (packages, configure, build) and run every test: first the normal build (CPU + CUDA
# compiled; GPU tests are skipped without a device), then once more under AddressSanitizer and
# UndefinedBehaviorSanitizer (CPU build), then a short libFuzzer run of every harness of tests/fuzz (clang;
# PL_FUZZ_SECONDS each, default 15). Prints CTest's summaries; exits non-zero if any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

scripts/setup.sh build
echo "== tests (release build) =="
(cd build && ctest --output-on-failure -j "$jobs")

scripts/setup.sh build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPL_SANITIZE=ON -DPL_CUDA=OFF -DPL_BUILD_BENCH=OFF
echo "== tests (ASan + UBSan build) =="
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd build-asan && ctest --output-on-failure -j "$jobs" -LE no-sanitize)

echo "== fuzzing (libFuzzer + ASan + UBSan, ${PL_FUZZ_SECONDS:-15} s per harness; scripts/fuzz.sh) =="
scripts/fuzz.sh "${PL_FUZZ_SECONDS:-15}"
