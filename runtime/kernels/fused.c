/* The fused family (isa/ops_fused.def), made by the compiler's fusion passes.
 *
 * FusedMatMul: Y = act(A @ B' + Bias) + Z. The product is split into panels exactly as
 * MatMul splits it (gemm_par.h), and each pool task finishes its panel right after the
 * panel's sgemm, while the panel is still in cache: bias, then the activation (the
 * activation op's own kernel, run on the panel's rows), then Z. Every element goes through
 * the same steps whatever the split, so results are bitwise the same for any thread count.
 *
 * FusedAttention: Y = softmax(Q @ Kt * scale + Mask) @ V per batch item and block of query
 * rows: the block's scores never leave cache. The softmax is the Softmax op's kernel. The
 * blocks depend on the shapes only, never on the thread count. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "isa/infer_fused.h"
#include "runtime/kernels/fused_act.h"
#include "runtime/kernels/gemm_par.h"

/* Records the first failure of any pool task (later ones are dropped). */
static void keep_first_error(_Atomic(ivm_status) *slot, ivm_status st) {
  if (!st) return;
  ivm_status none = NULL;
  if (!atomic_compare_exchange_strong(slot, &none, st)) ivm_status_free(st);
}

/* Runs a unary op's kernel in place on n contiguous floats. Nested calls get a private
 * scratch without a pool: they run inline on this thread. */
static ivm_status run_unary_inplace(rt_kernel_fn fn, const isa_attr *attrs, float *x, int64_t n,
                                    rt_scratch *scratch) {
  rt_tensor t = {.data = x, .dtype = IVM_DT_F32, .rank = 1, .dims = {n},
                 .capacity = (size_t)n * sizeof(float)};
  const rt_tensor *in[1] = {&t};
  rt_tensor *out[1] = {&t};
  rt_call c = {1, 1, in, out, attrs, scratch, NULL};
  return fn(&c);
}

/* ---- activations, resolved at load -------------------------------------------------- */
ivm_status rt_fused_act_resolve(const isa_attr *fused, int act_slot, const char *op_name,
                                rt_fused_act *out) {
  if (!isa_fused_activation(fused[act_slot].v.s, &out->op))
    return ivm_error(IVM_ERR_RUNTIME, "%s: unsupported activation '%s'", op_name,
                     fused[act_slot].v.s ? fused[act_slot].v.s : "");
  if (out->op == ISA_OP_COUNT) return NULL;
  if (isa_builtin_desc(out->op)->n_attrs > 16)
    return ivm_error(IVM_ERR_INTERNAL, "%s: activation has too many attributes", op_name);
  isa_fused_activation_attrs(out->op, fused, act_slot, out->attrs);
  return NULL;
}

ivm_status rt_fused_act_of(const rt_call *call, int act_slot, const char *op_name,
                           rt_fused_act *tmp, const rt_fused_act **out) {
  if (call->state) {
    *out = call->state;
    return NULL;
  }
  IVM_TRY(rt_fused_act_resolve(call->attrs, act_slot, op_name, tmp));
  *out = tmp;
  return NULL;
}

static ivm_status prepare_act(const rt_prepare_ctx *ctx, int act_slot, const char *op_name,
                              void **out_state) {
  rt_fused_act *a = malloc(sizeof *a);
  if (!a) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "%s: out of memory", op_name);
  ivm_status st = rt_fused_act_resolve(ctx->attrs, act_slot, op_name, a);
  if (st) {
    free(a);
    return ivm_status_wrap(st, "%s", ctx->where);
  }
  *out_state = a;
  return NULL;
}
static ivm_status prepare_matmul(const rt_prepare_ctx *ctx, void **out_state) {
  return prepare_act(ctx, ISA_A_FusedMatMul_activation, "FusedMatMul", out_state);
}
static ivm_status prepare_conv(const rt_prepare_ctx *ctx, void **out_state) {
  return prepare_act(ctx, ISA_A_FusedConv_activation, "FusedConv", out_state);
}
const rt_op_impl rt_fused_matmul_impl = {rt_k_FusedMatMul, prepare_matmul, free};
const rt_op_impl rt_fused_conv_impl = {rt_k_FusedConv, prepare_conv, free};

/* ---- FusedMatMul ---------------------------------------------------------------------- */
typedef struct fmm_job {
  const rt_gemm_split *sp;
  int64_t K, N;
  const float *A, *B, *bias, *Z;
  int64_t rsb, csb;
  float *Y;
  rt_kernel_fn act; /* NULL: none */
  const isa_attr *act_attrs;
  char *pack;
  size_t pack_bytes;
  _Atomic(ivm_status) error;
} fmm_job;

