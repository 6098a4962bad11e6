#!/usr/bin/env python3
"""hull_extent_scan.py: refine a visual hull's extent through the motion (issue 20), from the capture alone.

A visual hull is the largest body its silhouettes allow: along directions the cameras see only obliquely it carries a
roof of material the object does not have (a ring of cameras leaves one over a body's top and over the faces it sees
edge-on), and the motion then pays for that material with a wrong material value (docs/benchmarks.md: extra fluid
ahead of a dam break's front runs out further, and the fit answers with a higher viscosity). The silhouettes of the
first frame cannot tell the roof from the body; the later frames can, a little: this scan clips the hull's six
axis-aligned faces (object.NAME.hull_min / hull_max, world axes) inwards and keeps a clip only where the loss of the
whole sequence, minimised over the material value, falls.

For each clip the material value (--param, log-spaced) is bracketed around the current best and the minimum taken
from a parabola in log(value) through the three lowest points (`pipeline sweep`, the scene's own loss and targets).
Coordinate descent: every face in turn, each depth in --depths (metres inside the hull's extent, which the scene's
set-up prints), a clip kept when it lowers the minimum by more than --tol (relative); then another pass, until a pass
keeps nothing or --passes run out. The result is printed as the two keys to put in the scene. No truth is read.

Limits: the clips are planes along the world axes, so only excess beyond the body's axis-aligned extent can go (a
roof over a face seen edge-on, the caps of a ring-seen ball); a roof over a tilted face stays. The loss differences
that decide are small (0.1 to 0.5 % on the honey capture): the scan is a search of the loss the fit descends, not an
independent measurement of the shape.

The scene's loss is taken with its material colours: for a uniform object, --colour-key sets that colour from the
capture's first frame (the median of the pixels that differ from their camera's plate), since the fit's own
appearance stage (per-Gaussian colours) does not run in a sweep.

usage: /usr/bin/python3 scripts/hull_extent_scan.py PIPELINE SCENE.cfg OBJECT --param ADDRESS --start V
       [--depths 0.006,0.012,0.018] [--ratio 1.4] [--tol 1e-4] [--passes 2] [--threads N] [--set KEY=VALUE ...]
       [--colour-key material.NAME.color --capture DIR --holdout K]
"""
import argparse
import csv
import math
import os
import re
import subprocess
import sys
import tempfile

import numpy as np


def read_png(path):
    """8-bit RGB/RGBA PNG -> float array [h, w, 3] in [0, 1] (the reader of hull_erode_scan.py)"""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from hull_erode_scan import read_png as rp  # noqa: E402
    return rp(path)[:, :, :3].astype(np.float64) / 255.0


def first_frame_colour(capture, holdout):
    """the object's colour from the first frame alone: the median over every training camera of the pixels that
    differ from the camera's background plate by more than 0.3 in some channel (well inside the silhouette for a
    plate of any texture: partial pixels at the rim differ less). PAC-NeRF layout: data/r_C_0.png, data/r_C_-1.png."""
    picks = []
    for name in sorted(os.listdir(os.path.join(capture, "data"))):
        m = re.fullmatch(r"r_(\d+)_0\.png", name)
        if not m or int(m.group(1)) in holdout:
            continue
        img = read_png(os.path.join(capture, "data", name))
        plate = read_png(os.path.join(capture, "data", f"r_{m.group(1)}_-1.png"))
        sel = np.abs(img - plate).max(axis=2) > 0.3
        picks.append(img[sel])
    if not picks:
        sys.exit(f"hull_extent_scan: no r_C_0.png with a plate r_C_-1.png in {capture}/data")
    return np.median(np.concatenate(picks), axis=0)


