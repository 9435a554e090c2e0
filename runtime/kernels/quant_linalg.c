/* MatMulInteger, QLinearMatMul, ConvInteger and QLinearConv. Operands are packed to int16
 * with their zero points subtracted and multiplied by rt_qgemm in int32 (quant_gemm.h);
 * the QLinear ops then rescale each int32 sum once, in f32:
 *   y = sat(rint(acc * (a_scale * b_scale / y_scale)) + y_zp)     (half to even)
 * Convolutions pack one row of input patches per output position ("im2row"); padding
 * taps are 0 after the zero point is subtracted. Conv geometry comes from
 * isa_window_resolve, the function inference uses. */
#include <math.h>
#include <string.h>

#include "isa/infer_linalg.h"
#include "runtime/kernels/gemm.h"
#include "runtime/kernels/quant_gemm.h"

#define RT_ERR(...) ivm_error(IVM_ERR_RUNTIME, __VA_ARGS__)

/* ---- helpers -------------------------------------------------------------------------- */
static void q8_to_i32(const rt_tensor *t, int32_t *dst) {
  int64_t n = rt_numel(t);
  for (int64_t i = 0; i < n; i++) dst[i] = rt_q8_at(t->data, t->dtype, i);
}

static inline float requant(int32_t acc, float mult, float zp, float lo, float hi) {
  float v = rintf((float)acc * mult) + zp;
  if (v != v) return 0.0f;
  return v < lo ? lo : v > hi ? hi : v;
}

static inline void store_q8(void *p, int dt, int64_t i, float v) {
  if (dt == IVM_DT_U8) ((uint8_t *)p)[i] = (uint8_t)v;
  else ((int8_t *)p)[i] = (int8_t)v;
}

static void q8_range(int dt, float *lo, float *hi) {
  *lo = dt == IVM_DT_U8 ? 0.0f : -128.0f;
  *hi = dt == IVM_DT_U8 ? 255.0f : 127.0f;
}

/* A scale / zero point with one element or `want` elements: its stride (0 or 1). */
static ivm_status param_stride(const rt_tensor *t, int64_t want, const char *what,
                               int64_t *stride) {
  int64_t n = rt_numel(t);
  if (n == 1) *stride = 0;
  else if (n == want) *stride = 1;
  else return RT_ERR("%s: expected 1 or %lld elements, got %lld", what, (long long)want, (long long)n);
  return NULL;
}

/* ---- matmul plan (numpy batch broadcasting, 1-D promotion) ---------------------------- */
typedef struct qmm_plan {
  int64_t M, N, K, batch;
  int nb;
  int64_t bdims[ISA_MAX_RANK], astr[ISA_MAX_RANK], bstr[ISA_MAX_RANK];
  int64_t abatch, bbatch; /* matrices in A and B */
} qmm_plan;

static ivm_status qmm_plan_make(const rt_tensor *a, const rt_tensor *b, const rt_tensor *y,
                                qmm_plan *p) {
  memset(p, 0, sizeof *p);
  if (a->rank < 1 || b->rank < 1) return RT_ERR("matmul operands need rank >= 1");
  p->M = a->rank == 1 ? 1 : a->dims[a->rank - 2];
  p->K = a->dims[a->rank - 1];
  int64_t kb = b->rank == 1 ? b->dims[0] : b->dims[b->rank - 2];
  p->N = b->rank == 1 ? 1 : b->dims[b->rank - 1];
  if (kb != p->K) return RT_ERR("matmul inner dimensions differ");
  int ba = a->rank > 2 ? a->rank - 2 : 0, bb = b->rank > 2 ? b->rank - 2 : 0;
  p->nb = ba > bb ? ba : bb;
  int64_t sa = 1, sb = 1;
  p->batch = 1;
  for (int i = p->nb - 1; i >= 0; i--) {
    int ia = i - (p->nb - ba), ib = i - (p->nb - bb);
    int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
    if (da != db && da != 1 && db != 1) return RT_ERR("matmul batch dims do not broadcast");
    p->bdims[i] = da > db ? da : db;
    if (da == 0 || db == 0) p->bdims[i] = 0;
    p->astr[i] = da == 1 ? 0 : sa;
    p->bstr[i] = db == 1 ? 0 : sb;
    sa *= da;
    sb *= db;
    p->batch *= p->bdims[i];
  }
  p->abatch = sa;
  p->bbatch = sb;
  if (rt_numel(y) != p->batch * p->M * p->N) return RT_ERR("matmul output shape mismatch");
  return NULL;
}

