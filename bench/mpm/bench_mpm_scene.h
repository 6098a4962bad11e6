/* bench_mpm_scene.h: what the MPM benchmarks (bench_mpm.c, bench_mpm_adjoint.c) share: the material names,
 * the comma-list filter, the machine line, and the cube scene: the unit box on G^3 cells, a cube of side 1/2
 * at the centre filled with 8 particles per cell on a regular lattice (N = G^3), falling at 1 m/s under
 * gravity, separate walls 3 cells thick; E = 1e5 Pa, nu = 0.3, rho = 1000, yield stress 1e3 Pa, friction
 * angle 30 deg, fluid bulk modulus 1e5 Pa and viscosity 1e-2 Pa s (fluid and viscoplastic). */
#ifndef PL_BENCH_MPM_SCENE_H
#define PL_BENCH_MPM_SCENE_H

#include <stdio.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "mpm/mpm.h"

static const char *g_models[] = {"fixed_corotated", "neo_hookean", "stvk_von_mises", "drucker_prager",
                                 "newtonian_fluid", "viscoplastic"};

/* Is `name` in the comma-separated `list` ("all": every name)? */
static int in_list(const char *list, const char *name) {
  if (strcmp(list, "all") == 0) return 1;
  char buf[512];
  snprintf(buf, sizeof buf, "%s", list);
  for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
    if (strcmp(t, name) == 0) return 1;
  return 0;
}

/* The benchmark's material for a model (MPM_*). */
static mpm_material bench_material(int model) {
  mpm_material m;
  memset(&m, 0, sizeof m);
  m.model = model;
  m.E = 1e5, m.nu = 0.3, m.density = 1000, m.yield_stress = 1e3, m.friction_angle = 30, m.bulk_modulus = 1e5;
  m.viscosity = (model == MPM_NEWTONIAN_FLUID || model == MPM_VISCOPLASTIC) ? 1e-2 : 0;
  return m;
}

/* The cube scene's descriptor on G^3 cells (materials and colliders are the caller's to set). */
static mpm_desc bench_desc(int G, pl_backend be) {
  mpm_desc d;
  memset(&d, 0, sizeof d);
  for (int a = 0; a < 3; ++a) d.domain_max[a] = 1;
  d.grid = G;
  d.gravity[1] = -9.8;
  d.boundary = MPM_CONTACT_SEPARATE;
  d.boundary_cells = 3;
  d.backend = be;
  return d;
}

/* Create the simulation of `d` with the cube's particles (N = G^3 for d->grid = G); 0 on failure (message
 * printed, prefixed with `prog`). */
static int bench_cube_sim(mpm_sim **s, const mpm_desc *d, const char *prog) {
  const int G = d->grid, cells = G / 2, half = G / 4;
  int64_t n = (int64_t)cells * cells * cells * 8;
  mpm_particles p;
  if (mpm_particles_alloc(&p, n) != PL_OK) {
    fprintf(stderr, "%s: %s\n", prog, pl_last_error());
    return 0;
  }
  double dx = 1.0 / G;
  for (int64_t q = 0; q < n; ++q) {
    int64_t c = q / 8;
    int k = (int)(q % 8);
    int i = (int)(c / ((int64_t)cells * cells)), j = (int)((c / cells) % cells), l = (int)(c % cells);
    int o[3] = {k / 4, (k / 2) % 2, k % 2}, ijk[3] = {i, j, l};
    for (int a = 0; a < 3; ++a) p.x[3 * q + a] = (real)((ijk[a] + half + (o[a] + 0.5) / 2.0) * dx);
    p.v[3 * q + 1] = -1;
    p.vol0[q] = (real)(dx * dx * dx / 8);
    p.mass[q] = (real)(1000 * dx * dx * dx / 8);
  }
  pl_status st = mpm_create(s, d, &p, NULL, 0);
  mpm_particles_free(&p);
  if (st != PL_OK) {
    fprintf(stderr, "%s: %s\n", prog, pl_last_error());
    return 0;
  }
  return 1;
}

/* The benchmark's first line: the real type, the CPU threads and the CUDA devices. Sets *do_cpu / *do_cuda
 * from --backend (cpu|cuda|all; CUDA only with a device). */
static void bench_machine(const char *title, const char *backend, int *do_cpu, int *do_cuda) {
  int threads = 1;
#ifdef _OPENMP
  threads = omp_get_max_threads();
#endif
  char devs[1024] = "";
  int ndev = pl_cuda_device_count(devs, sizeof devs);
  *do_cpu = !strcmp(backend, "all") || !strcmp(backend, "cpu");
  *do_cuda = (!strcmp(backend, "all") || !strcmp(backend, "cuda")) && ndev > 0;
  printf("%s (bench/mpm): real = %s, CPU: %d OpenMP threads; CUDA: %s\n", title, PL_REAL_NAME, threads,
         ndev > 0 ? devs : (pl_cuda_compiled() ? "compiled, no device found (GPU figures not measured)" : "not compiled"));
}

#endif
