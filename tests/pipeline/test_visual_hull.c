/* test_visual_hull.c: shape = visual_hull's carving (pipeline/scene/visual_hull.c).
 *
 * A sphere (centre c, radius r) seen by 8 cameras on the corners of a cube around it (128 x 128, antialiased
 * masks: each pixel's coverage from 4 x 4 rays):
 *  1. the hull carved at voxel side h keeps every voxel whose centre is inside the sphere;
 *  2. its volume exceeds the exact visual hull of those 8 views by at most 5 %. The exact hull is the intersection
 *     of the 8 silhouette cones (a point X is in view v's cone when the angle between X - eye_v and c - eye_v is at
 *     most asin(r / |c - eye_v|)), its volume counted on a grid 4x finer (h / 4, voxel centres, no pixels);
 *  3. from noisy masks (a hole of radius 4 px punched into each silhouette at a different place, and 0.5 % of the
 *     background pixels set), k = 0 loses sphere voxels (the holes tunnel into it) and k = 1 keeps every one; the
 *     background specks are dropped as components apart from the object;
 *  4. the hull's re-projection against each mask: IoU >= 0.9;
 *  5. particles filled into the hull (mpm, shape = voxels): their volume within 3 % of the hull's;
 *  2b. sub-voxel carving (hull_samples = 3): within 3 % of the exact visual hull, below the conservative hull; an
 *     erosion (hull_erode) removes the shell its geometry predicts and adds nothing.
 *  6. the appearance stage's pixel weights (scene/appearance_mask.h): a camera pixel is 1 exactly when every mask
 *     pixel it covers is inside, at 2x, 1x and a non-integer 5/2 size ratio.
 * Every figure is printed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpm/mpm.h"
#include "pipeline/scene/appearance_mask.h"
#include "pipeline/scene/visual_hull.h"
#include "tests/test_util.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif
#define NV 8
#define W 128
#define H 128

static const double C[3] = {0.5, 0.5, 0.5}, R = 0.2, DIST = 1.5, FOCAL = 330;

/* world -> camera (OpenCV) looking from eye at C, world up +y */
static void look_at(const double eye[3], double M[16]) {
  double f[3], r[3], d[3], up[3] = {0, 1, 0};
  for (int a = 0; a < 3; ++a) f[a] = C[a] - eye[a];
  double n = sqrt(f[0] * f[0] + f[1] * f[1] + f[2] * f[2]);
  for (int a = 0; a < 3; ++a) f[a] /= n;
  r[0] = f[1] * up[2] - f[2] * up[1], r[1] = f[2] * up[0] - f[0] * up[2], r[2] = f[0] * up[1] - f[1] * up[0];
  n = sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]);
  for (int a = 0; a < 3; ++a) r[a] /= n;
  d[0] = f[1] * r[2] - f[2] * r[1], d[1] = f[2] * r[0] - f[0] * r[2], d[2] = f[0] * r[1] - f[1] * r[0]; /* down */
  const double *rows[3] = {r, d, f};
  memset(M, 0, 16 * sizeof(double));
  for (int i = 0; i < 3; ++i) {
    for (int a = 0; a < 3; ++a) M[4 * i + a] = rows[i][a];
    M[4 * i + 3] = -(rows[i][0] * eye[0] + rows[i][1] * eye[1] + rows[i][2] * eye[2]);
  }
  M[15] = 1;
}

/* does the ray eye + t * dir come within R of C? */
static int ray_hits_sphere(const double eye[3], const double dir[3]) {
  double oc[3] = {C[0] - eye[0], C[1] - eye[1], C[2] - eye[2]};
  double dd = dir[0] * dir[0] + dir[1] * dir[1] + dir[2] * dir[2];
  double t = (oc[0] * dir[0] + oc[1] * dir[1] + oc[2] * dir[2]) / dd, q = 0;
  for (int a = 0; a < 3; ++a) {
    double e = oc[a] - t * dir[a];
    q += e * e;
  }
  return t > 0 && q <= R * R;
}

static void make_mask(const double eye[3], const double M[16], float *mask) {
  for (int i = 0; i < H; ++i)
    for (int j = 0; j < W; ++j) {
      int hits = 0;
      for (int si = 0; si < 4; ++si)
        for (int sj = 0; sj < 4; ++sj) {
          double dc[3] = {(j + (sj + 0.5) / 4 - W / 2.0) / FOCAL, (i + (si + 0.5) / 4 - H / 2.0) / FOCAL, 1}, dw[3];
          for (int a = 0; a < 3; ++a) dw[a] = M[a] * dc[0] + M[4 + a] * dc[1] + M[8 + a] * dc[2];
          hits += ray_hits_sphere(eye, dw);
        }
      mask[i * W + j] = hits / 16.0f;
    }
}

