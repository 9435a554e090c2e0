/* An IVM plugin: the op com.example.Swish, y = x * sigmoid(beta * x).
 *
 * Build it as a shared library against include/ivm/ivm_plugin.h only (it links nothing of
 * IVM), e.g.  cc -shared -fPIC -I include -o libswish_plugin.so swish_plugin.c -lm
 * and run a model that uses it:
 *   ivm run model.onnx -i x.npy --allow-plugin ./libswish_plugin.so */
#include <math.h>
#include <stddef.h>

#include "ivm/ivm_plugin.h"

IVM_PLUGIN_DECLARE();

static const ivm_plugin_host *host; /* for status_create in infer and the kernel */

/* Shape and type: y has x's. The op takes f32 only. */
static ivm_status swish_infer(ivm_infer_ctx *ctx) {
  if (ctx->in[0].dtype != IVM_DT_F32)
    return host->status_create(IVM_ERR_INVALID_ARGUMENT, "Swish takes f32, not %s",
                               host->dtype_name((ivm_dtype)ctx->in[0].dtype));
  ctx->out[0] = ctx->in[0];
  return NULL;
}

static ivm_status swish_kernel(const ivm_kernel_call *call) {
  const ivm_kernel_tensor *x = call->in[0];
  ivm_kernel_tensor *y = call->out[0];
  float beta = call->attrs[0].v.f; /* schema order: beta is attribute 0 */
  int64_t n = 1;
  for (int k = 0; k < x->rank; k++) n *= x->dims[k];
  const float *xs = x->data;
  float *ys = y->data;
  for (int64_t i = 0; i < n; i++) ys[i] = xs[i] / (1.0f + expf(-beta * xs[i]));
  return NULL;
}

static const ivm_attr_schema swish_attrs[] = {
    {"beta", IVM_ATTR_FLOAT, 0, {.f = 1.0f}},
};

static const ivm_op_desc swish = {
    .domain = "com.example",
    .name = "Swish",
    .version = 1,
    .min_in = 1, .max_in = 1,
    .min_out = 1, .max_out = 1,
    .flags = IVM_OPF_ELEMENTWISE,
    .n_attrs = 1,
    .attrs = swish_attrs,
    .infer = swish_infer,
    .synopsis = "Y := X * sigmoid(beta * X)",
    .doc = "Swish activation, from the example plugin (examples/custom-ops/plugin).",
};

ivm_status ivm_plugin_init(const ivm_plugin_host *h, uint32_t abi_version) {
  (void)abi_version; /* IVM checked ivm_plugin_abi before calling */
  host = h;
  return ivm_plugin_add_op(h, &swish, swish_kernel);
}
