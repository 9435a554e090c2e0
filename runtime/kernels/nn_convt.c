/* ConvTranspose (1-D/2-D/3-D and up): per image and group, one matrix product
 * col = W_g^T (Mg*k x Cg) @ X_g (Cg x in) and a col2im scatter-add of col into Y, which
 * starts as the bias. Geometry (pads from output_shape / auto_pad, output sizes) comes
 * from isa_nn_convt_resolve, the function inference uses. f64 is a plain loop; f32 runs
 * the product in panels across the pool (gemm_par.h) and the scatter by output channel,
 * so every element is computed the same way on any number of threads; a 2-D kernel as
 * large as its stride (the 2x2/2 upsampling of segmentation heads) scatters without
 * overlap, whole output rows at a time. */
#include <string.h>

#include "isa/infer_nn.h"
#include "runtime/kernels/gemm.h"
#include "runtime/kernels/gemm_par.h"

typedef struct convt_plan {
  isa_nn_convt g;
  int64_t N, C, M, G, Cg, Mg;
  int64_t in_sz, out_sz, k_sz;
} convt_plan;

static ivm_status make_plan(const rt_call *call, convt_plan *p) {
  const rt_tensor *x = call->in[0], *w = call->in[1], *y = call->out[0];
  int n = x->rank - 2;
  if (n < 1 || w->rank != x->rank || y->rank != x->rank)
    return ivm_error(IVM_ERR_RUNTIME, "ConvTranspose: bad operand ranks");
  IVM_TRY(isa_nn_convt_resolve(n, x->dims + 2, w->dims + 2, call->attrs, &p->g));
  p->N = x->dims[0];
  p->C = x->dims[1];
  p->G = call->attrs[ISA_A_ConvTranspose_group].v.i;
  if (p->G < 1 || p->C % p->G || w->dims[0] != p->C)
    return ivm_error(IVM_ERR_RUNTIME, "ConvTranspose: channels do not match group");
  p->Cg = p->C / p->G;
  p->Mg = w->dims[1];
  p->M = p->Mg * p->G;
  if (y->dims[0] != p->N || y->dims[1] != p->M)
    return ivm_error(IVM_ERR_RUNTIME, "ConvTranspose: output shape mismatch");
  p->in_sz = p->out_sz = p->k_sz = 1;
  for (int i = 0; i < n; i++) {
    if (y->dims[2 + i] != p->g.out[i])
      return ivm_error(IVM_ERR_RUNTIME, "ConvTranspose: output shape mismatch");
    p->in_sz *= p->g.in[i];
    p->out_sz *= p->g.out[i];
    p->k_sz *= p->g.kernel[i];
  }
  const rt_tensor *b = call->n_in > 2 ? call->in[2] : NULL;
  if (b && (b->rank != 1 || b->dims[0] != p->M))
    return ivm_error(IVM_ERR_RUNTIME, "ConvTranspose: bias length mismatch");
  return NULL;
}

/* col holds, per row (m, k...), one value per input position; each lands at output
 * position x*stride + k*dilation - pad_begin when that is inside the output. Channels
 * [m0, m1) of the group. */
#define COL2IM(T)                                                                           \
  static void col2im_##T(const convt_plan *p, const T *col, T *y, int64_t m0, int64_t m1) { \
    const isa_nn_convt *g = &p->g;                                                         \
    int n = g->n, last = n - 1;                                                            \
    int64_t in_last = g->in[last], out_last = g->out[last], s_last = g->stride[last];     \
    int64_t outer_in = in_last ? p->in_sz / in_last : 0;                                   \
    const T *src = col + m0 * p->k_sz * p->in_sz;                                          \
    for (int64_t m = m0; m < m1; m++) {                                                    \
      T *ym = y + m * p->out_sz;                                                           \
      int64_t k[ISA_MAX_RANK] = {0};                                                       \
      for (int64_t kk = 0; kk < p->k_sz; kk++) {                                           \
        int64_t off = k[last] * g->dilation[last] - g->pad_begin[last];                    \
        /* valid x in [lo, hi): 0 <= x*s + off < out_last */                               \
        int64_t lo = off >= 0 ? 0 : (-off + s_last - 1) / s_last;                          \
        int64_t hi = out_last - off <= 0 ? 0 : (out_last - off + s_last - 1) / s_last;     \
        if (lo > in_last) lo = in_last;                                                    \
        if (hi > in_last) hi = in_last;                                                    \
        int64_t xi[ISA_MAX_RANK] = {0};                                                    \
        for (int64_t t = 0; t < outer_in; t++) {                                           \
          int64_t base = 0, ok = 1;                                                        \
          for (int d = 0; d < last; d++) {                                                 \
            int64_t o = xi[d] * g->stride[d] + k[d] * g->dilation[d] - g->pad_begin[d];    \
            if (o < 0 || o >= g->out[d]) ok = 0;                                           \
            base = base * g->out[d] + o;                                                   \
          }                                                                                \
          if (ok) {                                                                        \
            T *row = ym + base * out_last;                                                 \
            for (int64_t j = lo; j < hi; j++) row[j * s_last + off] += src[j];             \
          }                                                                                \
          src += in_last;                                                                  \
          for (int d = last - 1; d >= 0; d--) {                                            \
            if (++xi[d] < g->in[d]) break;                                                 \
            xi[d] = 0;                                                                     \
          }                                                                                \
        }                                                                                  \
        for (int d = last; d >= 0; d--) {                                                  \
          if (++k[d] < g->kernel[d]) break;                                                \
          k[d] = 0;                                                                        \
        }                                                                                  \
      }                                                                                    \
    }                                                                                      \
  }

