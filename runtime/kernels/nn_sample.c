/* RoiAlign and GridSample: bilinear (and bicubic / nearest) sampling of (N, C, H, W)
 * images at fractional positions. f32 and f64; arithmetic in double. */
#include <math.h>
#include <string.h>

#include "isa/infer_nn.h"
#include "runtime/rt.h"

static double ld(int dt, const void *p, int64_t i) {
  return dt == IVM_DT_F32 ? (double)((const float *)p)[i] : ((const double *)p)[i];
}

static void st(int dt, void *p, int64_t i, double v) {
  if (dt == IVM_DT_F32) ((float *)p)[i] = (float)v;
  else ((double *)p)[i] = v;
}

/* ---- RoiAlign --------------------------------------------------------------------------
 * As ONNX's reference (and onnxruntime): each output bin averages (or, in max mode, takes
 * the largest weighted corner of) grid_h x grid_w bilinear samples. */
typedef struct sample {
  int64_t o1, o2, o3, o4; /* offsets in the plane */
  double w1, w2, w3, w4;
} sample;

static void bilinear_sample(double y, double x, int64_t H, int64_t W, sample *s) {
  memset(s, 0, sizeof *s);
  if (y < -1.0 || y > (double)H || x < -1.0 || x > (double)W) return;
  if (y <= 0) y = 0;
  if (x <= 0) x = 0;
  int64_t yl = (int64_t)y, xl = (int64_t)x, yh, xh;
  if (yl >= H - 1) {
    yh = yl = H - 1;
    y = (double)yl;
  } else {
    yh = yl + 1;
  }
  if (xl >= W - 1) {
    xh = xl = W - 1;
    x = (double)xl;
  } else {
    xh = xl + 1;
  }
  double ly = y - (double)yl, lx = x - (double)xl, hy = 1 - ly, hx = 1 - lx;
  s->o1 = yl * W + xl;
  s->o2 = yl * W + xh;
  s->o3 = yh * W + xl;
  s->o4 = yh * W + xh;
  s->w1 = hy * hx;
  s->w2 = hy * lx;
  s->w3 = ly * hx;
  s->w4 = ly * lx;
}