/* Bias, activation and Z on rows [i0, i0 + m) x columns [j0, j0 + n) of Y. The activation
 * runs once over the block when the block is whole rows of a width that is a multiple of
 * 16, else row by row: either way each call starts at a column that is a multiple of 16
 * (panel edges are), so a vectorised activation sees every element in the same lane. */
static ivm_status fmm_epilogue(const fmm_job *j, int64_t i0, int64_t m, int64_t j0, int64_t n,
                               rt_scratch *scratch) {
  int64_t N = j->N;
  if (j->bias)
    for (int64_t i = i0; i < i0 + m; i++) {
      float *y = j->Y + i * N + j0;
      const float *b = j->bias + j0;
      for (int64_t c = 0; c < n; c++) y[c] += b[c];
    }
  if (j->act) {
    if (j0 == 0 && n == N && N % 16 == 0) {
      IVM_TRY(run_unary_inplace(j->act, j->act_attrs, j->Y + i0 * N, m * N, scratch));
    } else {
      for (int64_t i = i0; i < i0 + m; i++)
        IVM_TRY(run_unary_inplace(j->act, j->act_attrs, j->Y + i * N + j0, n, scratch));
    }
  }
  if (j->Z)
    for (int64_t i = i0; i < i0 + m; i++) {
      float *y = j->Y + i * N + j0;
      const float *z = j->Z + i * N + j0;
      for (int64_t c = 0; c < n; c++) y[c] += z[c];
    }
  return NULL;
}

static void fmm_task(void *vjob, int64_t r0, int64_t r1) {
  fmm_job *j = vjob;
  const rt_gemm_split *sp = j->sp;
  rt_scratch nested = {0};
  for (int64_t r = r0; r < r1; r++) {
    float *pack = (float *)(j->pack + (size_t)r * j->pack_bytes);
    int64_t lo = r * sp->items / sp->ranges, hi = (r + 1) * sp->items / sp->ranges;
    for (int64_t it = lo; it < hi; it++) {
      int64_t i0, m, j0, n;
      rt_gemm_panel(sp, it % sp->panels, &i0, &m, &j0, &n);
      if (j->K > 0) {
        rt_sgemm(m, n, j->K, 1.0f, j->A + i0 * j->K, j->K, 1, j->B + j0 * j->csb, j->rsb, j->csb,
                 0.0f, j->Y + i0 * j->N + j0, j->N, pack);
      } else { /* an empty sum */
        for (int64_t i = i0; i < i0 + m; i++) memset(j->Y + i * j->N + j0, 0, (size_t)n * 4);
      }
      keep_first_error(&j->error, fmm_epilogue(j, i0, m, j0, n, &nested));
    }
  }
  rt_scratch_release(&nested);
}

static ivm_status fmm_bad(const char *what) {
  return ivm_error(IVM_ERR_RUNTIME, "FusedMatMul: %s", what);
}

ivm_status rt_k_FusedMatMul(const rt_call *call) {
  if (call->n_in < 2 || call->n_out < 1 || !call->in[0] || !call->in[1] || !call->out[0] ||
      !call->attrs)
    return ivm_error(IVM_ERR_INTERNAL, "FusedMatMul: expected A, B and Y");
  const rt_tensor *a = call->in[0], *b = call->in[1];
  const rt_tensor *bias = call->n_in > 2 ? call->in[2] : NULL;
  const rt_tensor *z = call->n_in > 3 ? call->in[3] : NULL;
  rt_tensor *y = call->out[0];
  if (a->dtype != IVM_DT_F32 || b->dtype != IVM_DT_F32 || y->dtype != IVM_DT_F32 ||
      (bias && bias->dtype != IVM_DT_F32) || (z && z->dtype != IVM_DT_F32))
    return fmm_bad("operands must be f32");
  int tb = call->attrs[ISA_A_FusedMatMul_transB].v.i != 0;
  rt_fused_act local;
  const rt_fused_act *fa;
  IVM_TRY(rt_fused_act_of(call, ISA_A_FusedMatMul_activation, "FusedMatMul", &local, &fa));
  if (a->rank < 1 || b->rank != 2 || y->rank != a->rank) return fmm_bad("bad operand ranks");
  int64_t K = a->dims[a->rank - 1], N = b->dims[tb ? 0 : 1];
  if (b->dims[tb ? 1 : 0] != K || y->dims[y->rank - 1] != N)
    return fmm_bad("operand shapes do not match");
  int64_t rows = 1;
  for (int i = 0; i + 1 < a->rank; i++) {
    if (y->dims[i] != a->dims[i]) return fmm_bad("output shape does not match A");
    rows *= a->dims[i];
  }
  if (bias) {
    if (bias->rank < 1 || bias->dims[bias->rank - 1] != N || rt_numel(bias) != N)
      return fmm_bad("Bias must have N elements along the last axis");
  }
  if (z && (z->rank != y->rank || memcmp(z->dims, y->dims, (size_t)y->rank * sizeof y->dims[0])))
    return fmm_bad("Z must have the output's shape");
  if (rows == 0 || N == 0) return NULL;
  rt_gemm_split sp;
  rt_pool *pool = rt_call_pool(call);
  rt_gemm_split_plan(rt_gemm_threads(pool, (double)rows * (double)N * (double)K), 1, rows, N,
                     K, &sp);
  fmm_job job = {&sp, K, N, a->data, b->data, bias ? bias->data : NULL, z ? z->data : NULL,
                 tb ? 1 : N, tb ? K : 1, y->data, NULL, fa->attrs, NULL,
                 rt_gemm_split_pack_bytes(&sp), NULL};
  if (fa->op != ISA_OP_COUNT) job.act = rt_builtin_kernel(fa->op);
  IVM_TRY(rt_scratch_get(call->scratch, (size_t)sp.ranges * job.pack_bytes, (void **)&job.pack));
  rt_pool_for(pool, sp.ranges, 1, fmm_task, &job);
  return atomic_load(&job.error);
}

