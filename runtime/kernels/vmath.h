/* Vector math shared by the recurrent kernels (rnn_vec.c), the unary activations
 * (unary.c, math_unary.c), Softmax rows (norm.c) and the plane sums of GlobalAveragePool
 * (pool.c): GCC generic vectors as wide as the build's registers (AVX2 in Release builds),
 * unaligned loads and stores, e^x, sigmoid and tanh after Cephes, erfc and GELU, and a
 * float sum accumulated in double.
 *
 * Determinism: each function computes every element (every sum) by the same instructions
 * wherever it sits in memory; VM_MAP sends a run's tail through a padded copy so that it
 * too goes through the vector code. Private to the runtime. Everything here is a pure
 * function, so thread-safe. Compilers without GCC vector extensions get VM_HAVE_VEC == 0
 * and only vm_sum_f32 (scalar). */
#ifndef IVM_RUNTIME_KERNELS_VMATH_H
#define IVM_RUNTIME_KERNELS_VMATH_H

#include <stdint.h>
#include <string.h>

/* a * b + c fused where the target has FMA: the compiler decides per build, and every
 * element of one build goes through the same instructions (ISO C mode turns contraction
 * off by default). */
#if defined(__GNUC__) && !defined(__clang__)
#define VM_FMA_ATTR __attribute__((optimize("fp-contract=fast")))
#else
#define VM_FMA_ATTR
#endif

#if defined(__GNUC__)
#define VM_HAVE_VEC 1
/* Vectors as wide as the build's registers (passing wider ones by value changes the ABI):
 * 16 lanes in a translation unit compiled for AVX-512 (math_unary512.c). */
#if defined(__AVX512F__)
#define VW 16
#elif defined(__AVX__)
#define VW 8
#else
#define VW 4
#endif
typedef float vf __attribute__((vector_size(VW * sizeof(float))));
typedef int32_t vi __attribute__((vector_size(VW * sizeof(int32_t))));

static inline vf ldv(const float *p) {
  vf v; /* memcpy: no alignment or aliasing assumptions; one unaligned load */
  memcpy(&v, p, sizeof v);
  return v;
}
static inline void stv(float *p, vf v) { memcpy(p, &v, sizeof v); }
static inline vf splat(float f) { return (vf){0} + f; }
static inline vf blend(vi mask, vf yes, vf no) {
  return (vf)(((vi)yes & mask) | ((vi)no & ~mask));
}

/* ---- e^x as in Cephes expf: x = n ln2 + r with |r| <= ln2/2 (ln2 in two parts), a
 * degree-6 polynomial for e^r. Comparisons are written so that NaN falls through
 * unchanged. vm_exp_poly gives e^r and n for x already clamped to |x / ln2| < 2^22. */
VM_FMA_ATTR static inline vf vm_exp_poly(vf x, vf *n_out) {
  /* n = round(x / ln2): adding 1.5 * 2^23 rounds to an integer. */
  vf n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  vf r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  vf z = r * r;
  vf y = 1.9875691500e-4f * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  *n_out = n;
  return y * z + r + 1.0f;
}

/* x clamped to [-87, 88] so 2^n stays a normal float; past that the results are within
 * 1e-38 of libm's (0 or 1 after the gate formulas). The recurrent kernels' e^x. */
VM_FMA_ATTR static inline vf v_exp(vf x) {
  x = blend(x < splat(-87.0f), splat(-87.0f), x);
  x = blend(x > splat(88.0f), splat(88.0f), x);
  vf n, y = vm_exp_poly(x, &n);
  vi e = (__builtin_convertvector(n, vi) + 127) << 23;
  return y * (vf)e;
}

/* e^x over the whole float range: 2^n applied as two normal powers of two, so results
 * overflow to +inf above about 88.72 and go through the subnormals to 0 below about
 * -103.97 as libm's do (x clamped to [-104, 89], where they are reached). */
VM_FMA_ATTR static inline vf v_exp_full(vf x) {
  x = blend(x < splat(-104.0f), splat(-104.0f), x);
  x = blend(x > splat(89.0f), splat(89.0f), x);
  vf n, y = vm_exp_poly(x, &n);
  vi ni = __builtin_convertvector(n, vi), n1 = ni >> 1, n2 = ni - n1;
  return y * (vf)((n1 + 127) << 23) * (vf)((n2 + 127) << 23);
}

VM_FMA_ATTR static inline vf v_sigmoid(vf x) { return 1.0f / (1.0f + v_exp(-x)); }

/* 1 / (1 + e^-x) over the whole float range, from e = e^-|x| (never overflows): 1 / (1 + e)
 * for x >= 0, e / (1 + e) below, so large negative x go through the subnormals to 0 and
 * large positive x round to 1. NaN stays NaN. */
VM_FMA_ATTR static inline vf v_sigmoid_full(vf x) {
  const vi sign = (vi){0} + (int32_t)0x80000000;
  vf e = v_exp_full((vf)((vi)x | sign));
  return blend(x < splat(0.0f), e, splat(1.0f)) / (1.0f + e);
}

/* tanh as in Cephes tanhf: an odd polynomial below |x| = 0.625, else 1 - 2 / (e^2|x| + 1)
 * with x's sign. */
