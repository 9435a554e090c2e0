/* Ops that create data: ConstantOfShape and Range. */
#include <string.h>

#include "runtime/kernels/shape_util.h"

ivm_status rt_k_ConstantOfShape(const rt_call *call) {
  rt_tensor *y = call->out[0];
  const rt_tensor *v = call->n_in > 1 ? call->in[1] : NULL;
  static const uint64_t zero = 0; /* 0 in every dtype, f32 0.0 by default */
  size_t es = shp_es(y);
  if (v && (v->dtype != y->dtype || rt_numel(v) != 1))
    return ivm_error(IVM_ERR_RUNTIME, "ConstantOfShape: value is not one %s",
                     ivm_dtype_name((ivm_dtype)y->dtype));
  if (es == 0 || es > sizeof zero) return ivm_error(IVM_ERR_RUNTIME, "ConstantOfShape: bad dtype");
  shp_fill(y->data, v ? v->data : &zero, rt_numel(y), es);
  return NULL;
}

/* Integers wrap (computed in uint64) instead of overflowing, which would be UB. */
#define RANGE_INT_(T)                                                               \
  {                                                                                 \
    T s, d, *o = y->data;                                                           \
    memcpy(&s, call->in[0]->data, sizeof s);                                        \
    memcpy(&d, call->in[2]->data, sizeof d);                                        \
    for (int64_t i = 0; i < n; i++)                                                 \
      o[i] = (T)(int64_t)((uint64_t)(int64_t)s + (uint64_t)i * (uint64_t)(int64_t)d); \
  }                                                                                 \
  break;

ivm_status rt_k_Range(const rt_call *call) {
  rt_tensor *y = call->out[0];
  int64_t n = rt_numel(y);
  for (int i = 0; i < 3; i++)
    if (!call->in[i] || call->in[i]->dtype != y->dtype || rt_numel(call->in[i]) != 1)
      return ivm_error(IVM_ERR_RUNTIME, "Range: input %d is not a scalar of the output dtype", i);
  switch (y->dtype) {
    case IVM_DT_F32: {
      float s, d, *o = y->data;
      memcpy(&s, call->in[0]->data, sizeof s);
      memcpy(&d, call->in[2]->data, sizeof d);
      for (int64_t i = 0; i < n; i++) o[i] = (float)((double)s + (double)i * (double)d);
      break;
    }
    case IVM_DT_F64: {
      double s, d, *o = y->data;
      memcpy(&s, call->in[0]->data, sizeof s);
      memcpy(&d, call->in[2]->data, sizeof d);
      for (int64_t i = 0; i < n; i++) o[i] = s + (double)i * d;
      break;
    }
    case IVM_DT_I16: RANGE_INT_(int16_t)
    case IVM_DT_I32: RANGE_INT_(int32_t)
    case IVM_DT_I64: RANGE_INT_(int64_t)
    default:
      return ivm_error(IVM_ERR_RUNTIME, "Range: unsupported dtype %s",
                       ivm_dtype_name((ivm_dtype)y->dtype));
  }
  return NULL;
}
