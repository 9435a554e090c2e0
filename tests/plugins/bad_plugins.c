/* Plugins that IVM must refuse cleanly, one per BAD_KIND (set by tests/CMakeLists.txt). */
#include <stddef.h>

#include "ivm/ivm_plugin.h"

static ivm_status same_infer(ivm_infer_ctx *ctx) {
  ctx->out[0] = ctx->in[0];
  return NULL;
}
static ivm_status nop_kernel(const ivm_kernel_call *call) {
  (void)call;
  return NULL;
}

#if BAD_KIND == 1 /* built for another ABI */
IVM_PLUGIN_EXPORT const uint32_t ivm_plugin_abi = IVM_PLUGIN_ABI_VERSION + 98;
#elif BAD_KIND != 5
IVM_PLUGIN_DECLARE();
#endif

static const ivm_op_desc good = {"com.test", "Same", 1, 1, 1, 1, 1, 0, 0, 0, NULL, same_infer,
                                 "Y := X", "identity"};
#if BAD_KIND == 2 /* malformed: max_in < min_in, and no inference function */
static const ivm_op_desc bad = {"com.test", "Broken", 1, 2, 1, 1, 1, 0, 0, 0, NULL, NULL,
                                "?", "?"};
#elif BAD_KIND == 4 /* a reserved domain */
static const ivm_op_desc bad = {"ivm", "Relu", 7, 1, 1, 1, 1, 0, 0, 0, NULL, same_infer,
                                "?", "?"};
#endif

#if BAD_KIND != 5
ivm_status ivm_plugin_init(const ivm_plugin_host *host, uint32_t abi_version) {
  (void)abi_version;
#if BAD_KIND == 2 || BAD_KIND == 4
  ivm_status st = ivm_plugin_add_op(host, &bad, nop_kernel);
  if (st) return st;
#elif BAD_KIND == 3 /* registers with another ABI version through the host table */
  return host->add_op(host, IVM_PLUGIN_ABI_VERSION + 1, &good, nop_kernel);
#elif BAD_KIND == 6 /* init fails */
  return host->status_create(IVM_ERR_RUNTIME, "no licence for this op");
#endif
  return ivm_plugin_add_op(host, &good, nop_kernel);
}
#endif
