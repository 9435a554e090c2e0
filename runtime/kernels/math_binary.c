/* Math-family broadcasting kernels: And Or Xor, GreaterOrEqual LessOrEqual, Mod,
 * BitShift and PRelu.
 *
 * mb_run maps the output's index space onto both inputs with numpy broadcasting (a
 * broadcast dim gets stride 0; dims contiguous for both operands merge), then calls an
 * inner function on runs whose input strides are each 0 or 1. */
#include <math.h>

#include "runtime/kernels/ew.h"

typedef void (*mb_fn)(int64_t n, const char *a, int64_t sa, const char *b, int64_t sb,
                      char *out, const void *ctx);

static ivm_status mb_run(const char *op, rt_tensor *out, const rt_tensor *a,
                         const rt_tensor *b, mb_fn fn, const void *ctx) {
  const rt_tensor *in[2] = {a, b};
  int64_t dims[ISA_MAX_RANK], st[2][ISA_MAX_RANK];
  int m;
  IVM_TRY(ew_bcast_plan(op, out, 2, in, dims, st, &m));
  if (m == 0) return NULL;
  int64_t numel = rt_numel(out);
  size_t esz[2] = {ivm_dtype_size((ivm_dtype)a->dtype), ivm_dtype_size((ivm_dtype)b->dtype)};
  int64_t inner = dims[m - 1], outer = numel / inner;
  int64_t idx[ISA_MAX_RANK] = {0}, off[2] = {0, 0};
  size_t osz = ivm_dtype_size((ivm_dtype)out->dtype);
  for (int64_t r = 0; r < outer; r++) {
    fn(inner, (const char *)a->data + (size_t)off[0] * esz[0], st[0][m - 1],
       (const char *)b->data + (size_t)off[1] * esz[1], st[1][m - 1],
       (char *)out->data + (size_t)(r * inner) * osz, ctx);
    for (int d = m - 2; d >= 0; d--) {
      off[0] += st[0][d];
      off[1] += st[1][d];
      if (++idx[d] < dims[d]) break;
      off[0] -= st[0][d] * dims[d];
      off[1] -= st[1][d] * dims[d];
      idx[d] = 0;
    }
  }
  return NULL;
}

/* MB_LOOP: elements of storage type T read through LD into CT, OT o[i] = EXPR(x, y). */
#define MB_LOOP(T, OT, CT, LD, EXPR)                                  \
  const T *pa = (const T *)av, *pb = (const T *)bv;                   \
  OT *o = (OT *)out;                                                  \
  (void)ctx;                                                          \
  if (sa && sb) {                                                     \
    for (int64_t i = 0; i < n; i++) {                                 \
      CT x = LD(pa[i]), y = LD(pb[i]);                                \
      o[i] = EXPR(x, y);                                              \
    }                                                                 \
  } else {                                                            \
    for (int64_t i = 0; i < n; i++) {                                 \
      CT x = LD(pa[i * sa]), y = LD(pb[i * sb]);                      \
      o[i] = EXPR(x, y);                                              \
    }                                                                 \
  }
#define MB_SIG(name)                                                                       \
  static void name(int64_t n, const char *av, int64_t sa, const char *bv, int64_t sb, char *out, \
                   const void *ctx)

/* ---- And / Or / Xor on bool ------------------------------------------------------------ */
#define L_AND(x, y) (uint8_t)(((x) != 0) & ((y) != 0))
#define L_OR(x, y) (uint8_t)(((x) != 0) | ((y) != 0))
#define L_XOR(x, y) (uint8_t)(((x) != 0) ^ ((y) != 0))
MB_SIG(and_b) { MB_LOOP(uint8_t, uint8_t, uint8_t, EW_ID, L_AND) }
MB_SIG(or_b) { MB_LOOP(uint8_t, uint8_t, uint8_t, EW_ID, L_OR) }
MB_SIG(xor_b) { MB_LOOP(uint8_t, uint8_t, uint8_t, EW_ID, L_XOR) }

static ivm_status run_logical(const rt_call *c, const char *op, mb_fn fn) {
  IVM_TRY(ew_check_io(c, op, 2, 1));
  const rt_tensor *a = c->in[0], *b = c->in[1];
  if (a->dtype != IVM_DT_BOOL || b->dtype != IVM_DT_BOOL || c->out[0]->dtype != IVM_DT_BOOL)
    return ew_bad_dtype(op, a->dtype);
  return mb_run(op, c->out[0], a, b, fn, NULL);
}

