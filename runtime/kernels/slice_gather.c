/* Slice (strided window) and Gather (index lookup along one axis). */
#include <string.h>

#include "runtime/kernels/shape_util.h"

/* ONNX Slice clamping for one axis of size d (the same rule as isa_infer_slice): the
 * first index read and the element count. */
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
    ustep = (uint64_t)(-(step + 1)) + 1;
  }
  *first = start;
  *count = dist ? (int64_t)((dist - 1) / ustep + 1) : 0;
}

ivm_status rt_k_Slice(const rt_call *call) {
  const rt_tensor *x = call->in[0];
  rt_tensor *y = call->out[0];
  const rt_tensor *starts = call->in[1], *ends = call->in[2];
  const rt_tensor *axes = call->n_in > 3 ? call->in[3] : NULL;
  const rt_tensor *steps = call->n_in > 4 ? call->in[4] : NULL;
  int r = x->rank;
  if (r < 1 || y->rank != r || y->dtype != x->dtype || !starts || !ends)
    return ivm_error(IVM_ERR_RUNTIME, "Slice: output does not match the input");
  int64_t n = rt_numel(starts);
  if (rt_numel(ends) != n || (axes && rt_numel(axes) != n) || (steps && rt_numel(steps) != n) ||
      n > r)
    return ivm_error(IVM_ERR_RUNTIME, "Slice: starts, ends, axes, steps lengths differ");
  /* Per axis: first index and step; untouched axes read everything with step 1. */
  int64_t first[ISA_MAX_RANK], step[ISA_MAX_RANK];
  for (int k = 0; k < r; k++) {
    first[k] = 0;
    step[k] = 1;
    if (y->dims[k] != x->dims[k]) step[k] = 0; /* marks "must be sliced" */
  }
  uint8_t seen[ISA_MAX_RANK] = {0};
  for (int64_t i = 0; i < n; i++) {
    int a = axes ? shp_axis(shp_index_at(axes, i), r) : (int)i;
    if (a < 0 || seen[a]) return ivm_error(IVM_ERR_RUNTIME, "Slice: bad axes");
    seen[a] = 1;
    int64_t st = steps ? shp_index_at(steps, i) : 1, cnt;
    if (st == 0) return ivm_error(IVM_ERR_RUNTIME, "Slice: step is 0");
    slice_axis(x->dims[a], shp_index_at(starts, i), shp_index_at(ends, i), st, &first[a], &cnt);
    if (cnt != y->dims[a])
      return ivm_error(IVM_ERR_RUNTIME, "Slice: output dim %d is %lld, expected %lld", a,
                       (long long)y->dims[a], (long long)cnt);
    step[a] = st;
  }
  for (int k = 0; k < r; k++)
    if (!step[k]) return ivm_error(IVM_ERR_RUNTIME, "Slice: output dim %d does not match", k);
  if (rt_numel(y) == 0) return NULL;

  size_t es = shp_es(x);
  int64_t istr[ISA_MAX_RANK], base = 0;
  shp_strides(r, x->dims, istr);
  for (int k = 0; k < r; k++) base += first[k] * istr[k];
  const unsigned char *in = x->data;
  unsigned char *out = y->data;
  int64_t inner = y->dims[r - 1], rows = rt_numel(y) / inner, cnt[ISA_MAX_RANK] = {0};
  int64_t ioff = base, last_stride = step[r - 1] * istr[r - 1];
  for (int64_t t = 0; t < rows; t++) {
    shp_copy_strided(out + (size_t)(t * inner) * es, in + (ptrdiff_t)ioff * (ptrdiff_t)es, inner,
                     last_stride, es);
    for (int k = r - 2; k >= 0; k--) {
      ioff += step[k] * istr[k];
      if (++cnt[k] < y->dims[k]) break;
      ioff -= step[k] * istr[k] * y->dims[k];
      cnt[k] = 0;
    }
  }
  return NULL;
}

ivm_status rt_k_Gather(const rt_call *call) {
  const rt_tensor *x = call->in[0], *idx = call->in[1];
  rt_tensor *y = call->out[0];
  int r = x->rank;
  int axis = shp_axis(call->attrs[ISA_A_Gather_axis].v.i, r);
  if (axis < 0 || (idx->dtype != IVM_DT_I32 && idx->dtype != IVM_DT_I64) ||
      y->dtype != x->dtype || y->rank != r - 1 + idx->rank)
    return ivm_error(IVM_ERR_RUNTIME, "Gather: operands do not match");
  int64_t n = x->dims[axis], ni = rt_numel(idx);
  int64_t outer = rt_shape_numel(axis, x->dims);
  int64_t inner = rt_shape_numel(r - axis - 1, x->dims + axis + 1);
  if (rt_numel(y) != outer * ni * inner)
    return ivm_error(IVM_ERR_RUNTIME, "Gather: output size does not match");
  /* Check every index before moving anything. */
  for (int64_t i = 0; i < ni; i++) {
    int64_t v = shp_index_at(idx, i);
    if (v < -n || v >= n)
      return ivm_error(IVM_ERR_RUNTIME, "Gather: index %lld (position %lld) out of range [%lld, %lld)",
                       (long long)v, (long long)i, (long long)-n, (long long)n);
  }
  size_t es = shp_es(x), blk = (size_t)inner * es;
  if (blk == 0 || ni == 0) return NULL;
  const unsigned char *in = x->data;
  unsigned char *out = y->data;
  for (int64_t o = 0; o < outer; o++) {
    const unsigned char *src = in + (size_t)(o * n) * blk;
    for (int64_t i = 0; i < ni; i++) {
      int64_t v = shp_index_at(idx, i);
      if (v < 0) v += n;
      memcpy(out, src + (size_t)v * blk, blk);
      out += blk;
    }
  }
  return NULL;
}
