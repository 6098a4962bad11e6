#!/usr/bin/env python3
"""bench_rasterize.py: pipeline.rasterize (Python, torch tensors) against the C rasterizer on the same workloads.

    build/bench/raster/bench_raster --dump /tmp/splat_bench              # the scenes (3DGS PLY) and cameras
    /usr/bin/python3 bench/python/bench_rasterize.py --dir /tmp/splat_bench [--bench-raster PATH]

Workload: bench_raster's "surface" scenes (N flat Gaussians on 12 spheres, covariances, RGB colours) seen by its
camera at 256x256 (and --full: 1920x1080 and 10^5 Gaussians). Python: rasterize(means, None, None, opacities,
colors, viewmats, Ks, W, H, covars=[N,6]) on CPU float32 tensors, backward = torch.autograd.grad of <v, rgb> for
means, covars, opacities and colours (what bench_raster's backward computes), each the best of --reps runs after
a warm-up. C: bench_raster --backend cpu on the same sizes, run here side by side. The ratio Python / C is the
cost of the binding (argument checks, ctypes, output and gradient tensors, autograd bookkeeping).
"""
import argparse
import os
import re
import subprocess
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import pipeline  # noqa: E402

SH_C0 = 0.28209479177387814


def read_ply(path):
    """A binary little-endian 3DGS PLY (float properties) -> dict of numpy columns (bench input, not a
    differentiable path)."""
    with open(path, "rb") as f:
        names, n = [], 0
        while True:
            line = f.readline().decode().strip()
            if line.startswith("element vertex"):
                n = int(line.split()[2])
            elif line.startswith("property"):
                parts = line.split()
                if parts[1] != "float":
                    raise ValueError("%s: property %s is not float" % (path, parts[2]))
                names.append(parts[2])
            elif line == "end_header":
                break
        data = np.frombuffer(f.read(4 * n * len(names)), dtype="<f4").reshape(n, len(names))
    return {k: data[:, i] for i, k in enumerate(names)}


def gaussians(ply):
    col = lambda *ks: torch.from_numpy(np.stack([ply[k] for k in ks], 1).astype(np.float32))
    means = col("x", "y", "z")
    scales = torch.exp(col("scale_0", "scale_1", "scale_2"))
    q = col("rot_0", "rot_1", "rot_2", "rot_3")
    q = q / q.norm(dim=1, keepdim=True)
    w, x, y, z = q.unbind(1)
    R = torch.stack([torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], 1),
                     torch.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], 1),
                     torch.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], 1)], 1)
    cov = R @ torch.diag_embed(scales * scales) @ R.transpose(1, 2)
    covars = pipeline.pack_covars(cov).contiguous()
    opac = torch.sigmoid(torch.from_numpy(ply["opacity"].astype(np.float32)))
    colors = (SH_C0 * col("f_dc_0", "f_dc_1", "f_dc_2") + 0.5).clamp(0, 1)
    return means.contiguous(), covars, opac.contiguous(), colors.contiguous()


def read_cameras(path):
    cams = {}
    for line in open(path):
        v = [float(a) for a in line.split()]
        W, H = int(v[0]), int(v[1])
        K = torch.tensor([[v[2], 0, v[4]], [0, v[3], v[5]], [0, 0, 1]], dtype=torch.float32)[None]
        view = torch.tensor(v[6:22], dtype=torch.float32).reshape(1, 4, 4)
        cams[(W, H)] = (view, K)
    return cams


CLOCK = time.perf_counter


def best_ms(fn, reps):
    times = []
    for _ in range(reps + 1):
        t0 = CLOCK()
        fn()
        times.append((CLOCK() - t0) * 1e3)
    return min(times[1:])


def c_figures(exe, W, H, n, reps, threads, cpu_time):
    """bench_raster's CPU row for one size: (fwd ms, bwd ms)."""
    cmd = [exe, "--backend", "cpu", "--size", "%dx%d" % (W, H), "--n", str(n), "--reps", str(reps)]
    if cpu_time:
        cmd += ["--cpu-time"]
    if threads:
        cmd += ["--threads", str(threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 11 and cells[0] == "cpu" and cells[1] == "%dx%d" % (W, H) and cells[2] == str(n):
            return float(cells[7]), float(cells[10])
    raise RuntimeError("no row for %dx%d N=%d in:\n%s" % (W, H, n, out))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", required=True, help="bench_raster --dump folder")
    ap.add_argument("--bench-raster", default="build/bench/raster/bench_raster")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--full", action="store_true", help="also 1920x1080 and N = 10^5")
    ap.add_argument("--cpu-time", action="store_true",
                    help="time the process's CPU time (with --threads 1: not disturbed by other processes)")
    a = ap.parse_args()
    global CLOCK
    if a.cpu_time:
        if a.threads != 1:
            ap.error("--cpu-time needs --threads 1")
        CLOCK = time.process_time
    if a.threads:
        torch.set_num_threads(a.threads)
    cams = read_cameras(os.path.join(a.dir, "cameras.txt"))
    rows = [(256, 256, 10000)] + ([(256, 256, 100000), (1920, 1080, 10000), (1920, 1080, 100000)] if a.full else [])
    print("# bench_rasterize: pipeline.rasterize on CPU float32 tensors (%s) against bench_raster (C), best of %d "
          "runs after a warm-up (%s), CPU threads %s" % (pipeline.LIBRARY_PATH, a.reps,
                                       "process CPU time" if a.cpu_time else "wall clock", a.threads or "all"))
    print("| image | N | py fwd ms | C fwd ms | fwd py/C | py bwd ms | C bwd ms | bwd py/C |")
    print("|---|---|---|---|---|---|---|---|")
    for W, H, n in rows:
        means, covars, opac, colors = gaussians(read_ply(os.path.join(a.dir, "scene_%d.ply" % n)))
        view, K = cams[(W, H)]
        ins = [t.clone().requires_grad_() for t in (means, covars, opac, colors)]
        v = torch.rand(1, H, W, 3, generator=torch.Generator().manual_seed(0)) - 0.5
        fwd = lambda: pipeline.rasterize(ins[0], None, None, ins[2], ins[3], view, K, W, H, covars=ins[1],
                                         threads=a.threads)
        f_ms = best_ms(fwd, a.reps)
        state = {}

        def bwd():
            torch.autograd.grad(state["rgb"], ins, v)

        # backward timed alone: a fresh forward before each backward, outside the timer
        times = []
        for _ in range(a.reps + 1):
            state["rgb"] = fwd()[0]
            t0 = CLOCK()
            bwd()
            times.append((CLOCK() - t0) * 1e3)
        b_ms = min(times[1:])
        cf, cb = c_figures(a.bench_raster, W, H, n, a.reps, a.threads, a.cpu_time)
        print("| %dx%d | %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |" % (W, H, n, f_ms, cf, f_ms / cf, b_ms, cb,
                                                                          b_ms / cb), flush=True)


if __name__ == "__main__":
    main()