/* ---- FusedAttention ------------------------------------------------------------------- */
/* Query rows per block: the block's scores (rows x Sk floats, twice: before and after the
 * softmax) stay within about 256 KB, well inside L2. Whole heads when they fit. */
#define ATT_BLOCK_FLOATS ((int64_t)32768)

typedef struct att_job {
  int64_t batch, Sq, Sk, dk, dv, block, blocks;
  const float *Q, *Kt, *V, *mask;
  int64_t mstr[ISA_MAX_RANK]; /* mask stride per score axis (0: broadcast) */
  int64_t bdims[ISA_MAX_RANK]; /* batch dims of the scores */
  int nb;
  float scale;
  int divide;
  float *Y;
  const isa_attr *sm_attrs;
  int64_t ranges;
  char *buf;
  size_t buf_bytes, pack_bytes;
  _Atomic(ivm_status) error;
} att_job;

/* Scores of rows [r0, r0 + m) of batch item t, then softmax into P, then P @ V. */
static ivm_status att_block(const att_job *j, int64_t t, int64_t r0, int64_t m, float *S,
                            float *P, float *pack, rt_scratch *scratch) {
  int64_t Sk = j->Sk, dk = j->dk, dv = j->dv;
  rt_sgemm(m, Sk, dk, 1.0f, j->Q + (t * j->Sq + r0) * dk, dk, 1, j->Kt + t * dk * Sk, Sk, 1, 0.0f,
           S, Sk, pack);
  if (j->divide) {
    for (int64_t k = 0; k < m * Sk; k++) S[k] /= j->scale;
  } else if (j->scale != 1.0f) {
    for (int64_t k = 0; k < m * Sk; k++) S[k] *= j->scale;
  }
  if (j->mask) {
    int64_t base = 0, rest = t;
    for (int i = j->nb - 1; i >= 0; i--) {
      base += rest % j->bdims[i] * j->mstr[i];
      rest /= j->bdims[i];
    }
    int64_t sq = j->mstr[j->nb], sk = j->mstr[j->nb + 1];
    for (int64_t i = 0; i < m; i++) {
      const float *mr = j->mask + base + (r0 + i) * sq;
      float *s = S + i * Sk;
      if (sk == 1) {
        for (int64_t c = 0; c < Sk; c++) s[c] += mr[c];
      } else {
        for (int64_t c = 0; c < Sk; c++) s[c] += mr[0];
      }
    }
  }
  rt_tensor ts = {.data = S, .dtype = IVM_DT_F32, .rank = 2, .dims = {m, Sk},
                  .capacity = (size_t)(m * Sk) * 4};
  rt_tensor tp = ts;
  tp.data = P;
  const rt_tensor *in[1] = {&ts};
  rt_tensor *out[1] = {&tp};
  rt_call c = {1, 1, in, out, j->sm_attrs, scratch, NULL};
  IVM_TRY(rt_k_Softmax(&c));
  rt_sgemm(m, dv, Sk, 1.0f, P, Sk, 1, j->V + t * Sk * dv, dv, 1, 0.0f,
           j->Y + (t * j->Sq + r0) * dv, dv, pack);
  return NULL;
}

static void att_task(void *vjob, int64_t r0, int64_t r1) {
  att_job *j = vjob;
  int64_t items = j->batch * j->blocks;
  rt_scratch nested = {0};
  for (int64_t r = r0; r < r1; r++) {
    char *mem = j->buf + (size_t)r * j->buf_bytes;
    float *S = (float *)mem, *P = S + j->block * j->Sk;
    float *pack = (float *)(mem + j->buf_bytes - j->pack_bytes);
    for (int64_t it = r * items / j->ranges; it < (r + 1) * items / j->ranges; it++) {
      int64_t t = it / j->blocks, q0 = it % j->blocks * j->block;
      int64_t m = j->Sq - q0 < j->block ? j->Sq - q0 : j->block;
      keep_first_error(&j->error, att_block(j, t, q0, m, S, P, pack, &nested));
    }
  }
  rt_scratch_release(&nested);
}

