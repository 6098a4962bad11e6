/* engine_internal.h: the engine's state, shared by its parts. One-way dependencies: engine.c (set-up, forward,
 * loss, one frame's adjoint, outputs) uses engine_handle.c and engine_params.c (the learnable values);
 * engine_grad.c (the evaluation: loss, and the gradient pass on the MPM tape) uses engine.c's frame functions
 * declared here, and nothing calls back into it. */
#ifndef PL_ENGINE_INTERNAL_H
#define PL_ENGINE_INTERNAL_H

#include "pipeline/io/canvas.h"
#include "pipeline/engine/engine.h"
#include "pipeline/fit/profile.h"
#include "mpm/mpm_adjoint.h"

typedef struct engine_param engine_param; /* a learnable value resolved once (engine_handle.h) */

struct pl_engine {
  const pl_scene *scene;
  pl_backend backend;
  mpm_sim *sim;              /* owned (mpm_create) */
  int64_t n;                 /* particles */
  mpm_particles init_host;   /* initial particles (host), object index included */
  mpm_state init;            /* initial state (backend): every run starts from it */
  int nobjects;
  double *obj_velocity;      /* [nobjects][6]: velocity, angular velocity */
  float *particle_rgb;       /* [n][3] host */
  ups *ups;
  int64_t m;                 /* Gaussians */
  int sh_k;                  /* SH coefficients per Gaussian (splat objects with bands above 0), else 0 */
  raster_gaussians gauss;    /* view of the upsampler's last output */
  raster_ctx *rast;
  raster_camera *cams;
  int ncams;
  int64_t *cam_offset;       /* [ncams + 1] pixel offsets of the packed images */
  int64_t npix;
  raster_options ropt;
  pl_buffer img;             /* rgb [npix][3] then alpha [npix] */
  pl_buffer vimg;            /* their cotangents */
  pl_buffer vgauss;          /* v_means [m][3], v_covs [m][6], v_colors [m][3], v_opacities [m]; with SH (sh_k > 0)
                                then v_sh [m][sh_k][3] and v_frames [m][9] (v_colors unused: the rasterizer reads SH) */
  pl_buffer vstate;          /* v_x [n][3], v_F [n][9] */
  pl_loss_ctx **loss;        /* one per camera */
  pl_buffer *targets;        /* [ncams * nframes]: rgb [np][3] then alpha [np] on the backend (empty: no loss) */
  unsigned char *target_alpha;
  pl_buffer *plates;         /* [ncams] background plates rgb [np][3] on the backend (NULL / empty: none) */
  int ntargets;
  const unsigned char *loss_cam, *loss_frame; /* from the targets */
  int last_frame_rendered;
  /* frozen depth order (gradcheck): 0 own depths, 1 record each rendered frame's camera depths, 2 sort by them */
  int order_mode;
  int cur_frame;             /* the frame engine_render_state is rendering */
  real *order_depth;         /* [frames + 1][ncams][order_m[f]] host */
  int64_t *order_m;          /* [frames + 1] Gaussians recorded per frame (0: none) */
  pl_buffer order_buf;       /* [ncams][m] the current frame's, on the backend */
  /* substep schedule (engine_objective.c): each frame's count as last run, and the one held (gradcheck) */
  int *sched_rec, *sched_hold;
  /* per-Gaussian appearance learnt by Adam (engine_appearance.c; NULL unless upsample.learn_*) */
  void *appearance;
  int colors_held;            /* pl_engine_hold_colors: the appearance steps leave the colours as they are */
  real *rgb_weight;          /* [npix] host: the RGB cotangents' per-pixel weights (pl_engine_set_rgb_weights; NULL: 1) */
  /* friction, object placement, background colour (engine_params.c; NULL until one is set) */
  void *extra_params;
  /* per-particle moduli: E_field, nu_field, learnt E grids (particle_fields.c; NULL when no object has one) */
  void *fields;
  /* branch trace of the evaluations (engine_trace.c, gradcheck; NULL until asked for) */
  void *trace;
  engine_param *handles;     /* [scene->nparams]: each [param] resolved at creation (engine_handle.c) */
  /* gradient pass (engine_grad.c): the MPM tape and its gradients, made at the first one */
  mpm_tape *tape;
  mpm_grads grads;
  int grads_allocated;
  int tape_reported;
  pl_profile prof;           /* time per phase (profile.h) */
};

pl_status engine_reset(pl_engine *e);
pl_status engine_render_state(pl_engine *e, const mpm_state *state);
int engine_loss_frames(const pl_engine *e, const char *frames, unsigned char *mask, int *count);
pl_status engine_frame_loss(pl_engine *e, int f, double scale, int want_grad, pl_loss_value *acc);
/* render + loss + adjoints of loss, rasterizer and upsampler for one frame's state: dL/dx, dL/dF in e->vstate */
pl_status engine_frame_adjoint(pl_engine *e, const mpm_state *state, int frame, double scale, pl_loss_value *acc);
void engine_appearance_free(pl_engine *e);

#endif
