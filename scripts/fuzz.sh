#!/usr/bin/env bash
# fuzz.sh [SECONDS] [HARNESS...]: build the libFuzzer harnesses of tests/fuzz with clang (in build-fuzz/, with
# AddressSanitizer and UndefinedBehaviorSanitizer) and run each for SECONDS (default 20) on its seed corpus
# (tests/fuzz/corpus/NAME, read only; new inputs go to build-fuzz/corpus/NAME). Harnesses run two at a time.
# Exits non-zero when a harness finds a crash, a hang (> 10 s on one input), a leak or a sanitizer report; the
# input is saved in build-fuzz/artifacts/NAME/ (replay it with build/tests/fuzz/NAME_replay FILE, and add it to
# the seed corpus once fixed). Prints executions and the outcome per harness.
#   scripts/fuzz.sh               # 20 s each (what scripts/test.sh runs, with 15)
#   scripts/fuzz.sh 3600 fuzz_ply # one hour of the PLY reader
# PL_FUZZ_BUILD names another build folder. Without clang it says so and exits 0 (the seed corpora are still
# replayed by CTest in every build).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-20}"
shift || true
harnesses=("$@")
if [ ${#harnesses[@]} -eq 0 ]; then
  mapfile -t harnesses < <(sed -n 's/^pl_add_fuzzer(\([a-z_0-9]*\).*/\1/p' tests/fuzz/CMakeLists.txt)
fi
if ! command -v clang >/dev/null || ! command -v clang++ >/dev/null; then
  echo "fuzz: clang not found: the libFuzzer harnesses are not built (scripts/setup.sh installs clang)"
  exit 0
fi
dir="${PL_FUZZ_BUILD:-build-fuzz}"
mkdir -p "$dir"
if [ ! -f "$dir/CMakeCache.txt" ]; then
  # -O1 with line tables only: quick to compile (CI builds this from scratch), readable sanitizer stacks
  cmake -S . -B "$dir" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=None \
    -DCMAKE_C_FLAGS="-O1 -gline-tables-only" -DCMAKE_CXX_FLAGS="-O1 -gline-tables-only" -DPL_FUZZ=ON -DPL_BUILD_TESTS=OFF -DPL_BUILD_BENCH=OFF -DPL_CUDA=OFF -DPL_OPENMP=OFF > "$dir/configure.log" 2>&1 ||
    { cat "$dir/configure.log"; exit 1; }
fi
cmake --build "$dir" -j "$(nproc 2>/dev/null || echo 2)" --target "${harnesses[@]}" > "$dir/build.log" 2>&1 ||
  { tail -40 "$dir/build.log"; exit 1; }

export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_one() {
  local h="$1"
  mkdir -p "$dir/corpus/$h" "$dir/artifacts/$h"
  "$dir/tests/fuzz/$h" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=32768 -print_final_stats=1 \
    -artifact_prefix="$dir/artifacts/$h/" "$dir/corpus/$h" "tests/fuzz/corpus/$h" > "$dir/$h.log" 2>&1
}
pids=()
status=0
jobs_max=2
for h in "${harnesses[@]}"; do
  run_one "$h" &
  pids+=("$!:$h")
  if [ ${#pids[@]} -ge $jobs_max ]; then
    p="${pids[0]}"; pids=("${pids[@]:1}")
    wait "${p%%:*}" || status=1
  fi
done
for p in "${pids[@]}"; do wait "${p%%:*}" || status=1; done

printf '%-12s %12s %8s %s\n' harness executions exec/s outcome
for h in "${harnesses[@]}"; do
  log="$dir/$h.log"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  if grep -qE "ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: " "$log"; then
    outcome="FAILED: $(grep -m1 -E 'ERROR:|runtime error:' "$log" | cut -c1-100) (see $log, input in $dir/artifacts/$h/)"
    status=1
  else
    outcome="ok, no crash"
  fi
  printf '%-12s %12s %8s %s\n' "$h" "${execs:-?}" "${rate:-?}" "$outcome"
done
exit $status
