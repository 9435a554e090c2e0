/* Running expressions (runtime/expr.h): the block interpreter (rt_expr_eval), the kernel
 * driver shared with the JIT's native code (rt_expr_run), and the ivm.expr op family.
 *
 * The interpreter evaluates the DAG node by node over blocks of EX_BLOCK elements: each
 * node's values for the block land in a slot (a temporary block), so every operation is
 * one tight loop the compiler vectorises, and no element walks the tree. Slots are reused
 * once a node's last user has run; constants are filled once per call.
 *
 * Semantics, shared with IVM's built-in kernels: f32 expressions compute in float with the
 * f-suffixed libm functions, f64 in double; sigmoid(x) = 1/(1+exp(-x)); min/max are
 * fmin/fmax; pow is pow; recip is 1/x; comparisons give bool bytes 0/1.
 *
 * Thread-safety: rt_expr_eval and rt_expr_run keep no state; the op state is immutable
 * once prepared. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "isa/infer_util.h"
#include "runtime/expr.h"
#include "runtime/kernels/ew.h"

#define EX_BLOCK 256         /* interpreter block, in elements */
#define EX_SLOT_BYTES (EX_BLOCK * 8)
#define EX_RUN_BLOCK 1024    /* rt_expr_run: output elements expanded per broadcast step */
#define EX_KEEP UINT32_MAX   /* a node whose slot is never reused (constants, outputs) */
#define EX_NO_SLOT UINT32_MAX
#define EX_ALIGN(x) (((x) + 63) & ~(size_t)63)

static size_t ex_esize(int dt) { return dt == IVM_DT_F64 ? 8 : dt == IVM_DT_F32 ? 4 : 1; }

static int ex_arity(int op) {
  return op == RT_EX_WHERE ? 3 : op >= RT_EX_ADD ? 2 : op >= RT_EX_NEG ? 1 : 0;
}

/* ---- per-operation loops -------------------------------------------------------------- */
#define GF1(fn, x) _Generic((x), float: fn##f, default: fn)(x)
#define GF2(fn, x, y) _Generic((x), float: fn##f, default: fn)(x, y)

#define EXF_NEG(T, x) (-(x))
#define EXF_ABS(T, x) GF1(fabs, x)
#define EXF_EXP(T, x) GF1(exp, x)
#define EXF_LOG(T, x) GF1(log, x)
#define EXF_SQRT(T, x) GF1(sqrt, x)
#define EXF_TANH(T, x) GF1(tanh, x)
#define EXF_SIGMOID(T, x) ((T)1 / ((T)1 + GF1(exp, -(x))))
#define EXF_ERF(T, x) GF1(erf, x)
#define EXF_FLOOR(T, x) GF1(floor, x)
#define EXF_CEIL(T, x) GF1(ceil, x)
#define EXF_SIN(T, x) GF1(sin, x)
#define EXF_COS(T, x) GF1(cos, x)
#define EXF_RECIP(T, x) ((T)1 / (x))
#define EXF_ADD(T, x, y) ((x) + (y))
#define EXF_SUB(T, x, y) ((x) - (y))
#define EXF_MUL(T, x, y) ((x) * (y))
#define EXF_DIV(T, x, y) ((x) / (y))
#define EXF_POW(T, x, y) GF2(pow, x, y)
#define EXF_MIN(T, x, y) GF2(fmin, x, y)
#define EXF_MAX(T, x, y) GF2(fmax, x, y)

#define EX_UN(T, OP)                                               \
  case RT_EX_##OP: {                                               \
    const T *x = a;                                                \
    T *o = r;                                                      \
    for (int64_t i = 0; i < n; i++) o[i] = EXF_##OP(T, x[i]);      \
    break;                                                         \
  }
#define EX_BIN(T, OP)                                              \
  case RT_EX_##OP: {                                               \
    const T *x = a, *y = b;                                        \
    T *o = r;                                                      \
    for (int64_t i = 0; i < n; i++) o[i] = EXF_##OP(T, x[i], y[i]); \
    break;                                                         \
  }
#define EX_CMP(T, OP, REL)                                         \
  case RT_EX_##OP: {                                               \
    const T *x = a, *y = b;                                        \
    uint8_t *o = r;                                                \
    for (int64_t i = 0; i < n; i++) o[i] = x[i] REL y[i];          \
    break;                                                         \
  }