static uint64_t splitmix(uint64_t x) { /* a hash for the specks */
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

static int in_sphere(const double X[3]) {
  double q = 0;
  for (int a = 0; a < 3; ++a) q += (X[a] - C[a]) * (X[a] - C[a]);
  return q <= R * R;
}

/* sphere voxels (centre inside) of the grid occ that are not kept */
static long lost_sphere_voxels(const mpm_occupancy *occ, long *total) {
  long lost = 0;
  *total = 0;
  for (int i = 0; i < occ->n[0]; ++i)
    for (int j = 0; j < occ->n[1]; ++j)
      for (int k = 0; k < occ->n[2]; ++k) {
        double X[3] = {occ->origin[0] + (i + 0.5) * occ->h, occ->origin[1] + (j + 0.5) * occ->h,
                       occ->origin[2] + (k + 0.5) * occ->h};
        if (!in_sphere(X)) continue;
        ++*total;
        lost += !mpm_occupancy_at(occ, X);
      }
  return lost;
}

/* 6. pixel weights from a mask */
static void test_pixel_weights(void) {
  /* a 4 x 4 mask: the left 3 columns inside, and pixel (0, 0) outside */
  float m4[16];
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) m4[i * 4 + j] = (j < 3 && !(i == 0 && j == 0)) ? 1.0f : 0.0f;
  pl_hull_view v;
  memset(&v, 0, sizeof v);
  v.width = 4, v.height = 4, v.mask = m4;
  real w2[4];
  int64_t in = 0;
  pl_mask_pixel_weights(&v, 2, 2, w2, &in); /* each camera pixel covers 2 x 2 mask pixels */
  CHECK(in == 1 && w2[0] == 0 && w2[1] == 0 && w2[2] == 1 && w2[3] == 0,
        "2x: only the lower-left camera pixel is wholly inside (%g %g %g %g, %lld)", (double)w2[0], (double)w2[1],
        (double)w2[2], (double)w2[3], (long long)in);
  real w4[16];
  pl_mask_pixel_weights(&v, 4, 4, w4, &in); /* same size: the mask itself */
  int same = in == 11;
  for (int k = 0; k < 16; ++k) same &= w4[k] == (m4[k] >= 0.5f);
  CHECK(same, "1x: the weights are the mask (%lld inside)", (long long)in);
  /* 5 mask columns onto 2 camera columns: camera column 0 covers mask columns 0..2, column 1 covers 2..4 */
  float m5[5] = {1, 1, 1, 1, 0};
  v.width = 5, v.height = 1, v.mask = m5;
  real w1[2];
  pl_mask_pixel_weights(&v, 2, 1, w1, &in);
  CHECK(in == 1 && w1[0] == 1 && w1[1] == 0, "5/2: the overlapped columns decide (%g %g)", (double)w1[0],
        (double)w1[1]);
}