ivm_status rt_k_RoiAlign(const rt_call *call) {
  const rt_tensor *x = call->in[0], *rois = call->in[1], *bi = call->in[2];
  rt_tensor *y = call->out[0];
  const isa_attr *at = call->attrs;
  if (x->rank != 4 || rois->rank != 2 || rois->dims[1] != 4 || bi->rank != 1 || y->rank != 4)
    return ivm_error(IVM_ERR_RUNTIME, "RoiAlign: bad operand shapes");
  int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3], R = rois->dims[0];
  int64_t PH = at[ISA_A_RoiAlign_output_height].v.i, PW = at[ISA_A_RoiAlign_output_width].v.i;
  if (bi->dims[0] != R || y->dims[0] != R || y->dims[1] != C || y->dims[2] != PH ||
      y->dims[3] != PW)
    return ivm_error(IVM_ERR_RUNTIME, "RoiAlign: output shape mismatch");
  int half_pixel = strcmp(at[ISA_A_RoiAlign_coordinate_transformation_mode].v.s, "half_pixel") == 0;
  int is_max = strcmp(at[ISA_A_RoiAlign_mode].v.s, "max") == 0;
  int64_t sr = at[ISA_A_RoiAlign_sampling_ratio].v.i;
  double scale = at[ISA_A_RoiAlign_spatial_scale].v.f, off = half_pixel ? 0.5 : 0.0;
  int dt = x->dtype;
  const int64_t *B = bi->data;
  for (int64_t r = 0; r < R; r++) {
    if (B[r] < 0 || B[r] >= N)
      return ivm_error(IVM_ERR_RUNTIME, "RoiAlign: batch index %lld out of range", (long long)B[r]);
    double x0 = ld(dt, rois->data, r * 4 + 0) * scale - off;
    double y0 = ld(dt, rois->data, r * 4 + 1) * scale - off;
    double x1 = ld(dt, rois->data, r * 4 + 2) * scale - off;
    double y1 = ld(dt, rois->data, r * 4 + 3) * scale - off;
    if (!isfinite(x0) || !isfinite(y0) || !isfinite(x1) || !isfinite(y1))
      return ivm_error(IVM_ERR_RUNTIME, "RoiAlign: roi %lld is not finite", (long long)r);
    double rw = x1 - x0, rh = y1 - y0;
    if (!half_pixel) {
      if (rw < 1) rw = 1;
      if (rh < 1) rh = 1;
    }
    double bh = rh / (double)PH, bw = rw / (double)PW;
    double gh_d = sr > 0 ? (double)sr : ceil(rh / (double)PH);
    double gw_d = sr > 0 ? (double)sr : ceil(rw / (double)PW);
    if (!(gh_d >= 0) || !(gw_d >= 0) || gh_d * gw_d > (double)(1 << 24))
      return ivm_error(IVM_ERR_RUNTIME, "RoiAlign: roi %lld needs too many samples", (long long)r);
    int64_t gh = (int64_t)gh_d, gw = (int64_t)gw_d;
    double count = gh * gw > 1 ? (double)(gh * gw) : 1.0;
    for (int64_t c = 0; c < C; c++) {
      int64_t plane = (B[r] * C + c) * H * W;
      for (int64_t ph = 0; ph < PH; ph++)
        for (int64_t pw = 0; pw < PW; pw++) {
          double acc = 0;
          int first = 1;
          for (int64_t iy = 0; iy < gh; iy++) {
            double yy = y0 + (double)ph * bh + ((double)iy + 0.5) * bh / (double)gh;
            for (int64_t ix = 0; ix < gw; ix++) {
              double xx = x0 + (double)pw * bw + ((double)ix + 0.5) * bw / (double)gw;
              sample s;
              bilinear_sample(yy, xx, H, W, &s);
              double v1 = ld(dt, x->data, plane + s.o1), v2 = ld(dt, x->data, plane + s.o2);
              double v3 = ld(dt, x->data, plane + s.o3), v4 = ld(dt, x->data, plane + s.o4);
              if (is_max) {
                double m = fmax(fmax(s.w1 * v1, s.w2 * v2), fmax(s.w3 * v3, s.w4 * v4));
                acc = first ? m : fmax(acc, m);
                first = 0;
              } else {
                acc += s.w1 * v1 + s.w2 * v2 + s.w3 * v3 + s.w4 * v4;
              }
            }
          }
          st(dt, y->data, ((r * C + c) * PH + ph) * PW + pw, is_max ? acc : acc / count);
        }
    }
  }
  return NULL;
}

/* ---- GridSample ------------------------------------------------------------------------
 * PyTorch's grid_sampler_2d: grid (x, y) in [-1, 1] is unnormalised to pixel coordinates;
 * border / reflection padding moves the coordinate (bilinear, nearest) or each bicubic
 * tap into the image; zeros padding reads 0 outside. */
static double unnormalize(double v, int64_t size, int align) {
  return align ? (v + 1) / 2 * (double)(size - 1) : ((v + 1) * (double)size - 1) / 2;
}

static double reflect(double v, double twice_lo, double twice_hi) {
  if (twice_lo == twice_hi) return 0;
  double mn = twice_lo / 2, span = (twice_hi - twice_lo) / 2;
  v = fabs(v - mn);
  double extra = fmod(v, span);
  double flips = floor(v / span);
  return fmod(flips, 2.0) == 0 ? extra + mn : span - extra + mn;
}

static double clip(double v, double hi) { return v < 0 ? 0 : v > hi ? hi : v; }

static double compute_coord(double v, int64_t size, int pad, int align) {
  if (pad == 1) return clip(v, (double)(size - 1));
  if (pad == 2) {
    v = align ? reflect(v, 0, 2.0 * (double)(size - 1)) : reflect(v, -1, 2.0 * (double)size - 1);
    return clip(v, (double)(size - 1));
  }
  return v;
}

/* Pixel (iy, ix) of a plane, 0 outside. Coordinates are finite and clamped to a range
 * that fits int64. */
static double pix(int dt, const void *plane, double fy, double fx, int64_t H, int64_t W) {
  if (!(fy >= 0) || !(fx >= 0) || fy >= (double)H || fx >= (double)W) return 0;
  int64_t iy = (int64_t)fy, ix = (int64_t)fx;
  return ld(dt, plane, iy * W + ix);
}

