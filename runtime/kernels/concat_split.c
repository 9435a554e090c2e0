/* Concat and Split: both view the tensors as [outer, axis * inner] and move one block of
 * axis_dim * inner elements per input (output) and outer index. */
#include <string.h>

#include "runtime/kernels/shape_util.h"

ivm_status rt_k_Concat(const rt_call *call) {
  rt_tensor *y = call->out[0];
  int r = y->rank;
  int axis = shp_axis(call->attrs[ISA_A_Concat_axis].v.i, r);
  if (axis < 0) return ivm_error(IVM_ERR_RUNTIME, "Concat: axis out of range");
  size_t es = shp_es(y);
  int64_t outer = rt_shape_numel(axis, y->dims);
  int64_t inner = rt_shape_numel(r - axis - 1, y->dims + axis + 1);
  int64_t row = 0; /* output elements per outer index */
  for (uint32_t i = 0; i < call->n_in; i++) {
    const rt_tensor *x = call->in[i];
    if (!x || x->rank != r || x->dtype != y->dtype)
      return ivm_error(IVM_ERR_RUNTIME, "Concat: input %u does not match the output", i);
    row += x->dims[axis] * inner;
  }
  if (row != y->dims[axis] * inner)
    return ivm_error(IVM_ERR_RUNTIME, "Concat: input sizes do not add up to the output");
  unsigned char *out = y->data;
  size_t off = 0;
  for (uint32_t i = 0; i < call->n_in; i++) {
    const rt_tensor *x = call->in[i];
    size_t blk = (size_t)(x->dims[axis] * inner) * es;
    if (blk == 0) continue;
    const unsigned char *in = x->data;
    for (int64_t o = 0; o < outer; o++)
      memcpy(out + (size_t)o * (size_t)row * es + off, in + (size_t)o * blk, blk);
    off += blk;
  }
  return NULL;
}

/* Part j's size along the axis: split[j], or an equal share when split is absent. */
static int64_t part_size(const rt_call *call, const rt_tensor *x, int axis, uint32_t j) {
  const rt_tensor *sp = call->n_in > 1 ? call->in[1] : NULL;
  if (sp) return shp_index_at(sp, j);
  return x->dims[axis] / (int64_t)call->n_out;
}

ivm_status rt_k_Split(const rt_call *call) {
  const rt_tensor *x = call->in[0];
  const rt_tensor *sp = call->n_in > 1 ? call->in[1] : NULL;
  int r = x->rank;
  int axis = shp_axis(call->attrs[ISA_A_Split_axis].v.i, r);
  if (axis < 0 || call->n_out == 0) return ivm_error(IVM_ERR_RUNTIME, "Split: axis out of range");
  if (sp && (sp->dtype != IVM_DT_I64 || rt_numel(sp) != (int64_t)call->n_out))
    return ivm_error(IVM_ERR_RUNTIME, "Split: split must hold one i64 per output");
  size_t es = shp_es(x);
  int64_t outer = rt_shape_numel(axis, x->dims);
  int64_t inner = rt_shape_numel(r - axis - 1, x->dims + axis + 1);
  int64_t row = x->dims[axis] * inner, sum = 0;
  for (uint32_t j = 0; j < call->n_out; j++) {
    const rt_tensor *y = call->out[j];
    int64_t s = part_size(call, x, axis, j);
    if (s < 0 || s > x->dims[axis] - sum)
      return ivm_error(IVM_ERR_RUNTIME, "Split: part sizes exceed the input");
    sum += s;
    if (y && (y->rank != r || y->dtype != x->dtype || y->dims[axis] != s))
      return ivm_error(IVM_ERR_RUNTIME, "Split: output %u does not match the input", j);
  }
  if (sum != x->dims[axis])
    return ivm_error(IVM_ERR_RUNTIME, "Split: part sizes do not add up to the input");
  const unsigned char *in = x->data;
  size_t off = 0;
  for (uint32_t j = 0; j < call->n_out; j++) {
    rt_tensor *y = call->out[j];
    size_t blk = (size_t)(part_size(call, x, axis, j) * inner) * es;
    if (y && blk) {
      unsigned char *out = y->data;
      for (int64_t o = 0; o < outer; o++)
        memcpy(out + (size_t)o * blk, in + (size_t)o * (size_t)row * es + off, blk);
    }
    off += blk; /* an absent output still occupies its part of the axis */
  }
  return NULL;
}
