/* mpm.h: the MLS-MPM simulator (3D, APIC transfers, quadratic B-splines, dense grid over a box, explicit
 * substeps), forward in time, on the CPU (OpenMP, the reference) or CUDA.
 *
 * Use:
 *   mpm_desc d = {0};  ...fill it (every zero field has a documented default)...
 *   mpm_particles p = {0};  mpm_sample_objects(&d, objects, nobjects, &p);   (or fill p yourself)
 *   mpm_sim *sim;  mpm_create(&sim, &d, &p, objects, nobjects);  mpm_particles_free(&p);
 *   for (f = 0; f < frames; ++f) { mpm_advance_frame(sim); mpm_download(sim, &sim->state, &host); }
 *   mpm_destroy(sim);
 *
 * Stages (for the adjoint, which re-simulates a segment from a checkpoint and recomputes the grid):
 *   mpm_p2g(sim, state, dt)            particle state -> grid mass and momentum (sim->gridbuf)
 *   mpm_grid_update(sim, dt, t)        momentum -> velocity, gravity, walls, colliders (in place)
 *   mpm_g2p(sim, in, out, dt)          grid velocity -> new x, v, C, F (plastic projection included), q;
 *                                      in == out is allowed; it checks every particle (NaN, inverted F, domain)
 *   mpm_substep(sim, dt) = the three on sim->state;  mpm_state_copy() makes a checkpoint.
 * The per-element math of each stage is in mpm_kernels.h / materials.h with its _vjp.
 *
 * Particle state layout (both backends, shared with the upsampler): x, v [n][3]; C, F [n][9] (row-major 3x3);
 * q [n] plastic state (Drucker-Prager: volume gained at the cone apex; unused otherwise); static mass, vol0
 * [n], material [n] (int32). The grid is [(n0+1)(n1+1)(n2+1)][4]: (mass, momentum) after P2G and
 * (mass, velocity) after the grid update, node (i, j, k) at ((i (n1+1) + j)(n2+1) + k).
 *
 * Ownership: mpm_create copies the descriptor, its materials and colliders and the particles; the caller keeps
 * its own. mpm_destroy(NULL) is a no-op. The mpm_sim struct stays visible: the pipeline reads its resolved
 * settings, state and counters (and sets the schedule hooks) directly. Errors: functions return pl_status and record
 * a message (pl_last_error) naming the material, object, collider, particle, frame and substep involved.
 * Determinism: the CPU backend gives bitwise identical results for any thread count (P2G scatters particles
 * sorted by grid block, in a fixed colour order; no float atomics). */
#ifndef PL_MPM_H
#define PL_MPM_H

#include <stdint.h>

#include "core/backend.h"
#include "core/status.h"
#include "mpm/mpm_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A material. Zero fields take the default named; fields marked "as given" are used as they are. */
typedef struct {
  const char *name;       /* for messages; NULL: "material N" */
  int model;              /* MPM_FIXED_COROTATED ... MPM_VISCOPLASTIC (materials.h) */
  double E;               /* Young's modulus (Pa); 0: 1e5 */
  double nu;              /* Poisson's ratio, as given (-1 < nu < 0.5) */
  double density;         /* kg/m^3; 0: 1000 */
  double yield_stress;    /* von Mises / Bingham (Pa); 0: 1e4 */
  double viscosity;       /* Pa s, as given (fluid and viscoplastic need > 0) */
  double friction_angle;  /* Drucker-Prager (degrees); 0: 30 */
  double cohesion;        /* Drucker-Prager (Pa), as given */
  int dp_cone;            /* Drucker-Prager cone fit: MPM_DP_CONE_SHEAR (0, default), _PLANE_STRAIN (1) or _COMPRESSION (2) (materials.h) */
  double bulk_modulus;    /* fluid (Pa); 0: 1e5 */
  double mui_delta;       /* Drucker-Prager mu(I), shear cone only: mu_2 - mu_s, as given (0: rate-independent) */
  double mui_i0;          /* mu(I): I0; 0: 0.279 (Jop et al. 2006) */
  double grain_size;      /* mu(I): grain diameter d (m), > 0 when mui_delta > 0 */
  double grain_density;   /* mu(I): grain density (kg/m^3); 0: 2650 (quartz) */
} mpm_material;

