#!/usr/bin/env bash
# test_fit_materials.sh PIPELINE_BINARY: the three fastest rows of the per-material fit table (issue 16,
# docs/benchmarks.md) at CI size: each shipped scene, from its start far off, must recover its truth within the
# issue's goal (scripts/fit_table.py --ci checks and prints every figure; exit 1 when one misses).
set -u
bin="$1"
py=/usr/bin/python3
[ -x "$py" ] || py=python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$py" scripts/fit_table.py --ci --bin "$bin" --out "$tmp"
rc=$?
[ "$rc" -eq 0 ] || { for f in "$tmp"/*.log; do echo "== $f"; tail -5 "$f"; done; }
exit "$rc"
