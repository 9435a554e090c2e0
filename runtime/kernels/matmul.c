/* MatMul: numpy matmul (1-D promotion, broadcast batch dims). f32 goes through rt_sgemm;
 * the other types use a plain loop. Both run across the session's worker pool when the
 * product is large enough; this file also holds the pool-splitting sgemm (gemm_par.h). */
#include <string.h>

#include "runtime/kernels/gemm_par.h"
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

/* ---- sgemm across the pool (gemm_par.h) ---------------------------------------------- */
/* Multiply-adds a thread must get for a split to pay: 20-40 µs of one thread's sgemm
 * (AVX-512 / AVX2), so nothing under 40-80 µs of work is split at all. */
#define GEMM_MIN_MACS_PER_THREAD ((double)(1 << 21))
/* Column panels start on a 64-byte line of C (no false sharing) and are at least 64 wide
 * so the micro-kernel runs full tiles; row panels are at least 16 rows. */
#define PANEL_COL_ALIGN 16
#define PANEL_MIN_COLS 64
#define PANEL_ROW_ALIGN 8
#define PANEL_MIN_ROWS 16

int rt_gemm_threads(rt_pool *pool, double macs) {
  int t = rt_pool_threads(pool);
  double worth = macs / GEMM_MIN_MACS_PER_THREAD;
  if (worth < t) t = worth < 1.0 ? 1 : (int)worth;
  return t;
}

/* A thread streams about 22 floats/ns of a dot-product operand from L2 or L3 (hey_jarvis'
 * 1 x 1536 x 128 Gemm: 8.8 µs), so a float weighs about 32 packed multiply-adds: a split
 * starts at ~3 µs of streaming per thread, while its round trip through the pool is ~1 µs
 * (measured on 2 threads: that Gemm 8.8 -> 4.6 µs, an STFT conv's 131k weights
 * 12.0 -> 7.7 µs). */
#define GEMM_DOT_FLOAT_COST 32.0

int rt_gemm_dot_threads(rt_pool *pool, double floats) {
  return rt_gemm_threads(pool, floats * GEMM_DOT_FLOAT_COST);
}

static int64_t gcd64(int64_t a, int64_t b) {
  while (b) {
    int64_t r = a % b;
    a = b;
    b = r;
  }
  return a;
}

void rt_gemm_split_plan(int threads, int64_t count, int64_t M, int64_t N, int64_t K,
                        rt_gemm_split *out) {
  *out = (rt_gemm_split){count, M, N, K, 1, 0, count, 1};
  if (threads < 2 || count <= 0 || M <= 0 || N <= 0 || K <= 0) return;
  /* Panels so that count * panels is a multiple of the threads (every thread gets the
   * same number of items), unless there are so many products that it hardly matters. */
  int64_t P = count >= 4 * (int64_t)threads ? 1 : threads / gcd64(count, threads);
  int64_t max_rows = M / PANEL_MIN_ROWS, max_cols = N / PANEL_MIN_COLS;
  /* Split the longer side: every panel re-packs the whole of the other operand. */
  int by_rows = M > N;
  if (by_rows ? P > max_rows && max_cols > max_rows : P > max_cols && max_rows > max_cols)
    by_rows = !by_rows; /* unless only the shorter side makes enough panels */
  int64_t most = by_rows ? max_rows : max_cols;
  if (P > most) P = most < 1 ? 1 : most;
  out->panels = P;
  out->by_rows = P > 1 && by_rows;
  out->items = count * P;
  out->ranges = out->items < threads ? (int)out->items : threads;
}

static int64_t panel_edge(int64_t extent, int64_t P, int64_t p, int64_t align) {
  if (p >= P) return extent;
  return extent * p / P / align * align;
}

void rt_gemm_panel(const rt_gemm_split *sp, int64_t p, int64_t *i0, int64_t *m, int64_t *j0,
                   int64_t *n) {
  *i0 = 0, *m = sp->M, *j0 = 0, *n = sp->N;
  if (sp->panels <= 1) return;
  if (sp->by_rows) {
    *i0 = panel_edge(sp->M, sp->panels, p, PANEL_ROW_ALIGN);
    *m = panel_edge(sp->M, sp->panels, p + 1, PANEL_ROW_ALIGN) - *i0;
  } else {
    *j0 = panel_edge(sp->N, sp->panels, p, PANEL_COL_ALIGN);
    *n = panel_edge(sp->N, sp->panels, p + 1, PANEL_COL_ALIGN) - *j0;
  }
}

