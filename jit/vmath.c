/* f32 vector math in IR: exp, log, tanh, erf.
 *
 * LLVM lowers llvm.exp/llvm.log on vectors to one libm call per lane, which costs more
 * than the rest of a typical expression together, so these are expanded inline: Cephes
 * range reductions and polynomials (exp, log, tanh) and our own Chebyshev fit (erf),
 * branch-free with selects for the special cases. Accuracy is a few ulp over the normal
 * range (tests/unit/test_jit.c sweeps them against libm in double). */
#include <math.h>

#include "jit/codegen.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Horner's rule; coefficients highest degree first. */
static LLVMValueRef poly(jit_cg *cg, LLVMValueRef x, const double *c, unsigned n) {
  LLVMTypeRef t = LLVMTypeOf(x);
  LLVMValueRef acc = jit_splat_f(cg, t, c[0]);
  for (unsigned k = 1; k < n; k++) acc = jit_fmuladd(cg, acc, x, jit_splat_f(cg, t, c[k]));
  return acc;
}

static LLVMValueRef call1(jit_cg *cg, const char *name, LLVMValueRef x) {
  return jit_intrinsic(cg, name, LLVMTypeOf(x), &x, 1);
}

static LLVMValueRef call2(jit_cg *cg, const char *name, LLVMValueRef x, LLVMValueRef y) {
  LLVMValueRef args[2] = {x, y};
  return jit_intrinsic(cg, name, LLVMTypeOf(x), args, 2);
}

static LLVMValueRef is_nan(jit_cg *cg, LLVMValueRef x) {
  return LLVMBuildFCmp(cg->b, LLVMRealUNO, x, x, "isnan");
}

/* 2^n for integer vectors n in [-252, 254], as the product of two normal powers of two
 * (one alone cannot reach the subnormal results exp produces near its lower end). */
static LLVMValueRef scale_pow2(jit_cg *cg, LLVMValueRef y, LLVMValueRef n) {
  LLVMBuilderRef b = cg->b;
  LLVMTypeRef ft = LLVMTypeOf(y);
  LLVMValueRef half = LLVMBuildAShr(b, n, jit_splat_i32(cg, 1), "");
  LLVMValueRef rest = LLVMBuildSub(b, n, half, "");
  LLVMValueRef bias = jit_splat_i32(cg, 127), shift = jit_splat_i32(cg, 23);
  LLVMValueRef s1 = LLVMBuildBitCast(b, LLVMBuildShl(b, LLVMBuildAdd(b, half, bias, ""), shift, ""),
                                     ft, "");
  LLVMValueRef s2 = LLVMBuildBitCast(b, LLVMBuildShl(b, LLVMBuildAdd(b, rest, bias, ""), shift, ""),
                                     ft, "");
  return LLVMBuildFMul(b, LLVMBuildFMul(b, y, s1, ""), s2, "");
}

/* Cephes expf: x = n ln2 + r with |r| <= ln2/2 (ln2 split in two so n ln2 is exact),
 * e^r by a degree-7 polynomial, then scaled by 2^n. Inputs are clamped first so n stays
 * in range: e^89 overflows to inf by itself and e^-104 rounds to 0. */
LLVMValueRef jit_exp_f32(jit_cg *cg, LLVMValueRef x) {
  static const double p[] = {1.9875691500E-4, 1.3981999507E-3, 8.3334519073E-3,
                             4.1665795894E-2, 1.6666665459E-1, 5.0000001201E-1};
  LLVMBuilderRef b = cg->b;
  LLVMTypeRef t = LLVMTypeOf(x);
  LLVMValueRef xc = call2(cg, "llvm.minnum", x, jit_splat_f(cg, t, 89.0));
  xc = call2(cg, "llvm.maxnum", xc, jit_splat_f(cg, t, -104.0));
  LLVMValueRef fx = jit_fmuladd(cg, xc, jit_splat_f(cg, t, 1.44269504088896341),
                                jit_splat_f(cg, t, 0.5));
  fx = call1(cg, "llvm.floor", fx);
  LLVMValueRef r = jit_fmuladd(cg, fx, jit_splat_f(cg, t, -0.693359375), xc);
  r = jit_fmuladd(cg, fx, jit_splat_f(cg, t, 2.12194440e-4), r);
  LLVMValueRef y = jit_fmuladd(cg, poly(cg, r, p, COUNT(p)), LLVMBuildFMul(b, r, r, ""), r);
  y = LLVMBuildFAdd(b, y, jit_splat_f(cg, t, 1.0), "");
  LLVMValueRef n = LLVMBuildFPToSI(b, fx, jit_vec(cg, cg->i32), "");
  LLVMValueRef res = scale_pow2(cg, y, n);
  return LLVMBuildSelect(b, is_nan(cg, x), x, res, "exp");
}

