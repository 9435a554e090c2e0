/* Broadcasting elementwise kernels: Add Sub Mul Div Pow Min Max, Equal Greater Less, Where,
 * FusedMulAdd.
 *
 * One driver (bcast_run) maps the output's index space onto each input with numpy
 * broadcasting: a broadcast dim gets stride 0, then adjacent dims that are contiguous for
 * every operand are merged. What remains is an outer loop and an inner run whose input
 * strides are each 0 or 1; the per-dtype inner functions have separate loops for those
 * cases so the compiler vectorises them (same-shape tensors become one call over all
 * elements; a scalar operand is hoisted out of the loop). Large outputs are cut into
 * ranges of elements across the session's worker pool. */
#include <math.h>

#include "runtime/kernels/ew.h"

/* Inner run: n output elements at out; in[k] advances by st[k] (0 or 1) elements. */
typedef void (*bc_fn)(int64_t n, const char *const *in, const int64_t *st, char *out,
                      const void *ctx);

#define BC_MAX_IN EW_BCAST_MAX_IN

/* The loop nest of one broadcasting call, run over any range of output elements: large
 * outputs are cut into ranges across the pool; a range may start and end mid-row. */
typedef struct bc_job {
  int m, n_in;
  int64_t dims[ISA_MAX_RANK], st[BC_MAX_IN][ISA_MAX_RANK];
  int64_t inner;
  size_t esz[BC_MAX_IN], osz;
  const char *in[BC_MAX_IN];
  char *out;
  bc_fn fn;
  const void *ctx;
} bc_job;

static void bc_task(void *vjob, int64_t begin, int64_t end) {
  const bc_job *j = vjob;
  int m = j->m, n_in = j->n_in;
  int64_t inner = j->inner, ist[BC_MAX_IN], idx[ISA_MAX_RANK] = {0}, off[BC_MAX_IN] = {0};
  for (int k = 0; k < n_in; k++) ist[k] = j->st[k][m - 1];
  /* Position of `begin`: its row's index in the outer dims, and its column. */
  int64_t row = begin / inner, col = begin % inner;
  for (int d = m - 2; d >= 0; d--) {
    idx[d] = row % j->dims[d];
    row /= j->dims[d];
    for (int k = 0; k < n_in; k++) off[k] += idx[d] * j->st[k][d];
  }
  const char *ip[BC_MAX_IN];
  for (int64_t e = begin; e < end;) {
    int64_t n = inner - col < end - e ? inner - col : end - e;
    for (int k = 0; k < n_in; k++)
      ip[k] = j->in[k] + (size_t)(off[k] + col * ist[k]) * j->esz[k];
    j->fn(n, ip, ist, j->out + (size_t)e * j->osz, j->ctx);
    e += n;
    col = 0;
    for (int d = m - 2; d >= 0; d--) {
      for (int k = 0; k < n_in; k++) off[k] += j->st[k][d];
      if (++idx[d] < j->dims[d]) break;
      for (int k = 0; k < n_in; k++) off[k] -= j->st[k][d] * j->dims[d];
      idx[d] = 0;
    }
  }
}

static ivm_status bcast_run(const rt_call *c, const char *op, rt_tensor *out, int n_in,
                            const rt_tensor *const *in, bc_fn fn, const void *ctx) {
  bc_job j;
  IVM_TRY(ew_bcast_plan(op, out, n_in, in, j.dims, j.st, &j.m));
  if (j.m == 0) return NULL;
  j.n_in = n_in;
  j.inner = j.dims[j.m - 1];
  for (int k = 0; k < n_in; k++) {
    j.esz[k] = ivm_dtype_size((ivm_dtype)in[k]->dtype);
    j.in[k] = in[k]->data;
  }
  j.osz = ivm_dtype_size((ivm_dtype)out->dtype);
  j.out = out->data;
  j.fn = fn;
  j.ctx = ctx;
  rt_pool_for(ew_pool(c), rt_numel(out), EW_GRAIN, bc_task, &j);
  return NULL;
}

