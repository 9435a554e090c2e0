/* Small helpers shared by the inference files isa/infer_*.c (prefix iu_, "inference
 * util"). They used to exist as private copies in several of those files; each one here is
 * the single version. Every helper treats its input as untrusted in the same way the copies
 * did, and errors are IVM_ERR_INVALID_ARGUMENT statuses (ivm_error). */
#ifndef IVM_ISA_INFER_UTIL_H
#define IVM_ISA_INFER_UTIL_H

#include <stdint.h>
#include <string.h>

#include "isa/op.h"

/* Input i exists and is not an absent optional input (dtype NONE). */
static inline int iu_present(const isa_infer_ctx *ctx, uint32_t i) {
  return i < ctx->n_in && ctx->in[i].dtype != IVM_DT_NONE;
}

/* The dtype's name, for error messages. */
static inline const char *iu_dtn(int dt) { return ivm_dtype_name((ivm_dtype)dt); }

/* A float or integer dtype (not bool, string or NONE). */
static inline int iu_is_numeric(int dt) {
  return isa_dtype_is_float(dt) || isa_dtype_is_int(dt);
}

/* Integer attribute in slot, or def when the op has no attribute values. */
static inline int64_t iu_attr_i(const isa_infer_ctx *ctx, int slot, int64_t def) {
  return ctx->attrs ? ctx->attrs[slot].v.i : def;
}

/* o = a type of dtype with unknown rank (rank -1, all other fields zero). */
static inline void iu_set_unknown_rank(isa_type *o, int dtype) {
  memset(o, 0, sizeof *o);
  o->dtype = (uint8_t)dtype;
  o->rank = -1;
}

/* o = shape_of's type (shape, symbols and all) with its dtype replaced by dtype. */
static inline void iu_set_like(isa_type *o, int dtype, const isa_type *shape_of) {
  memcpy(o, shape_of, sizeof *o);
  o->dtype = (uint8_t)dtype;
}

/* o = a type of dtype and rank whose dims are all ISA_DIM_ANY (rank may be -1). */
void iu_set_out(isa_type *o, int dtype, int rank);

/* Each present input has a valid dtype and rank -1..ISA_MAX_RANK, and inputs below
 * min_in are present. The caller checks the counts. */
ivm_status iu_check_inputs(const isa_infer_ctx *ctx, uint32_t min_in);

/* min_in..max_in inputs, min_out..max_out outputs, then iu_check_inputs. */
ivm_status iu_check_io(const isa_infer_ctx *ctx, uint32_t min_in, uint32_t max_in,
                              uint32_t min_out, uint32_t max_out);

/* Input i has dtype i32 or i64. */
ivm_status iu_expect_index_dtype(const isa_infer_ctx *ctx, uint32_t i);

/* Element k of an integer tensor of dtype i64, i32 or (any other dtype) i16, read without
 * alignment assumptions. */
int64_t iu_int_at(int dt, const void *data, int64_t k);

/* Number of elements if the rank and every dim are known, else -1. */
static inline int64_t iu_known_numel(const isa_type *t) {
  if (t->rank < 0) return -1;
  int64_t n = 1;
  for (int i = 0; i < t->rank; i++) {
    if (t->dims[i] < 0) return -1;
    n *= t->dims[i];
  }
  return n;
}

/* Reads an INTS attribute of `want` values into out, each in [min, max]; an absent or
 * empty attribute gives `want` copies of def. name is for error messages. */
ivm_status iu_ints_attr(const isa_attr *a, const char *name, int want, int64_t def,
                        int64_t min, int64_t max, int64_t *out);

/* Merges two dims that must be equal: known dims must match (returns 0 if not), a known
 * dim wins over an unknown one, equal unknowns (symbols) stay, different unknowns give
 * ISA_DIM_ANY. Returns 1 and sets *out on success. */
int iu_merge_dim(int64_t a, int64_t b, int64_t *out);

/* numpy multidirectional broadcasting of n types into out's rank and dims (the dtype is
 * the caller's; rank -1 if any rank is unknown). Per axis: equal dims stay (symbols
 * included), 1 yields to the other, a known dim wins over an unknown one (the unknown must
 * then be 1 or equal at run time), two different unknowns give ISA_DIM_ANY, two different
 * known dims > 1 are an error. */
ivm_status iu_broadcast(const isa_type *const *ts, int n, isa_type *out);

#endif
