/* Runtime core: tensors, allocation, and the CPU kernel interface. */
#ifndef IVM_RUNTIME_RT_H
#define IVM_RUNTIME_RT_H

#include <stddef.h>
#include <stdint.h>

#include "isa/op.h"

/* ---- allocation --------------------------------------------------------------- */
/* The host's allocator, or the C library's when alloc is NULL. */
void *rt_alloc(const ivm_allocator *a, size_t size, size_t align);
void rt_free(const ivm_allocator *a, void *p);

/* ---- tensors ------------------------------------------------------------------ */
typedef struct rt_tensor {
  void *data;
  uint8_t dtype;
  uint8_t rank;
  int64_t dims[ISA_MAX_RANK];
  size_t capacity; /* bytes available at data */
} rt_tensor;

int64_t rt_numel(const rt_tensor *t);           /* product of dims (1 for rank 0) */
size_t rt_nbytes(const rt_tensor *t);           /* numel * dtype size */
int64_t rt_shape_numel(int rank, const int64_t *dims);

/* ---- scratch: a grow-only buffer owned by the session; kernels borrow it for the
 * duration of one call (im2col buffers, transposes...). Steady state never allocates. */
typedef struct rt_scratch {
  const ivm_allocator *allocator;
  void *data;
  size_t size;
} rt_scratch;

ivm_status rt_scratch_get(rt_scratch *s, size_t bytes, void **out);
void rt_scratch_release(rt_scratch *s);

/* ---- kernels ------------------------------------------------------------------ */
/* One instruction call. Output dtypes and shapes are already set (from the module's
 * static types or from run-time inference) and their storage is large enough; the
 * kernel writes the elements. in[i] is NULL for an absent optional input, out[i] NULL
 * for an absent optional output. Kernels check data-dependent conditions (an index out
 * of range...) and return an IVM_ERR_RUNTIME status; they never abort. */
typedef struct rt_call {
  uint32_t n_in, n_out;
  const rt_tensor *const *in;
  rt_tensor *const *out;
  const isa_attr *attrs; /* op schema order, defaults filled in */
  rt_scratch *scratch;
} rt_call;

typedef ivm_status (*rt_kernel_fn)(const rt_call *call);

/* Declarations of every built-in kernel, rt_k_<Name>, one per line of ops.def. */
#define IVM_OP(Name, ...) ivm_status rt_k_##Name(const rt_call *call);
#include "isa/ops.def"
#undef IVM_OP

rt_kernel_fn rt_builtin_kernel(isa_builtin_op op);

/* A registry holding every built-in op with its CPU kernel as impl. */
ivm_status rt_registry_create_builtin(isa_registry **out);

/* Runs one built-in op outside any session (constant folding, tests): infers the output
 * types from the inputs (values included), allocates outputs with malloc, and runs the
 * kernel. On success the caller frees each out[i].data with free(). */
ivm_status rt_run_builtin(isa_builtin_op op, uint32_t n_in, const rt_tensor *const *in,
                          const isa_attr *attrs, uint32_t n_out, rt_tensor *out);

#endif
