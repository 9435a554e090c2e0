/* Shape and type inference for the shape / data-movement ops (Reshape ... Range).
 * Every input is untrusted: counts, dtypes, ranks, attribute and input values are checked
 * here, and the kernels rely on what this file accepted. Values that are not known
 * (in_data NULL) give ISA_DIM_ANY dims, or rank -1 when even the rank is unknown. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "isa/infer_util.h"
#include "isa/op.h"

#define ERR(...) ivm_error(IVM_ERR_INVALID_ARGUMENT, __VA_ARGS__)

/* Upper bound on an output's element count, so that byte sizes (x 8) never overflow. */
#define MAX_NUMEL (INT64_MAX / 16)

/* ---- helpers ---------------------------------------------------------------------- */

static ivm_status expect_dtype(const isa_infer_ctx *ctx, uint32_t i, int dt) {
  if (ctx->in[i].dtype != dt)
    return ERR("input %u: expected %s, got %s", i, iu_dtn(dt), iu_dtn(ctx->in[i].dtype));
  return NULL;
}

/* Length of a 1-D list input (a scalar counts as a list of one); -1 if unknown. */
static ivm_status list_len(const isa_infer_ctx *ctx, uint32_t i, int64_t *n) {
  const isa_type *t = &ctx->in[i];
  if (t->rank > 1) return ERR("input %u: expected a 1-D tensor, got rank %d", i, t->rank);
  if (t->rank == 0) *n = 1;
  else if (t->rank == 1) *n = t->dims[0] >= 0 ? t->dims[0] : -1;
  else *n = -1;
  return NULL;
}

/* The list's values are readable when its data and length are both known. */
static const void *list_data(const isa_infer_ctx *ctx, uint32_t i, int64_t n) {
  return (n >= 0 && ctx->in_data) ? ctx->in_data[i] : NULL;
}

/* a * b for non-negative dims; 0 on overflow past MAX_NUMEL. */
static int mul_ok(int64_t a, int64_t b, int64_t *r) {
  if (a != 0 && b > MAX_NUMEL / a) return 0;
  *r = a * b;
  return 1;
}

/* Product of dims[from:to]; -1 when any is unknown (unless a known 0 makes it 0). */
static ivm_status dims_product(const int64_t *dims, int from, int to, int64_t *out) {
  int64_t p = 1;
  int unknown = 0;
  for (int k = from; k < to; k++) {
    if (dims[k] == 0) {
      *out = 0;
      return NULL;
    }
    if (dims[k] < 0) {
      unknown = 1;
      continue;
    }
    if (!mul_ok(p, dims[k], &p)) return ERR("element count overflows");
  }
  *out = unknown ? -1 : p;
  return NULL;
}

static ivm_status check_out_numel(const isa_type *o) {
  int64_t n = -1;
  if (o->rank < 0) return NULL;
  return dims_product(o->dims, 0, o->rank, &n);
}

/* Normalises axis into [0, r) (or [0, r] with inclusive_end). */
static ivm_status norm_axis(int64_t axis, int r, int inclusive_end, const char *what,
                            int64_t *out) {
  int64_t hi = inclusive_end ? r : r - 1;
  if (axis < -(int64_t)r || axis > hi)
    return ERR("%s %lld out of range for rank %d", what, (long long)axis, r);
  *out = axis < 0 ? axis + r : axis;
  return NULL;
}

/* ---- Reshape ---------------------------------------------------------------------- */

