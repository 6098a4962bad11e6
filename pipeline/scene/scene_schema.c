/* scene_schema.c: every section and key a scene file may hold, with kind, default, range and a one-line doc.
 * This table is the single source of truth for validation, `pipeline check` and docs/scene-format.md
 * (`pipeline schema` prints it). Add a key here and it is parsed, validated, addressable with --set,
 * printed by check and listed in the docs. */
#include "pipeline/scene/scene.h"

#define END {NULL, PL_KT_REAL, NULL, NULL, 0, 0, 0, NULL}
#define RANGE(lo, hi) PL_KF_RANGE, lo, hi

static const pl_key_spec sim_keys[] = {
    {"domain_min", PL_KT_VEC3, "0 0 0", NULL, 0, 0, 0, "lower corner of the simulation box (m)"},
    {"domain_max", PL_KT_VEC3, "1 1 1", NULL, 0, 0, 0, "upper corner of the simulation box (m)"},
    {"grid", PL_KT_INT, "64", NULL, RANGE(8, 1024), "grid cells along the longest side of the box (dx = longest side / grid)"},
    {"frames", PL_KT_INT, "30", NULL, RANGE(1, 100000), "number of frames to simulate"},
    {"fps", PL_KT_REAL, "30", NULL, PL_KF_POSITIVE, 0, 0, "frames per second (frame time = 1/fps)"},
    {"substeps", PL_KT_INT, "0", NULL, RANGE(0, 1000000), "substeps per frame; 0 = automatic from the CFL bound"},
    {"cfl", PL_KT_REAL, "0.4", NULL, PL_KF_RANGE | PL_KF_OPEN_LO, 0, 1, "CFL number for the automatic substep count"},
    {"gravity", PL_KT_VEC3, "0 -9.8 0", NULL, PL_KF_LEARNABLE, 0, 0, "gravitational acceleration (m/s^2)"},
    {"boundary", PL_KT_ENUM, "separate", "sticky slip separate", 0, 0, 0,
     "behaviour of the domain walls: separate (stops what approaches, lets go of what leaves), slip (also pulls "
     "back what leaves), sticky"},
    {"boundary_x_min", PL_KT_ENUM, "inherit", "inherit sticky slip separate", 0, 0, 0, "the x min wall (inherit: sim.boundary)"},
    {"boundary_x_max", PL_KT_ENUM, "inherit", "inherit sticky slip separate", 0, 0, 0, "the x max wall"},
    {"boundary_y_min", PL_KT_ENUM, "inherit", "inherit sticky slip separate", 0, 0, 0,
     "the y min wall (the floor under the default gravity; sticky: a rough floor)"},
    {"boundary_y_max", PL_KT_ENUM, "inherit", "inherit sticky slip separate", 0, 0, 0, "the y max wall"},
    {"boundary_z_min", PL_KT_ENUM, "inherit", "inherit sticky slip separate", 0, 0, 0, "the z min wall"},
    {"boundary_z_max", PL_KT_ENUM, "inherit", "inherit sticky slip separate", 0, 0, 0, "the z max wall"},
    {"boundary_friction", PL_KT_REAL, "0", NULL, PL_KF_NONNEG | PL_KF_LEARNABLE, 0, 0, "Coulomb friction coefficient of the domain walls"},
    {"boundary_friction_x_min", PL_KT_REAL, NULL, NULL, PL_KF_NONNEG | PL_KF_LEARNABLE, 0, 0,
     "Coulomb friction of the x min wall alone (absent: sim.boundary_friction)"},
    {"boundary_friction_x_max", PL_KT_REAL, NULL, NULL, PL_KF_NONNEG | PL_KF_LEARNABLE, 0, 0, "of the x max wall"},
    {"boundary_friction_y_min", PL_KT_REAL, NULL, NULL, PL_KF_NONNEG | PL_KF_LEARNABLE, 0, 0,
     "of the y min wall (a rough floor between smooth sides)"},
    {"boundary_friction_y_max", PL_KT_REAL, NULL, NULL, PL_KF_NONNEG | PL_KF_LEARNABLE, 0, 0, "of the y max wall"},
    {"boundary_friction_z_min", PL_KT_REAL, NULL, NULL, PL_KF_NONNEG | PL_KF_LEARNABLE, 0, 0, "of the z min wall"},
    {"boundary_friction_z_max", PL_KT_REAL, NULL, NULL, PL_KF_NONNEG | PL_KF_LEARNABLE, 0, 0, "of the z max wall"},
    {"boundary_cells", PL_KT_INT, "3", NULL, RANGE(2, 16), "thickness of the wall band, in cells"},
    {"plane_strain", PL_KT_ENUM, "none", "none x y z", 0, 0, 0,
     "plane strain normal to this axis: the grid velocity along it is zero everywhere, so a quasi-2D slab between "
     "walls cannot thicken into their bands (none: 3D)"},
    {"pic_blend", PL_KT_REAL, "0", NULL, RANGE(0, 1),
     "the PIC share of the particle-to-grid transfer: 0 is APIC (the particle's affine velocity is transferred), 1 is "
     "PIC; a share damps sub-cell velocity modes and slows flows (numerical dissipation: at 0.05 a granular collapse's "
     "runout goes from within 8 % of experiment to 26-39 % short; at 0.25 a heap stands 1.7 deg steeper; docs/mpm.md)"},
    {"pic_rest_speed", PL_KT_REAL, "0", NULL, PL_KF_NONNEG, 0, 0,
     "> 0: the PIC share applies only to material at rest, pic_blend (1 - |v| / pic_rest_speed) below this speed and "
     "none above it, so flows keep APIC (m/s; 0: the share applies everywhere). For granular material: pic_blend 0.5 "
     "with 0.02 m/s holds a heap's angle of repose within 3 deg of the friction angle with collapse runouts "
     "unchanged (docs/mpm.md item 11)"},
    {"seed", PL_KT_INT, "1", NULL, PL_KF_NONNEG, 0, 0, "seed of the counter-based RNG (particle jitter, sampling)"},
    {"backend", PL_KT_ENUM, "auto", "auto cpu cuda", 0, 0, 0, "where to run: cuda if a device is present (auto), cpu, cuda"},
    {"threads", PL_KT_INT, "0", NULL, RANGE(0, PL_MAX_THREADS), "CPU threads; 0 = all cores"},
    END};

