/* Type inference for the seq op family (isa/ops_seq.def). A sequence or optional value's
 * type is its kind (isa_type.vkind) plus its element's dtype and shape. Inputs are
 * untrusted: value kinds, dtypes and ranks are checked. The VM executes these ops itself
 * and sets output shapes from the actual values (vm/seq.c), so inference only has to be
 * right about kinds and dtypes and conservative about shapes. */
#include <stdint.h>
#include <string.h>

#include "isa/infer_util.h"
#include "isa/op.h"

#define ERR(...) ivm_error(IVM_ERR_INVALID_ARGUMENT, __VA_ARGS__)

const char *isa_vkind_name(int vkind) {
  switch (vkind) {
    case ISA_VK_TENSOR: return "tensor";
    case ISA_VK_SEQ: return "sequence";
    case ISA_VK_OPT: return "optional";
    case ISA_VK_OPT_SEQ: return "optional sequence";
    default: return "?";
  }
}

/* Counts, dtypes, ranks and kinds of the inputs; exactly n_out outputs. */
static ivm_status check_io(const isa_infer_ctx *ctx, uint32_t min_in, uint32_t max_in,
                           uint32_t n_out) {
  if (ctx->n_in < min_in || ctx->n_in > max_in)
    return ERR("expected %u to %u inputs, got %u", min_in, max_in, ctx->n_in);
  if (ctx->n_out != n_out) return ERR("expected %u outputs, got %u", n_out, ctx->n_out);
  for (uint32_t i = 0; i < ctx->n_in; i++) {
    const isa_type *t = &ctx->in[i];
    if (t->dtype == IVM_DT_NONE) {
      if (i < min_in) return ERR("input %u: required input is absent", i);
      continue;
    }
    if (!isa_dtype_valid(t->dtype)) return ERR("input %u: invalid dtype %d", i, t->dtype);
    if (t->rank < -1 || t->rank > ISA_MAX_RANK) return ERR("input %u: invalid rank %d", i, t->rank);
    if (t->vkind > ISA_VK_OPT_SEQ) return ERR("input %u: invalid value kind %d", i, t->vkind);
  }
  return NULL;
}

static ivm_status want_kind(const isa_infer_ctx *ctx, uint32_t i, int vk) {
  if (iu_present(ctx, i) && ctx->in[i].vkind != vk)
    return ERR("input %u: expected a %s, got a %s", i, isa_vkind_name(vk),
               isa_vkind_name(ctx->in[i].vkind));
  return NULL;
}

/* A position: an i32/i64 tensor with one element. */
static ivm_status check_pos(const isa_infer_ctx *ctx, uint32_t i) {
  if (!iu_present(ctx, i)) return NULL;
  IVM_TRY(want_kind(ctx, i, ISA_VK_TENSOR));
  const isa_type *t = &ctx->in[i];
  if (t->dtype != IVM_DT_I32 && t->dtype != IVM_DT_I64)
    return ERR("input %u (position): expected i32 or i64, got %s", i,
               ivm_dtype_name((ivm_dtype)t->dtype));
  for (int k = 0; k < t->rank; k++)
    if (t->dims[k] >= 0 && t->dims[k] != 1)
      return ERR("input %u (position): expected one element", i);
  return NULL;
}

/* The common element shape of two element types (dtype taken from a). */
static void merge_shape(isa_type *a, const isa_type *b) {
  if (a->rank < 0) return;
  if (b->rank != a->rank) {
    a->rank = -1;
    return;
  }
  for (int k = 0; k < a->rank; k++)
    if (a->dims[k] != b->dims[k]) a->dims[k] = ISA_DIM_ANY;
}

static void set_out(isa_infer_ctx *ctx, const isa_type *elem, int vk) {
  ctx->out[0] = *elem;
  ctx->out[0].vkind = (uint8_t)vk;
  if (ctx->out[0].rank < 0) memset(ctx->out[0].dims, 0, sizeof ctx->out[0].dims);
}

static ivm_status want_dtype_attr(int64_t dt, const char *what) {
  if (dt > 255 || !isa_dtype_valid((int)dt)) return ERR("%s: invalid dtype %lld", what, (long long)dt);
  return NULL;
}

