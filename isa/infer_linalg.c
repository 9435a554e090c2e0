/* Shape and type inference for MatMul, Gemm, Conv and the pooling ops (ONNX semantics,
 * canonical forms in docs/architecture.md). */
#include <string.h>

#include "isa/infer_linalg.h"
#include "isa/infer_util.h"

/* Attribute values are bounded so that window arithmetic ((k-1)*d + pads...) cannot
 * overflow int64 whatever the bytecode says. */
#define WIN_MAX ((int64_t)1 << 31)

static ivm_status bad(const char *fmt, const char *a, long long x) {
  return ivm_error(IVM_ERR_INVALID_ARGUMENT, fmt, a, x);
}

static ivm_status check_arity(const isa_infer_ctx *ctx, uint32_t min_in, uint32_t max_in,
                              uint32_t min_out, uint32_t max_out) {
  if (ctx->n_in < min_in || ctx->n_in > max_in)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "expected %u..%u inputs, got %u", min_in, max_in,
                     ctx->n_in);
  if (ctx->n_out < min_out || ctx->n_out > max_out)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "expected %u..%u outputs, got %u", min_out,
                     max_out, ctx->n_out);
  for (uint32_t i = 0; i < min_in; i++)
    if (!iu_present(ctx, i)) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "input %u is required", i);
  return NULL;
}

static ivm_status check_dtype(const isa_infer_ctx *ctx, uint32_t i, const int *allowed) {
  int dt = ctx->in[i].dtype;
  for (const int *a = allowed; *a; a++)
    if (*a == dt) return NULL;
  return ivm_error(IVM_ERR_INVALID_ARGUMENT, "input %u: unsupported dtype %s", i,
                   ivm_dtype_name((ivm_dtype)dt));
}

static ivm_status same_dtype(const isa_infer_ctx *ctx, uint32_t i, uint32_t j) {
  if (ctx->in[i].dtype != ctx->in[j].dtype)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "input %u: expected %s, got %s", j,
                     ivm_dtype_name((ivm_dtype)ctx->in[i].dtype),
                     ivm_dtype_name((ivm_dtype)ctx->in[j].dtype));
  return NULL;
}

static ivm_status check_rank(const isa_infer_ctx *ctx, uint32_t i) {
  int r = ctx->in[i].rank;
  if (r < -1 || r > ISA_MAX_RANK)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "input %u: bad rank %d", i, r);
  return NULL;
}

/* Both dims must agree where known; returns the better-known one. */
static ivm_status merge_dim(int64_t a, int64_t b, const char *what, int64_t *out) {
  if (a >= 0 && b >= 0 && a != b)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "%s mismatch: %lld vs %lld", what, (long long)a,
                     (long long)b);
  *out = a >= 0 ? a : b >= 0 ? b : a == b ? a : ISA_DIM_ANY;
  return NULL;
}

/* Numpy broadcasting of one dim pair; unknown dims propagate. */
static ivm_status bcast_dim(int64_t a, int64_t b, int64_t *out) {
  if (a == b) *out = a;
  else if (a == 1) *out = b;
  else if (b == 1) *out = a;
  else if (a >= 0 && b >= 0)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "batch dims %lld and %lld do not broadcast",
                     (long long)a, (long long)b);
  else if (a < 0 && b < 0) *out = ISA_DIM_ANY;
  else *out = a >= 0 ? a : b; /* the unknown one must be 1 or equal to the known one */
  return NULL;
}

static const int k_matmul_types[] = {IVM_DT_F32, IVM_DT_F64, IVM_DT_I32, IVM_DT_I64,
                                     IVM_DT_U32, IVM_DT_U64, 0};
static const int k_float_types[] = {IVM_DT_F32, IVM_DT_F64, 0};
static const int k_maxpool_types[] = {IVM_DT_F32, IVM_DT_F64, IVM_DT_U8, IVM_DT_I8, 0};

