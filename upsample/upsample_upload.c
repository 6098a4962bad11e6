/* upsample_upload.c: the last step of the set-up. The host-built bindings, samples, runtime particle lists and
 * parameters go to backend buffers, and the constant part of the per-frame argument struct (ups_args) is filled. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "upsample/upsample_internal.h"

void ups_free_buffers(ups *u) {
  pl_buffer *bufs[] = {&u->rest,        &u->bstart,       &u->bidx,       &u->bw,          &u->grest,
                       &u->gnormal,     &u->gunit,        &u->gsig0,      &u->pstart,     &u->pslot,       &u->pgauss,
                       &u->rt_index,    &u->rt_dir,       &u->rt_phase,   &u->rt_pos,      &u->rt_pg,
                       &u->rt_vpg,      &u->grid_start,   &u->grid_sorted, &u->grid_key,   &u->cparam,
                       &u->bparam,      &u->v_cparam,     &u->v_bparam,   &u->means,       &u->covs,
                       &u->colors,      &u->opac,         &u->scratch_vf, &u->partial,     &u->cu_bucket_in,
                       &u->cu_bucket_out, &u->cu_val_in,  &u->cu_sort_temp, &u->cu_flag,
                       &u->cu_chunks,   &u->shbase,       &u->gframe0,    &u->sh,          &u->frames,
                       &u->vcol};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; ++i) pl_buffer_free(bufs[i]);
}

/* Allocate a backend buffer of `bytes` and upload `host` (may be NULL: zeros). */
static pl_status put(ups *u, pl_buffer *b, const void *host, size_t bytes) {
  PL_TRY(pl_buffer_alloc(b, u->backend, bytes ? bytes : 16));
  if (host && bytes) PL_TRY(pl_buffer_upload(b, 0, host, bytes));
  return PL_OK;
}

/* Transposed bindings for the backward gather: particle -> (slot, Gaussian), Gaussians ascending. */
static pl_status upload_transposed_bindings(ups *u, const ups_host_setup *h) {
  const int n = u->n;
  const int64_t nb = u->nb, nnz = u->nnz;
  int64_t *pstart = (int64_t *)calloc((size_t)n + 1, sizeof(int64_t));
  int64_t *pslot = (int64_t *)malloc(sizeof(int64_t) * (size_t)(nnz > 0 ? nnz : 1));
  int64_t *pgauss = (int64_t *)malloc(sizeof(int64_t) * (size_t)(nnz > 0 ? nnz : 1));
  int64_t *cur = (int64_t *)malloc(sizeof(int64_t) * (size_t)n);
  pl_status s = PL_OK;
  if (!pstart || !pslot || !pgauss || !cur) s = pl_fail(PL_ERR_NOMEM, "upsample: out of memory");
  if (s == PL_OK) {
    for (int64_t e = 0; e < nnz; ++e) pstart[h->csr.bidx[e] + 1]++;
    for (int p = 0; p < n; ++p) pstart[p + 1] += pstart[p];
    memcpy(cur, pstart, sizeof(int64_t) * (size_t)n);
    for (int64_t g = 0; g < nb; ++g)
      for (int64_t e = h->csr.bstart[g]; e < h->csr.bstart[g + 1]; ++e) {
        int64_t at = cur[h->csr.bidx[e]]++;
        pslot[at] = e;
        pgauss[at] = g;
      }
  }
  if (s == PL_OK) s = put(u, &u->pstart, pstart, sizeof(int64_t) * ((size_t)n + 1));
  if (s == PL_OK) s = put(u, &u->pslot, pslot, sizeof(int64_t) * (size_t)nnz);
  if (s == PL_OK) s = put(u, &u->pgauss, pgauss, sizeof(int64_t) * (size_t)nnz);
  free(cur);
  free(pstart);
  free(pslot);
  free(pgauss);
  return s;
}

