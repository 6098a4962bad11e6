#!/usr/bin/env bash
# test_sweep_shards.sh PIPELINE: a sweep split one shard per "GPU" (scripts/sweep-gpus.sh, CPU backend here)
# and as a Slurm array (scripts/sweep-slurm.sbatch with the array variables set by hand) merges into the same
# rows as one unsharded sweep (every column but the time).
set -euo pipefail
pipeline="$1"
root="$(cd "$(dirname "$0")/../.." && pwd)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
small=(--set render.width=24 --set render.height=24 --set sim.frames=2 --set targets.frames=1:3 --threads 1)
axis=(--param material.jelly.E=1e4:4e4:5:log)
"$pipeline" sweep scenes/tiny.cfg "${axis[@]}" "${small[@]}" -o "$tmp/whole" --quiet
PIPELINE="$pipeline" "$root/scripts/sweep-gpus.sh" --gpus 3 -o "$tmp/gpus" scenes/tiny.cfg "${axis[@]}" "${small[@]}" \
  --backend cpu
for i in 0 1; do
  SLURM_ARRAY_TASK_ID=$i SLURM_ARRAY_TASK_COUNT=2 SWEEP_OUT="$tmp/slurm" PIPELINE="$pipeline" \
    bash "$root/scripts/sweep-slurm.sbatch" scenes/tiny.cfg "${axis[@]}" "${small[@]}" --backend cpu
done
"$pipeline" sweep --merge "$tmp/slurm/sweep.csv" "$tmp"/slurm/sweep_*_of_2.csv
strip_time() { cut -d, -f1-11 "$1"; }  # every column but `seconds`
fail=0
for m in gpus slurm; do
  if ! diff <(strip_time "$tmp/whole/sweep.csv") <(strip_time "$tmp/$m/sweep.csv") >"$tmp/diff"; then
    echo "FAIL: the $m shards' merge differs from the unsharded sweep:"; cat "$tmp/diff"; fail=1
  fi
done
rows=$(($(wc -l <"$tmp/whole/sweep.csv") - 1))
[ "$rows" = 5 ] || { echo "FAIL: expected 5 points, got $rows"; fail=1; }
# a vector axis takes one number for all three components (sim.gravity is not a key that broadcasts in a scene file):
# gravity (g, g, g) with g = -20 pulls the centroid towards -x, g = 0 does not
"$pipeline" sweep scenes/tiny.cfg --param sim.gravity=0,-20 "${small[@]}" -o "$tmp/vec" --quiet ||
  { echo "FAIL: a sweep over sim.gravity with one number per point"; fail=1; }
if [ -f "$tmp/vec/sweep.csv" ]; then
  python3 - "$tmp/vec/sweep.csv" <<'PY' || { echo "FAIL: sim.gravity = -20 should move the centroid towards -x"; fail=1; }
import csv, sys
r = list(csv.DictReader(open(sys.argv[1])))
x = [float(p["centroid_x"]) for p in r]
print("sweep over sim.gravity (one number for x, y, z): centroid x %.5f at 0, %.5f at -20" % tuple(x))
sys.exit(0 if x[1] < x[0] - 1e-3 else 1)
PY
fi
[ $fail = 0 ] && echo "test_sweep_shards: 3 GPU shards and a 2-task Slurm array merge to the unsharded sweep's $rows rows"
exit $fail