/* ---- MatMul --------------------------------------------------------------------- */
ivm_status isa_infer_matmul(isa_infer_ctx *ctx) {
  IVM_TRY(check_arity(ctx, 2, 2, 1, 1));
  IVM_TRY(check_dtype(ctx, 0, k_matmul_types));
  IVM_TRY(same_dtype(ctx, 0, 1));
  IVM_TRY(check_rank(ctx, 0));
  IVM_TRY(check_rank(ctx, 1));
  const isa_type *a = &ctx->in[0], *b = &ctx->in[1];
  isa_type *o = &ctx->out[0];
  if (a->rank < 0 || b->rank < 0) {
    iu_set_unknown_rank(o, a->dtype);
    return NULL;
  }
  if (a->rank == 0 || b->rank == 0)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "MatMul inputs must have rank >= 1");
  /* 1-D operands are promoted: A (K) -> (1, K), B (K) -> (K, 1). */
  int64_t m = a->rank == 1 ? 1 : a->dims[a->rank - 2];
  int64_t ka = a->dims[a->rank - 1];
  int64_t kb = b->rank == 1 ? b->dims[0] : b->dims[b->rank - 2];
  int64_t n = b->rank == 1 ? 1 : b->dims[b->rank - 1];
  int64_t k;
  IVM_TRY(merge_dim(ka, kb, "inner dimension", &k));
  int ba = a->rank > 2 ? a->rank - 2 : 0, bb = b->rank > 2 ? b->rank - 2 : 0;
  int nb = ba > bb ? ba : bb;
  memset(o, 0, sizeof *o);
  o->dtype = a->dtype;
  for (int i = 0; i < nb; i++) {
    int ia = i - (nb - ba), ib = i - (nb - bb);
    int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
    IVM_TRY(bcast_dim(da, db, &o->dims[i]));
  }
  int r = nb;
  if (a->rank > 1) o->dims[r++] = m;
  if (b->rank > 1) o->dims[r++] = n;
  o->rank = (int8_t)r;
  return NULL;
}

/* ---- Gemm ----------------------------------------------------------------------- */
ivm_status isa_infer_gemm(isa_infer_ctx *ctx) {
  IVM_TRY(check_arity(ctx, 2, 3, 1, 1));
  IVM_TRY(check_dtype(ctx, 0, k_matmul_types));
  IVM_TRY(same_dtype(ctx, 0, 1));
  int has_c = iu_present(ctx, 2);
  if (has_c) IVM_TRY(same_dtype(ctx, 0, 2));
  for (uint32_t i = 0; i < 2 + (uint32_t)has_c; i++) IVM_TRY(check_rank(ctx, i));
  int64_t ta = ctx->attrs[ISA_A_Gemm_transA].v.i, tb = ctx->attrs[ISA_A_Gemm_transB].v.i;
  if (ta != 0 && ta != 1) return bad("Gemm: %s must be 0 or 1, got %lld", "transA", ta);
  if (tb != 0 && tb != 1) return bad("Gemm: %s must be 0 or 1, got %lld", "transB", tb);
  const isa_type *a = &ctx->in[0], *b = &ctx->in[1];
  if ((a->rank >= 0 && a->rank != 2) || (b->rank >= 0 && b->rank != 2))
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "Gemm: A and B must be 2-D (ranks %d, %d)",
                     a->rank, b->rank);
  int64_t m = ISA_DIM_ANY, n = ISA_DIM_ANY, ka = ISA_DIM_ANY, kb = ISA_DIM_ANY, k;
  if (a->rank == 2) {
    m = a->dims[ta ? 1 : 0];
    ka = a->dims[ta ? 0 : 1];
  }
  if (b->rank == 2) {
    kb = b->dims[tb ? 1 : 0];
    n = b->dims[tb ? 0 : 1];
  }
  IVM_TRY(merge_dim(ka, kb, "Gemm inner dimension", &k));
  if (has_c) {
    const isa_type *c = &ctx->in[2];
    if (c->rank > 2)
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "Gemm: C must have rank <= 2, got %d", c->rank);
    /* C broadcasts unidirectionally to (M, N): each of its dims is 1 or equal. */
    for (int i = 0; c->rank > 0 && i < c->rank; i++) {
      int64_t cd = c->dims[i];
      int64_t *target = (c->rank - i == 1) ? &n : &m;
      if (cd == 1 || cd < 0) continue;
      if (*target >= 0 && *target != cd)
        return ivm_error(IVM_ERR_INVALID_ARGUMENT,
                         "Gemm: C dim %d (%lld) does not broadcast to %lld", i, (long long)cd,
                         (long long)*target);
      *target = cd;
    }
  }
  isa_type *o = &ctx->out[0];
  memset(o, 0, sizeof *o);
  o->dtype = a->dtype;
  o->rank = 2;
  o->dims[0] = m;
  o->dims[1] = n;
  return NULL;
}