static const pl_key_spec material_keys[] = {
    {"model", PL_KT_ENUM, NULL, "fixed_corotated neo_hookean stvk_von_mises drucker_prager newtonian_fluid viscoplastic",
     PL_KF_REQUIRED, 0, 0, "constitutive model"},
    {"E", PL_KT_REAL, "1e5", NULL, PL_KF_POSITIVE | PL_KF_LEARNABLE, 0, 0, "Young's modulus (Pa)"},
    {"nu", PL_KT_REAL, "0.3", NULL, PL_KF_RANGE | PL_KF_OPEN_LO | PL_KF_OPEN_HI | PL_KF_LEARNABLE, -1, 0.5, "Poisson's ratio"},
    {"density", PL_KT_REAL, "1000", NULL, PL_KF_POSITIVE | PL_KF_LEARNABLE, 0, 0, "rest density (kg/m^3)"},
    {"yield_stress", PL_KT_REAL, "1e4", NULL, PL_KF_POSITIVE | PL_KF_LEARNABLE, 0, 0,
     "von Mises yield stress (stvk_von_mises) or Bingham yield stress (viscoplastic) (Pa)"},
    {"viscosity", PL_KT_REAL, "0", NULL, PL_KF_NONNEG | PL_KF_LEARNABLE, 0, 0,
     "dynamic viscosity (Pa s): fluid and viscoplastic; optional rate regularisation for stvk_von_mises"},
    {"friction_angle", PL_KT_REAL, "30", NULL, PL_KF_RANGE | PL_KF_OPEN_LO | PL_KF_OPEN_HI | PL_KF_LEARNABLE, 0, 90,
     "Drucker-Prager friction angle (degrees)"},
    {"cohesion", PL_KT_REAL, "0", NULL, PL_KF_NONNEG | PL_KF_LEARNABLE, 0, 0, "Drucker-Prager cohesion (Pa)"},
    {"cone", PL_KT_ENUM, "shear", "shear plane_strain compression", 0, 0, 0,
     "Drucker-Prager cone fitted to Mohr-Coulomb's friction angle: shear: a friction tan(phi) in simple shear "
     "(sqrt(J2) = tan(phi) p, the mu = tan(phi) convention of granular rheology; column collapses run out closest "
     "to experiments); plane_strain: sqrt(J2) = sin(phi) p (0.87x as strong at 30 deg); compression: through its "
     "triaxial compression meridian (Klar et al. 2016, PAC-NeRF, PhysGaussian; 1.2x as strong at 30 deg)"},
    {"mui_delta", PL_KT_REAL, "0", NULL, PL_KF_NONNEG, 0, 0,
     "Drucker-Prager mu(I) rheology (Jop et al. 2006), shear cone only: the friction's rise mu_2 - mu_s at large "
     "inertial number, mu = tan(friction_angle) + mui_delta I / (mui_i0 + I), I = shear rate x grain_size / "
     "sqrt(pressure / grain_density); 0: rate-independent. 0.26 for glass beads; a partial regularisation of the "
     "collapse runout's drift with resolution (docs/mpm.md item 12)"},
    {"mui_i0", PL_KT_REAL, "0.279", NULL, PL_KF_POSITIVE, 0, 0, "mu(I): the inertial number of half the rise"},
    {"grain_size", PL_KT_REAL, "0", NULL, PL_KF_NONNEG, 0, 0, "mu(I): grain diameter (m); needed when mui_delta > 0"},
    {"grain_density", PL_KT_REAL, "2650", NULL, PL_KF_POSITIVE, 0, 0,
     "mu(I): density of the grains themselves (kg/m^3; quartz 2650), not the bulk density"},
    {"bulk_modulus", PL_KT_REAL, "1e5", NULL, PL_KF_POSITIVE | PL_KF_LEARNABLE, 0, 0, "bulk modulus of newtonian_fluid (Pa)"},
    {"color", PL_KT_VEC3, "0.8 0.8 0.8", NULL, PL_KF_RANGE | PL_KF_BROADCAST, 0, 1, "RGB colour of objects made of it"},
    END};

