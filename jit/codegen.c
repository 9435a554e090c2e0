/* rt_expr -> LLVM IR: the vectorised loop (jit/codegen.h describes its shape). */
#include "jit/codegen.h"

#include <stdlib.h>
#include <string.h>

#include "isa/status.h"

/* ---- checking ------------------------------------------------------------------------- */
static int arity(int op) {
  if (op == RT_EX_INPUT || op == RT_EX_CONST) return 0;
  if (op <= RT_EX_NOT) return 1;
  if (op <= RT_EX_OR) return 2;
  return 3;
}

static int is_float(int dt) { return dt == IVM_DT_F32 || dt == IVM_DT_F64; }

/* The dtype rule of one node given its (already checked) operands; 0 when it holds. */
static int node_types_ok(const rt_expr *e, const rt_expr_node *nd) {
  const rt_expr_node *a = &e->nodes[nd->a], *b = &e->nodes[nd->b], *c = &e->nodes[nd->c];
  switch (nd->op) {
    case RT_EX_INPUT:
      return is_float(nd->dtype) && nd->input < e->n_inputs && e->in_dtypes[nd->input] == nd->dtype;
    case RT_EX_CONST:
      return is_float(nd->dtype) || nd->dtype == IVM_DT_BOOL;
    case RT_EX_NOT:
      return nd->dtype == IVM_DT_BOOL && a->dtype == IVM_DT_BOOL;
    case RT_EX_AND:
    case RT_EX_OR:
      return nd->dtype == IVM_DT_BOOL && a->dtype == IVM_DT_BOOL && b->dtype == IVM_DT_BOOL;
    case RT_EX_LT:
    case RT_EX_LE:
    case RT_EX_GT:
    case RT_EX_GE:
    case RT_EX_EQ:
    case RT_EX_NE:
      return nd->dtype == IVM_DT_BOOL && is_float(a->dtype) && a->dtype == b->dtype;
    case RT_EX_WHERE:
      return a->dtype == IVM_DT_BOOL && b->dtype == nd->dtype && c->dtype == nd->dtype &&
             (is_float(nd->dtype) || nd->dtype == IVM_DT_BOOL);
    default:
      if (arity(nd->op) == 1) return is_float(nd->dtype) && a->dtype == nd->dtype;
      return is_float(nd->dtype) && a->dtype == nd->dtype && b->dtype == nd->dtype;
  }
}

ivm_status jit_expr_check(const rt_expr *e) {
  if (!e || (e->n_nodes && !e->nodes) || (e->n_inputs && !e->in_dtypes) ||
      (e->n_outputs && !e->outputs))
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "jit: expression is missing its arrays");
  for (uint32_t i = 0; i < e->n_nodes; i++) {
    const rt_expr_node *nd = &e->nodes[i];
    if (nd->op >= RT_EX_OPCODE_COUNT)
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "jit: node %u has unknown opcode %u", i, nd->op);
    int n = arity(nd->op);
    if ((n >= 1 && nd->a >= i) || (n >= 2 && nd->b >= i) || (n >= 3 && nd->c >= i))
      return ivm_error(IVM_ERR_INVALID_ARGUMENT,
                       "jit: node %u (%s) uses an operand that does not precede it", i,
                       rt_expr_opcode_name(nd->op));
    /* Operand fields an op does not use may hold anything: read them only within arity. */
    rt_expr_node tmp = *nd;
    if (n < 1) tmp.a = 0;
    if (n < 2) tmp.b = tmp.a;
    if (n < 3) tmp.c = tmp.a;
    if (!node_types_ok(e, &tmp))
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "jit: node %u (%s) has mismatched dtypes", i,
                       rt_expr_opcode_name(nd->op));
  }
  for (uint32_t k = 0; k < e->n_outputs; k++)
    if (e->outputs[k] >= e->n_nodes)
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "jit: output %u names node %u of %u", k,
                       e->outputs[k], e->n_nodes);
  return NULL;
}

unsigned jit_expr_lanes(const rt_expr *e, unsigned vector_bits) {
  unsigned elem_bits = 32;
  for (uint32_t i = 0; i < e->n_nodes; i++)
    if (e->nodes[i].dtype == IVM_DT_F64) elem_bits = 64;
  unsigned lanes = JIT_VECTORS_PER_BLOCK * vector_bits / elem_bits;
  return lanes < 4 ? 4 : lanes > JIT_MAX_LANES ? JIT_MAX_LANES : lanes;
}