/* One node over n elements of a float type T: a, b, c operand blocks, r the result. */
#define EX_DEFINE_BLOCK(NAME, T)                                                          \
  static void NAME(int op, int64_t n, const void *a, const void *b, const void *c, void *r) { \
    switch (op) {                                                                         \
      EX_UN(T, NEG) EX_UN(T, ABS) EX_UN(T, EXP) EX_UN(T, LOG) EX_UN(T, SQRT)              \
      EX_UN(T, TANH) EX_UN(T, SIGMOID) EX_UN(T, ERF) EX_UN(T, FLOOR) EX_UN(T, CEIL)       \
      EX_UN(T, SIN) EX_UN(T, COS) EX_UN(T, RECIP)                                         \
      EX_BIN(T, ADD) EX_BIN(T, SUB) EX_BIN(T, MUL) EX_BIN(T, DIV) EX_BIN(T, POW)          \
      EX_BIN(T, MIN) EX_BIN(T, MAX)                                                       \
      EX_CMP(T, LT, <) EX_CMP(T, LE, <=) EX_CMP(T, GT, >) EX_CMP(T, GE, >=)               \
      EX_CMP(T, EQ, ==) EX_CMP(T, NE, !=)                                                 \
      case RT_EX_WHERE: {                                                                 \
        const uint8_t *m = a;                                                             \
        const T *x = b, *y = c;                                                           \
        T *o = r;                                                                         \
        for (int64_t i = 0; i < n; i++) o[i] = m[i] ? x[i] : y[i];                        \
        break;                                                                            \
      }                                                                                   \
      default: break;                                                                     \
    }                                                                                     \
  }

EX_DEFINE_BLOCK(ex_block_f32, float)
EX_DEFINE_BLOCK(ex_block_f64, double)

/* Bool operands are 0 or 1 (they come from comparisons), so bit operations suffice. */
static void ex_block_bool(int op, int64_t n, const uint8_t *a, const uint8_t *b, uint8_t *r) {
  switch (op) {
    case RT_EX_NOT: for (int64_t i = 0; i < n; i++) r[i] = a[i] ^ 1; break;
    case RT_EX_AND: for (int64_t i = 0; i < n; i++) r[i] = a[i] & b[i]; break;
    case RT_EX_OR: for (int64_t i = 0; i < n; i++) r[i] = a[i] | b[i]; break;
    default: break;
  }
}

/* ---- slot plan ------------------------------------------------------------------------ */
static size_t ex_plan_bytes(const rt_expr *e) {
  return EX_ALIGN((size_t)e->n_nodes * 3 * sizeof(uint32_t));
}

/* Gives each node but inputs a slot, reusing a slot once its node's last user has run.
 * mem: ex_plan_bytes(e); the slots are mem[0..n_nodes). Returns the slot count. */
static uint32_t ex_plan(const rt_expr *e, uint32_t *mem) {
  uint32_t n = e->n_nodes, *slot = mem, *last = mem + n, *freed = mem + 2 * (size_t)n;
  uint32_t n_free = 0, n_slots = 0;
  for (uint32_t i = 0; i < n; i++) last[i] = e->nodes[i].op == RT_EX_CONST ? EX_KEEP : i;
  for (uint32_t i = 0; i < n; i++) {
    const rt_expr_node *nd = &e->nodes[i];
    const uint32_t ids[3] = {nd->a, nd->b, nd->c};
    for (int k = 0; k < ex_arity(nd->op); k++)
      if (last[ids[k]] != EX_KEEP) last[ids[k]] = i;
  }
  for (uint32_t j = 0; j < e->n_outputs; j++) last[e->outputs[j]] = EX_KEEP;
  /* Constants are filled before the first block, so their slots are never anyone else's. */
  for (uint32_t i = 0; i < n; i++) slot[i] = e->nodes[i].op == RT_EX_CONST ? n_slots++ : EX_NO_SLOT;
  for (uint32_t i = 0; i < n; i++) {
    const rt_expr_node *nd = &e->nodes[i];
    if (nd->op == RT_EX_INPUT || nd->op == RT_EX_CONST) continue;
    /* The result takes a fresh slot before the operands' are freed: a bool operand and a
     * float result must not share one (element sizes differ). */
    slot[i] = n_free ? freed[--n_free] : n_slots++;
    const uint32_t ids[3] = {nd->a, nd->b, nd->c};
    int arity = ex_arity(nd->op);
    for (int k = 0; k < arity; k++) {
      uint32_t o = ids[k];
      int repeat = (k > 0 && ids[0] == o) || (k > 1 && ids[1] == o);
      if (last[o] == i && slot[o] != EX_NO_SLOT && !repeat) freed[n_free++] = slot[o];
    }
    if (last[i] == i) freed[n_free++] = slot[i]; /* never used */
  }
  return n_slots;
}