static void qmm_offsets(const qmm_plan *p, int64_t t, int64_t *oa, int64_t *ob) {
  int64_t a = 0, b = 0;
  for (int i = p->nb - 1; i >= 0; i--) {
    int64_t idx = t % p->bdims[i];
    t /= p->bdims[i];
    a += idx * p->astr[i];
    b += idx * p->bstr[i];
  }
  *oa = a;
  *ob = b;
}

/* A zero point of a matmul operand: one element, `rows` elements (shared by all batch
 * matrices), or batch * rows elements (the operand's shape with the reduced dim 1). */
typedef struct qzp {
  const rt_tensor *t;
  int64_t stride, batch_step; /* element (batch b, row r): b * batch_step + r * stride */
} qzp;

static ivm_status qzp_make(const rt_tensor *t, int64_t rows, int64_t batch, int allow_nd,
                           const char *what, qzp *z) {
  z->t = t;
  z->stride = z->batch_step = 0;
  if (!t) return NULL;
  int64_t n = rt_numel(t);
  if (n == 1) return NULL;
  if (n == rows && t->rank <= 1) {
    z->stride = 1;
    return NULL;
  }
  if (allow_nd && n == rows * batch && t->rank >= 2) {
    z->stride = 1;
    z->batch_step = rows;
    return NULL;
  }
  return RT_ERR("%s: %lld elements do not match the operand", what, (long long)n);
}

typedef struct qmm_bufs {
  int16_t *Ap, *Bp;
  int32_t *acc, *za, *zb;
  int64_t Kp;
} qmm_bufs;

static ivm_status qmm_scratch(rt_scratch *s, const qmm_plan *p, const qzp *za, const qzp *zb,
                              int need_acc, qmm_bufs *b) {
  b->Kp = rt_qgemm_kpad(p->K);
  size_t na = rt_align64((size_t)(p->M * b->Kp) * 2), nbb = rt_align64((size_t)(p->N * b->Kp) * 2);
  size_t nacc = need_acc ? rt_align64((size_t)(p->M * p->N) * 4) : 0;
  size_t nza = za->t ? rt_align64((size_t)rt_numel(za->t) * 4) : 0;
  size_t nzb = zb->t ? rt_align64((size_t)rt_numel(zb->t) * 4) : 0;
  void *mem;
  IVM_TRY(rt_scratch_get(s, na + nbb + nacc + nza + nzb + 64, &mem));
  char *c = mem;
  b->Ap = (int16_t *)c;
  b->Bp = (int16_t *)(c + na);
  b->acc = (int32_t *)(c + na + nbb);
  b->za = za->t ? (int32_t *)(c + na + nbb + nacc) : NULL;
  b->zb = zb->t ? (int32_t *)(c + na + nbb + nacc + nza) : NULL;
  if (za->t) q8_to_i32(za->t, b->za);
  if (zb->t) q8_to_i32(zb->t, b->zb);
  return NULL;
}

/* Packs the A and B matrices of output batch t (unless already packed). */
static void qmm_pack(const qmm_plan *p, const rt_tensor *a, const rt_tensor *b, const qzp *za,
                     const qzp *zb, qmm_bufs *bf, int64_t t, int64_t *last_a, int64_t *last_b) {
  int64_t oa, ob;
  qmm_offsets(p, t, &oa, &ob);
  int64_t M = p->M, N = p->N, K = p->K;
  if (oa != *last_a) {
    const void *src = (const char *)a->data + oa * M * K;
    rt_qpack(M, K, bf->Kp, src, a->dtype, K, 1, bf->za ? bf->za + oa * za->batch_step : NULL,
             za->stride, bf->Ap);
    *last_a = oa;
  }
  if (ob != *last_b) {
    const void *src = (const char *)b->data + ob * K * N;
    rt_qpack(N, K, bf->Kp, src, b->dtype, 1, N, bf->zb ? bf->zb + ob * zb->batch_step : NULL,
             zb->stride, bf->Bp);
    *last_b = ob;
  }
}

