/* glibc's libmvec for the functions the JIT does not expand inline (all f64 transcendental
 * functions; sin, cos and pow in f32). Without it LLVM calls libm once per lane, which
 * costs more than the rest of the loop together. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jit/codegen.h"

static const char *const vfn_names[JIT_VFN_COUNT] = {"exp", "log", "tanh", "erf",
                                                     "sin", "cos", "pow"};

void jit_vlib_symbol(const jit_vlib *v, jit_vfn fn, int f64, char *buf, size_t size,
                     unsigned *out_lanes) {
  unsigned lanes = v->bits / (f64 ? 64 : 32);
  snprintf(buf, size, "_ZGV%cN%u%s_%s%s", v->isa, lanes, fn == JIT_VFN_POW ? "vv" : "v",
           vfn_names[fn], f64 ? "" : "f");
  *out_lanes = lanes;
}

void jit_vlib_open(jit_vlib *v, unsigned vector_bits, int has_avx2) {
  memset(v, 0, sizeof *v);
  /* The variant for the widest registers we have; the AVX (no AVX2) 'c' variants are not
   * worth a separate case, SSE's 'b' serves there. */
  v->isa = vector_bits >= 512 ? 'e' : has_avx2 ? 'd' : 'b';
  v->bits = v->isa == 'e' ? 512 : v->isa == 'd' ? 256 : 128;
  if (getenv("IVM_JIT_NO_LIBMVEC")) return; /* diagnosis, and the tests of the fallback */
  v->handle = dlopen("libmvec.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!v->handle) return;
  int any = 0;
  for (int fn = 0; fn < JIT_VFN_COUNT; fn++) {
    for (int f64 = 0; f64 < 2; f64++) {
      char name[64];
      unsigned lanes;
      jit_vlib_symbol(v, (jit_vfn)fn, f64, name, sizeof name, &lanes);
      v->addr[fn][f64] = dlsym(v->handle, name);
      any |= v->addr[fn][f64] != NULL;
    }
  }
  if (!any) jit_vlib_close(v);
}

void jit_vlib_close(jit_vlib *v) {
  if (v->handle) dlclose(v->handle);
  memset(v->addr, 0, sizeof v->addr);
  v->handle = NULL;
}

/* Lanes [first, first + count) of x. */
static LLVMValueRef slice(jit_cg *cg, LLVMValueRef x, unsigned first, unsigned count) {
  LLVMValueRef idx[JIT_MAX_LANES];
  for (unsigned k = 0; k < count; k++) idx[k] = LLVMConstInt(cg->i32, first + k, 0);
  return LLVMBuildShuffleVector(cg->b, x, LLVMGetPoison(LLVMTypeOf(x)), LLVMConstVector(idx, count),
                                "");
}

static LLVMValueRef concat(jit_cg *cg, LLVMValueRef a, LLVMValueRef b, unsigned half) {
  LLVMValueRef idx[JIT_MAX_LANES];
  for (unsigned k = 0; k < 2 * half; k++) idx[k] = LLVMConstInt(cg->i32, k, 0);
  return LLVMBuildShuffleVector(cg->b, a, b, LLVMConstVector(idx, 2 * half), "");
}

LLVMValueRef jit_vlib_call(jit_cg *cg, jit_vfn fn, LLVMValueRef x, LLVMValueRef y) {
  LLVMTypeRef elem = LLVMGetElementType(LLVMTypeOf(x));
  int f64 = elem == cg->f64;
  if (!cg->vlib || !cg->vlib->addr[fn][f64]) return NULL;
  char name[64];
  unsigned n;
  jit_vlib_symbol(cg->vlib, fn, f64, name, sizeof name, &n);
  if (n > cg->lanes || cg->lanes % n != 0) return NULL;

  LLVMTypeRef vt = LLVMVectorType(elem, n), params[2] = {vt, vt};
  unsigned n_args = fn == JIT_VFN_POW ? 2 : 1;
  LLVMTypeRef fty = LLVMFunctionType(vt, params, n_args, 0);
  LLVMValueRef callee = LLVMGetNamedFunction(cg->mod, name);
  if (!callee) {
    callee = LLVMAddFunction(cg->mod, name, fty);
    unsigned nounwind = LLVMGetEnumAttributeKindForName("nounwind", 8);
    LLVMAddAttributeAtIndex(callee, LLVMAttributeFunctionIndex,
                            LLVMCreateEnumAttribute(cg->ctx, nounwind, 0));
  }
  /* One call per group of n lanes, then the groups are joined pairwise back into W. */
  LLVMValueRef parts[JIT_MAX_LANES];
  unsigned n_parts = cg->lanes / n;
  for (unsigned p = 0; p < n_parts; p++) {
    LLVMValueRef args[2] = {n == cg->lanes ? x : slice(cg, x, p * n, n), NULL};
    if (y) args[1] = n == cg->lanes ? y : slice(cg, y, p * n, n);
    parts[p] = LLVMBuildCall2(cg->b, fty, callee, args, n_args, "");
  }
  for (unsigned width = n; n_parts > 1; width *= 2, n_parts /= 2)
    for (unsigned p = 0; p < n_parts / 2; p++)
      parts[p] = concat(cg, parts[2 * p], parts[2 * p + 1], width);
  return parts[0];
}