/* Where node id's values for the block at element `off` are. */
static const void *ex_node_data(const rt_expr *e, const uint32_t *slot, char *slots, size_t stride,
                                const void *const *in, int64_t off, uint32_t id) {
  const rt_expr_node *nd = &e->nodes[id];
  if (nd->op == RT_EX_INPUT)
    return (const char *)in[nd->input] + (size_t)off * ex_esize(nd->dtype);
  return slots + (size_t)slot[id] * stride;
}

/* Evaluates e over n elements in blocks of B with a planned workspace. */
static void ex_eval_planned(const rt_expr *e, const uint32_t *slot, char *slots, int64_t B,
                            int64_t n, const void *const *in, void *const *out) {
  size_t stride = EX_ALIGN((size_t)B * 8);
  for (uint32_t i = 0; i < e->n_nodes; i++) {
    const rt_expr_node *nd = &e->nodes[i];
    if (nd->op != RT_EX_CONST) continue;
    char *s = slots + (size_t)slot[i] * stride;
    if (nd->dtype == IVM_DT_F32)
      for (int64_t k = 0; k < B; k++) ((float *)s)[k] = (float)nd->value;
    else if (nd->dtype == IVM_DT_F64)
      for (int64_t k = 0; k < B; k++) ((double *)s)[k] = nd->value;
    else
      memset(s, nd->value != 0.0, (size_t)B);
  }
  for (int64_t off = 0; off < n; off += B) {
    int64_t len = n - off < B ? n - off : B;
    for (uint32_t i = 0; i < e->n_nodes; i++) {
      const rt_expr_node *nd = &e->nodes[i];
      if (nd->op == RT_EX_INPUT || nd->op == RT_EX_CONST) continue;
      int arity = ex_arity(nd->op);
      const void *a = ex_node_data(e, slot, slots, stride, in, off, nd->a);
      const void *b = arity > 1 ? ex_node_data(e, slot, slots, stride, in, off, nd->b) : NULL;
      const void *c = arity > 2 ? ex_node_data(e, slot, slots, stride, in, off, nd->c) : NULL;
      void *r = slots + (size_t)slot[i] * stride;
      /* comparisons compute in their operands' type */
      int cdt = nd->op >= RT_EX_LT && nd->op <= RT_EX_NE ? e->nodes[nd->a].dtype : nd->dtype;
      if (cdt == IVM_DT_F32)
        ex_block_f32(nd->op, len, a, b, c, r);
      else if (cdt == IVM_DT_F64)
        ex_block_f64(nd->op, len, a, b, c, r);
      else
        ex_block_bool(nd->op, len, a, b, r);
    }
    for (uint32_t j = 0; j < e->n_outputs; j++) {
      uint32_t id = e->outputs[j];
      size_t es = ex_esize(e->nodes[id].dtype);
      memcpy((char *)out[j] + (size_t)off * es, ex_node_data(e, slot, slots, stride, in, off, id),
             (size_t)len * es);
    }
  }
}

/* Used only when no memory can be had: the outputs are marked invalid rather than left
 * holding stale values (rt_expr_eval cannot report; rt_expr_run reports instead). */
static void ex_eval_fail(const rt_expr *e, int64_t n, void *const *out) {
  for (uint32_t j = 0; j < e->n_outputs; j++) {
    int dt = e->nodes[e->outputs[j]].dtype;
    for (int64_t k = 0; k < n; k++) {
      if (dt == IVM_DT_F32) ((float *)out[j])[k] = NAN;
      else if (dt == IVM_DT_F64) ((double *)out[j])[k] = NAN;
      else ((uint8_t *)out[j])[k] = 0;
    }
  }
}