static const pl_key_spec object_keys[] = {
    {"shape", PL_KT_ENUM, NULL, "box sphere cylinder mesh gaussians visual_hull", PL_KF_REQUIRED, 0, 0,
     "what to fill with particles (visual_hull: carved from the first frame's masks of the capture)"},
    {"material", PL_KT_STRING, NULL, NULL, PL_KF_REQUIRED, 0, 0, "name of a [material NAME] section"},
    {"center", PL_KT_VEC3, "0.5 0.5 0.5", NULL, PL_KF_LEARNABLE, 0, 0, "centre of the shape (a mesh's bounding-box centre) (m)"},
    {"size", PL_KT_VEC3, "0.2 0.2 0.2", NULL, PL_KF_POSITIVE | PL_KF_BROADCAST, 0, 0, "box edge lengths (m)"},
    {"radius", PL_KT_REAL, "0.1", NULL, PL_KF_POSITIVE, 0, 0, "sphere or cylinder radius (m)"},
    {"height", PL_KT_REAL, "0.2", NULL, PL_KF_POSITIVE, 0, 0, "cylinder height along its local y axis (m)"},
    {"mesh", PL_KT_PATH, NULL, NULL, 0, 0, 0, "OBJ file (shape = mesh)"},
    {"scale", PL_KT_VEC3, "1", NULL, PL_KF_POSITIVE | PL_KF_BROADCAST, 0, 0, "scale applied to the mesh's coordinates"},
    {"rotation", PL_KT_VEC3, "0 0 0", NULL, PL_KF_LEARNABLE, 0, 0, "rotation about the centre: XYZ Euler angles (degrees)"},
    {"particles_per_cell", PL_KT_INT, "8", NULL, RANGE(1, 64), "particles per grid cell"},
    {"sampling", PL_KT_ENUM, "jittered", "jittered regular", 0, 0, 0, "particle placement inside each cell"},
    {"velocity", PL_KT_VEC3, "0 0 0", NULL, PL_KF_LEARNABLE, 0, 0, "initial velocity (m/s)"},
    {"angular_velocity", PL_KT_VEC3, "0 0 0", NULL, PL_KF_LEARNABLE, 0, 0, "initial angular velocity about the centre (rad/s)"},
    {"velocity_field", PL_KT_STRING, NULL, NULL, 0, 0, 0,
     "initial velocity field added to velocity and angular_velocity: three comma-separated expressions vx, vy, vz "
     "in the world position x, y, z (m): numbers, pi, + - * / ^, sin cos tan asin acos atan sinh cosh tanh exp log "
     "sqrt abs floor ceil atan2 min max pow; e.g. a vortex: -2*(y-0.5), 2*(x-0.5), 0"},
    {"velocity_file", PL_KT_PATH, NULL, NULL, 0, 0, 0,
     "CSV of per-particle initial velocities added to the others: rows vx,vy,vz (matched to the object's particles "
     "in sampling order, one row per particle) or x,y,z,vx,vy,vz (each particle takes the row nearest to it); "
     "an optional header names the columns"},
    {"E_field", PL_KT_STRING, NULL, NULL, 0, 0, 0,
     "Young's modulus per particle (Pa), replacing the material's E: an expression in the initial position x, y, z "
     "(m), as velocity_field; e.g. a soft left half and a stiff right half: 2e4 * 10^min(max(floor((x-0.5)*1e6)+1, 0), 1)"},
    {"nu_field", PL_KT_STRING, NULL, NULL, 0, 0, 0, "Poisson ratio per particle (-1 < nu < 0.5), replacing the material's nu: "
     "an expression in x, y, z"},
    {"learn_E_field", PL_KT_BOOL, "false", NULL, 0, 0, 0,
     "learn a heterogeneous E: log E on a coarse grid over the object (E_field_grid), interpolated to the particles at "
     "their initial positions, started from E_field (or the material's E) and stepped by Adam"},
    {"E_field_grid", PL_KT_VEC3, "2 2 2", NULL, PL_KF_POSITIVE | PL_KF_BROADCAST, 0, 0,
     "learn_E_field: nodes (linear) or cells (cells) per axis of the object's bounding box (integers 1..32)"},
    {"E_field_interp", PL_KT_ENUM, "linear", "linear cells", 0, 0, 0,
     "learn_E_field: log E trilinear between the grid's nodes, or constant per cell (regions)"},
    {"E_field_lr", PL_KT_REAL, "0.05", NULL, PL_KF_POSITIVE, 0, 0, "learn_E_field: Adam learning rate of log E"},
    {"E_field_smoothness", PL_KT_REAL, "0", NULL, PL_KF_NONNEG, 0, 0,
     "learn_E_field: weight w of the regulariser w * mean over neighbouring grid values of (log E_a - log E_b)^2, "
     "added to the loss"},
    {"learn_positions", PL_KT_BOOL, "false", NULL, 0, 0, 0,
     "learn where the object's initial particles are: a displacement on a coarse grid of nodes over the object "
     "(positions_grid), trilinear to the particles, stepped by Adam from the motion in every loss frame (shape "
     "refinement of a visual hull through the simulation, as Lagrangian particle optimization does per particle)"},
    {"positions_grid", PL_KT_VEC3, "4 4 4", NULL, PL_KF_POSITIVE | PL_KF_BROADCAST, 0, 0,
     "learn_positions: nodes per axis of the object's bounding box (integers 1..32)"},
    {"positions_lr", PL_KT_REAL, "0.002", NULL, PL_KF_POSITIVE, 0, 0,
     "learn_positions: Adam learning rate of the nodes' displacements (m per step)"},
    {"positions_max", PL_KT_REAL, "0.05", NULL, PL_KF_POSITIVE, 0, 0,
     "learn_positions: bound on each component of a node's displacement (m)"},
    {"positions_smoothness", PL_KT_REAL, "0", NULL, PL_KF_NONNEG, 0, 0,
     "learn_positions: weight w of the regulariser w * mean over neighbouring nodes of |d_a - d_b|^2 / h^2 (h: "
     "the nodes' spacing along that axis), added to the loss"},
    {"color", PL_KT_VEC3, NULL, NULL, PL_KF_RANGE | PL_KF_BROADCAST, 0, 1, "RGB colour (default: the material's)"},
    {"texture", PL_KT_PATH, NULL, NULL, 0, 0, 0, "PNG texture for a mesh with texture coordinates"},
    {"splats", PL_KT_PATH, NULL, NULL, 0, 0, 0, "trained 3DGS PLY file (shape = gaussians): its Gaussians are the object"},
    {"crop_min", PL_KT_VEC3, "-1e9 -1e9 -1e9", NULL, PL_KF_BROADCAST, 0, 0, "gaussians: keep means at or above this (file coordinates)"},
    {"crop_max", PL_KT_VEC3, "1e9 1e9 1e9", NULL, PL_KF_BROADCAST, 0, 0, "gaussians: keep means at or below this (file coordinates)"},
    {"opacity_min", PL_KT_REAL, "0.05", NULL, RANGE(0, 0.999), "gaussians: drop Gaussians at or below this opacity (floaters)"},
    {"fill_threshold", PL_KT_REAL, "0.5", NULL, PL_KF_POSITIVE, 0, 0, "gaussians: splat density of the shell whose inside is filled"},
    {"hull_misses", PL_KT_INT, "0", NULL, RANGE(0, 1023),
     "visual_hull: cameras whose mask may miss a voxel that is kept (tolerance for noisy masks)"},
    {"hull_min", PL_KT_VEC3, NULL, NULL, 0, 0, 0, "visual_hull: lower corner of the carved box (default: sim.domain_min)"},
    {"hull_max", PL_KT_VEC3, NULL, NULL, 0, 0, 0, "visual_hull: upper corner of the carved box (default: sim.domain_max)"},
    {"hull_threshold", PL_KT_REAL, "0.1", NULL, RANGE(0, 1),
     "visual_hull, images without a mask or alpha: the object is where an RGB channel differs from the camera's "
     "background plate by more than this"},
    {"hull_mask", PL_KT_ENUM, "threshold", "threshold matte", 0, 0, 0,
     "visual_hull, images without a mask or alpha: threshold: a pixel is the object where it differs from the plate "
     "by more than hull_threshold (a pixel a fifth covered passes: the silhouettes come out about a third of a "
     "pixel wide on each side); matte: its coverage alpha = (I - B).(F - B) / |F - B|^2 against the plate B and the "
     "object's colour F (the median of the camera's inner pixels), read at 0.5 like a rendered alpha"},
    {"hull_samples", PL_KT_INT, "1", NULL, RANGE(1, 8),
     "visual_hull: 1: a voxel is kept when its centre passes (conservative: a mask pixel of the 2 x 2 around its "
     "projection); n >= 2: sub-voxel carving, n^3 points per voxel tested on the bilinearly read masks (no margin), "
     "the voxel kept when half of them pass"},
    {"hull_erode", PL_KT_REAL, "0", NULL, RANGE(0, 1),
     "visual_hull: erode the hull by this distance (m): a point is kept only when its six neighbours at this "
     "distance along the axes are (compensates the margin by which the rendered Gaussians overhang the particles)"},
    END};

