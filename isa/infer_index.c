/* Shape and type inference for the index op family (isa/ops_index.def), plus the
 * value-level algorithms that both inference and the kernels need (Unique, NMS, a stable
 * sort and an element comparison): ops whose output shape depends on input values compute
 * that shape here when the values are known, and the kernels in runtime/kernels/index*.c
 * run the very same code, so the sizes always agree.
 *
 * Every input is untrusted: counts, dtypes, ranks and attribute values are checked here and
 * the kernels rely on what this file accepted. Index values are checked by the kernels
 * (IVM_ERR_RUNTIME). Unknown values give ISA_DIM_ANY dims (or rank -1). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "isa/op.h"
#include "isa/infer_index.h"
#include "isa/infer_util.h"

#define ERR(...) ivm_error(IVM_ERR_INVALID_ARGUMENT, __VA_ARGS__)

/* Upper bound on an output's element count, so that byte sizes (x 8) never overflow. */
#define MAX_NUMEL (INT64_MAX / 16)

/* ---- helpers ---------------------------------------------------------------------- */

static const void *value_of(const isa_infer_ctx *ctx, uint32_t i) {
  return iu_present(ctx, i) && ctx->in_data ? ctx->in_data[i] : NULL;
}

/* Input i holds one element: rank 0, or rank 1 of size 1. */
static ivm_status expect_scalar(const isa_infer_ctx *ctx, uint32_t i) {
  const isa_type *t = &ctx->in[i];
  if (t->rank > 1) return ERR("input %u: expected a scalar, got rank %d", i, t->rank);
  if (t->rank == 1 && t->dims[0] >= 0 && t->dims[0] != 1)
    return ERR("input %u: expected one element, got %lld", i, (long long)t->dims[0]);
  return NULL;
}

/* The single element's value is readable: data present and the shape fully known. */
static const void *scalar_value(const isa_infer_ctx *ctx, uint32_t i) {
  const isa_type *t = &ctx->in[i];
  if (t->rank < 0 || (t->rank == 1 && t->dims[0] != 1)) return NULL;
  return value_of(ctx, i);
}

/* Number of elements if every dim is known, else -1. */
static int64_t known_numel(const isa_type *t) {
  if (t->rank < 0) return -1;
  int64_t n = 1;
  for (int i = 0; i < t->rank; i++) {
    if (t->dims[i] < 0) return -1;
    if (t->dims[i] != 0 && n > MAX_NUMEL / t->dims[i]) return -1;
    n *= t->dims[i];
  }
  return n;
}

/* Element k of any numeric or bool tensor as a double. */
static double num_at(int dt, const void *data, int64_t k) {
  const unsigned char *p = data;
  switch (dt) {
    case IVM_DT_F32: { float v; memcpy(&v, p + 4 * k, 4); return v; }
    case IVM_DT_F64: { double v; memcpy(&v, p + 8 * k, 8); return v; }
    case IVM_DT_F16: { uint16_t v; memcpy(&v, p + 2 * k, 2); return isa_f16_to_f32(v); }
    case IVM_DT_BF16: { uint16_t v; memcpy(&v, p + 2 * k, 2); return isa_bf16_to_f32(v); }
    case IVM_DT_U8: return p[k];
    case IVM_DT_BOOL: return p[k] != 0;
    case IVM_DT_I8: return (int8_t)p[k];
    case IVM_DT_U16: { uint16_t v; memcpy(&v, p + 2 * k, 2); return v; }
    case IVM_DT_I16: { int16_t v; memcpy(&v, p + 2 * k, 2); return v; }
    case IVM_DT_U32: { uint32_t v; memcpy(&v, p + 4 * k, 4); return v; }
    case IVM_DT_I32: { int32_t v; memcpy(&v, p + 4 * k, 4); return v; }
    case IVM_DT_U64: { uint64_t v; memcpy(&v, p + 8 * k, 8); return (double)v; }
    case IVM_DT_I64: { int64_t v; memcpy(&v, p + 8 * k, 8); return (double)v; }
    default: return 0.0;
  }
}

/* Normalises axis into [0, r). */
static ivm_status norm_axis(int64_t axis, int r, const char *what, int *out) {
  if (axis < -(int64_t)r || axis >= r)
    return ERR("%s %lld out of range for rank %d", what, (long long)axis, r);
  *out = (int)(axis < 0 ? axis + r : axis);
  return NULL;
}

static ivm_status check_out_numel(const isa_type *o) {
  if (o->rank < 0) return NULL;
  int64_t n = 1;
  for (int k = 0; k < o->rank; k++) {
    if (o->dims[k] == 0) return NULL;
  }
  for (int k = 0; k < o->rank; k++) {
    if (o->dims[k] < 0) continue;
    if (n > MAX_NUMEL / o->dims[k]) return ERR("output element count overflows");
    n *= o->dims[k];
  }
  return NULL;
}

/* reduction attribute of ScatterND / ScatterElements. */
static ivm_status check_reduction(const isa_attr *a) {
  static const char *const ok[] = {"none", "add", "mul", "max", "min"};
  const char *s = a->v.s ? a->v.s : "none";
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    if (!strcmp(s, ok[i])) return NULL;
  return ERR("attribute reduction: '%s' is not none, add, mul, max or min", s);
}

