/* FusedConv's epilogue in AVX-512 registers, shared by the direct (conv_direct.c) and
 * Winograd (conv_wino.c) kernels and rt_conv_activate_fast: the activations conv_act may
 * apply in registers, with the bits of their own kernels, then the clip with conv_clip's
 * bits and the affine with the Mul and Add kernels'. Include inside an
 * `#if defined(__GNUC__) && defined(__x86_64__)` block, after <immintrin.h>. */
#ifndef IVM_RUNTIME_KERNELS_CONV_ACT512_H
#define IVM_RUNTIME_KERNELS_CONV_ACT512_H

#include "runtime/kernels/conv.h"

#define CONV512_FN __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,fma")))

/* max(0, x) as x < 0 ? 0 : x: keeps -0 and NaN. */
CONV512_FN static inline __m512 conv512_relu(__m512 x) {
  return _mm512_max_ps(_mm512_setzero_ps(), x);
}

CONV512_FN static inline __m512 conv512_leaky_relu(__m512 x, __m512 alpha) {
  return _mm512_mask_mul_ps(x, _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ), x, alpha);
}

/* HardSwish as unary.c computes it: x * clamp(x * (1/6) + 0.5, 0, 1), a product and a
 * sum rounded apart (ISO C mode: no contraction into an FMA), NaN kept by the clamp. */
CONV512_FN static inline __m512 conv512_hard_swish(__m512 x) {
  __m512 t = _mm512_add_ps(_mm512_mul_ps(x, _mm512_set1_ps((float)(1.0 / 6.0))),
                           _mm512_set1_ps(0.5f));
  t = _mm512_mask_mov_ps(t, _mm512_cmp_ps_mask(t, _mm512_setzero_ps(), _CMP_LT_OQ),
                         _mm512_setzero_ps());
  t = _mm512_mask_mov_ps(t, _mm512_cmp_ps_mask(t, _mm512_set1_ps(1.0f), _CMP_GT_OQ),
                         _mm512_set1_ps(1.0f));
  return _mm512_mul_ps(x, t);
}

/* conv_clip: x stays where it is NaN or beyond the bound ("not <=" and "not >=" are true
 * for NaN). */
CONV512_FN static inline __m512 conv512_clip(__m512 x, int has_min, float min, int has_max,
                                             float max) {
  if (has_min) {
    __m512 b = _mm512_set1_ps(min);
    x = _mm512_mask_mov_ps(b, _mm512_cmp_ps_mask(x, b, _CMP_NLE_UQ), x);
  }
  if (has_max) {
    __m512 b = _mm512_set1_ps(max);
    x = _mm512_mask_mov_ps(b, _mm512_cmp_ps_mask(x, b, _CMP_NGE_UQ), x);
  }
  return x;
}

/* x * scale, then + shift, rounded apart as Mul and Add round them (ISO C mode: no
 * contraction into an FMA). */
CONV512_FN static inline __m512 conv512_affine(__m512 x, int has_scale, float scale,
                                               int has_shift, float shift) {
  if (has_scale) x = _mm512_mul_ps(x, _mm512_set1_ps(scale));
  if (has_shift) x = _mm512_add_ps(x, _mm512_set1_ps(shift));
  return x;
}

/* The whole epilogue on one vector (act->kind not CONV_ACT_CALL). */
CONV512_FN static inline __m512 conv512_activate(const conv_act *act, __m512 x) {
  if (act->kind == CONV_ACT_RELU) x = conv512_relu(x);
  else if (act->kind == CONV_ACT_LEAKY_RELU) x = conv512_leaky_relu(x, _mm512_set1_ps(act->alpha));
  else if (act->kind == CONV_ACT_HARD_SWISH) x = conv512_hard_swish(x);
  x = conv512_clip(x, act->has_min, act->min, act->has_max, act->max);
  return conv512_affine(x, act->has_scale, act->scale, act->has_shift, act->shift);
}

#endif
