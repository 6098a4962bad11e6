#!/usr/bin/env bash
# gradcheck_table.sh [SCENE.cfg ...]: `pipeline gradcheck --stage all` on every shipped scene (default: scenes/*.cfg
# and scenes/*/*.cfg) at its own resolution, one table row per scene for docs/adjoints.md: resolution, parameter
# components checked, the worst relative error among them, the stage entries (sampled rasterizer and upsampler
# inputs) that came back "below noise", the verdict and the wall time. Scenes without a [param] check the stages
# only; STAGES_ONLY=1 checks only the stages (their rows then replace those of an earlier full run in OUT);
# SUMMARY_ONLY=1 prints the table of the rows already in OUT; GC_ARGS adds options to every gradcheck (e.g. a [truth]
# for a scene without targets: GC_ARGS='--set truth.material.rubber.E=4e5'). Slow (minutes to hours per scene on 2
# cores): run it niced, in the background.
set -u
bin="${PIPELINE:-build/pipeline/pipeline}"
out="${OUT:-out/gradcheck_table}"
mkdir -p "$out"
scenes=("$@")
[ ${#scenes[@]} -eq 0 ] && scenes=(scenes/*.cfg scenes/*/*.cfg)
echo "| scene | resolution | parameter components | worst rel. error | stage entries below noise | verdict | wall time |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for scene in "${scenes[@]}"; do
  name=$(echo "$scene" | sed 's|^scenes/||; s|\.cfg$||; s|/|_|g')
  stage=all
  grep -q '^\[param ' "$scene" || stage=stages
  [ -n "${STAGES_ONLY:-}" ] && stage=stages
  t0=$(date +%s.%N)
  if [ -n "${SUMMARY_ONLY:-}" ]; then # the rows already in OUT (wall time unknown)
    rc=0
    grep -q '"ok": false' "$out/$name"*.json 2>/dev/null && rc=1
  elif [ "$stage" = stages ]; then
    # shellcheck disable=SC2086
    "$bin" gradcheck "$scene" --stage raster --json -q ${GC_ARGS:-} > "$out/$name.raster.json" 2> "$out/$name.err"
    rc1=$?
    # shellcheck disable=SC2086
    "$bin" gradcheck "$scene" --stage upsample --json -q ${GC_ARGS:-} > "$out/$name.upsample.json" 2>> "$out/$name.err"
    rc=$((rc1 | $?))
  else
    # shellcheck disable=SC2086
    "$bin" gradcheck "$scene" --stage all --json -q ${GC_ARGS:-} > "$out/$name.json" 2> "$out/$name.err"
    rc=$?
  fi
  t1=$(date +%s.%N)
  /usr/bin/python3 - "$scene" "$out" "$name" "$rc" "$t0" "$t1" <<'PY'
import json, sys, glob, re
scene, out, name, rc, t0, t1 = sys.argv[1:]
txt = open(scene).read()
m = re.search(r'^\[render\]\s*$(.*?)(?=^\[|\Z)', txt, re.M | re.S)
txt = m.group(1) if m else txt
w = re.search(r'^width\s*=\s*(\d+)', txt, re.M); h = re.search(r'^height\s*=\s*(\d+)', txt, re.M)
res = f"{w.group(1) if w else '?'}x{h.group(1) if h else '?'}"
rows = {}
# a stage's own file (name.raster.json, from STAGES_ONLY=1) replaces that stage's rows of the full run (name.json)
files = sorted(glob.glob(f"{out}/{name}.json")) + sorted(glob.glob(f"{out}/{name}.*.json"))
for f in files:
    try:
        d = json.load(open(f))
    except Exception:
        continue
    for st in d.get("stages", []):
        rows[st["stage"]] = st["rows"]
par = rows.get("params", []) + rows.get("mpm", [])
checked = [r for r in par if r["verdict"] not in ("FROZEN",)]
worst = max([r["relative_error"] for r in checked], default=float("nan"))
stage = rows.get("raster", []) + rows.get("upsample", [])
below = sum(r["verdict"] == "below noise" for r in stage)
bad = [r["name"] + ": " + r["verdict"] for r in par + stage
       if r["verdict"] not in ("ok", "FROZEN", "below noise", "non-smooth")]
verdict = "ok" if rc == "0" and not bad else "FAILED " + "; ".join(bad)[:200] if bad else f"exit {rc}"
# branch-aware differences: the rows whose larger steps straddled branch changes (return maps, contacts, L1 signs)
strad = [r for r in par if r.get("steps_straddling_branches", 0) > 0 and r["verdict"] == "ok"]
nonsm = [r for r in par if r["verdict"] == "non-smooth"]
if nonsm:
    verdict += "; non-smooth (agrees): " + ", ".join(
        f"{r['name']} ({sum(r['branch_changes'].values())} changes at step {r.get('step', 0):.2g})" for r in nonsm)
if strad:
    verdict += "; branch-aware: " + ", ".join(
        f"{r['name']} at step {r.get('step', 0):.2g} ({r['steps_straddling_branches']} larger straddled: "
        f"{sum(r['straddling_branch_changes'].values())} changes at {r['straddling_step']:.2g})" for r in strad)
secs = float(t1) - float(t0)
wall = f"{secs / 60:.1f} min" if secs > 1 else "(earlier run)"
print(f"| {scene} | {res} | {len(rows.get('params', []))} (+{len(rows.get('mpm', []))} mpm) | {worst:.1e} | "
      f"{below} of {len(stage)} ({100.0 * below / max(len(stage), 1):.0f} %) | {verdict} | {wall} |")
PY
done