ivm_status rt_k_And(const rt_call *c) { return run_logical(c, "And", and_b); }
ivm_status rt_k_Or(const rt_call *c) { return run_logical(c, "Or", or_b); }
ivm_status rt_k_Xor(const rt_call *c) { return run_logical(c, "Xor", xor_b); }

/* ---- GreaterOrEqual / LessOrEqual (NaN compares false) --------------------------------- */
#define C_GE(x, y) (uint8_t)((x) >= (y))
#define C_LE(x, y) (uint8_t)((x) <= (y))
#define DEF_CMP_F(OP, suf, DT, T, CT, LD, ST) MB_SIG(OP##_##suf) { MB_LOOP(T, uint8_t, CT, LD, C_##OP) }
#define DEF_CMP_I(OP, suf, DT, T, UT) MB_SIG(OP##_##suf) { MB_LOOP(T, uint8_t, T, EW_ID, C_##OP) }
#define TBL_F(OP, suf, DT, T, CT, LD, ST) [DT] = OP##_##suf,
#define TBL_I(OP, suf, DT, T, UT) [DT] = OP##_##suf,
#define DEF_CMP(OP)                                                                      \
  EW_FLOAT_TYPES(DEF_CMP_F, OP) EW_SINT_TYPES(DEF_CMP_I, OP) EW_UINT_TYPES(DEF_CMP_I, OP) \
  static const mb_fn tbl_##OP[EW_NDT] = {EW_FLOAT_TYPES(TBL_F, OP) EW_SINT_TYPES(TBL_I, OP) \
                                             EW_UINT_TYPES(TBL_I, OP)[IVM_DT_BOOL] = OP##_u8};
DEF_CMP(GE)
DEF_CMP(LE)

static ivm_status run_cmp(const rt_call *c, const char *op, const mb_fn *tbl) {
  IVM_TRY(ew_check_io(c, op, 2, 1));
  const rt_tensor *a = c->in[0], *b = c->in[1];
  int dt = a->dtype;
  if (b->dtype != dt || c->out[0]->dtype != IVM_DT_BOOL)
    return ivm_error(IVM_ERR_INTERNAL, "%s: operand dtypes do not match inference", op);
  mb_fn fn = dt < EW_NDT ? tbl[dt] : NULL;
  if (!fn) return ew_bad_dtype(op, dt);
  return mb_run(op, c->out[0], a, b, fn, NULL);
}

ivm_status rt_k_GreaterOrEqual(const rt_call *c) { return run_cmp(c, "GreaterOrEqual", tbl_GE); }
ivm_status rt_k_LessOrEqual(const rt_call *c) { return run_cmp(c, "LessOrEqual", tbl_LE); }

/* ---- Mod ------------------------------------------------------------------------------
 * fmod=1: C's fmod / truncated remainder (sign of the dividend). fmod=0: the sign of the
 * divisor (numpy's mod / Python's %). Integer division by zero is an error checked before
 * the loop; MIN % -1 is 0 (it would overflow in C). */
static inline double mod_floor_d(double x, double y) {
  double r = fmod(x, y);
  if (r != 0 && ((r < 0) != (y < 0))) r += y;
  return r;
}
static inline float mod_floor_f(float x, float y) {
  float r = fmodf(x, y);
  if (r != 0 && ((r < 0) != (y < 0))) r += y;
  return r;
}
#define M_FMOD_F32(x, y) fmodf((x), (y))
#define M_FMOD_F64(x, y) fmod((x), (y))
#define M_FLOOR_F32(x, y) mod_floor_f((x), (y))
#define M_FLOOR_F64(x, y) mod_floor_d((x), (y))
/* signed: truncated remainder (y != 0, y != -1 handled) */
#define M_TRUNC_S(x, y) ((y) == -1 ? 0 : (x) % (y))
#define M_FLOOR_S(x, y) ((y) == -1 ? 0 : (((x) % (y)) != 0 && ((((x) % (y)) < 0) != ((y) < 0)) ? ((x) % (y)) + (y) : ((x) % (y))))
#define M_U(x, y) ((x) % (y))

