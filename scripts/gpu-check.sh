#!/usr/bin/env bash
# gpu-check.sh: every GPU measurement the project needs, in one call on a machine with a CUDA device, for the
# short device sessions (see docs/gpu.md). Prepare here with ../shared/tools/device-pack (builds the CUDA
# binaries into .device/), then on the device, from the checkout's root:
#
#   source .device/env.sh && scripts/gpu-check.sh "$OUT"        # logs to $OUT (at most 8 files)
#
# Steps, each with its own time limit so that one slow step cannot eat the session (seconds; 590 in all, under
# the device tool's 600 s per command):
#   parity.log   every CUDA test: core, raster (both pair sorts: joint, the verified one, and split, prepared),
#                MPM forward (both P2G paths, each also with CUDA graphs; deferred checks), the MPM parity driver
#                (forward and adjoint, every material x collider, the verified path, the prepared tiled/deferred
#                one and the graph path), upsampler, loss (ctest -L cuda)                                   185
#   bench.log    bench_mpm on cuda (3 materials) with both paths side by side (rows cuda / cuda-t, each with
#                its fraction of copy bandwidth and per-stage times; Taichi's CUDA backend beside when
#                `import taichi` works) and the graph path (row cuda-tg, fixed corotated), bench_mpm_adjoint on
#                cuda for both paths and with graphs (10^4), bench_raster (ours, gsplat beside it when `import
#                gsplat` works; the gsplat-profile workload, 2.8 M at 1080p), again with the split pair sort, the
#                per-phase times at 256^2 / 10^6 for both sorts, bench_upsample                              210
#   jelly.log    pipeline optimize scenes/jelly.cfg --backend cuda --profile (the README's main job)        40
#   jelly_prep.log  the same on every prepared path (PL_MPM_P2G=tiled PL_MPM_SYNC=frame PL_MPM_GRAPH=1
#                PL_RASTER_SORT=split): E and nu must match jelly.log                                        40
#   large.log    pipeline optimize scenes/bench/large.cfg --backend cuda --profile (the end-to-end
#                benchmark: fitted E, time, time per phase, peak device memory)                          115
# The last lines printed summarise: the parity verdicts, the MPM rows of both paths, the two jelly results.
# Python peers travel as wheels in .whl/ (device README); they are installed when present.
set -uo pipefail
out="${1:-${OUT:-/tmp/gpu-check}}"
mkdir -p "$out"
build="${PL_BUILD:-.device/build}"
[ -x "$build/pipeline/pipeline" ] || build=build
pipeline="$build/pipeline/pipeline"
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl &&
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
step() { # step NAME SECONDS COMMAND...
  local name=$1 secs=$2
  shift 2
  echo "== $name ($(date -u +%H:%M:%S), limit ${secs}s): $*" | tee -a "$out/$name.log"
  timeout "$secs" bash -c "$*" >>"$out/$name.log" 2>&1
  local rc=$?
  echo "== $name: exit $rc" | tee -a "$out/$name.log"
}
{
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1
  "$pipeline" info 2>&1
} >"$out/machine.log"

step parity 185 "cd $build && ctest -L cuda --output-on-failure --timeout 175"
python3 -c 'import taichi' 2>/dev/null && peer="" || peer="--no-peer"
step bench 210 "$build/bench/mpm/bench_mpm --backend cuda --sizes 22,46,100 --repeat 2 --paths atomic,tiled \
    --materials fixed_corotated,drucker_prager,newtonian_fluid $peer;
  echo '# bench_mpm, the graph path (tiled P2G, deferred checks, CUDA graphs): row cuda-tg';
  $build/bench/mpm/bench_mpm --backend cuda --sizes 22,46,100 --repeat 2 --paths graph --materials fixed_corotated \
    --no-peer;
  $build/bench/mpm/bench_mpm_adjoint --backend cuda --sizes 22,46 --repeat 2 --materials fixed_corotated,drucker_prager;
  echo '# bench_mpm_adjoint on the prepared path (tiled P2G, deferred checks)';
  PL_MPM_P2G=tiled PL_MPM_SYNC=frame $build/bench/mpm/bench_mpm_adjoint --backend cuda --sizes 22,46 --repeat 2 \
    --materials fixed_corotated,drucker_prager;
  echo '# bench_mpm_adjoint with CUDA graphs in the tape forward (tiled, deferred checks, graphs)';
  PL_MPM_P2G=tiled PL_MPM_SYNC=frame PL_MPM_GRAPH=1 $build/bench/mpm/bench_mpm_adjoint --backend cuda --sizes 22 \
    --repeat 2 --materials fixed_corotated;
  $build/bench/raster/bench_raster --backend cuda --reps 5;
  echo '# bench_raster with the split pair sort (PL_RASTER_SORT=split)';
  PL_RASTER_SORT=split $build/bench/raster/bench_raster --backend cuda --reps 5 --peer none;
  echo '# where the time goes at 256^2 / 10^6 (PL_LOG=debug phase lines), joint then split';
  PL_LOG=debug $build/bench/raster/bench_raster --backend cuda --size 256x256 --n 1000000 --reps 2 --peer none;
  PL_LOG=debug PL_RASTER_SORT=split $build/bench/raster/bench_raster --backend cuda --size 256x256 --n 1000000 \
    --reps 2 --peer none;
  $build/bench/upsample/bench_upsample --backend cuda"
step jelly 40 "$pipeline optimize scenes/jelly.cfg --backend cuda --profile -o /tmp/gpu-jelly"
step jelly_prep 40 "PL_MPM_P2G=tiled PL_MPM_SYNC=frame PL_MPM_GRAPH=1 PL_RASTER_SORT=split $pipeline optimize \
  scenes/jelly.cfg --backend cuda --profile -o /tmp/gpu-jelly-prep"
step large 115 "$pipeline optimize scenes/bench/large.cfg --backend cuda --profile -o /tmp/gpu-large"
echo "gpu-check: logs in $out: $(ls "$out" | tr '\n' ' ')"
echo "== summary"
grep -E "tests passed|tests failed|FAIL|\*\*\*Failed|Not Run" "$out/parity.log" | tail -n 12
grep -E "^(fixed_corotated|drucker_prager) .*\| (cuda|cuda-t|cuda-tg) |stages, each waited|^material |copy bandwidth" "$out/bench.log" | head -n 32
grep -E "raster cuda forward" "$out/bench.log" | tail -n 2
grep -E "^material\.|pipeline optimize: [0-9]+ iterations|exit" "$out/jelly.log" "$out/jelly_prep.log" | tail -n 10
