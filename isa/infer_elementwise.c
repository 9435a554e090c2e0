/* Shape / type inference for the elementwise, softmax, normalisation, reduction and cast
 * ops. Unknown values propagate as ISA_DIM_ANY dims or rank -1 (see docs/architecture.md);
 * everything that is known is validated, because kernels rely on what inference accepts. */
#include <string.h>

#include "isa/infer_util.h"
#include "isa/op.h"

#define BAD(...) ivm_error(IVM_ERR_INVALID_ARGUMENT, __VA_ARGS__)

/* Checks arity and that input i is well formed (valid dtype, rank -1..ISA_MAX_RANK). */
static ivm_status check_counts(const isa_infer_ctx *ctx, uint32_t min_in, uint32_t max_in,
                               uint32_t min_out, uint32_t max_out) {
  if (ctx->n_in < min_in || ctx->n_in > max_in)
    return BAD("expected %u..%u inputs, got %u", min_in, max_in, ctx->n_in);
  if (ctx->n_out < min_out || ctx->n_out > max_out)
    return BAD("expected %u..%u outputs, got %u", min_out, max_out, ctx->n_out);
  for (uint32_t i = 0; i < ctx->n_in; i++) {
    const isa_type *t = &ctx->in[i];
    if (t->dtype == IVM_DT_NONE) {
      if (i < min_in) return BAD("input %u: required", i);
      continue;
    }
    if (!isa_dtype_valid(t->dtype)) return BAD("input %u: invalid dtype %d", i, t->dtype);
    if (t->rank < -1 || t->rank > ISA_MAX_RANK) return BAD("input %u: invalid rank %d", i, t->rank);
  }
  return NULL;
}

/* ---- broadcasting -------------------------------------------------------------------- */

ivm_status isa_infer_broadcast(isa_infer_ctx *ctx) {
  IVM_TRY(check_counts(ctx, 2, 2, 1, 1));
  const isa_type *a = &ctx->in[0], *b = &ctx->in[1];
  if (!iu_is_numeric(a->dtype))
    return BAD("input 0: expected a numeric dtype, got %s", iu_dtn(a->dtype));
  if (b->dtype != a->dtype)
    return BAD("input 1: expected %s (input 0's dtype), got %s", iu_dtn(a->dtype),
               iu_dtn(b->dtype));
  const isa_type *ts[2] = {a, b};
  iu_set_unknown_rank(&ctx->out[0], a->dtype);
  return iu_broadcast(ts, 2, &ctx->out[0]);
}

ivm_status isa_infer_pow(isa_infer_ctx *ctx) {
  IVM_TRY(check_counts(ctx, 2, 2, 1, 1));
  const isa_type *a = &ctx->in[0], *b = &ctx->in[1];
  if (!iu_is_numeric(a->dtype))
    return BAD("input 0: expected a numeric dtype, got %s", iu_dtn(a->dtype));
  if (!iu_is_numeric(b->dtype))
    return BAD("input 1: expected a numeric dtype, got %s", iu_dtn(b->dtype));
  const isa_type *ts[2] = {a, b};
  iu_set_unknown_rank(&ctx->out[0], a->dtype);
  return iu_broadcast(ts, 2, &ctx->out[0]);
}

ivm_status isa_infer_compare(isa_infer_ctx *ctx) {
  IVM_TRY(check_counts(ctx, 2, 2, 1, 1));
  const isa_type *a = &ctx->in[0], *b = &ctx->in[1];
  if (b->dtype != a->dtype)
    return BAD("input 1: expected %s (input 0's dtype), got %s", iu_dtn(a->dtype),
               iu_dtn(b->dtype));
  const isa_type *ts[2] = {a, b};
  iu_set_unknown_rank(&ctx->out[0], IVM_DT_BOOL);
  return iu_broadcast(ts, 2, &ctx->out[0]);
}

ivm_status isa_infer_where(isa_infer_ctx *ctx) {
  IVM_TRY(check_counts(ctx, 3, 3, 1, 1));
  const isa_type *c = &ctx->in[0], *x = &ctx->in[1], *y = &ctx->in[2];
  if (c->dtype != IVM_DT_BOOL) return BAD("input 0: expected bool, got %s", iu_dtn(c->dtype));
  if (y->dtype != x->dtype)
    return BAD("input 2: expected %s (input 1's dtype), got %s", iu_dtn(x->dtype),
               iu_dtn(y->dtype));
  const isa_type *ts[3] = {c, x, y};
  iu_set_unknown_rank(&ctx->out[0], x->dtype);
  return iu_broadcast(ts, 3, &ctx->out[0]);
}

/* ---- same-type ops --------------------------------------------------------------------- */
ivm_status isa_infer_unary(isa_infer_ctx *ctx) {
  IVM_TRY(check_counts(ctx, 1, 1, 1, 1));
  iu_set_like(&ctx->out[0], ctx->in[0].dtype, &ctx->in[0]);
  return NULL;
}

