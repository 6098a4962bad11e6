#!/usr/bin/env bash
# hull_table.sh [PIPELINE] [CASE...]: issue 20's table "from a capture alone" (docs/benchmarks.md): for each case a
# synthetic PAC-NeRF capture of a shipped scene (the fit does not know the mesh), then `pipeline optimize` of the
# capture scene in scenes/captures/ (shape = visual_hull, first-frame appearance, then the material), then one row:
# the hull's volume against the true body's, the fitted values against the truth and the issue's goal, the verdict,
# the hold-out PSNR and the time. Cases: elastic plasticine sand newtonian viscous viscous_views newtonian_views
# (default: the first five; viscous is the same dam break with a honey-like truth, 5 Pa s; viscous_views the same
# truth captured by 11 ring cameras and one above, the column against its walls; newtonian_views fluid.cfg's own
# 0.3 Pa s truth on that capture). Captures are made once
# (out/CASE_capture/capture; delete it to remake); fits write out/CASE_capture/ and its optimize.log.
# The fits take minutes each on a 2-core machine (docs/benchmarks.md gives the measured times). Extra arguments
# for optimize can be given in OPT_ARGS (e.g. OPT_ARGS="--set optimize.iterations=5").
set -u
cd "$(dirname "$0")/.."
bin="${1:-build/pipeline/pipeline}"
[ $# -gt 0 ] && shift
cases=("$@")
[ ${#cases[@]} -eq 0 ] && cases=(elastic plasticine sand newtonian viscous)
[ -x "$bin" ] || { echo "hull_table.sh: $bin is not built (scripts/setup.sh build)" >&2; exit 2; }

# case -> source scene, capture scene, capture folder, true body volume (m^3: the source scene's shape)
declare -A src=([elastic]=tiny [plasticine]=plasticine [sand]=sand [newtonian]=fluid [viscous]=fluid
  [viscous_views]=fluid [newtonian_views]=fluid)
declare -A cfg=([elastic]=hull_capture [plasticine]=plasticine_capture [sand]=sand_capture [newtonian]=fluid_capture
  [viscous]=honey_capture [viscous_views]=honey_views_capture
  [newtonian_views]=fluid_views_capture)
declare -A vol=([elastic]=0.027 [plasticine]=0.0072382 [sand]=0.0087965 [newtonian]=0.018 [viscous]=0.018
  [viscous_views]=0.018 [newtonian_views]=0.018)
declare -A size=([elastic]="" [plasticine]="--width 96 --height 96" [sand]="--width 96 --height 96"
  [newtonian]="--width 96 --height 96" [viscous]="--width 96 --height 96 --set truth.material.honey.viscosity=5"
  [viscous_views]="--width 96 --height 96 --cameras 11 --overhead 1 --set truth.material.honey.viscosity=5
  --set object.column.center=0.19375,0.24375,0.24375"
  [newtonian_views]="--width 96 --height 96 --cameras 11 --overhead 1
  --set object.column.center=0.19375,0.24375,0.24375")

rows=()
for c in "${cases[@]}"; do
  [ -n "${src[$c]:-}" ] || { echo "hull_table.sh: unknown case '$c' (elastic plasticine sand newtonian viscous viscous_views newtonian_views)" >&2; exit 2; }
  out="out/${cfg[$c]}"
  [ "$c" = elastic ] && out=out/hull_capture
  if [ ! -f "$out/capture/all_data.json" ]; then
    echo "== $c: capture of scenes/${src[$c]}.cfg -> $out/capture"
    # shellcheck disable=SC2086
    "$bin" capture "scenes/${src[$c]}.cfg" -o "$out/capture" ${size[$c]} -q || exit 1
  fi
  echo "== $c: optimize scenes/captures/${cfg[$c]}.cfg (log: $out/optimize.log)"
  # shellcheck disable=SC2086
  "$bin" optimize "scenes/captures/${cfg[$c]}.cfg" --no-video ${OPT_ARGS:-} > "$out/optimize.log" 2>&1
  rc=$?
  [ $rc -le 3 ] || { echo "hull_table.sh: optimize failed (exit $rc), see $out/optimize.log" >&2; tail -5 "$out/optimize.log" >&2; exit 1; }
  rows+=("$(/usr/bin/python3 - "$c" "$out" "${vol[$c]}" << 'EOF'
import json, re, sys
case, out, vtrue = sys.argv[1], sys.argv[2], float(sys.argv[3])
log = open(out + "/optimize.log").read()
r = json.load(open(out + "/result.json"))
m = re.search(r"volume ([0-9.e+-]+) m\^3", log)
iou = re.search(r"hull mask IoU per camera:.*\(mean ([0-9.]+)\)", log)
hull = f"{float(m.group(1)):.4g} m³ vs {vtrue:.4g} ({100 * (float(m.group(1)) / vtrue - 1):+.0f} %), IoU {iou.group(1)}" if m else "?"
goals = {"material.jelly.E": ("rel", 0.10), "material.jelly.nu": ("abs", 0.05),
         "material.plasticine.yield_stress": ("rel", 0.15), "material.sand.friction_angle": ("abs", 3.0),
         "material.honey.viscosity": ("rel", 0.25)}
cells, ok = [], True
for name, p in r["parameters"].items():
    f, t = p["fitted"], p.get("truth")
    short = name.split(".")[-1]
    if t is None:
        cells.append(f"{short} {f:.4g}")
        continue
    kind, g = goals.get(name, (None, None))
    if kind == "rel":
        err = f"{100 * (f / t - 1):+.1f} %"
        hit = abs(f / t - 1) <= g
    elif kind == "abs":
        err = f"{f - t:+.3g}"
        hit = abs(f - t) <= g
    else:
        err, hit = f"{100 * (f / t - 1):+.1f} %", True
    if kind:
        ok = ok and hit
        err += " (goal " + (f"{100 * g:.0f} %" if kind == "rel" else f"{g:g}") + (": met)" if hit else ": MISSED)")
    cells.append(f"{short} {p['start']:.4g} → {f:.4g} (truth {t:.4g}, {err})")
ho = r.get("holdout") or {}
ap = r.get("appearance") or {}
print(f"| {case} | {hull} | " + "; ".join(cells) + f" | {r['verdict']} ({r['iterations']} it.) | "
      f"{ap.get('psnr_before_db', float('nan')):.1f} → {ap.get('psnr_after_db', float('nan')):.1f} dB | "
      f"{ho.get('psnr_db', float('nan')):.1f} dB | {r['seconds']:.0f} s | {'yes' if ok else 'no'} |")
EOF
)")
done
echo
echo "| case | hull (volume vs the true body, mean mask IoU) | start → fitted (truth, error, goal) | verdict | frame 0 PSNR (appearance stage) | hold-out PSNR | fit time (wall) | goals met |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
printf '%s\n' "${rows[@]}"