ivm_status isa_infer_seq_empty(isa_infer_ctx *ctx) {
  IVM_TRY(check_io(ctx, 0, 0, 1));
  int64_t dt = ctx->attrs[ISA_A_SequenceEmpty_dtype].v.i;
  IVM_TRY(want_dtype_attr(dt, "dtype"));
  isa_type e;
  memset(&e, 0, sizeof e);
  e.dtype = (uint8_t)dt;
  e.rank = -1;
  set_out(ctx, &e, ISA_VK_SEQ);
  return NULL;
}

ivm_status isa_infer_seq_construct(isa_infer_ctx *ctx) {
  IVM_TRY(check_io(ctx, 1, ISA_VARIADIC, 1));
  isa_type e = ctx->in[0];
  for (uint32_t i = 0; i < ctx->n_in; i++) {
    if (!iu_present(ctx, i)) return ERR("input %u: required input is absent", i);
    IVM_TRY(want_kind(ctx, i, ISA_VK_TENSOR));
    if (ctx->in[i].dtype != e.dtype)
      return ERR("input %u: dtype %s, input 0 is %s", i, ivm_dtype_name((ivm_dtype)ctx->in[i].dtype),
                 ivm_dtype_name((ivm_dtype)e.dtype));
    merge_shape(&e, &ctx->in[i]);
  }
  set_out(ctx, &e, ISA_VK_SEQ);
  return NULL;
}

ivm_status isa_infer_seq_insert(isa_infer_ctx *ctx) {
  IVM_TRY(check_io(ctx, 2, 3, 1));
  IVM_TRY(want_kind(ctx, 0, ISA_VK_SEQ));
  IVM_TRY(want_kind(ctx, 1, ISA_VK_TENSOR));
  IVM_TRY(check_pos(ctx, 2));
  if (ctx->in[1].dtype != ctx->in[0].dtype)
    return ERR("input 1: dtype %s, the sequence holds %s", ivm_dtype_name((ivm_dtype)ctx->in[1].dtype),
               ivm_dtype_name((ivm_dtype)ctx->in[0].dtype));
  isa_type e = ctx->in[0];
  merge_shape(&e, &ctx->in[1]);
  set_out(ctx, &e, ISA_VK_SEQ);
  return NULL;
}

ivm_status isa_infer_seq_erase(isa_infer_ctx *ctx) {
  IVM_TRY(check_io(ctx, 1, 2, 1));
  IVM_TRY(want_kind(ctx, 0, ISA_VK_SEQ));
  IVM_TRY(check_pos(ctx, 1));
  set_out(ctx, &ctx->in[0], ISA_VK_SEQ);
  return NULL;
}

ivm_status isa_infer_seq_at(isa_infer_ctx *ctx) {
  IVM_TRY(check_io(ctx, 2, 2, 1));
  IVM_TRY(want_kind(ctx, 0, ISA_VK_SEQ));
  IVM_TRY(check_pos(ctx, 1));
  set_out(ctx, &ctx->in[0], ISA_VK_TENSOR);
  return NULL;
}

ivm_status isa_infer_seq_length(isa_infer_ctx *ctx) {
  IVM_TRY(check_io(ctx, 1, 1, 1));
  IVM_TRY(want_kind(ctx, 0, ISA_VK_SEQ));
  isa_type e;
  memset(&e, 0, sizeof e);
  e.dtype = IVM_DT_I64;
  set_out(ctx, &e, ISA_VK_TENSOR);
  return NULL;
}

ivm_status isa_infer_seq_split(isa_infer_ctx *ctx) {
  IVM_TRY(check_io(ctx, 1, 2, 1));
  IVM_TRY(want_kind(ctx, 0, ISA_VK_TENSOR));
  IVM_TRY(want_kind(ctx, 1, ISA_VK_TENSOR));
  const isa_type *x = &ctx->in[0];
  if (iu_present(ctx, 1)) {
    const isa_type *sp = &ctx->in[1];
    if (sp->dtype != IVM_DT_I32 && sp->dtype != IVM_DT_I64)
      return ERR("input 1 (split): expected i32 or i64, got %s", ivm_dtype_name((ivm_dtype)sp->dtype));
    if (sp->rank > 1) return ERR("input 1 (split): expected a scalar or 1-D, got rank %d", sp->rank);
  }
  int64_t axis = ctx->attrs[ISA_A_SplitToSequence_axis].v.i;
  int64_t keep = ctx->attrs[ISA_A_SplitToSequence_keepdims].v.i;
  if (keep != 0 && keep != 1) return ERR("keepdims must be 0 or 1");
  isa_type e = *x;
  if (x->rank >= 0) {
    if (x->rank == 0) return ERR("input 0: cannot split a scalar");
    if (axis < -x->rank || axis >= x->rank)
      return ERR("axis %lld out of range for rank %d", (long long)axis, x->rank);
    if (axis < 0) axis += x->rank;
    if (!iu_present(ctx, 1) && !keep) {
      for (int k = (int)axis; k + 1 < x->rank; k++) e.dims[k] = x->dims[k + 1];
      e.rank--;
    } else {
      e.dims[axis] = iu_present(ctx, 1) ? ISA_DIM_ANY : 1;
    }
  }
  set_out(ctx, &e, ISA_VK_SEQ);
  return NULL;
}