/* Cephes logf: x = m 2^e with m in [sqrt(1/2), sqrt(2)), log(m) = f - f^2/2 + f^3 P(f)
 * for f = m - 1, plus e ln2 (split in two). Subnormals are scaled by 2^23 first. */
LLVMValueRef jit_log_f32(jit_cg *cg, LLVMValueRef x) {
  static const double p[] = {7.0376836292E-2, -1.1514610310E-1, 1.1676998740E-1,
                             -1.2420140846E-1, 1.4249322787E-1, -1.6668057665E-1,
                             2.0000714765E-1, -2.4999993993E-1, 3.3333331174E-1};
  LLVMBuilderRef b = cg->b;
  LLVMTypeRef t = LLVMTypeOf(x), it = jit_vec(cg, cg->i32);
  LLVMValueRef subnormal = LLVMBuildFCmp(b, LLVMRealOLT, x, jit_splat_f(cg, t, 1.17549435e-38), "");
  LLVMValueRef xs =
      LLVMBuildSelect(b, subnormal, LLVMBuildFMul(b, x, jit_splat_f(cg, t, 8388608.0), ""), x, "");
  LLVMValueRef e_adj = LLVMBuildSelect(b, subnormal, jit_splat_i32(cg, -23), jit_splat_i32(cg, 0), "");
  LLVMValueRef bits = LLVMBuildBitCast(b, xs, it, "");
  LLVMValueRef e = LLVMBuildAnd(b, LLVMBuildLShr(b, bits, jit_splat_i32(cg, 23), ""),
                                jit_splat_i32(cg, 0xff), "");
  e = LLVMBuildAdd(b, LLVMBuildSub(b, e, jit_splat_i32(cg, 126), ""), e_adj, "");
  /* m in [0.5, 1): keep the mantissa, set the exponent of 0.5. */
  LLVMValueRef m = LLVMBuildOr(b, LLVMBuildAnd(b, bits, jit_splat_i32(cg, 0x007fffff), ""),
                               jit_splat_i32(cg, 0x3f000000), "");
  m = LLVMBuildBitCast(b, m, t, "");
  LLVMValueRef small = LLVMBuildFCmp(b, LLVMRealOLT, m, jit_splat_f(cg, t, 0.707106781186547524), "");
  e = LLVMBuildSelect(b, small, LLVMBuildSub(b, e, jit_splat_i32(cg, 1), ""), e, "");
  m = LLVMBuildSelect(b, small, LLVMBuildFAdd(b, m, m, ""), m, "");
  LLVMValueRef f = LLVMBuildFSub(b, m, jit_splat_f(cg, t, 1.0), ""); /* exact (Sterbenz) */
  LLVMValueRef ef = LLVMBuildSIToFP(b, e, t, "");
  LLVMValueRef z = LLVMBuildFMul(b, f, f, "");
  LLVMValueRef y = LLVMBuildFMul(b, LLVMBuildFMul(b, poly(cg, f, p, COUNT(p)), f, ""), z, "");
  y = jit_fmuladd(cg, ef, jit_splat_f(cg, t, -2.12194440e-4), y);
  y = jit_fmuladd(cg, z, jit_splat_f(cg, t, -0.5), y);
  LLVMValueRef r = LLVMBuildFAdd(b, f, y, "");
  r = jit_fmuladd(cg, ef, jit_splat_f(cg, t, 0.693359375), r);
  /* log(+inf) = inf, log(+-0) = -inf, log(x < 0) = log(nan) = nan. */
  LLVMValueRef inf = jit_splat_f(cg, t, INFINITY);
  r = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOEQ, x, inf, ""), inf, r, "");
  r = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOEQ, x, jit_splat_f(cg, t, 0.0), ""),
                      jit_splat_f(cg, t, -INFINITY), r, "");
  return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealULT, x, jit_splat_f(cg, t, 0.0), ""),
                         jit_splat_f(cg, t, NAN), r, "log");
}