/* ---- helpers -------------------------------------------------------------------------- */
LLVMTypeRef jit_vec(const jit_cg *cg, LLVMTypeRef elem) { return LLVMVectorType(elem, cg->lanes); }

static LLVMValueRef splat_const(const jit_cg *cg, LLVMValueRef scalar) {
  LLVMValueRef elems[JIT_MAX_LANES];
  for (unsigned k = 0; k < cg->lanes; k++) elems[k] = scalar;
  return LLVMConstVector(elems, cg->lanes);
}

LLVMValueRef jit_splat_f(const jit_cg *cg, LLVMTypeRef vec_type, double v) {
  return splat_const(cg, LLVMConstReal(LLVMGetElementType(vec_type), v));
}

LLVMValueRef jit_splat_i32(const jit_cg *cg, int32_t v) {
  return splat_const(cg, LLVMConstInt(cg->i32, (unsigned long long)(int64_t)v, 1));
}

static LLVMValueRef intrinsic_n(jit_cg *cg, const char *name, LLVMTypeRef *types, unsigned n_types,
                                LLVMValueRef *args, unsigned n_args) {
  unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
  LLVMValueRef fn = LLVMGetIntrinsicDeclaration(cg->mod, id, types, n_types);
  LLVMTypeRef fty = LLVMIntrinsicGetType(cg->ctx, id, types, n_types);
  return LLVMBuildCall2(cg->b, fty, fn, args, n_args, "");
}

LLVMValueRef jit_intrinsic(jit_cg *cg, const char *name, LLVMTypeRef type, LLVMValueRef *args,
                           unsigned n_args) {
  return intrinsic_n(cg, name, &type, 1, args, n_args);
}

LLVMValueRef jit_fmuladd(jit_cg *cg, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  LLVMValueRef args[3] = {a, b, c};
  return jit_intrinsic(cg, "llvm.fmuladd", LLVMTypeOf(a), args, 3);
}

/* f64 functions with neither an inline expansion nor an LLVM intrinsic: one libm call per
 * lane (resolved from the process when the object is linked). */
static LLVMValueRef libm_per_lane(jit_cg *cg, const char *name, LLVMValueRef x) {
  LLVMTypeRef fty = LLVMFunctionType(cg->f64, &cg->f64, 1, 0);
  LLVMValueRef fn = LLVMGetNamedFunction(cg->mod, name);
  if (!fn) fn = LLVMAddFunction(cg->mod, name, fty);
  LLVMValueRef r = LLVMGetPoison(LLVMTypeOf(x));
  for (unsigned k = 0; k < cg->lanes; k++) {
    LLVMValueRef idx = LLVMConstInt(cg->i32, k, 0);
    LLVMValueRef lane = LLVMBuildExtractElement(cg->b, x, idx, "");
    LLVMValueRef y = LLVMBuildCall2(cg->b, fty, fn, &lane, 1, "");
    r = LLVMBuildInsertElement(cg->b, r, y, idx, "");
  }
  return r;
}

/* ---- one node --------------------------------------------------------------------------- */
/* fn through libmvec, else the LLVM intrinsic (one libm call per lane). */
static LLVMValueRef vector_or_intrinsic(jit_cg *cg, jit_vfn fn, const char *intrinsic,
                                        LLVMValueRef x, LLVMValueRef y) {
  LLVMValueRef v = jit_vlib_call(cg, fn, x, y);
  if (v) return v;
  LLVMValueRef args[2] = {x, y};
  return jit_intrinsic(cg, intrinsic, LLVMTypeOf(x), args, y ? 2 : 1);
}

/* f64 tanh / erf: libmvec, else libm per lane (LLVM has no intrinsic for them). */
static LLVMValueRef vector_or_libm(jit_cg *cg, jit_vfn fn, const char *name, LLVMValueRef x) {
  LLVMValueRef v = jit_vlib_call(cg, fn, x, NULL);
  return v ? v : libm_per_lane(cg, name, x);
}

static LLVMValueRef emit_exp(jit_cg *cg, LLVMValueRef x, int dt) {
  return dt == IVM_DT_F32 ? jit_exp_f32(cg, x) : vector_or_intrinsic(cg, JIT_VFN_EXP, "llvm.exp", x, NULL);
}

