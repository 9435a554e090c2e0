/* 16 x 16 float transposes in AVX-512 registers, shared by the matrix kernel's packing
 * (gemm.c), the recurrent weight panels (rnn_vec.c) and the channel-blocked depthwise
 * conv (conv_dwc.c). Include inside an
 * `#if defined(__GNUC__) && defined(__x86_64__)` block, after <immintrin.h>. */
#ifndef IVM_RUNTIME_KERNELS_TRANSPOSE512_H
#define IVM_RUNTIME_KERNELS_TRANSPOSE512_H

#define T512_FN __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,fma")))

/* Transposes r (r[i] = row i of a 16 x 16 block) in place: unpack pairs of rows, then
 * 4 x 4 blocks within 128-bit lanes, then the 128-bit lanes themselves. */
T512_FN static inline void t512_transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; i++) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int g = 0; g < 4; g++) {
    r[4 * g] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
    r[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
    r[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
    r[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
  }
  /* r[4g+k], 128-bit lane L, now holds column 4L+k of rows 4g..4g+3. */
  for (int k = 0; k < 4; k++) {
    __m512 lo02 = _mm512_shuffle_f32x4(r[k], r[4 + k], 0x88);
    __m512 lo13 = _mm512_shuffle_f32x4(r[k], r[4 + k], 0xDD);
    __m512 hi02 = _mm512_shuffle_f32x4(r[8 + k], r[12 + k], 0x88);
    __m512 hi13 = _mm512_shuffle_f32x4(r[8 + k], r[12 + k], 0xDD);
    t[k] = _mm512_shuffle_f32x4(lo02, hi02, 0x88);
    t[4 + k] = _mm512_shuffle_f32x4(lo13, hi13, 0x88);
    t[8 + k] = _mm512_shuffle_f32x4(lo02, hi02, 0xDD);
    t[12 + k] = _mm512_shuffle_f32x4(lo13, hi13, 0xDD);
  }
  for (int i = 0; i < 16; i++) r[i] = t[i];
}

#endif
