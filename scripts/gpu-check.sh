#!/usr/bin/env bash
# gpu-check.sh: every GPU measurement the project needs, in one call on a machine with a CUDA device, for the
# short device sessions (see docs/gpu.md). Prepare here with ../shared/tools/device-pack (builds the CUDA
# binaries into .device/), then on the device, from the checkout's root:
#
#   source .device/env.sh && scripts/gpu-check.sh "$OUT"        # logs to $OUT (at most 8 files)
#
# Steps, each with its own time limit so that one slow step cannot eat the session (seconds; 590 in all, under
# the device tool's 600 s per command):
#   parity.log   every CUDA test: core, raster, MPM forward (both P2G paths, deferred checks), the MPM parity
#                driver (forward and adjoint, every material x collider, the verified path and the prepared
#                tiled/deferred one), upsampler, loss (ctest -L cuda)                                       170
#   bench.log    bench_mpm on cuda (3 materials) with both paths side by side (rows cuda / cuda-t, each with
#                its fraction of copy bandwidth and per-stage times; Taichi's CUDA backend beside when
#                `import taichi` works), bench_mpm_adjoint on cuda for both paths, bench_raster (ours; gsplat
#                beside it when `import gsplat` works), bench_upsample                                   200
#   jelly.log    pipeline optimize scenes/jelly.cfg --backend cuda --profile (the README's main job)        40
#   jelly_tiled.log  the same on the prepared path (PL_MPM_P2G=tiled PL_MPM_SYNC=frame): E and nu must match 40
#   large.log    pipeline optimize scenes/bench/large.cfg --backend cuda --profile (the end-to-end
#                benchmark: fitted E, time, time per phase, peak device memory)                          140
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

step parity 170 "cd $build && ctest -L cuda --output-on-failure --timeout 160"
python3 -c 'import gsplat' 2>/dev/null && have_gsplat=1 || have_gsplat=0
python3 -c 'import taichi' 2>/dev/null && peer="" || peer="--no-peer"
step bench 200 "$build/bench/mpm/bench_mpm --backend cuda --sizes 22,46,100 --repeat 2 \
    --materials fixed_corotated,drucker_prager,newtonian_fluid $peer;
  $build/bench/mpm/bench_mpm_adjoint --backend cuda --sizes 22,46 --repeat 2 --materials fixed_corotated,drucker_prager;
  echo '# bench_mpm_adjoint on the prepared path (tiled P2G, deferred checks)';
  PL_MPM_P2G=tiled PL_MPM_SYNC=frame $build/bench/mpm/bench_mpm_adjoint --backend cuda --sizes 22,46 --repeat 2 \
    --materials fixed_corotated,drucker_prager;
  $build/bench/raster/bench_raster --backend cuda --reps 5;
  if [ $have_gsplat = 1 ]; then $build/bench/raster/bench_raster --dump /tmp/splat_bench >/dev/null &&
    python3 bench/raster/gsplat_peer.py --dir /tmp/splat_bench --reps 5; else echo '# gsplat not importable: no peer rows'; fi;
  $build/bench/upsample/bench_upsample --backend cuda"
step jelly 40 "$pipeline optimize scenes/jelly.cfg --backend cuda --profile -o /tmp/gpu-jelly"
step jelly_tiled 40 "PL_MPM_P2G=tiled PL_MPM_SYNC=frame $pipeline optimize scenes/jelly.cfg --backend cuda --profile -o /tmp/gpu-jelly-tiled"
step large 140 "$pipeline optimize scenes/bench/large.cfg --backend cuda --profile -o /tmp/gpu-large"
echo "gpu-check: logs in $out: $(ls "$out" | tr '\n' ' ')"
echo "== summary"
grep -E "tests passed|tests failed|FAIL|\*\*\*Failed|Not Run" "$out/parity.log" | tail -n 12
grep -E "^(fixed_corotated|drucker_prager) .*\| (cuda|cuda-t) |stages, each waited|^material |copy bandwidth" "$out/bench.log" | head -n 28
grep -E "^material\.|pipeline optimize: [0-9]+ iterations|exit" "$out/jelly.log" "$out/jelly_tiled.log" | tail -n 10