#define DEF_MOD_F(suf, T, CT, LD, ST, E)                             \
  MB_SIG(mod_##E##_##suf) {                                          \
    const T *pa = (const T *)av, *pb = (const T *)bv;                \
    T *o = (T *)out;                                                 \
    (void)ctx;                                                       \
    for (int64_t i = 0; i < n; i++) {                                \
      CT x = LD(pa[i * sa]), y = LD(pb[i * sb]);                     \
      o[i] = ST(E(x, y));                                            \
    }                                                                \
  }
DEF_MOD_F(f32, float, float, EW_ID, EW_ID, M_FMOD_F32)
DEF_MOD_F(f64, double, double, EW_ID, EW_ID, M_FMOD_F64)
DEF_MOD_F(f16, uint16_t, float, ew_f16_to_f32, ew_f32_to_f16, M_FMOD_F32)
DEF_MOD_F(bf16, uint16_t, float, ew_bf16_to_f32, ew_f32_to_bf16, M_FMOD_F32)
DEF_MOD_F(f32, float, float, EW_ID, EW_ID, M_FLOOR_F32)
DEF_MOD_F(f64, double, double, EW_ID, EW_ID, M_FLOOR_F64)
DEF_MOD_F(f16, uint16_t, float, ew_f16_to_f32, ew_f32_to_f16, M_FLOOR_F32)
DEF_MOD_F(bf16, uint16_t, float, ew_bf16_to_f32, ew_f32_to_bf16, M_FLOOR_F32)

