/* Index family kernels that order or compare elements: TopK, ArgMax, ArgMin, Unique and
 * NonMaxSuppression. Unique and NMS run the same code as their shape inference
 * (isa/infer_index.c), so the output sizes the runtime allocated always match. */
#include <string.h>

#include "runtime/kernels/ew.h"
#include "runtime/kernels/shape_util.h"
#include "isa/infer_index.h"

static ivm_status bad(const char *op, const char *what) {
  return ivm_error(IVM_ERR_RUNTIME, "%s: %s", op, what);
}

static int is_index_dt(int dt) { return dt == IVM_DT_I32 || dt == IVM_DT_I64; }

/* n int64 slots of scratch. */
static ivm_status scratch_i64(const rt_call *call, int64_t n, int64_t **out) {
  void *p;
  IVM_TRY(rt_scratch_get(call->scratch, (size_t)(n > 0 ? n : 1) * sizeof(int64_t), &p));
  *out = p;
  return NULL;
}

/* ---- TopK ------------------------------------------------------------------------- */

typedef struct topk_ctx {
  int dt, largest;
  const void *x;
  int64_t base, stride;
} topk_ctx;

static int topk_less(const void *vc, int64_t a, int64_t b) {
  const topk_ctx *c = vc;
  int r = isa_index_elem_cmp(c->dt, c->x, c->base + a * c->stride, c->x, c->base + b * c->stride);
  return c->largest ? r > 0 : r < 0;
}

ivm_status rt_k_TopK(const rt_call *call) {
  IVM_TRY(ew_check_io(call, "TopK", 2, 1));
  const rt_tensor *x = call->in[0], *kt = call->in[1];
  rt_tensor *y = call->out[0], *yi = call->n_out > 1 ? call->out[1] : NULL;
  int r = x->rank;
  int axis = shp_axis(ew_attr_i(call, ISA_A_TopK_axis, -1), r);
  if (axis < 0 || !is_index_dt(kt->dtype) || rt_numel(kt) != 1 || y->dtype != x->dtype ||
      y->rank != r)
    return bad("TopK", "operands do not match");
  int64_t k = shp_index_at(kt, 0), n = x->dims[axis];
  if (k < 0 || k > n)
    return ivm_error(IVM_ERR_RUNTIME, "TopK: k = %lld not in [0, %lld]", (long long)k, (long long)n);
  for (int d = 0; d < r; d++)
    if (y->dims[d] != (d == axis ? k : x->dims[d]) ||
        (yi && (yi->rank != r || yi->dims[d] != y->dims[d])))
      return bad("TopK", "output shape does not match");
  if (yi && yi->dtype != IVM_DT_I64) return bad("TopK", "indices output must be i64");
  int64_t outer = rt_shape_numel(axis, x->dims), inner = rt_shape_numel(r - axis - 1, x->dims + axis + 1);
  if (!k || !outer || !inner) return NULL;
  int64_t *perm;
  IVM_TRY(scratch_i64(call, 2 * n, &perm));
  int64_t *tmp = perm + n;
  size_t es = shp_es(x);
  const unsigned char *in = x->data;
  unsigned char *out = y->data;
  int64_t *oi = yi ? yi->data : NULL;
  topk_ctx c = {x->dtype, ew_attr_i(call, ISA_A_TopK_largest, 1) != 0, x->data, 0, inner};
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      for (int64_t j = 0; j < n; j++) perm[j] = j;
      c.base = o * n * inner + i;
      isa_index_msort(perm, tmp, n, topk_less, &c);
      for (int64_t t = 0; t < k; t++) {
        int64_t dst = (o * k + t) * inner + i;
        memcpy(out + (size_t)dst * es, in + (size_t)(c.base + perm[t] * inner) * es, es);
        if (oi) oi[dst] = perm[t];
      }
    }
  return NULL;
}

/* ---- ArgMax / ArgMin ------------------------------------------------------------------ */

static ivm_status arg_reduce(const rt_call *call, const char *op, int want_max) {
  IVM_TRY(ew_check_io(call, op, 1, 1));
  const rt_tensor *x = call->in[0];
  rt_tensor *y = call->out[0];
  int r = x->rank;
  /* ArgMax and ArgMin share one attribute layout (asserted in isa/infer_index.c). */
  int axis = shp_axis(ew_attr_i(call, ISA_A_ArgMax_axis, 0), r);
  int last = ew_attr_i(call, ISA_A_ArgMax_select_last_index, 0) != 0;
  if (axis < 0 || y->dtype != IVM_DT_I64) return bad(op, "operands do not match");
  int64_t n = x->dims[axis], outer = rt_shape_numel(axis, x->dims);
  int64_t inner = rt_shape_numel(r - axis - 1, x->dims + axis + 1);
  if (rt_numel(y) != outer * inner) return bad(op, "output size does not match");
  if (n == 0 && outer * inner > 0) return bad(op, "cannot reduce an empty axis");
  int64_t *out = y->data;
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      int64_t base = o * n * inner + i, best = 0;
      for (int64_t j = 1; j < n; j++) {
        int c = isa_index_elem_cmp(x->dtype, x->data, base + j * inner, x->data, base + best * inner);
        if (!want_max) c = -c;
        if (c > 0 || (last && c == 0)) best = j;
      }
      out[o * inner + i] = best;
    }
  return NULL;
}

