/* QuantizeLinear, DequantizeLinear and DynamicQuantizeLinear. Scales and zero points are
 * indexed through isa_quant_layout (the rule inference used): per-tensor, per-axis or
 * blocked. Quantisation rounds half to even (rintf in the default rounding mode) and
 * saturates to the output type; NaN becomes 0. Arithmetic is in f32, as the ONNX reference
 * does it (x / scale, then (x - zp) * scale). */
#include <math.h>
#include <string.h>

#include "isa/infer_quant.h"
#include "runtime/kernels/ew.h"

static inline float ld_float(const void *p, int dt, int64_t i) {
  switch (dt) {
    case IVM_DT_F16: return isa_f16_to_f32(((const uint16_t *)p)[i]);
    case IVM_DT_BF16: return isa_bf16_to_f32(((const uint16_t *)p)[i]);
    default: return ((const float *)p)[i];
  }
}

static inline void st_float(void *p, int dt, int64_t i, float v) {
  switch (dt) {
    case IVM_DT_F16: ((uint16_t *)p)[i] = isa_f32_to_f16(v); break;
    case IVM_DT_BF16: ((uint16_t *)p)[i] = isa_f32_to_bf16(v); break;
    default: ((float *)p)[i] = v; break;
  }
}

static inline int32_t ld_int(const void *p, int dt, int64_t i) {
  switch (dt) {
    case IVM_DT_U8: return ((const uint8_t *)p)[i];
    case IVM_DT_I8: return ((const int8_t *)p)[i];
    case IVM_DT_U16: return ((const uint16_t *)p)[i];
    case IVM_DT_I16: return ((const int16_t *)p)[i];
    default: return ((const int32_t *)p)[i];
  }
}

static void qrange(int dt, float *lo, float *hi) {
  switch (dt) {
    case IVM_DT_I8: *lo = -128.0f; *hi = 127.0f; break;
    case IVM_DT_U16: *lo = 0.0f; *hi = 65535.0f; break;
    case IVM_DT_I16: *lo = -32768.0f; *hi = 32767.0f; break;
    default: *lo = 0.0f; *hi = 255.0f; break;
  }
}

static inline void st_q(void *p, int dt, int64_t i, float v) {
  switch (dt) {
    case IVM_DT_I8: ((int8_t *)p)[i] = (int8_t)v; break;
    case IVM_DT_U16: ((uint16_t *)p)[i] = (uint16_t)v; break;
    case IVM_DT_I16: ((int16_t *)p)[i] = (int16_t)v; break;
    default: ((uint8_t *)p)[i] = (uint8_t)v; break;
  }
}

/* rint(x / s) + zp, saturated to [lo, hi]; NaN -> 0. */
static inline float quantize1(float x, float s, float zp, float lo, float hi) {
  float q = rintf(x / s) + zp;
  if (q != q) return 0.0f;
  return q < lo ? lo : q > hi ? hi : q;
}

static ivm_status layout_of(const rt_call *call, int axis_slot, int bs_slot, isa_qlayout *l) {
  const rt_tensor *x = call->in[0], *s = call->in[1];
  const rt_tensor *z = call->n_in > 2 ? call->in[2] : NULL;
  int64_t axis = ew_attr_i(call, axis_slot, 1), bs = ew_attr_i(call, bs_slot, 0);
  IVM_TRY(isa_quant_layout(x->rank, x->dims, s->rank, s->dims, axis, bs, l));
  if (z) {
    if (rt_numel(z) != rt_numel(s)) return ivm_error(IVM_ERR_RUNTIME, "zero point shape differs from scale's");
    isa_qlayout lz;
    IVM_TRY(isa_quant_layout(x->rank, x->dims, z->rank, z->dims, axis, bs, &lz));
  }
  return NULL;
}

/* Parameter index of elements (o, i, *) and the stride along r (0 or 1). */
static inline int64_t param_base(const isa_qlayout *l, int64_t o, int64_t i, int64_t *rstep) {
  *rstep = 0;
  if (l->mode == ISA_QL_TENSOR) return 0;
  if (l->mode == ISA_QL_AXIS) return i;
  *rstep = 1;
  return (o * l->nblk + i / l->block) * l->inner;
}