size_t rt_gemm_split_pack_bytes(const rt_gemm_split *sp) {
  size_t most = 64;
  for (int64_t p = 0; p < sp->panels; p++) {
    int64_t i0, m, j0, n;
    rt_gemm_panel(sp, p, &i0, &m, &j0, &n);
    size_t b = rt_sgemm_pack_bytes(m, n, sp->K);
    if (b > most) most = b;
  }
  return rt_align64(most);
}

typedef struct batch_job {
  const rt_gemm_split *sp;
  float alpha, beta;
  int64_t rsa, csa, rsb, csb, ldc;
  rt_gemm_operands_fn operands;
  const void *ctx;
  char *pack;
  size_t pack_bytes;
} batch_job;

/* Runs r0..r1: each run its items in order with its own packing buffer. */
static void batch_task(void *vjob, int64_t r0, int64_t r1) {
  const batch_job *j = vjob;
  const rt_gemm_split *sp = j->sp;
  for (int64_t r = r0; r < r1; r++) {
    float *pack = (float *)(j->pack + (size_t)r * j->pack_bytes);
    int64_t lo = r * sp->items / sp->ranges, hi = (r + 1) * sp->items / sp->ranges;
    for (int64_t it = lo; it < hi; it++) {
      const float *A, *B;
      float *C;
      j->operands(j->ctx, it / sp->panels, &A, &B, &C);
      int64_t i0, m, j0, n;
      rt_gemm_panel(sp, it % sp->panels, &i0, &m, &j0, &n);
      rt_sgemm(m, n, sp->K, j->alpha, A + i0 * j->rsa, j->rsa, j->csa, B + j0 * j->csb, j->rsb,
               j->csb, j->beta, C + i0 * j->ldc + j0, j->ldc, pack);
    }
  }
}

ivm_status rt_sgemm_batch_par(rt_scratch *scratch, int64_t count, int64_t M, int64_t N,
                              int64_t K, float alpha, int64_t rsa, int64_t csa, int64_t rsb,
                              int64_t csb, float beta, int64_t ldc, rt_gemm_operands_fn operands,
                              const void *ctx) {
  if (count <= 0 || M <= 0 || N <= 0) return NULL;
  rt_pool *pool = scratch ? scratch->pool : NULL;
  rt_gemm_split sp;
  int threads = rt_sgemm_takes_dots(M, N, rsb, csa)
                    ? rt_gemm_dot_threads(pool, (double)count * (double)K * (double)(M > N ? M : N))
                    : rt_gemm_threads(pool, (double)count * (double)M * (double)N * (double)K);
  rt_gemm_split_plan(threads, count, M, N, K, &sp);
  batch_job job = {&sp, alpha, beta, rsa, csa, rsb, csb, ldc, operands, ctx, NULL,
                   rt_gemm_split_pack_bytes(&sp)};
  IVM_TRY(rt_scratch_get(scratch, (size_t)sp.ranges * job.pack_bytes, (void **)&job.pack));
  rt_pool_for(pool, sp.ranges, 1, batch_task, &job);
  return NULL;
}

typedef struct one_product {
  const float *A, *B;
  float *C;
} one_product;

static void one_operands(const void *ctx, int64_t t, const float **A, const float **B,
                         float **C) {
  const one_product *o = ctx;
  (void)t;
  *A = o->A, *B = o->B, *C = o->C;
}

ivm_status rt_sgemm_par(rt_scratch *scratch, int64_t M, int64_t N, int64_t K, float alpha,
                        const float *A, int64_t rsa, int64_t csa, const float *B, int64_t rsb,
                        int64_t csb, float beta, float *C, int64_t ldc) {
  one_product o = {A, B, C};
  return rt_sgemm_batch_par(scratch, 1, M, N, K, alpha, rsa, csa, rsb, csb, beta, ldc,
                            one_operands, &o);
}