ivm_status isa_infer_reshape(isa_infer_ctx *ctx) {
  IVM_TRY(iu_check_io(ctx, 2, 2, 1, 1));
  const isa_type *x = &ctx->in[0];
  IVM_TRY(expect_dtype(ctx, 1, IVM_DT_I64));
  int64_t n = -1;
  IVM_TRY(list_len(ctx, 1, &n));
  if (ctx->in[1].rank == 0) return ERR("input 1: shape must be 1-D");
  if (n > ISA_MAX_RANK) return ERR("input 1: target rank %lld exceeds %d", (long long)n, ISA_MAX_RANK);
  isa_type *o = &ctx->out[0];
  int allowzero = ctx->attrs[ISA_A_Reshape_allowzero].v.i != 0;
  const void *sv = list_data(ctx, 1, n);
  iu_set_out(o, x->dtype, n < 0 ? -1 : (int)n);
  if (!sv) return NULL;

  int infer_at = -1, has_zero = 0;
  int64_t known = 1; /* product of the other output dims, -1 if some are unknown */
  for (int k = 0; k < (int)n; k++) {
    int64_t v = iu_int_at(IVM_DT_I64, sv, k);
    int64_t d;
    if (v == -1) {
      if (infer_at >= 0) return ERR("shape has more than one -1");
      infer_at = k;
      continue;
    } else if (v < -1) {
      return ERR("shape[%d] = %lld is invalid", k, (long long)v);
    } else if (v == 0 && !allowzero) {
      if (x->rank >= 0 && k >= x->rank)
        return ERR("shape[%d] = 0 copies a dim the rank-%d input lacks", k, x->rank);
      d = x->rank >= 0 ? x->dims[k] : ISA_DIM_ANY;
    } else {
      if (v == 0) has_zero = 1;
      d = v;
    }
    o->dims[k] = d;
    if (d < 0) known = -1;
    else if (known >= 0 && !mul_ok(known, d, &known)) return ERR("element count overflows");
  }
  if (allowzero && has_zero && infer_at >= 0)
    return ERR("shape has both 0 and -1 with allowzero");

  int64_t in_n = -1;
  if (x->rank >= 0) IVM_TRY(dims_product(x->dims, 0, x->rank, &in_n));
  if (infer_at >= 0) {
    if (known == 0) return ERR("cannot infer -1: the other dims have 0 elements");
    if (in_n >= 0 && known > 0) {
      if (in_n % known != 0)
        return ERR("cannot reshape %lld elements: not a multiple of %lld", (long long)in_n,
                   (long long)known);
      o->dims[infer_at] = in_n / known;
    } /* else it stays ANY */
  } else if (in_n >= 0 && known >= 0 && in_n != known) {
    return ERR("cannot reshape %lld elements into %lld", (long long)in_n, (long long)known);
  }
  return check_out_numel(o);
}

/* ---- Flatten ---------------------------------------------------------------------- */

ivm_status isa_infer_flatten(isa_infer_ctx *ctx) {
  IVM_TRY(iu_check_io(ctx, 1, 1, 1, 1));
  const isa_type *x = &ctx->in[0];
  isa_type *o = &ctx->out[0];
  int64_t axis = ctx->attrs[ISA_A_Flatten_axis].v.i;
  iu_set_out(o, x->dtype, 2);
  if (x->rank < 0) {
    if (axis == 0) o->dims[0] = 1;
    return NULL;
  }
  IVM_TRY(norm_axis(axis, x->rank, 1, "axis", &axis));
  int64_t a = 0, b = 0;
  IVM_TRY(dims_product(x->dims, 0, (int)axis, &a));
  IVM_TRY(dims_product(x->dims, (int)axis, x->rank, &b));
  o->dims[0] = a;
  o->dims[1] = b;
  /* A single unknown dim in a group is that group's dim (keeps symbols). */
  if (a < 0 && axis == 1) o->dims[0] = x->dims[0];
  if (b < 0 && x->rank - axis == 1) o->dims[1] = x->dims[x->rank - 1];
  return NULL;
}

/* ---- Squeeze / Unsqueeze ------------------------------------------------------------ */

/* Reads an axes list, normalised into [0, r); duplicates are errors. */
static ivm_status read_axes(const void *data, int dt, int64_t n, int r, uint8_t *mark) {
  memset(mark, 0, ISA_MAX_RANK);
  for (int64_t k = 0; k < n; k++) {
    int64_t a = 0;
    IVM_TRY(norm_axis(iu_int_at(dt, data, k), r, 0, "axis", &a));
    if (mark[a]) return ERR("axis %lld repeated", (long long)a);
    mark[a] = 1;
  }
  return NULL;
}

