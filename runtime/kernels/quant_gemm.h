/* Integer matrix product shared by MatMulInteger, QLinearMatMul, ConvInteger and
 * QLinearConv. Operands are first packed to int16 with their zero points subtracted
 * (u8/i8 minus a u8/i8 zero point fits in [-255, 255]), rows of length Kp (K rounded up to
 * 16, zero-padded); then
 *
 *   C[i][j] = sum_k Ap[i][k] * Bp[j][k]                    (0 <= i < M, 0 <= j < N)
 *
 * accumulates in int32 (wrapping, never through float). B is packed transposed (one row
 * per output column) so the inner loop is a contiguous int16 dot product the compiler
 * turns into pmaddwd. Private to the quant kernels. */
#ifndef IVM_RUNTIME_KERNELS_QUANT_GEMM_H
#define IVM_RUNTIME_KERNELS_QUANT_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/rt.h"

/* K rounded up to a multiple of 16. */
static inline int64_t rt_qgemm_kpad(int64_t K) { return (K + 15) & ~(int64_t)15; }

/* Element i of a u8 / i8 buffer as int32. */
static inline int32_t rt_q8_at(const void *p, int dt, int64_t i) {
  return dt == IVM_DT_U8 ? (int32_t)((const uint8_t *)p)[i] : (int32_t)((const int8_t *)p)[i];
}

/* dst[r][k] = src[r*rs + k*cs] - zp[r*zs] for r < R, k < K; dst[r][K..Kp) = 0.
 * src is u8 or i8 (dt); zp may be NULL (0). */
void rt_qpack(int64_t R, int64_t K, int64_t Kp, const void *src, int dt, int64_t rs, int64_t cs,
              const int32_t *zp, int64_t zs, int16_t *dst);

/* C (row-major, leading dimension ldc) = Ap (M x Kp) . Bp (N x Kp)^T in int32. */
void rt_qgemm(int64_t M, int64_t N, int64_t Kp, const int16_t *Ap, const int16_t *Bp, int32_t *C,
              int64_t ldc);

#endif
