/* Math-family reductions (ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceProd
 * ReduceSumSquare) and Hardmax.
 *
 * A reduction drops size-1 dims and merges neighbours that are both reduced or both kept,
 * then walks the input once in memory order: each innermost run is widened to double in a
 * scratch row and folded into per-output accumulators (one accumulator for a reduced run,
 * elementwise for a kept run). Floats accumulate in double. Integer L1 / Prod / SumSquare
 * accumulate in uint64 and wrap like numpy's same-dtype result; integer L2 / LogSum /
 * LogSumExp go through double and convert back saturating. ReduceLogSumExp makes a first
 * pass for the maximum so exp never overflows. */
#include <math.h>

#include "runtime/kernels/ew.h"

enum { K_L1, K_L2, K_LOGSUM, K_LSE, K_PROD, K_SUMSQ };

typedef struct red_plan {
  int m;                      /* collapsed rank (>= 1) */
  int64_t dims[ISA_MAX_RANK]; /* collapsed dims */
  uint8_t red[ISA_MAX_RANK];  /* 1: reduced */
  int64_t kept, count, numel;
} red_plan;

/* Resolves the axes input (or all axes) into a collapsed plan; *noop when Y = X. */
static ivm_status red_make_plan(const rt_call *c, const char *op, int slot_noop,
                                red_plan *p, int *noop) {
  const rt_tensor *x = c->in[0];
  int r = x->rank;
  uint8_t mask[ISA_MAX_RANK] = {0};
  IVM_TRY(ew_reduce_axes(c, op, slot_noop, mask, noop));
  if (*noop) return NULL;
  p->count = 1;
  p->kept = 1;
  for (int i = 0; i < r; i++) {
    if (mask[i]) p->count *= x->dims[i];
    else p->kept *= x->dims[i];
  }
  p->numel = rt_numel(x);
  p->m = 0;
  for (int i = 0; i < r; i++) {
    if (x->dims[i] == 1) continue;
    if (p->m > 0 && p->red[p->m - 1] == mask[i]) {
      p->dims[p->m - 1] *= x->dims[i];
    } else {
      p->dims[p->m] = x->dims[i];
      p->red[p->m] = mask[i];
      p->m++;
    }
  }
  if (p->m == 0) p->dims[0] = 1, p->red[0] = 1, p->m = 1;
  return NULL;
}

/* Widens n elements of x starting at element i0 into dst. */
static void load_row(int dt, const void *x, int64_t i0, int64_t n, double *dst) {
  switch (dt) {
    case IVM_DT_F32: {
      const float *s = (const float *)x + i0;
      for (int64_t i = 0; i < n; i++) dst[i] = s[i];
      break;
    }
    case IVM_DT_F64: memcpy(dst, (const double *)x + i0, (size_t)n * sizeof(double)); break;
    default:
      for (int64_t i = 0; i < n; i++) dst[i] = ew_load_d(dt, x, i0 + i);
  }
}

/* Calls visit(run start element, run length, output offset) for every innermost run. */
typedef void (*run_fn)(void *ctx, int64_t i0, int64_t n, int64_t ooff, int reduced);

static void red_walk(const red_plan *p, run_fn visit, void *ctx) {
  if (p->numel == 0) return;
  int m = p->m;
  int64_t ost[ISA_MAX_RANK], s = 1;
  for (int d = m - 1; d >= 0; d--) {
    ost[d] = p->red[d] ? 0 : s;
    if (!p->red[d]) s *= p->dims[d];
  }
  int64_t inner = p->dims[m - 1], outer = p->numel / inner, idx[ISA_MAX_RANK] = {0}, off = 0;
  for (int64_t r = 0; r < outer; r++) {
    visit(ctx, r * inner, inner, off, p->red[m - 1]);
    for (int d = m - 2; d >= 0; d--) {
      off += ost[d];
      if (++idx[d] < p->dims[d]) break;
      off -= ost[d] * p->dims[d];
      idx[d] = 0;
    }
  }
}

typedef struct red_ctx {
  int kind, dt, pass; /* pass 0: LogSumExp maximum */
  const void *x;
  double *acc, *mx, *row;
  uint64_t *iacc;
} red_ctx;

