#!/usr/bin/env python3
"""hull_erode_scan.py: pick a visual hull's erosion from the capture's first frame alone (issue 20).

The Gaussians the upsampler puts on the particles' surface overhang it, so a body filled into the visual hull renders
wider than the silhouettes it was carved from. This scan renders frame 0 of SCENE (a shape = visual_hull scene) for
each erosion (object.NAME.hull_erode), at the capture's image size, and measures the rendered silhouette (alpha
>= 0.5) against each training camera's mask (background subtraction against the camera's plate, as the hull reads
it: thresholded, or with --mask matte the half-covered contour of the coverage matted against the plate, the like of
a rendered alpha >= 0.5; pass the scene's hull_mask): IoU and area ratio. The best erosion is the one with the
highest mean IoU. No truth is read.

usage: /usr/bin/python3 scripts/hull_erode_scan.py PIPELINE SCENE.cfg OBJECT [--erode 0,0.005,...]
       [--holdout 7] [--threshold 0.1] [--mask threshold|matte] [--set KEY=VALUE ...]
"""
import argparse
import json
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


def matte(im, bg, m, threshold):
    """hull_mask = matte, as pipeline/scene/hull_object.c computes it: alpha = (I - B).(F - B) / |F - B|^2, F the
    median colour of the mask's pixels at least two pixels (4-neighbour distance) inside it."""
    h, w = m.shape
    inner = np.zeros_like(m)
    core = np.ones((h - 4, w - 4), bool)
    for dy in range(-2, 3):
        for dx in range(-2, 3):
            if abs(dx) + abs(dy) <= 2:
                core &= m[2 + dy:h - 2 + dy, 2 + dx:w - 2 + dx]
    inner[2:h - 2, 2:w - 2] = core
    if inner.sum() < 8:
        return m.astype(float)
    F = np.median(im[inner], axis=0)
    fb = F[None, None, :] - bg
    den = (fb * fb).sum(axis=2)
    alpha = np.clip(((im - bg) * fb).sum(axis=2) / np.maximum(den, 1e-12), 0, 1)
    return np.where(den > 4 * threshold * threshold, alpha, m.astype(float))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("pipeline")
    ap.add_argument("scene")
    ap.add_argument("object")
    ap.add_argument("--erode", default="0,0.005,0.01,0.015,0.02")
    ap.add_argument("--holdout", default="7")
    ap.add_argument("--threshold", type=float, default=0.1)
    ap.add_argument("--mask", choices=["threshold", "matte"], default=None,
                    help="the masks as the hull reads them (default: the scene's object.NAME.hull_mask): matte "
                    "compares like with like, the half-covered contour against the rendered alpha >= 0.5")
    ap.add_argument("--set", action="append", default=[])
    a = ap.parse_args()
    sets = sum((["--set", s] for s in a.set), [])
    # the capture: where its frame-0 images and plates are
    cap = None
    scene_dir = os.path.dirname(os.path.abspath(a.scene))
    section = ""
    mask_mode = "threshold"
    for line in open(a.scene):
        s = line.split(";")[0].strip()
        if s.startswith("["):
            section = " ".join(s.split())
        key = s.split("=", 1)[0].strip() if "=" in s else ""
        if section == "[targets]" and key == "path":
            cap = os.path.normpath(os.path.join(scene_dir, s.split("=", 1)[1].strip()))
        if section == f"[object {a.object}]" and key == "hull_mask":
            mask_mode = s.split("=", 1)[1].strip()
    for s in a.set:
        if s.startswith("targets.path="):
            cap = s.split("=", 1)[1]
        if s.startswith(f"object.{a.object}.hull_mask="):
            mask_mode = s.split("=", 1)[1]
    if a.mask is None:
        a.mask = mask_mode
    if not cap or not os.path.exists(os.path.join(cap, "all_data.json")):
        sys.exit(f"{a.scene}: no PAC-NeRF capture (all_data.json) at [targets] path = {cap}")
    entries = json.load(open(os.path.join(cap, "all_data.json")))
    held = set(a.holdout.split(",")) if a.holdout else set()
    first = {}  # camera -> its image of capture frame 0 (simulation frame 0 with targets.offset = 0)
    for e in entries:
        name = os.path.basename(e["file_path"])
        stem = name[2:-4]  # r_C_F.png
        cam, frame = stem.rsplit("_", 1)
        if frame == "0" and cam not in held:
            first[cam] = os.path.join(cap, e["file_path"])
    masks = {}
    for cam, img in sorted(first.items()):
        im = read_png(img)[:, :, :3].astype(float) / 255
        bg = read_png(os.path.join(os.path.dirname(img), f"r_{cam}_-1.png"))[:, :, :3].astype(float) / 255
        masks[cam] = np.abs(im - bg).max(axis=2) > a.threshold
        if a.mask == "matte":
            masks[cam] = matte(im, bg, masks[cam], a.threshold) >= 0.5
    if not masks:
        sys.exit(f"{cap}: no frame-0 image of a training camera (r_C_0.png)")
    h, w = next(iter(masks.values())).shape
    print(f"{a.scene}: frame 0 of {len(masks)} cameras ({', '.join(sorted(masks))}), {w}x{h}; masks by background "
          f"subtraction (threshold {a.threshold}, {a.mask})")
    print(f"{'erode (m)':>10} {'hull volume (m^3)':>18} {'mean IoU':>9} {'area ratio':>11}  IoU per camera")
    best = None
    with tempfile.TemporaryDirectory() as tmp:
        for ev in a.erode.split(","):
            out = os.path.join(tmp, "r" + ev)
            # at the capture's size, whatever render size --set gives (the later of two --set of a key wins)
            r = subprocess.run([a.pipeline, "render", a.scene, "--frames", "0", "-o", out] + sets +
                               ["--set", f"render.width={w}", "--set", f"render.height={h}", "--set",
                                f"object.{a.object}.hull_erode={ev}", "--set", f"object.{a.object}.hull_mask={a.mask}"], capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit(f"render at hull_erode = {ev} failed:\n{r.stderr}{r.stdout}")
            vol = "?"
            for line in (r.stdout + r.stderr).splitlines():
                if "visual hull from frame 0" in line and "volume " in line:
                    vol = line.split("volume ")[1].split()[0]
            ious, ratios = [], []
            for cam, m in sorted(masks.items()):
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