/* X, min?, max?: bounds are one element (rank 0 or 1) of X's dtype. */
ivm_status isa_infer_clip(isa_infer_ctx *ctx) {
  IVM_TRY(check_counts(ctx, 1, 3, 1, 1));
  const isa_type *x = &ctx->in[0];
  if (!iu_is_numeric(x->dtype))
    return BAD("input 0: expected a numeric dtype, got %s", iu_dtn(x->dtype));
  for (uint32_t k = 1; k < ctx->n_in; k++) {
    if (!iu_present(ctx, k)) continue;
    const isa_type *b = &ctx->in[k];
    if (b->dtype != x->dtype)
      return BAD("input %u: expected %s (X's dtype), got %s", k, iu_dtn(x->dtype),
                 iu_dtn(b->dtype));
    if (b->rank > 1) return BAD("input %u: expected a scalar, got rank %d", k, b->rank);
    if (b->rank == 1 && b->dims[0] >= 0 && b->dims[0] != 1)
      return BAD("input %u: expected one element, got %lld", k, (long long)b->dims[0]);
  }
  iu_set_like(&ctx->out[0], x->dtype, x);
  return NULL;
}

ivm_status isa_infer_cast(isa_infer_ctx *ctx) {
  IVM_TRY(check_counts(ctx, 1, 1, 1, 1));
  int64_t to = iu_attr_i(ctx, ISA_A_Cast_to, 0);
  if (to <= 0 || to > 255 || !isa_dtype_valid((int)to))
    return BAD("attribute to: %lld is not a supported dtype", (long long)to);
  iu_set_like(&ctx->out[0], (int)to, &ctx->in[0]);
  return NULL;
}

/* ---- normalisation --------------------------------------------------------------------- */
/* X [N, C, ...] (rank 1: C = 1), scale, B, mean, var: 1-D of C floats. */
ivm_status isa_infer_batchnorm(isa_infer_ctx *ctx) {
  IVM_TRY(check_counts(ctx, 5, 5, 1, 1));
  const isa_type *x = &ctx->in[0];
  if (!isa_dtype_is_float(x->dtype))
    return BAD("input 0: expected a float dtype, got %s", iu_dtn(x->dtype));
  if (x->rank == 0) return BAD("input 0: expected rank >= 1, got 0");
  int64_t C = x->rank < 0 ? ISA_DIM_ANY : x->rank >= 2 ? x->dims[1] : 1;
  static const char *const names[] = {"", "scale", "B", "mean", "var"};
  for (int k = 1; k < 5; k++) {
    const isa_type *p = &ctx->in[k];
    if (!isa_dtype_is_float(p->dtype))
      return BAD("input %d (%s): expected a float dtype, got %s", k, names[k], iu_dtn(p->dtype));
    if (p->rank >= 0 && p->rank != 1)
      return BAD("input %d (%s): expected rank 1, got %d", k, names[k], p->rank);
    if (p->rank == 1 && C >= 0 && p->dims[0] >= 0 && p->dims[0] != C)
      return BAD("input %d (%s): expected %lld channels, got %lld", k, names[k], (long long)C,
                 (long long)p->dims[0]);
  }
  iu_set_like(&ctx->out[0], x->dtype, x);
  return NULL;
}

/* X, Scale, B? -> Y, Mean?, InvStdDev?. Scale and B broadcast (unidirectionally) to
 * X.shape[axis:]; Mean / InvStdDev have X's shape with dims from axis on set to 1, in
 * dtype stash_type. */
ivm_status isa_infer_layernorm(isa_infer_ctx *ctx) {
  IVM_TRY(check_counts(ctx, 2, 3, 1, 3));
  const isa_type *x = &ctx->in[0];
  if (!isa_dtype_is_float(x->dtype))
    return BAD("input 0: expected a float dtype, got %s", iu_dtn(x->dtype));
  int64_t stash = iu_attr_i(ctx, ISA_A_LayerNormalization_stash_type, 1);
  if (stash != IVM_DT_F32 && stash != IVM_DT_F64)
    return BAD("attribute stash_type: expected 1 (f32) or 11 (f64), got %lld", (long long)stash);
  int64_t axis = iu_attr_i(ctx, ISA_A_LayerNormalization_axis, -1);
  int r = x->rank;
  if (r == 0) return BAD("input 0: expected rank >= 1, got 0");
  if (r > 0) {
    if (axis < -r || axis >= r) return BAD("attribute axis: %lld out of range for rank %d", (long long)axis, r);
    if (axis < 0) axis += r;
  }
  for (uint32_t k = 1; k < ctx->n_in; k++) {
    if (!iu_present(ctx, k)) continue;
    const isa_type *p = &ctx->in[k];
    const char *nm = k == 1 ? "Scale" : "B";
    if (p->dtype != x->dtype)
      return BAD("input %u (%s): expected %s (X's dtype), got %s", k, nm, iu_dtn(x->dtype),
                 iu_dtn(p->dtype));
    if (r < 0 || p->rank < 0) continue;
    int nr = r - (int)axis;
    if (p->rank > nr)
      return BAD("input %u (%s): rank %d exceeds the %d normalised axes", k, nm, p->rank, nr);
    for (int i = 0; i < p->rank; i++) {
      int64_t d = p->dims[i], want = x->dims[axis + nr - p->rank + i];
      if (d >= 0 && want >= 0 && d != want && d != 1)
        return BAD("input %u (%s): dim %d is %lld, expected %lld", k, nm, i, (long long)d,
                   (long long)want);
    }
  }
  iu_set_like(&ctx->out[0], x->dtype, x);
  for (uint32_t k = 1; k < ctx->n_out; k++) {
    iu_set_like(&ctx->out[k], (int)stash, x);
    for (int i = (int)axis; r > 0 && i < r; i++) ctx->out[k].dims[i] = 1;
  }
  return NULL;
}

