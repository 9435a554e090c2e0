/* rt_sgemm across the session's worker pool (runtime/pool.h), for MatMul, Gemm and Conv.
 *
 * A product is split into panels of whole columns of C (or whole rows when C is taller
 * than wide) and every panel is an independent rt_sgemm call with its own packing buffer.
 * rt_sgemm computes each C[i][j] from row i of A and column j of B alone, in the same
 * order whatever M, N and the panel's position, so the results are bitwise the same for
 * any thread count. Packed work under about 40-80 µs of one thread is not split at all;
 * products taken as dot products (nothing packed) split from a few µs of streaming
 * (rt_gemm_dot_threads). (Implemented in matmul.c.) */
#ifndef IVM_RUNTIME_KERNELS_GEMM_PAR_H
#define IVM_RUNTIME_KERNELS_GEMM_PAR_H

#include "runtime/kernels/gemm.h"
#include "runtime/pool.h"

/* The session's pool as a kernel sees it (NULL: run inline). */
static inline rt_pool *rt_call_pool(const rt_call *call) {
  return call->scratch ? call->scratch->pool : NULL;
}

/* How `count` products of M x N x K are spread: each of `count` products is cut into
 * `panels` parts (by rows of C or by columns), giving count * panels items, handed out
 * as `ranges` contiguous runs of items, one packing buffer per run. ranges == 1: run
 * everything on the caller, exactly as plain rt_sgemm calls would. */
typedef struct rt_gemm_split {
  int64_t count, M, N, K;
  int64_t panels;
  int by_rows;
  int64_t items;
  int ranges;
} rt_gemm_split;

/* Threads worth using for `macs` multiply-adds (1 .. the pool's threads). */
int rt_gemm_threads(rt_pool *pool, double macs);
/* The same for products taken as dot products (rt_sgemm_takes_dots) that stream `floats`
 * of their larger operand: nothing is packed per thread and each streams only its own
 * part, so a split pays from a few microseconds of work. */
int rt_gemm_dot_threads(rt_pool *pool, double floats);

void rt_gemm_split_plan(int threads, int64_t count, int64_t M, int64_t N, int64_t K,
                        rt_gemm_split *out);
/* Rows [*i0, *i0 + *m) and columns [*j0, *j0 + *n) of panel p. */
void rt_gemm_panel(const rt_gemm_split *sp, int64_t p, int64_t *i0, int64_t *m, int64_t *j0,
                   int64_t *n);
/* Bytes of one run's packing buffer (a multiple of 64). */
size_t rt_gemm_split_pack_bytes(const rt_gemm_split *sp);

/* C = alpha * A @ B + beta * C (rt_sgemm's operand conventions) across the pool; the
 * packing buffers come from scratch, so the caller must hold no other scratch memory. */
ivm_status rt_sgemm_par(rt_scratch *scratch, int64_t M, int64_t N, int64_t K, float alpha,
                        const float *A, int64_t rsa, int64_t csa, const float *B, int64_t rsb,
                        int64_t csb, float beta, float *C, int64_t ldc);

/* `count` products of the same shape whose operands operands(ctx, t, ...) gives. */
typedef void (*rt_gemm_operands_fn)(const void *ctx, int64_t t, const float **A,
                                    const float **B, float **C);
ivm_status rt_sgemm_batch_par(rt_scratch *scratch, int64_t count, int64_t M, int64_t N,
                              int64_t K, float alpha, int64_t rsa, int64_t csa, int64_t rsb,
                              int64_t csb, float beta, int64_t ldc, rt_gemm_operands_fn operands,
                              const void *ctx);

#endif