static void visit_float(void *vctx, int64_t i0, int64_t n, int64_t ooff, int reduced) {
  red_ctx *c = vctx;
  double *v = c->row;
  load_row(c->dt, c->x, i0, n, v);
  if (c->kind == K_LSE && c->pass == 0) {
    double *m = c->mx + ooff;
    if (reduced) {
      double b = *m;
      for (int64_t i = 0; i < n; i++) b = (v[i] > b || v[i] != v[i]) ? v[i] : b;
      *m = b;
    } else {
      for (int64_t i = 0; i < n; i++) m[i] = (v[i] > m[i] || v[i] != v[i]) ? v[i] : m[i];
    }
    return;
  }
  double *a = c->acc + ooff;
  if (reduced) {
    double s = *a;
    switch (c->kind) {
      case K_L1: for (int64_t i = 0; i < n; i++) s += fabs(v[i]); break;
      case K_L2:
      case K_SUMSQ: for (int64_t i = 0; i < n; i++) s += v[i] * v[i]; break;
      case K_LOGSUM: for (int64_t i = 0; i < n; i++) s += v[i]; break;
      case K_LSE: {
        double mm = c->mx[ooff];
        for (int64_t i = 0; i < n; i++) s += exp(v[i] - mm);
        break;
      }
      case K_PROD: for (int64_t i = 0; i < n; i++) s *= v[i]; break;
      default: break;
    }
    *a = s;
  } else {
    switch (c->kind) {
      case K_L1: for (int64_t i = 0; i < n; i++) a[i] += fabs(v[i]); break;
      case K_L2:
      case K_SUMSQ: for (int64_t i = 0; i < n; i++) a[i] += v[i] * v[i]; break;
      case K_LOGSUM: for (int64_t i = 0; i < n; i++) a[i] += v[i]; break;
      case K_LSE: {
        const double *mm = c->mx + ooff;
        for (int64_t i = 0; i < n; i++) a[i] += exp(v[i] - mm[i]);
        break;
      }
      case K_PROD: for (int64_t i = 0; i < n; i++) a[i] *= v[i]; break;
      default: break;
    }
  }
}

/* Integer L1 / Prod / SumSquare, wrapping in uint64. */
static void visit_int(void *vctx, int64_t i0, int64_t n, int64_t ooff, int reduced) {
  red_ctx *c = vctx;
  for (int64_t i = 0; i < n; i++) {
    int64_t sv = ew_load_i64(c->dt, c->x, i0 + i);
    uint64_t u = (uint64_t)sv, v;
    if (c->kind == K_L1) v = (c->dt == IVM_DT_U64 || sv >= 0) ? u : 0u - u;
    else if (c->kind == K_SUMSQ) v = u * u;
    else v = u;
    uint64_t *a = c->iacc + ooff + (reduced ? 0 : i);
    *a = c->kind == K_PROD ? *a * v : *a + v;
  }
}

static ivm_status run_reduce(const rt_call *c, const char *op, int kind, int slot_noop) {
  IVM_TRY(ew_check_io(c, op, 1, 1));
  const rt_tensor *x = c->in[0];
  rt_tensor *y = c->out[0];
  int dt = x->dtype;
  if (y->dtype != dt) return ivm_error(IVM_ERR_INTERNAL, "%s: output dtype differs", op);
  if (!isa_dtype_is_float(dt) && !isa_dtype_is_int(dt)) return ew_bad_dtype(op, dt);
  red_plan p = {0};
  int noop;
  IVM_TRY(red_make_plan(c, op, slot_noop, &p, &noop));
  if (noop) {
    /* ONNX: with noop_with_empty_axes and no axes the input passes through unchanged */
    if (rt_numel(y) != rt_numel(x)) return ivm_error(IVM_ERR_INTERNAL, "%s: output size", op);
    if (rt_numel(x) && y->data != x->data) memmove(y->data, x->data, rt_nbytes(x));
    return NULL;
  }
  if (rt_numel(y) != p.kept)
    return ivm_error(IVM_ERR_INTERNAL, "%s: output has %lld elements, expected %lld", op,
                     (long long)rt_numel(y), (long long)p.kept);
  int int_path = isa_dtype_is_int(dt) && (kind == K_L1 || kind == K_PROD || kind == K_SUMSQ);
  int64_t inner = p.dims[p.m - 1];
  size_t need = (size_t)p.kept * 8u * 2u + (size_t)inner * 8u;
  char *buf;
  IVM_TRY(rt_scratch_get(c->scratch, need ? need : 8, (void **)&buf));
  red_ctx rc = {kind, dt, 1, x->data, (double *)buf, (double *)buf + p.kept,
                (double *)buf + 2 * p.kept, (uint64_t *)buf};
  if (int_path) {
    for (int64_t i = 0; i < p.kept; i++) rc.iacc[i] = kind == K_PROD ? 1u : 0u;
    red_walk(&p, visit_int, &rc);
    for (int64_t i = 0; i < p.kept; i++) ew_store_i64(dt, y->data, i, rc.iacc[i]);
    return NULL;
  }
  for (int64_t i = 0; i < p.kept; i++) {
    rc.acc[i] = kind == K_PROD ? 1.0 : 0.0;
    rc.mx[i] = -INFINITY;
  }
  if (kind == K_LSE) {
    rc.pass = 0;
    red_walk(&p, visit_float, &rc);
    rc.pass = 1;
    /* an infinite (or NaN) maximum is the result; exp(x - max) would give NaN */
    for (int64_t i = 0; i < p.kept; i++)
      if (!isfinite(rc.mx[i])) rc.acc[i] = NAN;
  }
  red_walk(&p, visit_float, &rc);
  for (int64_t i = 0; i < p.kept; i++) {
    double v = rc.acc[i];
    switch (kind) {
      case K_L2: v = sqrt(v); break;
      case K_LOGSUM: v = log(v); break;
      case K_LSE: v = isfinite(rc.mx[i]) ? rc.mx[i] + log(v) : rc.mx[i]; break;
      default: break;
    }
    ew_store_d(dt, y->data, i, v);
  }
  return NULL;
}

