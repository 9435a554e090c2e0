/* Helpers shared by the inference files isa/infer_*.c; see isa/infer_util.h. */
#include "isa/infer_util.h"

#include <stdint.h>
#include <string.h>

#define ERR(...) ivm_error(IVM_ERR_INVALID_ARGUMENT, __VA_ARGS__)

void iu_set_out(isa_type *o, int dtype, int rank) {
  memset(o, 0, sizeof *o);
  o->dtype = (uint8_t)dtype;
  o->rank = (int8_t)rank;
  for (int k = 0; k < ISA_MAX_RANK; k++) o->dims[k] = ISA_DIM_ANY;
}

ivm_status iu_check_inputs(const isa_infer_ctx *ctx, uint32_t min_in) {
  for (uint32_t i = 0; i < ctx->n_in; i++) {
    const isa_type *t = &ctx->in[i];
    if (t->dtype == IVM_DT_NONE) {
      if (i < min_in) return ERR("input %u: required input is absent", i);
      continue;
    }
    if (!isa_dtype_valid(t->dtype)) return ERR("input %u: invalid dtype %d", i, t->dtype);
    if (t->rank < -1 || t->rank > ISA_MAX_RANK)
      return ERR("input %u: invalid rank %d", i, t->rank);
  }
  return NULL;
}

ivm_status iu_check_io(const isa_infer_ctx *ctx, uint32_t min_in, uint32_t max_in,
                       uint32_t min_out, uint32_t max_out) {
  if (ctx->n_in < min_in || ctx->n_in > max_in)
    return ERR("expected %u to %u inputs, got %u", min_in, max_in, ctx->n_in);
  if (ctx->n_out < min_out || ctx->n_out > max_out)
    return ERR("expected %u to %u outputs, got %u", min_out, max_out, ctx->n_out);
  return iu_check_inputs(ctx, min_in);
}

ivm_status iu_expect_index_dtype(const isa_infer_ctx *ctx, uint32_t i) {
  int dt = ctx->in[i].dtype;
  if (dt != IVM_DT_I32 && dt != IVM_DT_I64)
    return ERR("input %u: expected i32 or i64, got %s", i, iu_dtn(dt));
  return NULL;
}

int64_t iu_int_at(int dt, const void *data, int64_t k) {
  const unsigned char *p = data;
  if (dt == IVM_DT_I64) {
    int64_t v;
    memcpy(&v, p + 8 * k, 8);
    return v;
  }
  if (dt == IVM_DT_I32) {
    int32_t v;
    memcpy(&v, p + 4 * k, 4);
    return v;
  }
  int16_t v;
  memcpy(&v, p + 2 * k, 2);
  return v;
}

ivm_status iu_ints_attr(const isa_attr *a, const char *name, int want, int64_t def,
                        int64_t min, int64_t max, int64_t *out) {
  if (!a || a->type != ISA_ATTR_INTS || a->count == 0) {
    for (int i = 0; i < want; i++) out[i] = def;
    return NULL;
  }
  if ((int64_t)a->count != want)
    return ERR("%s: expected %d values, got %u", name, want, a->count);
  for (int i = 0; i < want; i++) {
    int64_t v = a->v.ints[i];
    if (v < min || v > max) return ERR("%s[%d] = %lld out of range", name, i, (long long)v);
    out[i] = v;
  }
  return NULL;
}

int iu_merge_dim(int64_t a, int64_t b, int64_t *out) {
  if (a >= 0 && b >= 0) {
    if (a != b) return 0;
    *out = a;
  } else if (a >= 0) {
    *out = a;
  } else if (b >= 0) {
    *out = b;
  } else {
    *out = a == b ? a : ISA_DIM_ANY;
  }
  return 1;
}

ivm_status iu_broadcast(const isa_type *const *ts, int n, isa_type *out) {
  int R = 0;
  for (int k = 0; k < n; k++) {
    if (ts[k]->rank < 0) {
      out->rank = -1;
      return NULL;
    }
    if (ts[k]->rank > R) R = ts[k]->rank;
  }
  out->rank = (int8_t)R;
  for (int i = 0; i < R; i++) {
    int64_t d = 1;
    int first = 1;
    for (int k = 0; k < n; k++) {
      int j = i - (R - ts[k]->rank);
      if (j < 0) continue;
      int64_t e = ts[k]->dims[j];
      if (first) {
        d = e;
        first = 0;
      } else if (e == d || e == 1) {
        /* keep d */
      } else if (d == 1) {
        d = e;
      } else if (d >= 0 && e >= 0) {
        return ERR("cannot broadcast dim %lld with %lld (output axis %d)", (long long)d,
                   (long long)e, i);
      } else if (d < 0 && e >= 0) {
        d = e;
      } else if (d < 0 && e < 0) {
        d = ISA_DIM_ANY;
      } /* d known, e unknown: keep d */
    }
    out->dims[i] = d;
  }
  return NULL;
}
