/* render_frame.c: the per-frame PNG hook (see render_frame.h). No rasterizer in this tree yet. */
#include "pipeline/render_frame.h"

pl_status pl_render_frame_png(const pl_scene *s, const mpm_sim *sim, const float *rgb, int frame, const char *outdir,
                              int *written) {
  (void)s, (void)sim, (void)rgb, (void)frame, (void)outdir;
  *written = 0;
  return pl_fail(PL_ERR_UNSUPPORTED, "this build has no rasterizer yet: frames are written as particle PLY files only");
}