enum { MPM_SHAPE_BOX = 0, MPM_SHAPE_SPHERE = 1, MPM_SHAPE_CYLINDER = 2, MPM_SHAPE_MESH = 3, MPM_SHAPE_GAUSSIANS = 4,
       MPM_SHAPE_VOXELS = 5 };

/* A body to fill with particles. */
typedef struct {
  const char *name;        /* for messages; NULL: "object N" */
  int shape;               /* MPM_SHAPE_* */
  int material;            /* index into mpm_desc.materials */
  double center[3];        /* world position of the shape's centre (a mesh's bounding-box centre) (m) */
  double size[3];          /* box edge lengths; zero: 0.2 each */
  double radius;           /* sphere, cylinder; 0: 0.1 */
  double height;           /* cylinder, along its local y axis; 0: 0.2 */
  double rotation[3];      /* XYZ Euler angles in degrees, R = Rz Ry Rx (mpm_euler_deg) */
  double scale[3];         /* mesh coordinates are scaled by this (per axis); zero: 1 */
  const char *mesh_path;   /* OBJ file (shape = mesh) */
  int particles_per_cell;  /* 1..64; 0: 8 */
  int regular;             /* 0: jittered (stratified when particles_per_cell is a cube), 1: regular lattice */
  double velocity[3];      /* initial velocity (m/s) */
  double angular_velocity[3]; /* initial angular velocity about center (rad/s) */
  /* shape = gaussians: the body a set of 3D Gaussians encloses (mpm_splat_fill.h), in world coordinates, borrowed:
   * means [n][3], covariances [n][6] (xx xy xz yy yz zz), opacities [n]; the density threshold of its shell */
  int64_t splat_count;
  const double *splat_means, *splat_covs, *splat_opacities;
  double fill_threshold;   /* 0: 0.5 */
  /* shape = voxels: a voxel occupancy in world coordinates (a visual hull), borrowed; its voxels are the body */
  const struct mpm_occupancy_s *voxels;
} mpm_object;

/* A collider (static or translating at `velocity`). */
typedef struct {
  const char *name;        /* for messages; NULL: "collider N" */
  int shape;               /* MPM_COLLIDER_PLANE, _BOX, _SPHERE, _CYLINDER (mpm_types.h) */
  int type;                /* MPM_CONTACT_SLIP (0), _STICKY, _SEPARATE */
  double friction;         /* Coulomb coefficient, as given (>= 0) */
  double point[3], normal[3];  /* plane: a point, and the normal into the free side (normalised here) */
  double center[3], size[3], radius, height, rotation[3]; /* box / sphere / cylinder (as in mpm_object) */
  double velocity[3];
} mpm_collider;

/* The simulation. */
typedef struct {
  double domain_min[3], domain_max[3]; /* the box; both all zero: [0,1]^3 */
  int grid;                 /* cells along the longest side (dx = longest / grid); 0: 64 */
  double gravity[3];        /* m/s^2, as given */
  int boundary;             /* walls: MPM_CONTACT_SLIP (0), _STICKY, _SEPARATE (the pipeline's default: separate) */
  int per_wall;             /* 0: every wall is `boundary`; 1: wall_types gives each wall's */
  int wall_types[6];        /* MPM_CONTACT_* per wall (x min, x max, y min, y max, z min, z max) when per_wall,
                             * e.g. a sticky floor between frictionless sides */
  double boundary_friction; /* Coulomb coefficient of every wall, as given */
  int per_wall_friction;    /* 1: wall_frictions gives each wall's coefficient (boundary_friction is then unused) */
  double wall_frictions[6]; /* per wall (order of wall_types) when per_wall_friction, e.g. a rough floor */
  int boundary_cells;       /* wall band thickness in cells, 2..16; 0: 3 */
  int plane_strain;         /* 0: 3D; 1, 2, 3: plane strain normal to x, y, z (the grid velocity along that axis
                             * is zero at every node: a quasi-2D slab that cannot thicken, docs/mpm.md) */
  double pic_blend;         /* the PIC share of the particle-to-grid transfer, in [0, 1]: the affine momentum
                             * (1 - pic_blend) m C is scattered; 0 (the default): APIC, 1: PIC (docs/mpm.md) */
  double pic_rest_speed;    /* > 0: the share applies only to material at rest, beta (1 - |v| / pic_rest_speed) below
                             * that speed and none above it (m/s; docs/mpm.md item 11); 0: everywhere */
  double frame_dt;          /* seconds per frame; 0: 1/30 */
  int substeps;             /* per frame; 0: automatic from the CFL bound */
  double cfl;               /* CFL number of the automatic bound, in (0, 1]; 0: 0.4 */
  uint64_t seed;            /* particle jitter */
  pl_backend backend;       /* AUTO (0): CUDA when a device is present */
  const mpm_material *materials;
  int nmaterials;
  const mpm_collider *colliders;
  int ncolliders;           /* at most MPM_MAX_COLLIDERS */
  /* execution paths (docs/gpu.md, "Prepared GPU paths"); 0 keeps the verified default. When 0, the environment
   * variables PL_MPM_SYNC=stage|frame, PL_MPM_P2G=atomic|tiled, PL_MPM_SORT_EVERY=K and PL_MPM_GRAPH=0|1 choose (a
   * bad value is an error naming the variable). The results agree to rounding on every path. */
  int sync;                 /* MPM_SYNC_STAGE (1, the default): the host checks each P2G and G2P for particle
                               errors; MPM_SYNC_FRAME (2): once per frame / backward segment (no host wait inside) */
  int p2g;                  /* CUDA: MPM_P2G_ATOMIC (1, the default; global atomics per particle) or MPM_P2G_TILED
                               (2: particles ordered by grid block, sums per block in shared memory); the CPU always
                               scatters in block order */
  int sort_every;           /* tiled: substeps between re-orderings; 0: 8 */
  int graph;                /* CUDA: MPM_GRAPH_OFF (1, the default) or MPM_GRAPH_ON (2: a frame's substeps replay one
                               captured CUDA graph; needs sync = frame); environment PL_MPM_GRAPH=0|1 */
} mpm_desc;

