/* upsample_cpu.c: the reference backend. Loops (OpenMP) over particles and Gaussians that call the functions of
 * upsample_kernels.h; no math of its own. Every loop is a gather with a fixed order and every reduction sums fixed
 * chunks in order, so results are bitwise identical run to run and for any thread count. */
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "upsample/upsample_internal.h"

/* Loops shorter than this run on one thread: a parallel region costs more than it saves there, and an
 * oversubscribed machine (tests running side by side) makes idle OpenMP threads expensive. */
#define UPS_PAR_MIN 2048

static int nthreads(const ups *u) {
#ifdef _OPENMP
  return u->threads > 0 ? u->threads : omp_get_max_threads();
#else
  (void)u;
  return 1;
#endif
}

pl_status ups_cpu_build_grid(const real *pos, int n, real inv_cell, uint32_t nbuckets, int *start, int *sorted,
                             uint64_t *key, int64_t *bad) {
  *bad = -1;
  uint32_t *bucket = (uint32_t *)malloc(sizeof(uint32_t) * (size_t)(n > 0 ? n : 1));
  int *cursor = (int *)malloc(sizeof(int) * (size_t)nbuckets);
  if (!bucket || !cursor) {
    free(bucket);
    free(cursor);
    return pl_fail(PL_ERR_NOMEM, "upsample: out of memory building the neighbour grid");
  }
  memset(start, 0, sizeof(int) * ((size_t)nbuckets + 1));
  for (int i = 0; i < n; ++i) {
    v3 y = v3_load(pos + 3 * (size_t)i);
    if (!ups_cell_ok(y, inv_cell)) {
      *bad = i;
      free(bucket);
      free(cursor);
      return PL_ERR_NUMERIC;
    }
    int ci = ups_cell_coord(y.x, inv_cell), cj = ups_cell_coord(y.y, inv_cell), ck = ups_cell_coord(y.z, inv_cell);
    bucket[i] = ups_cell_hash(ci, cj, ck, nbuckets);
    start[bucket[i] + 1]++;
  }
  for (uint32_t b = 0; b < nbuckets; ++b) start[b + 1] += start[b];
  memcpy(cursor, start, sizeof(int) * (size_t)nbuckets);
  for (int i = 0; i < n; ++i) {
    v3 y = v3_load(pos + 3 * (size_t)i);
    int e = cursor[bucket[i]]++;
    sorted[e] = i;
    key[e] = pl_cell_key(ups_cell_coord(y.x, inv_cell), ups_cell_coord(y.y, inv_cell), ups_cell_coord(y.z, inv_cell));
  }
  free(bucket);
  free(cursor);
  return PL_OK;
}

static void reduce3(const real *partial, int64_t rows, int threads, double out[3]) {
  int64_t nchunks = (rows + UPS_REDUCE_CHUNK - 1) / UPS_REDUCE_CHUNK;
  out[0] = out[1] = out[2] = 0;
  if (nchunks == 0) return;
  double *cs = (double *)calloc((size_t)nchunks * 3, sizeof(double));
  if (!cs) { /* sequential fallback: the same chunked order, one chunk at a time */
    for (int64_t c = 0; c < nchunks; ++c) {
      double s[3] = {0, 0, 0};
      int64_t end = (c + 1) * UPS_REDUCE_CHUNK < rows ? (c + 1) * UPS_REDUCE_CHUNK : rows;
      for (int64_t r = c * UPS_REDUCE_CHUNK; r < end; ++r)
        for (int k = 0; k < 3; ++k) s[k] += (double)partial[3 * r + k];
      for (int k = 0; k < 3; ++k) out[k] += s[k];
    }
    return;
  }
#pragma omp parallel for schedule(static) num_threads(threads > 0 ? threads : 1) if (nchunks > 4)
  for (int64_t c = 0; c < nchunks; ++c) {
    int64_t end = (c + 1) * UPS_REDUCE_CHUNK < rows ? (c + 1) * UPS_REDUCE_CHUNK : rows;
    for (int64_t r = c * UPS_REDUCE_CHUNK; r < end; ++r)
      for (int k = 0; k < 3; ++k) cs[3 * c + k] += (double)partial[3 * r + k];
  }
  for (int64_t c = 0; c < nchunks; ++c)
    for (int k = 0; k < 3; ++k) out[k] += cs[3 * c + k];
  free(cs);
}

/* First element i in [0, count) with !finite(a, i) (-1 if none): a min-reduction, independent of the thread count. */
static int64_t first_bad(const ups *u, ups_args a, int64_t count, int (*finite)(ups_args, int64_t)) {
  int64_t bad = INT64_MAX;
#pragma omp parallel for schedule(static) reduction(min : bad) num_threads(nthreads(u)) if (count > UPS_PAR_MIN)
  for (int64_t i = 0; i < count; ++i)
    if (!finite(a, i) && i < bad) bad = i;
  return bad == INT64_MAX ? -1 : bad;
}

