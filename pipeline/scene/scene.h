/* scene.h: a scene file, validated and resolved into typed structs that the stages consume.
 *
 * pl_scene_load() parses the file (config.h), applies --set overrides, validates every value and every
 * cross-reference (an object's material, a parameter's address, a stage's name, a camera's description),
 * and fills a pl_scene. Values are in SI units and degrees as written in the file; the stages convert.
 * The config is kept inside the scene so that callers can rebuild it with other values (truth, sweeps).
 *
 * Ownership: pl_scene owns its arrays and its config; pl_scene_free releases them. */
#ifndef PL_SCENE_H
#define PL_SCENE_H

#include <stdio.h>

#include "core/backend.h"
#include "core/status.h"
#include "pipeline/scene/config.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PL_NAME_MAX 64
#define PL_PATH_MAX 1024

extern const pl_schema pl_scene_schema;

typedef enum {
  PL_MAT_FIXED_COROTATED = 0,
  PL_MAT_NEO_HOOKEAN,
  PL_MAT_STVK_VON_MISES,
  PL_MAT_DRUCKER_PRAGER,
  PL_MAT_NEWTONIAN_FLUID,
  PL_MAT_VISCOPLASTIC,
  PL_MAT_COUNT
} pl_material_model;

typedef enum { PL_SHAPE_BOX = 0, PL_SHAPE_SPHERE, PL_SHAPE_CYLINDER, PL_SHAPE_MESH, PL_SHAPE_PLANE, PL_SHAPE_GAUSSIANS,
               PL_SHAPE_VISUAL_HULL } pl_shape;
typedef enum { PL_CONTACT_STICKY = 0, PL_CONTACT_SLIP, PL_CONTACT_SEPARATE } pl_contact;

const char *pl_material_model_name(pl_material_model m);
const char *pl_shape_name(pl_shape s);

typedef struct {
  double domain_min[3], domain_max[3];
  int grid_longest;     /* cells along the longest side */
  double dx;            /* cell size (derived) */
  int grid[3];          /* cells per axis (derived: ceil(extent / dx)) */
  int frames;
  double fps;
  int substeps;         /* 0 = automatic */
  double cfl;
  double gravity[3];
  pl_contact boundary;
  pl_contact walls[6];  /* per wall (x min, x max, y min, ...), resolved (boundary where not given) */
  double boundary_friction;
  double wall_friction[6];   /* per wall, resolved (boundary_friction where not given) */
  int wall_friction_own[6];  /* 1: the wall's own boundary_friction_<wall> was given */
  int boundary_cells;
  int plane_strain; /* 0: none; 1, 2, 3: x, y, z (mpm_desc.plane_strain) */
  double pic_blend; /* the PIC share of the transfer (mpm_desc.pic_blend) */
  double pic_rest_speed; /* > 0: the share for material at rest only (mpm_desc.pic_rest_speed) */
  unsigned long seed;
  pl_backend backend;
  int threads;
} pl_scene_sim;

typedef struct {
  char name[PL_NAME_MAX];
  pl_material_model model;
  double E, nu, density, yield_stress, viscosity, friction_angle, cohesion, bulk_modulus;
  int dp_cone;           /* 0: shear, 1: plane_strain, 2: compression (mpm's MPM_DP_CONE_*) */
  double mui_delta, mui_i0, grain_size, grain_density; /* Drucker-Prager mu(I) (mpm_material) */
  double color[3];
} pl_scene_material;

/* An object's per-particle Young's modulus and Poisson ratio (keys: scene/object_field.h; the model:
 * engine/particle_fields.h). */
typedef struct {
  char E[1024], nu[1024];  /* E_field, nu_field: expressions in the initial position x, y, z ("" = the material's) */
  int learn;               /* learn_E_field: log E on a coarse grid over the object, learnt with Adam */
  int grid[3];             /* E_field_grid: nodes (linear) or cells (cells) per axis */
  int cells;               /* E_field_interp: 0 trilinear between nodes, 1 constant per cell */
  double lr, smoothness;   /* E_field_lr (Adam, in log E), E_field_smoothness (weight of the regulariser) */
  /* learn_positions: a displacement of the initial particles on a coarse grid (engine/particle_positions.h) */
  int learn_positions;
  int positions_grid[3];   /* nodes per axis */
  double positions_lr, positions_max, positions_smoothness; /* Adam (m per step), bound (m), regulariser weight */
} pl_object_field;