static const pl_key_spec collider_keys[] = {
    {"shape", PL_KT_ENUM, NULL, "plane box sphere cylinder", PL_KF_REQUIRED, 0, 0, "collider geometry"},
    {"point", PL_KT_VEC3, "0 0 0", NULL, 0, 0, 0, "a point on the plane (m)"},
    {"normal", PL_KT_VEC3, "0 1 0", NULL, 0, 0, 0, "plane normal, pointing into the free side"},
    {"center", PL_KT_VEC3, "0.5 0.5 0.5", NULL, 0, 0, 0, "centre of a box, sphere or cylinder (m)"},
    {"size", PL_KT_VEC3, "0.2 0.2 0.2", NULL, PL_KF_POSITIVE | PL_KF_BROADCAST, 0, 0, "box edge lengths (m)"},
    {"radius", PL_KT_REAL, "0.1", NULL, PL_KF_POSITIVE, 0, 0, "sphere or cylinder radius (m)"},
    {"height", PL_KT_REAL, "0.2", NULL, PL_KF_POSITIVE, 0, 0, "cylinder height along its local y axis (m)"},
    {"rotation", PL_KT_VEC3, "0 0 0", NULL, 0, 0, 0, "rotation about the centre: XYZ Euler angles (degrees)"},
    {"type", PL_KT_ENUM, "separate", "sticky slip separate", 0, 0, 0,
     "sticky: velocity set to the collider's; slip: normal part removed; separate: only the approaching part removed"},
    {"friction", PL_KT_REAL, "0", NULL, PL_KF_NONNEG | PL_KF_LEARNABLE, 0, 0, "Coulomb friction coefficient (slip, separate)"},
    {"velocity", PL_KT_VEC3, "0 0 0", NULL, 0, 0, 0, "velocity of the collider (m/s)"},
    END};