static ivm_status att_bad(const char *what) {
  return ivm_error(IVM_ERR_RUNTIME, "FusedAttention: %s", what);
}

ivm_status rt_k_FusedAttention(const rt_call *call) {
  if (call->n_in < 3 || call->n_out < 1 || !call->in[0] || !call->in[1] || !call->in[2] ||
      !call->out[0] || !call->attrs)
    return ivm_error(IVM_ERR_INTERNAL, "FusedAttention: expected Q, Kt, V and Y");
  const rt_tensor *q = call->in[0], *kt = call->in[1], *v = call->in[2];
  const rt_tensor *mask = call->n_in > 3 ? call->in[3] : NULL;
  rt_tensor *y = call->out[0];
  int r = q->rank;
  if (q->dtype != IVM_DT_F32 || kt->dtype != IVM_DT_F32 || v->dtype != IVM_DT_F32 ||
      y->dtype != IVM_DT_F32 || (mask && mask->dtype != IVM_DT_F32))
    return att_bad("operands must be f32");
  if (r < 2 || kt->rank != r || v->rank != r || y->rank != r || (mask && mask->rank > r))
    return att_bad("bad operand ranks");
  att_job j;
  memset(&j, 0, sizeof j);
  j.nb = r - 2;
  j.batch = 1;
  for (int i = 0; i < j.nb; i++) {
    int64_t d = q->dims[i];
    if (kt->dims[i] != d || v->dims[i] != d || y->dims[i] != d)
      return att_bad("batch dims differ");
    j.bdims[i] = d;
    j.batch *= d;
  }
  j.Sq = q->dims[r - 2], j.dk = q->dims[r - 1], j.Sk = kt->dims[r - 1], j.dv = v->dims[r - 1];
  if (kt->dims[r - 2] != j.dk || v->dims[r - 2] != j.Sk || y->dims[r - 2] != j.Sq ||
      y->dims[r - 1] != j.dv)
    return att_bad("operand shapes do not match");
  if (mask) { /* strides of the mask broadcast to the scores (..., Sq, Sk) */
    int64_t stride = 1;
    for (int i = r - 1; i >= 0; i--) {
      int mi = i - (r - mask->rank);
      int64_t d = mi >= 0 ? mask->dims[mi] : 1;
      int64_t want = i == r - 2 ? j.Sq : i == r - 1 ? j.Sk : j.bdims[i];
      if (d != 1 && d != want) return att_bad("Mask does not broadcast to the scores");
      j.mstr[i] = d == 1 ? 0 : stride;
      stride *= d;
    }
  }
  if (j.batch == 0 || j.Sq == 0 || j.dv == 0) return NULL;
  if (j.Sk == 0) return att_bad("softmax over an empty axis");
  j.Q = q->data, j.Kt = kt->data, j.V = v->data, j.mask = mask ? mask->data : NULL;
  j.Y = y->data;
  j.scale = call->attrs[ISA_A_FusedAttention_scale].v.f;
  j.divide = call->attrs[ISA_A_FusedAttention_divide].v.i != 0;
  isa_attr sm_attrs[4];
  isa_attrs_init_defaults(isa_builtin_desc(ISA_OP_Softmax), sm_attrs); /* axis -1 */
  j.sm_attrs = sm_attrs;
  int64_t block = ATT_BLOCK_FLOATS / j.Sk;
  block = block < 8 ? 8 : block;
  j.block = block < j.Sq ? block : j.Sq;
  j.blocks = (j.Sq + j.block - 1) / j.block;
  size_t p1 = rt_sgemm_pack_bytes(j.block, j.Sk, j.dk), p2 = rt_sgemm_pack_bytes(j.block, j.dv, j.Sk);
  j.pack_bytes = rt_align64(p1 > p2 ? p1 : p2);
  j.buf_bytes = rt_align64((size_t)(2 * j.block * j.Sk) * sizeof(float)) + j.pack_bytes;
  rt_pool *pool = rt_call_pool(call);
  double macs = (double)j.batch * (double)j.Sq * (double)j.Sk * (double)(j.dk + j.dv);
  int64_t items = j.batch * j.blocks, threads = rt_gemm_threads(pool, macs);
  j.ranges = items < threads ? items : threads;
  IVM_TRY(rt_scratch_get(call->scratch, (size_t)j.ranges * j.buf_bytes, (void **)&j.buf));
  rt_pool_for(pool, j.ranges, 1, att_task, &j);
  return atomic_load(&j.error);
}