typedef struct {
  char name[PL_NAME_MAX];
  pl_shape shape;
  int material;          /* index into pl_scene.materials */
  double center[3], size[3], radius, height, rotation[3] /* degrees */, scale[3];
  char mesh[PL_PATH_MAX];     /* resolved path ("" unless shape = mesh) */
  char texture[PL_PATH_MAX];  /* resolved path or "" */
  int particles_per_cell;
  int jittered;
  double velocity[3], angular_velocity[3];
  char velocity_field[1024]; /* "vx(x,y,z), vy(...), vz(...)" added to the initial velocity (core/expr.h), or "" */
  char velocity_file[PL_PATH_MAX]; /* per-particle velocities added to the initial velocity (velocity_file.h), or "" */
  double color[3];       /* the object's colour, or its material's */
  /* shape = gaussians: a trained 3DGS PLY, cropped, thresholded and placed at load (splat_object.h) */
  char splats[PL_PATH_MAX];
  double crop_min[3], crop_max[3], opacity_min, fill_threshold;
  struct pl_splat_set_s *splat_set; /* owned (pl_scene_free) */
  pl_object_field field; /* per-particle moduli (E_field, nu_field, learn_E_field) */
  /* shape = visual_hull: carved from the capture's first-frame masks when the scene is built (hull_object.h) */
  struct pl_hull_object_s *hull;    /* owned (pl_scene_free) */
} pl_scene_object;

typedef struct {
  char name[PL_NAME_MAX];
  pl_shape shape;
  double point[3], normal[3];   /* plane (normal unit length) */
  double center[3], size[3], radius, height, rotation[3];
  pl_contact type;
  double friction;
  double velocity[3];
} pl_scene_collider;

typedef enum { PL_UPSAMPLE_AUTO = 0, PL_UPSAMPLE_BOUND, PL_UPSAMPLE_RUNTIME, PL_UPSAMPLE_PARTICLES } pl_upsample_mode;

typedef struct {
  pl_upsample_mode mode;
  double spacing, sigma0, thickness, opacity, bind_radius;
  double surface_threshold, surface_band, surface_level, smoothing;
  int children;
  int learn_colors, learn_opacities;
  double colors_lr, opacities_lr;  /* Adam learning rates of the per-Gaussian values */
} pl_scene_upsample;

typedef struct {
  char name[PL_NAME_MAX];
  int width, height;
  double fx, fy, cx, cy;     /* pixels */
  double viewmat[16];        /* world -> camera, OpenCV axes (+x right, +y down, +z forward), row-major 4x4 */
  double eye[3];             /* camera centre in world coordinates (derived) */
} pl_scene_camera;

typedef struct {
  int width, height;
  double background[3];
  int antialiased;
  char frames[256];          /* frame selection text (pl_frame_selection) */
  char output[PL_PATH_MAX];
  int particle_ply, gaussian_ply;
} pl_scene_render;

typedef enum { PL_LOSS_L1 = 0, PL_LOSS_L2, PL_LOSS_DSSIM, PL_LOSS_MASK, PL_LOSS_COUNT } pl_loss_kind;

typedef enum { PL_TARGETS_TRUTH = 0, PL_TARGETS_FOLDER, PL_TARGETS_PACNERF, PL_TARGETS_TRANSFORMS } pl_targets_source;

typedef struct {
  int from_folder;
  char folder[PL_PATH_MAX];
  char frames[256];
  char cameras[256];
  pl_targets_source source;
  char path[PL_PATH_MAX];    /* the capture (pacnerf, transforms; the folder for COLMAP) or "" */
  int capture_layout;        /* pl_capture_layout, or -1: no capture file (plain folder, truth) */
  int first_capture_camera;  /* cameras [first_capture_camera, ncameras) come from the capture */
  double fps, offset;        /* capture frame rate (0: sim.fps) and the capture frame at simulation frame 0 */
  char holdout[256];         /* camera names kept out of the fit ("" none) */
  char holdout_frames[256];  /* frame selection kept out of the fit ("" none) */
  int plate_alpha;           /* 0 none, 1 threshold, 2 matte: the alpha of capture images that have none, from the
                                camera's background plate (pipeline/io/plate_matte.h) */
  double plate_threshold;
  double noise;              /* standard deviation of Gaussian noise added to truth-rendered targets (0 = none) */
  int noise_seed;
} pl_scene_targets;