/* ---- window geometry ------------------------------------------------------------ */
enum { PAD_NOTSET, PAD_SAME_UPPER, PAD_SAME_LOWER, PAD_VALID };

static ivm_status parse_auto_pad(const isa_attr *a, int *mode) {
  const char *s = (a && a->type == ISA_ATTR_STRING && a->v.s) ? a->v.s : "NOTSET";
  if (!strcmp(s, "NOTSET") || !*s) *mode = PAD_NOTSET;
  else if (!strcmp(s, "SAME_UPPER")) *mode = PAD_SAME_UPPER;
  else if (!strcmp(s, "SAME_LOWER")) *mode = PAD_SAME_LOWER;
  else if (!strcmp(s, "VALID")) *mode = PAD_VALID;
  else return ivm_error(IVM_ERR_INVALID_ARGUMENT, "auto_pad: unknown value '%s'", s);
  return NULL;
}

static int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }
static int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

ivm_status isa_window_resolve(int n, const int64_t *in, const int64_t *kernel,
                              const isa_attr *auto_pad, const isa_attr *pads,
                              const isa_attr *strides, const isa_attr *dilations,
                              int64_t ceil_mode, int pool, isa_window *w) {
  memset(w, 0, sizeof *w);
  if (n < 1 || n > ISA_MAX_RANK - 2)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "spatial rank %d not supported", n);
  if (ceil_mode != 0 && ceil_mode != 1)
    return bad("%s must be 0 or 1, got %lld", "ceil_mode", ceil_mode);
  w->n = n;
  int mode = PAD_NOTSET;
  IVM_TRY(parse_auto_pad(auto_pad, &mode));
  IVM_TRY(iu_ints_attr(strides, "strides", n, 1, 1, WIN_MAX, w->stride));
  IVM_TRY(iu_ints_attr(dilations, "dilations", n, 1, 1, WIN_MAX, w->dilation));
  int64_t p[2 * ISA_MAX_RANK];
  IVM_TRY(iu_ints_attr(pads, "pads", 2 * n, 0, 0, WIN_MAX, p));
  for (int i = 0; i < n; i++) {
    w->in[i] = in[i] < 0 ? ISA_DIM_ANY : in[i];
    if (kernel[i] > WIN_MAX || kernel[i] == 0)
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "kernel size %lld out of range",
                       (long long)kernel[i]);
    w->kernel[i] = kernel[i] < 0 ? ISA_DIM_ANY : kernel[i];
    w->pad_begin[i] = mode == PAD_NOTSET ? p[i] : 0;
    w->pad_end[i] = mode == PAD_NOTSET ? p[n + i] : 0;
    w->out[i] = ISA_DIM_ANY;
    if (w->kernel[i] < 0) continue;
    int64_t dk = (w->kernel[i] - 1) * w->dilation[i] + 1, s = w->stride[i];
    if (pool && (w->pad_begin[i] >= dk || w->pad_end[i] >= dk))
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "pads must be smaller than the kernel (%lld)",
                       (long long)dk);
    if (w->in[i] < 0) continue;
    int64_t x = w->in[i];
    if (mode == PAD_SAME_UPPER || mode == PAD_SAME_LOWER) {
      int64_t o = ceil_div(x, s);
      int64_t total = (o - 1) * s + dk - x;
      if (total < 0) total = 0;
      int64_t small = total / 2;
      w->pad_begin[i] = mode == PAD_SAME_UPPER ? small : total - small;
      w->pad_end[i] = total - w->pad_begin[i];
      w->out[i] = o;
      continue;
    }
    int64_t span = x + w->pad_begin[i] + w->pad_end[i] - dk;
    if (span < 0)
      return ivm_error(IVM_ERR_INVALID_ARGUMENT,
                       "kernel extent %lld exceeds padded input %lld", (long long)dk,
                       (long long)(x + w->pad_begin[i] + w->pad_end[i]));
    int64_t o = (ceil_mode ? ceil_div(span, s) : floor_div(span, s)) + 1;
    /* ceil_mode: a last window that would start in the end padding is dropped. */
    if (ceil_mode && (o - 1) * s >= x + w->pad_begin[i]) o--;
    w->out[i] = o;
  }
  return NULL;
}

