/* Unary elementwise kernels (math functions, activations), Not, Identity and Clip.
 * Inputs and outputs have the same shape and are contiguous, so each kernel is one loop
 * over all elements, cut into chunks across the worker pool when large (ew_run_unary); the
 * output may alias the input (element i is read before it is written). f16 / bf16 compute
 * through float. */
#include <math.h>

#include "runtime/kernels/ew.h"
#include "runtime/kernels/vmath.h"

typedef ew_unary_fn un_fn;

/* float vs double libm function, chosen by the compute type */
#define GF(name, x) _Generic((x), float: name##f, default: name)(x)

/* UN_LOOP: EXPR(CT, UT, x) with parameters p0, p1 (alpha, beta) converted to CT. */
#define UN_LOOP(T, CT, UT, LD, ST, EXPR)                    \
  const T *a = (const T *)in;                               \
  T *o = (T *)out;                                          \
  const CT p0 = (CT)prm[0], p1 = (CT)prm[1];                \
  (void)p0;                                                 \
  (void)p1;                                                 \
  for (int64_t i = 0; i < n; i++) {                         \
    CT x = LD(a[i]);                                        \
    o[i] = ST(EXPR(CT, UT, x));                             \
  }

#define UN_SIG(name) static void name(int64_t n, const void *in, void *out, const float *prm)
#define DEF_UN_F(OP, suf, DT, T, CT, LD, ST) UN_SIG(OP##_##suf) { UN_LOOP(T, CT, CT, LD, ST, U_##OP##_F) }
#define DEF_UN_S(OP, suf, DT, T, UT) UN_SIG(OP##_##suf) { UN_LOOP(T, T, UT, EW_ID, EW_ID, U_##OP##_S) }
#define DEF_UN_U(OP, suf, DT, T, UT) UN_SIG(OP##_##suf) { UN_LOOP(T, T, UT, EW_ID, EW_ID, U_##OP##_U) }
#define TBL_F(OP, suf, DT, T, CT, LD, ST) [DT] = OP##_##suf,
#define TBL_I(OP, suf, DT, T, UT) [DT] = OP##_##suf,

/* float types only */
#define DEF_UNARY_F(OP) \
  EW_FLOAT_TYPES(DEF_UN_F, OP) static const un_fn tbl_##OP[EW_NDT] = {EW_FLOAT_TYPES(TBL_F, OP)};
/* floats and signed integers */
#define DEF_UNARY_FS(OP)                                                            \
  EW_FLOAT_TYPES(DEF_UN_F, OP) EW_SINT_TYPES(DEF_UN_S, OP)                          \
  static const un_fn tbl_##OP[EW_NDT] = {EW_FLOAT_TYPES(TBL_F, OP) EW_SINT_TYPES(TBL_I, OP)};
/* floats and all integers */
#define DEF_UNARY_FSU(OP)                                                           \
  EW_FLOAT_TYPES(DEF_UN_F, OP) EW_SINT_TYPES(DEF_UN_S, OP) EW_UINT_TYPES(DEF_UN_U, OP) \
  static const un_fn tbl_##OP[EW_NDT] = {EW_FLOAT_TYPES(TBL_F, OP) EW_SINT_TYPES(TBL_I, OP) \
                                             EW_UINT_TYPES(TBL_I, OP)};

/* Bit-mask selects, for float (F, bits U) and double: a plain ?: lets GCC move a product
 * back under a branch per element (1.3 ns/element for LeakyRelu), masks keep it a
 * vector blend.
 *   sel_lt0: x < 0 ? neg : x with both operands already evaluated (see U_LeakyRelu_F);
 *   clamp01: clamp(v, 0, 1), NaN stays NaN (hard swish, hard sigmoid). */