/* ---- shared algorithms ------------------------------------------------------------- */

/* Stable bottom-up merge sort of v[0:n] (tmp: n scratch slots). Memory-safe for any
 * comparator, consistent or not (NaN). */
void isa_index_msort(int64_t *v, int64_t *tmp, int64_t n, isa_index_less_fn less,
                     const void *ctx) {
  int64_t *src = v, *dst = tmp;
  for (int64_t w = 1; w < n; w *= 2) {
    for (int64_t lo = 0; lo < n; lo += 2 * w) {
      int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
      int64_t i = lo, j = mid, k = lo;
      while (i < mid && j < hi) dst[k++] = less(ctx, src[j], src[i]) ? src[j++] : src[i++];
      while (i < mid) dst[k++] = src[i++];
      while (j < hi) dst[k++] = src[j++];
    }
    int64_t *s = src;
    src = dst;
    dst = s;
  }
  if (src != v && n > 0) memcpy(v, src, (size_t)n * sizeof *v);
}

static int cmp_d(double a, double b) {
  if (a < b) return -1;
  if (a > b) return 1;
  if (a == b) return 0;
  return (a != a) - (b != b); /* NaN sorts after every number, NaN == NaN */
}

/* Three-way comparison of a[i] and b[j] (same dtype): -1, 0 or 1. */
int isa_index_elem_cmp(int dt, const void *a, int64_t i, const void *b, int64_t j) {
  const unsigned char *p = a, *q = b;
  switch (dt) {
    case IVM_DT_I64: {
      int64_t x, y;
      memcpy(&x, p + 8 * i, 8);
      memcpy(&y, q + 8 * j, 8);
      return (x > y) - (x < y);
    }
    case IVM_DT_U64: {
      uint64_t x, y;
      memcpy(&x, p + 8 * i, 8);
      memcpy(&y, q + 8 * j, 8);
      return (x > y) - (x < y);
    }
    case IVM_DT_F32: {
      float x, y;
      memcpy(&x, p + 4 * i, 4);
      memcpy(&y, q + 4 * j, 4);
      return cmp_d(x, y);
    }
    case IVM_DT_F64: {
      double x, y;
      memcpy(&x, p + 8 * i, 8);
      memcpy(&y, q + 8 * j, 8);
      return cmp_d(x, y);
    }
    default: return cmp_d(num_at(dt, a, i), num_at(dt, b, j));
  }
}

typedef struct slice_ctx {
  int dt;
  const void *x;
  int64_t outer, n, inner;
} slice_ctx;

static int slice_cmp(const slice_ctx *c, int64_t a, int64_t b) {
  for (int64_t o = 0; o < c->outer; o++) {
    int64_t ra = (o * c->n + a) * c->inner, rb = (o * c->n + b) * c->inner;
    for (int64_t i = 0; i < c->inner; i++) {
      int r = isa_index_elem_cmp(c->dt, c->x, ra + i, c->x, rb + i);
      if (r) return r;
    }
  }
  return 0;
}

static int slice_less(const void *ctx, int64_t a, int64_t b) {
  return slice_cmp(ctx, a, b) < 0;
}

/* Unique slices of x viewed as [outer, n, inner] along the middle axis. work: 4n slots;
 * first, inverse, counts: n slots each. Fills first[g] (position of the first occurrence of
 * output slice g), counts[g], inverse[j] (output slice of position j) and returns the
 * number of unique slices. sorted: ascending lexicographic order, else first occurrence. */
int64_t isa_index_unique(int dt, const void *x, int64_t outer, int64_t n, int64_t inner,
                         int sorted, int64_t *work, int64_t *first, int64_t *inverse,
                         int64_t *counts) {
  if (n <= 0) return 0;
  int64_t *perm = work, *tmp = work + n, *sfirst = work + 2 * n, *scount = work + 3 * n;
  slice_ctx c = {dt, x, outer, n, inner};
  for (int64_t j = 0; j < n; j++) perm[j] = j;
  isa_index_msort(perm, tmp, n, slice_less, &c);
  int64_t u = 0;
  for (int64_t s = 0; s < n; s++) {
    if (s == 0 || slice_cmp(&c, perm[s - 1], perm[s]) != 0) {
      sfirst[u] = perm[s]; /* stable sort: the lowest position of its group comes first */
      scount[u] = 0;
      u++;
    }
    scount[u - 1]++;
    inverse[perm[s]] = u - 1;
  }
  if (sorted) {
    memcpy(first, sfirst, (size_t)u * sizeof *first);
    memcpy(counts, scount, (size_t)u * sizeof *counts);
    return u;
  }
  /* First-occurrence order: rank the groups by their first position. */
  for (int64_t j = 0; j < n; j++) tmp[j] = -1;
  for (int64_t g = 0; g < u; g++) tmp[sfirst[g]] = g;
  int64_t r = 0;
  for (int64_t j = 0; j < n; j++)
    if (tmp[j] >= 0) perm[tmp[j]] = r++; /* perm: sorted group -> output rank */
  for (int64_t g = 0; g < u; g++) {
    first[perm[g]] = sfirst[g];
    counts[perm[g]] = scount[g];
  }
  for (int64_t j = 0; j < n; j++) inverse[j] = perm[inverse[j]];
  return u;
}

