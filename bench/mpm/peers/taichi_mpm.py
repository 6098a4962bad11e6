#!/usr/bin/env python3
"""taichi_mpm.py: the peer of bench/mpm: the same MLS-MPM scene written with the Taichi API (our own script,
not a vendored example), for a side-by-side particle-substeps/s figure.

Scene (identical to bench_mpm's): the unit box on a grid of G^3 cells, a cube of side 1/2 at the centre filled
with 8 particles per cell on a regular 2x2x2 lattice (N = G^3 particles), gravity (0, -9.8, 0), slip walls
(3-cell band), quadratic B-splines, APIC/MLS transfers, fixed dt, float32. Materials: fixed_corotated,
neo_hookean, stvk_von_mises, drucker_prager, newtonian_fluid, with the parameters bench_mpm uses.

Prints one line: `taichi <version> arch=<arch> material=<m> n=<N> grid=<G> steps=<K> seconds=<t>
particle_substeps_per_s=<rate>`. Compilation is excluded (a warm-up substep runs first)."""
import argparse
import math
import time

import taichi as ti

ap = argparse.ArgumentParser()
ap.add_argument("--grid", type=int, default=22)
ap.add_argument("--steps", type=int, default=20)
ap.add_argument("--material", default="fixed_corotated")
ap.add_argument("--arch", default="cpu")
ap.add_argument("--dt", type=float, default=1e-4)
ap.add_argument("--threads", type=int, default=0)
args = ap.parse_args()

kw = {}
if args.threads > 0:
    kw["cpu_max_num_threads"] = args.threads
ti.init(arch=ti.cpu if args.arch == "cpu" else ti.cuda, default_fp=ti.f32, offline_cache=True, **kw)

G = args.grid
dx = 1.0 / G
inv_dx = float(G)
dt = args.dt
half = G // 4  # the cube spans cells [G/4, G/4 + G/2)
cells = G // 2
N = cells ** 3 * 8

E, nu, rho = 1e5, 0.3, 1000.0
mu0, lam0 = E / (2 * (1 + nu)), E * nu / ((1 + nu) * (1 - 2 * nu))
yield_stress, visc, kappa = 1e3, 1e-2, 1e5
phi = math.radians(30.0)
alpha = math.sqrt(2.0 / 3.0) * 2 * math.sin(phi) / (3 - math.sin(phi))
vol0 = dx ** 3 / 8
mass = rho * vol0
model = {"fixed_corotated": 0, "neo_hookean": 1, "stvk_von_mises": 2, "drucker_prager": 3, "newtonian_fluid": 4}[args.material]

x = ti.Vector.field(3, ti.f32, N)
v = ti.Vector.field(3, ti.f32, N)
C = ti.Matrix.field(3, 3, ti.f32, N)
F = ti.Matrix.field(3, 3, ti.f32, N)
gv = ti.Vector.field(3, ti.f32, (G + 1, G + 1, G + 1))
gm = ti.field(ti.f32, (G + 1, G + 1, G + 1))


