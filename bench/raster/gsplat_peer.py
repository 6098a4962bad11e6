#!/usr/bin/env python3
"""gsplat_peer.py: time gsplat (the peer) on exactly the workloads of bench_raster, side by side.

    build/bench/raster/bench_raster --dump /tmp/splat_bench          # the scenes (3DGS PLY) and cameras
    pip install gsplat torch numpy                                   # on a machine with a CUDA GPU
    python3 bench/raster/gsplat_peer.py --dir /tmp/splat_bench       # gsplat's figures, same table layout
    build/bench/raster/bench_raster --backend cuda                   # ours, on the same GPU

gsplat is called as a user would: rasterization(means, quats, scales, opacities, colors, viewmats, Ks, W, H)
with gsplat's defaults for the constants this project shares (eps2d 0.3, near 0.01, 16-pixel tiles,
classic mode), RGB colours, no background. Forward = one call, backward = loss.backward() of <v, rgb> with a
fixed random cotangent; each is the best of --reps runs after a warm-up, with torch.cuda.synchronize().
--dry-run only reads the files (no torch, no GPU) and prints what it would run. --rows WxH:N,... runs only those
workloads (bench_raster passes the rows it measures and prints gsplat's figures beside its own); by default every
camera of cameras.txt with every scene_N.ply of the folder.
"""
import glob
import argparse
import os
import sys
import time

import numpy as np

SH_C0 = 0.28209479177387814


def read_ply(path):
    """The standard 3DGS binary little-endian layout (float properties), as written by raster_ply_write."""
    with open(path, "rb") as f:
        names, n = [], None
        line = f.readline()
        if line.strip() != b"ply":
            raise ValueError(f"{path}: not a PLY file")
        while True:
            line = f.readline()
            if not line:
                raise ValueError(f"{path}: no end_header")
            words = line.split()
            if words[:1] == [b"format"] and words[1] != b"binary_little_endian":
                raise ValueError(f"{path}: expected binary_little_endian")
            if words[:2] == [b"element", b"vertex"]:
                n = int(words[2])
            elif words[:1] == [b"property"]:
                if words[1] != b"float":
                    raise ValueError(f"{path}: expected float properties")
                names.append(words[2].decode())
            elif words[:1] == [b"end_header"]:
                break
        data = np.fromfile(f, dtype=np.dtype([(nm, "<f4") for nm in names]), count=n)
    col = lambda *k: np.stack([data[c] for c in k], axis=1).astype(np.float32)
    return {
        "means": col("x", "y", "z"),
        "quats": col("rot_0", "rot_1", "rot_2", "rot_3"),
        "scales": np.exp(col("scale_0", "scale_1", "scale_2")),
        "opacities": 1.0 / (1.0 + np.exp(-data["opacity"].astype(np.float32))),
        "colors": np.clip(col("f_dc_0", "f_dc_1", "f_dc_2") * SH_C0 + 0.5, 0.0, None),
    }


def read_cameras(path):
    cams = []
    for line in open(path):
        v = [float(x) for x in line.split()]
        w, h, fx, fy, cx, cy = int(v[0]), int(v[1]), v[2], v[3], v[4], v[5]
        K = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], dtype=np.float32)
        cams.append((w, h, K, np.array(v[6:22], dtype=np.float32).reshape(4, 4)))
    return cams


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", required=True, help="folder written by bench_raster --dump")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--dry-run", action="store_true")
    ap.add_argument("--rows", default="", help="only these workloads, e.g. 256x256:10000,1920x1080:2800000")
    a = ap.parse_args()
    cams = read_cameras(os.path.join(a.dir, "cameras.txt"))
    counts = sorted(int(os.path.basename(f)[6:-4]) for f in glob.glob(os.path.join(a.dir, "scene_*.ply")))
    wanted = None
    if a.rows:
        wanted = set()
        for r in a.rows.split(","):
            size, n = r.split(":")
            w, h = size.split("x")
            wanted.add((int(w), int(h), int(n)))
        counts = [n for n in counts if any(n == q for _, _, q in wanted)]
    run = lambda w, h, n: wanted is None or (w, h, n) in wanted
    scenes = {n: read_ply(os.path.join(a.dir, f"scene_{n}.ply")) for n in counts}
    if a.dry_run:
        for w, h, K, V in cams:
            for n in counts:
                if not run(w, h, n):
                    continue
                s = scenes[n]
                print(f"would run gsplat: {w}x{h}, N = {len(s['means'])}, fx = {K[0, 0]:.1f}, "
                      f"mean opacity {s['opacities'].mean():.3f}, mean scale {s['scales'].mean():.4f}")
        return 0
    import torch
    from gsplat import rasterization

    dev = torch.device("cuda")
    print(f"# gsplat_peer: gsplat {__import__('gsplat').__version__}, torch {torch.__version__}, "
          f"{torch.cuda.get_device_name(0)}, best of {a.reps} runs after a warm-up")
    print("| peer | image | N | fwd ms | bwd ms | bwd/fwd |")
    print("|---|---|---|---|---|---|")
    for w, h, K, V in cams:
        for n in counts:
            if not run(w, h, n):
                continue
            s = {k: torch.tensor(v, device=dev) for k, v in scenes[n].items()}
            params = {k: v.clone().requires_grad_(True) for k, v in s.items()}
            Ks = torch.tensor(K, device=dev)[None]
            Vs = torch.tensor(V, device=dev)[None]
            g = torch.Generator(device=dev).manual_seed(0)
            vrgb = torch.rand((1, h, w, 3), device=dev, generator=g) - 0.5
            tf, tb = [], []
            for rep in range(a.reps + 1):
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                rgb, alpha, meta = rasterization(params["means"], params["quats"], params["scales"],
                                                 params["opacities"], params["colors"], Vs, Ks, w, h,
                                                 near_plane=0.01, eps2d=0.3, tile_size=16,
                                                 rasterize_mode="classic")
                torch.cuda.synchronize()
                t1 = time.perf_counter()
                (rgb * vrgb).sum().backward()
                torch.cuda.synchronize()
                t2 = time.perf_counter()
                if rep > 0:
                    tf.append((t1 - t0) * 1e3)
                    tb.append((t2 - t1) * 1e3)
                for p in params.values():
                    p.grad = None
            print(f"| gsplat | {w}x{h} | {n} | {min(tf):.2f} | {min(tb):.2f} | {min(tb) / min(tf):.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