int main(void) {
  test_pixel_weights();
  double eyes[NV][3], M[NV][16];
  float *masks[NV], *noisy[NV];
  pl_hull_view views[NV], nviews[NV];
  int v = 0;
  for (int sx = -1; sx <= 1; sx += 2)
    for (int sy = -1; sy <= 1; sy += 2)
      for (int sz = -1; sz <= 1; sz += 2, ++v) {
        double dir[3] = {sx / sqrt(3.0), sy / sqrt(3.0), sz / sqrt(3.0)};
        for (int a = 0; a < 3; ++a) eyes[v][a] = C[a] + DIST * dir[a];
        look_at(eyes[v], M[v]);
        masks[v] = (float *)malloc(sizeof(float) * W * H);
        noisy[v] = (float *)malloc(sizeof(float) * W * H);
        make_mask(eyes[v], M[v], masks[v]);
        memset(&views[v], 0, sizeof views[v]);
        views[v].name = "cam";
        views[v].width = W, views[v].height = H;
        views[v].fx = views[v].fy = FOCAL, views[v].cx = W / 2.0, views[v].cy = H / 2.0;
        memcpy(views[v].viewmat, M[v], sizeof M[v]);
        views[v].mask = masks[v];
      }
  const double h = 0.01;
  pl_hull_desc d;
  memset(&d, 0, sizeof d);
  d.views = views, d.nviews = NV, d.h = h, d.label = "sphere";
  for (int a = 0; a < 3; ++a) d.box_min[a] = 0.2, d.box_max[a] = 0.8;
  mpm_occupancy occ;
  pl_hull_info info;
  CHECK(pl_visual_hull_carve(&d, &occ, &info) == PL_OK, "carve: %s", pl_last_error());

  /* 1. every sphere voxel kept */
  long total = 0, lost = lost_sphere_voxels(&occ, &total);
  printf("hull (8 views, %dx%d, h = %g m, k = 0): %lld voxels kept of %lld (%d components); sphere voxels %ld, lost %ld\n",
         W, H, h, (long long)info.kept, (long long)info.voxels, info.components, total, lost);
  CHECK(lost == 0, "%ld of the sphere's %ld voxels are carved away", lost, total);

  /* 2. volume against the exact visual hull of the 8 views (analytic cones, counted on a grid of h / 4) */
  double hf = h / 4, vh = 0, cosmax[NV];
  for (v = 0; v < NV; ++v) cosmax[v] = cos(asin(R / DIST));
  int nf = (int)lround(0.6 / hf);
  for (int i = 0; i < nf; ++i)
    for (int j = 0; j < nf; ++j)
      for (int k = 0; k < nf; ++k) {
        double X[3] = {0.2 + (i + 0.5) * hf, 0.2 + (j + 0.5) * hf, 0.2 + (k + 0.5) * hf};
        int in = 1;
        for (v = 0; v < NV && in; ++v) {
          double a[3], b[3], na = 0, nb = 0, ab = 0;
          for (int q = 0; q < 3; ++q) a[q] = X[q] - eyes[v][q], b[q] = C[q] - eyes[v][q];
          for (int q = 0; q < 3; ++q) na += a[q] * a[q], nb += b[q] * b[q], ab += a[q] * b[q];
          in = ab >= cosmax[v] * sqrt(na * nb);
        }
        vh += in;
      }
  vh *= hf * hf * hf;
  double vs = 4.0 / 3.0 * M_PI * R * R * R;
  printf("volume: hull %.6g m^3, exact visual hull of the 8 views %.6g m^3 (hull %+.2f %%), sphere %.6g m^3 (exact "
         "visual hull %+.2f %%, hull %+.2f %%)\n", info.volume, vh, 100 * (info.volume / vh - 1), vs,
         100 * (vh / vs - 1), 100 * (info.volume / vs - 1));
  CHECK(info.volume <= 1.05 * vh, "hull volume %.6g exceeds the exact visual hull's %.6g by more than 5 %%", info.volume, vh);
  CHECK(vh >= vs, "the exact visual hull %.6g is smaller than the sphere %.6g", vh, vs);

  /* 2b. sub-voxel carving (27 points per voxel on the bilinear masks, kept at half): no margin, so the volume is the
   * exact visual hull's to within the voxel rounding (3 %), below the conservative one's; then an erosion by e = 2
   * voxels: a convex hull eroded by the octahedron of the six axis points (+-e) loses a shell of thickness between
   * e / sqrt(3) and e, i.e. between A e / sqrt(3) and A e of volume (A >= the area of a ball of the same volume),
   * and keeps nothing the plain sub-voxel hull does not */
  {
    pl_hull_desc ds = d;
    ds.samples = 3;
    mpm_occupancy os, oe;
    pl_hull_info is, ie;
    CHECK(pl_visual_hull_carve(&ds, &os, &is) == PL_OK, "sub-voxel carve: %s", pl_last_error());
    const double e = 2 * h;
    ds.erode = e;
    CHECK(pl_visual_hull_carve(&ds, &oe, &ie) == PL_OK, "eroded carve: %s", pl_last_error());
    double area = 4 * M_PI * pow(3 * vh / (4 * M_PI), 2.0 / 3.0), lo = is.volume - area * e, hi = is.volume - area * e / sqrt(3.0);
    long extra = 0;
    for (int64_t q = 0; q < (int64_t)oe.n[0] * oe.n[1] * oe.n[2]; ++q) extra += oe.inside[q] && !os.inside[q];
    printf("sub-voxel (27 points per voxel): volume %.6g m^3 (exact visual hull %+.2f %%; conservative %+.2f %%); eroded "
           "by %g m: %.6g m^3 (expected %.6g..%.6g), %ld voxels outside the plain sub-voxel hull\n", is.volume,
           100 * (is.volume / vh - 1), 100 * (info.volume / vh - 1), e, ie.volume, lo, hi, extra);
    CHECK(fabs(is.volume / vh - 1) <= 0.03, "sub-voxel hull %.6g against the exact %.6g: more than 3 %%", is.volume, vh);
    CHECK(is.volume < info.volume, "the sub-voxel hull %.6g is not below the conservative one %.6g", is.volume, info.volume);
    CHECK(ie.volume >= 0.98 * lo && ie.volume <= 1.02 * hi, "eroded volume %.6g outside %.6g..%.6g", ie.volume, lo, hi);
    CHECK(extra == 0, "the eroded hull keeps %ld voxels the plain one does not", extra);
    mpm_occupancy_free(&os);
    mpm_occupancy_free(&oe);
    ds.erode = -1;
    CHECK(pl_visual_hull_carve(&ds, &oe, &ie) != PL_OK, "a negative erosion accepted");
    ds.erode = 0, ds.samples = 9;
    CHECK(pl_visual_hull_carve(&ds, &oe, &ie) != PL_OK, "hull_samples = 9 accepted");
  }

  /* 4. re-projection IoU */
  double iou_min = 1;
  printf("IoU per camera:");
  for (v = 0; v < NV; ++v) {
    double iou = 0;
    CHECK(pl_visual_hull_silhouette(&occ, &views[v], NULL, &iou) == PL_OK, "silhouette: %s", pl_last_error());
    printf(" %.4f", iou);
    iou_min = fmin(iou_min, iou);
  }
  printf("\n");
  CHECK(iou_min >= 0.9, "IoU %.4f < 0.9", iou_min);

  /* 5. particles in the hull */
  mpm_material mat;
  memset(&mat, 0, sizeof mat);
  mat.E = 1e4, mat.nu = 0.3, mat.density = 1000;
  mpm_desc md;
  memset(&md, 0, sizeof md);
  for (int k = 0; k < 3; ++k) md.domain_max[k] = 1;
  md.grid = 50; /* dx = 0.02: 8 particles per cell at spacing h */
  md.materials = &mat, md.nmaterials = 1;
  mpm_object o;
  memset(&o, 0, sizeof o);
  o.name = "hull", o.shape = MPM_SHAPE_VOXELS, o.particles_per_cell = 8, o.voxels = &occ;
  mpm_particles p;
  CHECK(mpm_sample_objects(&md, &o, 1, &p) == PL_OK, "sampling: %s", pl_last_error());
  double pvol = (double)p.n * pow(1.0 / 50, 3) / 8;
  printf("particles: %lld, volume %.6g m^3 (hull %+.2f %%)\n", (long long)p.n, pvol, 100 * (pvol / info.volume - 1));
  CHECK(fabs(pvol / info.volume - 1) < 0.03, "particle volume %.6g against the hull's %.6g", pvol, info.volume);
  mpm_particles_free(&p);
  mpm_occupancy_free(&occ);

  /* 3. noisy masks: a hole in each silhouette, specks in the background. The holes' tunnels through the sphere are
   * kept apart (inside the sphere, their axes at least 2.5 hole radii apart at the far side's depth), so no point of the sphere is
   * in two holes: one tolerated miss must then keep the whole sphere. */
  long specks = 0;
  const double hole = 4; /* px */
  double axis_o[NV][3], axis_d[NV][3];
  for (v = 0; v < NV; ++v) {
    memcpy(noisy[v], masks[v], sizeof(float) * W * H);
    double hc[2] = {0, 0};
    for (int cand = 0; cand < 1000; ++cand) { /* golden-angle spiral of candidate centres inside the silhouette */
      double ang = 2.39996 * (cand + 3 * v), rr = (0.15 + 0.5 * fmod(0.37 * (cand + v), 1.0)) * FOCAL * tan(asin(R / DIST));
      hc[0] = W / 2.0 + rr * cos(ang), hc[1] = H / 2.0 + rr * sin(ang);
      double dc[3] = {(hc[0] - W / 2.0) / FOCAL, (hc[1] - H / 2.0) / FOCAL, 1};
      for (int a = 0; a < 3; ++a) {
        axis_o[v][a] = eyes[v][a];
        axis_d[v][a] = M[v][a] * dc[0] + M[v][4 + a] * dc[1] + M[v][8 + a] * dc[2];
      }
      int apart = 1;
      for (int u = 0; u < v && apart; ++u) /* axis v's points inside the ball: their distance to axis u */
        for (int q = 0; q <= 400 && apart; ++q) {
          double P[3], t = DIST - R + 2 * R * q / 400.0, nd = 0;
          for (int a = 0; a < 3; ++a) nd += axis_d[v][a] * axis_d[v][a];
          for (int a = 0; a < 3; ++a) P[a] = axis_o[v][a] + t * axis_d[v][a] / sqrt(nd);
          if (!in_sphere(P)) continue;
          double w[3], nu = 0, wu = 0, ww = 0;
          for (int a = 0; a < 3; ++a) w[a] = P[a] - axis_o[u][a], nu += axis_d[u][a] * axis_d[u][a];
          for (int a = 0; a < 3; ++a) wu += w[a] * axis_d[u][a], ww += w[a] * w[a];
          apart = sqrt(fmax(ww - wu * wu / nu, 0)) > 2.5 * hole * (DIST + R) / FOCAL;
        }
      if (apart) break;
    }
    for (int i = 0; i < H; ++i)
      for (int j = 0; j < W; ++j) {
        double dx = j + 0.5 - hc[0], dy = i + 0.5 - hc[1];
        if (dx * dx + dy * dy <= hole * hole) noisy[v][i * W + j] = 0;
        uint64_t z = splitmix(((uint64_t)v << 32) | (uint64_t)(i * W + j));
        if (masks[v][i * W + j] == 0 && (z % 1000) < 5) noisy[v][i * W + j] = 1, ++specks;
      }
    nviews[v] = views[v];
    nviews[v].mask = noisy[v];
  }
  d.views = nviews;
  for (int k = 0; k <= 1; ++k) {
    d.misses = k;
    CHECK(pl_visual_hull_carve(&d, &occ, &info) == PL_OK, "carve (noisy, k = %d): %s", k, pl_last_error());
    lost = lost_sphere_voxels(&occ, &total);
    printf("noisy masks (a hole of 4 px radius per view, %ld background specks), k = %d: %lld voxels kept (%d components, "
           "%lld carved outside the largest), volume %.6g m^3 (exact visual hull %+.2f %%), sphere voxels lost %ld of %ld\n",
           specks, k, (long long)info.kept, info.components, (long long)(info.carved_in - info.kept), info.volume,
           100 * (info.volume / vh - 1), lost, total);
    if (k == 0) CHECK(lost > 0, "the holes should carve into the sphere at k = 0 (the noise is too weak to test k)");
    else CHECK(lost == 0, "k = 1: %ld sphere voxels lost", lost);
    mpm_occupancy_free(&occ);
  }

  /* a box that is not a whole number of voxels: only whole voxels, none past box_max (the particles filled into a
   * voxel must stay in the box: hull_max is the simulation box less its wall band) */
  {
    pl_hull_desc db = d;
    db.misses = 0;
    for (int a = 0; a < 3; ++a) db.box_max[a] = d.box_min[a] + 10.6 * d.h;
    CHECK(pl_visual_hull_carve(&db, &occ, &info) == PL_OK, "carve (box of 10.6 voxels): %s", pl_last_error());
    int inside = 1;
    for (int a = 0; a < 3; ++a)
      inside = inside && occ.n[a] == 10 && occ.origin[a] + occ.n[a] * occ.h <= db.box_max[a] + 1e-12;
    CHECK(inside, "a box of 10.6 voxels gave %d x %d x %d voxels, reaching past box_max", occ.n[0], occ.n[1], occ.n[2]);
    mpm_occupancy_free(&occ);
    db.box_max[1] = db.box_min[1] + 0.5 * d.h;
    CHECK(pl_visual_hull_carve(&db, &occ, &info) != PL_OK, "a box thinner than one voxel accepted");
  }

  /* errors: k out of range, an empty box */
  d.misses = NV;
  CHECK(pl_visual_hull_carve(&d, &occ, &info) != PL_OK, "k = number of views accepted");
  d.misses = 0;
  d.box_max[0] = d.box_min[0];
  CHECK(pl_visual_hull_carve(&d, &occ, &info) != PL_OK, "an empty box accepted");
  for (v = 0; v < NV; ++v) free(masks[v]), free(noisy[v]);
  return test_summary("test_visual_hull");
}
