/* Single-precision matrix multiply shared by MatMul, Gemm and Conv:
 *
 *   C[i][j] = alpha * sum_p A(i,p) * B(p,j) + beta * C[i][j]     (0<=i<M, 0<=j<N)
 *
 * with A(i,p) = A[i*rsa + p*csa] and B(p,j) = B[p*rsb + j*csb], so a transpose is only a
 * swap of strides. C is row-major with leading dimension ldc. beta == 0 never reads C
 * (NaN/garbage in C does not leak). Cache-blocked: panels of A and B are packed into a
 * caller-provided buffer of rt_sgemm_pack_bytes(M, N, K) bytes (any alignment).
 *
 * Thread-safe: calls on different threads are independent as long as each has its own
 * packing buffer and C; sub-panels of one C (row or column ranges) may run concurrently.
 * Each element's summation order depends on K only, so splitting M or N across calls
 * gives bit-identical results. */
#ifndef IVM_RUNTIME_KERNELS_GEMM_H
#define IVM_RUNTIME_KERNELS_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/rt.h"

size_t rt_sgemm_pack_bytes(int64_t M, int64_t N, int64_t K);

void rt_sgemm(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t rsa,
              int64_t csa, const float *B, int64_t rsb, int64_t csb, float beta, float *C,
              int64_t ldc, float *pack);

/* Whether rt_sgemm computes this product as dot products of rows of A against columns of
 * B, both read in place (few rows or few columns, A row-major, B column-major): nothing
 * is packed, and the time goes into streaming the larger operand through the cache. */
int rt_sgemm_takes_dots(int64_t M, int64_t N, int64_t rsb, int64_t csa);

/* Same, taking its packing buffer from the call's scratch. Only for callers that hold no
 * other scratch memory during the call (rt_scratch hands out one buffer). */
ivm_status rt_sgemm_scratch(rt_scratch *scratch, int64_t M, int64_t N, int64_t K, float alpha,
                            const float *A, int64_t rsa, int64_t csa, const float *B,
                            int64_t rsb, int64_t csb, float beta, float *C, int64_t ldc);

/* The register-tile kernels rt_sgemm can run. The choice is made on first use: AVX-512
 * when the CPU has avx512f/vl/bw/dq, unless the environment variable
 * IVM_SGEMM_KERNEL=avx2 asks for the portable kernel (generic vectors; AVX2 in Release
 * builds). rt_sgemm_pack_bytes covers every kernel, so changing the choice never
 * invalidates a buffer. */
typedef enum rt_sgemm_kernel {
  RT_SGEMM_AUTO = 0, /* the CPU's best, as on first use (the environment is read again) */
  RT_SGEMM_AVX2,
  RT_SGEMM_AVX512,
} rt_sgemm_kernel;

/* Chooses the kernel for later calls (tests and benchmarks compare them) and returns the
 * one now in use: RT_SGEMM_AVX512 on a CPU without AVX-512 gives RT_SGEMM_AVX2.
 * Thread-safe; calls already running finish with the kernel they started with. */
rt_sgemm_kernel rt_sgemm_use_kernel(rt_sgemm_kernel want);
rt_sgemm_kernel rt_sgemm_current_kernel(void);
const char *rt_sgemm_kernel_name(rt_sgemm_kernel k); /* "avx512", "avx2", ... */

/* Rounds a byte count up to 64 so several buffers can share one scratch block. */
static inline size_t rt_align64(size_t n) { return (n + 63) & ~(size_t)63; }

#endif
