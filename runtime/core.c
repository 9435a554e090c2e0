#include <stdlib.h>
#include <string.h>

#include "runtime/rt.h"
#include "runtime/kernels/fused_act.h"

void *rt_alloc(const ivm_allocator *a, size_t size, size_t align) {
  if (size == 0) size = 1;
  if (align < sizeof(void *)) align = sizeof(void *);
  if (a && a->alloc) return a->alloc(a->ctx, size, align);
  size_t rounded = (size + align - 1) / align * align;
  return aligned_alloc(align, rounded);
}

void rt_free(const ivm_allocator *a, void *p) {
  if (!p) return;
  if (a && a->alloc) {
    if (a->free) a->free(a->ctx, p);
    return;
  }
  free(p);
}

int64_t rt_shape_numel(int rank, const int64_t *dims) {
  int64_t n = 1;
  for (int i = 0; i < rank; i++) n *= dims[i];
  return n;
}

int64_t rt_numel(const rt_tensor *t) { return rt_shape_numel(t->rank, t->dims); }

size_t rt_nbytes(const rt_tensor *t) {
  return (size_t)rt_numel(t) * ivm_dtype_size((ivm_dtype)t->dtype);
}

ivm_status rt_scratch_get(rt_scratch *s, size_t bytes, void **out) {
  if (bytes > s->size) {
    rt_free(s->allocator, s->data);
    s->data = NULL;
    s->size = 0;
    size_t want = bytes < 4096 ? 4096 : bytes + bytes / 2;
    s->data = rt_alloc(s->allocator, want, 64);
    if (!s->data)
      return ivm_error(IVM_ERR_OUT_OF_MEMORY, "scratch: cannot allocate %zu bytes", want);
    s->size = want;
  }
  *out = s->data;
  return NULL;
}

void rt_scratch_release(rt_scratch *s) {
  rt_free(s->allocator, s->data);
  s->data = NULL;
  s->size = 0;
}

#define IVM_OP(Name, ...) [ISA_OP_##Name] = {rt_k_##Name, NULL, NULL},
static const rt_op_impl builtin_impls[ISA_OP_COUNT] = {
#include "isa/ops.def"
};
#undef IVM_OP

rt_kernel_fn rt_builtin_kernel(isa_builtin_op op) {
  return (unsigned)op < ISA_OP_COUNT ? builtin_impls[op].kernel : NULL;
}

ivm_status rt_registry_create_builtin(isa_registry **out) {
  isa_registry *reg;
  IVM_TRY(isa_registry_create(&reg));
  for (int op = 0; op < ISA_OP_COUNT; op++) {
    /* The fused ops resolve their activation once, at load (kernels/fused_act.h). */
    const rt_op_impl *impl = op == ISA_OP_FusedMatMul ? &rt_fused_matmul_impl
                             : op == ISA_OP_FusedConv ? &rt_fused_conv_impl
                                                      : &builtin_impls[op];
    ivm_status st = isa_registry_add(reg, isa_builtin_desc((isa_builtin_op)op), impl);
    if (st) {
      isa_registry_destroy(reg);
      return st;
    }
  }
  ivm_status st = isa_registry_add_family(reg, &rt_ffi_family_desc, &rt_ffi_family_impl);
  if (!st) st = isa_registry_add_family(reg, &rt_expr_family_desc, &rt_expr_family_impl);
  if (st) {
    isa_registry_destroy(reg);
    return st;
  }
  *out = reg;
  return NULL;
}

ivm_status rt_run_builtin(isa_builtin_op op, uint32_t n_in, const rt_tensor *const *in,
                          const isa_attr *attrs, uint32_t n_out, rt_tensor *out) {
  const isa_op_desc *d = isa_builtin_desc(op);
  if (!d) return ivm_error(IVM_ERR_INTERNAL, "unknown built-in op %d", (int)op);
  if (n_in > 16 || n_out > 16)
    return ivm_error(IVM_ERR_UNSUPPORTED, "%s: too many operands to run standalone", d->name);
  isa_type tin[16], tout[16];
  const void *din[16];
  for (uint32_t i = 0; i < n_in; i++) {
    memset(&tin[i], 0, sizeof tin[i]);
    din[i] = NULL;
    if (!in[i]) continue;
    tin[i].dtype = in[i]->dtype;
    tin[i].rank = (int8_t)in[i]->rank;
    memcpy(tin[i].dims, in[i]->dims, sizeof tin[i].dims);
    din[i] = in[i]->data;
  }
  memset(tout, 0, sizeof tout);
  isa_infer_ctx ctx = {n_in, tin, din, attrs, n_out, tout};
  IVM_TRY(d->infer(&ctx));
  rt_tensor *outp[16];
  ivm_status st = NULL;
  for (uint32_t i = 0; i < n_out; i++) {
    memset(&out[i], 0, sizeof out[i]);
    outp[i] = &out[i];
  }
  for (uint32_t i = 0; i < n_out; i++) {
    if (tout[i].rank < 0)
      st = ivm_error(IVM_ERR_INTERNAL, "%s: output %u rank unknown after inference", d->name, i);
    for (int k = 0; !st && k < tout[i].rank; k++)
      if (tout[i].dims[k] < 0)
        st = ivm_error(IVM_ERR_INTERNAL, "%s: output %u shape unknown after inference", d->name, i);
    if (st) goto fail;
    out[i].dtype = tout[i].dtype;
    out[i].rank = (uint8_t)tout[i].rank;
    memcpy(out[i].dims, tout[i].dims, sizeof out[i].dims);
    size_t nb = rt_nbytes(&out[i]);
    out[i].data = malloc(nb ? nb : 1);
    out[i].capacity = nb;
    if (!out[i].data) {
      st = ivm_error(IVM_ERR_OUT_OF_MEMORY, "%s: cannot allocate output", d->name);
      goto fail;
    }
  }
  rt_scratch scratch = {NULL, NULL, 0, NULL};
  rt_call call = {n_in, n_out, in, outp, attrs, &scratch, NULL};
  st = rt_builtin_kernel(op)(&call);
  rt_scratch_release(&scratch);
  if (!st) return NULL;
fail:
  for (uint32_t i = 0; i < n_out; i++) {
    free(out[i].data);
    out[i].data = NULL;
  }
  return st;
}
