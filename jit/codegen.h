/* Private to jit/: turning an rt_expr into an LLVM IR function, and the vector math
 * (exp, log, tanh, erf in f32) that codegen expands inline.
 *
 * The generated function has the rt_expr_fn contract, `void f(i64 n, ptr in, ptr out)`.
 * Its loop is explicitly vectorised: every node is computed on <W x T> vectors, a main loop
 * runs n / W full blocks with plain loads and stores, and one masked block does the tail.
 * (Leaving the widening to LLVM's loop vectoriser would need noalias on every stream and
 * a vector math library for exp/log; emitting vectors ourselves needs neither.) Inputs
 * and outputs may be the same buffer, element for element, but must not overlap
 * otherwise: each block loads all its inputs before it stores any output. */
#ifndef IVM_JIT_CODEGEN_H
#define IVM_JIT_CODEGEN_H

#include <llvm-c/Core.h>

#include "runtime/expr.h"

/* glibc's libmvec: vector exp, log, sin, ... with the x86 vector function ABI
 * (_ZGVeN8v_exp takes and returns 8 doubles in zmm0). Where the process can load it,
 * codegen calls it instead of libm once per lane; the engine defines its symbols in the
 * JIT, so objects link without it being loaded globally. */
typedef enum jit_vfn {
  JIT_VFN_EXP, JIT_VFN_LOG, JIT_VFN_TANH, JIT_VFN_ERF, JIT_VFN_SIN, JIT_VFN_COS, JIT_VFN_POW,
  JIT_VFN_COUNT
} jit_vfn;

typedef struct jit_vlib {
  void *handle; /* dlopen handle; NULL: no libmvec */
  char isa;     /* variant letter: 'b' SSE, 'd' AVX2, 'e' AVX-512 */
  unsigned bits; /* vector width of that variant */
  void *addr[JIT_VFN_COUNT][2]; /* [function][is f64]; NULL where this glibc lacks it */
} jit_vlib;

/* Best effort: leaves v empty when libmvec cannot be loaded, or when the environment
 * sets IVM_JIT_NO_LIBMVEC. */
void jit_vlib_open(jit_vlib *v, unsigned vector_bits, int has_avx2);
void jit_vlib_close(jit_vlib *v);
/* "_ZGVeN8v_exp" for fn on f64 (or f32) elements; lanes per call in *out_lanes. */
void jit_vlib_symbol(const jit_vlib *v, jit_vfn fn, int f64, char *buf, size_t size,
                     unsigned *out_lanes);

/* What the vector code is built from: one module and builder, the lane count W, cached
 * types, and libmvec (NULL or empty: none). Math helpers take and return values of the
 * vector float type they get. */
typedef struct jit_cg {
  LLVMContextRef ctx;
  LLVMModuleRef mod;
  LLVMBuilderRef b;
  unsigned lanes;
  LLVMTypeRef i1, i8, i32, i64, f32, f64, ptr;
  const jit_vlib *vlib;
} jit_cg;

/* fn (y: pow's exponent, else NULL) through libmvec, one call per group of its lanes;
 * NULL when libmvec lacks fn for this type, so the caller falls back. */
LLVMValueRef jit_vlib_call(jit_cg *cg, jit_vfn fn, LLVMValueRef x, LLVMValueRef y);

/* Checks that e is well formed (operands precede users, opcodes and dtypes agree, indices
 * in range), so that codegen never builds ill-typed IR from bad input. */
ivm_status jit_expr_check(const rt_expr *e);

/* Lanes per vector for e on a machine whose widest vector registers have vector_bits:
 * four registers' worth, so independent parts of a block overlap in the pipeline (the
 * math functions are long dependency chains). Measured on AVX-512 and AVX2: softplus
 * runs 1.4x faster than with two registers' worth, simple expressions the same. */
#define JIT_VECTORS_PER_BLOCK 4
#define JIT_MAX_LANES 64
unsigned jit_expr_lanes(const rt_expr *e, unsigned vector_bits);

/* Adds function `symbol` for e (already checked) to cg->mod, with `lanes` lanes. */
ivm_status jit_codegen_function(jit_cg *cg, const rt_expr *e, const char *symbol);

/* ---- helpers shared by codegen and the math expansions ------------------------------ */
LLVMTypeRef jit_vec(const jit_cg *cg, LLVMTypeRef elem);
LLVMValueRef jit_splat_f(const jit_cg *cg, LLVMTypeRef vec_type, double v);
LLVMValueRef jit_splat_i32(const jit_cg *cg, int32_t v);
/* Calls an overloaded intrinsic (e.g. "llvm.fabs") on args, overloaded on `type`. */
LLVMValueRef jit_intrinsic(jit_cg *cg, const char *name, LLVMTypeRef type, LLVMValueRef *args,
                           unsigned n_args);
/* a * b + c, fused where the target has FMA (llvm.fmuladd). */
LLVMValueRef jit_fmuladd(jit_cg *cg, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c);

/* f32 vector math, branch-free (range reduction + polynomial + selects for the special
 * cases). x is a <W x float>. */
LLVMValueRef jit_exp_f32(jit_cg *cg, LLVMValueRef x);
LLVMValueRef jit_log_f32(jit_cg *cg, LLVMValueRef x);
LLVMValueRef jit_tanh_f32(jit_cg *cg, LLVMValueRef x);
LLVMValueRef jit_erf_f32(jit_cg *cg, LLVMValueRef x);

#endif
