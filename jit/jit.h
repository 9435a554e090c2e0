/* The LLVM JIT backend (ORC LLJIT through the LLVM C API, llvm-19).
 *
 * jit_engine compiles rt_expr DAGs (runtime/expr.h) to vectorised native loops with the
 * rt_expr_fn contract. Each compiled object is cached on disk, keyed by a hash of the
 * expression's canonical bytes, the host CPU (name and features), the LLVM version and
 * the JIT's own code-generation version, so a second load of the same module compiles
 * nothing: it links the cached object.
 *
 * jit/backend.c registers the load-time backend with vm/ (vm_register_jit_backend): for a
 * module loaded with IVM_BACKEND_JIT it compiles every ivm.expr instruction and fuses
 * chains of elementwise built-in instructions into single native loops (jit/fuse.c). */
#ifndef IVM_JIT_JIT_H
#define IVM_JIT_JIT_H

#include <stdint.h>

#include "runtime/expr.h"

typedef struct jit_engine jit_engine;

typedef struct jit_engine_stats {
  uint32_t functions;  /* jit_compile calls that succeeded */
  uint32_t compiled;   /* of those, compiled by LLVM */
  uint32_t cache_hits; /* of those, linked from the on-disk cache */
} jit_engine_stats;

/* cache_dir: NULL for the default (see ivm_load_options.jit_cache_dir), "" for none. A
 * cache directory that cannot be created or written only disables caching. */
ivm_status jit_engine_create(const char *cache_dir, jit_engine **out);
/* Frees the native code too: functions from this engine must not run afterwards. */
void jit_engine_destroy(jit_engine *j);
/* Native code for e (same results as rt_expr_eval within 1e-5 relative). */
ivm_status jit_compile(jit_engine *j, const rt_expr *e, rt_expr_fn *out_fn);
void jit_engine_get_stats(const jit_engine *j, jit_engine_stats *out);
/* The directory NULL resolves to (static buffer), or NULL when none can be formed. */
const char *jit_default_cache_dir(void);

#endif