static LLVMValueRef emit_unary(jit_cg *cg, int op, int dt, LLVMValueRef x) {
  LLVMBuilderRef b = cg->b;
  LLVMTypeRef t = LLVMTypeOf(x);
  int f32 = dt == IVM_DT_F32;
  switch (op) {
    case RT_EX_NEG: return LLVMBuildFNeg(b, x, "");
    case RT_EX_ABS: return jit_intrinsic(cg, "llvm.fabs", t, &x, 1);
    case RT_EX_EXP: return emit_exp(cg, x, dt);
    case RT_EX_LOG:
      return f32 ? jit_log_f32(cg, x) : vector_or_intrinsic(cg, JIT_VFN_LOG, "llvm.log", x, NULL);
    case RT_EX_SQRT: return jit_intrinsic(cg, "llvm.sqrt", t, &x, 1);
    case RT_EX_TANH: return f32 ? jit_tanh_f32(cg, x) : vector_or_libm(cg, JIT_VFN_TANH, "tanh", x);
    case RT_EX_ERF: return f32 ? jit_erf_f32(cg, x) : vector_or_libm(cg, JIT_VFN_ERF, "erf", x);
    case RT_EX_SIGMOID: {
      LLVMValueRef one = jit_splat_f(cg, t, 1.0);
      LLVMValueRef d = LLVMBuildFAdd(b, one, emit_exp(cg, LLVMBuildFNeg(b, x, ""), dt), "");
      return LLVMBuildFDiv(b, one, d, "");
    }
    case RT_EX_FLOOR: return jit_intrinsic(cg, "llvm.floor", t, &x, 1);
    case RT_EX_CEIL: return jit_intrinsic(cg, "llvm.ceil", t, &x, 1);
    case RT_EX_SIN: return vector_or_intrinsic(cg, JIT_VFN_SIN, "llvm.sin", x, NULL);
    case RT_EX_COS: return vector_or_intrinsic(cg, JIT_VFN_COS, "llvm.cos", x, NULL);
    case RT_EX_RECIP: return LLVMBuildFDiv(b, jit_splat_f(cg, t, 1.0), x, "");
    case RT_EX_NOT: return LLVMBuildNot(b, x, "");
    default: return NULL;
  }
}

static LLVMValueRef emit_binary(jit_cg *cg, int op, LLVMValueRef x, LLVMValueRef y) {
  LLVMBuilderRef b = cg->b;
  LLVMValueRef args[2] = {x, y};
  LLVMTypeRef t = LLVMTypeOf(x);
  switch (op) {
    case RT_EX_ADD: return LLVMBuildFAdd(b, x, y, "");
    case RT_EX_SUB: return LLVMBuildFSub(b, x, y, "");
    case RT_EX_MUL: return LLVMBuildFMul(b, x, y, "");
    case RT_EX_DIV: return LLVMBuildFDiv(b, x, y, "");
    case RT_EX_POW: return vector_or_intrinsic(cg, JIT_VFN_POW, "llvm.pow", x, y);
    case RT_EX_MIN: return jit_intrinsic(cg, "llvm.minnum", t, args, 2);
    case RT_EX_MAX: return jit_intrinsic(cg, "llvm.maxnum", t, args, 2);
    /* Ordered like C's <, <=, ...; != is unordered so NaN != NaN holds. */
    case RT_EX_LT: return LLVMBuildFCmp(b, LLVMRealOLT, x, y, "");
    case RT_EX_LE: return LLVMBuildFCmp(b, LLVMRealOLE, x, y, "");
    case RT_EX_GT: return LLVMBuildFCmp(b, LLVMRealOGT, x, y, "");
    case RT_EX_GE: return LLVMBuildFCmp(b, LLVMRealOGE, x, y, "");
    case RT_EX_EQ: return LLVMBuildFCmp(b, LLVMRealOEQ, x, y, "");
    case RT_EX_NE: return LLVMBuildFCmp(b, LLVMRealUNE, x, y, "");
    case RT_EX_AND: return LLVMBuildAnd(b, x, y, "");
    case RT_EX_OR: return LLVMBuildOr(b, x, y, "");
    default: return NULL;
  }
}

static LLVMTypeRef elem_type(const jit_cg *cg, int dt) {
  return dt == IVM_DT_F64 ? cg->f64 : dt == IVM_DT_F32 ? cg->f32 : cg->i1;
}

static LLVMValueRef emit_const(const jit_cg *cg, const rt_expr_node *nd) {
  if (nd->dtype == IVM_DT_BOOL) return splat_const(cg, LLVMConstInt(cg->i1, nd->value != 0, 0));
  return splat_const(cg, LLVMConstReal(elem_type(cg, nd->dtype), nd->value));
}

