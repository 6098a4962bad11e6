/* plate_matte.h: an object's coverage of each pixel from the image and a background plate (PAC-NeRF's r_C_-1.png).
 *
 * Thresholded: alpha = 1 where an RGB channel differs from the plate by more than `threshold`, else 0. A pixel
 * covered by a fifth of the object passes, so the silhouette comes out about a third of a pixel wider on every side
 * than its half-covered contour.
 *
 * Matted (Smith & Blinn 1996, "Blue screen matting", the known-background case): for an object of one colour F in
 * front of the plate B the compositing equation I = alpha F + (1 - alpha) B gives, in least squares over the three
 * channels, alpha = (I - B).(F - B) / |F - B|^2, clamped to [0, 1]. F is the per-channel median of the thresholded
 * mask's inner pixels (at least two pixels, 4-neighbour distance, from its edge). Where F is within 2 threshold of
 * the plate (|F - B| < 2 threshold) the equation says nothing and the thresholded value stays. Read at 0.5 the
 * matte gives the half-covered contour, the one a rendered alpha >= 0.5 has. An object of several colours is
 * matted against their median: a part far from it in colour reads as partly covered. */
#ifndef PL_PLATE_MATTE_H
#define PL_PLATE_MATTE_H

#ifdef __cplusplus
extern "C" {
#endif

/* image: w x h pixels of image_channels floats (RGB first); plate: w x h pixels of plate_channels floats (RGB first).
 * alpha: w x h floats out. matte = 0: thresholded; 1: matted. Returns 1 when the matte was made, 0 when alpha holds
 * the thresholded mask (matte = 0, or fewer than 8 inner pixels to take the object's colour from), -1 when out of
 * memory (alpha then holds the thresholded mask). */
int pl_plate_matte(const float *image, int image_channels, const float *plate, int plate_channels, int w, int h,
                   double threshold, int matte, float *alpha);

#ifdef __cplusplus
}
#endif
#endif