ivm_status isa_infer_squeeze(isa_infer_ctx *ctx) {
  IVM_TRY(iu_check_io(ctx, 1, 2, 1, 1));
  const isa_type *x = &ctx->in[0];
  isa_type *o = &ctx->out[0];
  iu_set_out(o, x->dtype, -1);
  if (!iu_present(ctx, 1)) {
    if (x->rank < 0) return NULL;
    int r = 0;
    for (int k = 0; k < x->rank; k++) {
      if (x->dims[k] < 0) return NULL; /* might be 1: the rank is unknown */
      if (x->dims[k] != 1) o->dims[r++] = x->dims[k];
    }
    o->rank = (int8_t)r;
    return NULL;
  }
  IVM_TRY(expect_dtype(ctx, 1, IVM_DT_I64));
  int64_t n = -1;
  IVM_TRY(list_len(ctx, 1, &n));
  if (x->rank >= 0 && n > x->rank)
    return ERR("input 1: %lld axes for a rank-%d input", (long long)n, x->rank);
  const void *av = list_data(ctx, 1, n);
  if (x->rank < 0) return NULL;
  if (!av) {
    if (n >= 0) o->rank = (int8_t)(x->rank - n);
    return NULL;
  }
  uint8_t mark[ISA_MAX_RANK];
  IVM_TRY(read_axes(av, IVM_DT_I64, n, x->rank, mark));
  int r = 0;
  for (int k = 0; k < x->rank; k++) {
    if (!mark[k]) {
      o->dims[r++] = x->dims[k];
    } else if (x->dims[k] >= 0 && x->dims[k] != 1) {
      return ERR("cannot squeeze axis %d of size %lld", k, (long long)x->dims[k]);
    }
  }
  o->rank = (int8_t)r;
  return NULL;
}

ivm_status isa_infer_unsqueeze(isa_infer_ctx *ctx) {
  IVM_TRY(iu_check_io(ctx, 2, 2, 1, 1));
  const isa_type *x = &ctx->in[0];
  isa_type *o = &ctx->out[0];
  IVM_TRY(expect_dtype(ctx, 1, IVM_DT_I64));
  int64_t n = -1;
  IVM_TRY(list_len(ctx, 1, &n));
  iu_set_out(o, x->dtype, -1);
  if (x->rank < 0 || n < 0) return NULL;
  if (x->rank + n > ISA_MAX_RANK)
    return ERR("output rank %lld exceeds %d", (long long)(x->rank + n), ISA_MAX_RANK);
  int r = (int)(x->rank + n);
  o->rank = (int8_t)r;
  const void *av = list_data(ctx, 1, n);
  if (!av) return NULL;
  uint8_t mark[ISA_MAX_RANK];
  IVM_TRY(read_axes(av, IVM_DT_I64, n, r, mark));
  for (int k = 0, j = 0; k < r; k++) o->dims[k] = mark[k] ? 1 : x->dims[j++];
  return NULL;
}

/* ---- Transpose -------------------------------------------------------------------- */

ivm_status isa_infer_transpose(isa_infer_ctx *ctx) {
  IVM_TRY(iu_check_io(ctx, 1, 1, 1, 1));
  const isa_type *x = &ctx->in[0];
  const isa_attr *perm = &ctx->attrs[ISA_A_Transpose_perm];
  isa_type *o = &ctx->out[0];
  int has_perm = perm->count > 0;
  iu_set_out(o, x->dtype, -1);
  int r = x->rank;
  if (has_perm) {
    if (perm->count > ISA_MAX_RANK) return ERR("perm has %u entries", perm->count);
    if (r >= 0 && (int)perm->count != r)
      return ERR("perm has %u entries for a rank-%d input", perm->count, r);
    r = (int)perm->count;
    uint8_t seen[ISA_MAX_RANK] = {0};
    for (int k = 0; k < r; k++) {
      int64_t p = perm->v.ints[k];
      if (p < 0 || p >= r) return ERR("perm[%d] = %lld out of range", k, (long long)p);
      if (seen[p]) return ERR("perm is not a permutation: %lld repeated", (long long)p);
      seen[p] = 1;
    }
  }
  if (r < 0) return NULL;
  o->rank = (int8_t)r;
  if (x->rank < 0) return NULL;
  for (int k = 0; k < r; k++) o->dims[k] = x->dims[has_perm ? perm->v.ints[k] : r - 1 - k];
  return NULL;
}

/* ---- Concat / Split ---------------------------------------------------------------- */