/* Rest positions, bindings and the bound Gaussians' rest samples. hbuf: host scratch of 9 max(m, n) reals. */
static pl_status upload_bound(ups *u, const double *rest, const ups_host_setup *h, real *hbuf) {
  const int n = u->n;
  const int64_t nb = u->nb, nnz = u->nnz;
  for (int p = 0; p < n; ++p)
    for (int k = 0; k < 3; ++k) hbuf[3 * (size_t)p + k] = (real)rest[3 * (size_t)p + k];
  PL_TRY(put(u, &u->rest, hbuf, sizeof(real) * 3 * (size_t)n));
  PL_TRY(put(u, &u->bstart, h->csr.bstart, sizeof(int64_t) * (size_t)(nb + 1)));
  PL_TRY(put(u, &u->bidx, h->csr.bidx, sizeof(int) * (size_t)nnz));
  PL_TRY(put(u, &u->bw, h->csr.bw, sizeof(real) * (size_t)nnz));
  for (int64_t g = 0; g < nb; ++g)
    for (int k = 0; k < 3; ++k) hbuf[3 * g + k] = (real)h->gs.v[g].p[k];
  PL_TRY(put(u, &u->grest, hbuf, sizeof(real) * 3 * (size_t)nb));
  for (int64_t g = 0; g < nb; ++g)
    for (int k = 0; k < 3; ++k) hbuf[3 * g + k] = (real)h->gs.v[g].n[k];
  PL_TRY(put(u, &u->gnormal, hbuf, sizeof(real) * 3 * (size_t)nb));
  PL_TRY(put(u, &u->gunit, h->gunit, sizeof(real) * (size_t)nb));
  if (h->nsig > 0) { /* splat objects: their trained covariances (zero rows past the last: the disc) */
    for (int64_t g = 0; g < nb; ++g)
      for (int k = 0; k < 6; ++k) hbuf[6 * g + k] = g < h->nsig ? (real)h->sig0[6 * g + k] : RC(0.0);
    PL_TRY(put(u, &u->gsig0, hbuf, sizeof(real) * 6 * (size_t)nb));
  }
  return upload_transposed_bindings(u, h);
}

/* Runtime particles: their indices, fixed reference directions and phases, and the per-frame grid's buffers. */
static pl_status upload_runtime(ups *u, const ups_desc *d, const ups_host_setup *h, real *hbuf) {
  const int nrt = h->nrt;
  PL_TRY(put(u, &u->rt_index, h->rt_index, sizeof(int) * (size_t)nrt));
  for (int i = 0; i < nrt; ++i) {
    real uu[4];
    pl_rng_uniform4(d->seed, ups_stream_id(UPS_STREAM_RUNTIME, (uint64_t)h->rt_index[i]), 0, uu);
    /* a uniform direction on the sphere */
    double z = 2.0 * uu[0] - 1.0, ph = 6.283185307179586 * uu[1], rr = sqrt(fmax(0.0, 1.0 - z * z));
    hbuf[3 * (size_t)i] = (real)(rr * cos(ph));
    hbuf[3 * (size_t)i + 1] = (real)(rr * sin(ph));
    hbuf[3 * (size_t)i + 2] = (real)z;
  }
  PL_TRY(put(u, &u->rt_dir, hbuf, sizeof(real) * 3 * (size_t)nrt));
  for (int i = 0; i < nrt; ++i) {
    real uu[4];
    pl_rng_uniform4(d->seed, ups_stream_id(UPS_STREAM_RUNTIME, (uint64_t)h->rt_index[i]), 0, uu);
    hbuf[i] = (real)(6.283185307179586 * uu[2]);
  }
  PL_TRY(put(u, &u->rt_phase, hbuf, sizeof(real) * (size_t)nrt));
  u->nbuckets = ups_pow2_at_least(2 * (uint64_t)(nrt > 0 ? nrt : 1));
  PL_TRY(put(u, &u->rt_pos, NULL, sizeof(real) * 3 * (size_t)nrt));
  PL_TRY(put(u, &u->rt_pg, NULL, sizeof(real) * 4 * (size_t)nrt));
  PL_TRY(put(u, &u->rt_vpg, NULL, sizeof(real) * 4 * (size_t)nrt));
  PL_TRY(put(u, &u->grid_start, NULL, sizeof(int) * ((size_t)u->nbuckets + 1)));
  PL_TRY(put(u, &u->grid_sorted, NULL, sizeof(int) * (size_t)nrt));
  return put(u, &u->grid_key, NULL, sizeof(uint64_t) * (size_t)nrt);
}