void rt_expr_eval(const rt_expr *e, int64_t n, const void *const *in, void *const *out) {
  if (n <= 0) return;
  /* Small expressions run from the stack; larger ones borrow the heap. */
  _Alignas(64) unsigned char stack[32768];
  size_t pb = ex_plan_bytes(e), have = sizeof stack;
  unsigned char *ws = stack, *heap = NULL;
  if (pb > have) {
    if (!(heap = malloc(pb))) {
      ex_eval_fail(e, n, out);
      return;
    }
    ws = heap;
    have = pb;
  }
  uint32_t n_slots = ex_plan(e, (uint32_t *)ws);
  int64_t B = EX_BLOCK;
  size_t need = pb + (size_t)n_slots * EX_SLOT_BYTES;
  if (need > have) {
    unsigned char *h2 = malloc(need);
    if (h2) {
      memcpy(h2, ws, pb);
      free(heap);
      ws = heap = h2;
    } else { /* smaller blocks (multiples of 8 elements keep slots aligned) in what there is */
      B = (int64_t)((have - pb) / n_slots / 64 * 8);
      if (B < 1) {
        free(heap);
        ex_eval_fail(e, n, out);
        return;
      }
    }
  }
  ex_eval_planned(e, (const uint32_t *)ws, (char *)ws + pb, B, n, in, out);
  free(heap);
}

/* ---- the kernel driver ------------------------------------------------------------------ */
/* Fills dst with n copies of the element at src (es bytes). */
static void ex_fill(char *dst, const char *src, size_t es, int64_t n) {
  if (es == 4) {
    uint32_t v;
    memcpy(&v, src, 4);
    for (int64_t k = 0; k < n; k++) ((uint32_t *)dst)[k] = v;
  } else {
    uint64_t v;
    memcpy(&v, src, 8);
    for (int64_t k = 0; k < n; k++) ((uint64_t *)dst)[k] = v;
  }
}

/* Copies `len` elements of input t, broadcast to the output dims, starting at output
 * element `off`, into dst. st: t's element strides per output axis (0 where broadcast). */
static void ex_expand(const rt_tensor *t, const int64_t *dims, int rank, const int64_t *st,
                      int64_t off, int64_t len, char *dst) {
  size_t es = ex_esize(t->dtype);
  int64_t idx[ISA_MAX_RANK];
  for (int d = rank - 1; d >= 0; d--) {
    idx[d] = off % dims[d];
    off /= dims[d];
  }
  const char *base = t->data;
  while (len > 0) {
    int64_t src = 0;
    for (int d = 0; d < rank; d++) src += idx[d] * st[d];
    int64_t run = dims[rank - 1] - idx[rank - 1];
    if (run > len) run = len;
    const char *s = base + (size_t)src * es;
    if (st[rank - 1]) {
      memcpy(dst, s, (size_t)run * es);
    } else {
      ex_fill(dst, s, es, run);
    }
    dst += (size_t)run * es;
    len -= run;
    idx[rank - 1] += run;
    for (int d = rank - 1; d > 0 && idx[d] == dims[d]; d--) {
      idx[d] = 0;
      idx[d - 1]++;
    }
  }
}

/* Checks the call against e: counts, dtypes, and that inputs broadcast to out[0]. */
static ivm_status ex_check_call(const rt_expr *e, const rt_call *call) {
  if (call->n_in != e->n_inputs || call->n_out != e->n_outputs)
    return ivm_error(IVM_ERR_INTERNAL,
                     "expression: takes %u inputs and %u outputs, called with %u and %u",
                     e->n_inputs, e->n_outputs, call->n_in, call->n_out);
  const rt_tensor *o0 = call->out[0];
  for (uint32_t j = 0; j < call->n_out; j++) {
    const rt_tensor *o = call->out[j];
    if (!o) return ivm_error(IVM_ERR_INTERNAL, "expression: output %u missing", j);
    if (o->dtype != e->nodes[e->outputs[j]].dtype)
      return ivm_error(IVM_ERR_INTERNAL, "expression: output %u is %s, the expression gives %s", j,
                       ivm_dtype_name((ivm_dtype)o->dtype),
                       ivm_dtype_name((ivm_dtype)e->nodes[e->outputs[j]].dtype));
    if (o->rank > ISA_MAX_RANK || o->rank != o0->rank ||
        memcmp(o->dims, o0->dims, (size_t)o->rank * sizeof o->dims[0]))
      return ivm_error(IVM_ERR_INTERNAL, "expression: output %u's shape differs from output 0's",
                       j);
  }
  for (uint32_t k = 0; k < call->n_in; k++) {
    const rt_tensor *t = call->in[k];
    if (!t) return ivm_error(IVM_ERR_INTERNAL, "expression: input %u missing", k);
    if (t->dtype != e->in_dtypes[k])
      return ivm_error(IVM_ERR_INTERNAL, "expression: input %u is %s, the expression expects %s", k,
                       ivm_dtype_name((ivm_dtype)t->dtype),
                       ivm_dtype_name((ivm_dtype)e->in_dtypes[k]));
    int shift = o0->rank - t->rank, bad = shift < 0 || t->rank > ISA_MAX_RANK;
    for (int d = 0; d < t->rank && !bad; d++)
      bad = t->dims[d] != 1 && t->dims[d] != o0->dims[d + shift];
    if (bad)
      return ivm_error(IVM_ERR_INTERNAL, "expression: input %u does not broadcast to the output",
                       k);
  }
  return NULL;
}