/* ---- the loop --------------------------------------------------------------------------- */
typedef struct streams {
  LLVMValueRef *in, *out; /* data pointers, loaded once on entry */
} streams;

static unsigned elem_size(int dt) { return dt == IVM_DT_F64 ? 8 : dt == IVM_DT_F32 ? 4 : 1; }

/* Computes one block of `lanes` elements starting at index i. mask (NULL for a full block)
 * selects the lanes that exist; loads and stores touch only those. */
static void emit_block(jit_cg *cg, const rt_expr *e, const streams *s, LLVMValueRef i,
                       LLVMValueRef mask, LLVMValueRef *vals) {
  LLVMBuilderRef b = cg->b;
  for (uint32_t id = 0; id < e->n_nodes; id++) {
    const rt_expr_node *nd = &e->nodes[id];
    if (nd->op == RT_EX_INPUT) {
      LLVMTypeRef et = elem_type(cg, nd->dtype), vt = jit_vec(cg, et);
      LLVMValueRef p = LLVMBuildGEP2(b, et, s->in[nd->input], &i, 1, "");
      if (mask) {
        LLVMTypeRef types[2] = {vt, cg->ptr};
        LLVMValueRef args[4] = {p, LLVMConstInt(cg->i32, elem_size(nd->dtype), 0), mask,
                                LLVMConstNull(vt)};
        vals[id] = intrinsic_n(cg, "llvm.masked.load", types, 2, args, 4);
      } else {
        vals[id] = LLVMBuildLoad2(b, vt, p, "");
        LLVMSetAlignment(vals[id], elem_size(nd->dtype));
      }
    }
  }
  for (uint32_t id = 0; id < e->n_nodes; id++) {
    const rt_expr_node *nd = &e->nodes[id];
    switch (arity(nd->op)) {
      case 0:
        if (nd->op == RT_EX_CONST) vals[id] = emit_const(cg, nd);
        break;
      case 1: vals[id] = emit_unary(cg, nd->op, nd->dtype, vals[nd->a]); break;
      case 2: vals[id] = emit_binary(cg, nd->op, vals[nd->a], vals[nd->b]); break;
      default: vals[id] = LLVMBuildSelect(b, vals[nd->a], vals[nd->b], vals[nd->c], ""); break;
    }
  }
  for (uint32_t k = 0; k < e->n_outputs; k++) {
    const rt_expr_node *nd = &e->nodes[e->outputs[k]];
    LLVMValueRef v = vals[e->outputs[k]];
    LLVMTypeRef et = elem_type(cg, nd->dtype);
    if (nd->dtype == IVM_DT_BOOL) { /* bools are stored as bytes 0 / 1 */
      et = cg->i8;
      v = LLVMBuildZExt(b, v, jit_vec(cg, et), "");
    }
    LLVMValueRef p = LLVMBuildGEP2(b, et, s->out[k], &i, 1, "");
    if (mask) {
      LLVMTypeRef types[2] = {jit_vec(cg, et), cg->ptr};
      LLVMValueRef args[4] = {v, p, LLVMConstInt(cg->i32, elem_size(nd->dtype), 0), mask};
      intrinsic_n(cg, "llvm.masked.store", types, 2, args, 4);
    } else {
      LLVMSetAlignment(LLVMBuildStore(b, v, p), elem_size(nd->dtype));
    }
  }
}

/* Lanes whose index i + k is below n, for the tail block (0 < n - i < lanes). */
static LLVMValueRef tail_mask(jit_cg *cg, LLVMValueRef i, LLVMValueRef n) {
  LLVMBuilderRef b = cg->b;
  LLVMValueRef rem = LLVMBuildTrunc(b, LLVMBuildSub(b, n, i, ""), cg->i32, "rem");
  LLVMTypeRef vt = jit_vec(cg, cg->i32);
  LLVMValueRef splat = LLVMBuildInsertElement(b, LLVMGetPoison(vt), rem, LLVMConstInt(cg->i32, 0, 0), "");
  splat = LLVMBuildShuffleVector(b, splat, LLVMGetPoison(vt), LLVMConstNull(vt), "");
  LLVMValueRef iota[JIT_MAX_LANES];
  for (unsigned k = 0; k < cg->lanes; k++) iota[k] = LLVMConstInt(cg->i32, k, 0);
  return LLVMBuildICmp(b, LLVMIntULT, LLVMConstVector(iota, cg->lanes), splat, "mask");
}