/* ---- Conv ----------------------------------------------------------------------- */
ivm_status isa_infer_conv(isa_infer_ctx *ctx) {
  IVM_TRY(check_arity(ctx, 2, 3, 1, 1));
  IVM_TRY(check_dtype(ctx, 0, k_float_types));
  IVM_TRY(same_dtype(ctx, 0, 1));
  int has_b = iu_present(ctx, 2);
  if (has_b) IVM_TRY(same_dtype(ctx, 0, 2));
  for (uint32_t i = 0; i < 2 + (uint32_t)has_b; i++) IVM_TRY(check_rank(ctx, i));
  const isa_attr *at = ctx->attrs;
  const isa_type *x = &ctx->in[0], *wt = &ctx->in[1];
  int64_t group = at[ISA_A_Conv_group].v.i;
  if (group < 1 || group > WIN_MAX) return bad("Conv: %s must be >= 1, got %lld", "group", group);
  const isa_attr *ks = &at[ISA_A_Conv_kernel_shape];
  int rank = x->rank >= 0 ? x->rank : wt->rank;
  if (rank < 0 && ks->count > 0) rank = (int)ks->count + 2;
  if (x->rank >= 0 && wt->rank >= 0 && x->rank != wt->rank)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "Conv: X rank %d differs from W rank %d",
                     x->rank, wt->rank);
  if (rank >= 0 && rank < 3)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "Conv: inputs need rank >= 3, got %d", rank);
  isa_type *o = &ctx->out[0];
  if (rank < 0) {
    iu_set_unknown_rank(o, x->dtype);
    return NULL;
  }
  int n = rank - 2;
  if (n > ISA_MAX_RANK - 2)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "Conv: rank %d too large", rank);
  int64_t xd[ISA_MAX_RANK], wd[ISA_MAX_RANK];
  for (int i = 0; i < rank; i++) {
    xd[i] = x->rank >= 0 ? x->dims[i] : ISA_DIM_ANY;
    wd[i] = wt->rank >= 0 ? wt->dims[i] : ISA_DIM_ANY;
  }
  int64_t kernel[ISA_MAX_RANK];
  if (ks->count > 0) {
    if ((int)ks->count != n)
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "kernel_shape: expected %d values, got %u", n,
                       ks->count);
    for (int i = 0; i < n; i++) {
      int64_t k = ks->v.ints[i];
      if (k < 1 || k > WIN_MAX) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "kernel_shape[%d] = %lld out of range", i, (long long)k);
      if (wd[2 + i] >= 0 && wd[2 + i] != k)
        return ivm_error(IVM_ERR_INVALID_ARGUMENT,
                         "kernel_shape[%d] = %lld differs from W's dim %lld", i, (long long)k,
                         (long long)wd[2 + i]);
      kernel[i] = k;
    }
  } else {
    for (int i = 0; i < n; i++) kernel[i] = wd[2 + i] < 0 ? ISA_DIM_ANY : wd[2 + i];
  }
  if (xd[1] >= 0 && wd[1] >= 0 && wd[1] * group != xd[1])
    return ivm_error(IVM_ERR_INVALID_ARGUMENT,
                     "Conv: W channels %lld * group %lld != X channels %lld", (long long)wd[1],
                     (long long)group, (long long)xd[1]);
  if (xd[1] >= 0 && xd[1] % group != 0)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "Conv: X channels %lld not divisible by group %lld", (long long)xd[1], (long long)group);
  if (wd[0] >= 0 && wd[0] % group != 0)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "Conv: M = %lld not divisible by group %lld",
                     (long long)wd[0], (long long)group);
  int64_t m = wd[0];
  if (has_b) {
    const isa_type *b = &ctx->in[2];
    if (b->rank >= 0 && b->rank != 1)
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "Conv: B must be 1-D, got rank %d", b->rank);
    if (b->rank == 1) IVM_TRY(merge_dim(m, b->dims[0], "Conv: B length vs M", &m));
  }
  isa_window w;
  IVM_TRY(isa_window_resolve(n, xd + 2, kernel, &at[ISA_A_Conv_auto_pad], &at[ISA_A_Conv_pads],
                             &at[ISA_A_Conv_strides], &at[ISA_A_Conv_dilations], 0, 0, &w));
  memset(o, 0, sizeof *o);
  o->dtype = x->dtype;
  o->rank = (int8_t)rank;
  o->dims[0] = xd[0];
  o->dims[1] = m;
  for (int i = 0; i < n; i++) o->dims[2 + i] = w.out[i];
  return NULL;
}