/* Checks, then the runtime density field (gather positions, grid, phi and grad phi). */
static pl_status prepare(ups *u, ups_args a) {
  if (!u->skip_checks) {
    int64_t bad = first_bad(u, a, u->n, ups_particle_finite);
    if (bad >= 0) return ups_fail_particle(u, bad, a.x + 3 * bad, a.f + 9 * bad);
  }
  if (u->nrt == 0) return PL_OK;
  const int64_t nrt = u->nrt;
#pragma omp parallel for schedule(static) num_threads(nthreads(u)) if (nrt > UPS_PAR_MIN)
  for (int64_t i = 0; i < nrt; ++i) ups_rt_gather_one(a, i);
  int64_t bad;
  pl_status s = ups_cpu_build_grid(a.rt_pos, u->nrt, a.grid.inv_cell, a.grid.nbuckets, (int *)a.grid.start,
                                   (int *)a.grid.sorted, (uint64_t *)a.grid.key, &bad);
  if (s == PL_ERR_NUMERIC && bad >= 0) return ups_fail_cell(u, a.rt_index[bad], a.rt_pos + 3 * bad);
  PL_TRY(s);
#pragma omp parallel for schedule(dynamic, 256) num_threads(nthreads(u)) if (nrt > UPS_PAR_MIN)
  for (int64_t i = 0; i < nrt; ++i) ups_rt_density_one(a, i);
  return PL_OK;
}

static pl_status cpu_forward(ups *u, ups_args a) {
  PL_TRY(prepare(u, a));
  const int64_t nb = u->nb, nrt = u->nrt;
#pragma omp parallel for schedule(static) num_threads(nthreads(u)) if (nb > UPS_PAR_MIN)
  for (int64_t g = 0; g < nb; ++g) ups_bound_forward_one(a, g);
#pragma omp parallel for schedule(static) num_threads(nthreads(u)) if (nrt > UPS_PAR_MIN)
  for (int64_t i = 0; i < nrt; ++i) ups_rt_forward_one(a, i);
  if (a.sh_k > 0) {
    const int64_t m = u->m;
#pragma omp parallel for schedule(static) num_threads(nthreads(u)) if (m > UPS_PAR_MIN)
    for (int64_t g = 0; g < m; ++g) ups_sh_forward_one(a, g);
  }
  if (!u->skip_checks) {
    int64_t bad = first_bad(u, a, u->m, ups_gaussian_finite);
    if (bad >= 0) return ups_fail_gaussian(u, bad);
  }
  return PL_OK;
}

static pl_status cpu_backward(ups *u, ups_args a, double sums[3]) {
  PL_TRY(prepare(u, a));
  const int64_t nb = u->nb, nrt = u->nrt, n = u->n;
  if (a.vcol) { /* SH: the colours' cotangent first (the per-Gaussian stages read it) */
    const int64_t m = u->m;
#pragma omp parallel for schedule(static) num_threads(nthreads(u)) if (m > UPS_PAR_MIN)
    for (int64_t g = 0; g < m; ++g) ups_sh_backward_one(a, g);
  }
#pragma omp parallel for schedule(static) num_threads(nthreads(u)) if (nb > UPS_PAR_MIN)
  for (int64_t g = 0; g < nb; ++g) ups_bound_backward_gauss_one(a, g);
  if (nb > 0) {
#pragma omp parallel for schedule(dynamic, 256) num_threads(nthreads(u)) if (n > UPS_PAR_MIN)
    for (int64_t p = 0; p < n; ++p) ups_bound_backward_particle_one(a, p);
  }
#pragma omp parallel for schedule(static) num_threads(nthreads(u)) if (nrt > UPS_PAR_MIN)
  for (int64_t i = 0; i < nrt; ++i) ups_rt_backward_particle_one(a, i);
#pragma omp parallel for schedule(dynamic, 256) num_threads(nthreads(u)) if (nrt > UPS_PAR_MIN)
  for (int64_t i = 0; i < nrt; ++i) ups_rt_backward_pair_one(a, i);
  reduce3(a.partial, nb + nrt, nthreads(u), sums);
  return PL_OK;
}

/* The CPU needs no scratch beyond the common buffers. */
static pl_status cpu_setup(ups *u) {
  (void)u;
  return PL_OK;
}

const ups_backend_ops ups_cpu_ops = {"cpu", cpu_setup, cpu_forward, cpu_backward};