COL2IM(float)
COL2IM(double)

#define INIT_BIAS(T)                                                                        \
  static void init_bias_##T(const convt_plan *p, const T *bias, T *y) {                    \
    for (int64_t n = 0; n < p->N; n++)                                                     \
      for (int64_t m = 0; m < p->M; m++) {                                                 \
        T v = bias ? bias[m] : (T)0;                                                       \
        T *ym = y + (n * p->M + m) * p->out_sz;                                            \
        for (int64_t j = 0; j < p->out_sz; j++) ym[j] = v;                                 \
      }                                                                                    \
  }

INIT_BIAS(float)
INIT_BIAS(double)

/* A 2-D kernel as large as its stride, no pads or dilation: each output element takes
 * exactly one product, bias + col, and output row y*s + ky interleaves the kernel's s
 * columns kx of input row y. */
static int convt_tiles_output(const convt_plan *p) {
  const isa_nn_convt *g = &p->g;
  if (g->n != 2) return 0;
  for (int d = 0; d < 2; d++)
    if (g->kernel[d] != g->stride[d] || g->dilation[d] != 1 || g->pad_begin[d] != 0 ||
        g->out[d] != g->in[d] * g->stride[d])
      return 0;
  return 1;
}

typedef struct convt_job {
  const convt_plan *p;
  const float *xg, *wg, *bias;
  float *col, *yg; /* the current (image, group) */
  int64_t rows;
  rt_gemm_split sp;
  char *pack;
  size_t pack_bytes;
  int tiles;
} convt_job;

/* Panels of col(i, j) = sum_c W_g[c][i] * X_g[c][j], one packing buffer per range. */
static void convt_product_task(void *vjob, int64_t r0, int64_t r1) {
  const convt_job *j = vjob;
  const convt_plan *p = j->p;
  for (int64_t r = r0; r < r1; r++) {
    float *pack = (float *)(j->pack + (size_t)r * j->pack_bytes);
    int64_t lo = r * j->sp.items / j->sp.ranges, hi = (r + 1) * j->sp.items / j->sp.ranges;
    for (int64_t it = lo; it < hi; it++) {
      int64_t i0, m, j0, n;
      rt_gemm_panel(&j->sp, it, &i0, &m, &j0, &n);
      rt_sgemm(m, n, p->Cg, 1.0f, j->wg + i0, 1, j->rows, j->xg + j0, p->in_sz, 1, 0.0f,
               j->col + i0 * p->in_sz + j0, p->in_sz, pack);
    }
  }
}

/* Output channels [m0, m1) of the group: the bias, then col scattered into it. */
static void convt_scatter_task(void *vjob, int64_t m0, int64_t m1) {
  const convt_job *j = vjob;
  const convt_plan *p = j->p;
  const isa_nn_convt *g = &p->g;
  if (!j->tiles) {
    for (int64_t m = m0; m < m1; m++) {
      float v = j->bias ? j->bias[m] : 0.0f, *ym = j->yg + m * p->out_sz;
      for (int64_t i = 0; i < p->out_sz; i++) ym[i] = v;
    }
    col2im_float(p, j->col, j->yg, m0, m1);
    return;
  }
  int64_t IH = g->in[0], IW = g->in[1], SH = g->stride[0], SW = g->stride[1], OW = g->out[1];
  for (int64_t m = m0; m < m1; m++) {
    float v = j->bias ? j->bias[m] : 0.0f;
    for (int64_t iy = 0; iy < IH; iy++)
      for (int64_t ky = 0; ky < SH; ky++) {
        float *row = j->yg + m * p->out_sz + (iy * SH + ky) * OW;
        const float *src = j->col + ((m * SH + ky) * SW) * p->in_sz + iy * IW;
        if (SW == 2) {
          const float *a = src, *b = src + p->in_sz;
          for (int64_t ix = 0; ix < IW; ix++) {
            row[2 * ix] = v + a[ix];
            row[2 * ix + 1] = v + b[ix];
          }
        } else {
          for (int64_t kx = 0; kx < SW; kx++, src += p->in_sz)
            for (int64_t ix = 0; ix < IW; ix++) row[ix * SW + kx] = v + src[ix];
        }
      }
  }
}

