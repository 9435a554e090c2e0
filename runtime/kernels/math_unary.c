/* Math-family unary kernels: trigonometric and hyperbolic functions, Round, Sign, IsNaN,
 * IsInf, and the activations Selu Elu Celu ThresholdedRelu Softplus Softsign Mish Gelu
 * Shrink. Input and output have the same shape and are contiguous; the output may alias
 * the input (element i is read before it is written). f16 / bf16 compute through float. */
#include <math.h>

#include "runtime/kernels/ew.h"
#include "runtime/kernels/gemm.h"
#include "runtime/kernels/vmath.h"

typedef ew_unary_fn mu_fn;

/* float vs double libm function, chosen by the compute type */
#define GF(name, x) _Generic((x), float: name##f, default: name)(x)

#define MU_LOOP(T, CT, LD, ST, EXPR)                        \
  const T *a = (const T *)in;                               \
  T *o = (T *)out;                                          \
  const CT p0 = (CT)prm[0], p1 = (CT)prm[1];                \
  (void)p0;                                                 \
  (void)p1;                                                 \
  for (int64_t i = 0; i < n; i++) {                         \
    CT x = LD(a[i]);                                        \
    o[i] = ST(EXPR(CT, x));                                 \
  }

#define MU_SIG(name) static void name(int64_t n, const void *in, void *out, const float *prm)
#define DEF_MU_F(OP, suf, DT, T, CT, LD, ST) MU_SIG(OP##_##suf) { MU_LOOP(T, CT, LD, ST, U_##OP) }
#define TBL_F(OP, suf, DT, T, CT, LD, ST) [DT] = OP##_##suf,
#define DEF_UNARY(OP) \
  EW_FLOAT_TYPES(DEF_MU_F, OP) static const mu_fn tbl_##OP[EW_NDT] = {EW_FLOAT_TYPES(TBL_F, OP)};

/* softplus without overflow: log(1 + e^x) = max(x, 0) + log1p(e^-|x|) */
static inline float softplus_f(float x) { return (x > 0 ? x : 0.0f) + log1pf(expf(-fabsf(x))); }
static inline double softplus_d(double x) { return (x > 0 ? x : 0.0) + log1p(exp(-fabs(x))); }
#define SOFTPLUS(x) _Generic((x), float: softplus_f, default: softplus_d)(x)

#define U_Sin(T, x) GF(sin, x)
#define U_Cos(T, x) GF(cos, x)
#define U_Tan(T, x) GF(tan, x)
#define U_Asin(T, x) GF(asin, x)
#define U_Acos(T, x) GF(acos, x)
#define U_Atan(T, x) GF(atan, x)
#define U_Sinh(T, x) GF(sinh, x)
#define U_Cosh(T, x) GF(cosh, x)
#define U_Asinh(T, x) GF(asinh, x)
#define U_Acosh(T, x) GF(acosh, x)
#define U_Atanh(T, x) GF(atanh, x)
#define U_Round(T, x) GF(rint, x) /* default rounding mode: halves to even */
#define U_Selu(T, x) ((x) > (T)0 ? p1 * (x) : p1 * (p0 * GF(exp, x) - p0))
#define U_Elu(T, x) ((x) < (T)0 ? p0 * GF(expm1, x) : (x))
#define U_Celu(T, x) \
  (((x) > (T)0 ? (x) : (T)0) + ((x) < (T)0 ? p0 * GF(expm1, (x) / p0) : (T)0))
#define U_ThresholdedRelu(T, x) ((x) > p0 ? (x) : (T)0)
#define U_Softplus(T, x) SOFTPLUS(x)
#define U_Softsign(T, x) ((x) / ((T)1 + GF(fabs, x)))
#define U_Mish(T, x) ((x) * GF(tanh, SOFTPLUS(x)))
#define U_GeluErf(T, x) ((T)0.5 * (x) * ((T)1 + GF(erf, (x) * (T)0.70710678118654752440)))
#define U_GeluTanh(T, x) \
  ((T)0.5 * (x) * ((T)1 + GF(tanh, (T)0.79788456080286535588 * ((x) + (T)0.044715 * (x) * (x) * (x)))))
#define U_SignF(T, x) ((x) > (T)0 ? (T)1 : (x) < (T)0 ? (T)-1 : (x))

