/* ToBlocked / FromBlocked: NCHW <-> the channel-blocked layout (N, C / 16, H, W, 16) that
 * chains of FusedConv layout 1 compute in (conv_nchwc.c). The compiler puts one where a
 * chain begins and one where it ends (compiler/pass_layout.c), so each is a plain
 * transpose of 16 channel rows by 16 positions at a time, spread over the pool by blocks
 * of channels. Exact: every element is moved, never computed. */
#include "runtime/kernels/conv.h"
#include "runtime/kernels/gemm_par.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

#include "runtime/kernels/transpose512.h"
#define BLOCKED_AVX512 1
#else
#define BLOCKED_AVX512 0
#endif

typedef struct reorder_job {
  const float *x;
  float *y;
  int64_t blocks, plane; /* channel blocks over the batch; positions per channel */
  int to_blocked, ranges, avx512;
} reorder_job;

#if BLOCKED_AVX512
/* One block of 16 channels: src rows (16 x plane, NCHW) into dst (plane x 16), or back. */
T512_FN static void block_avx512(const float *src, float *dst, int64_t plane, int to_blocked) {
  for (int64_t p = 0; p < plane; p += 16) {
    int64_t k = plane - p < 16 ? plane - p : 16;
    __mmask16 m = (__mmask16)(k == 16 ? 0xffff : (1u << k) - 1);
    __m512 v[16];
    if (to_blocked) {
      for (int c = 0; c < 16; c++) v[c] = _mm512_maskz_loadu_ps(m, src + c * plane + p);
      t512_transpose16(v); /* v[i]: the 16 channels of position p + i */
      for (int i = 0; i < k; i++) _mm512_storeu_ps(dst + (p + i) * 16, v[i]);
    } else {
      for (int i = 0; i < 16; i++)
        v[i] = i < k ? _mm512_loadu_ps(src + (p + i) * 16) : _mm512_setzero_ps();
      t512_transpose16(v); /* v[c]: channel c at positions p.. p + 15 */
      for (int c = 0; c < 16; c++) _mm512_mask_storeu_ps(dst + c * plane + p, m, v[c]);
    }
  }
}
#endif

static void block_portable(const float *src, float *dst, int64_t plane, int to_blocked) {
  for (int64_t c = 0; c < CONV_BLOCK; c++)
    for (int64_t p = 0; p < plane; p++)
      if (to_blocked) dst[p * CONV_BLOCK + c] = src[c * plane + p];
      else dst[c * plane + p] = src[p * CONV_BLOCK + c];
}

static void reorder_task(void *vjob, int64_t r0, int64_t r1) {
  const reorder_job *j = vjob;
  for (int64_t r = r0; r < r1; r++)
    for (int64_t b = r * j->blocks / j->ranges; b < (r + 1) * j->blocks / j->ranges; b++) {
      /* block b is CONV_BLOCK * plane contiguous floats in either layout */
      const float *src = j->x + b * CONV_BLOCK * j->plane;
      float *dst = j->y + b * CONV_BLOCK * j->plane;
#if BLOCKED_AVX512
      if (j->avx512) {
        block_avx512(src, dst, j->plane, j->to_blocked);
        continue;
      }
#endif
      block_portable(src, dst, j->plane, j->to_blocked);
    }
}

static ivm_status reorder(const rt_call *call, int to_blocked, const char *op) {
  const rt_tensor *x = call->in[0];
  rt_tensor *y = call->out[0];
  const rt_tensor *nchw = to_blocked ? x : y, *blk = to_blocked ? y : x;
  if (x->dtype != IVM_DT_F32 || y->dtype != IVM_DT_F32 || nchw->rank != 4 || blk->rank != 5 ||
      blk->dims[4] != CONV_BLOCK || nchw->dims[1] != blk->dims[1] * CONV_BLOCK ||
      nchw->dims[0] != blk->dims[0] || nchw->dims[2] != blk->dims[2] ||
      nchw->dims[3] != blk->dims[3])
    return ivm_error(IVM_ERR_RUNTIME, "%s: operands are not f32 (N, C, H, W) and (N, C/16, H, W, 16)",
                     op);
  reorder_job j = {.x = x->data, .y = y->data, .blocks = blk->dims[0] * blk->dims[1],
                   .plane = blk->dims[2] * blk->dims[3], .to_blocked = to_blocked,
                   .avx512 = BLOCKED_AVX512 && rt_sgemm_current_kernel() == RT_SGEMM_AVX512};
  if (j.blocks == 0 || j.plane == 0) return NULL;
  rt_pool *pool = rt_call_pool(call);
  int threads = rt_gemm_dot_threads(pool, (double)j.blocks * CONV_BLOCK * (double)j.plane);
  j.ranges = j.blocks < threads ? (int)j.blocks : threads;
  rt_pool_for(j.ranges > 1 ? pool : NULL, j.ranges, 1, reorder_task, &j);
  return NULL;
}

ivm_status rt_k_ToBlocked(const rt_call *call) { return reorder(call, 1, "ToBlocked"); }
ivm_status rt_k_FromBlocked(const rt_call *call) { return reorder(call, 0, "FromBlocked"); }