static float f32_at(const void *p, int64_t k) {
  float v;
  memcpy(&v, (const unsigned char *)p + 4 * k, 4);
  return v;
}

/* Corner coordinates (y_min, x_min, y_max, x_max) of box i. */
static void nms_box(const void *boxes, int64_t i, int center, float *c) {
  float a = f32_at(boxes, 4 * i), b = f32_at(boxes, 4 * i + 1);
  float d = f32_at(boxes, 4 * i + 2), e = f32_at(boxes, 4 * i + 3);
  if (center) { /* [x_center, y_center, width, height] */
    c[0] = b - e / 2.0f;
    c[2] = b + e / 2.0f;
    c[1] = a - d / 2.0f;
    c[3] = a + d / 2.0f;
  } else { /* [y1, x1, y2, x2], either corner order */
    c[0] = fminf(a, d);
    c[2] = fmaxf(a, d);
    c[1] = fminf(b, e);
    c[3] = fmaxf(b, e);
  }
}

static int nms_suppress(const void *boxes, int64_t i, int64_t j, int center, float th) {
  float p[4], q[4];
  nms_box(boxes, i, center, p);
  nms_box(boxes, j, center, q);
  float ih = fminf(p[2], q[2]) - fmaxf(p[0], q[0]);
  float iw = fminf(p[3], q[3]) - fmaxf(p[1], q[1]);
  float inter = fmaxf(ih, 0.0f) * fmaxf(iw, 0.0f);
  if (!(inter > 0.0f)) return 0;
  float a1 = (p[2] - p[0]) * (p[3] - p[1]), a2 = (q[2] - q[0]) * (q[3] - q[1]);
  float uni = a1 + a2 - inter;
  if (!(a1 > 0.0f) || !(a2 > 0.0f) || !(uni > 0.0f)) return 0;
  return inter / uni > th;
}

typedef struct score_ctx {
  const void *s;
} score_ctx;

static int score_less(const void *ctx, int64_t a, int64_t b) {
  const score_ctx *c = ctx;
  return f32_at(c->s, a) > f32_at(c->s, b); /* descending; ties keep the lower index */
}

/* Greedy NMS. boxes f32 [nb, ns, 4], scores f32 [nb, nc, ns]. work: 3*ns slots. Writes up
 * to cap rows [batch, class, box] to sel (if not NULL) and the row count to *count. */
ivm_status isa_index_nms(const void *boxes, const void *scores, int64_t nb, int64_t nc,
                         int64_t ns, int64_t max_out, float iou_th, int has_score_th,
                         float score_th, int center, int64_t *work, int64_t *sel, int64_t cap,
                         int64_t *count) {
  int64_t total = 0;
  int64_t *cand = work, *tmp = work + ns, *kept = work + 2 * ns;
  if (max_out < 0) max_out = 0;
  for (int64_t b = 0; b < nb; b++) {
    const unsigned char *bx = (const unsigned char *)boxes + (size_t)(b * ns * 4) * 4;
    for (int64_t c = 0; c < nc && max_out > 0; c++) {
      const unsigned char *sc = (const unsigned char *)scores + (size_t)((b * nc + c) * ns) * 4;
      int64_t m = 0;
      for (int64_t i = 0; i < ns; i++)
        if (!has_score_th || f32_at(sc, i) > score_th) cand[m++] = i;
      score_ctx sctx = {sc};
      isa_index_msort(cand, tmp, m, score_less, &sctx);
      int64_t nk = 0;
      for (int64_t t = 0; t < m && nk < max_out; t++) {
        int keep = 1;
        for (int64_t s = 0; s < nk && keep; s++)
          if (nms_suppress(bx, kept[s], cand[t], center, iou_th)) keep = 0;
        if (!keep) continue;
        kept[nk++] = cand[t];
        if (sel) {
          if (total >= cap)
            return ivm_error(IVM_ERR_RUNTIME, "NonMaxSuppression: more boxes than the output holds");
          sel[3 * total] = b;
          sel[3 * total + 1] = c;
          sel[3 * total + 2] = cand[t];
        }
        total++;
      }
    }
  }
  *count = total;
  return NULL;
}

/* ---- GatherElements / ScatterElements ------------------------------------------------ */

/* data, indices (and updates) of equal rank; indices dims within data's off the axis. */
static ivm_status check_elements(const isa_infer_ctx *ctx, int64_t axis_attr, int *axis) {
  const isa_type *x = &ctx->in[0], *idx = &ctx->in[1];
  IVM_TRY(iu_expect_index_dtype(ctx, 1));
  *axis = -1;
  if (x->rank == 0) return ERR("input 0: expected rank >= 1, got 0");
  if (x->rank >= 0 && idx->rank >= 0 && idx->rank != x->rank)
    return ERR("input 1: expected rank %d (the data's), got %d", x->rank, idx->rank);
  int r = x->rank >= 0 ? x->rank : idx->rank;
  if (r < 0) return NULL;
  IVM_TRY(norm_axis(axis_attr, r, "axis", axis));
  if (x->rank < 0 || idx->rank < 0) return NULL;
  for (int k = 0; k < r; k++)
    if (k != *axis && x->dims[k] >= 0 && idx->dims[k] >= 0 && idx->dims[k] > x->dims[k])
      return ERR("input 1: dim %d is %lld, larger than the data's %lld", k,
                 (long long)idx->dims[k], (long long)x->dims[k]);
  return NULL;
}