enum { MPM_SYNC_STAGE = 1, MPM_SYNC_FRAME = 2 };
enum { MPM_P2G_ATOMIC = 1, MPM_P2G_TILED = 2 };
enum { MPM_GRAPH_OFF = 1, MPM_GRAPH_ON = 2 };

/* Particles in host memory (what the sampler makes, what mpm_create uploads, what mpm_download fills). */
typedef struct {
  int64_t n;
  real *x, *v, *C, *F, *q;  /* [n][3], [n][3], [n][9], [n][9], [n] */
  real *mass, *vol0;        /* [n] */
  int32_t *material;        /* [n] index into the materials */
  int32_t *object;          /* [n] index of the object it came from (-1: none) */
} mpm_particles;

/* Dynamic particle state on a backend (what a checkpoint copies). */
typedef struct {
  int64_t n;
  pl_backend backend;
  pl_buffer x, v, C, F, q;
} mpm_state;

typedef struct mpm_cpu_scratch mpm_cpu_scratch;
typedef struct mpm_cuda_scratch mpm_cuda_scratch;

typedef struct {
  /* settings, resolved */
  pl_backend backend;       /* CPU or CUDA */
  mpm_kgrid grid;           /* cells, dx, origin, gravity, walls */
  double domain_min[3], domain_max[3]; /* domain_max = domain_min + n dx */
  double frame_dt, cfl;
  int substeps;             /* 0: automatic */
  int nmaterials, ncolliders, nobjects;
  mpm_material *materials;  /* host copies (names copied into names_store) */
  mpm_kmaterial *kmaterials;
  mpm_collider *colliders;
  mpm_kcollider *kcolliders;
  char (*material_names)[64], (*collider_names)[64], (*object_names)[64];
  /* particles */
  int64_t n;
  mpm_state state;
  pl_buffer mass, vol0, material; /* static, on the backend */
  pl_buffer pmu, plambda;         /* per-particle Lame override (empty unless mpm_set_particle_moduli) */
  pl_buffer kmat_buf, kcol_buf;   /* the tables on the backend */
  int32_t *object_of;             /* host [n] */
  double *material_density;       /* host [nmaterials] */
  /* grid and scratch */
  pl_buffer gridbuf;              /* [nodes][4] */
  mpm_cpu_scratch *cpu;
  mpm_cuda_scratch *cuda;
  /* clock and counters */
  int frame;                      /* frames completed */
  double time;                    /* simulated seconds */
  int64_t substeps_done;
  int64_t particle_substeps;      /* n x substeps, 64-bit */
  int last_substeps;              /* substeps of the last frame */
  /* A held schedule (optional, caller-owned): frame f + 1 runs plan[f] substeps for f < plan_frames where
   * plan[f] > 0, instead of the automatic count (still refused beyond the bound at CFL number 1). gradcheck
   * holds the schedule of the checked point so that finite differences see the schedule the adjoint used. */
  const int *plan;
  int plan_frames;
  int *plan_record;               /* optional [plan_frames]: each frame's substep count is written here */
  /* Optional branch trace (caller-owned host arrays, CPU backend only; gradcheck): when set, every substep folds
   * into particle_trace[p] (n entries) the branch particle p's plastic return map took (mpm_plastic_branch:
   * elastic / yield / apex), and into node_trace[node] (mpm_node_count entries) the branch each contact of a
   * node with mass took (mpm_grid_node_branches: passed through / stuck / sliding) with the substep's time in the run, so
   * that two runs whose entries differ took different branches of a non-differentiable piece somewhere
   * (mpm_trace_fold). The caller zeroes them before a run. Codes within a rounding band of a switching surface
   * are their own (mpm_trace_branch, mpm_contact_branch). Nodes of mass <= trace_node_mass are not traced: a node
   * entering a particle's support starts at weight 0 (the B-spline is C1 there), so its branch moves the
   * particles by at most its weight. */
  uint64_t *particle_trace, *node_trace;
  double trace_node_mass;
  double last_dt;
  /* optional: called every 1024 substeps of a frame with (done, of): progress for frames that take long */
  void (*on_substeps)(void *user, int frame, int done, int of);
  void *on_substeps_user;
  /* CFL inputs (host) */
  double wave_speed;              /* fastest elastic wave speed over the materials in use (m/s) */
  int wave_material;              /* which material */
  double visc_dt;                 /* explicit viscosity bound at CFL 1 (s), or INFINITY */
  int visc_material;
  /* execution paths, resolved (mpm_desc.sync, p2g, sort_every, graph) */
  int sync_mode, p2g_mode, sort_every, graph_mode;
  /* a span of deferred checks (mpm_checks_begin/end): active, its substep counter, the current stage's tag */
  int defer_active;
  int64_t defer_substep;
  uint64_t defer_tag;
} mpm_sim;