typedef enum { PL_SPACE_AUTO = 0, PL_SPACE_LOG, PL_SPACE_LINEAR, PL_SPACE_BOUNDED } pl_param_space;

typedef struct {
  char address[192];         /* e.g. material.jelly.E */
  char type[PL_NAME_MAX], name[PL_NAME_MAX], key[PL_NAME_MAX];
  int components;            /* 1 or 3 */
  pl_param_space space;      /* resolved (never AUTO after loading) */
  double lr;
  double lo, hi;             /* bounds for the bounded space */
  int has_init;
  double init[3];
  char stages[256];          /* "all" or stage names */
  int frozen;                /* held fixed */
} pl_scene_param;

typedef struct {
  char name[PL_NAME_MAX];
  int iterations;
  char frames[256];
  double lr_scale;
} pl_scene_stage;

typedef struct {
  int iterations;
  double loss_weight[PL_LOSS_COUNT];
  double lr, beta1, beta2, clip;
  int schedule;              /* 0 constant, 1 cosine, 2 exponential */
  double lr_final, early_stop;
  int patience;
  int checkpoint_every;
  double memory_limit_mb;
  char output[PL_PATH_MAX];
  char strip_frames[256];
  /* the global stage and the checks after the fit (fit_global.h) */
  int scan;                  /* points per parameter of the coarse scan before Adam; 0 = no scan */
  int scan_levels;           /* scan passes, each zoomed around the best point of the one before */
  double scan_range;         /* log-space parameters scanned over start / R .. start * R */
  char scan_frames[256];     /* frames the scan compares (fewer frames: a cheaper scan) */
  int newton;                /* damped Newton steps after Adam (finite-difference Hessian of the adjoint gradient) */
  int uncertainty;           /* curvature at the fitted point: standard errors, correlations, convergence check */
  double converge_step;      /* converged when the Newton step is at most this in every step-space value */
  int coordinates;           /* 0 plain, 1 valley: well-conditioned learned coordinates (optim_coords.c) */
  int scan_grid;             /* 0 axes: each value in turn through the best point (n N points a level); 1 the product */
} pl_scene_optimize;

typedef struct {
  char address[192];
  char value[256];
} pl_scene_truth;

typedef struct {
  char path[PL_PATH_MAX];
  pl_scene_sim sim;
  pl_scene_material *materials;
  int nmaterials;
  pl_scene_object *objects;
  int nobjects;
  pl_scene_collider *colliders;
  int ncolliders;
  pl_scene_upsample upsample;
  pl_scene_camera *cameras;
  int ncameras;
  pl_scene_render render;
  pl_scene_targets targets;
  pl_scene_optimize optimize;
  pl_scene_param *params;
  int nparams;
  pl_scene_stage *stages;
  int nstages;
  pl_scene_truth *truth;
  int ntruth;
  pl_config config;          /* the validated configuration the scene was built from */
} pl_scene;

/* Load, override (sets[0..nsets-1] are "address=value"), validate and resolve. */
pl_status pl_scene_load(pl_scene *s, const char *path, const char *const *sets, int nsets);
/* Same from text in memory (tests). */
pl_status pl_scene_load_string(pl_scene *s, const char *text, const char *name, const char *dir,
                               const char *const *sets, int nsets);
/* Build the typed scene from an already validated config (takes ownership of *cfg on success and failure). */
pl_status pl_scene_from_config(pl_scene *s, pl_config *cfg);
/* A copy of `src` rebuilt with more overrides (e.g. the [truth] values, or a sweep point). */
pl_status pl_scene_with_overrides(pl_scene *dst, const pl_scene *src, const char *const *sets, int nsets);
/* A copy of `src` with its [truth] values applied. */
pl_status pl_scene_with_truth(pl_scene *dst, const pl_scene *src);
void pl_scene_free(pl_scene *s);

/* Print the resolved scene: every value (defaults marked) and the derived quantities. */
void pl_scene_print(const pl_scene *s, FILE *f);

/* Frame selection: "all", a list "0 5 10", or ranges "a:b[:step]" (b exclusive, cut at the last frame), mixed
 * with spaces/commas.
 * Fills mask[0..nframes-1]; errors name the text. */
pl_status pl_frame_selection(const char *text, int nframes, unsigned char *mask);

/* Find by name (-1 if absent). */
int pl_scene_material_index(const pl_scene *s, const char *name);
int pl_scene_camera_index(const pl_scene *s, const char *name);

#ifdef __cplusplus
}
#endif
#endif