ivm_status isa_infer_concat(isa_infer_ctx *ctx) {
  IVM_TRY(iu_check_io(ctx, 1, ISA_VARIADIC, 1, 1));
  isa_type *o = &ctx->out[0];
  int dt = ctx->in[0].dtype, r = -1;
  for (uint32_t i = 0; i < ctx->n_in; i++) {
    const isa_type *t = &ctx->in[i];
    if (t->dtype == IVM_DT_NONE) return ERR("input %u: absent", i);
    if (t->dtype != dt)
      return ERR("input %u: expected %s, got %s", i, iu_dtn(dt), iu_dtn(t->dtype));
    if (t->rank < 0) continue;
    if (t->rank == 0) return ERR("input %u: cannot concatenate scalars", i);
    if (r >= 0 && t->rank != r) return ERR("input %u: rank %d, expected %d", i, t->rank, r);
    r = t->rank;
  }
  iu_set_out(o, dt, r);
  if (r < 0) return NULL;
  int64_t axis = 0;
  IVM_TRY(norm_axis(ctx->attrs[ISA_A_Concat_axis].v.i, r, 0, "axis", &axis));
  int first = 1;
  int64_t sum = 0;
  for (uint32_t i = 0; i < ctx->n_in; i++) {
    const isa_type *t = &ctx->in[i];
    if (t->rank < 0) {
      sum = -1;
      continue;
    }
    for (int k = 0; k < r; k++) {
      if (k == axis) continue;
      if (first) o->dims[k] = t->dims[k];
      else if (!iu_merge_dim(o->dims[k], t->dims[k], &o->dims[k]))
        return ERR("input %u: dim %d is %lld, expected %lld", i, k, (long long)t->dims[k],
                   (long long)o->dims[k]);
    }
    first = 0;
    if (sum >= 0) {
      if (t->dims[axis] < 0) sum = -1;
      else if ((sum += t->dims[axis]) > MAX_NUMEL) return ERR("concatenated dim overflows");
    }
  }
  o->dims[axis] = sum >= 0 ? sum : (ctx->n_in == 1 ? ctx->in[0].dims[axis] : ISA_DIM_ANY);
  return check_out_numel(o);
}

ivm_status isa_infer_split(isa_infer_ctx *ctx) {
  IVM_TRY(iu_check_io(ctx, 1, 2, 1, ISA_VARIADIC));
  const isa_type *x = &ctx->in[0];
  uint32_t n_out = ctx->n_out;
  for (uint32_t j = 0; j < n_out; j++) iu_set_out(&ctx->out[j], x->dtype, x->rank);
  int has_split = iu_present(ctx, 1);
  int64_t n = -1;
  const void *sv = NULL;
  if (has_split) {
    IVM_TRY(expect_dtype(ctx, 1, IVM_DT_I64));
    IVM_TRY(list_len(ctx, 1, &n));
    if (n >= 0 && n != (int64_t)n_out)
      return ERR("input 1: %lld split sizes for %u outputs", (long long)n, n_out);
    sv = list_data(ctx, 1, n);
    for (int64_t k = 0; sv && k < n; k++)
      if (iu_int_at(IVM_DT_I64, sv, k) < 0) return ERR("input 1: negative split size");
  }
  if (x->rank < 0) return NULL;
  if (x->rank == 0) return ERR("input 0: cannot split a scalar");
  int64_t axis = 0;
  IVM_TRY(norm_axis(ctx->attrs[ISA_A_Split_axis].v.i, x->rank, 0, "axis", &axis));
  int64_t d = x->dims[axis];
  for (uint32_t j = 0; j < n_out; j++) {
    memcpy(ctx->out[j].dims, x->dims, sizeof x->dims);
    ctx->out[j].dims[axis] = ISA_DIM_ANY;
  }
  if (has_split) {
    if (!sv) return NULL;
    int64_t sum = 0;
    for (uint32_t j = 0; j < n_out; j++) {
      int64_t s = iu_int_at(IVM_DT_I64, sv, j);
      if (s > MAX_NUMEL - sum) return ERR("input 1: split sizes overflow");
      sum += s;
      ctx->out[j].dims[axis] = s;
    }
    if (d >= 0 && sum != d)
      return ERR("split sizes sum to %lld, dim %lld is %lld", (long long)sum, (long long)axis,
                 (long long)d);
    return NULL;
  }
  if (d < 0) return NULL;
  if (d % n_out != 0)
    return ERR("dim %lld of size %lld does not split into %u equal parts", (long long)axis,
               (long long)d, n_out);
  for (uint32_t j = 0; j < n_out; j++) ctx->out[j].dims[axis] = d / n_out;
  return NULL;
}

/* ---- Slice ------------------------------------------------------------------------ */