DEF_UNARY(Sin)
DEF_UNARY(Cos)
DEF_UNARY(Tan)
DEF_UNARY(Asin)
DEF_UNARY(Acos)
DEF_UNARY(Atan)
DEF_UNARY(Sinh)
DEF_UNARY(Cosh)
DEF_UNARY(Asinh)
DEF_UNARY(Acosh)
DEF_UNARY(Atanh)
DEF_UNARY(Round)
DEF_UNARY(Selu)
DEF_UNARY(Elu)
DEF_UNARY(Celu)
DEF_UNARY(ThresholdedRelu)
DEF_UNARY(Softplus)
DEF_UNARY(Softsign)
DEF_UNARY(Mish)
/* GeluErf: f32 on vectors (v_gelu_erf, a few ulp from the exact value: erff per element
 * took a quarter of a transformer's time), the other float types through libm. */
DEF_MU_F(GeluErf, f64, IVM_DT_F64, double, double, EW_ID, EW_ID)
DEF_MU_F(GeluErf, f16, IVM_DT_F16, uint16_t, float, ew_f16_to_f32, ew_f32_to_f16)
DEF_MU_F(GeluErf, bf16, IVM_DT_BF16, uint16_t, float, ew_bf16_to_f32, ew_f32_to_bf16)
#if VM_HAVE_VEC
VM_FMA_ATTR MU_SIG(GeluErf_f32) {
  (void)prm;
  /* 16 lanes where the CPU has AVX-512 (the AVX-512 matrix kernel is in use): same bits */
  if (rt_sgemm_current_kernel() == RT_SGEMM_AVX512 &&
      rt_gelu_erf_f32_avx512((float *)out, (const float *)in, n))
    return;
  VM_MAP(v_gelu_erf, (float *)out, (const float *)in, n);
}
#else
DEF_MU_F(GeluErf, f32, IVM_DT_F32, float, float, EW_ID, EW_ID)
#endif
static const mu_fn tbl_GeluErf[EW_NDT] = {EW_FLOAT_TYPES(TBL_F, GeluErf)};
DEF_UNARY(GeluTanh)
EW_FLOAT_TYPES(DEF_MU_F, SignF)

#define SIMPLE(OP) \
  ivm_status rt_k_##OP(const rt_call *c) { return ew_run_unary(c, #OP, tbl_##OP, 0.0f, 0.0f); }
SIMPLE(Sin)
SIMPLE(Cos)
SIMPLE(Tan)
SIMPLE(Asin)
SIMPLE(Acos)
SIMPLE(Atan)
SIMPLE(Sinh)
SIMPLE(Cosh)
SIMPLE(Asinh)
SIMPLE(Acosh)
SIMPLE(Atanh)
SIMPLE(Round)
SIMPLE(Softplus)
SIMPLE(Softsign)
SIMPLE(Mish)
#undef SIMPLE

ivm_status rt_k_Selu(const rt_call *c) {
  return ew_run_unary(c, "Selu", tbl_Selu,
                      ew_attr_f(c, ISA_A_Selu_alpha, 1.67326319217681884765625f),
                      ew_attr_f(c, ISA_A_Selu_gamma, 1.05070102214813232421875f));
}
ivm_status rt_k_Elu(const rt_call *c) {
  return ew_run_unary(c, "Elu", tbl_Elu, ew_attr_f(c, ISA_A_Elu_alpha, 1.0f), 0.0f);
}
ivm_status rt_k_Celu(const rt_call *c) {
  return ew_run_unary(c, "Celu", tbl_Celu, ew_attr_f(c, ISA_A_Celu_alpha, 1.0f), 0.0f);
}
ivm_status rt_k_ThresholdedRelu(const rt_call *c) {
  return ew_run_unary(c, "ThresholdedRelu", tbl_ThresholdedRelu,
                      ew_attr_f(c, ISA_A_ThresholdedRelu_alpha, 1.0f), 0.0f);
}
ivm_status rt_k_Gelu(const rt_call *c) {
  const char *ap = c->attrs ? c->attrs[ISA_A_Gelu_approximate].v.s : NULL;
  int tanh_approx = ap && strcmp(ap, "tanh") == 0;
  if (ap && !tanh_approx && strcmp(ap, "none") != 0)
    return ivm_error(IVM_ERR_INTERNAL, "Gelu: bad approximate");
  return ew_run_unary(c, "Gelu", tanh_approx ? tbl_GeluTanh : tbl_GeluErf, 0.0f, 0.0f);
}

/* ---- Sign: floats (NaN stays NaN) and integers ----------------------------------------- */
#define DEF_SIGN_S(A, suf, DT, T, UT)                                        \
  MU_SIG(sign_##suf) {                                                       \
    const T *a = (const T *)in;                                              \
    T *o = (T *)out;                                                         \
    (void)prm;                                                               \
    for (int64_t i = 0; i < n; i++) o[i] = (T)((a[i] > 0) - (a[i] < 0));     \
  }