#define DEF_BIT_SELECTS(F, U, sfx)                                                    \
  static inline F sel_lt0_##sfx(F x, F neg) {                                        \
    U bx, bn, m = (U)0 - (U)(x < (F)0);                                              \
    memcpy(&bx, &x, sizeof bx);                                                      \
    memcpy(&bn, &neg, sizeof bn);                                                    \
    bx = (bn & m) | (bx & ~m);                                                       \
    memcpy(&x, &bx, sizeof x);                                                       \
    return x;                                                                        \
  }                                                                                  \
  static inline F clamp01_##sfx(F v) {                                               \
    U bv, one, lo = (U)0 - (U)(v < (F)0), hi = (U)0 - (U)(v > (F)1);                 \
    F f1 = (F)1;                                                                     \
    memcpy(&bv, &v, sizeof bv);                                                      \
    memcpy(&one, &f1, sizeof one);                                                   \
    bv = (bv & ~lo & ~hi) | (one & hi);                                              \
    memcpy(&v, &bv, sizeof v);                                                       \
    return v;                                                                        \
  }
DEF_BIT_SELECTS(float, uint32_t, f)
DEF_BIT_SELECTS(double, uint64_t, d)
#define ew_select_lt0(x, neg) _Generic((x), float: sel_lt0_f, default: sel_lt0_d)((x), (neg))
#define ew_clamp01(v) _Generic((v), float: clamp01_f, default: clamp01_d)(v)

#define U_Sqrt_F(T, UT, x) GF(sqrt, x)
#define U_Exp_F(T, UT, x) GF(exp, x)
#define U_Log_F(T, UT, x) GF(log, x)
#define U_Reciprocal_F(T, UT, x) ((T)1 / (x))
#define U_Floor_F(T, UT, x) GF(floor, x)
#define U_Ceil_F(T, UT, x) GF(ceil, x)
#define U_Sigmoid_F(T, UT, x) ((T)1 / ((T)1 + GF(exp, -(x))))
#define U_Tanh_F(T, UT, x) GF(tanh, x)
#define U_Erf_F(T, UT, x) GF(erf, x)
#define U_HardSigmoid_F(T, UT, x) ew_clamp01(p0 * (x) + p1)
#define U_HardSwish_F(T, UT, x) ((x) * ew_clamp01((x) * (T)(1.0 / 6.0) + (T)0.5))
/* The product is computed for every element and then selected: written as a conditional
 * product, GCC keeps a branch per element (it may not speculate a multiply that could
 * raise an FP flag), which mispredicts on mixed signs and blocks vectorisation. Same
 * result bits either way. */
#define U_LeakyRelu_F(T, UT, x) ew_select_lt0((x), p0 * (x))
#define U_Relu_F(T, UT, x) ((x) < (T)0 ? (T)0 : (x))
#define U_Relu_S U_Relu_F
#define U_Neg_F(T, UT, x) (-(x))
#define U_Neg_S(T, UT, x) ((T)(0u - (UT)(x))) /* wraps at MIN instead of overflowing */
#define U_Abs_F(T, UT, x) GF(fabs, x)
#define U_Abs_S(T, UT, x) ((x) < 0 ? (T)(0u - (UT)(x)) : (x))
#define U_Abs_U(T, UT, x) (x)

DEF_UNARY_F(Sqrt)
DEF_UNARY_F(Exp)
DEF_UNARY_F(Log)
DEF_UNARY_F(Reciprocal)
DEF_UNARY_F(Floor)
DEF_UNARY_F(Ceil)
/* Sigmoid: f32 on vectors (v_sigmoid_full, within 2 ulp of the exact value; the tail of a
 * run through a padded copy, so every element gets the same bits wherever it sits), the
 * other float types through libm. */
DEF_UN_F(Sigmoid, f64, IVM_DT_F64, double, double, EW_ID, EW_ID)
DEF_UN_F(Sigmoid, f16, IVM_DT_F16, uint16_t, float, ew_f16_to_f32, ew_f32_to_f16)
DEF_UN_F(Sigmoid, bf16, IVM_DT_BF16, uint16_t, float, ew_bf16_to_f32, ew_f32_to_bf16)
#if VM_HAVE_VEC
VM_FMA_ATTR UN_SIG(Sigmoid_f32) {
  (void)prm;
  VM_MAP(v_sigmoid_full, (float *)out, (const float *)in, n);
}
#else
DEF_UN_F(Sigmoid, f32, IVM_DT_F32, float, float, EW_ID, EW_ID)
#endif
static const un_fn tbl_Sigmoid[EW_NDT] = {EW_FLOAT_TYPES(TBL_F, Sigmoid)};
DEF_UNARY_F(Tanh)
DEF_UNARY_F(Erf)
DEF_UNARY_F(HardSigmoid)
DEF_UNARY_F(HardSwish)
DEF_UNARY_F(LeakyRelu)
DEF_UNARY_FS(Relu)
DEF_UNARY_FS(Neg)
DEF_UNARY_FSU(Abs)