/* ONNX Slice clamping for one axis of size d: the first index read and the count. */
static void slice_axis(int64_t d, int64_t start, int64_t end, int64_t step, int64_t *first,
                       int64_t *count) {
  if (start < 0) start += d;
  if (end < 0) end += d;
  uint64_t dist, ustep;
  if (step > 0) {
    start = start < 0 ? 0 : start > d ? d : start;
    end = end < 0 ? 0 : end > d ? d : end;
    dist = end > start ? (uint64_t)(end - start) : 0;
    ustep = (uint64_t)step;
  } else {
    start = start < 0 ? 0 : start > d - 1 ? d - 1 : start;
    end = end < -1 ? -1 : end > d - 1 ? d - 1 : end;
    dist = start > end ? (uint64_t)(start - end) : 0;
    ustep = (uint64_t)(-(step + 1)) + 1; /* -step without overflow at INT64_MIN */
  }
  *first = start;
  *count = dist ? (int64_t)((dist - 1) / ustep + 1) : 0;
}

ivm_status isa_infer_slice(isa_infer_ctx *ctx) {
  IVM_TRY(iu_check_io(ctx, 3, 5, 1, 1));
  const isa_type *x = &ctx->in[0];
  isa_type *o = &ctx->out[0];
  int64_t len[5] = {0};
  const void *vals[5] = {0};
  static const char *names[5] = {"", "starts", "ends", "axes", "steps"};
  int64_t n = -1;
  for (uint32_t i = 1; i < 5; i++) {
    if (!iu_present(ctx, i)) continue;
    IVM_TRY(iu_expect_index_dtype(ctx, i));
    IVM_TRY(list_len(ctx, i, &len[i]));
    if (len[i] >= 0) {
      if (n >= 0 && len[i] != n)
        return ERR("input %u: %s has %lld entries, expected %lld", i, names[i],
                   (long long)len[i], (long long)n);
      n = len[i];
    }
    vals[i] = list_data(ctx, i, len[i]);
  }
  if (iu_present(ctx, 4) && vals[4])
    for (int64_t k = 0; k < n; k++)
      if (iu_int_at(ctx->in[4].dtype, vals[4], k) == 0)
        return ERR("steps[%lld] is 0", (long long)k);
  if (x->rank == 0) return ERR("input 0: cannot slice a scalar");
  iu_set_out(o, x->dtype, x->rank);
  if (x->rank < 0) return NULL;
  int r = x->rank;
  if (n > r) return ERR("%lld slice axes for a rank-%d input", (long long)n, r);
  uint8_t mark[ISA_MAX_RANK] = {0};
  int axes_known = !iu_present(ctx, 3) || vals[3];
  if (iu_present(ctx, 3) && vals[3]) IVM_TRY(read_axes(vals[3], ctx->in[3].dtype, n, r, mark));
  if (!iu_present(ctx, 3) && n >= 0)
    for (int64_t k = 0; k < n; k++) mark[k] = 1;
  for (int k = 0; k < r; k++) {
    if (!axes_known || n < 0) o->dims[k] = ISA_DIM_ANY;
    else o->dims[k] = mark[k] ? ISA_DIM_ANY : x->dims[k];
  }
  if (!axes_known || n < 0 || !vals[1] || !vals[2] || (iu_present(ctx, 4) && !vals[4]))
    return NULL;
  for (int64_t k = 0; k < n; k++) {
    int64_t a = iu_present(ctx, 3) ? iu_int_at(ctx->in[3].dtype, vals[3], k) : k;
    if (a < 0) a += r;
    int64_t d = x->dims[a];
    if (d < 0) continue;
    int64_t st = iu_present(ctx, 4) ? iu_int_at(ctx->in[4].dtype, vals[4], k) : 1;
    int64_t first;
    slice_axis(d, iu_int_at(ctx->in[1].dtype, vals[1], k),
               iu_int_at(ctx->in[2].dtype, vals[2], k), st, &first, &o->dims[a]);
  }
  return NULL;
}

/* ---- Gather ----------------------------------------------------------------------- */

