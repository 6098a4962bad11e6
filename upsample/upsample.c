/* upsample.c: the upsampler's per-frame front. Forward and backward dispatched through the backend's ops table
 * (upsample_ops.h), parameters, gradients, downloads and the failure messages the backends share. Set-up and
 * lifetime: upsample_setup.c; per-element math: upsample_kernels.h. */
#include "upsample/upsample.h"

#include <math.h>
#include <string.h>

#include "upsample/upsample_ops.h"

const char *ups_mode_name(ups_mode m) {
  switch (m) {
    case UPS_BOUND: return "bound";
    case UPS_RUNTIME: return "runtime";
    case UPS_PARTICLES: return "particles";
  }
  return "?";
}
/* ================================================================== per frame */

void ups_get_info(const ups *u, ups_info *info) {
  memset(info, 0, sizeof *info);
  if (!u) return;
  info->count = u->m;
  info->nbound = u->nb;
  info->nruntime_particles = u->nrt;
  info->children = u->children;
  info->nparticles = u->n;
  info->particle_spacing = u->dp;
  info->sample_spacing = u->sample_spacing;
  info->sigma_bound = u->sigma0 * u->sample_spacing;
  info->sigma_runtime = u->sigma0 * (double)u->tmpl.rt_unit;
  info->bindings = u->nnz;
  info->sh_degree = u->sh_degree;
  info->backend = u->backend;
}

static ups_args frame_args(const ups *u, const real *x, const real *f) {
  ups_args a = u->tmpl;
  a.x = x;
  a.f = f;
  a.sigma0 = (real)u->sigma0;
  a.thick = (real)u->thickness;
  a.o_logit = (real)log(u->opacity / (1.0 - u->opacity));
  return a;
}

pl_status ups_fail_particle(const ups *u, int64_t p, const real *x, const real *f) {
  (void)u;
  return pl_fail(PL_ERR_NUMERIC,
                 "upsample: particle %lld has a non-finite position or deformation gradient: x = (%g, %g, %g), "
                 "F = [%g %g %g; %g %g %g; %g %g %g]",
                 (long long)p, (double)x[0], (double)x[1], (double)x[2], (double)f[0], (double)f[1], (double)f[2],
                 (double)f[3], (double)f[4], (double)f[5], (double)f[6], (double)f[7], (double)f[8]);
}

pl_status ups_fail_gaussian(const ups *u, int64_t g) {
  if (g < u->nb) return pl_fail(PL_ERR_NUMERIC, "upsample: Gaussian %lld (bound) came out non-finite", (long long)g);
  int64_t i = (g - u->nb) / u->children;
  return pl_fail(PL_ERR_NUMERIC, "upsample: Gaussian %lld (child %lld of runtime particle list entry %lld) came out "
                                 "non-finite", (long long)g, (long long)((g - u->nb) % u->children), (long long)i);
}

pl_status ups_fail_cell(const ups *u, int64_t p, const real *x) {
  (void)u;
  return pl_fail(PL_ERR_NUMERIC, "upsample: particle %lld at (%g, %g, %g) is too far from the origin for the runtime "
                                 "neighbour grid (more than a million kernel supports)",
                 (long long)p, (double)x[0], (double)x[1], (double)x[2]);
}

pl_status ups_forward(ups *u, const real *x, const real *F, ups_gaussians *out) {
  if (!u || !x || !F) return pl_fail(PL_ERR_INVALID, "upsample: NULL argument to ups_forward");
  ups_args a = frame_args(u, x, F);
  pl_status s = u->ops->forward(u, a);
  u->have_forward = s == PL_OK;
  if (out) {
    out->count = u->m;
    out->means = (real *)u->means.ptr;
    out->covs = (real *)u->covs.ptr;
    out->colors = (real *)u->colors.ptr;
    out->opacities = (real *)u->opac.ptr;
    out->sh_degree = u->sh_degree;
    out->sh = u->sh_k > 0 ? (real *)u->sh.ptr : NULL;
    out->frames = u->sh_k > 0 ? (real *)u->frames.ptr : NULL;
  }
  return s;
}

/* The adjoint with either the colours' cotangent (v_sh NULL) or the SH's and the frames'. */
static pl_status backward_common(ups *u, const real *x, const real *F, const real *v_means, const real *v_covs,
                                 const real *v_colors, const real *v_sh, const real *v_frames,
                                 const real *v_opacities, real *v_x, real *v_F) {
  if (!u || !x || !F) return pl_fail(PL_ERR_INVALID, "upsample: NULL argument to ups_backward");
  ups_args a = frame_args(u, x, F);
  a.v_means = v_means;
  a.v_covs = v_covs;
  a.v_colors = v_colors;
  if (u->sh_k > 0) {
    a.v_sh = v_sh;
    a.v_frames = v_frames;
    if (u->learn_colors && (v_sh || v_colors)) { /* the colours' cotangent, v_sh's degree-0 part added (vcol) */
      a.v_colors_rgb = v_colors;
      a.vcol = (real *)u->vcol.ptr;
      a.v_colors = a.vcol;
    }
  }
  a.v_opac = v_opacities;
  a.v_x = v_x;
  a.v_f = v_F;
  a.v_cparam = u->learn_colors ? (real *)u->v_cparam.ptr : NULL;
  a.v_bparam = u->learn_opacities ? (real *)u->v_bparam.ptr : NULL;
  double sums[3] = {0, 0, 0};
  PL_TRY(u->ops->backward(u, a, sums));
  /* partials are with respect to (sigma0, thickness, logit(opacity)) */
  u->grad[0] += sums[0];
  u->grad[1] += sums[1];
  u->grad[2] += sums[2] / (u->opacity * (1.0 - u->opacity));
  return PL_OK;
}

