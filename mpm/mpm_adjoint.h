/* mpm_adjoint.h: backpropagation through the MLS-MPM simulation, with checkpoints.
 *
 * Use:
 *   mpm_tape_desc td = {0};                      (checkpoint at every frame start, 4096 MB bound)
 *   mpm_tape *tape;  mpm_tape_create(&tape, &sim, &td);
 *   mpm_grads g;     mpm_grads_alloc(&g, &sim);
 *   mpm_tape_forward(tape, &initial, frames, cb, user);   cb sees frame 0 .. frames and may call
 *   mpm_tape_add_cotangent(tape, frame, v_x, v_v, v_C, v_F)  (dL/d(state at that frame), accumulated)
 *   mpm_grads_zero(&g);  mpm_tape_backward(tape, &g);      g holds dL/d(materials, gravity, frictions, x0, v0, C0, F0)
 *   mpm_grads_free(&g);  mpm_tape_free(tape);
 *
 * The forward pass keeps one particle state (x, v, C, F, q) per checkpoint: at the start of every frame
 * (checkpoint_every = 0) or every K substeps. The backward pass walks the checkpoints from the last to the first,
 * re-simulates the segment after each one (storing its states), and runs the adjoint substeps in reverse. The
 * grid of a substep is recomputed (P2G and grid update on the stored state), never stored. Memory is
 * O(N (checkpoints + segment length)) plus O(N + grid nodes) of work buffers, bounded by memory_limit_mb.
 * The substep schedule (count and dt per frame, from the CFL rule) is recorded by the forward pass and fixed:
 * it is not differentiated.
 *
 * Per-element math: the _vjp functions of mpm_kernels.h and materials.h; derivations in docs/adjoints.md
 * ("MPM backward through time"). The CPU backend is deterministic (no float atomics: the node cotangents are
 * scattered in the forward P2G's coloured block order); CUDA matches it to rounding.
 *
 * Ownership: the tape refers to the simulation (it must outlive the tape) and owns its checkpoints, segment,
 * cotangent sources and work buffers, all on the simulation's backend. Changing a material (mpm_set_material),
 * the gravity or a friction coefficient between mpm_tape_forward and mpm_tape_backward is an error. */
#ifndef PL_MPM_ADJOINT_H
#define PL_MPM_ADJOINT_H

#include <stdint.h>

#include "mpm/mpm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* checkpoint_every = MPM_TAPE_AUTO: as many checkpoints as memory_limit_mb allows (every substep while they fit:
 * no re-simulation), thinned by halves when they would not (spacing K doubled), so that the tape stays within the
 * bound however many substeps the run takes (up to about (bound in states)^2 / 4 substeps). */
#define MPM_TAPE_AUTO (-1)

typedef struct {
  int checkpoint_every;     /* substeps between checkpoints; 0 = one checkpoint at the start of every frame;
                               MPM_TAPE_AUTO (-1): automatic within memory_limit_mb (below) */
  double memory_limit_mb;   /* bound on the tape's memory (checkpoints, segment, cotangent sources, work buffers);
                               0 = 4096. Exceeding it at create/forward time is PL_ERR_LIMIT naming the figures
                               and the setting to change */
} mpm_tape_desc;

typedef struct mpm_tape mpm_tape;

pl_status mpm_tape_create(mpm_tape **t, mpm_sim *sim, const mpm_tape_desc *d);
void mpm_tape_free(mpm_tape *t);   /* NULL: no-op */

/* Called for frame = 0 (the initial state) .. frames with the state at that frame (on the sim's backend). */
typedef pl_status (*mpm_frame_fn)(void *user, int frame, const mpm_state *state);

/* Forward: reset the simulation to `initial` (a state on the sim's backend; time 0, frame 0), run `frames`
 * frames, recording the per-frame substep schedule (count and dt are fixed for the backward pass: the CFL
 * choice is not differentiated) and the checkpoints. cb may be NULL; an error it returns stops the forward.
 * After it, sim->state is the last state. Cotangents added before are discarded. */
pl_status mpm_tape_forward(mpm_tape *t, const mpm_state *initial, int frames, mpm_frame_fn cb, void *user);

/* dL/d(state at frame f) ACCUMULATED into the tape (arrays on the sim's backend, [n][3],[n][3],[n][9],[n][9];
 * any may be NULL = zero). Called after mpm_tape_forward (typically from inside cb, or after it), any frames
 * 0 .. frames. Each frame with a cotangent holds one state-sized buffer (counted in the memory bound). */
pl_status mpm_tape_add_cotangent(mpm_tape *t, int frame, const real *v_x, const real *v_v, const real *v_C,
                                 const real *v_F);

typedef struct {
  int nmaterials;
  int64_t n;
  /* cotangents of each material's mpm_material fields (host, [nmaterials] each) */
  double *E, *nu, *density, *yield_stress, *viscosity, *friction_angle, *cohesion, *bulk_modulus;
  double gravity[3];
  /* cotangents of the initial state (host, [n][3], [n][3], [n][9], [n][9]) */
  real *x0, *v0, *C0, *F0;
  /* with per-particle moduli (mpm_set_particle_moduli): cotangents of per-particle E and nu (host [n]) */
  double *particle_E, *particle_nu;
  int64_t peak_bytes;       /* measured peak of the tape's memory (checkpoints + segment + work), for the user */
  /* beyond the contract: the collider and wall friction coefficients, and the initial plastic state */
  int ncolliders;
  double *collider_friction; /* [ncolliders] */
  double boundary_friction;  /* the walls' shared coefficient (mpm_desc.boundary_friction): the sum of wall_friction */
  double wall_friction[6];   /* each wall's coefficient (x min, x max, y min, ...; mpm_desc.wall_frictions) */
  real *q0;                  /* [n] */
} mpm_grads;

pl_status mpm_grads_alloc(mpm_grads *g, const mpm_sim *sim);
void mpm_grads_free(mpm_grads *g);

/* Backward through time from the last frame to frame 0: re-simulates one segment at a time from its
 * checkpoint, recomputes the grid (never stored), and ACCUMULATES into g (zero it first for a fresh
 * gradient). Afterwards the tape's cotangent sources are cleared (ready for the next forward). A NaN or Inf
 * reaching the adjoint state is an error naming the particle and the frame. */
pl_status mpm_tape_backward(mpm_tape *t, mpm_grads *g);
pl_status mpm_grads_zero(mpm_grads *g);
/* Tape memory figures: bytes per checkpoint, checkpoints held, segment bytes, peak. Any pointer may be NULL. */
void mpm_tape_memory(const mpm_tape *t, int64_t *checkpoint_bytes, int *checkpoints, int64_t *segment_bytes,
                     int64_t *peak_bytes);

/* Bytes of one particle state (x, v, C, F, q) of n particles: what a checkpoint or a segment slot costs. */
int64_t mpm_state_bytes(int64_t n);

#ifdef __cplusplus
}
#endif
#endif /* PL_MPM_ADJOINT_H */