ivm_status isa_infer_gather(isa_infer_ctx *ctx) {
  IVM_TRY(iu_check_io(ctx, 2, 2, 1, 1));
  const isa_type *x = &ctx->in[0], *idx = &ctx->in[1];
  isa_type *o = &ctx->out[0];
  IVM_TRY(iu_expect_index_dtype(ctx, 1));
  iu_set_out(o, x->dtype, -1);
  if (x->rank == 0) return ERR("input 0: cannot gather from a scalar");
  if (x->rank < 0 || idx->rank < 0) return NULL;
  int64_t axis = 0;
  IVM_TRY(norm_axis(ctx->attrs[ISA_A_Gather_axis].v.i, x->rank, 0, "axis", &axis));
  int r = x->rank - 1 + idx->rank;
  if (r > ISA_MAX_RANK) return ERR("output rank %d exceeds %d", r, ISA_MAX_RANK);
  o->rank = (int8_t)r;
  int j = 0;
  for (int k = 0; k < axis; k++) o->dims[j++] = x->dims[k];
  for (int k = 0; k < idx->rank; k++) o->dims[j++] = idx->dims[k];
  for (int k = (int)axis + 1; k < x->rank; k++) o->dims[j++] = x->dims[k];
  /* Index values are checked by the kernel (IVM_ERR_RUNTIME), not here. */
  return check_out_numel(o);
}

/* ---- Expand / Tile ------------------------------------------------------------------ */

ivm_status isa_infer_expand(isa_infer_ctx *ctx) {
  IVM_TRY(iu_check_io(ctx, 2, 2, 1, 1));
  const isa_type *x = &ctx->in[0];
  isa_type *o = &ctx->out[0];
  IVM_TRY(expect_dtype(ctx, 1, IVM_DT_I64));
  int64_t n = -1;
  IVM_TRY(list_len(ctx, 1, &n));
  if (n > ISA_MAX_RANK) return ERR("input 1: shape of rank %lld exceeds %d", (long long)n, ISA_MAX_RANK);
  iu_set_out(o, x->dtype, -1);
  if (x->rank < 0 || n < 0) return NULL;
  int r = x->rank > n ? x->rank : (int)n;
  o->rank = (int8_t)r;
  const void *sv = list_data(ctx, 1, n);
  for (int k = 0; k < r; k++) {
    int xi = k - (r - x->rank), si = k - (r - (int)n);
    int64_t a = xi >= 0 ? x->dims[xi] : 1;
    int64_t b = ISA_DIM_ANY;
    if (si < 0) b = 1;
    else if (sv) {
      b = iu_int_at(IVM_DT_I64, sv, si);
      if (b < 0) return ERR("shape[%d] = %lld is negative", si, (long long)b);
    }
    int64_t d;
    if (a == 1) d = b;
    else if (b == 1) d = a;
    else if (a >= 0 && b >= 0) {
      if (a != b) return ERR("cannot broadcast dim %lld to %lld", (long long)a, (long long)b);
      d = a;
    } else if (a >= 0) d = a; /* b unknown: it can only be 1 or a */
    else d = b;               /* a unknown: the result is b unless b is 1 (handled) */
    o->dims[k] = d;
  }
  return check_out_numel(o);
}

ivm_status isa_infer_tile(isa_infer_ctx *ctx) {
  IVM_TRY(iu_check_io(ctx, 2, 2, 1, 1));
  const isa_type *x = &ctx->in[0];
  isa_type *o = &ctx->out[0];
  IVM_TRY(expect_dtype(ctx, 1, IVM_DT_I64));
  int64_t n = -1;
  IVM_TRY(list_len(ctx, 1, &n));
  if (x->rank >= 0 && n >= 0 && n != x->rank)
    return ERR("input 1: %lld repeats for a rank-%d input", (long long)n, x->rank);
  if (x->rank < 0 && n > ISA_MAX_RANK) return ERR("input 1: too many repeats");
  int r = x->rank >= 0 ? x->rank : (int)n;
  iu_set_out(o, x->dtype, r);
  const void *rv = list_data(ctx, 1, n);
  if (!rv) return NULL;
  for (int k = 0; k < r; k++) {
    int64_t rep = iu_int_at(IVM_DT_I64, rv, k);
    if (rep < 0) return ERR("repeats[%d] = %lld is negative", k, (long long)rep);
    int64_t d = x->rank >= 0 ? x->dims[k] : ISA_DIM_ANY;
    if (rep == 0) o->dims[k] = 0;
    else if (rep == 1) o->dims[k] = d;
    else if (d < 0) o->dims[k] = ISA_DIM_ANY;
    else if (!mul_ok(d, rep, &o->dims[k])) return ERR("tiled dim %d overflows", k);
  }
  return check_out_numel(o);
}

