/* VM internals: a loaded module (verified, immutable, shared) and a session (one thread
 * at a time) with the prepared instruction stream the interpreter runs. */
#ifndef IVM_VM_VM_H
#define IVM_VM_VM_H

#include <stdatomic.h>

#include "isa/module.h"
#include "runtime/rt.h"

typedef struct vm_instr {
  rt_kernel_fn kernel;
  const void *state;         /* the op's per-instruction state (rt_op_impl.prepare), or NULL */
  const isa_op_desc *desc;
  const isa_attr *attrs;     /* desc->n_attrs decoded slots */
  const uint32_t *operands;  /* n_in inputs then n_out outputs (tensor indices) */
  uint16_t n_in, n_out;
  uint8_t needs_infer;       /* some operand is DYNAMIC: infer shapes at run time */
  uint8_t ctl;               /* vm_ctl: executed by the VM itself (ISA_OPF_CONTROL ops) */
  uint32_t target;           /* ctl region markers: the verified jump-target attribute */
} vm_instr;

/* Control instructions (isa/ops_control.def) the interpreter loop executes itself. */
typedef enum vm_ctl {
  VM_CTL_NONE = 0,
  VM_CTL_IF,         /* IfThen: cond false -> target (Else) + 1 */
  VM_CTL_ELSE,       /* -> target (EndIf) + 1 */
  VM_CTL_ENDIF,
  VM_CTL_LOOP,       /* LoopBegin: i := 0; exit -> target (LoopEnd) + 1 */
  VM_CTL_LOOPEND,    /* i++; continue -> target (LoopBegin) + 1 */
  VM_CTL_SCANINIT,
  VM_CTL_SCANAPPEND,
  VM_CTL_SEQ,        /* a seq-family op (ISA_OPF_SEQ): vm_exec_seq */
} vm_ctl;

/* A sequence or optional value (tensor flags ISA_TF_SEQUENCE / ISA_TF_OPTIONAL): the
 * session's rt_tensor for it has data pointing at one of these (dtype: the elements').
 * Items own their storage; items[count..cap) keep theirs for reuse (grow-only). */
typedef struct vm_seq {
  uint32_t count, cap;
  uint8_t has_value; /* optionals: 0 = none; sequences: always 1 */
  rt_tensor *items;
} vm_seq;

/* Executes seq-family instruction i (vm/seq.c). tensors: the session's; a: its allocator. */
struct ivm_module;
ivm_status vm_exec_seq(const struct ivm_module *m, const ivm_allocator *a, rt_tensor *tensors,
                       uint32_t i);
/* Deep copies src into dst (both sequence/optional values), reusing dst's storage. */
ivm_status vm_seq_assign(const ivm_allocator *a, vm_seq *dst, const vm_seq *src);
/* Sets item k (< dst->cap) to a copy of the tensor src. */
ivm_status vm_seq_set_item(const ivm_allocator *a, vm_seq *dst, uint32_t k, const rt_tensor *src);
ivm_status vm_seq_reserve(const ivm_allocator *a, vm_seq *s, uint32_t n);
void vm_seq_free(const ivm_allocator *a, vm_seq *s);

struct ivm_module {
  atomic_int refs;
  ivm_allocator allocator;
  char *what;          /* file name or "<memory>", for messages */
  void *map;           /* mmap'd file, or NULL */
  size_t map_size;
  void *owned;         /* memory to free at release (take_ownership or aligned copy) */
  isa_module view;
  const isa_registry *registry; /* registry_own, layered over the process's built-ins */
  isa_registry *registry_own;
  vm_instr *instrs;
  const rt_op_impl **impls;    /* per instruction: whose prepare made instrs[i].state */
  ivm_module_stats stats;
  void *jit;                   /* the JIT backend's per-module state */
  isa_attr *attr_slots;
  uint32_t max_operands; /* largest n_in + n_out, sizes the per-run inference buffers */
  /* DYNAMIC tensor lifetimes (vm/lifetime.c): pooled[t] marks tensors whose storage
   * comes from the session pool; release_list[release_start[i] .. release_start[i+1])
   * are the tensors whose last reader is instruction i. */
  uint8_t *pooled;
  uint32_t *release_start, *release_list;
};

/* The load-time JIT backend (jit/, built as libivm_jit.so), registered by the JIT itself
 * so that vm/ does not depend on LLVM: vm/ opens the library with dlopen when a module
 * first asks for IVM_BACKEND_JIT. apply() may replace instructions' kernel/state/operands
 * (fused regions, native expression code) before the module is shared; release() frees
 * what it made. Without the library, IVM_BACKEND_JIT is refused with a message. */
typedef struct vm_jit_backend {
  ivm_status (*apply)(ivm_module *m, const ivm_load_options *opts);
  void (*release)(ivm_module *m);
} vm_jit_backend;
void vm_register_jit_backend(const vm_jit_backend *backend);

/* Verifies a module as loading would (its plugins must be allowed) without preparing it:
 * no FFI symbol is resolved, nothing is compiled; the constant data's checksum is checked
 * too (as check_constants would). For `ivm verify` and `ivm compile`. */
typedef struct vm_verify_info {
  uint32_t n_instrs, n_tensors, n_inputs, n_outputs;
  uint64_t arena_size;
} vm_verify_info;
ivm_status vm_verify_file(const char *path, const ivm_load_options *opts, vm_verify_info *out_info);
ivm_status vm_verify_memory(const void *data, size_t size, const ivm_load_options *opts);
/* A verified module for reading its view only (ivm dis): it cannot run. Release it with
 * ivm_module_release. */
ivm_status vm_open_verified(const char *path, const ivm_load_options *opts, ivm_module **out);

/* Fills pooled / release_start / release_list (after prepare). */
ivm_status vm_plan_lifetimes(ivm_module *m);

/* The process-wide registry of built-in ops (created once, thread-safe). */
ivm_status vm_builtin_registry(const isa_registry **out);

/* "instruction 12 (Conv, node 'conv1')" into buf. */
void vm_instr_context(const ivm_module *m, uint32_t index, char *buf, size_t size);

#endif
