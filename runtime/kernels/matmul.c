/* MatMul: numpy matmul (1-D promotion, broadcast batch dims). f32 goes through rt_sgemm;
 * the other types use a plain loop. */
#include <string.h>

#include "runtime/kernels/gemm.h"

typedef struct mm_plan {
  int64_t M, N, K, batch;
  int nb;                            /* output batch rank */
  int64_t bdims[ISA_MAX_RANK];       /* output batch dims */
  int64_t astr[ISA_MAX_RANK], bstr[ISA_MAX_RANK]; /* matrix strides per batch dim; 0: broadcast */
} mm_plan;

/* Returns 0 if the batch dims do not broadcast. */
static int plan(const rt_tensor *a, const rt_tensor *b, mm_plan *p) {
  memset(p, 0, sizeof *p);
  p->M = a->rank == 1 ? 1 : a->dims[a->rank - 2];
  p->K = a->dims[a->rank - 1];
  p->N = b->rank == 1 ? 1 : b->dims[b->rank - 1];
  int ba = a->rank > 2 ? a->rank - 2 : 0, bb = b->rank > 2 ? b->rank - 2 : 0;
  p->nb = ba > bb ? ba : bb;
  int64_t sa = 1, sb = 1;
  p->batch = 1;
  for (int i = p->nb - 1; i >= 0; i--) {
    int ia = i - (p->nb - ba), ib = i - (p->nb - bb);
    int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
    if (da != db && da != 1 && db != 1) return 0;
    p->bdims[i] = da > db ? da : db;
    if (da == 0 || db == 0) p->bdims[i] = 0;
    p->astr[i] = da == 1 ? 0 : sa;
    p->bstr[i] = db == 1 ? 0 : sb;
    sa *= da;
    sb *= db;
    p->batch *= p->bdims[i];
  }
  return 1;
}

/* Matrix offsets (in matrices) of A and B for output batch index t. */
static void batch_offsets(const mm_plan *p, int64_t t, int64_t *oa, int64_t *ob) {
  int64_t a = 0, b = 0;
  for (int i = p->nb - 1; i >= 0; i--) {
    int64_t idx = t % p->bdims[i];
    t /= p->bdims[i];
    a += idx * p->astr[i];
    b += idx * p->bstr[i];
  }
  *oa = a;
  *ob = b;
}

#define MATMUL_GENERIC(T, ACC)                                                       \
  static void matmul_##T(const mm_plan *p, const T *A, const T *B, T *Y) {          \
    int64_t M = p->M, N = p->N, K = p->K;                                           \
    for (int64_t t = 0; t < p->batch; t++) {                                        \
      int64_t oa, ob;                                                               \
      batch_offsets(p, t, &oa, &ob);                                                \
      const T *a = A + oa * M * K, *b = B + ob * K * N;                             \
      T *y = Y + t * M * N;                                                         \
      for (int64_t i = 0; i < M; i++)                                               \
        for (int64_t j = 0; j < N; j++) {                                           \
          ACC s = 0;                                                                \
          for (int64_t k = 0; k < K; k++) s += (ACC)a[i * K + k] * (ACC)b[k * N + j]; \
          y[i * N + j] = (T)s;                                                      \
        }                                                                           \
    }                                                                               \
  }

MATMUL_GENERIC(double, double)
/* Signed products accumulate in the unsigned type: wrap-around instead of UB. */
MATMUL_GENERIC(int32_t, uint32_t)
MATMUL_GENERIC(int64_t, uint64_t)
MATMUL_GENERIC(uint32_t, uint32_t)
MATMUL_GENERIC(uint64_t, uint64_t)

static ivm_status matmul_f32(const mm_plan *p, const float *A, const float *B, float *Y,
                             rt_scratch *scratch) {
  int64_t M = p->M, N = p->N, K = p->K;
  if (p->batch == 0 || M == 0 || N == 0) return NULL;
  int b_shared = 1;
  for (int i = 0; i < p->nb; i++)
    if (p->bstr[i] != 0 && p->bdims[i] != 1) b_shared = 0;
  int a_full = 1;
  for (int i = 0; i < p->nb; i++)
    if (p->astr[i] == 0 && p->bdims[i] != 1) a_full = 0;
  void *pack;
  if (b_shared && a_full) {
    /* One B for every batch and A laid out batch-major: one tall product. */
    int64_t MM = p->batch * M;
    IVM_TRY(rt_scratch_get(scratch, rt_sgemm_pack_bytes(MM, N, K), &pack));
    rt_sgemm(MM, N, K, 1.0f, A, K, 1, B, N, 1, 0.0f, Y, N, pack);
    return NULL;
  }
  IVM_TRY(rt_scratch_get(scratch, rt_sgemm_pack_bytes(M, N, K), &pack));
  for (int64_t t = 0; t < p->batch; t++) {
    int64_t oa, ob;
    batch_offsets(p, t, &oa, &ob);
    rt_sgemm(M, N, K, 1.0f, A + oa * M * K, K, 1, B + ob * K * N, N, 1, 0.0f, Y + t * M * N, N,
             pack);
  }
  return NULL;
}

ivm_status rt_k_MatMul(const rt_call *call) {
  const rt_tensor *a = call->in[0], *b = call->in[1];
  rt_tensor *y = call->out[0];
  if (a->rank < 1 || b->rank < 1)
    return ivm_error(IVM_ERR_RUNTIME, "MatMul: inputs must have rank >= 1");
  mm_plan p;
  int ok = plan(a, b, &p);
  int64_t kb = b->rank == 1 ? b->dims[0] : b->dims[b->rank - 2];
  if (!ok || kb != p.K || rt_numel(y) != p.batch * p.M * p.N)
    return ivm_error(IVM_ERR_RUNTIME, "MatMul: operand shapes do not match");
  switch (y->dtype) {
    case IVM_DT_F32: return matmul_f32(&p, a->data, b->data, y->data, call->scratch);
    case IVM_DT_F64: matmul_double(&p, a->data, b->data, y->data); return NULL;
    case IVM_DT_I32: matmul_int32_t(&p, a->data, b->data, y->data); return NULL;
    case IVM_DT_I64: matmul_int64_t(&p, a->data, b->data, y->data); return NULL;
    case IVM_DT_U32: matmul_uint32_t(&p, a->data, b->data, y->data); return NULL;
    case IVM_DT_U64: matmul_uint64_t(&p, a->data, b->data, y->data); return NULL;
    default:
      return ivm_error(IVM_ERR_UNSUPPORTED, "MatMul: dtype %s not supported",
                       ivm_dtype_name((ivm_dtype)y->dtype));
  }
}