ivm_status isa_infer_index_gather_elements(isa_infer_ctx *ctx) {
  IVM_TRY(iu_check_io(ctx, 2, 2, 1, 1));
  int axis = 0;
  IVM_TRY(check_elements(ctx, iu_attr_i(ctx, ISA_A_GatherElements_axis, 0), &axis));
  iu_set_like(&ctx->out[0], ctx->in[0].dtype, &ctx->in[1]);
  return NULL;
}

ivm_status isa_infer_index_scatter_elements(isa_infer_ctx *ctx) {
  IVM_TRY(iu_check_io(ctx, 3, 3, 1, 1));
  const isa_type *x = &ctx->in[0], *idx = &ctx->in[1], *upd = &ctx->in[2];
  if (ctx->attrs) IVM_TRY(check_reduction(&ctx->attrs[ISA_A_ScatterElements_reduction]));
  if (upd->dtype != x->dtype)
    return ERR("input 2: expected %s (the data's dtype), got %s", iu_dtn(x->dtype),
               iu_dtn(upd->dtype));
  int axis = 0;
  IVM_TRY(check_elements(ctx, iu_attr_i(ctx, ISA_A_ScatterElements_axis, 0), &axis));
  if (idx->rank >= 0 && upd->rank >= 0) {
    if (idx->rank != upd->rank)
      return ERR("input 2: expected rank %d (the indices'), got %d", idx->rank, upd->rank);
    for (int k = 0; k < idx->rank; k++) {
      int64_t d;
      if (!iu_merge_dim(idx->dims[k], upd->dims[k], &d))
        return ERR("input 2: dim %d is %lld, the indices' is %lld", k, (long long)upd->dims[k],
                   (long long)idx->dims[k]);
    }
  }
  if (x->rank < 0 && upd->rank >= 0 && idx->rank >= 0 && upd->rank != idx->rank)
    return ERR("input 2: rank differs from the indices'");
  iu_set_like(&ctx->out[0], x->dtype, x);
  return NULL;
}

/* ---- GatherND / ScatterND ---------------------------------------------------------- */

ivm_status isa_infer_index_gather_nd(isa_infer_ctx *ctx) {
  IVM_TRY(iu_check_io(ctx, 2, 2, 1, 1));
  const isa_type *x = &ctx->in[0], *idx = &ctx->in[1];
  IVM_TRY(iu_expect_index_dtype(ctx, 1));
  isa_type *o = &ctx->out[0];
  iu_set_out(o, x->dtype, -1);
  int64_t b = iu_attr_i(ctx, ISA_A_GatherND_batch_dims, 0);
  if (b < 0 || b >= ISA_MAX_RANK) return ERR("attribute batch_dims: %lld is invalid", (long long)b);
  if (x->rank == 0 || idx->rank == 0) return ERR("data and indices need rank >= 1");
  if (x->rank >= 0 && b >= x->rank)
    return ERR("batch_dims %lld must be smaller than the data's rank %d", (long long)b, x->rank);
  if (idx->rank >= 0 && b >= idx->rank)
    return ERR("batch_dims %lld must be smaller than the indices' rank %d", (long long)b,
               idx->rank);
  if (x->rank < 0 || idx->rank < 0) return NULL;
  int64_t m = idx->dims[idx->rank - 1];
  if (m >= 0 && (m < 1 || m > x->rank - b))
    return ERR("indices' last dim %lld must be in [1, %lld]", (long long)m,
               (long long)(x->rank - b));
  for (int k = 0; k < b; k++) {
    int64_t d;
    if (!iu_merge_dim(x->dims[k], idx->dims[k], &d))
      return ERR("batch dim %d: data has %lld, indices %lld", k, (long long)x->dims[k],
                 (long long)idx->dims[k]);
  }
  if (m < 0) return NULL;
  int r = idx->rank - 1 + x->rank - (int)m - (int)b;
  if (r > ISA_MAX_RANK) return ERR("output rank %d exceeds %d", r, ISA_MAX_RANK);
  o->rank = (int8_t)r;
  int j = 0;
  for (int k = 0; k < idx->rank - 1; k++) {
    int64_t d = idx->dims[k];
    if (k < b) iu_merge_dim(x->dims[k], idx->dims[k], &d);
    o->dims[j++] = d;
  }
  for (int k = (int)(b + m); k < x->rank; k++) o->dims[j++] = x->dims[k];
  return check_out_numel(o);
}