/* ---- Pad -------------------------------------------------------------------------- */

ivm_status isa_infer_pad(isa_infer_ctx *ctx) {
  IVM_TRY(iu_check_io(ctx, 2, 3, 1, 1));
  const isa_type *x = &ctx->in[0];
  isa_type *o = &ctx->out[0];
  const char *mode = ctx->attrs[ISA_A_Pad_mode].v.s;
  if (!mode) mode = "constant";
  int constant = strcmp(mode, "constant") == 0;
  if (!constant && strcmp(mode, "reflect") != 0 && strcmp(mode, "edge") != 0 &&
      strcmp(mode, "wrap") != 0)
    return ERR("unknown pad mode '%s'", mode);
  IVM_TRY(expect_dtype(ctx, 1, IVM_DT_I64));
  int64_t n = -1;
  IVM_TRY(list_len(ctx, 1, &n));
  if (iu_present(ctx, 2)) {
    const isa_type *cv = &ctx->in[2];
    if (cv->dtype != x->dtype)
      return ERR("input 2: constant_value is %s, input is %s", iu_dtn(cv->dtype),
                 iu_dtn(x->dtype));
    if (cv->rank > 1) return ERR("input 2: constant_value must be a scalar");
    if (cv->rank == 1 && cv->dims[0] >= 0 && cv->dims[0] != 1)
      return ERR("input 2: constant_value must have one element");
  }
  if (x->rank >= 0 && n >= 0 && n != 2 * (int64_t)x->rank)
    return ERR("input 1: %lld pads for a rank-%d input (expected %d)", (long long)n, x->rank,
               2 * x->rank);
  if (x->rank < 0 && n > 2 * ISA_MAX_RANK) return ERR("input 1: too many pads");
  int r = x->rank >= 0 ? x->rank : (n >= 0 ? (int)(n / 2) : -1);
  if (x->rank < 0 && n >= 0 && n % 2) return ERR("input 1: odd number of pads");
  iu_set_out(o, x->dtype, r);
  const void *pv = list_data(ctx, 1, n);
  if (!pv || r < 0) return NULL;
  for (int k = 0; k < r; k++) {
    int64_t b = iu_int_at(IVM_DT_I64, pv, k), e = iu_int_at(IVM_DT_I64, pv, k + r);
    if (b < -MAX_NUMEL || b > MAX_NUMEL || e < -MAX_NUMEL || e > MAX_NUMEL)
      return ERR("pads for axis %d out of range", k);
    int64_t d = x->rank >= 0 ? x->dims[k] : ISA_DIM_ANY;
    if (d < 0) {
      o->dims[k] = (b == 0 && e == 0) ? d : ISA_DIM_ANY;
      continue;
    }
    int64_t od = d + b + e;
    if (od < 0) return ERR("axis %d: pads %lld, %lld crop more than its %lld elements", k,
                           (long long)b, (long long)e, (long long)d);
    if (!constant && d == 0 && od > 0)
      return ERR("axis %d: cannot %s-pad an empty axis", k, mode);
    if (od > MAX_NUMEL) return ERR("axis %d: padded dim overflows", k);
    o->dims[k] = od;
  }
  return check_out_numel(o);
}

/* ---- Shape / Size ------------------------------------------------------------------ */

ivm_status isa_infer_shape(isa_infer_ctx *ctx) {
  IVM_TRY(iu_check_io(ctx, 1, 1, 1, 1));
  const isa_type *x = &ctx->in[0];
  isa_type *o = &ctx->out[0];
  iu_set_out(o, IVM_DT_I64, 1);
  if (x->rank < 0) return NULL;
  int64_t r = x->rank, s = ctx->attrs[ISA_A_Shape_start].v.i, e = ctx->attrs[ISA_A_Shape_end].v.i;
  if (s < 0) s += r;
  if (e < 0) e += r;
  s = s < 0 ? 0 : s > r ? r : s;
  e = e < 0 ? 0 : e > r ? r : e;
  o->dims[0] = e > s ? e - s : 0;
  return NULL;
}

ivm_status isa_infer_size(isa_infer_ctx *ctx) {
  IVM_TRY(iu_check_io(ctx, 1, 1, 1, 1));
  iu_set_out(&ctx->out[0], IVM_DT_I64, 0);
  return NULL;
}

