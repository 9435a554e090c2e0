/* vmath.h's GELU compiled for AVX-512 (16 lanes), for the CPUs that have it: the same
 * operations per lane as the AVX2 build's 8, so the same bits, at twice the elements per
 * instruction (GELU was 12% of a transformer's time at 8 lanes). The rest of the file is
 * built for the baseline target; only this translation unit assumes AVX-512, and
 * math_unary.c calls it only when the CPU has it. */
#include <stdint.h>

/* Only over a baseline with FMA (Release: x86-64-v3): the multiply-adds the compiler
 * contracts must be the same at both widths, and a baseline without FMA contracts none. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__FMA__) && \
    !defined(__AVX512F__)
#pragma GCC target("avx512f,avx512dq,avx512vl,avx512bw")
#define GELU512_BUILT 1
#endif

#include "runtime/kernels/vmath.h"

#if defined(GELU512_BUILT) && VM_HAVE_VEC && VW == 16
VM_FMA_ATTR int rt_gelu_erf_f32_avx512(float *dst, const float *src, int64_t n) {
  VM_MAP(v_gelu_erf, dst, src, n);
  return 1;
}
#else
int rt_gelu_erf_f32_avx512(float *dst, const float *src, int64_t n) {
  (void)dst;
  (void)src;
  (void)n;
  return 0;
}
#endif