ivm_status isa_infer_index_scatter_nd(isa_infer_ctx *ctx) {
  IVM_TRY(iu_check_io(ctx, 3, 3, 1, 1));
  const isa_type *x = &ctx->in[0], *idx = &ctx->in[1], *upd = &ctx->in[2];
  IVM_TRY(iu_expect_index_dtype(ctx, 1));
  if (ctx->attrs) IVM_TRY(check_reduction(&ctx->attrs[ISA_A_ScatterND_reduction]));
  if (upd->dtype != x->dtype)
    return ERR("input 2: expected %s (the data's dtype), got %s", iu_dtn(x->dtype),
               iu_dtn(upd->dtype));
  if (x->rank == 0 || idx->rank == 0) return ERR("data and indices need rank >= 1");
  iu_set_like(&ctx->out[0], x->dtype, x);
  if (x->rank < 0 || idx->rank < 0) return NULL;
  int64_t m = idx->dims[idx->rank - 1];
  if (m < 0) return NULL;
  if (m < 1 || m > x->rank)
    return ERR("indices' last dim %lld must be in [1, %d]", (long long)m, x->rank);
  if (upd->rank < 0) return NULL;
  int ur = idx->rank - 1 + x->rank - (int)m;
  if (upd->rank != ur) return ERR("input 2: expected rank %d, got %d", ur, upd->rank);
  for (int k = 0; k < ur; k++) {
    int64_t want = k < idx->rank - 1 ? idx->dims[k] : x->dims[k - (idx->rank - 1) + m], d;
    if (!iu_merge_dim(want, upd->dims[k], &d))
      return ERR("input 2: dim %d is %lld, expected %lld", k, (long long)upd->dims[k],
                 (long long)want);
  }
  return NULL;
}

/* ---- OneHot ---------------------------------------------------------------------- */

ivm_status isa_infer_index_onehot(isa_infer_ctx *ctx) {
  IVM_TRY(iu_check_io(ctx, 3, 3, 1, 1));
  const isa_type *idx = &ctx->in[0], *depth = &ctx->in[1], *vals = &ctx->in[2];
  if (!iu_is_numeric(idx->dtype))
    return ERR("input 0: expected a numeric dtype, got %s", iu_dtn(idx->dtype));
  if (!iu_is_numeric(depth->dtype))
    return ERR("input 1: expected a numeric dtype, got %s", iu_dtn(depth->dtype));
  IVM_TRY(expect_scalar(ctx, 1));
  if (vals->rank >= 0 && vals->rank != 1) return ERR("input 2: expected rank 1, got %d", vals->rank);
  if (vals->rank == 1 && vals->dims[0] >= 0 && vals->dims[0] != 2)
    return ERR("input 2: expected 2 values [off, on], got %lld", (long long)vals->dims[0]);
  isa_type *o = &ctx->out[0];
  iu_set_out(o, vals->dtype, -1);
  if (idx->rank < 0) return NULL;
  int r = idx->rank + 1;
  if (r > ISA_MAX_RANK) return ERR("output rank %d exceeds %d", r, ISA_MAX_RANK);
  int axis = 0;
  IVM_TRY(norm_axis(iu_attr_i(ctx, ISA_A_OneHot_axis, -1), r, "axis", &axis));
  int64_t d = ISA_DIM_ANY;
  const void *dv = scalar_value(ctx, 1);
  if (dv) {
    double v = num_at(depth->dtype, dv, 0);
    if (!(v >= 0.0) || v > (double)MAX_NUMEL) return ERR("depth %g is invalid", v);
    d = (int64_t)v;
  }
  o->rank = (int8_t)r;
  for (int k = 0, j = 0; k < r; k++) o->dims[k] = k == axis ? d : idx->dims[j++];
  return check_out_numel(o);
}

/* ---- TopK / ArgMax / ArgMin ------------------------------------------------------- */

ivm_status isa_infer_index_topk(isa_infer_ctx *ctx) {
  IVM_TRY(iu_check_io(ctx, 2, 2, 1, 2));
  const isa_type *x = &ctx->in[0];
  if (!iu_is_numeric(x->dtype))
    return ERR("input 0: expected a numeric dtype, got %s", iu_dtn(x->dtype));
  IVM_TRY(iu_expect_index_dtype(ctx, 1));
  IVM_TRY(expect_scalar(ctx, 1));
  isa_type *v = &ctx->out[0];
  iu_set_out(v, x->dtype, -1);
  if (ctx->n_out > 1) iu_set_out(&ctx->out[1], IVM_DT_I64, -1);
  if (x->rank == 0) return ERR("input 0: expected rank >= 1, got 0");
  int64_t k = ISA_DIM_ANY;
  const void *kv = scalar_value(ctx, 1);
  if (kv) {
    k = iu_int_at(ctx->in[1].dtype, kv, 0);
    if (k < 0) return ERR("k = %lld is negative", (long long)k);
  }
  if (x->rank < 0) return NULL;
  int axis = 0;
  IVM_TRY(norm_axis(iu_attr_i(ctx, ISA_A_TopK_axis, -1), x->rank, "axis", &axis));
  if (k >= 0 && x->dims[axis] >= 0 && k > x->dims[axis])
    return ERR("k = %lld exceeds the axis size %lld", (long long)k, (long long)x->dims[axis]);
  iu_set_like(v, x->dtype, x);
  v->dims[axis] = k;
  if (ctx->n_out > 1) iu_set_like(&ctx->out[1], IVM_DT_I64, v);
  return NULL;
}