/* ---- inner loops -------------------------------------------------------------------
 * BIN_LOOP: a[] and b[] of storage type T, computed in CT (LD widens, ST narrows the
 * result into OT). EXPR(CT, UT, x, y) is the operation. */
#define BIN_LOOP(T, OT, CT, UT, LD, ST, EXPR)                            \
  const T *a = (const T *)in[0], *b = (const T *)in[1];                  \
  OT *o = (OT *)out;                                                     \
  (void)ctx;                                                             \
  if (st[0] && st[1]) {                                                  \
    for (int64_t i = 0; i < n; i++) {                                    \
      CT x = LD(a[i]), y = LD(b[i]);                                     \
      o[i] = ST(EXPR(CT, UT, x, y));                                     \
    }                                                                    \
  } else if (st[1]) {                                                    \
    const CT x = LD(a[0]);                                               \
    for (int64_t i = 0; i < n; i++) {                                    \
      CT y = LD(b[i]);                                                   \
      o[i] = ST(EXPR(CT, UT, x, y));                                     \
    }                                                                    \
  } else if (st[0]) {                                                    \
    const CT y = LD(b[0]);                                               \
    for (int64_t i = 0; i < n; i++) {                                    \
      CT x = LD(a[i]);                                                   \
      o[i] = ST(EXPR(CT, UT, x, y));                                     \
    }                                                                    \
  } else {                                                               \
    const CT x = LD(a[0]), y = LD(b[0]);                                 \
    const OT r = ST(EXPR(CT, UT, x, y));                                 \
    for (int64_t i = 0; i < n; i++) o[i] = r;                            \
  }

#define BIN_SIG(name) \
  static void name(int64_t n, const char *const *in, const int64_t *st, char *out, const void *ctx)

/* Arithmetic: result in the operands' type. Expressions: E_<Op>_F (floats), _S (signed
 * ints), _U (unsigned ints). Integer arithmetic goes through UT so it wraps. */
#define DEF_AR_F(OP, suf, DT, T, CT, LD, ST) BIN_SIG(OP##_##suf) { BIN_LOOP(T, T, CT, CT, LD, ST, E_##OP##_F) }
#define DEF_AR_S(OP, suf, DT, T, UT) BIN_SIG(OP##_##suf) { BIN_LOOP(T, T, T, UT, EW_ID, EW_ID, E_##OP##_S) }
#define DEF_AR_U(OP, suf, DT, T, UT) BIN_SIG(OP##_##suf) { BIN_LOOP(T, T, T, UT, EW_ID, EW_ID, E_##OP##_U) }
#define TBL_F(OP, suf, DT, T, CT, LD, ST) [DT] = OP##_##suf,
#define TBL_I(OP, suf, DT, T, UT) [DT] = OP##_##suf,
#define DEF_ARITH(OP)                                                                 \
  EW_FLOAT_TYPES(DEF_AR_F, OP) EW_SINT_TYPES(DEF_AR_S, OP) EW_UINT_TYPES(DEF_AR_U, OP) \
  static const bc_fn tbl_##OP[EW_NDT] = {EW_FLOAT_TYPES(TBL_F, OP) EW_SINT_TYPES(TBL_I, OP) \
                                             EW_UINT_TYPES(TBL_I, OP)};

#define E_Add_F(T, UT, x, y) ((x) + (y))
#define E_Add_S(T, UT, x, y) ((T)((UT)(x) + (UT)(y)))
#define E_Add_U E_Add_S
#define E_Sub_F(T, UT, x, y) ((x) - (y))
#define E_Sub_S(T, UT, x, y) ((T)((UT)(x) - (UT)(y)))
#define E_Sub_U E_Sub_S
#define E_Mul_F(T, UT, x, y) ((x) * (y))
#define E_Mul_S(T, UT, x, y) ((T)((UT)(x) * (UT)(y)))
#define E_Mul_U E_Mul_S
/* Integer division truncates (C semantics). Zero divisors are rejected before the loop;
 * MIN / -1 would trap, so -1 is negation (wrapping). */