/* ---- MaxPool / AveragePool ------------------------------------------------------ */
ivm_status isa_infer_pool(isa_infer_ctx *ctx) {
  /* MaxPool and AveragePool share this rule; MaxPool's schema has 7 slots with
   * storage_order, AveragePool's has count_include_pad. Tell them apart by the schema's
   * known slot types: MaxPool's dilations slot is INTS where AveragePool has
   * count_include_pad (INT) at the same index. */
  IVM_TRY(check_arity(ctx, 1, 1, 1, 2));
  IVM_TRY(check_rank(ctx, 0));
  const isa_attr *at = ctx->attrs;
  int is_max = at[ISA_A_MaxPool_dilations].type == ISA_ATTR_INTS;
  IVM_TRY(check_dtype(ctx, 0, is_max ? k_maxpool_types : k_float_types));
  if (!is_max && ctx->n_out != 1)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "AveragePool has one output, got %u", ctx->n_out);
  const isa_attr *ks, *ap, *pads, *strides, *dil;
  int64_t ceil_mode;
  if (is_max) {
    ks = &at[ISA_A_MaxPool_kernel_shape];
    ap = &at[ISA_A_MaxPool_auto_pad];
    pads = &at[ISA_A_MaxPool_pads];
    strides = &at[ISA_A_MaxPool_strides];
    dil = &at[ISA_A_MaxPool_dilations];
    ceil_mode = at[ISA_A_MaxPool_ceil_mode].v.i;
    int64_t so = at[ISA_A_MaxPool_storage_order].v.i;
    if (so != 0 && so != 1) return bad("MaxPool: %s must be 0 or 1, got %lld", "storage_order", so);
  } else {
    ks = &at[ISA_A_AveragePool_kernel_shape];
    ap = &at[ISA_A_AveragePool_auto_pad];
    pads = &at[ISA_A_AveragePool_pads];
    strides = &at[ISA_A_AveragePool_strides];
    dil = NULL;
    ceil_mode = at[ISA_A_AveragePool_ceil_mode].v.i;
    int64_t cip = at[ISA_A_AveragePool_count_include_pad].v.i;
    if (cip != 0 && cip != 1)
      return bad("AveragePool: %s must be 0 or 1, got %lld", "count_include_pad", cip);
  }
  if (ks->count < 1 || ks->count > ISA_MAX_RANK - 2)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "kernel_shape: %u values", ks->count);
  int n = (int)ks->count;
  const isa_type *x = &ctx->in[0];
  if (x->rank >= 0 && x->rank != n + 2)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "input rank %d does not match kernel_shape (%d)",
                     x->rank, n);
  int64_t in[ISA_MAX_RANK];
  for (int i = 0; i < n; i++) {
    in[i] = x->rank >= 0 ? x->dims[2 + i] : ISA_DIM_ANY;
    if (ks->v.ints[i] < 1)
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "kernel_shape[%d] must be >= 1, got %lld", i, (long long)ks->v.ints[i]);
  }
  isa_window w;
  IVM_TRY(isa_window_resolve(n, in, ks->v.ints, ap, pads, strides, dil, ceil_mode, 1, &w));
  isa_type *o = &ctx->out[0];
  memset(o, 0, sizeof *o);
  o->dtype = x->dtype;
  o->rank = (int8_t)(n + 2);
  o->dims[0] = x->rank >= 0 ? x->dims[0] : ISA_DIM_ANY;
  o->dims[1] = x->rank >= 0 ? x->dims[1] : ISA_DIM_ANY;
  for (int i = 0; i < n; i++) o->dims[2 + i] = w.out[i];
  if (ctx->n_out == 2) {
    ctx->out[1] = *o;
    ctx->out[1].dtype = IVM_DT_I64;
  }
  return NULL;
}

/* ---- GlobalAveragePool ---------------------------------------------------------- */
ivm_status isa_infer_global_pool(isa_infer_ctx *ctx) {
  IVM_TRY(check_arity(ctx, 1, 1, 1, 1));
  IVM_TRY(check_dtype(ctx, 0, k_float_types));
  IVM_TRY(check_rank(ctx, 0));
  const isa_type *x = &ctx->in[0];
  isa_type *o = &ctx->out[0];
  if (x->rank < 0) {
    iu_set_unknown_rank(o, x->dtype);
    return NULL;
  }
  if (x->rank < 3)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "GlobalAveragePool: rank must be >= 3, got %d",
                     x->rank);
  *o = *x;
  for (int i = 2; i < x->rank; i++) o->dims[i] = 1;
  return NULL;
}