#define SIMPLE(OP) \
  ivm_status rt_k_##OP(const rt_call *c) { return ew_run_unary(c, #OP, tbl_##OP, 0.0f, 0.0f); }
SIMPLE(Sqrt)
SIMPLE(Exp)
SIMPLE(Log)
SIMPLE(Reciprocal)
SIMPLE(Floor)
SIMPLE(Ceil)
SIMPLE(Sigmoid)
SIMPLE(Tanh)
SIMPLE(Erf)
SIMPLE(HardSwish)
SIMPLE(Relu)
SIMPLE(Neg)
SIMPLE(Abs)
#undef SIMPLE

ivm_status rt_k_LeakyRelu(const rt_call *c) {
  return ew_run_unary(c, "LeakyRelu", tbl_LeakyRelu,
                      ew_attr_f(c, ISA_A_LeakyRelu_alpha, 0.01f), 0.0f);
}

ivm_status rt_k_HardSigmoid(const rt_call *c) {
  return ew_run_unary(c, "HardSigmoid", tbl_HardSigmoid,
                      ew_attr_f(c, ISA_A_HardSigmoid_alpha, 0.2f),
                      ew_attr_f(c, ISA_A_HardSigmoid_beta, 0.5f));
}

ivm_status rt_k_Not(const rt_call *c) {
  IVM_TRY(ew_check_io(c, "Not", 1, 1));
  const rt_tensor *x = c->in[0];
  rt_tensor *y = c->out[0];
  if (x->dtype != IVM_DT_BOOL || y->dtype != IVM_DT_BOOL) return ew_bad_dtype("Not", x->dtype);
  const uint8_t *a = x->data;
  uint8_t *o = y->data;
  int64_t n = rt_numel(x);
  for (int64_t i = 0; i < n; i++) o[i] = a[i] == 0;
  return NULL;
}

ivm_status rt_k_Identity(const rt_call *c) {
  IVM_TRY(ew_check_io(c, "Identity", 1, 1));
  const rt_tensor *x = c->in[0];
  rt_tensor *y = c->out[0];
  if (y->dtype != x->dtype || rt_numel(y) != rt_numel(x))
    return ivm_error(IVM_ERR_INTERNAL, "Identity: output type differs from input");
  size_t nb = rt_nbytes(x);
  if (nb && y->data != x->data) memmove(y->data, x->data, nb);
  return NULL;
}

/* ---- Clip: absent bounds are the type's extremes (infinities for floats). Applied as
 * max then min, so min > max gives max (ONNX's reference) and NaN stays NaN. ---------- */
#define DEF_CLIP(T, CT, LD, ST, suf)                                                 \
  static void clip_##suf(int64_t n, const void *in, void *out, const void *plo,     \
                         const void *phi, CT dlo, CT dhi) {                          \
    const T *a = (const T *)in;                                                      \
    T *o = (T *)out;                                                                 \
    const CT lo = plo ? LD(*(const T *)plo) : dlo, hi = phi ? LD(*(const T *)phi) : dhi; \
    for (int64_t i = 0; i < n; i++) {                                                \
      CT v = LD(a[i]);                                                               \
      v = v < lo ? lo : v;                                                           \
      o[i] = ST(v > hi ? hi : v);                                                    \
    }                                                                                \
  }