/* ---------------------------------------------------------------- setup */

/* R = Rz(c) Ry(b) Rx(a) for XYZ Euler angles (a, b, c) in degrees (x rotation applied first); row-major. */
void mpm_euler_deg(const double deg[3], double R[9]);

/* The grid a descriptor resolves to: cells per axis, dx, origin (= domain_min). Fails on a bad box. */
pl_status mpm_resolve_grid(const mpm_desc *d, int n[3], double *dx, double origin[3]);

/* Fill objects with particles: cells of the grid overlapping each shape get particles_per_cell samples
 * (seeded Philox jitter), kept when inside the shape (meshes: generalized winding number >= 1/2, robust to
 * holes). v = velocity + angular_velocity x (x - center), F = I, C = 0, q = 0, vol0 = dx^3 / ppc,
 * mass = density vol0. Errors name the object: outside the box or in the wall band, no particles,
 * a mesh that cannot be read or encloses no volume. `out` is allocated here (mpm_particles_free). */
pl_status mpm_sample_objects(const mpm_desc *d, const mpm_object *objects, int nobjects, mpm_particles *out);

pl_status mpm_particles_alloc(mpm_particles *p, int64_t n);
void mpm_particles_free(mpm_particles *p);

/* Validate the descriptor and the particles, resolve the backend (a backend this build lacks is
 * PL_ERR_UNSUPPORTED), upload. `objects` (may be NULL) only names the objects in messages. *out is NULL on
 * failure. */
pl_status mpm_create(mpm_sim **out, const mpm_desc *d, const mpm_particles *p, const mpm_object *objects,
                     int nobjects);
void mpm_destroy(mpm_sim *s); /* NULL: no-op */

/* Change a material's parameters (the optimiser's update). Validated like mpm_create. A new density rescales
 * the masses of the material's particles by new/old (m = rho V0). */
pl_status mpm_set_material(mpm_sim *s, int index, const mpm_material *m);
/* Coulomb friction of collider `collider`, or of every wall (collider = -1); mu >= 0. */
pl_status mpm_set_friction(mpm_sim *s, int collider, double mu);
/* Coulomb friction of one wall (0..5: x min, x max, y min, y max, z min, z max); mu >= 0. */
pl_status mpm_set_wall_friction(mpm_sim *s, int wall, double mu);
/* Per-particle Young's modulus and Poisson ratio (host arrays [n]); NULL E clears the override. */
pl_status mpm_set_particle_moduli(mpm_sim *s, const double *E, const double *nu);
/* Replace the particle state (host arrays; NULL fields keep the current values). */
pl_status mpm_upload(mpm_sim *s, const mpm_particles *p);