VM_FMA_ATTR static inline vf v_tanh(vf x) {
  const vi sign = (vi){0} + (int32_t)0x80000000;
  vf ax = (vf)((vi)x & ~sign);
  vf z = x * x;
  vf p = -5.70498872745e-3f * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  vf small = p * z * x + x;
  vf big = 1.0f - 2.0f / (v_exp(ax + ax) + 1.0f);
  big = (vf)((vi)big | ((vi)x & sign));
  return blend(ax < splat(0.625f), small, big);
}

/* erfc(a / sqrt 2) for a >= 0 (or NaN) by Numerical Recipes' erfcc, a Chebyshev fit with
 * fractional error below 1.2e-7 everywhere: t e^(-z^2 + P(t)), z = a / sqrt 2,
 * t = 1 / (1 + z/2). The exponent is taken from a itself, z^2 = a^2 / 2 = hi + lo with
 * hi = ah^2 / 2 exact (ah: a cut to 12 bits), as e^(-hi) e^(P - lo): the roundings of z
 * and of a large z^2 would otherwise reach the result as |z^2| ulps (Cephes' expx2f splits
 * the same way). a is clamped at 28, where erfc is 0 in float, so +inf gives 0 rather
 * than inf - inf. */
VM_FMA_ATTR static inline vf v_erfc_sqrt1_2(vf a) {
  a = blend(a > splat(28.0f), splat(28.0f), a);
  vf t = 1.0f / (1.0f + 0.5f * (a * 0.70710678118654752440f));
  vf p = 0.17087277f * t - 0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t - 1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t - 0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  p = p * t - 1.26551223f;
  vf ah = (vf)((vi)a & (int32_t)0xfffff000); /* 12 significant bits: ah * ah is exact */
  vf hi = ah * ah * 0.5f, lo = (a - ah) * (a + ah) * 0.5f;
  return t * v_exp_full(-hi) * v_exp(p - lo);
}

/* GELU with the exact erf: x/2 (1 + erf(x / sqrt 2)) = x/2 erfc(-x / sqrt 2), from
 * erfc(|x| / sqrt 2) or 2 minus it, so negative x keep full relative accuracy. NaN stays
 * NaN, +inf gives inf, -inf NaN (as x/2 (1 + erf) does). */
VM_FMA_ATTR static inline vf v_gelu_erf(vf x) {
  const vi sign = (vi){0} + (int32_t)0x80000000;
  vf e = v_erfc_sqrt1_2((vf)((vi)x & ~sign));
  return 0.5f * x * blend(x < splat(0.0f), e, 2.0f - e);
}

/* GELU over 16 lanes (math_unary512.c: this file's code compiled for AVX-512, so every
 * element gets the bits of v_gelu_erf at any width): twice the elements per instruction.
 * Only for CPUs with AVX-512 (the caller checks); a no-op returning 0 where not built. */
int rt_gelu_erf_f32_avx512(float *dst, const float *src, int64_t n);

/* dst[i] = fn(src[i]) for i < n (dst may be src): whole vectors, then the tail through a
 * padded copy so that every element goes through the same instructions wherever it sits. */
#define VM_MAP(fn, dst, src, n)                                               \
  do {                                                                        \
    int64_t i_ = 0;                                                           \
    for (; i_ + VW <= (n); i_ += VW) stv((dst) + i_, fn(ldv((src) + i_)));    \
    if (i_ < (n)) {                                                           \
      float pad_[VW] = {0};                                                   \
      memcpy(pad_, (src) + i_, (size_t)((n) - i_) * sizeof(float));           \
      stv(pad_, fn(ldv(pad_)));                                               \
      memcpy((dst) + i_, pad_, (size_t)((n) - i_) * sizeof(float));           \
    }                                                                         \
  } while (0)

/* ---- sum of n floats in double: 8 vector accumulators of 4 doubles over blocks of 32,
 * combined pairwise, then the tail in order. The order depends on n alone. */
typedef float vm_f4 __attribute__((vector_size(4 * sizeof(float))));
typedef double vm_d4 __attribute__((vector_size(4 * sizeof(double))));

static inline double vm_sum_f32(const float *p, int64_t n) {
  enum { NA = 8 };
  vm_d4 acc[NA];
  for (int a = 0; a < NA; a++) acc[a] = (vm_d4){0};
  int64_t i = 0;
  for (; i + 4 * NA <= n; i += 4 * NA)
    for (int a = 0; a < NA; a++) {
      vm_f4 v;
      memcpy(&v, p + i + 4 * a, sizeof v);
      acc[a] += __builtin_convertvector(v, vm_d4);
    }
  for (int w = NA / 2; w > 0; w /= 2)
    for (int a = 0; a < w; a++) acc[a] += acc[a + w];
  double s = (acc[0][0] + acc[0][1]) + (acc[0][2] + acc[0][3]);
  for (; i < n; i++) s += p[i];
  return s;
}
#else
#define VM_HAVE_VEC 0
static inline double vm_sum_f32(const float *p, int64_t n) {
  double acc[8] = {0}, s = 0;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int a = 0; a < 8; a++) acc[a] += p[i + a];
  for (int w = 4; w > 0; w /= 2)
    for (int a = 0; a < w; a++) acc[a] += acc[a + w];
  s = acc[0];
  for (; i < n; i++) s += p[i];
  return s;
}
#endif

#endif