ivm_status rt_k_MatMulInteger(const rt_call *call) {
  const rt_tensor *a = call->in[0], *b = call->in[1];
  const rt_tensor *za_t = call->n_in > 2 ? call->in[2] : NULL;
  const rt_tensor *zb_t = call->n_in > 3 ? call->in[3] : NULL;
  rt_tensor *y = call->out[0];
  qmm_plan p;
  IVM_TRY(qmm_plan_make(a, b, y, &p));
  if (p.batch == 0 || p.M == 0 || p.N == 0) return NULL;
  qzp za, zb;
  IVM_TRY(qzp_make(za_t, p.M, p.abatch, 1, "a_zero_point", &za));
  IVM_TRY(qzp_make(zb_t, p.N, p.bbatch, 1, "b_zero_point", &zb));
  qmm_bufs bf;
  IVM_TRY(qmm_scratch(call->scratch, &p, &za, &zb, 0, &bf));
  int64_t la = -1, lb = -1;
  int32_t *Y = y->data;
  for (int64_t t = 0; t < p.batch; t++) {
    qmm_pack(&p, a, b, &za, &zb, &bf, t, &la, &lb);
    rt_qgemm(p.M, p.N, bf.Kp, bf.Ap, bf.Bp, Y + t * p.M * p.N, p.N);
  }
  return NULL;
}

ivm_status rt_k_QLinearMatMul(const rt_call *call) {
  const rt_tensor *a = call->in[0], *b = call->in[3];
  rt_tensor *y = call->out[0];
  qmm_plan p;
  IVM_TRY(qmm_plan_make(a, b, y, &p));
  if (p.batch == 0 || p.M == 0 || p.N == 0) return NULL;
  int64_t ssa = 0, ssb = 0, ssy = 0, szy = 0;
  IVM_TRY(param_stride(call->in[1], p.M, "a_scale", &ssa));
  IVM_TRY(param_stride(call->in[4], p.N, "b_scale", &ssb));
  IVM_TRY(param_stride(call->in[6], p.M, "y_scale", &ssy));
  IVM_TRY(param_stride(call->in[7], p.M, "y_zero_point", &szy));
  if (call->in[7]->dtype != y->dtype) return RT_ERR("QLinearMatMul: y_zero_point dtype");
  qzp za, zb;
  IVM_TRY(qzp_make(call->in[2], p.M, p.abatch, 0, "a_zero_point", &za));
  IVM_TRY(qzp_make(call->in[5], p.N, p.bbatch, 0, "b_zero_point", &zb));
  qmm_bufs bf;
  IVM_TRY(qmm_scratch(call->scratch, &p, &za, &zb, 1, &bf));
  const float *sa = call->in[1]->data, *sb = call->in[4]->data, *sy = call->in[6]->data;
  const void *zy = call->in[7]->data;
  int ydt = y->dtype;
  float lo, hi;
  q8_range(ydt, &lo, &hi);
  int64_t la = -1, lb = -1;
  for (int64_t t = 0; t < p.batch; t++) {
    qmm_pack(&p, a, b, &za, &zb, &bf, t, &la, &lb);
    rt_qgemm(p.M, p.N, bf.Kp, bf.Ap, bf.Bp, bf.acc, p.N);
    int64_t base = t * p.M * p.N;
    for (int64_t i = 0; i < p.M; i++) {
      float zpi = (float)rt_q8_at(zy, ydt, i * szy);
      const int32_t *acc = bf.acc + i * p.N;
      if (ssb == 0) {
        float m = sa[i * ssa] * sb[0] / sy[i * ssy];
        for (int64_t j = 0; j < p.N; j++)
          store_q8(y->data, ydt, base + i * p.N + j, requant(acc[j], m, zpi, lo, hi));
      } else {
        for (int64_t j = 0; j < p.N; j++) {
          float m = sa[i * ssa] * sb[j] / sy[i * ssy];
          store_q8(y->data, ydt, base + i * p.N + j, requant(acc[j], m, zpi, lo, hi));
        }
      }
    }
  }
  return NULL;
}

/* ---- convolution ------------------------------------------------------------------------ */
typedef struct qconv_plan {
  isa_window w;
  int64_t N, C, M, G, Cg, Mg;
  int64_t in_sz, out_sz, k_sz, Kdim, Kp;
} qconv_plan;

