/* Placeholder: the JIT backend registers itself with vm/ here (being written). */
#include "jit/jit.h"
#include "vm/vm.h"

static ivm_status apply(ivm_module *m, const ivm_load_options *opts) {
  (void)m;
  (void)opts;
  return ivm_error(IVM_ERR_UNSUPPORTED, "the JIT backend is not built yet");
}

static void release(ivm_module *m) { (void)m; }

static const vm_jit_backend backend = {apply, release};

__attribute__((constructor)) static void register_jit(void) { vm_register_jit_backend(&backend); }