/* The common broadcasts (a bias row over a matrix, per-channel values over a feature map)
 * go row by row: the output's axes merge into a loop nest whose innermost axis every input
 * either walks contiguously (used in place) or repeats one value along (a splat buffer,
 * filled once per row). Returns 0, doing nothing, when the innermost run is too short for
 * that to pay; the caller then expands inputs block by block. st: per-input strides over
 * the output's axes, as the caller computed them; ip: the broadcast inputs' buffers. */
static int ex_run_rows(const rt_expr *e, rt_expr_fn native, const uint32_t *slot, char *slots,
                       const rt_call *call, const int64_t (*st)[ISA_MAX_RANK], const void **ip,
                       void **op) {
  const rt_tensor *o0 = call->out[0];
  uint32_t n_in = call->n_in, n_out = call->n_out;
  int64_t dims[ISA_MAX_RANK], ms[64][ISA_MAX_RANK];
  if (n_in > 64) return 0;
  int m = ew_bcast_merge(o0->rank, o0->dims, (int)n_in, st, dims, ms);
  if (dims[m - 1] < 64) return 0;
  int64_t row = dims[m - 1], chunk = row < EX_RUN_BLOCK ? row : EX_RUN_BLOCK;
  int64_t idx[ISA_MAX_RANK] = {0}, rows = 1;
  for (int d = 0; d < m - 1; d++) rows *= dims[d];
  void *bufs[64];
  for (uint32_t k = 0; k < n_in; k++) /* the caller's expansion buffers, for splats */
    bufs[k] = rt_numel(call->in[k]) != rt_numel(o0) ? (void *)ip[k] : NULL;
  for (int64_t r = 0; r < rows; r++) {
    for (uint32_t k = 0; k < n_in; k++) {
      const rt_tensor *t = call->in[k];
      size_t es = ex_esize(t->dtype);
      int64_t src = 0;
      for (int d = 0; d < m - 1; d++) src += idx[d] * ms[k][d];
      const char *p = (const char *)t->data + (size_t)src * es;
      if (ms[k][m - 1]) {
        ip[k] = p;
      } else {
        if (rt_numel(t) != 1) ex_fill(bufs[k], p, es, chunk); /* a scalar is filled already */
        ip[k] = bufs[k];
      }
    }
    for (int64_t off = 0; off < row; off += chunk) {
      int64_t len = row - off < chunk ? row - off : chunk;
      for (uint32_t j = 0; j < n_out; j++)
        op[j] = (char *)call->out[j]->data + (size_t)(r * row + off) * ex_esize(call->out[j]->dtype);
      if (native)
        native(len, ip, op);
      else
        ex_eval_planned(e, slot, slots, EX_BLOCK, len, ip, op);
      for (uint32_t k = 0; k < n_in; k++) /* full-row inputs advance; splats stay */
        if (ms[k][m - 1]) ip[k] = (const char *)ip[k] + (size_t)len * ex_esize(call->in[k]->dtype);
    }
    for (int d = m - 2; d >= 0 && ++idx[d] == dims[d]; d--) idx[d] = 0;
  }
  return 1;
}