static ivm_status qconv_plan_make(const rt_call *call, const rt_tensor *x, const rt_tensor *wt,
                                  qconv_plan *p) {
  const rt_tensor *y = call->out[0];
  isa_attr def[ISA_A_Conv__count];
  const isa_attr *at = call->attrs;
  if (!at) {
    isa_attrs_init_defaults(isa_builtin_desc(ISA_OP_ConvInteger), def);
    at = def;
  }
  int n = x->rank - 2;
  if (n < 1 || wt->rank != x->rank || y->rank != x->rank)
    return RT_ERR("conv: bad operand ranks");
  IVM_TRY(isa_window_resolve(n, x->dims + 2, wt->dims + 2, &at[ISA_A_Conv_auto_pad],
                             &at[ISA_A_Conv_pads], &at[ISA_A_Conv_strides],
                             &at[ISA_A_Conv_dilations], 0, 0, &p->w));
  p->N = x->dims[0];
  p->C = x->dims[1];
  p->M = wt->dims[0];
  p->G = at[ISA_A_Conv_group].v.i;
  if (p->G < 1 || p->C % p->G || p->M % p->G || wt->dims[1] * p->G != p->C)
    return RT_ERR("conv: channels do not match group");
  p->Cg = p->C / p->G;
  p->Mg = p->M / p->G;
  if (y->dims[0] != p->N || y->dims[1] != p->M) return RT_ERR("conv: output shape mismatch");
  p->in_sz = p->out_sz = p->k_sz = 1;
  for (int i = 0; i < n; i++) {
    if (y->dims[2 + i] != p->w.out[i]) return RT_ERR("conv: output shape mismatch");
    p->in_sz *= p->w.in[i];
    p->out_sz *= p->w.out[i];
    p->k_sz *= p->w.kernel[i];
  }
  p->Kdim = p->Cg * p->k_sz;
  p->Kp = rt_qgemm_kpad(p->Kdim);
  return NULL;
}

/* One row per output position: the (c, kernel offset) taps of group input xg minus zp,
 * 0 in the padding, zero-filled to Kp. */
static void im2row(const qconv_plan *p, const void *xg, int dt, int32_t zp, int16_t *dst) {
  const isa_window *w = &p->w;
  int n = w->n;
  int64_t o[ISA_MAX_RANK] = {0};
  for (int64_t pos = 0; pos < p->out_sz; pos++) {
    int64_t base[ISA_MAX_RANK];
    for (int d = 0; d < n; d++) base[d] = o[d] * w->stride[d] - w->pad_begin[d];
    int16_t *row = dst + pos * p->Kp;
    int64_t idx = 0;
    for (int64_t c = 0; c < p->Cg; c++) {
      int64_t coff = c * p->in_sz;
      int64_t k[ISA_MAX_RANK] = {0};
      for (int64_t kk = 0; kk < p->k_sz; kk++) {
        int64_t off = 0;
        int ok = 1;
        for (int d = 0; d < n; d++) {
          int64_t ix = base[d] + k[d] * w->dilation[d];
          if (ix < 0 || ix >= w->in[d]) ok = 0;
          off = off * w->in[d] + ix;
        }
        row[idx++] = ok ? (int16_t)(rt_q8_at(xg, dt, coff + off) - zp) : 0;
        for (int d = n - 1; d >= 0; d--) {
          if (++k[d] < w->kernel[d]) break;
          k[d] = 0;
        }
      }
    }
    for (; idx < p->Kp; idx++) row[idx] = 0;
    for (int d = n - 1; d >= 0; d--) {
      if (++o[d] < w->out[d]) break;
      o[d] = 0;
    }
  }
}

typedef struct qconv_bufs {
  int16_t *Wp, *Xp;
  int32_t *acc, *zw;
} qconv_bufs;

static ivm_status qconv_scratch(const rt_call *call, const qconv_plan *p, const rt_tensor *wt,
                                const rt_tensor *zw_t, int need_acc, qconv_bufs *b) {
  int64_t zws = 0;
  if (zw_t) IVM_TRY(param_stride(zw_t, p->M, "w_zero_point", &zws));
  size_t nw = rt_align64((size_t)(p->M * p->Kp) * 2), nx = rt_align64((size_t)(p->out_sz * p->Kp) * 2);
  size_t nacc = need_acc ? rt_align64((size_t)(p->Mg * p->out_sz) * 4) : 0;
  size_t nz = zw_t ? rt_align64((size_t)rt_numel(zw_t) * 4) : 0;
  void *mem;
  IVM_TRY(rt_scratch_get(call->scratch, nw + nx + nacc + nz + 64, &mem));
  char *c = mem;
  b->Wp = (int16_t *)c;
  b->Xp = (int16_t *)(c + nw);
  b->acc = (int32_t *)(c + nw + nx);
  b->zw = zw_t ? (int32_t *)(c + nw + nx + nacc) : NULL;
  if (zw_t) q8_to_i32(zw_t, b->zw);
  rt_qpack(p->M, p->Kdim, p->Kp, wt->data, wt->dtype, p->Kdim, 1, b->zw, zws, b->Wp);
  return NULL;
}

