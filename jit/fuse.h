/* Fused elementwise regions (jit/fuse.c), made by the JIT backend at load. */
#ifndef IVM_JIT_FUSE_H
#define IVM_JIT_FUSE_H

#include "jit/jit.h"
#include "vm/vm.h"

/* One fused region: its DAG, native code, and the operand list of the instruction that
 * runs it (external inputs, then the outputs read after the region). */
typedef struct jit_fused {
  rt_expr *expr;
  rt_expr_fn fn;
  uint32_t *operands;
  uint32_t n_in, n_out;
  struct jit_fused *next;
} jit_fused;

/* Finds and compiles the module's fusable regions, rewriting m->instrs; the regions are
 * prepended to *list (freed with jit_fused_free by the caller, after the module). */
ivm_status jit_fuse_module(ivm_module *m, jit_engine *engine, jit_fused **list);
void jit_fused_free(jit_fused *f);

#endif
