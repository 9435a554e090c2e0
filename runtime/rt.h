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
/* The plugin ABI's kernel tensor: {data, dtype, rank, dims, capacity}. */
typedef ivm_kernel_tensor rt_tensor;

int64_t rt_numel(const rt_tensor *t);           /* product of dims (1 for rank 0) */
size_t rt_nbytes(const rt_tensor *t);           /* numel * dtype size */
int64_t rt_shape_numel(int rank, const int64_t *dims);

/* ---- scratch: a grow-only buffer owned by the session; kernels borrow it for the
 * duration of one call (im2col buffers, transposes...). Steady state never allocates. */
typedef struct ivm_scratch {
  const ivm_allocator *allocator;
  void *data;
  size_t size;
  struct rt_pool *pool; /* the session's worker pool (runtime/pool.h), or NULL: inline */
} rt_scratch;

ivm_status rt_scratch_get(rt_scratch *s, size_t bytes, void **out);
void rt_scratch_release(rt_scratch *s);

/* ---- kernels ------------------------------------------------------------------ */
/* One instruction call. Output dtypes and shapes are already set (from the module's
 * static types or from run-time inference) and their storage is large enough; the
 * kernel writes the elements. in[i] is NULL for an absent optional input, out[i] NULL
 * for an absent optional output. Kernels check data-dependent conditions (an index out
 * of range...) and return an IVM_ERR_RUNTIME status; they never abort. */
typedef ivm_kernel_call rt_call; /* the plugin ABI's call: built-ins and plugins alike */

typedef ivm_kernel_fn rt_kernel_fn;

/* ---- op implementations ----------------------------------------------------------- */
/* The host's permissions for one load: which foreign symbols instructions may call.
 * Entries are "SYMBOL" (resolved in the process, no library loaded) or "LIBRARY:SYMBOL". */
typedef struct rt_permissions {
  const char *const *ffi;
  uint32_t n_ffi;
} rt_permissions;

/* What an op's prepare hook sees of one instruction, once, at load. */
typedef struct rt_prepare_ctx {
  const isa_op_desc *desc; /* the instruction's op (its name is the import's) */
  const isa_attr *attrs;   /* schema order, defaults filled in */
  uint32_t n_in, n_out;
  const isa_type *in, *out; /* static types (rank -1 / dims < 0 where known only at run time);
                             * in[i].dtype == IVM_DT_NONE for an absent optional input */
  const rt_permissions *perm;
  const char *where;        /* "model.ivm: instruction 3 (Cbrt, node 'n1')" for messages */
} rt_prepare_ctx;

/* A registry entry's impl: the kernel, and for ops that need per-instruction set-up (an
 * FFI call's resolved symbol, an expression's compiled program) a prepare hook whose
 * state reaches the kernel as call->state and is released with the module. */
typedef struct rt_op_impl {
  rt_kernel_fn kernel;
  ivm_status (*prepare)(const rt_prepare_ctx *ctx, void **out_state);
  void (*release)(void *state);
} rt_op_impl;

/* Declarations of every built-in kernel, rt_k_<Name>, one per line of ops.def. */
#define IVM_OP(Name, ...) ivm_status rt_k_##Name(const rt_call *call);
#include "isa/ops.def"
#undef IVM_OP

rt_kernel_fn rt_builtin_kernel(isa_builtin_op op);

/* A registry holding every built-in op (impl: const rt_op_impl *) and the ivm.ffi and
 * ivm.expr op families. */
ivm_status rt_registry_create_builtin(isa_registry **out);

/* Plugins (runtime/plugin.c). Loads the plugin at `path` once per process (later calls
 * return the cached result; plugins are never unloaded) and adds its ops to reg. The
 * caller has checked that the host allowed `path`. */
ivm_status rt_plugin_add_to_registry(const char *path, isa_registry *reg);

/* The ivm.ffi and ivm.expr family templates (runtime/ffi.c, runtime/expr_op.c). */
extern const isa_op_desc rt_ffi_family_desc;
extern const rt_op_impl rt_ffi_family_impl;
extern const isa_op_desc rt_expr_family_desc;
extern const rt_op_impl rt_expr_family_impl;

/* Runs one built-in op outside any session (constant folding, tests): infers the output
 * types from the inputs (values included), allocates outputs with malloc, and runs the
 * kernel. On success the caller frees each out[i].data with free(). */
ivm_status rt_run_builtin(isa_builtin_op op, uint32_t n_in, const rt_tensor *const *in,
                          const isa_attr *attrs, uint32_t n_out, rt_tensor *out);

#endif
