/* hull_object.h: shape = visual_hull, an object carved from the first frame of the scene's capture
 * (visual_hull.h does the carving; this file reads the scene's keys, the capture's first-frame masks and reports).
 *
 * The masks: for each camera of the capture (held-out cameras excepted), the image that falls on simulation frame 0
 * (capture_scene.h's timing). Its mask is the frame's mask file, else the image's alpha channel, else background
 * subtraction against the camera's background plate (PAC-NeRF's r_C_-1.png): the object is where an RGB channel
 * differs from the plate by more than hull_threshold. Masks are used at the images' own size with the capture's
 * intrinsics.
 *
 * The carved box is sim.domain_min..max (or hull_min..hull_max), the voxel side the particle spacing
 * (sim.dx / cbrt(particles_per_cell)); hull_misses tolerated misses. The object's centre becomes the hull's
 * centroid (the axis of angular_velocity). The log gets the hull's volume and its mask IoU per camera. */
#ifndef PL_HULL_OBJECT_H
#define PL_HULL_OBJECT_H

#include "core/status.h"
#include "mpm/mpm_splat_fill.h"
#include "pipeline/scene/scene.h"
#include "pipeline/scene/visual_hull.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Carve every shape = visual_hull object of s (called once the capture's cameras are in the scene). Hull keys on
 * another shape, a visual_hull without a capture, a placement key (center, rotation, scale) on a visual_hull: errors
 * naming the key. */
pl_status pl_scene_carve_hulls(pl_scene *s);

/* FOLDER/hull_OBJECT_CAMERA.png for each visual_hull object and camera: the overlay above. */
pl_status pl_scene_write_hull_images(const pl_scene *s, const char *folder);

#ifdef __cplusplus
}
#endif
#endif