ivm_status isa_infer_seq_concat(isa_infer_ctx *ctx) {
  IVM_TRY(check_io(ctx, 1, 1, 1));
  IVM_TRY(want_kind(ctx, 0, ISA_VK_SEQ));
  int64_t axis = ctx->attrs[ISA_A_ConcatFromSequence_axis].v.i;
  int64_t na = ctx->attrs[ISA_A_ConcatFromSequence_new_axis].v.i;
  if (na != 0 && na != 1) return ERR("new_axis must be 0 or 1");
  const isa_type *x = &ctx->in[0];
  isa_type e = *x;
  if (x->rank >= 0) {
    int r = x->rank + (int)na;
    if (r > ISA_MAX_RANK) return ERR("rank %d exceeds %d", r, ISA_MAX_RANK);
    if (r == 0) return ERR("cannot concatenate scalars without new_axis");
    if (axis < -r || axis >= r) return ERR("axis %lld out of range for rank %d", (long long)axis, r);
    if (axis < 0) axis += r;
    e.rank = (int8_t)r;
    for (int k = 0, j = 0; k < r; k++) e.dims[k] = (na && k == axis) ? ISA_DIM_ANY : x->dims[j++];
    e.dims[axis] = ISA_DIM_ANY; /* the element count is known only at run time */
  }
  set_out(ctx, &e, ISA_VK_TENSOR);
  return NULL;
}

ivm_status isa_infer_seq_optional(isa_infer_ctx *ctx) {
  IVM_TRY(check_io(ctx, 0, 1, 1));
  if (iu_present(ctx, 0)) {
    int vk = ctx->in[0].vkind;
    if (vk != ISA_VK_TENSOR && vk != ISA_VK_SEQ)
      return ERR("input 0: expected a tensor or a sequence, got a %s", isa_vkind_name(vk));
    set_out(ctx, &ctx->in[0], vk == ISA_VK_SEQ ? ISA_VK_OPT_SEQ : ISA_VK_OPT);
    return NULL;
  }
  int64_t dt = ctx->attrs[ISA_A_Optional_dtype].v.i, el = ctx->attrs[ISA_A_Optional_elem].v.i;
  IVM_TRY(want_dtype_attr(dt, "dtype (required without an input)"));
  if (el != 0 && el != 1) return ERR("elem must be 0 (tensor) or 1 (sequence)");
  isa_type e;
  memset(&e, 0, sizeof e);
  e.dtype = (uint8_t)dt;
  e.rank = -1;
  set_out(ctx, &e, el ? ISA_VK_OPT_SEQ : ISA_VK_OPT);
  return NULL;
}

ivm_status isa_infer_seq_has_element(isa_infer_ctx *ctx) {
  IVM_TRY(check_io(ctx, 0, 1, 1));
  isa_type e;
  memset(&e, 0, sizeof e);
  e.dtype = IVM_DT_BOOL;
  set_out(ctx, &e, ISA_VK_TENSOR);
  return NULL;
}

ivm_status isa_infer_seq_get_element(isa_infer_ctx *ctx) {
  IVM_TRY(check_io(ctx, 1, 1, 1));
  int vk = ctx->in[0].vkind;
  set_out(ctx, &ctx->in[0], vk == ISA_VK_OPT ? ISA_VK_TENSOR : vk == ISA_VK_OPT_SEQ ? ISA_VK_SEQ : vk);
  return NULL;
}

ivm_status isa_infer_seq_copy(isa_infer_ctx *ctx) {
  IVM_TRY(check_io(ctx, 1, 1, 1));
  set_out(ctx, &ctx->in[0], ctx->in[0].vkind);
  return NULL;
}