/* ---- MatMul ------------------------------------------------------------------------- */
/* The non-f32 types: rows of the batch-stacked output, [r0, r1) of batch * M. */
#define MATMUL_GENERIC(T, ACC)                                                       \
  static void matmul_rows_##T(const mm_plan *p, const T *A, const T *B, T *Y,       \
                              int64_t r0, int64_t r1) {                             \
    int64_t M = p->M, N = p->N, K = p->K;                                           \
    for (int64_t r = r0; r < r1; r++) {                                             \
      int64_t t = r / M, i = r % M, oa, ob;                                         \
      batch_offsets(p, t, &oa, &ob);                                                \
      const T *a = A + oa * M * K + i * K, *b = B + ob * K * N;                     \
      T *y = Y + t * M * N + i * N;                                                 \
      for (int64_t j = 0; j < N; j++) {                                             \
        ACC s = 0;                                                                  \
        for (int64_t k = 0; k < K; k++) s += (ACC)a[k] * (ACC)b[k * N + j];         \
        y[j] = (T)s;                                                                \
      }                                                                             \
    }                                                                               \
  }

MATMUL_GENERIC(double, double)
/* Signed products accumulate in the unsigned type: wrap-around instead of UB. */
MATMUL_GENERIC(int32_t, uint32_t)
MATMUL_GENERIC(int64_t, uint64_t)
MATMUL_GENERIC(uint32_t, uint32_t)
MATMUL_GENERIC(uint64_t, uint64_t)

typedef struct generic_job {
  const mm_plan *p;
  int dtype;
  const void *A, *B;
  void *Y;
} generic_job;

static void generic_task(void *vjob, int64_t r0, int64_t r1) {
  const generic_job *j = vjob;
  switch (j->dtype) {
    case IVM_DT_F64: matmul_rows_double(j->p, j->A, j->B, j->Y, r0, r1); break;
    case IVM_DT_I32: matmul_rows_int32_t(j->p, j->A, j->B, j->Y, r0, r1); break;
    case IVM_DT_I64: matmul_rows_int64_t(j->p, j->A, j->B, j->Y, r0, r1); break;
    case IVM_DT_U32: matmul_rows_uint32_t(j->p, j->A, j->B, j->Y, r0, r1); break;
    case IVM_DT_U64: matmul_rows_uint64_t(j->p, j->A, j->B, j->Y, r0, r1); break;
    default: break;
  }
}

/* The plain loop is several times slower per multiply-add than sgemm: rows of a fifth of
 * sgemm's minimum are enough to be worth a thread. */
static void matmul_generic(rt_pool *pool, const mm_plan *p, int dtype, const void *A,
                           const void *B, void *Y) {
  generic_job job = {p, dtype, A, B, Y};
  int64_t rows = p->batch * p->M;
  double row_macs = (double)p->N * (double)p->K;
  double grain = GEMM_MIN_MACS_PER_THREAD / 5 / (row_macs > 1 ? row_macs : 1);
  rt_pool_for(pool, rows, grain < 1 ? 1 : grain > (double)rows ? rows : (int64_t)grain,
              generic_task, &job);
}

typedef struct mm_operands {
  const mm_plan *p;
  const float *A, *B;
  float *Y;
} mm_operands;

static void mm_batch_operands(const void *ctx, int64_t t, const float **A, const float **B,
                              float **C) {
  const mm_operands *o = ctx;
  int64_t oa, ob;
  batch_offsets(o->p, t, &oa, &ob);
  *A = o->A + oa * o->p->M * o->p->K;
  *B = o->B + ob * o->p->K * o->p->N;
  *C = o->Y + t * o->p->M * o->p->N;
}

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
  if (b_shared && a_full) /* one B for every batch, A batch-major: one tall product */
    return rt_sgemm_par(scratch, p->batch * M, N, K, 1.0f, A, K, 1, B, N, 1, 0.0f, Y, N);
  mm_operands o = {p, A, B, Y};
  return rt_sgemm_batch_par(scratch, p->batch, M, N, K, 1.0f, K, 1, N, 1, 0.0f, N,
                            mm_batch_operands, &o);
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
    case IVM_DT_F64:
    case IVM_DT_I32:
    case IVM_DT_I64:
    case IVM_DT_U32:
    case IVM_DT_U64:
      if (p.batch && p.M && p.N)
        matmul_generic(rt_call_pool(call), &p, y->dtype, a->data, b->data, y->data);
      return NULL;
    default:
      return ivm_error(IVM_ERR_UNSUPPORTED, "MatMul: dtype %s not supported",
                       ivm_dtype_name((ivm_dtype)y->dtype));
  }
}