static const pl_key_spec upsample_keys[] = {
    {"mode", PL_KT_ENUM, "auto", "auto bound runtime particles", 0, 0, 0,
     "auto: bound for solids, runtime for fluids and sand; particles: one isotropic Gaussian per particle"},
    {"spacing", PL_KT_REAL, "0.3", NULL, PL_KF_POSITIVE, 0, 0,
     "bound: Poisson-disk radius of the surface samples, in particle spacings (0.3: about 7 Gaussians per surface particle)"},
    {"sigma0", PL_KT_REAL, "1.0", NULL, PL_KF_POSITIVE | PL_KF_LEARNABLE, 0, 0,
     "in-plane standard deviation of a Gaussian, in sample spacings (runtime: in children spacings; particles: in half particle spacings)"},
    {"thickness", PL_KT_REAL, "0.2", NULL, PL_KF_POSITIVE | PL_KF_LEARNABLE, 0, 0, "disc thickness along the normal, as a fraction of sigma0"},
    {"opacity", PL_KT_REAL, "0.95", NULL, PL_KF_RANGE | PL_KF_OPEN_LO | PL_KF_OPEN_HI | PL_KF_LEARNABLE, 0, 1, "global opacity"},
    {"bind_radius", PL_KT_REAL, "1.5", NULL, PL_KF_POSITIVE, 0, 0, "bound: binding radius, in particle spacings"},
    {"children", PL_KT_INT, "8", NULL, RANGE(1, 256), "runtime: Gaussians per particle, on its tangent disc"},
    {"surface_threshold", PL_KT_REAL, "0.9", NULL, PL_KF_POSITIVE, 0, 0,
     "runtime: particles whose normalised density (1 inside a filled lattice) is below this are surface particles (weight 1)"},
    {"surface_band", PL_KT_REAL, "0.15", NULL, PL_KF_POSITIVE, 0, 0,
     "runtime: the surface weight falls smoothly to 0 at surface_threshold + surface_band"},
    {"surface_level", PL_KT_REAL, "0.5", NULL, PL_KF_RANGE | PL_KF_OPEN_LO | PL_KF_OPEN_HI, 0, 1,
     "normalised density of the surface itself (0.5: the boundary of the volume the particles fill)"},
    {"smoothing", PL_KT_REAL, "1.5", NULL, PL_KF_RANGE, 0.5, 4,
     "smoothing length of the density kernel, in particle spacings (cubic B-spline, support twice that)"},
    {"learn_colors", PL_KT_BOOL, "false", NULL, 0, 0, 0, "fit a colour per Gaussian (first-frame appearance fit)"},
    {"learn_opacities", PL_KT_BOOL, "false", NULL, 0, 0, 0, "fit an opacity offset per Gaussian"},
    {"colors_lr", PL_KT_REAL, "0.01", NULL, PL_KF_POSITIVE, 0, 0, "Adam learning rate of the per-Gaussian colours (learn_colors)"},
    {"opacities_lr", PL_KT_REAL, "0.05", NULL, PL_KF_POSITIVE, 0, 0,
     "Adam learning rate of the per-Gaussian opacity logit offsets (learn_opacities)"},
    END};