static ivm_status convt_f32(const rt_call *call, const convt_plan *p) {
  const float *X = call->in[0]->data, *W = call->in[1]->data;
  const rt_tensor *bt = call->n_in > 2 ? call->in[2] : NULL;
  float *Y = call->out[0]->data;
  if (p->Cg == 0 || p->in_sz == 0 || p->k_sz == 0) {
    init_bias_float(p, bt ? bt->data : NULL, Y);
    return NULL;
  }
  convt_job j = {.p = p, .rows = p->Mg * p->k_sz, .tiles = convt_tiles_output(p)};
  rt_pool *pool = rt_call_pool(call);
  int threads = rt_gemm_threads(pool, (double)j.rows * (double)p->in_sz * (double)p->Cg);
  rt_gemm_split_plan(threads, 1, j.rows, p->in_sz, p->Cg, &j.sp);
  j.pack_bytes = rt_gemm_split_pack_bytes(&j.sp);
  size_t col_bytes = rt_align64((size_t)(j.rows * p->in_sz) * sizeof(float));
  void *mem;
  IVM_TRY(rt_scratch_get(call->scratch, col_bytes + (size_t)j.sp.ranges * j.pack_bytes, &mem));
  j.col = mem;
  j.pack = (char *)mem + col_bytes;
  /* The scatter moves out_sz floats per channel: worth a thread from ~64 K of them. */
  int64_t scatter_grain = (65536 + p->out_sz - 1) / p->out_sz;
  for (int64_t n = 0; n < p->N; n++)
    for (int64_t g = 0; g < p->G; g++) {
      j.xg = X + (n * p->C + g * p->Cg) * p->in_sz;
      j.wg = W + g * p->Cg * j.rows;
      j.bias = bt ? (const float *)bt->data + g * p->Mg : NULL;
      j.yg = Y + (n * p->M + g * p->Mg) * p->out_sz;
      rt_pool_for(j.sp.ranges > 1 ? pool : NULL, j.sp.ranges, 1, convt_product_task, &j);
      rt_pool_for(pool, p->Mg, scatter_grain, convt_scatter_task, &j);
    }
  return NULL;
}

static ivm_status convt_f64(const rt_call *call, const convt_plan *p) {
  const double *X = call->in[0]->data, *W = call->in[1]->data;
  const rt_tensor *bt = call->n_in > 2 ? call->in[2] : NULL;
  double *Y = call->out[0]->data;
  init_bias_double(p, bt ? bt->data : NULL, Y);
  if (p->Cg == 0 || p->in_sz == 0 || p->k_sz == 0) return NULL;
  int64_t rows = p->Mg * p->k_sz;
  void *mem;
  IVM_TRY(rt_scratch_get(call->scratch, (size_t)(rows * p->in_sz) * sizeof(double), &mem));
  double *col = mem;
  for (int64_t n = 0; n < p->N; n++)
    for (int64_t g = 0; g < p->G; g++) {
      const double *xg = X + (n * p->C + g * p->Cg) * p->in_sz;
      const double *wg = W + g * p->Cg * rows;
      memset(col, 0, (size_t)(rows * p->in_sz) * sizeof(double));
      for (int64_t c = 0; c < p->Cg; c++)
        for (int64_t i = 0; i < rows; i++) {
          double wv = wg[c * rows + i];
          const double *xr = xg + c * p->in_sz;
          double *cr = col + i * p->in_sz;
          for (int64_t j = 0; j < p->in_sz; j++) cr[j] += wv * xr[j];
        }
      col2im_double(p, col, Y + (n * p->M + g * p->Mg) * p->out_sz, 0, p->Mg);
    }
  return NULL;
}

ivm_status rt_k_ConvTranspose(const rt_call *call) {
  convt_plan p;
  IVM_TRY(make_plan(call, &p));
  if (p.N == 0 || p.M == 0 || p.out_sz == 0) return NULL;
  switch (call->out[0]->dtype) {
    case IVM_DT_F32: return convt_f32(call, &p);
    case IVM_DT_F64: return convt_f64(call, &p);
    default:
      return ivm_error(IVM_ERR_UNSUPPORTED, "ConvTranspose: dtype %s not supported",
                       ivm_dtype_name((ivm_dtype)call->out[0]->dtype));
  }
}