/* ---- reductions ------------------------------------------------------------------------ */
/* X, axes? (1-D i64). Empty or absent axes: all axes, or Y = X with noop_with_empty_axes. */
ivm_status isa_infer_reduce(isa_infer_ctx *ctx) {
  IVM_TRY(check_counts(ctx, 1, 2, 1, 1));
  const isa_type *x = &ctx->in[0];
  if (!iu_is_numeric(x->dtype) && x->dtype != IVM_DT_BOOL)
    return BAD("input 0: expected a numeric dtype, got %s", iu_dtn(x->dtype));
  /* The four reduce ops share the attribute layout. */
  int keep = iu_attr_i(ctx, ISA_A_ReduceSum_keepdims, 1) != 0;
  int noop = iu_attr_i(ctx, ISA_A_ReduceSum_noop_with_empty_axes, 0) != 0;
  int r = x->rank;
  isa_type *out = &ctx->out[0];
  int64_t n_axes = 0; /* -1: unknown count */
  const int64_t *axes = NULL;
  if (iu_present(ctx, 1)) {
    const isa_type *a = &ctx->in[1];
    if (a->dtype != IVM_DT_I64)
      return BAD("input 1 (axes): expected i64, got %s", iu_dtn(a->dtype));
    if (a->rank > 1) return BAD("input 1 (axes): expected rank 1, got %d", a->rank);
    n_axes = iu_known_numel(a);
    if (n_axes > 0) axes = ctx->in_data ? ctx->in_data[1] : NULL;
    if (n_axes > 0 && !axes) n_axes = -1 - n_axes; /* count known, values not: -1 - count */
  }
  if (n_axes == 0 && noop) {
    iu_set_like(out, x->dtype, x);
    return NULL;
  }
  if (r < 0) {
    iu_set_unknown_rank(out, x->dtype);
    return NULL;
  }
  uint8_t mask[ISA_MAX_RANK] = {0};
  if (n_axes == 0) {
    for (int i = 0; i < r; i++) mask[i] = 1;
  } else if (axes) {
    if (n_axes > r) return BAD("input 1 (axes): %lld axes for rank %d", (long long)n_axes, r);
    for (int64_t k = 0; k < n_axes; k++) {
      int64_t v = axes[k];
      if (v < -r || v >= r) return BAD("input 1 (axes): axis %lld out of range for rank %d", (long long)v, r);
      if (v < 0) v += r;
      if (mask[v]) return BAD("input 1 (axes): axis %lld repeated", (long long)axes[k]);
      mask[v] = 1;
    }
  } else {
    /* Axes unknown: with keepdims every dim may become 1; without, the rank drops by the
     * number of axes if that is known (and noop can't apply because the count is > 0). */
    memset(out, 0, sizeof *out);
    out->dtype = x->dtype;
    int64_t cnt = n_axes < -1 ? -1 - n_axes : -1;
    if (cnt > r) return BAD("input 1 (axes): %lld axes for rank %d", (long long)cnt, r);
    if (keep) {
      out->rank = (int8_t)r;
      for (int i = 0; i < r; i++) out->dims[i] = x->dims[i] == 1 ? 1 : ISA_DIM_ANY;
    } else if (cnt >= 0) {
      out->rank = (int8_t)(r - cnt);
      for (int i = 0; i < out->rank; i++) out->dims[i] = ISA_DIM_ANY;
    } else {
      out->rank = -1;
    }
    return NULL;
  }
  memset(out, 0, sizeof *out);
  out->dtype = x->dtype;
  int j = 0;
  for (int i = 0; i < r; i++) {
    if (!mask[i]) out->dims[j++] = x->dims[i];
    else if (keep) out->dims[j++] = 1;
  }
  out->rank = (int8_t)j;
  return NULL;
}
