/* capture.h: captured multi-view video as one in-memory list of cameras and frames (the only module that reads
 * camera files and capture images).
 *
 * Readers (each also has a from-memory twin, used by the fuzzers):
 *   PAC-NeRF    FOLDER/all_data.json: a JSON list, one entry per image: "file_path" ("./data/r_C_F.png": camera C,
 *               frame F; F = -1 is camera C's background plate, F = -2 a mask of pixels PAC-NeRF leaves out of
 *               its loss), "c2w" (3x4 or 4x4 camera-to-world, OpenGL camera axes), "intrinsic" (3x3 K in pixels);
 *               the image size comes from the files.
 *   transforms  nerfstudio / instant-ngp transforms.json: "frames" [{file_path, transform_matrix (c2w, OpenGL
 *               axes), optional mask_path, time (s), frame_index, camera / camera_id, per-frame intrinsics}], with
 *               fl_x fl_y cx cy w h camera_model (or camera_angle_x) at the top level or per frame.
 *   COLMAP      cameras.txt (PINHOLE, SIMPLE_PINHOLE; radial models only with zero distortion) and images.txt
 *               (qw qx qy qz tx ty tz: world->camera, OpenCV axes); an image NAME "CAM/0003.png" is camera CAM.
 *
 * Conventions, converted here once: every camera leaves as world->camera with OpenCV axes (+x right, +y down,
 * +z forward). An OpenGL/Blender camera-to-world (x right, y up, z back) becomes OpenCV by negating its y and z
 * columns, then inverting. Intrinsics are pixels with pixel centres at +0.5 (the top-left pixel's centre is
 * (0.5, 0.5)), so resampling an image by s scales fx, fy, cx, cy by s.
 *
 * Errors name the file and the entry (and the key): "all_data.json: entry 7 (./data/r_2_3.png): c2w ...". */
#ifndef PL_CAPTURE_H
#define PL_CAPTURE_H

#include <stddef.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PL_CAPTURE_PATH_MAX 1024
#define PL_CAPTURE_NAME_MAX 64
#define PL_CAPTURE_MAX_SIDE 16384 /* the largest image side accepted (the same bound as [camera] width) */

typedef enum { PL_CAPTURE_PACNERF = 0, PL_CAPTURE_TRANSFORMS, PL_CAPTURE_COLMAP } pl_capture_layout;

typedef struct {
  char name[PL_CAPTURE_NAME_MAX];
  int width, height;             /* the images' size in the files */
  double fx, fy, cx, cy;         /* pixels, at the file size */
  double viewmat[16];            /* world -> camera, OpenCV axes, row-major */
  char background[PL_CAPTURE_PATH_MAX]; /* background plate file, or "" */
  char ignore[PL_CAPTURE_PATH_MAX];     /* PAC-NeRF's frame -2 (pixels left out of the loss), or "" */
} pl_capture_camera;

typedef struct {
  int camera;                    /* index into cameras */
  int index;                     /* frame number in the capture (-1: unknown, see time) */
  double time;                   /* seconds from the capture's start, NAN when not given */
  char image[PL_CAPTURE_PATH_MAX];
  char mask[PL_CAPTURE_PATH_MAX]; /* mask file, or "" (alpha of the image, if any) */
  const char *entry;             /* (internal) */
} pl_capture_frame;

typedef struct {
  char path[PL_CAPTURE_PATH_MAX]; /* the file that was read (errors name it) */
  pl_capture_camera *cameras;
  int ncameras;
  pl_capture_frame *frames;
  int nframes;
} pl_capture;

/* Read a capture. `path` is the folder or the file (all_data.json, transforms.json, the folder holding
 * cameras.txt and images.txt, or its sparse/0). Image sizes missing from the files are read from the images'
 * headers (a missing image is then an error). */
pl_status pl_capture_read(pl_capture *c, pl_capture_layout layout, const char *path);
/* From memory: `name` is the file name used in messages, `dir` the folder image paths are relative to; with
 * probe_images = 0 nothing but the text is read (sizes missing from it are an error). */
pl_status pl_capture_parse_pacnerf(pl_capture *c, const char *text, size_t len, const char *name, const char *dir,
                                   int probe_images);
pl_status pl_capture_parse_transforms(pl_capture *c, const char *text, size_t len, const char *name, const char *dir,
                                      int probe_images);
pl_status pl_capture_parse_colmap(pl_capture *c, const char *cameras_txt, const char *images_txt, const char *model_dir,
                                 const char *image_dir);
void pl_capture_free(pl_capture *c);

int pl_capture_camera_index(const pl_capture *c, const char *name);

/* Write a capture's camera file into `folder`: all_data.json (PAC-NeRF; camera names must be numbers) or
 * transforms.json. Image, mask and background paths in `c` are taken relative to `folder` and written as they
 * are; the images themselves are the caller's. */
pl_status pl_capture_write(const pl_capture *c, pl_capture_layout layout, const char *folder);

/* Intrinsics of camera `cam` at an image size of w x h (scaled from the file's size). */
void pl_capture_scaled_intrinsics(const pl_capture_camera *cam, int w, int h, double *fx, double *fy, double *cx,
                                  double *cy);

/* Convert an OpenGL/Blender camera-to-world (3x4 or 4x4 row-major, rows of 4) into a world->camera OpenCV
 * matrix; returns 0 when the rotation is not orthonormal (1e-4) or an entry is not finite. */
int pl_capture_c2w_gl_to_viewmat(const double c2w[12], double viewmat[16]);
/* Back: the OpenGL camera-to-world (3x4) of an OpenCV world->camera matrix (the capture writer). */
void pl_capture_viewmat_to_c2w_gl(const double viewmat[16], double c2w[12]);

/* An image file (PNG 8/16 bit, JPEG, anything stb_image decodes) to RGBA floats in [0,1]; has_alpha says
 * whether the file had an alpha channel. Sides above PL_CAPTURE_MAX_SIDE are refused before decoding. */
pl_status pl_capture_image_read(const char *path, int *w, int *h, float **rgba, int *has_alpha);
/* Only the size (header). */
pl_status pl_capture_image_size(const char *path, int *w, int *h);

/* Area (box) filter resampling of an image with `ch` interleaved channels from sw x sh to dw x dh: each output
 * pixel is the mean of the input over its footprint, partial pixels weighted by their covered fraction. */
void pl_capture_resample_area(const float *src, int sw, int sh, int ch, float *dst, int dw, int dh);

#ifdef __cplusplus
}
#endif
#endif