DEF_CLIP(float, float, EW_ID, EW_ID, f32)
DEF_CLIP(double, double, EW_ID, EW_ID, f64)
DEF_CLIP(uint16_t, float, ew_f16_to_f32, ew_f32_to_f16, f16)
DEF_CLIP(uint16_t, float, ew_bf16_to_f32, ew_f32_to_bf16, bf16)
DEF_CLIP(uint8_t, uint8_t, EW_ID, EW_ID, u8)
DEF_CLIP(int8_t, int8_t, EW_ID, EW_ID, i8)
DEF_CLIP(uint16_t, uint16_t, EW_ID, EW_ID, u16)
DEF_CLIP(int16_t, int16_t, EW_ID, EW_ID, i16)
DEF_CLIP(uint32_t, uint32_t, EW_ID, EW_ID, u32)
DEF_CLIP(int32_t, int32_t, EW_ID, EW_ID, i32)
DEF_CLIP(uint64_t, uint64_t, EW_ID, EW_ID, u64)
DEF_CLIP(int64_t, int64_t, EW_ID, EW_ID, i64)

/* Elements [0, n) of the chunk at in / out. */
static void clip_run(int dt, int64_t n, const void *in, void *out, const void *lo,
                     const void *hi) {
  switch (dt) {
    case IVM_DT_F32: clip_f32(n, in, out, lo, hi, -INFINITY, INFINITY); break;
    case IVM_DT_F64: clip_f64(n, in, out, lo, hi, -INFINITY, INFINITY); break;
    case IVM_DT_F16: clip_f16(n, in, out, lo, hi, -INFINITY, INFINITY); break;
    case IVM_DT_BF16: clip_bf16(n, in, out, lo, hi, -INFINITY, INFINITY); break;
    case IVM_DT_U8: clip_u8(n, in, out, lo, hi, 0, UINT8_MAX); break;
    case IVM_DT_I8: clip_i8(n, in, out, lo, hi, INT8_MIN, INT8_MAX); break;
    case IVM_DT_U16: clip_u16(n, in, out, lo, hi, 0, UINT16_MAX); break;
    case IVM_DT_I16: clip_i16(n, in, out, lo, hi, INT16_MIN, INT16_MAX); break;
    case IVM_DT_U32: clip_u32(n, in, out, lo, hi, 0, UINT32_MAX); break;
    case IVM_DT_I32: clip_i32(n, in, out, lo, hi, INT32_MIN, INT32_MAX); break;
    case IVM_DT_U64: clip_u64(n, in, out, lo, hi, 0, UINT64_MAX); break;
    case IVM_DT_I64: clip_i64(n, in, out, lo, hi, INT64_MIN, INT64_MAX); break;
    default: break;
  }
}

typedef struct clip_job {
  int dt;
  size_t esz;
  const char *in;
  char *out;
  const void *lo, *hi;
} clip_job;

static void clip_task(void *vjob, int64_t begin, int64_t end) {
  const clip_job *j = vjob;
  clip_run(j->dt, end - begin, j->in + (size_t)begin * j->esz, j->out + (size_t)begin * j->esz,
           j->lo, j->hi);
}

ivm_status rt_k_Clip(const rt_call *c) {
  IVM_TRY(ew_check_io(c, "Clip", 1, 1));
  const rt_tensor *x = c->in[0];
  rt_tensor *y = c->out[0];
  const void *lo = NULL, *hi = NULL;
  for (uint32_t k = 1; k < 3 && k < c->n_in; k++) {
    const rt_tensor *b = c->in[k];
    if (!b) continue;
    if (b->dtype != x->dtype || rt_numel(b) != 1)
      return ivm_error(IVM_ERR_INTERNAL, "Clip: bound %u must be one element of X's dtype", k);
    if (k == 1) lo = b->data;
    else hi = b->data;
  }
  if (y->dtype != x->dtype || !ew_same_shape(x, y))
    return ivm_error(IVM_ERR_INTERNAL, "Clip: output type differs from input");
  if (!isa_dtype_is_float(x->dtype) && !isa_dtype_is_int(x->dtype))
    return ew_bad_dtype("Clip", x->dtype);
  clip_job job = {x->dtype, ivm_dtype_size((ivm_dtype)x->dtype), x->data, y->data, lo, hi};
  rt_pool_for(ew_pool(c), rt_numel(x), EW_GRAIN, clip_task, &job);
  return NULL;
}