/* Cephes tanhf: an odd polynomial below |x| = 0.625, else 1 - 2 / (e^{2|x|} + 1) with
 * x's sign (e^{2|x|} = inf gives exactly 1; NaN flows through the exp). */
LLVMValueRef jit_tanh_f32(jit_cg *cg, LLVMValueRef x) {
  static const double p[] = {-5.70498872745E-3, 2.06390887954E-2, -5.37397155531E-2,
                             1.33314422036E-1, -3.33332819422E-1};
  LLVMBuilderRef b = cg->b;
  LLVMTypeRef t = LLVMTypeOf(x);
  LLVMValueRef ax = call1(cg, "llvm.fabs", x);
  LLVMValueRef z = LLVMBuildFMul(b, x, x, "");
  LLVMValueRef small = jit_fmuladd(cg, LLVMBuildFMul(b, poly(cg, z, p, COUNT(p)), z, ""), x, x);
  LLVMValueRef e = jit_exp_f32(cg, LLVMBuildFAdd(b, ax, ax, ""));
  LLVMValueRef one = jit_splat_f(cg, t, 1.0);
  LLVMValueRef large = LLVMBuildFSub(
      b, one, LLVMBuildFDiv(b, jit_splat_f(cg, t, 2.0), LLVMBuildFAdd(b, e, one, ""), ""), "");
  LLVMValueRef is_small = LLVMBuildFCmp(b, LLVMRealOLT, ax, jit_splat_f(cg, t, 0.625), "");
  /* One copysign for both branches: it also keeps tanh(-0) = -0, which the polynomial
   * loses (x + (-0) * p(0) is +0 when p(0) < 0). */
  return call2(cg, "llvm.copysign", LLVMBuildSelect(b, is_small, small, large, ""), x);
}

/* erf: below |x| = 1, x P(x^2); from 1 to 4, 1 - e^{-x^2} Q(1/x); beyond 4 erf rounds to
 * +-1 in f32 (the clamp gives 1 - 1.5e-8). P and Q are Chebyshev fits made with mpmath
 * (max abs error 1.2e-9 for erf(x)/x on [0, 1] and 4.7e-9 for erfc(x) e^{x^2} on [1, 4]). */
LLVMValueRef jit_erf_f32(jit_cg *cg, LLVMValueRef x) {
  static const double p[] = {7.8758750626854883e-5, -8.0168642871658695e-4,
                             5.189087423433974e-3,  -2.6854212010626412e-2,
                             0.11283594715160218,   -0.37612626666720331,
                             1.1283791658483509};
  static const double q[] = {0.025032543186535637,  -0.14789844462513762,
                             0.36086186040483293,   -0.42983374861601877,
                             0.14547734763553956,   0.2825897937336853,
                             -0.39485958794873936,  0.024847521258800558,
                             0.56121463798951681,   0.00015165568581170204};
  LLVMBuilderRef b = cg->b;
  LLVMTypeRef t = LLVMTypeOf(x);
  LLVMValueRef one = jit_splat_f(cg, t, 1.0);
  LLVMValueRef ax = call1(cg, "llvm.fabs", x);
  LLVMValueRef small = LLVMBuildFMul(b, x, poly(cg, LLVMBuildFMul(b, x, x, ""), p, COUNT(p)), "");
  LLVMValueRef axc = call2(cg, "llvm.minnum", ax, jit_splat_f(cg, t, 4.0));
  LLVMValueRef u = LLVMBuildFDiv(b, one, axc, "");
  LLVMValueRef e = jit_exp_f32(cg, LLVMBuildFNeg(b, LLVMBuildFMul(b, axc, axc, ""), ""));
  LLVMValueRef large = jit_fmuladd(cg, LLVMBuildFNeg(b, e, ""), poly(cg, u, q, COUNT(q)), one);
  large = call2(cg, "llvm.copysign", large, x);
  LLVMValueRef is_small = LLVMBuildFCmp(b, LLVMRealOLT, ax, one, "");
  LLVMValueRef r = LLVMBuildSelect(b, is_small, small, large, "");
  return LLVMBuildSelect(b, is_nan(cg, x), x, r, "erf");
}