ivm_status rt_k_ArgMax(const rt_call *call) { return arg_reduce(call, "ArgMax", 1); }
ivm_status rt_k_ArgMin(const rt_call *call) { return arg_reduce(call, "ArgMin", 0); }

/* ---- Unique ------------------------------------------------------------------------ */

ivm_status rt_k_Unique(const rt_call *call) {
  IVM_TRY(ew_check_io(call, "Unique", 1, 1));
  const rt_tensor *x = call->in[0];
  rt_tensor *y = call->out[0];
  int r = x->rank;
  int axis = shp_axis(ew_attr_i(call, ISA_A_Unique_axis, 0), r);
  if (axis < 0 || y->dtype != x->dtype || y->rank != r) return bad("Unique", "operands do not match");
  int64_t n = x->dims[axis], outer = rt_shape_numel(axis, x->dims);
  int64_t inner = rt_shape_numel(r - axis - 1, x->dims + axis + 1);
  int64_t *w;
  IVM_TRY(scratch_i64(call, 7 * n, &w));
  int64_t *first = w + 4 * n, *inverse = w + 5 * n, *counts = w + 6 * n, u = 0;
  if (n > 0) /* empty slices (outer or inner 0) are all equal: one unique, never read */
    u = isa_index_unique(x->dtype, x->data, outer, n, inner,
                         ew_attr_i(call, ISA_A_Unique_sorted, 1) != 0, w, first, inverse, counts);
  for (int d = 0; d < r; d++)
    if (y->dims[d] != (d == axis ? u : x->dims[d])) return bad("Unique", "output shape does not match");
  const int64_t *src[4] = {NULL, first, inverse, counts};
  int64_t len[4] = {0, u, n, u};
  for (uint32_t k = 1; k < call->n_out && k < 4; k++) {
    rt_tensor *o = call->out[k];
    if (!o) continue;
    if (o->dtype != IVM_DT_I64 || o->rank != 1 || o->dims[0] != len[k])
      return bad("Unique", "index output shape does not match");
    if (len[k]) memcpy(o->data, src[k], (size_t)len[k] * sizeof(int64_t));
  }
  size_t blk = (size_t)inner * shp_es(x);
  if (!blk) return NULL;
  const unsigned char *in = x->data;
  unsigned char *out = y->data;
  for (int64_t o = 0; o < outer; o++)
    for (int64_t g = 0; g < u; g++)
      memcpy(out + (size_t)(o * u + g) * blk, in + (size_t)(o * n + first[g]) * blk, blk);
  return NULL;
}

/* ---- NonMaxSuppression ------------------------------------------------------------- */

ivm_status rt_k_NonMaxSuppression(const rt_call *call) {
  IVM_TRY(ew_check_io(call, "NonMaxSuppression", 2, 1));
  const rt_tensor *bx = call->in[0], *sc = call->in[1];
  const rt_tensor *mo = call->n_in > 2 ? call->in[2] : NULL;
  const rt_tensor *it = call->n_in > 3 ? call->in[3] : NULL;
  const rt_tensor *st = call->n_in > 4 ? call->in[4] : NULL;
  rt_tensor *y = call->out[0];
  if (bx->dtype != IVM_DT_F32 || sc->dtype != IVM_DT_F32 || bx->rank != 3 || sc->rank != 3 ||
      bx->dims[2] != 4 || bx->dims[0] != sc->dims[0] || bx->dims[1] != sc->dims[2] ||
      y->dtype != IVM_DT_I64 || y->rank != 2 || y->dims[1] != 3 ||
      (mo && (mo->dtype != IVM_DT_I64 || rt_numel(mo) != 1)) ||
      (it && (it->dtype != IVM_DT_F32 || rt_numel(it) != 1)) ||
      (st && (st->dtype != IVM_DT_F32 || rt_numel(st) != 1)))
    return bad("NonMaxSuppression", "operands do not match");
  int64_t max_out = 0;
  float iou = 0.0f, sth = 0.0f;
  if (mo) memcpy(&max_out, mo->data, 8);
  if (it) memcpy(&iou, it->data, 4);
  if (st) memcpy(&sth, st->data, 4);
  int center = ew_attr_i(call, ISA_A_NonMaxSuppression_center_point_box, 0) != 0;
  int64_t nb = bx->dims[0], ns = bx->dims[1], nc = sc->dims[1], count = 0;
  if (nb > 0 && nc > 0 && ns > 0 && max_out > 0) {
    int64_t *w;
    IVM_TRY(scratch_i64(call, 3 * ns, &w));
    IVM_TRY(isa_index_nms(bx->data, sc->data, nb, nc, ns, max_out, iou, st != NULL, sth, center,
                          w, y->data, y->dims[0], &count));
  }
  if (count != y->dims[0]) return bad("NonMaxSuppression", "output row count does not match");
  return NULL;
}