/* ---- ConstantOfShape / Range ------------------------------------------------------- */

ivm_status isa_infer_constant_of_shape(isa_infer_ctx *ctx) {
  IVM_TRY(iu_check_io(ctx, 1, 2, 1, 1));
  IVM_TRY(expect_dtype(ctx, 0, IVM_DT_I64));
  int64_t n = -1;
  IVM_TRY(list_len(ctx, 0, &n));
  if (ctx->in[0].rank == 0) return ERR("input 0: shape must be 1-D");
  if (n > ISA_MAX_RANK) return ERR("input 0: rank %lld exceeds %d", (long long)n, ISA_MAX_RANK);
  int dt = IVM_DT_F32;
  if (iu_present(ctx, 1)) {
    const isa_type *v = &ctx->in[1];
    int64_t vn = 1;
    if (v->rank < 0) return ERR("input 1: value rank unknown");
    IVM_TRY(dims_product(v->dims, 0, v->rank, &vn));
    if (vn != 1) return ERR("input 1: value must have exactly one element");
    dt = v->dtype;
  }
  isa_type *o = &ctx->out[0];
  iu_set_out(o, dt, (int)n);
  const void *sv = list_data(ctx, 0, n);
  for (int64_t k = 0; sv && k < n; k++) {
    o->dims[k] = iu_int_at(IVM_DT_I64, sv, k);
    if (o->dims[k] < 0) return ERR("shape[%lld] = %lld is negative", (long long)k, (long long)o->dims[k]);
  }
  return check_out_numel(o);
}

/* Reads element 0 of a scalar-like input as double (floats) or int64 (integers). */
static double float_at0(int dt, const void *p) {
  if (dt == IVM_DT_F64) {
    double v;
    memcpy(&v, p, 8);
    return v;
  }
  float v;
  memcpy(&v, p, 4);
  return v;
}

ivm_status isa_infer_range(isa_infer_ctx *ctx) {
  IVM_TRY(iu_check_io(ctx, 3, 3, 1, 1));
  int dt = ctx->in[0].dtype;
  if (dt != IVM_DT_F32 && dt != IVM_DT_F64 && dt != IVM_DT_I16 && dt != IVM_DT_I32 &&
      dt != IVM_DT_I64)
    return ERR("input 0: Range needs f32, f64, i16, i32 or i64, got %s", iu_dtn(dt));
  int known = 1;
  for (uint32_t i = 0; i < 3; i++) {
    IVM_TRY(expect_dtype(ctx, i, dt));
    int64_t n = -1;
    IVM_TRY(list_len(ctx, i, &n));
    if (n >= 0 && n != 1) return ERR("input %u: expected a scalar", i);
    if (n < 0 || !ctx->in_data || !ctx->in_data[i]) known = 0;
  }
  isa_type *o = &ctx->out[0];
  iu_set_out(o, dt, 1);
  if (!known) return NULL;
  const void *const *v = ctx->in_data;
  int64_t count;
  if (dt == IVM_DT_F32 || dt == IVM_DT_F64) {
    double s = float_at0(dt, v[0]), l = float_at0(dt, v[1]), d = float_at0(dt, v[2]);
    if (d == 0) return ERR("delta is 0");
    double c = ceil((l - s) / d);
    if (c != c) return ERR("range length is not a number");
    if (c > (double)MAX_NUMEL) return ERR("range too long");
    count = c > 0 ? (int64_t)c : 0;
  } else {
    int64_t s = iu_int_at(dt, v[0], 0), l = iu_int_at(dt, v[1], 0), d = iu_int_at(dt, v[2], 0);
    if (d == 0) return ERR("delta is 0");
    uint64_t dist, ud;
    if (d > 0) {
      dist = l > s ? (uint64_t)l - (uint64_t)s : 0;
      ud = (uint64_t)d;
    } else {
      dist = s > l ? (uint64_t)s - (uint64_t)l : 0;
      ud = (uint64_t)0 - (uint64_t)d;
    }
    uint64_t c = dist / ud + (dist % ud != 0);
    if (c > (uint64_t)MAX_NUMEL) return ERR("range too long");
    count = (int64_t)c;
  }
  o->dims[0] = count;
  return NULL;
}