def hull_extent(pipeline, scene, obj, sets):
    """the carved hull's box (lo, hi) and its carving box from `pipeline check`'s set-up log"""
    cmd = [pipeline, "check", scene] + sum([["--set", s] for s in sets], [])
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=os.path.dirname(os.path.abspath(scene)) or ".")
    text = out.stdout + out.stderr
    m = re.search(r"\[object " + re.escape(obj) + r"\]: visual hull .* box ([0-9.e+-]+)\.\.([0-9.e+-]+) x "
                  r"([0-9.e+-]+)\.\.([0-9.e+-]+) x ([0-9.e+-]+)\.\.([0-9.e+-]+)", text)
    if out.returncode != 0 or not m:
        sys.exit(f"hull_extent_scan: no visual hull box for object '{obj}' in `pipeline check` (exit "
                 f"{out.returncode}):\n{text[-2000:]}")
    v = [float(x) for x in m.groups()]
    return [v[0], v[2], v[4]], [v[1], v[3], v[5]]


class Scanner:
    def __init__(self, args):
        self.a = args
        self.cache = {}
        self.work = tempfile.mkdtemp(prefix="hull_extent_")
        self.runs = 0

    def losses(self, lo, hi, values):
        """loss at each material value for the hull clipped to [lo, hi] (cached)"""
        key = tuple(round(x, 6) for x in lo + hi)
        todo = [v for v in values if (key, round(v, 9)) not in self.cache]
        if todo:
            self.runs += 1
            out = os.path.join(self.work, f"run{self.runs}")
            sets = list(self.a.set) + [f"object.{self.a.object}.hull_min={lo[0]:.6g} {lo[1]:.6g} {lo[2]:.6g}",
                                       f"object.{self.a.object}.hull_max={hi[0]:.6g} {hi[1]:.6g} {hi[2]:.6g}"]
            cmd = [self.a.pipeline, "sweep", os.path.abspath(self.a.scene), "--param",
                   self.a.param + "=" + ",".join(f"{v:.9g}" for v in todo), "-o", out, "-q"]
            if self.a.threads:
                cmd += ["--threads", str(self.a.threads)]
            for s in sets:
                cmd += ["--set", s]
            r = subprocess.run(cmd, capture_output=True, text=True,
                               cwd=os.path.dirname(os.path.abspath(self.a.scene)) or ".")
            if r.returncode != 0:
                sys.exit(f"hull_extent_scan: {' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
            with open(os.path.join(out, "sweep.csv")) as f:
                for row in csv.DictReader(f):  # points in the order given (their index)
                    self.cache[(key, round(todo[int(row["point"])], 9))] = float(row["loss"])
        return [self.cache[(key, round(v, 9))] for v in values]

    def minimum(self, lo, hi, centre):
        """(loss, value) at the minimum over the material value: a bracket around centre, moved until the lowest of
        three points is the middle one, then a parabola in log(value)"""
        r = self.a.ratio
        vals = [centre / r, centre, centre * r]
        for _ in range(6):
            ls = self.losses(lo, hi, vals)
            i = min(range(3), key=lambda k: ls[k])
            if i == 1:
                break
            vals = [vals[0] / r] + vals[:2] if i == 0 else vals[1:] + [vals[2] * r]
        ls = self.losses(lo, hi, vals)
        x = [math.log(v) for v in vals]
        den = (x[0] - x[1]) * (x[0] - x[2]) * (x[1] - x[2])
        a = (x[2] * (ls[1] - ls[0]) + x[1] * (ls[0] - ls[2]) + x[0] * (ls[2] - ls[1])) / den
        b = (x[2] ** 2 * (ls[0] - ls[1]) + x[1] ** 2 * (ls[2] - ls[0]) + x[0] ** 2 * (ls[1] - ls[2])) / den
        c = ls[1] - a * x[1] ** 2 - b * x[1]
        if a <= 0:
            i = min(range(3), key=lambda k: ls[k])
            return ls[i], vals[i]
        xm = min(max(-b / (2 * a), x[0]), x[2])
        return a * xm * xm + b * xm + c, math.exp(xm)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pipeline")
    ap.add_argument("scene")
    ap.add_argument("object")
    ap.add_argument("--param", required=True, help="the material value minimised over, e.g. material.honey.viscosity")
    ap.add_argument("--start", type=float, required=True, help="where its first bracket is centred")
    ap.add_argument("--depths", default="0.006,0.012,0.018", help="clip depths inside the hull's extent (m)")
    ap.add_argument("--ratio", type=float, default=1.4, help="bracket spacing of the material value (factor)")
    ap.add_argument("--tol", type=float, default=1e-4, help="relative fall of the minimum that keeps a clip")
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], help="KEY=VALUE passed to every run")
    ap.add_argument("--colour-key", help="a uniform object's colour key (e.g. material.honey.color): set from the "
                    "first frame of --capture (the fit's appearance stage runs per Gaussian; a sweep does not)")
    ap.add_argument("--capture", help="the capture folder (PAC-NeRF layout), for --colour-key")
    ap.add_argument("--holdout", default="", help="cameras left out of the colour estimate, e.g. 7")
    a = ap.parse_args()
    a.pipeline = os.path.abspath(a.pipeline) if os.sep in a.pipeline else a.pipeline
    a.scene = os.path.abspath(a.scene)
    if a.colour_key:
        if not a.capture:
            sys.exit("hull_extent_scan: --colour-key needs --capture")
        held = {int(k) for k in a.holdout.split(",") if k.strip()}
        col = first_frame_colour(a.capture, held)
        print(f"first-frame colour (median of the object's pixels, cameras but {sorted(held)}): "
              f"{col[0]:.3f} {col[1]:.3f} {col[2]:.3f}")
        a.set.append(f"{a.colour_key}={col[0]:.4f} {col[1]:.4f} {col[2]:.4f}")
    depths = [float(d) for d in a.depths.split(",")]
    lo0, hi0 = hull_extent(a.pipeline, a.scene, a.object, a.set)
    print(f"hull extent: {lo0[0]:.4f}..{hi0[0]:.4f} x {lo0[1]:.4f}..{hi0[1]:.4f} x {lo0[2]:.4f}..{hi0[2]:.4f}")
    sc = Scanner(a)
    lo, hi = list(lo0), list(hi0)
    best, centre = sc.minimum(lo, hi, a.start)
    print(f"unclipped: loss minimum {best:.6g} at {a.param} = {centre:.4g}")
    faces = [(ax, side) for ax in range(3) for side in (1, 0)]  # max faces first: where roofs stand
    for p in range(a.passes):
        kept = 0
        for ax, side in faces:
            name = "xyz"[ax] + ("_max" if side else "_min")
            cand = None
            for d in depths:
                tlo, thi = list(lo), list(hi)
                if side:
                    thi[ax] = min(hi[ax], hi0[ax] - d)
                else:
                    tlo[ax] = max(lo[ax], lo0[ax] + d)
                if tlo == lo and thi == hi:
                    continue
                l, v = sc.minimum(tlo, thi, centre)
                print(f"  pass {p + 1}, {name} at {thi[ax] if side else tlo[ax]:.4f}: minimum {l:.6g} at {v:.4g}")
                if l < best * (1 - a.tol) and (cand is None or l < cand[0]):
                    cand = (l, v, tlo, thi)
            if cand:
                best, centre, lo, hi = cand
                kept += 1
                print(f"  kept {name}: minimum {best:.6g} at {a.param} = {centre:.4g}")
        if kept == 0:
            break
    print(f"\n{sc.runs} sweeps. Best: loss minimum {best:.6g} at {a.param} = {centre:.4g} (the fit then refines it)")
    print(f"hull_min = {lo[0]:.6g} {lo[1]:.6g} {lo[2]:.6g}\nhull_max = {hi[0]:.6g} {hi[1]:.6g} {hi[2]:.6g}")


if __name__ == "__main__":
    main()
