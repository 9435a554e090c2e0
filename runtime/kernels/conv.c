/* Conv (1-D/2-D/3-D and up): per image and group, im2col into scratch and one matrix
 * product W_g (Mg x Cg*k) @ col (Cg*k x out) written straight into Y. A 1x1 kernel with
 * stride 1 and no padding uses X itself as the column matrix. f32 uses rt_sgemm, f64 a
 * plain loop. */
#include <string.h>

#include "isa/infer_linalg.h"
#include "runtime/kernels/gemm.h"

typedef struct conv_plan {
  isa_window w;
  int64_t N, C, M, G, Cg, Mg;
  int64_t in_sz, out_sz, k_sz; /* products of spatial input, output and kernel dims */
  int pointwise;               /* 1x1, stride 1, no pads: col == X */
} conv_plan;

static ivm_status make_plan(const rt_call *call, conv_plan *p) {
  const rt_tensor *x = call->in[0], *wt = call->in[1];
  const rt_tensor *y = call->out[0];
  const isa_attr *at = call->attrs;
  int n = x->rank - 2;
  if (n < 1 || wt->rank != x->rank || y->rank != x->rank)
    return ivm_error(IVM_ERR_RUNTIME, "Conv: bad operand ranks");
  IVM_TRY(isa_window_resolve(n, x->dims + 2, wt->dims + 2, &at[ISA_A_Conv_auto_pad],
                             &at[ISA_A_Conv_pads], &at[ISA_A_Conv_strides],
                             &at[ISA_A_Conv_dilations], 0, 0, &p->w));
  p->N = x->dims[0];
  p->C = x->dims[1];
  p->M = wt->dims[0];
  p->G = at[ISA_A_Conv_group].v.i;
  if (p->G < 1 || p->C % p->G || p->M % p->G || wt->dims[1] * p->G != p->C)
    return ivm_error(IVM_ERR_RUNTIME, "Conv: channels do not match group");
  p->Cg = p->C / p->G;
  p->Mg = p->M / p->G;
  if (y->dims[0] != p->N || y->dims[1] != p->M)
    return ivm_error(IVM_ERR_RUNTIME, "Conv: output shape mismatch");
  p->in_sz = p->out_sz = p->k_sz = 1;
  p->pointwise = 1;
  for (int i = 0; i < n; i++) {
    if (y->dims[2 + i] != p->w.out[i])
      return ivm_error(IVM_ERR_RUNTIME, "Conv: output shape mismatch");
    p->in_sz *= p->w.in[i];
    p->out_sz *= p->w.out[i];
    p->k_sz *= p->w.kernel[i];
    if (p->w.kernel[i] != 1 || p->w.stride[i] != 1 || p->w.pad_begin[i] != 0 ||
        p->w.pad_end[i] != 0)
      p->pointwise = 0;
  }
  const rt_tensor *b = call->n_in > 2 ? call->in[2] : NULL;
  if (b && (b->rank != 1 || b->dims[0] != p->M))
    return ivm_error(IVM_ERR_RUNTIME, "Conv: bias length mismatch");
  return NULL;
}

/* Column matrix for one image and group: row (c, k...) holds, for every output position,
 * the input element under kernel offset k (0 in the padding). The last spatial dim runs
 * as a contiguous range per row segment. */
#define IM2COL(T)                                                                            \
  static void im2col_##T(const conv_plan *p, const T *x, T *col) {                          \
    const isa_window *w = &p->w;                                                            \
    int n = w->n, last = n - 1;                                                             \
    int64_t in_last = w->in[last], out_last = w->out[last], s_last = w->stride[last];      \
    int64_t outer_out = p->out_sz / (out_last ? out_last : 1);                              \
    T *dst = col;                                                                           \
    for (int64_t c = 0; c < p->Cg; c++) {                                                   \
      const T *xc = x + c * p->in_sz;                                                       \
      int64_t k[ISA_MAX_RANK] = {0};                                                        \
      for (int64_t kk = 0; kk < p->k_sz; kk++) {                                            \
        int64_t off = k[last] * w->dilation[last] - w->pad_begin[last];                     \
        /* valid o in [lo, hi): 0 <= o*s + off < in_last */                                 \
        int64_t lo = off >= 0 ? 0 : (-off + s_last - 1) / s_last;                           \
        int64_t hi = in_last - off <= 0 ? 0 : (in_last - off + s_last - 1) / s_last;        \
        if (lo > out_last) lo = out_last;                                                   \
        if (hi > out_last) hi = out_last;                                                   \
        if (hi < lo) hi = lo;                                                               \
        int64_t o[ISA_MAX_RANK] = {0};                                                      \
        for (int64_t t = 0; t < outer_out; t++) {                                           \
          int64_t base = 0, ok = 1;                                                         \
          for (int d = 0; d < last; d++) {                                                  \
            int64_t ix = o[d] * w->stride[d] + k[d] * w->dilation[d] - w->pad_begin[d];     \
            if (ix < 0 || ix >= w->in[d]) ok = 0;                                           \
            base = base * w->in[d] + ix;                                                    \
          }                                                                                 \
          if (!ok) {                                                                        \
            memset(dst, 0, (size_t)out_last * sizeof(T));                                   \
          } else {                                                                          \
            const T *row = xc + base * in_last;                                             \
            for (int64_t j = 0; j < lo; j++) dst[j] = 0;                                    \
            if (s_last == 1 && hi > lo)                                                     \
              memcpy(dst + lo, row + lo + off, (size_t)(hi - lo) * sizeof(T));             \
            else                                                                            \
              for (int64_t j = lo; j < hi; j++) dst[j] = row[j * s_last + off];             \
            for (int64_t j = hi; j < out_last; j++) dst[j] = 0;                             \
          }                                                                                 \
          dst += out_last;                                                                  \
          for (int d = last - 1; d >= 0; d--) {                                             \
            if (++o[d] < w->out[d]) break;                                                  \
            o[d] = 0;                                                                       \
          }                                                                                 \
        }                                                                                   \
        for (int d = last; d >= 0; d--) {                                                   \
          if (++k[d] < w->kernel[d]) break;                                                 \
          k[d] = 0;                                                                         \
        }                                                                                   \
      }                                                                                     \
    }                                                                                       \
  }