/* SH (splat objects with bands above 0): the bound Gaussians' base coefficients and rest frames (zero rows: none),
 * the output SH, the output frames (identity rows, which only SH splats' rows overwrite) and the colours' cotangent
 * scratch. Nothing without SH. */
static pl_status upload_sh(ups *u, const ups_host_setup *h) {
  u->sh_k = h->sh_k;
  if (h->sh_k == 0) return PL_OK;
  const int64_t m = u->m, nb = u->nb;
  const size_t kb = 3 * (size_t)h->sh_k;
  real *tmp = (real *)malloc(sizeof(real) * (kb > 9 ? kb : 9) * (size_t)(m > 0 ? m : 1));
  if (!tmp) return pl_fail(PL_ERR_NOMEM, "upsample: out of memory (SH)");
  for (int64_t g = 0; g < nb; ++g)
    for (size_t k = 0; k < kb; ++k) tmp[kb * (size_t)g + k] = g < h->nsig ? (real)h->shbase[kb * (size_t)g + k] : 0;
  pl_status s = put(u, &u->shbase, tmp, sizeof(real) * kb * (size_t)nb);
  for (int64_t g = 0; g < nb; ++g)
    for (int k = 0; k < 9; ++k) tmp[9 * g + k] = g < h->nsig ? (real)h->frame0[9 * g + k] : 0;
  if (s == PL_OK) s = put(u, &u->gframe0, tmp, sizeof(real) * 9 * (size_t)nb);
  for (int64_t g = 0; g < m; ++g)
    for (int k = 0; k < 9; ++k) tmp[9 * g + k] = (k % 4 == 0) ? RC(1.0) : RC(0.0);
  if (s == PL_OK) s = put(u, &u->frames, tmp, sizeof(real) * 9 * (size_t)m);
  free(tmp);
  if (s == PL_OK) s = put(u, &u->sh, NULL, sizeof(real) * kb * (size_t)m);
  if (s == PL_OK && u->learn_colors) s = put(u, &u->vcol, NULL, sizeof(real) * 3 * (size_t)m);
  return s;
}

/* Parameters (colours per Gaussian, opacity offsets: 0 but for splat objects), their gradients, outputs, scratch. */
static pl_status upload_params(ups *u, const ups_desc *d, const ups_host_setup *h, real *hbuf) {
  const int64_t m = u->m, nb = u->nb;
  for (int64_t g = 0; g < nb; ++g)
    for (int k = 0; k < 3; ++k) hbuf[3 * g + k] = (real)h->gs.v[g].c[k];
  for (int i = 0; i < h->nrt; ++i)
    for (int j = 0; j < d->children; ++j)
      for (int k = 0; k < 3; ++k) hbuf[3 * (nb + (int64_t)i * d->children + j) + k] = h->rt_color[3 * (size_t)i + k];
  PL_TRY(put(u, &u->cparam, hbuf, sizeof(real) * 3 * (size_t)m));
  for (int64_t g = 0; g < m; ++g) hbuf[g] = g < h->nsig ? (real)h->boff[g] : RC(0.0);
  PL_TRY(put(u, &u->bparam, hbuf, sizeof(real) * (size_t)m));
  if (u->learn_colors) PL_TRY(put(u, &u->v_cparam, NULL, sizeof(real) * 3 * (size_t)m));
  if (u->learn_opacities) PL_TRY(put(u, &u->v_bparam, NULL, sizeof(real) * (size_t)m));
  PL_TRY(put(u, &u->means, NULL, sizeof(real) * 3 * (size_t)m));
  PL_TRY(put(u, &u->covs, NULL, sizeof(real) * 6 * (size_t)m));
  PL_TRY(put(u, &u->colors, NULL, sizeof(real) * 3 * (size_t)m));
  PL_TRY(put(u, &u->opac, NULL, sizeof(real) * (size_t)m));
  PL_TRY(put(u, &u->scratch_vf, NULL, sizeof(real) * 9 * (size_t)nb));
  PL_TRY(put(u, &u->partial, NULL, sizeof(real) * 3 * (size_t)(nb + h->nrt)));
  return upload_sh(u, h);
}

