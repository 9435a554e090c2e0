/* VM internals: a loaded module (verified, immutable, shared) and a session (one thread
 * at a time) with the prepared instruction stream the interpreter runs. */
#ifndef IVM_VM_VM_H
#define IVM_VM_VM_H

#include <stdatomic.h>

#include "isa/module.h"
#include "runtime/rt.h"

typedef struct vm_instr {
  rt_kernel_fn kernel;
  const isa_op_desc *desc;
  const isa_attr *attrs;     /* desc->n_attrs decoded slots */
  const uint32_t *operands;  /* n_in inputs then n_out outputs (tensor indices) */
  uint16_t n_in, n_out;
  uint8_t needs_infer;       /* some operand is DYNAMIC: infer shapes at run time */
} vm_instr;

struct ivm_module {
  atomic_int refs;
  ivm_allocator allocator;
  char *what;          /* file name or "<memory>", for messages */
  void *map;           /* mmap'd file, or NULL */
  size_t map_size;
  void *owned;         /* memory to free at release (take_ownership or aligned copy) */
  isa_module view;
  const isa_registry *registry;
  vm_instr *instrs;
  isa_attr *attr_slots;
  uint32_t max_operands; /* largest n_in + n_out, sizes the per-run inference buffers */
};

/* The process-wide registry of built-in ops (created once, thread-safe). */
ivm_status vm_builtin_registry(const isa_registry **out);

/* "instruction 12 (Conv, node 'conv1')" into buf. */
void vm_instr_context(const ivm_module *m, uint32_t index, char *buf, size_t size);

#endif