IM2COL(float)
IM2COL(double)

static ivm_status conv_f32(const rt_call *call, const conv_plan *p) {
  const float *X = call->in[0]->data, *W = call->in[1]->data;
  const rt_tensor *bt = call->n_in > 2 ? call->in[2] : NULL;
  const float *Bias = bt ? bt->data : NULL;
  float *Y = call->out[0]->data;
  int64_t Kdim = p->Cg * p->k_sz;
  size_t col_bytes = p->pointwise ? 0 : rt_align64((size_t)(Kdim * p->out_sz) * sizeof(float));
  void *mem;
  IVM_TRY(rt_scratch_get(call->scratch, col_bytes + rt_sgemm_pack_bytes(p->Mg, p->out_sz, Kdim),
                         &mem));
  float *col = mem, *pack = (float *)((char *)mem + col_bytes);
  for (int64_t n = 0; n < p->N; n++)
    for (int64_t g = 0; g < p->G; g++) {
      const float *xg = X + (n * p->C + g * p->Cg) * p->in_sz;
      float *yg = Y + (n * p->M + g * p->Mg) * p->out_sz;
      if (Bias)
        for (int64_t m = 0; m < p->Mg; m++)
          for (int64_t j = 0; j < p->out_sz; j++) yg[m * p->out_sz + j] = Bias[g * p->Mg + m];
      const float *cm = xg;
      if (!p->pointwise) {
        im2col_float(p, xg, col);
        cm = col;
      }
      rt_sgemm(p->Mg, p->out_sz, Kdim, 1.0f, W + g * p->Mg * Kdim, Kdim, 1, cm, p->out_sz, 1,
               Bias ? 1.0f : 0.0f, yg, p->out_sz, pack);
    }
  return NULL;
}

static ivm_status conv_f64(const rt_call *call, const conv_plan *p) {
  const double *X = call->in[0]->data, *W = call->in[1]->data;
  const rt_tensor *bt = call->n_in > 2 ? call->in[2] : NULL;
  const double *Bias = bt ? bt->data : NULL;
  double *Y = call->out[0]->data;
  int64_t Kdim = p->Cg * p->k_sz;
  void *mem;
  IVM_TRY(rt_scratch_get(call->scratch, (size_t)(Kdim * p->out_sz) * sizeof(double), &mem));
  double *col = mem;
  for (int64_t n = 0; n < p->N; n++)
    for (int64_t g = 0; g < p->G; g++) {
      im2col_double(p, X + (n * p->C + g * p->Cg) * p->in_sz, col);
      double *yg = Y + (n * p->M + g * p->Mg) * p->out_sz;
      const double *wg = W + g * p->Mg * Kdim;
      for (int64_t m = 0; m < p->Mg; m++)
        for (int64_t j = 0; j < p->out_sz; j++) {
          double s = Bias ? Bias[g * p->Mg + m] : 0.0;
          for (int64_t r = 0; r < Kdim; r++) s += wg[m * Kdim + r] * col[r * p->out_sz + j];
          yg[m * p->out_sz + j] = s;
        }
    }
  return NULL;
}

ivm_status rt_k_Conv(const rt_call *call) {
  conv_plan p;
  IVM_TRY(make_plan(call, &p));
  if (p.N == 0 || p.M == 0 || p.out_sz == 0) return NULL;
  switch (call->out[0]->dtype) {
    case IVM_DT_F32: return conv_f32(call, &p);
    case IVM_DT_F64: return conv_f64(call, &p);
    default:
      return ivm_error(IVM_ERR_UNSUPPORTED, "Conv: dtype %s not supported",
                       ivm_dtype_name((ivm_dtype)call->out[0]->dtype));
  }
}
