/* Shape and type inference for the control op family (isa/ops_control.def). Inputs are
 * untrusted: counts, dtypes, ranks and attributes are checked; unknown values give
 * ISA_DIM_ANY dims or rank -1. The jump-target attributes are checked by the verifier's
 * structure pass (isa/verify.c), not here: inference sees one instruction at a time. */
#include <stdint.h>
#include <string.h>

#include "isa/infer_util.h"
#include "isa/op.h"

#define ERR(...) ivm_error(IVM_ERR_INVALID_ARGUMENT, __VA_ARGS__)

static ivm_status check_io(const isa_infer_ctx *ctx, uint32_t min_in, uint32_t max_in,
                           uint32_t n_out) {
  if (ctx->n_in < min_in || ctx->n_in > max_in)
    return ERR("expected %u to %u inputs, got %u", min_in, max_in, ctx->n_in);
  if (ctx->n_out != n_out) return ERR("expected %u outputs, got %u", n_out, ctx->n_out);
  return iu_check_inputs(ctx, min_in);
}

/* A 1-element value of dtype dt: any rank whose known dims are all 1. */
static ivm_status check_scalar(const isa_infer_ctx *ctx, uint32_t i, int dt, const char *what) {
  const isa_type *t = &ctx->in[i];
  if (t->dtype != dt)
    return ERR("input %u (%s): expected %s, got %s", i, what, ivm_dtype_name((ivm_dtype)dt),
               ivm_dtype_name((ivm_dtype)t->dtype));
  for (int k = 0; k < t->rank; k++)
    if (t->dims[k] >= 0 && t->dims[k] != 1)
      return ERR("input %u (%s): expected one element, dim %d is %lld", i, what, k,
                 (long long)t->dims[k]);
  return NULL;
}

ivm_status isa_infer_control_none(isa_infer_ctx *ctx) { return check_io(ctx, 0, 0, 0); }

ivm_status isa_infer_control_if(isa_infer_ctx *ctx) {
  IVM_TRY(check_io(ctx, 1, 1, 0));
  return check_scalar(ctx, 0, IVM_DT_BOOL, "cond");
}

ivm_status isa_infer_control_loop(isa_infer_ctx *ctx) {
  IVM_TRY(check_io(ctx, 0, 2, 1));
  if (iu_present(ctx, 0)) IVM_TRY(check_scalar(ctx, 0, IVM_DT_I64, "M"));
  if (iu_present(ctx, 1)) IVM_TRY(check_scalar(ctx, 1, IVM_DT_BOOL, "cond"));
  memset(&ctx->out[0], 0, sizeof ctx->out[0]);
  ctx->out[0].dtype = IVM_DT_I64;
  ctx->out[0].rank = 0;
  return NULL;
}

ivm_status isa_infer_control_scan_init(isa_infer_ctx *ctx) {
  IVM_TRY(check_io(ctx, 0, 0, 1));
  int64_t dt = ctx->attrs[0].v.i;
  if (dt <= 0 || dt > 255 || !isa_dtype_valid((int)dt))
    return ERR("attribute dtype: invalid dtype %lld", (long long)dt);
  memset(&ctx->out[0], 0, sizeof ctx->out[0]);
  ctx->out[0].dtype = (uint8_t)dt;
  ctx->out[0].rank = -1;
  return NULL;
}

ivm_status isa_infer_control_scan_append(isa_infer_ctx *ctx) {
  IVM_TRY(check_io(ctx, 2, 2, 1));
  const isa_type *acc = &ctx->in[0], *y = &ctx->in[1];
  if (acc->dtype != y->dtype)
    return ERR("input 1: dtype %s differs from the accumulator's %s",
               ivm_dtype_name((ivm_dtype)y->dtype), ivm_dtype_name((ivm_dtype)acc->dtype));
  int64_t p = ctx->attrs[0].v.i;
  if (p != 0 && p != 1) return ERR("attribute prepend: must be 0 or 1, got %lld", (long long)p);
  isa_type *o = &ctx->out[0];
  memset(o, 0, sizeof *o);
  o->dtype = acc->dtype;
  if (y->rank < 0) {
    o->rank = -1;
    return NULL;
  }
  if (y->rank >= ISA_MAX_RANK) return ERR("input 1: rank %d leaves no room to stack", y->rank);
  o->rank = (int8_t)(y->rank + 1);
  o->dims[0] = ISA_DIM_ANY;
  for (int k = 0; k < y->rank; k++) o->dims[k + 1] = y->dims[k];
  return NULL;
}

ivm_status isa_infer_control_copy(isa_infer_ctx *ctx) {
  IVM_TRY(check_io(ctx, 1, 1, 1));
  ctx->out[0] = ctx->in[0];
  return NULL;
}

ivm_status isa_infer_control_scan_slice(isa_infer_ctx *ctx) {
  IVM_TRY(check_io(ctx, 2, 2, 1));
  IVM_TRY(check_scalar(ctx, 1, IVM_DT_I64, "i"));
  const isa_type *x = &ctx->in[0];
  int64_t axis = ctx->attrs[0].v.i, rev = ctx->attrs[1].v.i;
  if (rev != 0 && rev != 1) return ERR("attribute reverse: must be 0 or 1, got %lld", (long long)rev);
  isa_type *o = &ctx->out[0];
  memset(o, 0, sizeof *o);
  o->dtype = x->dtype;
  if (x->rank < 0) {
    o->rank = -1;
    return NULL;
  }
  if (x->rank < 1) return ERR("input 0: expected rank >= 1, got a scalar");
  if (axis < -x->rank || axis >= x->rank)
    return ERR("attribute axis: %lld out of range for rank %d", (long long)axis, x->rank);
  if (axis < 0) axis += x->rank;
  o->rank = (int8_t)(x->rank - 1);
  for (int k = 0, j = 0; k < x->rank; k++)
    if (k != axis) o->dims[j++] = x->dims[k];
  return NULL;
}