#define E_Div_F(T, UT, x, y) ((x) / (y))
#define E_Div_S(T, UT, x, y) ((y) == -1 ? (T)(0u - (UT)(x)) : (T)((x) / (y)))
#define E_Div_U(T, UT, x, y) ((T)((x) / (y)))
/* NaN propagates, as numpy's minimum / maximum. */
#define E_Min_F(T, UT, x, y) (((x) != (x) || (x) < (y)) ? (x) : (y))
#define E_Min_S(T, UT, x, y) ((x) < (y) ? (x) : (y))
#define E_Min_U E_Min_S
#define E_Max_F(T, UT, x, y) (((x) != (x) || (x) > (y)) ? (x) : (y))
#define E_Max_S(T, UT, x, y) ((x) > (y) ? (x) : (y))
#define E_Max_U E_Max_S

DEF_ARITH(Add)
DEF_ARITH(Sub)
DEF_ARITH(Mul)
DEF_ARITH(Div)
DEF_ARITH(Min)
DEF_ARITH(Max)

/* Comparisons: bool (uint8 0/1) result; bool operands compare as their truth values. */
#define DEF_CMP_F(OP, suf, DT, T, CT, LD, ST) BIN_SIG(OP##_##suf) { BIN_LOOP(T, uint8_t, CT, CT, LD, EW_ID, E_##OP) }
#define DEF_CMP_I(OP, suf, DT, T, UT) BIN_SIG(OP##_##suf) { BIN_LOOP(T, uint8_t, T, UT, EW_ID, EW_ID, E_##OP) }
#define EW_BOOLV(x) ((x) != 0)
#define DEF_COMPARE(OP)                                                                 \
  EW_FLOAT_TYPES(DEF_CMP_F, OP) EW_SINT_TYPES(DEF_CMP_I, OP) EW_UINT_TYPES(DEF_CMP_I, OP) \
  BIN_SIG(OP##_b) { BIN_LOOP(uint8_t, uint8_t, uint8_t, uint8_t, EW_BOOLV, EW_ID, E_##OP) } \
  static const bc_fn tbl_##OP[EW_NDT] = {EW_FLOAT_TYPES(TBL_F, OP) EW_SINT_TYPES(TBL_I, OP) \
                                             EW_UINT_TYPES(TBL_I, OP)[IVM_DT_BOOL] = OP##_b};
#define E_Equal(T, UT, x, y) ((uint8_t)((x) == (y)))
#define E_Greater(T, UT, x, y) ((uint8_t)((x) > (y)))
#define E_Less(T, UT, x, y) ((uint8_t)((x) < (y)))

DEF_COMPARE(Equal)
DEF_COMPARE(Greater)
DEF_COMPARE(Less)

/* ---- kernels ----------------------------------------------------------------------- */
static int any_zero(const rt_tensor *t) {
  int64_t n = rt_numel(t);
  switch (ivm_dtype_size((ivm_dtype)t->dtype)) {
#define ZCASE(S, T)                                            \
  case S: {                                                    \
    const T *p = t->data;                                      \
    for (int64_t i = 0; i < n; i++)                            \
      if (p[i] == 0) return 1;                                 \
    return 0;                                                  \
  }
    ZCASE(1, uint8_t)
    ZCASE(2, uint16_t)
    ZCASE(4, uint32_t)
    ZCASE(8, uint64_t)
#undef ZCASE
    default: return 0;
  }
}

static ivm_status run_binary(const rt_call *c, const char *op, const bc_fn *tbl, int bool_out) {
  IVM_TRY(ew_check_io(c, op, 2, 1));
  const rt_tensor *a = c->in[0], *b = c->in[1];
  rt_tensor *o = c->out[0];
  int dt = a->dtype;
  if (b->dtype != dt || o->dtype != (bool_out ? IVM_DT_BOOL : dt))
    return ivm_error(IVM_ERR_INTERNAL, "%s: operand dtypes %s, %s -> %s", op,
                     ivm_dtype_name((ivm_dtype)dt), ivm_dtype_name((ivm_dtype)b->dtype),
                     ivm_dtype_name((ivm_dtype)o->dtype));
  bc_fn fn = dt < EW_NDT ? tbl[dt] : NULL;
  if (!fn) return ew_bad_dtype(op, dt);
  return bcast_run(c, op, o, 2, c->in, fn, NULL);
}

ivm_status rt_k_Add(const rt_call *c) { return run_binary(c, "Add", tbl_Add, 0); }
ivm_status rt_k_Sub(const rt_call *c) { return run_binary(c, "Sub", tbl_Sub, 0); }
ivm_status rt_k_Mul(const rt_call *c) { return run_binary(c, "Mul", tbl_Mul, 0); }
ivm_status rt_k_Min(const rt_call *c) { return run_binary(c, "Min", tbl_Min, 0); }
ivm_status rt_k_Max(const rt_call *c) { return run_binary(c, "Max", tbl_Max, 0); }
ivm_status rt_k_Equal(const rt_call *c) { return run_binary(c, "Equal", tbl_Equal, 1); }
ivm_status rt_k_Greater(const rt_call *c) { return run_binary(c, "Greater", tbl_Greater, 1); }
ivm_status rt_k_Less(const rt_call *c) { return run_binary(c, "Less", tbl_Less, 1); }

ivm_status rt_k_Div(const rt_call *c) {
  IVM_TRY(ew_check_io(c, "Div", 2, 1));
  if (isa_dtype_is_int(c->in[1]->dtype) && any_zero(c->in[1]))
    return ivm_error(IVM_ERR_RUNTIME, "Div: integer division by zero");
  return run_binary(c, "Div", tbl_Div, 0);
}

/* ---- Pow ----------------------------------------------------------------------------
 * Same-dtype float powers use powf/pow directly. Mixed dtypes follow numpy, which the
 * ONNX tests were generated with: the pair is promoted (to double when either side is a
 * float), and the result converted to X's dtype. Integer ^ integer is exact. An f32
 * exponent of one element equal to 1, 2 or 3 takes pow_small_f32. */
#define E_Pow_F32(T, UT, x, y) powf((x), (y))
#define E_Pow_F64(T, UT, x, y) pow((x), (y))
BIN_SIG(Pow_f32) { BIN_LOOP(float, float, float, float, EW_ID, EW_ID, E_Pow_F32) }
BIN_SIG(Pow_f64) { BIN_LOOP(double, double, double, double, EW_ID, EW_ID, E_Pow_F64) }
BIN_SIG(Pow_f16) { BIN_LOOP(uint16_t, uint16_t, float, float, ew_f16_to_f32, ew_f32_to_f16, E_Pow_F32) }
BIN_SIG(Pow_bf16) { BIN_LOOP(uint16_t, uint16_t, float, float, ew_bf16_to_f32, ew_f32_to_bf16, E_Pow_F32) }

/* f32 ^ a one-element f32 exponent of 1, 2 or 3 (ctx: the exponent as int): x, x * x
 * (the correctly rounded square, as powf gives) and x^3 through double (x * x exact, one
 * rounding in double, then to float); vectorised loops instead of a powf per element. */
static inline float pow_small_1(float x, int k) {
  double d = x;
  return k == 1 ? x : k == 2 ? x * x : (float)(d * d * d);
}

static void pow_small_f32(int64_t n, const char *const *in, const int64_t *st, char *out,
                          const void *ctx) {
  const float *a = (const float *)in[0];
  float *o = (float *)out;
  int k = *(const int *)ctx;
  if (!st[0]) { /* x broadcast too: one value */
    float r = pow_small_1(a[0], k);
    for (int64_t i = 0; i < n; i++) o[i] = r;
  } else if (k == 1) {
    if (o != a) memmove(o, a, (size_t)n * sizeof(float));
  } else if (k == 2) {
    for (int64_t i = 0; i < n; i++) o[i] = a[i] * a[i];
  } else {
    for (int64_t i = 0; i < n; i++) {
      double x = a[i];
      o[i] = (float)(x * x * x);
    }
  }
}

typedef struct pow_ctx {
  int dx, dy;
} pow_ctx;

/* x^y for integers by squaring, wrapping like repeated multiplication. Negative
 * exponents truncate 1/x^|y| toward zero. */
static uint64_t ipow(int64_t x, int64_t y) {
  if (y < 0) {
    if (x == 1) return 1;
    if (x == -1) return (y & 1) ? (uint64_t)-1 : 1;
    return 0;
  }
  uint64_t r = 1, b = (uint64_t)x;
  while (y) {
    if (y & 1) r *= b;
    b *= b;
    y >>= 1;
  }
  return r;
}

static void pow_mixed(int64_t n, const char *const *in, const int64_t *st, char *out,
                      const void *vctx) {
  const pow_ctx *pc = vctx;
  int xi = isa_dtype_is_int(pc->dx), yi = isa_dtype_is_int(pc->dy);
  for (int64_t i = 0; i < n; i++) {
    int64_t ia = i * st[0], ib = i * st[1];
    if (xi && yi) {
      /* u64 exponents above INT64_MAX are out of any useful range; treat as huge. */
      int64_t y = ew_load_i64(pc->dy, in[1], ib);
      if (pc->dy == IVM_DT_U64 && y < 0) y = INT64_MAX;
      ew_store_i64(pc->dx, out, i, ipow(ew_load_i64(pc->dx, in[0], ia), y));
    } else {
      ew_store_d(pc->dx, out, i, pow(ew_load_d(pc->dx, in[0], ia), ew_load_d(pc->dy, in[1], ib)));
    }
  }
}

ivm_status rt_k_Pow(const rt_call *c) {
  IVM_TRY(ew_check_io(c, "Pow", 2, 1));
  const rt_tensor *x = c->in[0], *y = c->in[1];
  rt_tensor *o = c->out[0];
  int dx = x->dtype, dy = y->dtype;
  if (o->dtype != dx) return ivm_error(IVM_ERR_INTERNAL, "Pow: output dtype differs from X");
  int okx = isa_dtype_is_float(dx) || isa_dtype_is_int(dx);
  int oky = isa_dtype_is_float(dy) || isa_dtype_is_int(dy);
  if (!okx) return ew_bad_dtype("Pow", dx);
  if (!oky) return ew_bad_dtype("Pow", dy);
  if (dx == IVM_DT_F32 && dy == IVM_DT_F32 && rt_numel(y) == 1) {
    float e = *(const float *)y->data;
    int k = e == 1.0f ? 1 : e == 2.0f ? 2 : e == 3.0f ? 3 : 0;
    if (k) return bcast_run(c, "Pow", o, 2, c->in, pow_small_f32, &k);
  }
  if (dx == dy) {
    bc_fn fn = dx == IVM_DT_F32 ? Pow_f32 : dx == IVM_DT_F64 ? Pow_f64
             : dx == IVM_DT_F16 ? Pow_f16 : dx == IVM_DT_BF16 ? Pow_bf16 : NULL;
    if (fn) return bcast_run(c, "Pow", o, 2, c->in, fn, NULL);
  }
  pow_ctx pc = {dx, dy};
  return bcast_run(c, "Pow", o, 2, c->in, pow_mixed, &pc);
}

/* ---- Where ---------------------------------------------------------------------------
 * Selection copies bits, so one loop per element size covers every dtype. */
#define DEF_WHERE(S, T)                                                        \
  static void where_##S(int64_t n, const char *const *in, const int64_t *st,   \
                        char *out, const void *ctx) {                          \
    const uint8_t *c = (const uint8_t *)in[0];                                 \
    const T *x = (const T *)in[1], *y = (const T *)in[2];                      \
    T *o = (T *)out;                                                           \
    (void)ctx;                                                                 \
    if (st[0] && st[1] && st[2]) {                                             \
      for (int64_t i = 0; i < n; i++) o[i] = c[i] ? x[i] : y[i];               \
    } else {                                                                   \
      int64_t sc = st[0], sx = st[1], sy = st[2];                              \
      for (int64_t i = 0; i < n; i++) o[i] = c[i * sc] ? x[i * sx] : y[i * sy]; \
    }                                                                          \
  }
