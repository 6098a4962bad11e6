/* scene_build.h: the scene's section builders (one per section, scene_build_*.c) and the helpers they share
 * (scene.c). Internal to the scene loader: pl_scene_from_config runs the builders in this order. */
#ifndef PL_SCENE_BUILD_H
#define PL_SCENE_BUILD_H

#include "pipeline/scene/scene.h"

/* An enum key's value as the index of its choice in the schema's list. */
pl_status pl_scene_get_enum(const pl_config *c, const char *type, const char *name, const char *key, int *out);
/* An int key into an int. */
pl_status pl_scene_get_int(const pl_config *c, const char *type, const char *name, const char *key, int *out);
/* "FILE:LINE: key" of a key, for error messages (a thread-local buffer, valid until the next call). */
const char *pl_scene_where(const pl_config *c, const char *type, const char *name, const char *key);
/* Check a frame selection (pl_frame_selection) of nframes frames. */
pl_status pl_scene_check_frames(const char *text, int nframes);
/* A section name into a PL_NAME_MAX field. */
void pl_scene_copy_name(char *dst, const char *src);

/* Each fills its part of s from s->config; errors name the file, line and key. */
pl_status pl_scene_build_sim(pl_scene *s);       /* [sim] (scene_build_world.c) */
pl_status pl_scene_build_materials(pl_scene *s); /* [material NAME] */
pl_status pl_scene_build_objects(pl_scene *s);   /* [object NAME] (needs the materials) */
pl_status pl_scene_build_colliders(pl_scene *s); /* [collider NAME] */
pl_status pl_scene_build_upsample(pl_scene *s);  /* [upsample] (scene_build_view.c) */
pl_status pl_scene_build_render(pl_scene *s);    /* [render] (needs sim.frames) */
pl_status pl_scene_build_cameras(pl_scene *s);   /* [camera NAME] (needs [render]) */
pl_status pl_scene_build_targets(pl_scene *s);   /* [targets] (scene_build_fit.c; needs the cameras) */
pl_status pl_scene_build_optimize(pl_scene *s);  /* [optimize] */
pl_status pl_scene_build_stages(pl_scene *s);    /* [stage NAME] */
pl_status pl_scene_build_params(pl_scene *s);    /* [param ADDRESS] (needs everything before) */
pl_status pl_scene_build_truth(pl_scene *s);     /* [truth] */

#endif