static const pl_key_spec camera_keys[] = {
    {"eye", PL_KT_VEC3, NULL, NULL, 0, 0, 0, "look-at camera: position (m)"},
    {"target", PL_KT_VEC3, "0.5 0.5 0.5", NULL, 0, 0, 0, "look-at camera: point looked at (m)"},
    {"up", PL_KT_VEC3, "0 1 0", NULL, 0, 0, 0, "look-at camera: up direction"},
    {"fov", PL_KT_REAL, "40", NULL, PL_KF_RANGE | PL_KF_OPEN_LO | PL_KF_OPEN_HI, 0, 180, "vertical field of view (degrees)"},
    {"fx", PL_KT_REAL, NULL, NULL, PL_KF_POSITIVE, 0, 0, "focal length in pixels (instead of fov)"},
    {"fy", PL_KT_REAL, NULL, NULL, PL_KF_POSITIVE, 0, 0, "focal length in pixels (default fx)"},
    {"cx", PL_KT_REAL, NULL, NULL, 0, 0, 0, "principal point x in pixels (default width/2)"},
    {"cy", PL_KT_REAL, NULL, NULL, 0, 0, 0, "principal point y in pixels (default height/2)"},
    {"viewmat", PL_KT_LIST, NULL, NULL, 0, 0, 0,
     "world-to-camera matrix, OpenCV convention, 12 (3x4) or 16 numbers row by row (instead of eye/target)"},
    {"transforms", PL_KT_PATH, NULL, NULL, 0, 0, 0, "NeRF/nerfstudio transforms.json (instead of eye or viewmat)"},
    {"transforms_frame", PL_KT_INT, "0", NULL, PL_KF_NONNEG, 0, 0, "which frame of transforms.json this camera is"},
    {"translation_offset", PL_KT_VEC3, "0 0 0", NULL, PL_KF_LEARNABLE, 0, 0,
     "pose correction: added to the world-to-camera translation, camera axes (m)"},
    {"rotation_offset", PL_KT_VEC3, "0 0 0", NULL, PL_KF_LEARNABLE, 0, 0,
     "pose correction: XYZ Euler angles applied on the camera side of the world-to-camera rotation (degrees)"},
    {"focal_scale", PL_KT_REAL, "1", NULL, PL_KF_POSITIVE | PL_KF_LEARNABLE, 0, 0, "multiplies fx and fy"},
    {"width", PL_KT_INT, NULL, NULL, RANGE(1, 16384), "image width in pixels (default render.width)"},
    {"height", PL_KT_INT, NULL, NULL, RANGE(1, 16384), "image height in pixels (default render.height)"},
    END};

static const pl_key_spec render_keys[] = {
    {"width", PL_KT_INT, "256", NULL, RANGE(1, 16384), "image width in pixels"},
    {"height", PL_KT_INT, "256", NULL, RANGE(1, 16384), "image height in pixels"},
    {"background", PL_KT_VEC3, "1 1 1", NULL, PL_KF_RANGE | PL_KF_BROADCAST | PL_KF_LEARNABLE, 0, 1, "background RGB"},
    {"mode", PL_KT_ENUM, "classic", "classic antialiased", 0, 0, 0, "rasterizer mode"},
    {"frames", PL_KT_STRING, "all", NULL, 0, 0, 0, "frames to write: all, a list (0 5 10) or a range (0:30:5)"},
    {"output", PL_KT_PATH, "out", NULL, 0, 0, 0, "output folder"},
    {"particle_ply", PL_KT_BOOL, "false", NULL, 0, 0, 0, "write particles as PLY per frame"},
    {"gaussian_ply", PL_KT_BOOL, "false", NULL, 0, 0, 0, "write Gaussians as 3DGS PLY per frame"},
    END};

