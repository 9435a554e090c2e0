/* The JIT backend as vm/ sees it: registered from a constructor, so that vm/ never
 * depends on LLVM. For a module loaded with IVM_BACKEND_JIT it compiles every ivm.expr
 * instruction's expression to native code and fuses elementwise chains (jit/fuse.c). */
#include <stdlib.h>

#include "jit/fuse.h"

typedef struct jit_module {
  jit_engine *engine;
  jit_fused *fused;
} jit_module;

static void release(ivm_module *m) {
  jit_module *jm = m->jit;
  if (!jm) return;
  /* Native code dies with the engine: no instruction may point at it afterwards. */
  for (uint32_t i = 0; i < m->view.n_instrs; i++) {
    const vm_instr *in = &m->instrs[i];
    if (in->desc->kind == ISA_OP_KIND_EXPR && in->state)
      ((rt_expr_op_state *)in->state)->native = NULL;
  }
  while (jm->fused) {
    jit_fused *next = jm->fused->next;
    jit_fused_free(jm->fused);
    jm->fused = next;
  }
  jit_engine_destroy(jm->engine);
  free(jm);
  m->jit = NULL;
}

static ivm_status apply(ivm_module *m, const ivm_load_options *opts) {
  jit_module *jm = calloc(1, sizeof *jm);
  if (!jm) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "%s: jit: out of memory", m->what);
  m->jit = jm;
  ivm_status st = jit_engine_create(opts ? opts->jit_cache_dir : NULL, &jm->engine);
  for (uint32_t i = 0; !st && i < m->view.n_instrs; i++) {
    vm_instr *in = &m->instrs[i];
    if (in->desc->kind != ISA_OP_KIND_EXPR || !in->state) continue;
    rt_expr_op_state *es = (rt_expr_op_state *)in->state;
    st = jit_compile(jm->engine, es->expr, &es->native);
    if (st) {
      char where[256];
      vm_instr_context(m, i, where, sizeof where);
      st = ivm_status_wrap(st, "%s: %s", m->what, where);
    }
  }
  if (!st) st = ivm_status_wrap(jit_fuse_module(m, jm->engine, &jm->fused), "%s", m->what);
  if (!st) {
    jit_engine_stats es;
    jit_engine_get_stats(jm->engine, &es);
    m->stats.jit_functions = es.functions;
    m->stats.jit_compiled = es.compiled;
    m->stats.jit_cache_hits = es.cache_hits;
  }
  return st; /* on failure the module is freed, which calls release() */
}

static const vm_jit_backend backend = {apply, release};

__attribute__((constructor)) static void register_jit(void) { vm_register_jit_backend(&backend); }
