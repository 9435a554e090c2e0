/* Integer GEMM for the quant kernels (see quant_gemm.h). Blocked over N (NC columns of
 * packed B stay in L2) and K (KC-long chunks; a chunk's int32 partial sums cannot
 * overflow: |sum| <= KC * 255 * 255 < 2^31), with a 2x4 register tile of int32 dot
 * products the compiler vectorises (pmaddwd at -O3). Chunks are combined with wrapping
 * unsigned adds. */
#include "runtime/kernels/quant_gemm.h"

#define QG_KC 2048
#define QG_NC 128

void rt_qpack(int64_t R, int64_t K, int64_t Kp, const void *src, int dt, int64_t rs, int64_t cs,
              const int32_t *zp, int64_t zs, int16_t *dst) {
  for (int64_t r = 0; r < R; r++) {
    int16_t *d = dst + r * Kp;
    int32_t z = zp ? zp[r * zs] : 0;
    if (dt == IVM_DT_U8) {
      const uint8_t *s = (const uint8_t *)src + r * rs;
      if (cs == 1)
        for (int64_t k = 0; k < K; k++) d[k] = (int16_t)((int32_t)s[k] - z);
      else
        for (int64_t k = 0; k < K; k++) d[k] = (int16_t)((int32_t)s[k * cs] - z);
    } else {
      const int8_t *s = (const int8_t *)src + r * rs;
      if (cs == 1)
        for (int64_t k = 0; k < K; k++) d[k] = (int16_t)((int32_t)s[k] - z);
      else
        for (int64_t k = 0; k < K; k++) d[k] = (int16_t)((int32_t)s[k * cs] - z);
    }
    for (int64_t k = K; k < Kp; k++) d[k] = 0;
  }
}

static inline void put(int32_t *c, int32_t v, int first) {
  *c = first ? v : (int32_t)((uint32_t)*c + (uint32_t)v);
}

static inline int32_t dot1(const int16_t *a, const int16_t *b, int64_t K) {
  int32_t s = 0;
  for (int64_t k = 0; k < K; k++) s += (int32_t)a[k] * (int32_t)b[k];
  return s;
}

/* C[0..M)[0..N) (+)= A (rows lda apart) . B (rows ldb apart) over K. */
static void block(int64_t M, int64_t N, int64_t K, const int16_t *A, int64_t lda,
                  const int16_t *B, int64_t ldb, int32_t *C, int64_t ldc, int first) {
  int64_t i = 0;
  for (; i + 2 <= M; i += 2) {
    const int16_t *a0 = A + i * lda, *a1 = a0 + lda;
    int32_t *c0 = C + i * ldc, *c1 = c0 + ldc;
    int64_t j = 0;
    for (; j + 4 <= N; j += 4) {
      const int16_t *b0 = B + j * ldb, *b1 = b0 + ldb, *b2 = b1 + ldb, *b3 = b2 + ldb;
      int32_t s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
      for (int64_t k = 0; k < K; k++) {
        int32_t x0 = a0[k], x1 = a1[k];
        s00 += x0 * b0[k];
        s01 += x0 * b1[k];
        s02 += x0 * b2[k];
        s03 += x0 * b3[k];
        s10 += x1 * b0[k];
        s11 += x1 * b1[k];
        s12 += x1 * b2[k];
        s13 += x1 * b3[k];
      }
      put(c0 + j, s00, first);
      put(c0 + j + 1, s01, first);
      put(c0 + j + 2, s02, first);
      put(c0 + j + 3, s03, first);
      put(c1 + j, s10, first);
      put(c1 + j + 1, s11, first);
      put(c1 + j + 2, s12, first);
      put(c1 + j + 3, s13, first);
    }
    for (; j < N; j++) {
      const int16_t *b0 = B + j * ldb;
      int32_t s0 = 0, s1 = 0;
      for (int64_t k = 0; k < K; k++) {
        s0 += (int32_t)a0[k] * b0[k];
        s1 += (int32_t)a1[k] * b0[k];
      }
      put(c0 + j, s0, first);
      put(c1 + j, s1, first);
    }
  }
  for (; i < M; i++)
    for (int64_t j = 0; j < N; j++) put(C + i * ldc + j, dot1(A + i * lda, B + j * ldb, K), first);
}

void rt_qgemm(int64_t M, int64_t N, int64_t Kp, const int16_t *Ap, const int16_t *Bp, int32_t *C,
              int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (Kp <= 0) {
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < N; j++) C[i * ldc + j] = 0;
    return;
  }
  for (int64_t jc = 0; jc < N; jc += QG_NC) {
    int64_t nc = N - jc < QG_NC ? N - jc : QG_NC;
    for (int64_t kc = 0; kc < Kp; kc += QG_KC) {
      int64_t kl = Kp - kc < QG_KC ? Kp - kc : QG_KC;
      block(M, nc, kl, Ap + kc, Kp, Bp + jc * Kp + kc, Kp, C + jc, ldc, kc == 0);
    }
  }
}