/* ---------------------------------------------------------------- state */

pl_status mpm_state_alloc(mpm_state *st, pl_backend backend, int64_t n);
pl_status mpm_state_copy(mpm_state *dst, const mpm_state *src); /* same n; any backends */
void mpm_state_free(mpm_state *st);
mpm_kstate mpm_state_view(const mpm_state *st);
/* Copy a state to host arrays (NULL fields of `host` are skipped). */
pl_status mpm_download(const mpm_sim *s, const mpm_state *st, mpm_particles *host);

/* ---------------------------------------------------------------- stepping */

pl_status mpm_p2g(mpm_sim *s, const mpm_state *st, real dt);
pl_status mpm_grid_update(mpm_sim *s, real dt, double t);
pl_status mpm_g2p(mpm_sim *s, const mpm_state *in, mpm_state *out, real dt);
/* P2G, grid update, G2P on s->state at time s->time; advances s->time by dt. */
pl_status mpm_substep(mpm_sim *s, real dt);

/* Substeps for the next frame and their dt: automatic from dt <= cfl dx / (c + v) (c the fastest elastic
 * wave speed, v the fastest particle plus |g| frame_dt) and, for viscous fluids, dt <= cfl rho dx^2 / (3 eta);
 * or the given count, which fails when its dt exceeds the bound at CFL number 1. */
pl_status mpm_plan_frame(mpm_sim *s, int *substeps, double *dt);
/* Advance one frame (s->frame += 1). Errors name the frame, the substep and the particle. */
pl_status mpm_advance_frame(mpm_sim *s);

/* Deferred particle checks (sync = MPM_SYNC_FRAME; no-ops otherwise). Between begin and end, mpm_p2g and mpm_g2p
 * do not wait for the device to report particle errors: the backend folds them, tagged with the substep number
 * last given to mpm_checks_substep (0 .. span_substeps - 1) and the stage, into one word. mpm_checks_end reads it
 * (one host synchronisation) and turns the smallest (substep, stage, particle) into the message the per-stage check
 * would have given, prefixed with what `where` writes for that substep (e.g. "frame 3, substep 7 of 40: "); the
 * particle's values are read from `state` (a later state than the error's: the span ran on). A span of more than
 * 2^27 substeps keeps the per-stage checks. Every error return inside a span must come after mpm_checks_abort. */
typedef void (*mpm_checks_where)(void *user, int64_t substep, char *buf, size_t size);
pl_status mpm_checks_begin(mpm_sim *s, int64_t span_substeps);
void mpm_checks_substep(mpm_sim *s, int64_t substep);
pl_status mpm_checks_end(mpm_sim *s, const mpm_state *state, mpm_checks_where where, void *user);
void mpm_checks_abort(mpm_sim *s); /* leave the span without reading it (an error is being returned) */

/* CUDA graphs (graph = MPM_GRAPH_ON, mpm_exec.c): inside an open span of deferred checks a run of substeps on
 * s->state needs no host decision between them, so the CUDA backend captures one substep (P2G, grid update, G2P and
 * a clock tick) into a graph once and replays it; the substep's number, time and dt come from a device clock.
 * mpm_graph_usable: the graph path is on, a deferred span is open and the backend has a graph runner.
 * mpm_run_substeps: substeps k0 .. k0 + count - 1 of the open span (substep k at time t0 + k dt, its errors tagged
 * with k), through the runner when usable, else one mpm_substep at a time; s->time and the counters advance. */
int mpm_graph_usable(const mpm_sim *s);
pl_status mpm_run_substeps(mpm_sim *s, double t0, double dt, int64_t k0, int64_t count);

/* Fastest particle speed of a state (a reduction on the backend). */
pl_status mpm_max_speed(mpm_sim *s, const mpm_state *st, double *vmax);

/* Names for messages. */
const char *mpm_model_name(int model);
const char *mpm_contact_name(int type);
const char *mpm_wall_name(int wall); /* 0..5: "x min", "x max", "y min", ... */

#ifdef __cplusplus
}
#endif
#endif /* PL_MPM_H */
