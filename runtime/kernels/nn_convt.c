/* ConvTranspose (1-D/2-D/3-D and up): per image and group, one matrix product
 * col = W_g^T (Mg*k x Cg) @ X_g (Cg x in) and a col2im scatter-add of col into Y, which
 * starts as the bias. Geometry (pads from output_shape / auto_pad, output sizes) comes
 * from isa_nn_convt_resolve, the function inference uses. f32 uses rt_sgemm, f64 a plain
 * loop. */
#include <string.h>

#include "isa/infer_nn.h"
#include "runtime/kernels/gemm.h"

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
 * position x*stride + k*dilation - pad_begin when that is inside the output. */
#define COL2IM(T)                                                                           \
  static void col2im_##T(const convt_plan *p, const T *col, T *y) {                        \
    const isa_nn_convt *g = &p->g;                                                         \
    int n = g->n, last = n - 1;                                                            \
    int64_t in_last = g->in[last], out_last = g->out[last], s_last = g->stride[last];     \
    int64_t outer_in = in_last ? p->in_sz / in_last : 0;                                   \
    const T *src = col;                                                                    \
    for (int64_t m = 0; m < p->Mg; m++) {                                                  \
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

static ivm_status convt_f32(const rt_call *call, const convt_plan *p) {
  const float *X = call->in[0]->data, *W = call->in[1]->data;
  const rt_tensor *bt = call->n_in > 2 ? call->in[2] : NULL;
  float *Y = call->out[0]->data;
  init_bias_float(p, bt ? bt->data : NULL, Y);
  if (p->Cg == 0 || p->in_sz == 0 || p->k_sz == 0) return NULL;
  int64_t rows = p->Mg * p->k_sz;
  size_t col_bytes = rt_align64((size_t)(rows * p->in_sz) * sizeof(float));
  size_t pack_bytes = rt_sgemm_pack_bytes(rows, p->in_sz, p->Cg);
  void *mem;
  IVM_TRY(rt_scratch_get(call->scratch, col_bytes + pack_bytes, &mem));
  float *col = mem, *pack = (float *)((char *)mem + col_bytes);
  for (int64_t n = 0; n < p->N; n++)
    for (int64_t g = 0; g < p->G; g++) {
      const float *xg = X + (n * p->C + g * p->Cg) * p->in_sz;
      const float *wg = W + g * p->Cg * rows;
      /* col(i, j) = sum_c W_g[c][i] * X_g[c][j] */
      rt_sgemm(rows, p->in_sz, p->Cg, 1.0f, wg, 1, rows, xg, p->in_sz, 1, 0.0f, col, p->in_sz,
               pack);
      col2im_float(p, col, Y + (n * p->M + g * p->Mg) * p->out_sz);
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
      col2im_double(p, col, Y + (n * p->M + g * p->Mg) * p->out_sz);
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