static void cubic_coeffs(double t, double *c) {
  const double A = -0.75;
  double x0 = t + 1, x1 = t, x2 = 1 - t, x3 = 2 - t;
  c[0] = ((A * x0 - 5 * A) * x0 + 8 * A) * x0 - 4 * A;
  c[1] = ((A + 2) * x1 - (A + 3)) * x1 * x1 + 1;
  c[2] = ((A + 2) * x2 - (A + 3)) * x2 * x2 + 1;
  c[3] = ((A * x3 - 5 * A) * x3 + 8 * A) * x3 - 4 * A;
}

ivm_status rt_k_GridSample(const rt_call *call) {
  const rt_tensor *x = call->in[0], *g = call->in[1];
  rt_tensor *y = call->out[0];
  const isa_attr *at = call->attrs;
  if (x->rank != 4 || g->rank != 4 || g->dims[3] != 2 || y->rank != 4)
    return ivm_error(IVM_ERR_RUNTIME, "GridSample: bad operand shapes");
  int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
  int64_t Ho = g->dims[1], Wo = g->dims[2];
  if (g->dims[0] != N || y->dims[0] != N || y->dims[1] != C || y->dims[2] != Ho || y->dims[3] != Wo)
    return ivm_error(IVM_ERR_RUNTIME, "GridSample: output shape mismatch");
  int mode = isa_nn_gridsample_mode(&at[ISA_A_GridSample_mode]);
  int pad = isa_nn_gridsample_padding(&at[ISA_A_GridSample_padding_mode]);
  int align = at[ISA_A_GridSample_align_corners].v.i != 0;
  if (mode < 0 || pad < 0) return ivm_error(IVM_ERR_RUNTIME, "GridSample: bad mode");
  int dt = x->dtype;
  const double LIM = 1e15; /* keeps coordinates convertible to int64 */
  for (int64_t n = 0; n < N; n++)
    for (int64_t oy = 0; oy < Ho; oy++)
      for (int64_t ox = 0; ox < Wo; ox++) {
        int64_t gi = ((n * Ho + oy) * Wo + ox) * 2;
        double gx = ld(dt, g->data, gi), gy = ld(dt, g->data, gi + 1);
        double fx = unnormalize(gx, W, align), fy = unnormalize(gy, H, align);
        if (!(fabs(fx) < LIM)) fx = fx != fx ? -LIM : (fx > 0 ? LIM : -LIM);
        if (!(fabs(fy) < LIM)) fy = fy != fy ? -LIM : (fy > 0 ? LIM : -LIM);
        for (int64_t c = 0; c < C; c++) {
          const void *plane = (const char *)x->data +
                              (size_t)((n * C + c) * H * W) * ivm_dtype_size((ivm_dtype)dt);
          double v = 0;
          if (mode == 2) { /* bicubic */
            double x0 = floor(fx), y0 = floor(fy), cx[4], cy[4];
            cubic_coeffs(fx - x0, cx);
            cubic_coeffs(fy - y0, cy);
            for (int i = 0; i < 4; i++) {
              double row = 0;
              double ty = compute_coord(y0 - 1 + i, H, pad, align);
              for (int j = 0; j < 4; j++) {
                double tx = compute_coord(x0 - 1 + j, W, pad, align);
                row += cx[j] * pix(dt, plane, ty, tx, H, W);
              }
              v += cy[i] * row;
            }
          } else {
            double ix = compute_coord(fx, W, pad, align), iy = compute_coord(fy, H, pad, align);
            if (mode == 1) {
              v = pix(dt, plane, nearbyint(iy), nearbyint(ix), H, W);
            } else {
              double x0 = floor(ix), y0 = floor(iy), lx = ix - x0, ly = iy - y0;
              v = (1 - ly) * ((1 - lx) * pix(dt, plane, y0, x0, H, W) + lx * pix(dt, plane, y0, x0 + 1, H, W)) +
                  ly * ((1 - lx) * pix(dt, plane, y0 + 1, x0, H, W) + lx * pix(dt, plane, y0 + 1, x0 + 1, H, W));
            }
          }
          st(dt, y->data, ((n * C + c) * Ho + oy) * Wo + ox, v);
        }
      }
  return NULL;
}