DEF_WHERE(1, uint8_t)
DEF_WHERE(2, uint16_t)
DEF_WHERE(4, uint32_t)
DEF_WHERE(8, uint64_t)

ivm_status rt_k_Where(const rt_call *c) {
  IVM_TRY(ew_check_io(c, "Where", 3, 1));
  const rt_tensor *cond = c->in[0], *x = c->in[1], *y = c->in[2];
  rt_tensor *o = c->out[0];
  if (cond->dtype != IVM_DT_BOOL || x->dtype != y->dtype || o->dtype != x->dtype)
    return ivm_error(IVM_ERR_INTERNAL, "Where: operand dtypes do not match inference");
  bc_fn fn = NULL;
  switch (ivm_dtype_size((ivm_dtype)x->dtype)) {
    case 1: fn = where_1; break;
    case 2: fn = where_2; break;
    case 4: fn = where_4; break;
    case 8: fn = where_8; break;
    default: return ew_bad_dtype("Where", x->dtype);
  }
  return bcast_run(c, "Where", o, 3, c->in, fn, NULL);
}

/* ---- FusedMulAdd ----------------------------------------------------------------------
 * The product rounded to f32, then the sum: Mul's and Add's bits. ISO C mode (-std=c11)
 * does not contract a * b + c into an FMA, which would round once (test_fuse.c holds the
 * bits to the unfused module's). The loops the models take (every operand a run, or B a
 * per-channel or scalar value: x + x * s) are written out so they vectorise. */
