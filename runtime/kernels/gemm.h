/* Single-precision matrix multiply shared by MatMul, Gemm and Conv:
 *
 *   C[i][j] = alpha * sum_p A(i,p) * B(p,j) + beta * C[i][j]     (0<=i<M, 0<=j<N)
 *
 * with A(i,p) = A[i*rsa + p*csa] and B(p,j) = B[p*rsb + j*csb], so a transpose is only a
 * swap of strides. C is row-major with leading dimension ldc. beta == 0 never reads C
 * (NaN/garbage in C does not leak). Cache-blocked: panels of A and B are packed into a
 * caller-provided buffer of rt_sgemm_pack_bytes(M, N, K) bytes (64-byte aligned). */
#ifndef IVM_RUNTIME_KERNELS_GEMM_H
#define IVM_RUNTIME_KERNELS_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/rt.h"

size_t rt_sgemm_pack_bytes(int64_t M, int64_t N, int64_t K);

void rt_sgemm(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t rsa,
              int64_t csa, const float *B, int64_t rsb, int64_t csb, float beta, float *C,
              int64_t ldc, float *pack);

/* Same, taking its packing buffer from the call's scratch. Only for callers that hold no
 * other scratch memory during the call (rt_scratch hands out one buffer). */
ivm_status rt_sgemm_scratch(rt_scratch *scratch, int64_t M, int64_t N, int64_t K, float alpha,
                            const float *A, int64_t rsa, int64_t csa, const float *B,
                            int64_t rsb, int64_t csb, float beta, float *C, int64_t ldc);

/* Rounds a byte count up to 64 so several buffers can share one scratch block. */
static inline size_t rt_align64(size_t n) { return (n + 63) & ~(size_t)63; }

#endif