ivm_status jit_codegen_function(jit_cg *cg, const rt_expr *e, const char *symbol) {
  if (cg->lanes == 0 || cg->lanes > JIT_MAX_LANES)
    return ivm_error(IVM_ERR_INTERNAL, "jit: %u lanes per vector is out of range", cg->lanes);
  LLVMBuilderRef b = cg->b;
  LLVMTypeRef params[3] = {cg->i64, cg->ptr, cg->ptr};
  LLVMValueRef fn = LLVMAddFunction(cg->mod, symbol, LLVMFunctionType(LLVMVoidTypeInContext(cg->ctx),
                                                                       params, 3, 0));
  unsigned nounwind = LLVMGetEnumAttributeKindForName("nounwind", 8);
  LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(cg->ctx, nounwind, 0));
  LLVMValueRef n = LLVMGetParam(fn, 0), in = LLVMGetParam(fn, 1), out = LLVMGetParam(fn, 2);

  size_t n_ptrs = (size_t)e->n_inputs + e->n_outputs;
  LLVMValueRef *ptrs = malloc((n_ptrs ? n_ptrs : 1) * sizeof *ptrs);
  LLVMValueRef *vals = malloc((e->n_nodes ? e->n_nodes : 1) * sizeof *vals);
  if (!ptrs || !vals) {
    free(ptrs);
    free(vals);
    return ivm_error(IVM_ERR_OUT_OF_MEMORY, "jit: out of memory generating '%s'", symbol);
  }
  streams s = {ptrs, ptrs + e->n_inputs};

  LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(cg->ctx, fn, "entry");
  LLVMBasicBlockRef main_pre = LLVMAppendBasicBlockInContext(cg->ctx, fn, "main.pre");
  LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(cg->ctx, fn, "main");
  LLVMBasicBlockRef tail_check = LLVMAppendBasicBlockInContext(cg->ctx, fn, "tail.check");
  LLVMBasicBlockRef tail = LLVMAppendBasicBlockInContext(cg->ctx, fn, "tail");
  LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(cg->ctx, fn, "done");

  LLVMPositionBuilderAtEnd(b, entry);
  for (uint32_t k = 0; k < e->n_inputs; k++) {
    LLVMValueRef idx = LLVMConstInt(cg->i64, k, 0);
    ptrs[k] = LLVMBuildLoad2(b, cg->ptr, LLVMBuildGEP2(b, cg->ptr, in, &idx, 1, ""), "");
  }
  for (uint32_t k = 0; k < e->n_outputs; k++) {
    LLVMValueRef idx = LLVMConstInt(cg->i64, k, 0);
    s.out[k] = LLVMBuildLoad2(b, cg->ptr, LLVMBuildGEP2(b, cg->ptr, out, &idx, 1, ""), "");
  }
  LLVMValueRef zero = LLVMConstInt(cg->i64, 0, 0);
  LLVMValueRef n_full = LLVMBuildAnd(b, n, LLVMConstInt(cg->i64, -(int64_t)cg->lanes, 1), "n.full");
  LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSGT, n, zero, ""), main_pre, done);

  LLVMPositionBuilderAtEnd(b, main_pre);
  LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSGT, n_full, zero, ""), body, tail_check);

  LLVMPositionBuilderAtEnd(b, body);
  LLVMValueRef i = LLVMBuildPhi(b, cg->i64, "i");
  emit_block(cg, e, &s, i, NULL, vals);
  LLVMValueRef next = LLVMBuildAdd(b, i, LLVMConstInt(cg->i64, cg->lanes, 0), "i.next");
  LLVMBasicBlockRef body_end = LLVMGetInsertBlock(b);
  LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, next, n_full, ""), body, tail_check);
  LLVMValueRef in_vals[2] = {zero, next};
  LLVMBasicBlockRef in_blocks[2] = {main_pre, body_end};
  LLVMAddIncoming(i, in_vals, in_blocks, 2);

  LLVMPositionBuilderAtEnd(b, tail_check);
  LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, n_full, n, ""), tail, done);

  LLVMPositionBuilderAtEnd(b, tail);
  emit_block(cg, e, &s, n_full, tail_mask(cg, n_full, n), vals);
  LLVMBuildBr(b, done);

  LLVMPositionBuilderAtEnd(b, done);
  LLVMBuildRetVoid(b);
  free(ptrs);
  free(vals);
  return NULL;
}