ivm_status rt_expr_run(const rt_expr *e, rt_expr_fn native, const rt_call *call) {
  if (!e || !call || call->n_out < 1 || !call->out || (call->n_in && !call->in))
    return ivm_error(IVM_ERR_INTERNAL, "expression: called without an expression or operands");
  IVM_TRY(ex_check_call(e, call));
  const rt_tensor *o0 = call->out[0];
  int64_t n = rt_numel(o0);
  if (n == 0) return NULL;
  uint32_t n_in = call->n_in, n_out = call->n_out, n_bcast = 0;
  for (uint32_t k = 0; k < n_in; k++) n_bcast += rt_numel(call->in[k]) != n;

  /* One scratch area: the pointer tables; for broadcasting, each input's strides and
   * block buffer; for the interpreter, its plan and slots. The plan is made once to learn
   * the slot count and again once the whole area is had (growing the scratch moves it). */
  size_t ptrs = EX_ALIGN((size_t)(n_in + n_out) * sizeof(void *));
  size_t strides = n_bcast ? EX_ALIGN((size_t)n_in * sizeof(int64_t[ISA_MAX_RANK])) : 0;
  size_t bufs = (size_t)n_bcast * EX_ALIGN(EX_RUN_BLOCK * 8);
  size_t plan_at = ptrs + strides + bufs, pb = native ? 0 : ex_plan_bytes(e);
  void *mem;
  IVM_TRY(rt_scratch_get(call->scratch, plan_at + pb, &mem));
  uint32_t n_slots = native ? 0 : ex_plan(e, (uint32_t *)((char *)mem + plan_at));
  IVM_TRY(rt_scratch_get(call->scratch, plan_at + pb + (size_t)n_slots * EX_SLOT_BYTES, &mem));
  char *base = mem, *slots = base + plan_at + pb;
  const uint32_t *slot = (const uint32_t *)(base + plan_at);
  if (!native) ex_plan(e, (uint32_t *)(base + plan_at));
  const void **ip = (const void **)base;
  void **op = (void **)base + n_in;

  if (n_bcast == 0) { /* every input has the output's shape: one pass over everything */
    for (uint32_t k = 0; k < n_in; k++) ip[k] = call->in[k]->data;
    for (uint32_t j = 0; j < n_out; j++) op[j] = call->out[j]->data;
    if (native)
      native(n, ip, op);
    else
      ex_eval_planned(e, slot, slots, EX_BLOCK, n, ip, op);
    return NULL;
  }

  /* Broadcasting: numpy strides of each input over the output's axes (0 where a dim is
   * broadcast); the output goes in blocks with each broadcast input expanded into its
   * buffer (a one-element input only once: every block sees the same values). */
  int rank = o0->rank;
  int64_t(*st)[ISA_MAX_RANK] = (int64_t(*)[ISA_MAX_RANK])(base + ptrs);
  char *next = base + ptrs + strides;
  for (uint32_t k = 0; k < n_in; k++) {
    const rt_tensor *t = call->in[k];
    int shift = rank - t->rank;
    int64_t s = 1;
    for (int d = rank - 1; d >= 0; d--) {
      int64_t dim = d >= shift ? t->dims[d - shift] : 1;
      st[k][d] = dim == 1 ? 0 : s;
      s *= dim;
    }
    if (rt_numel(t) == n) continue;
    ip[k] = next;
    next += EX_ALIGN(EX_RUN_BLOCK * 8);
    if (rt_numel(t) == 1) ex_fill((char *)ip[k], t->data, ex_esize(t->dtype), EX_RUN_BLOCK);
  }
  if (ex_run_rows(e, native, slot, slots, call, st, ip, op)) return NULL;
  for (int64_t off = 0; off < n; off += EX_RUN_BLOCK) {
    int64_t len = n - off < EX_RUN_BLOCK ? n - off : EX_RUN_BLOCK;
    for (uint32_t k = 0; k < n_in; k++) {
      const rt_tensor *t = call->in[k];
      int64_t numel = rt_numel(t);
      if (numel == n)
        ip[k] = (const char *)t->data + (size_t)off * ex_esize(t->dtype);
      else if (numel != 1)
        ex_expand(t, o0->dims, rank, st[k], off, len, (char *)ip[k]);
    }
    for (uint32_t j = 0; j < n_out; j++)
      op[j] = (char *)call->out[j]->data + (size_t)off * ex_esize(call->out[j]->dtype);
    if (native)
      native(len, ip, op);
    else
      ex_eval_planned(e, slot, slots, EX_BLOCK, len, ip, op);
  }
  return NULL;
}

