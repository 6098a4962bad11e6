#!/usr/bin/env python3
"""hull_erode_scan.py: pick a visual hull's erosion from the capture's first frame alone (issue 20).

The Gaussians the upsampler puts on the particles' surface overhang it, so a body filled into the visual hull renders
wider than the silhouettes it was carved from. This scan renders frame 0 of SCENE (a shape = visual_hull scene) for
each erosion (object.NAME.hull_erode), at the capture's image size, and measures the rendered silhouette (alpha
>= 0.5) against each training camera's mask: the very mask the hull was carved from, read from the render's
hull_OBJECT_CAMERA.png (red channel: the mask), so the scene's hull_mask (threshold or matte) and hull_threshold
apply; --mask overrides hull_mask. IoU and area ratio per camera; the best erosion is the one with the highest mean
IoU. No truth is read.

usage: /usr/bin/python3 scripts/hull_erode_scan.py PIPELINE SCENE.cfg OBJECT [--erode 0,0.005,...]
       [--mask threshold|matte] [--set KEY=VALUE ...]
"""
import argparse
import os
import struct
import subprocess
import sys
import tempfile
import zlib

import numpy as np


def read_png(path):
    """8-bit PNG (grey, grey+alpha, RGB, RGBA; no interlace) -> uint8 array [h, w, channels]."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit(f"{path}: not a PNG")
    i, idat, w, h, ct = 8, b"", 0, 0, 0
    while i < len(data):
        n, kind = struct.unpack(">I4s", data[i:i + 8])
        body = data[i + 8:i + 8 + n]
        i += 12 + n
        if kind == b"IHDR":
            w, h, depth, ct, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or interlace:
                sys.exit(f"{path}: only 8-bit, non-interlaced PNGs are read")
        elif kind == b"IDAT":
            idat += body
    ch = {0: 1, 2: 3, 4: 2, 6: 4}[ct]
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, w * ch + 1)
    out = np.zeros((h, w * ch), np.int32)
    prev = np.zeros(w * ch, np.int32)
    for y in range(h):
        f, row = raw[y, 0], raw[y, 1:].astype(np.int32)
        if f == 0:
            cur = row
        elif f == 2:
            cur = (row + prev) & 255
        else:  # sub, average, paeth: left neighbour dependent
            cur = np.zeros_like(row)
            for x in range(w * ch):
                a = cur[x - ch] if x >= ch else 0
                b = prev[x]
                c = prev[x - ch] if x >= ch else 0
                if f == 1:
                    p = a
                elif f == 3:
                    p = (a + b) // 2
                else:
                    pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                    p = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                cur[x] = (row[x] + p) & 255
        out[y] = cur
        prev = cur
    return out.reshape(h, w, ch).astype(np.uint8)


def hull_masks(folder, obj):
    """camera -> the mask the hull was carved from, from the render's hull_OBJECT_CAMERA.png (red 230: the mask)."""
    prefix = f"hull_{obj}_"
    masks = {}
    for name in sorted(os.listdir(folder)):
        if name.startswith(prefix) and name.endswith(".png"):
            masks[name[len(prefix):-4]] = read_png(os.path.join(folder, name))[:, :, 0] >= 200
    return masks


def render(a, sets, out, erode, size=None):
    args = [a.pipeline, "render", a.scene, "--frames", "0", "-o", out] + sets
    if size:  # the capture's size, whatever render size --set gives (the later of two --set of a key wins)
        args += ["--set", f"render.width={size[0]}", "--set", f"render.height={size[1]}"]
    args += ["--set", f"object.{a.object}.hull_erode={erode}"]
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"render at hull_erode = {erode} failed:\n{r.stderr}{r.stdout}")
    for line in (r.stdout + r.stderr).splitlines():
        if "visual hull from frame 0" in line and "volume " in line:
            return line.split("volume ")[1].split()[0]
    return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("pipeline")
    ap.add_argument("scene")
    ap.add_argument("object")
    ap.add_argument("--erode", default="0,0.005,0.01,0.015,0.02")
    ap.add_argument("--mask", choices=["threshold", "matte"], default=None,
                    help="object.NAME.hull_mask for the scan (default: the scene's)")
    ap.add_argument("--set", action="append", default=[])
    a = ap.parse_args()
    sets = sum((["--set", s] for s in a.set), [])
    if a.mask:
        sets += ["--set", f"object.{a.object}.hull_mask={a.mask}"]
    erosions = a.erode.split(",")
    best = None
    with tempfile.TemporaryDirectory() as tmp:
        # the masks (and their size) from a first render; the hull's cameras are the training cameras
        vol0 = render(a, sets, os.path.join(tmp, "probe"), erosions[0])
        masks = hull_masks(os.path.join(tmp, "probe"), a.object)
        if not masks:
            sys.exit(f"{a.scene}: no hull_{a.object}_CAMERA.png written: is [object {a.object}] a shape = visual_hull?")
        h, w = next(iter(masks.values())).shape
        print(f"{a.scene}: frame 0 of {len(masks)} cameras ({', '.join(masks)}), {w}x{h}; the masks the hull was "
              f"carved from")
        print(f"{'erode (m)':>10} {'hull volume (m^3)':>18} {'mean IoU':>9} {'area ratio':>11}  IoU per camera")
        for ev in erosions:
            out = os.path.join(tmp, "r" + ev)
            vol = render(a, sets, out, ev, (w, h))
            ious, ratios = [], []
            for cam, m in masks.items():
                alpha = read_png(os.path.join(out, cam, "0000.png"))
                al = alpha[:, :, alpha.shape[2] - 1] >= 128
                ious.append((al & m).sum() / max((al | m).sum(), 1))
                ratios.append(al.sum() / max(m.sum(), 1))
            mi = float(np.mean(ious))
            print(f"{ev:>10} {vol:>18} {mi:9.3f} {float(np.mean(ratios)):11.3f}  " + " ".join(f"{x:.3f}" for x in ious))
            if best is None or mi > best[1]:
                best = (ev, mi)
    print(f"best: hull_erode = {best[0]} (mean rendered-silhouette IoU {best[1]:.3f})")


if __name__ == "__main__":
    main()