static const pl_key_spec targets_keys[] = {
    {"source", PL_KT_ENUM, "truth", "truth folder pacnerf transforms", 0, 0, 0,
     "truth: render the scene with the [truth] values; folder: PNGs from disk (cameras from COLMAP cameras.txt/images.txt "
     "when the folder has them); pacnerf: a PAC-NeRF capture (all_data.json); transforms: a nerfstudio/instant-ngp "
     "transforms.json (docs/captures.md)"},
    {"folder", PL_KT_PATH, NULL, NULL, 0, 0, 0, "folder with CAMERA/FRAME.png (frame as 4 digits) (source = folder)"},
    {"path", PL_KT_PATH, NULL, NULL, 0, 0, 0, "the capture: its folder or its all_data.json / transforms.json (source = pacnerf, transforms)"},
    {"fps", PL_KT_REAL, NULL, NULL, PL_KF_POSITIVE, 0, 0, "capture frame rate (default sim.fps); capture frame k is simulation frame (k - offset) * sim.fps / fps"},
    {"offset", PL_KT_REAL, "0", NULL, 0, 0, 0, "the capture frame (may be fractional) shown at simulation frame 0"},
    {"holdout", PL_KT_STRING, "", NULL, 0, 0, 0, "cameras kept out of the fit and scored after it (loss, PSNR, mask IoU): names, or empty"},
    {"holdout_frames", PL_KT_STRING, "", NULL, 0, 0, 0, "frames kept out of the fit and scored after it (a frame selection)"},
    {"plate_alpha", PL_KT_ENUM, "none", "none threshold matte", 0, 0, 0,
     "capture images with no mask file and no alpha channel: none: they have no alpha (no mask loss term, no mask "
     "IoU); threshold: alpha 1 where an RGB channel differs from the camera's background plate by more than "
     "plate_threshold; matte: the coverage alpha = (I - B).(F - B) / |F - B|^2 against the plate B and the object's "
     "colour F (the median of the frame's inner pixels), as a rendered alpha is"},
    {"plate_threshold", PL_KT_REAL, "0.1", NULL, RANGE(0, 1), "plate_alpha: the colour difference that counts as the object"},
    {"frames", PL_KT_STRING, "all", NULL, 0, 0, 0, "frames that carry a loss: all, a list or a range"},
    {"cameras", PL_KT_STRING, "all", NULL, 0, 0, 0, "cameras that carry a loss: all or a list of names"},
    {"noise", PL_KT_REAL, "0", NULL, PL_KF_NONNEG, 0, 0, "std. deviation of Gaussian noise added to truth-rendered targets' RGB"},
    {"noise_seed", PL_KT_INT, "1", NULL, PL_KF_NONNEG, 0, 0, "seed of that noise"},
    END};

static const pl_key_spec optimize_keys[] = {
    {"iterations", PL_KT_INT, "100", NULL, RANGE(0, 1000000), "Adam iterations (without [stage] sections; each stage has its own)"},
    {"appearance_iters", PL_KT_INT, "0", NULL, RANGE(0, 100000),
     "before the physics fit: Adam steps of the per-Gaussian colours / opacity offsets (upsample.learn_colors, "
     "learn_opacities) on the first frame's images alone, the material held (0: no such stage; skipped for "
     "shape = gaussians, whose appearance is trained)"},
    {"appearance_mask", PL_KT_ENUM, "auto", "auto on off", 0, 0, 0,
     "the appearance stage learns the colours from the pixels wholly inside the first frame's masks only (the "
     "background around a silhouette says nothing of the object's colour; auto: on with a shape = visual_hull "
     "object, whose masks it uses; on needs one)"},
    {"appearance_hold", PL_KT_BOOL, "false", NULL, 0, 0, 0,
     "after the appearance stage, hold the per-Gaussian colours: the physics fit steps the material only "
     "(PAC-NeRF's two steps; needs appearance_iters > 0)"},
    {"loss", PL_KT_LIST, "l1:1", NULL, 0, 0, 0, "weighted loss terms: l1, l2, dssim, mask, e.g. 'l1:0.8 dssim:0.2 mask:0.1'"},
    {"lr", PL_KT_REAL, "0.05", NULL, PL_KF_RANGE | PL_KF_OPEN_LO, 0, 10, "default learning rate (in each parameter's space)"},
    {"beta1", PL_KT_REAL, "0.9", NULL, PL_KF_RANGE | PL_KF_OPEN_HI, 0, 1, "Adam beta1"},
    {"beta2", PL_KT_REAL, "0.999", NULL, PL_KF_RANGE | PL_KF_OPEN_HI, 0, 1, "Adam beta2"},
    {"clip", PL_KT_REAL, "0", NULL, PL_KF_NONNEG, 0, 0, "clip each parameter's step-space gradient to this norm; 0 = off"},
    {"schedule", PL_KT_ENUM, "constant", "constant cosine exponential", 0, 0, 0, "learning-rate schedule"},
    {"lr_final", PL_KT_REAL, "0.1", NULL, PL_KF_POSITIVE, 0, 0, "final learning rate as a fraction of lr (cosine, exponential)"},
    {"early_stop", PL_KT_REAL, "0", NULL, PL_KF_NONNEG, 0, 0, "stop when the loss improves by less than this fraction over `patience` iterations"},
    {"patience", PL_KT_INT, "10", NULL, RANGE(1, 1000000), "iterations for early_stop"},
    {"checkpoint_every", PL_KT_INT, "0", NULL, PL_KF_NONNEG, 0, 0, "substeps between checkpoints in the backward pass; 0 = one per frame"},
    {"memory_limit_mb", PL_KT_REAL, "4096", NULL, PL_KF_POSITIVE, 0, 0, "bound on the backward pass's checkpoint and segment memory (MiB)"},
    {"output", PL_KT_PATH, "out", NULL, 0, 0, 0, "output folder (CSV, JSON, images)"},
    {"strip_frames", PL_KT_STRING, "auto", NULL, 0, 0, 0, "frames shown in target|rendered|difference strips (auto: first, middle, last)"},
    {"scan", PL_KT_INT, "0", NULL, RANGE(0, 64), "global stage: points per parameter of a coarse scan before Adam (0 = none)"},
    {"scan_levels", PL_KT_INT, "2", NULL, RANGE(1, 8), "scan passes, each zoomed around the best point of the one before"},
    {"scan_range", PL_KT_REAL, "10", NULL, PL_KF_RANGE | PL_KF_OPEN_LO, 1, 1e6, "log-space parameters are scanned over start/R .. start*R (bounded: lo..hi)"},
    {"scan_frames", PL_KT_STRING, "all", NULL, 0, 0, 0, "frames the scan compares (early frames: a cheaper scan)"},
    {"newton", PL_KT_INT, "0", NULL, RANGE(0, 1000), "damped Newton steps after Adam (Hessian from finite differences of the adjoint gradient)"},
    {"uncertainty", PL_KT_BOOL, "true", NULL, 0, 0, 0, "curvature at the fitted point: standard errors, correlations, convergence verdict"},
    {"converge_step", PL_KT_REAL, "0.02", NULL, PL_KF_POSITIVE, 0, 0, "converged when the Newton step is at most this in every step-space value"},
    {"coordinates", PL_KT_ENUM, "plain", "plain valley", 0, 0, 0, "valley: Adam and the scan step well-conditioned coordinates (log P-wave modulus for E with nu; log(yield/sqrt(E)) for yield stress with E)"},
    {"scan_mode", PL_KT_ENUM, "axes", "axes grid", 0, 0, 0, "axes: each value in turn through the best point so far (n x scan points a level); grid: the full product (scan^n)"},
    END};