/* ---- the ivm.expr op family ------------------------------------------------------------ */
enum { A_EXPR, A_INPUTS, A_PARAM_NAMES, A_PARAMS, A_COUNT };

/* A comma-separated list of names, split in place into a malloc'd copy. */
typedef struct ex_names {
  char *text;
  const char **names;
  uint32_t n;
} ex_names;

static int ex_ident(const char *s) {
  if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_')) return 0;
  for (s++; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
          *s == '_'))
      return 0;
  return 1;
}

static ivm_status ex_split(const char *attr, const char *list, ex_names *out) {
  memset(out, 0, sizeof *out);
  size_t len = strlen(list);
  uint32_t n = 1;
  for (size_t i = 0; i < len; i++) n += list[i] == ',';
  out->text = malloc(len + 1);
  out->names = malloc(n * sizeof *out->names);
  if (!out->text || !out->names)
    return ivm_error(IVM_ERR_OUT_OF_MEMORY, "ivm.expr: out of memory");
  memcpy(out->text, list, len + 1);
  for (char *s = out->text;;) {
    char *comma = strchr(s, ',');
    if (comma) *comma = 0;
    while (*s == ' ' || *s == '\t') s++;
    char *end = s + strlen(s);
    while (end > s && (end[-1] == ' ' || end[-1] == '\t')) *--end = 0;
    if (!ex_ident(s))
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "ivm.expr: %s: '%.40s' is not a name", attr, s);
    out->names[out->n++] = s;
    if (!comma) break;
    s = comma + 1;
  }
  return NULL;
}

static void ex_names_free(ex_names *x) {
  free(x->text);
  free(x->names);
}

/* Parses the instruction's expression for inputs of the given dtypes. */
static ivm_status ex_op_parse(const isa_attr *attrs, uint32_t n_in, const uint8_t *dtypes,
                              rt_expr **out) {
  *out = NULL;
  const isa_attr *ax = &attrs[A_EXPR], *ain = &attrs[A_INPUTS], *apn = &attrs[A_PARAM_NAMES],
                 *ap = &attrs[A_PARAMS];
  if (!ax->v.s || !ax->present)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "ivm.expr: attribute 'expr' is required");
  if (strlen(ax->v.s) != ax->count)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "ivm.expr: 'expr' contains a NUL byte");
  ex_names in = {0}, pn = {0};
  double *values = NULL;
  ivm_status st = NULL;
  const char *in_text = ain->v.s ? ain->v.s : "", *pn_text = apn->v.s ? apn->v.s : "";
  uint32_t n_params = ap->v.floats ? ap->count : 0;
  if (in_text[0]) {
    IVM_TRY_GOTO(st, ex_split("inputs", in_text, &in), done);
    if (in.n != n_in) {
      st = ivm_error(IVM_ERR_INVALID_ARGUMENT,
                     "ivm.expr: attribute 'inputs' names %u inputs; the instruction has %u", in.n,
                     n_in);
      goto done;
    }
  }
  if (pn_text[0]) IVM_TRY_GOTO(st, ex_split("param_names", pn_text, &pn), done);
  if (pn.n != n_params) {
    st = ivm_error(IVM_ERR_INVALID_ARGUMENT, "ivm.expr: %u param_names but %u params", pn.n,
                   n_params);
    goto done;
  }
  if (n_params && !(values = malloc(n_params * sizeof *values))) {
    st = ivm_error(IVM_ERR_OUT_OF_MEMORY, "ivm.expr: out of memory");
    goto done;
  }
  for (uint32_t k = 0; k < n_params; k++) values[k] = ap->v.floats[k];
  /* The parser checks the input dtypes and names the offending input. */
  rt_expr_source src = {ax->v.s, n_in, in.n ? in.names : NULL, dtypes, n_params, pn.names, values};
  st = rt_expr_parse(&src, out);
done:
  free(values);
  ex_names_free(&in);
  ex_names_free(&pn);
  return st;
}