@ti.kernel
def seed():
    for p in range(N):
        c = p // 8
        k = p % 8
        i, j, l = c // (cells * cells), (c // cells) % cells, c % cells
        o = ti.Vector([k // 4, (k // 2) % 2, k % 2])
        x[p] = (ti.Vector([i + half, j + half, l + half]) + (o + 0.5) / 2.0) * dx
        v[p] = ti.Vector([0.0, -1.0, 0.0])
        F[p] = ti.Matrix.identity(ti.f32, 3)
        C[p] = ti.Matrix.zero(ti.f32, 3, 3)


@ti.func
def hencky_tau(U, sig):
    e = ti.Vector([ti.log(sig[0, 0]), ti.log(sig[1, 1]), ti.log(sig[2, 2])])
    tr = e.sum()
    h = 2 * mu0 * e + lam0 * tr
    return U @ ti.Matrix([[h[0], 0, 0], [0, h[1], 0], [0, 0, h[2]]]) @ U.transpose()


@ti.func
def kirchhoff(Fp, Cp):
    tau = ti.Matrix.zero(ti.f32, 3, 3)
    J = Fp.determinant()
    if ti.static(model == 0):
        U, sig, V = ti.svd(Fp)
        R = U @ V.transpose()
        tau = 2 * mu0 * (Fp - R) @ Fp.transpose() + ti.Matrix.identity(ti.f32, 3) * lam0 * (J - 1) * J
    elif ti.static(model == 1):
        tau = mu0 * (Fp @ Fp.transpose() - ti.Matrix.identity(ti.f32, 3)) + ti.Matrix.identity(ti.f32, 3) * lam0 * ti.log(J)
    elif ti.static(model == 4):
        D = Cp + Cp.transpose()
        D -= ti.Matrix.identity(ti.f32, 3) * (2.0 / 3.0) * Cp.trace()
        tau = ti.Matrix.identity(ti.f32, 3) * kappa * J * (J - 1) + J * visc * D
    else:
        U, sig, V = ti.svd(Fp)
        tau = hencky_tau(U, sig)
    return tau


@ti.func
def project(Fp):
    out = Fp
    if ti.static(model == 2 or model == 3):
        U, sig, V = ti.svd(Fp)
        e = ti.Vector([ti.log(sig[0, 0]), ti.log(sig[1, 1]), ti.log(sig[2, 2])])
        tr = e.sum()
        eh = e - tr / 3.0
        n = ti.sqrt(eh.dot(eh) + 1e-20)
        if ti.static(model == 2):
            dg = n - yield_stress / (2 * mu0)
            if dg > 0:
                e -= dg / n * eh
                out = U @ ti.Matrix([[ti.exp(e[0]), 0, 0], [0, ti.exp(e[1]), 0], [0, 0, ti.exp(e[2])]]) @ V.transpose()
        else:
            if tr >= 0:
                out = U @ V.transpose()
            else:
                dg = n + (3 * lam0 + 2 * mu0) / (2 * mu0) * tr * alpha
                if dg > 0:
                    e -= dg / n * eh
                    out = U @ ti.Matrix([[ti.exp(e[0]), 0, 0], [0, ti.exp(e[1]), 0], [0, 0, ti.exp(e[2])]]) @ V.transpose()
    elif ti.static(model == 4):
        out = ti.Matrix.identity(ti.f32, 3) * ti.pow(Fp.determinant(), 1.0 / 3.0)
    return out


@ti.kernel
def substep():
    for I in ti.grouped(gm):
        gv[I] = ti.Vector.zero(ti.f32, 3)
        gm[I] = 0.0
    for p in range(N):
        Xp = x[p] * inv_dx
        base = ti.cast(Xp - 0.5, ti.i32)
        f = Xp - base
        w = [0.5 * (1.5 - f) ** 2, 0.75 - (f - 1) ** 2, 0.5 * (f - 0.5) ** 2]
        tau = kirchhoff(F[p], C[p])
        A = mass * C[p] - dt * vol0 * 4 * inv_dx * inv_dx * tau
        for i, j, k in ti.static(ti.ndrange(3, 3, 3)):
            off = ti.Vector([i, j, k])
            dpos = (off - f) * dx
            wt = w[i][0] * w[j][1] * w[k][2]
            gv[base + off] += wt * (mass * v[p] + A @ dpos)
            gm[base + off] += wt * mass
    for I in ti.grouped(gm):
        m = gm[I]
        if m > 0:
            vi = gv[I] / m + dt * ti.Vector([0.0, -9.8, 0.0])
            for a in ti.static(range(3)):
                if I[a] < 3 and vi[a] < 0:
                    vi[a] = 0
                if I[a] > G - 3 and vi[a] > 0:
                    vi[a] = 0
            gv[I] = vi
    for p in range(N):
        Xp = x[p] * inv_dx
        base = ti.cast(Xp - 0.5, ti.i32)
        f = Xp - base
        w = [0.5 * (1.5 - f) ** 2, 0.75 - (f - 1) ** 2, 0.5 * (f - 0.5) ** 2]
        nv = ti.Vector.zero(ti.f32, 3)
        B = ti.Matrix.zero(ti.f32, 3, 3)
        for i, j, k in ti.static(ti.ndrange(3, 3, 3)):
            off = ti.Vector([i, j, k])
            dpos = (off - f) * dx
            wt = w[i][0] * w[j][1] * w[k][2]
            g = gv[base + off]
            nv += wt * g
            B += wt * g.outer_product(dpos)
        Cn = 4 * inv_dx * inv_dx * B
        v[p] = nv
        C[p] = Cn
        F[p] = project((ti.Matrix.identity(ti.f32, 3) + dt * Cn) @ F[p])
        x[p] += dt * nv


seed()
substep()
ti.sync()
t0 = time.perf_counter()
for _ in range(args.steps):
    substep()
ti.sync()
t = time.perf_counter() - t0
print(f"taichi {ti.__version__} arch={args.arch} material={args.material} n={N} grid={G} steps={args.steps} "
      f"seconds={t:.6f} particle_substeps_per_s={N * args.steps / t:.6e}")