/* The constant part of the per-frame arguments: buffer pointers, the runtime shape, field and grid constants. */
static void fill_template(ups *u, const ups_desc *d) {
  ups_args *t = &u->tmpl;
  memset(t, 0, sizeof *t);
  t->rest = (const real *)u->rest.ptr;
  t->nb = u->nb;
  t->bstart = (const int64_t *)u->bstart.ptr;
  t->bidx = (const int *)u->bidx.ptr;
  t->bw = (const real *)u->bw.ptr;
  t->grest = (const real *)u->grest.ptr;
  t->gnormal = (const real *)u->gnormal.ptr;
  t->gunit = (const real *)u->gunit.ptr;
  t->gsig0 = (const real *)u->gsig0.ptr;
  t->pstart = (const int64_t *)u->pstart.ptr;
  t->pslot = (const int64_t *)u->pslot.ptr;
  t->pgauss = (const int64_t *)u->pgauss.ptr;
  t->nrt = u->nrt;
  t->rt_index = (const int *)u->rt_index.ptr;
  t->rt_dir = (const real *)u->rt_dir.ptr;
  t->rt_phase = (const real *)u->rt_phase.ptr;
  t->rt_pos = (real *)u->rt_pos.ptr;
  t->rt_pg = (real *)u->rt_pg.ptr;
  t->rt_vpg = (real *)u->rt_vpg.ptr;
  t->children = d->children;
  t->shape = ups_make_shape(d, u->dp);
  t->rt_unit = (real)(UPS_RT_DISC_RADIUS * u->dp * sqrt(3.14159265358979323846 / d->children));
  double hs = d->smoothing * u->dp;
  t->field.inv_h = (real)(1.0 / hs);
  t->field.inv_norm = (real)(1.0 / ups_lattice_sum(d->smoothing));
  t->field.support2 = (real)(4.0 * hs * hs);
  t->grid.inv_cell = (real)(1.0 / (2.0 * hs));
  t->grid.nbuckets = u->nbuckets;
  t->grid.start = (const int *)u->grid_start.ptr;
  t->grid.sorted = (const int *)u->grid_sorted.ptr;
  t->grid.key = (const uint64_t *)u->grid_key.ptr;
  t->cparam = (const real *)u->cparam.ptr;
  t->bparam = (const real *)u->bparam.ptr;
  t->means = (real *)u->means.ptr;
  t->covs = (real *)u->covs.ptr;
  t->colors = (real *)u->colors.ptr;
  t->opac = (real *)u->opac.ptr;
  t->scratch_vf = (real *)u->scratch_vf.ptr;
  t->partial = (real *)u->partial.ptr;
  t->sh_k = u->sh_k;
  t->shbase = (const real *)u->shbase.ptr;
  t->gframe0 = (const real *)u->gframe0.ptr;
  t->sh = (real *)u->sh.ptr;
  t->frames = (real *)u->frames.ptr;
}

pl_status ups_upload(ups *u, const ups_desc *d, const double *rest, const ups_host_setup *h) {
  size_t hb = (size_t)(u->m > u->n ? u->m : u->n);
  real *hbuf = (real *)malloc(sizeof(real) * 9 * (hb > 1 ? hb : 1));
  if (!hbuf) return pl_fail(PL_ERR_NOMEM, "upsample: out of memory");
  pl_status s = upload_bound(u, rest, h, hbuf);
  if (s == PL_OK) s = upload_runtime(u, d, h, hbuf);
  if (s == PL_OK) s = upload_params(u, d, h, hbuf);
  free(hbuf);
  if (s == PL_OK) fill_template(u, d);
  return s;
}