static ivm_status expr_infer(isa_infer_ctx *ctx) {
  if (ctx->n_in < 1 || ctx->n_out != 1)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT,
                     "ivm.expr: needs at least 1 input and exactly 1 output");
  uint8_t small[16], *dtypes = ctx->n_in <= 16 ? small : malloc(ctx->n_in);
  const isa_type **ts = malloc(ctx->n_in * sizeof *ts);
  ivm_status st = NULL;
  rt_expr *e = NULL;
  if (!dtypes || !ts) {
    st = ivm_error(IVM_ERR_OUT_OF_MEMORY, "ivm.expr: out of memory");
    goto done;
  }
  for (uint32_t k = 0; k < ctx->n_in; k++) {
    if (ctx->in[k].vkind != ISA_VK_TENSOR) {
      st = ivm_error(IVM_ERR_INVALID_ARGUMENT, "ivm.expr: input %u is not a tensor", k);
      goto done;
    }
    dtypes[k] = ctx->in[k].dtype;
    ts[k] = &ctx->in[k];
  }
  IVM_TRY_GOTO(st, ex_op_parse(ctx->attrs, ctx->n_in, dtypes, &e), done);
  isa_type *out = &ctx->out[0];
  memset(out, 0, sizeof *out);
  IVM_TRY_GOTO(st, iu_broadcast(ts, (int)ctx->n_in, out), done);
  out->dtype = e->nodes[e->outputs[0]].dtype;
  out->vkind = ISA_VK_TENSOR;
done:
  rt_expr_free(e);
  if (dtypes != small) free(dtypes);
  free(ts);
  return st;
}

static ivm_status expr_prepare(const rt_prepare_ctx *ctx, void **out_state) {
  *out_state = NULL;
  uint8_t *dtypes = malloc(ctx->n_in ? ctx->n_in : 1);
  rt_expr_op_state *state = calloc(1, sizeof *state);
  ivm_status st = NULL;
  if (!dtypes || !state) {
    st = ivm_error(IVM_ERR_OUT_OF_MEMORY, "ivm.expr: out of memory");
  } else {
    for (uint32_t k = 0; k < ctx->n_in; k++) dtypes[k] = ctx->in[k].dtype;
    st = ex_op_parse(ctx->attrs, ctx->n_in, dtypes, &state->expr);
  }
  free(dtypes);
  if (st) {
    free(state);
    return ivm_status_wrap(st, "%s", ctx->where ? ctx->where : "ivm.expr");
  }
  *out_state = state;
  return NULL;
}

static void expr_release(void *state) {
  rt_expr_op_state *s = state;
  if (!s) return;
  rt_expr_free(s->expr);
  free(s);
}

static ivm_status expr_kernel(const rt_call *call) {
  const rt_expr_op_state *s = call->state;
  if (s && s->expr) return rt_expr_run(s->expr, s->native, call);
  /* Not prepared (a direct kernel call): parse for this call's input dtypes. */
  if (!call->attrs || (call->n_in && !call->in))
    return ivm_error(IVM_ERR_INTERNAL, "ivm.expr: called without attributes or inputs");
  uint8_t *dtypes = malloc(call->n_in ? call->n_in : 1);
  if (!dtypes) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "ivm.expr: out of memory");
  ivm_status st = NULL;
  for (uint32_t k = 0; k < call->n_in && !st; k++)
    if (!call->in[k]) st = ivm_error(IVM_ERR_INTERNAL, "ivm.expr: input %u missing", k);
    else dtypes[k] = call->in[k]->dtype;
  rt_expr *e = NULL;
  if (!st) st = ex_op_parse(call->attrs, call->n_in, dtypes, &e);
  free(dtypes);
  if (!st) st = rt_expr_run(e, NULL, call);
  rt_expr_free(e);
  return st;
}

static const isa_attr_schema expr_attrs[A_COUNT] = {
    [A_EXPR] = {"expr", ISA_ATTR_STRING, 1, {.s = ""}},
    [A_INPUTS] = {"inputs", ISA_ATTR_STRING, 0, {.s = ""}},
    [A_PARAM_NAMES] = {"param_names", ISA_ATTR_STRING, 0, {.s = ""}},
    [A_PARAMS] = {"params", ISA_ATTR_FLOATS, 0, {.i = 0}},
};

const isa_op_desc rt_expr_family_desc = {
    "ivm.expr", "*", 1, 1, ISA_VARIADIC, 1, 1, ISA_OPF_ELEMENTWISE, ISA_OP_KIND_EXPR, A_COUNT,
    expr_attrs, expr_infer, "Y := EXPR(X...)",
    "Elementwise expression over broadcast f32/f64 inputs (attribute expr; see runtime/expr.h)."};

const rt_op_impl rt_expr_family_impl = {expr_kernel, expr_prepare, expr_release};