pl_status ups_backward(ups *u, const real *x, const real *F, const real *v_means, const real *v_covs,
                       const real *v_colors, const real *v_opacities, real *v_x, real *v_F) {
  return backward_common(u, x, F, v_means, v_covs, v_colors, NULL, NULL, v_opacities, v_x, v_F);
}

pl_status ups_backward_sh(ups *u, const real *x, const real *F, const real *v_means, const real *v_covs,
                          const real *v_sh, const real *v_frames, const real *v_opacities, real *v_x, real *v_F) {
  if (u && u->sh_k == 0 && (v_sh || v_frames))
    return pl_fail(PL_ERR_INVALID, "upsample: ups_backward_sh: these Gaussians carry no SH (ups_backward)");
  return backward_common(u, x, F, v_means, v_covs, NULL, v_sh, v_frames, v_opacities, v_x, v_F);
}

void ups_get_params(const ups *u, ups_params *p) {
  p->sigma0 = u->sigma0;
  p->thickness = u->thickness;
  p->opacity = u->opacity;
}

pl_status ups_set_params(ups *u, const ups_params *p) {
  if (!(p->sigma0 > 0) || !isfinite(p->sigma0))
    return pl_fail(PL_ERR_INVALID, "upsample: sigma0 must be a finite number > 0 (got %g)", p->sigma0);
  if (!(p->thickness > 0) || !isfinite(p->thickness))
    return pl_fail(PL_ERR_INVALID, "upsample: thickness must be a finite number > 0 (got %g)", p->thickness);
  if (!(p->opacity > 0 && p->opacity < 1))
    return pl_fail(PL_ERR_INVALID, "upsample: opacity must be in (0, 1) (got %g)", p->opacity);
  u->sigma0 = p->sigma0;
  u->thickness = p->thickness;
  u->opacity = p->opacity;
  return PL_OK;
}

void ups_param_buffers(ups *u, real **colors, real **opacity_offsets) {
  if (colors) *colors = (real *)u->cparam.ptr;
  if (opacity_offsets) *opacity_offsets = (real *)u->bparam.ptr;
}

void ups_get_grads(const ups *u, ups_grads *g) {
  g->sigma0 = u->grad[0];
  g->thickness = u->grad[1];
  g->opacity = u->grad[2];
  g->colors = u->learn_colors ? (real *)u->v_cparam.ptr : NULL;
  g->opacity_offsets = u->learn_opacities ? (real *)u->v_bparam.ptr : NULL;
}

pl_status ups_zero_grads(ups *u) {
  u->grad[0] = u->grad[1] = u->grad[2] = 0;
  if (u->learn_colors) PL_TRY(pl_buffer_zero(&u->v_cparam));
  if (u->learn_opacities) PL_TRY(pl_buffer_zero(&u->v_bparam));
  return PL_OK;
}

pl_status ups_download(const ups *u, real *means, real *covs, real *colors, real *opacities) {
  if (!u->have_forward) return pl_fail(PL_ERR_INVALID, "upsample: no forward pass to download yet");
  size_t m = (size_t)u->m;
  if (means) PL_TRY(pl_buffer_download(&u->means, 0, means, sizeof(real) * 3 * m));
  if (covs) PL_TRY(pl_buffer_download(&u->covs, 0, covs, sizeof(real) * 6 * m));
  if (colors) PL_TRY(pl_buffer_download(&u->colors, 0, colors, sizeof(real) * 3 * m));
  if (opacities) PL_TRY(pl_buffer_download(&u->opac, 0, opacities, sizeof(real) * m));
  return PL_OK;
}

pl_status ups_download_sh(const ups *u, real *sh, real *frames) {
  if (!u->have_forward) return pl_fail(PL_ERR_INVALID, "upsample: no forward pass to download yet");
  if (u->sh_k == 0) return pl_fail(PL_ERR_INVALID, "upsample: these Gaussians carry no SH");
  size_t m = (size_t)u->m;
  if (sh) PL_TRY(pl_buffer_download(&u->sh, 0, sh, sizeof(real) * 3 * (size_t)u->sh_k * m));
  if (frames) PL_TRY(pl_buffer_download(&u->frames, 0, frames, sizeof(real) * 9 * m));
  return PL_OK;
}

pl_status ups_rest_samples(const ups *u, real *positions, real *normals) {
  size_t nb = (size_t)u->nb;
  if (positions) PL_TRY(pl_buffer_download(&u->grest, 0, positions, sizeof(real) * 3 * nb));
  if (normals) PL_TRY(pl_buffer_download(&u->gnormal, 0, normals, sizeof(real) * 3 * nb));
  return PL_OK;
}