ivm_status rt_k_ReduceL1(const rt_call *c) {
  return run_reduce(c, "ReduceL1", K_L1, ISA_A_ReduceL1_noop_with_empty_axes);
}
ivm_status rt_k_ReduceL2(const rt_call *c) {
  return run_reduce(c, "ReduceL2", K_L2, ISA_A_ReduceL2_noop_with_empty_axes);
}
ivm_status rt_k_ReduceLogSum(const rt_call *c) {
  return run_reduce(c, "ReduceLogSum", K_LOGSUM, ISA_A_ReduceLogSum_noop_with_empty_axes);
}
ivm_status rt_k_ReduceLogSumExp(const rt_call *c) {
  return run_reduce(c, "ReduceLogSumExp", K_LSE, ISA_A_ReduceLogSumExp_noop_with_empty_axes);
}
ivm_status rt_k_ReduceProd(const rt_call *c) {
  return run_reduce(c, "ReduceProd", K_PROD, ISA_A_ReduceProd_noop_with_empty_axes);
}
ivm_status rt_k_ReduceSumSquare(const rt_call *c) {
  return run_reduce(c, "ReduceSumSquare", K_SUMSQ, ISA_A_ReduceSumSquare_noop_with_empty_axes);
}

/* ---- Hardmax: 1 at the first maximum along axis (a NaN counts as the maximum, like
 * numpy's argmax), 0 elsewhere -------------------------------------------------------- */
ivm_status rt_k_Hardmax(const rt_call *c) {
  IVM_TRY(ew_check_io(c, "Hardmax", 1, 1));
  const rt_tensor *x = c->in[0];
  rt_tensor *y = c->out[0];
  int dt = x->dtype, r = x->rank;
  if (y->dtype != dt || !ew_same_shape(x, y))
    return ivm_error(IVM_ERR_INTERNAL, "Hardmax: output type differs from input");
  if (!isa_dtype_is_float(dt)) return ew_bad_dtype("Hardmax", dt);
  int64_t axis = ew_attr_i(c, ISA_A_Hardmax_axis, -1);
  if (r == 0 || axis < -r || axis >= r)
    return ivm_error(IVM_ERR_INTERNAL, "Hardmax: axis %lld out of range", (long long)axis);
  if (axis < 0) axis += r;
  int64_t outer = 1, len = x->dims[axis], inner = 1;
  for (int i = 0; i < axis; i++) outer *= x->dims[i];
  for (int i = (int)axis + 1; i < r; i++) inner *= x->dims[i];
  if (rt_numel(x) == 0) return NULL;
  /* read all maxima before writing, so Y may alias X: one column at a time */
  for (int64_t o = 0; o < outer; o++)
    for (int64_t in = 0; in < inner; in++) {
      int64_t base = o * len * inner + in, best = 0;
      double bv = ew_load_d(dt, x->data, base);
      for (int64_t k = 1; k < len && bv == bv; k++) {
        double v = ew_load_d(dt, x->data, base + k * inner);
        if (v > bv || v != v) bv = v, best = k;
      }
      for (int64_t k = 0; k < len; k++) ew_store_d(dt, y->data, base + k * inner, k == best);
    }
  return NULL;
}