static const pl_key_spec param_keys[] = {
    {"space", PL_KT_ENUM, "auto", "auto log linear bounded", 0, 0, 0,
     "optimisation space: log for positive quantities, bounded (logit) for nu and angles (auto picks)"},
    {"lr", PL_KT_REAL, NULL, NULL, PL_KF_RANGE | PL_KF_OPEN_LO, 0, 10, "learning rate (default optimize.lr)"},
    {"lo", PL_KT_REAL, NULL, NULL, 0, 0, 0, "lower bound (bounded space)"},
    {"hi", PL_KT_REAL, NULL, NULL, 0, 0, 0, "upper bound (bounded space)"},
    {"init", PL_KT_LIST, NULL, NULL, 0, 0, 0, "starting value (default: the scene's value)"},
    {"stages", PL_KT_LIST, "all", NULL, 0, 0, 0, "stages in which it learns: all or stage names"},
    {"frozen", PL_KT_BOOL, "false", NULL, 0, 0, 0, "declared but held fixed: not stepped, reported as frozen by gradcheck"},
    END};

static const pl_key_spec stage_keys[] = {
    {"iterations", PL_KT_INT, NULL, NULL, PL_KF_REQUIRED | PL_KF_RANGE, 1, 1000000, "iterations of this stage"},
    {"frames", PL_KT_STRING, "all", NULL, 0, 0, 0, "frames simulated and compared in this stage"},
    {"lr_scale", PL_KT_REAL, "1", NULL, PL_KF_RANGE | PL_KF_OPEN_LO, 0, 100, "learning-rate multiplier for this stage"},
    END};

static const pl_section_spec sections[] = {
    {"sim", 0, 0, sim_keys, "simulation box, grid, time stepping, gravity, walls"},
    {"material", 1, 0, material_keys, "a material: constitutive model and parameters"},
    {"object", 1, 0, object_keys, "a body filled with particles"},
    {"collider", 1, 0, collider_keys, "a static or moving obstacle"},
    {"upsample", 0, 0, upsample_keys, "particles -> Gaussians"},
    {"camera", 1, 0, camera_keys, "a pinhole camera"},
    {"render", 0, 0, render_keys, "images and outputs"},
    {"targets", 0, 0, targets_keys, "what the optimiser compares against"},
    {"optimize", 0, 0, optimize_keys, "the fit"},
    {"param", 1, 0, param_keys, "a learnable parameter; the name is its address, e.g. [param material.jelly.E]"},
    {"stage", 1, 0, stage_keys, "an optimisation stage (stages run in file order)"},
    {"truth", 0, 1, NULL, "ground truth: address = value, used to synthesise targets and to score the fit"},
    {NULL, 0, 0, NULL, NULL}};

const pl_schema pl_scene_schema = {sections};