ivm_status rt_k_QuantizeLinear(const rt_call *call) {
  const rt_tensor *x = call->in[0], *s = call->in[1];
  const rt_tensor *z = call->n_in > 2 ? call->in[2] : NULL;
  rt_tensor *y = call->out[0];
  isa_qlayout l;
  IVM_TRY(layout_of(call, ISA_A_QuantizeLinear_axis, ISA_A_QuantizeLinear_block_size, &l));
  if (z && z->dtype != y->dtype) return ivm_error(IVM_ERR_RUNTIME, "QuantizeLinear: zero point dtype");
  int xdt = x->dtype, sdt = s->dtype, ydt = y->dtype;
  float lo, hi;
  qrange(ydt, &lo, &hi);
  int64_t idx = 0;
  for (int64_t o = 0; o < l.outer; o++)
    for (int64_t i = 0; i < l.n; i++) {
      int64_t step, p = param_base(&l, o, i, &step);
      if (step == 0) {
        float sc = ld_float(s->data, sdt, p), zp = z ? (float)ld_int(z->data, z->dtype, p) : 0.0f;
        if (xdt == IVM_DT_F32 && ydt == IVM_DT_U8) {
          const float *xs = (const float *)x->data + idx;
          uint8_t *ys = (uint8_t *)y->data + idx;
          for (int64_t r = 0; r < l.inner; r++) ys[r] = (uint8_t)quantize1(xs[r], sc, zp, lo, hi);
        } else if (xdt == IVM_DT_F32 && ydt == IVM_DT_I8) {
          const float *xs = (const float *)x->data + idx;
          int8_t *ys = (int8_t *)y->data + idx;
          for (int64_t r = 0; r < l.inner; r++) ys[r] = (int8_t)quantize1(xs[r], sc, zp, lo, hi);
        } else {
          for (int64_t r = 0; r < l.inner; r++)
            st_q(y->data, ydt, idx + r, quantize1(ld_float(x->data, xdt, idx + r), sc, zp, lo, hi));
        }
      } else {
        for (int64_t r = 0; r < l.inner; r++) {
          float sc = ld_float(s->data, sdt, p + r);
          float zp = z ? (float)ld_int(z->data, z->dtype, p + r) : 0.0f;
          st_q(y->data, ydt, idx + r, quantize1(ld_float(x->data, xdt, idx + r), sc, zp, lo, hi));
        }
      }
      idx += l.inner;
    }
  return NULL;
}

ivm_status rt_k_DequantizeLinear(const rt_call *call) {
  const rt_tensor *x = call->in[0], *s = call->in[1];
  const rt_tensor *z = call->n_in > 2 ? call->in[2] : NULL;
  rt_tensor *y = call->out[0];
  isa_qlayout l;
  IVM_TRY(layout_of(call, ISA_A_DequantizeLinear_axis, ISA_A_DequantizeLinear_block_size, &l));
  if (z && z->dtype != x->dtype) return ivm_error(IVM_ERR_RUNTIME, "DequantizeLinear: zero point dtype");
  int xdt = x->dtype, sdt = s->dtype, ydt = y->dtype;
  int64_t idx = 0;
  for (int64_t o = 0; o < l.outer; o++)
    for (int64_t i = 0; i < l.n; i++) {
      int64_t step, p = param_base(&l, o, i, &step);
      if (step == 0) {
        float sc = ld_float(s->data, sdt, p), zp = z ? (float)ld_int(z->data, z->dtype, p) : 0.0f;
        if (xdt == IVM_DT_U8 && ydt == IVM_DT_F32) {
          const uint8_t *xs = (const uint8_t *)x->data + idx;
          float *ys = (float *)y->data + idx;
          for (int64_t r = 0; r < l.inner; r++) ys[r] = ((float)xs[r] - zp) * sc;
        } else if (xdt == IVM_DT_I8 && ydt == IVM_DT_F32) {
          const int8_t *xs = (const int8_t *)x->data + idx;
          float *ys = (float *)y->data + idx;
          for (int64_t r = 0; r < l.inner; r++) ys[r] = ((float)xs[r] - zp) * sc;
        } else {
          for (int64_t r = 0; r < l.inner; r++)
            st_float(y->data, ydt, idx + r, ((float)ld_int(x->data, xdt, idx + r) - zp) * sc);
        }
      } else {
        for (int64_t r = 0; r < l.inner; r++) {
          float sc = ld_float(s->data, sdt, p + r);
          float zp = z ? (float)ld_int(z->data, z->dtype, p + r) : 0.0f;
          st_float(y->data, ydt, idx + r, ((float)ld_int(x->data, xdt, idx + r) - zp) * sc);
        }
      }
      idx += l.inner;
    }
  return NULL;
}

/* scale = (max(X, 0) - min(X, 0)) / 255, zp = sat(rint(-min / scale)), Y = sat(rint(X /
 * scale) + zp), all in f32 (NaN elements are skipped for the range). An all-zero input
 * gives scale 0, zero point 0 and Y = 0. */
ivm_status rt_k_DynamicQuantizeLinear(const rt_call *call) {
  const rt_tensor *x = call->in[0];
  const float *X = x->data;
  uint8_t *Y = call->out[0]->data;
  int64_t n = rt_numel(x);
  float mn = 0.0f, mx = 0.0f;
  for (int64_t i = 0; i < n; i++) {
    float v = X[i];
    if (v < mn) mn = v;
    if (v > mx) mx = v;
  }
  if (isinf(mn) || isinf(mx))
    return ivm_error(IVM_ERR_RUNTIME, "DynamicQuantizeLinear: infinite input");
  float scale = (mx - mn) / 255.0f;
  float zp = 0.0f;
  if (scale > 0.0f) {
    zp = rintf((0.0f - mn) / scale);
    zp = zp < 0.0f ? 0.0f : zp > 255.0f ? 255.0f : zp;
    for (int64_t i = 0; i < n; i++) Y[i] = (uint8_t)quantize1(X[i], scale, zp, 0.0f, 255.0f);
  } else {
    memset(Y, 0, (size_t)n);
  }
  *(float *)call->out[1]->data = scale;
  *(uint8_t *)call->out[2]->data = (uint8_t)zp;
  return NULL;
}