static void muladd_f32(int64_t n, const char *const *in, const int64_t *st, char *out,
                       const void *ctx) {
  const float *a = (const float *)in[0], *b = (const float *)in[1], *c = (const float *)in[2];
  float *o = (float *)out;
  (void)ctx;
  if (st[0] && st[1] && st[2]) {
    for (int64_t i = 0; i < n; i++) {
      float p = a[i] * b[i];
      o[i] = p + c[i];
    }
  } else if (st[0] && !st[1] && st[2]) {
    const float y = b[0];
    for (int64_t i = 0; i < n; i++) {
      float p = a[i] * y;
      o[i] = p + c[i];
    }
  } else if (!st[0] && st[1] && st[2]) {
    const float x = a[0];
    for (int64_t i = 0; i < n; i++) {
      float p = x * b[i];
      o[i] = p + c[i];
    }
  } else {
    int64_t sa = st[0], sb = st[1], sc = st[2];
    for (int64_t i = 0; i < n; i++) {
      float p = a[i * sa] * b[i * sb];
      o[i] = p + c[i * sc];
    }
  }
}

ivm_status rt_k_FusedMulAdd(const rt_call *c) {
  IVM_TRY(ew_check_io(c, "FusedMulAdd", 3, 1));
  for (int k = 0; k < 3; k++)
    if (c->in[k]->dtype != IVM_DT_F32)
      return ivm_error(IVM_ERR_INTERNAL, "FusedMulAdd: operands must be f32");
  if (c->out[0]->dtype != IVM_DT_F32)
    return ivm_error(IVM_ERR_INTERNAL, "FusedMulAdd: output must be f32");
  return bcast_run(c, "FusedMulAdd", c->out[0], 3, c->in, muladd_f32, NULL);
}
