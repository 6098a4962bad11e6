#!/usr/bin/env python3
"""fit_table.py: the per-material fit table of issue 16 (docs/benchmarks.md), measured.

Each case fits one shipped scene from a start 2-10x off (+-15 deg for a friction angle) at a reduced size given
by --set, reads result.json and checks each fitted value against its goal (elastic E 5 %, nu 0.03; plasticine E
and yield stress 10 %; sand phi 1 deg; Newtonian viscosity 10 %; non-Newtonian yield stress and viscosity 15 %).
Prints one markdown row per case (scene, start, fitted, truth, error, iterations, wall time, standard error,
verdict) and exits 1 when a value misses its goal or a fit fails.

  /usr/bin/python3 scripts/fit_table.py --bin build/pipeline/pipeline --out out/fit_table [--cases a,b] [--list]
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

# Reduced sizes (render, grid, frames, particles per cell): each scene's own settings otherwise.
SMALL = {
    "tiny": [],
    "jelly": ["render.width=48", "render.height=48", "sim.grid=20", "sim.frames=10", "targets.frames=1:11",
              "object.cube.particles_per_cell=4", "optimize.scan_frames=0:7"],
    "plasticine": ["render.width=40", "render.height=40", "sim.grid=20", "sim.frames=8", "targets.frames=1:9",
                   "object.ball.particles_per_cell=4", "optimize.scan_frames=0:6"],
    "sand": ["render.width=48", "render.height=32", "sim.frames=10", "targets.frames=2:11:2",
             "object.column.particles_per_cell=4", "optimize.scan_frames=0:6"],
    "fluid": ["render.width=48", "render.height=32", "sim.frames=8", "targets.frames=2:9:2",
              "object.column.particles_per_cell=4", "optimize.scan_frames=0:6"],
    "mud": ["render.width=40", "render.height=32", "sim.frames=8", "targets.frames=2:9:2",
            "object.column.particles_per_cell=4", "optimize.scan_frames=0:6"],
}

# --ci: the three fastest cases, smaller still (tests/pipeline/test_fit_materials.sh), each with its own extra --set
CI = {
    "plasticine": ["render.width=32", "render.height=32", "optimize.iterations=25", "optimize.newton=2"],
    "fluid": ["render.width=32", "render.height=24", "sim.frames=6", "targets.frames=2:7:2", "optimize.iterations=12",
              "optimize.newton=1"],
    "sand": ["render.width=32", "render.height=24", "sim.frames=8", "targets.frames=2:9:2", "optimize.iterations=12"],
}

# name: scene, extra --set (the start), goals [(address, 'rel'|'abs', tolerance)]
CASES = {
    "sand": ("sand", ["material.sand.friction_angle=20"], [("material.sand.friction_angle", "abs", 1.0)]),
    "fluid": ("fluid", ["material.honey.viscosity=3"], [("material.honey.viscosity", "rel", 0.10)]),
    "tiny": ("tiny", [], [("material.jelly.E", "rel", 0.05), ("material.jelly.nu", "abs", 0.03)]),
    "mud": ("mud", [], [("material.mud.yield_stress", "rel", 0.15), ("material.mud.viscosity", "rel", 0.15)]),
    "plasticine": ("plasticine", [], [("material.plasticine.E", "rel", 0.10), ("material.plasticine.yield_stress", "rel", 0.10)]),
    "plasticine_far": ("plasticine", ["material.plasticine.E=3e6", "material.plasticine.yield_stress=1.5e5"],
                       [("material.plasticine.E", "rel", 0.10), ("material.plasticine.yield_stress", "rel", 0.10)]),
    "jelly_soft": ("jelly", ["material.jelly.E=2e3"], [("material.jelly.E", "rel", 0.05), ("material.jelly.nu", "abs", 0.03)]),
    "jelly_stiff": ("jelly", ["material.jelly.E=2e5"], [("material.jelly.E", "rel", 0.05), ("material.jelly.nu", "abs", 0.03)]),
}


def short(a):
    return a.split(".")[-1]


def fmt(v):
    return "%.4g" % v if isinstance(v, (int, float)) else str(v)


def run_case(binary, out, name, extra_sets, quiet):
    scene, start_sets, goals = CASES[name]
    folder = os.path.join(out, name)
    sets = SMALL[scene] + start_sets + extra_sets
    cmd = [binary, "optimize", "scenes/%s.cfg" % scene, "-o", folder, "-q"]
    for s in sets:
        cmd += ["--set", s]
    t0 = time.time()
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(os.path.join(out, name + ".log"), "w") as log:
        rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT)
    wall = time.time() - t0
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
    try:
        r = json.load(open(os.path.join(folder, "result.json")))
    except (OSError, ValueError):
        return None, "| %s | | | | | | %.0f s | | fit failed (exit %d) |" % (name, wall, rc), False
    ok = rc in (0, 3)
    starts, fits, truths, errs, ses = [], [], [], [], []
    se = r.get("uncertainty", {}).get("standard_error", {})
    for addr, kind, tol in goals:
        p = r["parameters"][addr]
        f, t = p["fitted"], p["truth"]
        e = abs(f - t) / abs(t) if kind == "rel" else abs(f - t)
        ok = ok and e <= tol
        starts.append("%s %s" % (short(addr), fmt(p["start"])))
        fits.append(fmt(f))
        truths.append(fmt(t))
        errs.append(("%.2f %%" % (100 * e) if kind == "rel" else "%.3g" % e) + ("" if e <= tol else " (goal %g%s: MISSED)" % (100 * tol if kind == "rel" else tol, " %" if kind == "rel" else "")))
        s = se.get(addr)
        ses.append(fmt(s) if s is not None else "undetermined")
    row = "| %s (%s) | %s | %s | %s | %s | %d | %.0f s (%.0f s CPU) | %s | %s |" % (
        name, " ".join([x for x in sets if x not in start_sets]) or "shipped size", ", ".join(starts), ", ".join(fits),
        ", ".join(truths), ", ".join(errs), r.get("iterations", 0) + r.get("newton_steps", 0), wall, cpu, ", ".join(ses),
        r.get("verdict", "?"))
    return r, row, ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="build/pipeline/pipeline")
    ap.add_argument("--out", default="out/fit_table")
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--set", action="append", default=[], help="extra --set for every case")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--ci", action="store_true", help="the CI cases and sizes (CI above)")
    a = ap.parse_args()
    if a.list:
        for n, (sc, st, g) in CASES.items():
            print(n, sc, " ".join(SMALL[sc] + st))
        return 0
    os.makedirs(a.out, exist_ok=True)
    print("| case (size) | start | fitted | truth | error | iterations | wall time | standard error | verdict |")
    print("|---|---|---|---|---|---|---|---|---|")
    bad = 0
    names = list(CI) if a.ci else a.cases.split(",")
    for name in names:
        if name not in CASES:
            print("fit_table: unknown case '%s' (--list)" % name, file=sys.stderr)
            return 2
        _, row, ok = run_case(a.bin, a.out, name, (CI[name] if a.ci else []) + a.set, True)
        print(row, flush=True)
        bad += not ok
    if bad:
        print("fit_table: %d case(s) outside their goals or failed" % bad, file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