ivm_status isa_infer_index_arg(isa_infer_ctx *ctx) {
  IVM_TRY(iu_check_io(ctx, 1, 1, 1, 1));
  const isa_type *x = &ctx->in[0];
  if (!iu_is_numeric(x->dtype) && x->dtype != IVM_DT_BOOL)
    return ERR("input 0: expected a numeric dtype, got %s", iu_dtn(x->dtype));
  isa_type *o = &ctx->out[0];
  iu_set_out(o, IVM_DT_I64, -1);
  /* ArgMax and ArgMin share one attribute layout. */
  _Static_assert((int)ISA_A_ArgMax_axis == (int)ISA_A_ArgMin_axis &&
                     (int)ISA_A_ArgMax_keepdims == (int)ISA_A_ArgMin_keepdims &&
                     (int)ISA_A_ArgMax_select_last_index == (int)ISA_A_ArgMin_select_last_index,
                 "ArgMax/ArgMin attribute slots differ");
  int64_t keep = iu_attr_i(ctx, ISA_A_ArgMax_keepdims, 1);
  if (x->rank == 0) return ERR("input 0: expected rank >= 1, got 0");
  if (x->rank < 0) return NULL;
  int axis = 0;
  IVM_TRY(norm_axis(iu_attr_i(ctx, ISA_A_ArgMax_axis, 0), x->rank, "axis", &axis));
  if (x->dims[axis] == 0) return ERR("cannot reduce an empty axis %d", axis);
  int j = 0;
  for (int k = 0; k < x->rank; k++) {
    if (k == axis) {
      if (keep) o->dims[j++] = 1;
    } else {
      o->dims[j++] = x->dims[k];
    }
  }
  o->rank = (int8_t)j;
  return NULL;
}

/* ---- CumSum / Trilu / EyeLike ------------------------------------------------------ */

ivm_status isa_infer_index_cumsum(isa_infer_ctx *ctx) {
  IVM_TRY(iu_check_io(ctx, 2, 2, 1, 1));
  const isa_type *x = &ctx->in[0];
  if (!iu_is_numeric(x->dtype))
    return ERR("input 0: expected a numeric dtype, got %s", iu_dtn(x->dtype));
  IVM_TRY(iu_expect_index_dtype(ctx, 1));
  IVM_TRY(expect_scalar(ctx, 1));
  if (x->rank == 0) return ERR("input 0: expected rank >= 1, got 0");
  const void *av = scalar_value(ctx, 1);
  if (av && x->rank > 0) {
    int axis = 0;
    IVM_TRY(norm_axis(iu_int_at(ctx->in[1].dtype, av, 0), x->rank, "axis", &axis));
  }
  iu_set_like(&ctx->out[0], x->dtype, x);
  return NULL;
}

ivm_status isa_infer_index_trilu(isa_infer_ctx *ctx) {
  IVM_TRY(iu_check_io(ctx, 1, 2, 1, 1));
  const isa_type *x = &ctx->in[0];
  if (x->rank >= 0 && x->rank < 2) return ERR("input 0: expected rank >= 2, got %d", x->rank);
  if (iu_present(ctx, 1)) {
    if (ctx->in[1].dtype != IVM_DT_I64)
      return ERR("input 1: expected i64, got %s", iu_dtn(ctx->in[1].dtype));
    IVM_TRY(expect_scalar(ctx, 1));
  }
  iu_set_like(&ctx->out[0], x->dtype, x);
  return NULL;
}

ivm_status isa_infer_index_eyelike(isa_infer_ctx *ctx) {
  IVM_TRY(iu_check_io(ctx, 1, 1, 1, 1));
  const isa_type *x = &ctx->in[0];
  int64_t dt = iu_attr_i(ctx, ISA_A_EyeLike_dtype, 0);
  if (dt == 0) dt = x->dtype;
  if (dt < 0 || dt > 255 || !isa_dtype_valid((int)dt))
    return ERR("attribute dtype: %lld is not a supported dtype", (long long)dt);
  if (x->rank >= 0 && x->rank != 2) return ERR("input 0: expected rank 2, got %d", x->rank);
  if (x->rank < 0) {
    iu_set_out(&ctx->out[0], (int)dt, 2);
    return NULL;
  }
  iu_set_like(&ctx->out[0], (int)dt, x);
  return NULL;
}

/* ---- NonZero / Compress / Unique ---------------------------------------------------- */

/* Element k is non-zero: floats ignore the sign bit (so -0.0 is zero and NaN is not);
 * other dtypes are non-zero when any byte is. */
static int nonzero_at(int dt, size_t es, const unsigned char *p, int64_t k) {
  const unsigned char *e = p + (size_t)k * es;
  if (dt == IVM_DT_F32) {
    uint32_t v;
    memcpy(&v, e, 4);
    return (v & 0x7fffffffu) != 0;
  }
  if (dt == IVM_DT_F64) {
    uint64_t v;
    memcpy(&v, e, 8);
    return (v & 0x7fffffffffffffffull) != 0;
  }
  if (dt == IVM_DT_F16 || dt == IVM_DT_BF16) {
    uint16_t v;
    memcpy(&v, e, 2);
    return (v & 0x7fffu) != 0;
  }
  for (size_t b = 0; b < es; b++)
    if (e[b]) return 1;
  return 0;
}

