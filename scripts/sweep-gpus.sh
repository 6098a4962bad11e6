#!/usr/bin/env bash
# sweep-gpus.sh: one `pipeline sweep` shard per GPU on one machine, then the shards merged.
#
#   scripts/sweep-gpus.sh --gpus N -o OUT SCENE.cfg --param ADDRESS=LO:HI:K[:log] [sweep options...]
#
# Shard i runs with CUDA_VISIBLE_DEVICES=i (so each process sees one GPU, as device 0) and writes
# OUT/shards/sweep_i_of_N.csv (log: OUT/shard_i.log);
# OUT/sweep.csv is the merge (`pipeline sweep --merge`), row for row what one unsharded sweep writes (the point
# indices are stable). --gpus defaults to the number nvidia-smi lists (1 without it). Any other option goes to
# every shard (e.g. --backend cpu to try it without a GPU, as tests/pipeline/test_sweep_shards.sh does).
# On a cluster, the same split is a job array: scripts/sweep-slurm.sbatch.
set -euo pipefail
pipeline="${PIPELINE:-$(dirname "$0")/../build/pipeline/pipeline}"
gpus=""
out=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --gpus) gpus="$2"; shift 2 ;;
    -o|--output) out="$2"; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
[ -n "$out" ] || { echo "sweep-gpus: -o OUT is required" >&2; exit 2; }
if [ -z "$gpus" ]; then
  gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
  [ "$gpus" -ge 1 ] 2>/dev/null || gpus=1
fi
case "$gpus" in ''|*[!0-9]*) echo "sweep-gpus: --gpus must be a positive integer (got '$gpus')" >&2; exit 2 ;; esac
[ "$gpus" -ge 1 ] || { echo "sweep-gpus: --gpus must be at least 1" >&2; exit 2; }
mkdir -p "$out"
pids=()
for ((i = 0; i < gpus; ++i)); do
  CUDA_VISIBLE_DEVICES=$i "$pipeline" sweep "${args[@]}" --shard "$i/$gpus" -o "$out/shards" --quiet \
    >"$out/shard_$i.log" 2>&1 &
  pids+=($!)
done
fail=0
for ((i = 0; i < gpus; ++i)); do
  if ! wait "${pids[$i]}"; then
    echo "sweep-gpus: shard $i/$gpus failed; its log: $out/shard_$i.log" >&2
    tail -3 "$out/shard_$i.log" >&2
    fail=1
  fi
done
[ $fail = 0 ] || exit 1
shards=()
for ((i = 0; i < gpus; ++i)); do shards+=("$out/shards/sweep_${i}_of_$gpus.csv"); done
"$pipeline" sweep --merge "$out/sweep.csv" "${shards[@]}"
echo "sweep-gpus: $gpus shards merged into $out/sweep.csv"