#define DEF_SIGN_U(A, suf, DT, T, UT)                                        \
  MU_SIG(sign_##suf) {                                                       \
    const T *a = (const T *)in;                                              \
    T *o = (T *)out;                                                         \
    (void)prm;                                                               \
    for (int64_t i = 0; i < n; i++) o[i] = (T)(a[i] != 0);                   \
  }
EW_SINT_TYPES(DEF_SIGN_S, 0)
EW_UINT_TYPES(DEF_SIGN_U, 0)
#define STBL_I(A, suf, DT, T, UT) [DT] = sign_##suf,
static const mu_fn tbl_Sign[EW_NDT] = {EW_FLOAT_TYPES(TBL_F, SignF) EW_SINT_TYPES(STBL_I, 0)
                                           EW_UINT_TYPES(STBL_I, 0)};

ivm_status rt_k_Sign(const rt_call *c) { return ew_run_unary(c, "Sign", tbl_Sign, 0.0f, 0.0f); }

/* ---- Shrink: floats directly; integers through double, converted back like numpy's
 * astype (truncating; saturating here) ------------------------------------------------- */
#define U_Shrink(T, x) ((x) < -p1 ? (x) + p0 : (x) > p1 ? (x) - p0 : (T)0)
DEF_UNARY(Shrink)

ivm_status rt_k_Shrink(const rt_call *c) {
  float bias = ew_attr_f(c, ISA_A_Shrink_bias, 0.0f), lambd = ew_attr_f(c, ISA_A_Shrink_lambd, 0.5f);
  IVM_TRY(ew_check_io(c, "Shrink", 1, 1));
  const rt_tensor *x = c->in[0];
  rt_tensor *y = c->out[0];
  int dt = x->dtype;
  if (!isa_dtype_is_int(dt)) return ew_run_unary(c, "Shrink", tbl_Shrink, bias, lambd);
  if (y->dtype != dt || !ew_same_shape(x, y))
    return ivm_error(IVM_ERR_INTERNAL, "Shrink: output type differs from input");
  int64_t n = rt_numel(x);
  double b = bias, l = lambd;
  for (int64_t i = 0; i < n; i++) {
    double v = ew_load_d(dt, x->data, i);
    ew_store_d(dt, y->data, i, v < -l ? v + b : v > l ? v - b : 0.0);
  }
  return NULL;
}

/* ---- IsNaN / IsInf: float -> bool ------------------------------------------------------- */
static ivm_status run_isclass(const rt_call *c, const char *op, int nan, int neg, int pos) {
  IVM_TRY(ew_check_io(c, op, 1, 1));
  const rt_tensor *x = c->in[0];
  rt_tensor *y = c->out[0];
  int dt = x->dtype;
  if (y->dtype != IVM_DT_BOOL || rt_numel(y) != rt_numel(x))
    return ivm_error(IVM_ERR_INTERNAL, "%s: output type does not match inference", op);
  int64_t n = rt_numel(x);
  uint8_t *o = y->data;
#define CLASSIFY(T, LD)                                                   \
  do {                                                                    \
    const T *a = (const T *)x->data;                                      \
    for (int64_t i = 0; i < n; i++) {                                     \
      double v = (double)LD(a[i]);                                        \
      o[i] = (uint8_t)(nan ? v != v : (pos && v == INFINITY) || (neg && v == -INFINITY)); \
    }                                                                     \
  } while (0)
  switch (dt) {
    case IVM_DT_F32: CLASSIFY(float, EW_ID); break;
    case IVM_DT_F64: CLASSIFY(double, EW_ID); break;
    case IVM_DT_F16: CLASSIFY(uint16_t, ew_f16_to_f32); break;
    case IVM_DT_BF16: CLASSIFY(uint16_t, ew_bf16_to_f32); break;
    default: return ew_bad_dtype(op, dt);
  }
#undef CLASSIFY
  return NULL;
}

ivm_status rt_k_IsNaN(const rt_call *c) { return run_isclass(c, "IsNaN", 1, 0, 0); }
ivm_status rt_k_IsInf(const rt_call *c) {
  return run_isclass(c, "IsInf", 0, ew_attr_i(c, ISA_A_IsInf_detect_negative, 1) != 0,
                     ew_attr_i(c, ISA_A_IsInf_detect_positive, 1) != 0);
}