ivm_status isa_infer_index_nonzero(isa_infer_ctx *ctx) {
  IVM_TRY(iu_check_io(ctx, 1, 1, 1, 1));
  const isa_type *x = &ctx->in[0];
  isa_type *o = &ctx->out[0];
  iu_set_out(o, IVM_DT_I64, 2);
  if (x->rank >= 0) o->dims[0] = x->rank > 0 ? x->rank : 1; /* a scalar counts as 1-D */
  const void *xv = value_of(ctx, 0);
  int64_t n = known_numel(x);
  if (xv && n >= 0) {
    size_t es = ivm_dtype_size((ivm_dtype)x->dtype);
    int64_t c = 0;
    for (int64_t i = 0; i < n; i++) c += nonzero_at(x->dtype, es, xv, i);
    o->dims[1] = c;
  }
  return NULL;
}

ivm_status isa_infer_index_compress(isa_infer_ctx *ctx) {
  IVM_TRY(iu_check_io(ctx, 2, 2, 1, 1));
  const isa_type *x = &ctx->in[0], *cond = &ctx->in[1];
  if (cond->dtype != IVM_DT_BOOL) return ERR("input 1: expected bool, got %s", iu_dtn(cond->dtype));
  if (cond->rank >= 0 && cond->rank != 1)
    return ERR("input 1: expected rank 1, got %d", cond->rank);
  isa_type *o = &ctx->out[0];
  iu_set_out(o, x->dtype, -1);
  if (x->rank == 0) return ERR("input 0: expected rank >= 1, got 0");
  if (x->rank < 0) return NULL;
  int axis = 0;
  IVM_TRY(norm_axis(iu_attr_i(ctx, ISA_A_Compress_axis, 0), x->rank, "axis", &axis));
  iu_set_like(o, x->dtype, x);
  o->dims[axis] = ISA_DIM_ANY;
  int64_t len = cond->rank == 1 ? cond->dims[0] : ISA_DIM_ANY;
  if (len >= 0 && x->dims[axis] >= 0 && len > x->dims[axis])
    return ERR("condition has %lld entries, more than the axis size %lld", (long long)len,
               (long long)x->dims[axis]);
  const void *cv = value_of(ctx, 1);
  if (cv && len >= 0) {
    const unsigned char *c = cv;
    int64_t n = 0;
    for (int64_t i = 0; i < len; i++) n += c[i] != 0;
    o->dims[axis] = n;
  }
  return NULL;
}

ivm_status isa_infer_index_unique(isa_infer_ctx *ctx) {
  IVM_TRY(iu_check_io(ctx, 1, 1, 1, 4));
  const isa_type *x = &ctx->in[0];
  if (!iu_is_numeric(x->dtype) && x->dtype != IVM_DT_BOOL)
    return ERR("input 0: expected a numeric dtype, got %s", iu_dtn(x->dtype));
  iu_set_out(&ctx->out[0], x->dtype, -1);
  for (uint32_t k = 1; k < ctx->n_out; k++) iu_set_out(&ctx->out[k], IVM_DT_I64, 1);
  if (x->rank == 0) return ERR("input 0: expected rank >= 1, got 0");
  if (x->rank < 0) return NULL;
  int axis = 0;
  IVM_TRY(norm_axis(iu_attr_i(ctx, ISA_A_Unique_axis, 0), x->rank, "axis", &axis));
  int64_t u = ISA_DIM_ANY, n = x->dims[axis];
  const void *xv = value_of(ctx, 0);
  int64_t numel = known_numel(x);
  if (numel >= 0 && (xv || numel == 0)) {
    int64_t outer = 1, inner = 1;
    for (int k = 0; k < axis; k++) outer *= x->dims[k];
    for (int k = axis + 1; k < x->rank; k++) inner *= x->dims[k];
    if (n == 0) {
      u = 0;
    } else if (numel == 0) {
      u = 1; /* n empty slices, all equal */
    } else {
      int64_t *w = malloc((size_t)n * 7 * sizeof *w);
      if (!w) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "Unique: out of memory");
      u = isa_index_unique(x->dtype, xv, outer, n, inner,
                           iu_attr_i(ctx, ISA_A_Unique_sorted, 1) != 0, w, w + 4 * n, w + 5 * n,
                           w + 6 * n);
      free(w);
    }
  }
  iu_set_like(&ctx->out[0], x->dtype, x);
  ctx->out[0].dims[axis] = u;
  if (ctx->n_out > 1) ctx->out[1].dims[0] = u;
  if (ctx->n_out > 2) ctx->out[2].dims[0] = n;
  if (ctx->n_out > 3) ctx->out[3].dims[0] = u;
  return NULL;
}

/* ---- ReverseSequence ----------------------------------------------------------------- */