static ivm_status scalar_zp(const rt_tensor *t, const char *what, int32_t *z) {
  *z = 0;
  if (!t) return NULL;
  if (rt_numel(t) != 1) return RT_ERR("%s must have one element", what);
  *z = rt_q8_at(t->data, t->dtype, 0);
  return NULL;
}

ivm_status rt_k_ConvInteger(const rt_call *call) {
  const rt_tensor *x = call->in[0], *wt = call->in[1];
  const rt_tensor *zx_t = call->n_in > 2 ? call->in[2] : NULL;
  const rt_tensor *zw_t = call->n_in > 3 ? call->in[3] : NULL;
  qconv_plan p;
  IVM_TRY(qconv_plan_make(call, x, wt, &p));
  int32_t zx;
  IVM_TRY(scalar_zp(zx_t, "x_zero_point", &zx));
  if (p.N == 0 || p.M == 0 || p.out_sz == 0) return NULL;
  qconv_bufs b;
  IVM_TRY(qconv_scratch(call, &p, wt, zw_t, 0, &b));
  int32_t *Y = call->out[0]->data;
  for (int64_t n = 0; n < p.N; n++)
    for (int64_t g = 0; g < p.G; g++) {
      const char *xg = (const char *)x->data + (size_t)((n * p.C + g * p.Cg) * p.in_sz);
      im2row(&p, xg, x->dtype, zx, b.Xp);
      rt_qgemm(p.Mg, p.out_sz, p.Kp, b.Wp + g * p.Mg * p.Kp, b.Xp,
               Y + (n * p.M + g * p.Mg) * p.out_sz, p.out_sz);
    }
  return NULL;
}

ivm_status rt_k_QLinearConv(const rt_call *call) {
  const rt_tensor *x = call->in[0], *wt = call->in[3];
  const rt_tensor *bias = call->n_in > 8 ? call->in[8] : NULL;
  rt_tensor *y = call->out[0];
  qconv_plan p;
  IVM_TRY(qconv_plan_make(call, x, wt, &p));
  int32_t zx, zy;
  IVM_TRY(scalar_zp(call->in[2], "x_zero_point", &zx));
  IVM_TRY(scalar_zp(call->in[7], "y_zero_point", &zy));
  if (rt_numel(call->in[1]) != 1 || rt_numel(call->in[6]) != 1)
    return RT_ERR("QLinearConv: x_scale and y_scale must have one element");
  int64_t sws = 0;
  IVM_TRY(param_stride(call->in[4], p.M, "w_scale", &sws));
  if (bias && rt_numel(bias) != p.M) return RT_ERR("QLinearConv: bias length mismatch");
  if (call->in[7]->dtype != y->dtype) return RT_ERR("QLinearConv: y_zero_point dtype");
  if (p.N == 0 || p.M == 0 || p.out_sz == 0) return NULL;
  qconv_bufs b;
  IVM_TRY(qconv_scratch(call, &p, wt, call->in[5], 1, &b));
  float sx = *(const float *)call->in[1]->data, sy = *(const float *)call->in[6]->data;
  const float *sw = call->in[4]->data;
  const int32_t *B = bias ? bias->data : NULL;
  int ydt = y->dtype;
  float lo, hi, fzy = (float)zy;
  q8_range(ydt, &lo, &hi);
  for (int64_t n = 0; n < p.N; n++)
    for (int64_t g = 0; g < p.G; g++) {
      const char *xg = (const char *)x->data + (size_t)((n * p.C + g * p.Cg) * p.in_sz);
      im2row(&p, xg, x->dtype, zx, b.Xp);
      rt_qgemm(p.Mg, p.out_sz, p.Kp, b.Wp + g * p.Mg * p.Kp, b.Xp, b.acc, p.out_sz);
      for (int64_t m = 0; m < p.Mg; m++) {
        int64_t mm = g * p.Mg + m;
        float mult = sx * sw[mm * sws] / sy;
        uint32_t bv = B ? (uint32_t)B[mm] : 0u;
        const int32_t *acc = b.acc + m * p.out_sz;
        int64_t base = (n * p.M + mm) * p.out_sz;
        for (int64_t j = 0; j < p.out_sz; j++)
          store_q8(y->data, ydt, base + j,
                   requant((int32_t)((uint32_t)acc[j] + bv), mult, fzy, lo, hi));
      }
    }
  return NULL;
}