#define DEF_MOD_S(A, suf, DT, T, UT)                                  \
  MB_SIG(mod_trunc_##suf) { MB_LOOP(T, T, T, EW_ID, M_TRUNC_S) }      \
  MB_SIG(mod_floor_##suf) { MB_LOOP(T, T, T, EW_ID, M_FLOOR_S) }
#define DEF_MOD_U(A, suf, DT, T, UT) MB_SIG(mod_u_##suf) { MB_LOOP(T, T, T, EW_ID, M_U) }
EW_SINT_TYPES(DEF_MOD_S, 0)
EW_UINT_TYPES(DEF_MOD_U, 0)

static int any_zero(const rt_tensor *t) {
  int64_t n = rt_numel(t);
  for (int64_t i = 0; i < n; i++)
    if (ew_load_i64(t->dtype, t->data, i) == 0) return 1;
  return 0;
}

ivm_status rt_k_Mod(const rt_call *c) {
  IVM_TRY(ew_check_io(c, "Mod", 2, 1));
  const rt_tensor *a = c->in[0], *b = c->in[1];
  int dt = a->dtype, f = ew_attr_i(c, ISA_A_Mod_fmod, 0) != 0;
  if (b->dtype != dt || c->out[0]->dtype != dt)
    return ivm_error(IVM_ERR_INTERNAL, "Mod: operand dtypes do not match inference");
  if (isa_dtype_is_int(dt) && any_zero(b))
    return ivm_error(IVM_ERR_RUNTIME, "Mod: integer division by zero");
  mb_fn fn = NULL;
  switch (dt) {
    case IVM_DT_F32: fn = f ? mod_M_FMOD_F32_f32 : mod_M_FLOOR_F32_f32; break;
    case IVM_DT_F64: fn = f ? mod_M_FMOD_F64_f64 : mod_M_FLOOR_F64_f64; break;
    case IVM_DT_F16: fn = f ? mod_M_FMOD_F32_f16 : mod_M_FLOOR_F32_f16; break;
    case IVM_DT_BF16: fn = f ? mod_M_FMOD_F32_bf16 : mod_M_FLOOR_F32_bf16; break;
#define SCASE(A, suf, DT, T, UT) \
  case DT: fn = f ? mod_trunc_##suf : mod_floor_##suf; break;
#define UCASE(A, suf, DT, T, UT) \
  case DT: fn = mod_u_##suf; break;
    EW_SINT_TYPES(SCASE, 0)
    EW_UINT_TYPES(UCASE, 0)
#undef SCASE
#undef UCASE
    default: return ew_bad_dtype("Mod", dt);
  }
  return mb_run("Mod", c->out[0], a, b, fn, NULL);
}

/* ---- BitShift: unsigned integers; a shift of the bit width or more gives 0 ------------- */
#define DEF_SHIFT(A, suf, DT, T, UT)                                              \
  MB_SIG(shl_##suf) {                                                             \
    const T *pa = (const T *)av, *pb = (const T *)bv;                             \
    T *o = (T *)out;                                                              \
    (void)ctx;                                                                    \
    for (int64_t i = 0; i < n; i++) {                                             \
      T y = pb[i * sb];                                                           \
      o[i] = y >= sizeof(T) * 8 ? (T)0 : (T)((UT)pa[i * sa] << y);                \
    }                                                                             \
  }                                                                               \
  MB_SIG(shr_##suf) {                                                             \
    const T *pa = (const T *)av, *pb = (const T *)bv;                             \
    T *o = (T *)out;                                                              \
    (void)ctx;                                                                    \
    for (int64_t i = 0; i < n; i++) {                                             \
      T y = pb[i * sb];                                                           \
      o[i] = y >= sizeof(T) * 8 ? (T)0 : (T)(pa[i * sa] >> y);                    \
    }                                                                             \
  }
EW_UINT_TYPES(DEF_SHIFT, 0)

ivm_status rt_k_BitShift(const rt_call *c) {
  IVM_TRY(ew_check_io(c, "BitShift", 2, 1));
  const rt_tensor *a = c->in[0], *b = c->in[1];
  int dt = a->dtype;
  if (b->dtype != dt || c->out[0]->dtype != dt)
    return ivm_error(IVM_ERR_INTERNAL, "BitShift: operand dtypes do not match inference");
  const char *dir = c->attrs ? c->attrs[ISA_A_BitShift_direction].v.s : NULL;
  int left;
  if (dir && strcmp(dir, "LEFT") == 0) left = 1;
  else if (dir && strcmp(dir, "RIGHT") == 0) left = 0;
  else return ivm_error(IVM_ERR_INTERNAL, "BitShift: bad direction");
  mb_fn fn = NULL;
  switch (dt) {
#define SHCASE(A, suf, DT, T, UT) \
  case DT: fn = left ? shl_##suf : shr_##suf; break;
    EW_UINT_TYPES(SHCASE, 0)
#undef SHCASE
    default: return ew_bad_dtype("BitShift", dt);
  }
  return mb_run("BitShift", c->out[0], a, b, fn, NULL);
}

/* ---- PRelu: slope broadcasts to X ------------------------------------------------------ */
#define P_PRELU(x, s) ((x) < 0 ? (s) * (x) : (x))
#define DEF_PRELU_F(A, suf, DT, T, CT, LD, ST)                        \
  MB_SIG(prelu_##suf) {                                               \
    const T *pa = (const T *)av, *pb = (const T *)bv;                 \
    T *o = (T *)out;                                                  \
    (void)ctx;                                                        \
    for (int64_t i = 0; i < n; i++) {                                 \
      CT x = LD(pa[i * sa]), s = LD(pb[i * sb]);                      \
      o[i] = ST(P_PRELU(x, s));                                       \
    }                                                                 \
  }
#define DEF_PRELU_S(A, suf, DT, T, UT)                                \
  MB_SIG(prelu_##suf) {                                               \
    const T *pa = (const T *)av, *pb = (const T *)bv;                 \
    T *o = (T *)out;                                                  \
    (void)ctx;                                                        \
    for (int64_t i = 0; i < n; i++) {                                 \
      T x = pa[i * sa];                                               \
      o[i] = x < 0 ? (T)((UT)pb[i * sb] * (UT)x) : x;                 \
    }                                                                 \
  }
EW_FLOAT_TYPES(DEF_PRELU_F, 0)
EW_SINT_TYPES(DEF_PRELU_S, 0)
#define PTBL_F(A, suf, DT, T, CT, LD, ST) [DT] = prelu_##suf,
#define PTBL_I(A, suf, DT, T, UT) [DT] = prelu_##suf,
static const mb_fn tbl_prelu[EW_NDT] = {EW_FLOAT_TYPES(PTBL_F, 0) EW_SINT_TYPES(PTBL_I, 0)};

ivm_status rt_k_PRelu(const rt_call *c) {
  IVM_TRY(ew_check_io(c, "PRelu", 2, 1));
  const rt_tensor *x = c->in[0], *s = c->in[1];
  rt_tensor *y = c->out[0];
  int dt = x->dtype;
  if (s->dtype != dt || y->dtype != dt || !ew_same_shape(x, y))
    return ivm_error(IVM_ERR_INTERNAL, "PRelu: operand types do not match inference");
  mb_fn fn = dt < EW_NDT ? tbl_prelu[dt] : NULL;
  if (!fn) return ew_bad_dtype("PRelu", dt);
  return mb_run("PRelu", y, x, s, fn, NULL);
}