ivm_status isa_infer_index_reverse_sequence(isa_infer_ctx *ctx) {
  IVM_TRY(iu_check_io(ctx, 2, 2, 1, 1));
  const isa_type *x = &ctx->in[0], *lens = &ctx->in[1];
  IVM_TRY(iu_expect_index_dtype(ctx, 1));
  int64_t ba = iu_attr_i(ctx, ISA_A_ReverseSequence_batch_axis, 1);
  int64_t ta = iu_attr_i(ctx, ISA_A_ReverseSequence_time_axis, 0);
  if ((ba != 0 && ba != 1) || (ta != 0 && ta != 1) || ba == ta)
    return ERR("batch_axis %lld and time_axis %lld must be 0 and 1 in some order",
               (long long)ba, (long long)ta);
  if (x->rank >= 0 && x->rank < 2) return ERR("input 0: expected rank >= 2, got %d", x->rank);
  if (lens->rank >= 0 && lens->rank != 1)
    return ERR("input 1: expected rank 1, got %d", lens->rank);
  if (x->rank >= 2 && lens->rank == 1) {
    int64_t d;
    if (!iu_merge_dim(x->dims[ba], lens->dims[0], &d))
      return ERR("input 1: %lld lengths for a batch of %lld", (long long)lens->dims[0],
                 (long long)x->dims[ba]);
  }
  iu_set_like(&ctx->out[0], x->dtype, x);
  return NULL;
}

/* ---- NonMaxSuppression ---------------------------------------------------------------- */

ivm_status isa_infer_index_nms(isa_infer_ctx *ctx) {
  IVM_TRY(iu_check_io(ctx, 2, 5, 1, 1));
  const isa_type *bx = &ctx->in[0], *sc = &ctx->in[1];
  if (bx->dtype != IVM_DT_F32) return ERR("input 0: expected f32, got %s", iu_dtn(bx->dtype));
  if (sc->dtype != IVM_DT_F32) return ERR("input 1: expected f32, got %s", iu_dtn(sc->dtype));
  if (bx->rank >= 0 && bx->rank != 3) return ERR("input 0: expected rank 3, got %d", bx->rank);
  if (sc->rank >= 0 && sc->rank != 3) return ERR("input 1: expected rank 3, got %d", sc->rank);
  if (iu_present(ctx, 2)) {
    if (ctx->in[2].dtype != IVM_DT_I64)
      return ERR("input 2: expected i64, got %s", iu_dtn(ctx->in[2].dtype));
    IVM_TRY(expect_scalar(ctx, 2));
  }
  for (uint32_t k = 3; k < 5; k++) {
    if (!iu_present(ctx, k)) continue;
    if (ctx->in[k].dtype != IVM_DT_F32)
      return ERR("input %u: expected f32, got %s", k, iu_dtn(ctx->in[k].dtype));
    IVM_TRY(expect_scalar(ctx, k));
  }
  int64_t center = iu_attr_i(ctx, ISA_A_NonMaxSuppression_center_point_box, 0);
  if (center != 0 && center != 1)
    return ERR("attribute center_point_box: %lld is not 0 or 1", (long long)center);
  if (bx->rank == 3 && sc->rank == 3) {
    int64_t d;
    if (bx->dims[2] >= 0 && bx->dims[2] != 4)
      return ERR("input 0: boxes need 4 coordinates, got %lld", (long long)bx->dims[2]);
    if (!iu_merge_dim(bx->dims[0], sc->dims[0], &d))
      return ERR("boxes have %lld batches, scores %lld", (long long)bx->dims[0],
                 (long long)sc->dims[0]);
    if (!iu_merge_dim(bx->dims[1], sc->dims[2], &d))
      return ERR("boxes have %lld boxes, scores %lld", (long long)bx->dims[1],
                 (long long)sc->dims[2]);
  }
  isa_type *o = &ctx->out[0];
  iu_set_out(o, IVM_DT_I64, 2);
  o->dims[1] = 3;
  /* The row count needs every value. */
  const void *bv = value_of(ctx, 0), *sv = value_of(ctx, 1);
  if (!bv || !sv || known_numel(bx) < 0 || known_numel(sc) < 0) return NULL;
  int64_t max_out = 0;
  float iou = 0.0f, sth = 0.0f;
  int has_sth = 0;
  if (iu_present(ctx, 2)) {
    const void *v = scalar_value(ctx, 2);
    if (!v) return NULL;
    max_out = iu_int_at(IVM_DT_I64, v, 0);
  }
  if (iu_present(ctx, 3)) {
    const void *v = scalar_value(ctx, 3);
    if (!v) return NULL;
    iou = f32_at(v, 0);
  }
  if (iu_present(ctx, 4)) {
    const void *v = scalar_value(ctx, 4);
    if (!v) return NULL;
    sth = f32_at(v, 0);
    has_sth = 1;
  }
  int64_t nb = bx->dims[0], ns = bx->dims[1], nc = sc->dims[1], count = 0;
  if (nb > 0 && nc > 0 && ns > 0 && max_out > 0) {
    int64_t *w = malloc((size_t)ns * 3 * sizeof *w);
    if (!w) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "NonMaxSuppression: out of memory");
    ivm_status st = isa_index_nms(bv, sv, nb, nc, ns, max_out, iou, has_sth, sth, (int)center, w,
                                  NULL, 0, &count);
    free(w);
    IVM_TRY(st);
  }
  o->dims[0] = count;
  return NULL;
}
