/* Fusion of elementwise chains: consecutive built-in f32 elementwise instructions with
 * static shapes become one rt_expr DAG, compiled to one native loop that reads each
 * input once and writes only the values someone reads afterwards.
 *
 * A region i..j runs as one instruction at j (its inputs are all defined before i;
 * instructions are in dependency order); i..j-1 become no-ops. Values produced inside
 * the region and read by nothing outside it are never stored. */
#include <stdlib.h>
#include <string.h>

#include "jit/fuse.h"

/* Fusion pays for its compile (10-100 ms a region, once; cached after) by saving memory
 * passes, which tiny tensors do not need: the interpreter dispatches an instruction in
 * ~20 ns. A cap on region length bounds one compile. $IVM_JIT_FUSE_MIN_ELEMENTS lowers
 * the size floor so that tests can fuse the conformance suite's small tensors. */
#define FUSE_MIN_ELEMENTS 1024
#define FUSE_MAX_INSTRUCTIONS 256

static int64_t fuse_min_elements(void) {
  const char *e = getenv("IVM_JIT_FUSE_MIN_ELEMENTS");
  char *end;
  long long v = e && *e ? strtoll(e, &end, 10) : -1;
  return v >= 1 && !*end ? v : FUSE_MIN_ELEMENTS;
}

static ivm_status nop_kernel(const rt_call *call) {
  (void)call;
  return NULL;
}

static ivm_status fused_kernel(const rt_call *call) {
  const jit_fused *f = call->state;
  return rt_expr_run(f->expr, f->fn, call);
}

/* The descriptor fused instructions show in messages ("instruction 7 (Fused...)"). */
static ivm_status fused_infer(isa_infer_ctx *ctx) {
  (void)ctx;
  return ivm_error(IVM_ERR_INTERNAL, "a fused region is never re-inferred");
}
static const isa_op_desc fused_desc = {"ivm.jit", "FusedElementwise", 1, 0, ISA_VARIADIC, 1,
                                       ISA_VARIADIC, ISA_OPF_ELEMENTWISE, ISA_OP_KIND_BUILTIN, 0,
                                       NULL, fused_infer, "Y... := f(X...)",
                                       "A chain of elementwise instructions the JIT fused."};

static int is_op(const vm_instr *in, isa_builtin_op op) { return in->desc == isa_builtin_desc(op); }

static const struct {
  isa_builtin_op op;
  rt_expr_opcode ex; /* RT_EX_INPUT: built from several nodes below */
} direct_ops[] = {
    {ISA_OP_Add, RT_EX_ADD},          {ISA_OP_Sub, RT_EX_SUB},     {ISA_OP_Mul, RT_EX_MUL},
    {ISA_OP_Div, RT_EX_DIV},          {ISA_OP_Pow, RT_EX_POW},     {ISA_OP_Sigmoid, RT_EX_SIGMOID},
    {ISA_OP_Tanh, RT_EX_TANH},        {ISA_OP_Exp, RT_EX_EXP},     {ISA_OP_Log, RT_EX_LOG},
    {ISA_OP_Neg, RT_EX_NEG},          {ISA_OP_Abs, RT_EX_ABS},     {ISA_OP_Sqrt, RT_EX_SQRT},
    {ISA_OP_Reciprocal, RT_EX_RECIP}, {ISA_OP_Floor, RT_EX_FLOOR}, {ISA_OP_Ceil, RT_EX_CEIL},
    {ISA_OP_Erf, RT_EX_ERF},          {ISA_OP_Sin, RT_EX_SIN},     {ISA_OP_Cos, RT_EX_COS},
    {ISA_OP_Relu, RT_EX_INPUT},       {ISA_OP_LeakyRelu, RT_EX_INPUT},
    {ISA_OP_Elu, RT_EX_INPUT},        {ISA_OP_HardSigmoid, RT_EX_INPUT},
    {ISA_OP_Softplus, RT_EX_INPUT},   {ISA_OP_Softsign, RT_EX_INPUT},
    {ISA_OP_Clip, RT_EX_INPUT},       {ISA_OP_FusedMulAdd, RT_EX_INPUT},
};

static int fusable_op(const vm_instr *in, rt_expr_opcode *ex) {
  for (size_t k = 0; k < sizeof direct_ops / sizeof direct_ops[0]; k++)
    if (is_op(in, direct_ops[k].op)) {
      *ex = direct_ops[k].ex;
      return 1;
    }
  return 0;
}

static int same_shape(const isa_tensor_rec *a, const isa_module *v, const isa_tensor_rec *b) {
  if (a->rank != b->rank) return 0;
  for (int k = 0; k < a->rank; k++)
    if (v->dims[a->dims + k] != v->dims[b->dims + k]) return 0;
  return 1;
}

static int64_t rec_numel(const isa_module *v, const isa_tensor_rec *r) {
  int64_t n = 1;
  for (int k = 0; k < r->rank; k++) n *= v->dims[r->dims + k];
  return n;
}

/* A CONST f32 tensor of one element: its value becomes a constant in the DAG. */
static int const_scalar(const isa_module *v, uint32_t t, float *out) {
  const isa_tensor_rec *r = &v->tensors[t];
  if (r->kind != ISA_TK_CONST || r->dtype != IVM_DT_F32 || rec_numel(v, r) != 1) return 0;
  memcpy(out, v->consts + r->offset, sizeof *out);
  return 1;
}

/* Can instruction i join a region whose output shape is that of tensor `shape_of`
 * (ISA_NO_TENSOR: i starts the region)? */
static int candidate(const ivm_module *m, uint32_t i, uint32_t shape_of, int64_t min_elements) {
  const isa_module *v = &m->view;
  const vm_instr *in = &m->instrs[i];
  rt_expr_opcode ex;
  if (in->ctl || in->needs_infer || in->state || in->n_out != 1 || !fusable_op(in, &ex))
    return 0;
  for (uint32_t k = 0; k < (uint32_t)in->n_in + in->n_out; k++) {
    uint32_t t = in->operands[k];
    if (t == ISA_NO_TENSOR) {
      if (k < in->n_in && is_op(in, ISA_OP_Clip)) continue; /* absent bound */
      return 0;
    }
    const isa_tensor_rec *r = &v->tensors[t];
    if (r->kind == ISA_TK_DYNAMIC || r->dtype != IVM_DT_F32 || r->flags) return 0;
  }
  if (is_op(in, ISA_OP_Clip)) /* only constant scalar bounds */
    for (uint32_t k = 1; k < in->n_in; k++) {
      float b;
      if (in->operands[k] != ISA_NO_TENSOR && !const_scalar(v, in->operands[k], &b)) return 0;
    }
  const isa_tensor_rec *out = &v->tensors[in->operands[in->n_in]];
  if (out->kind != ISA_TK_ARENA) return 0;
  if (shape_of == ISA_NO_TENSOR) return rec_numel(v, out) >= min_elements;
  return same_shape(out, v, &v->tensors[shape_of]);
}

typedef struct region_builder {
  const ivm_module *m;
  uint32_t first, last;
  rt_expr_builder *b;
  uint32_t *node_of; /* tensor -> DAG node + 1 (0: none yet) */
  uint32_t *inputs;  /* external input tensors, in input-stream order */
  uint32_t n_inputs;
} region_builder;

static ivm_status value_of(region_builder *rb, uint32_t t, uint32_t *node) {
  if (rb->node_of[t]) {
    *node = rb->node_of[t] - 1;
    return NULL;
  }
  float c;
  if (const_scalar(&rb->m->view, t, &c)) {
    IVM_TRY(rt_expr_add_const(rb->b, IVM_DT_F32, c, node));
  } else {
    IVM_TRY(rt_expr_add_input(rb->b, IVM_DT_F32, node));
    rb->inputs[rb->n_inputs++] = t;
  }
  rb->node_of[t] = *node + 1;
  return NULL;
}

#define K(v) IVM_TRY(rt_expr_add_const(b, IVM_DT_F32, (v), &c))
#define OP(op, a_, b_, c_, out) IVM_TRY(rt_expr_add_op(b, op, a_, b_, c_, out))

/* Adds instruction i's computation; *out is its result node. */
static ivm_status add_instr(region_builder *rb, uint32_t i, uint32_t *out) {
  const vm_instr *in = &rb->m->instrs[i];
  rt_expr_builder *b = rb->b;
  uint32_t x, y = 0, c, t1, t2, t3;
  IVM_TRY(value_of(rb, in->operands[0], &x));
  rt_expr_opcode ex = RT_EX_INPUT;
  fusable_op(in, &ex);
  if (ex != RT_EX_INPUT) {
    if (in->n_in > 1) IVM_TRY(value_of(rb, in->operands[1], &y));
    OP(ex, x, y, 0, out);
  } else if (is_op(in, ISA_OP_FusedMulAdd)) { /* x * y + z, the product rounded first */
    IVM_TRY(value_of(rb, in->operands[1], &y));
    IVM_TRY(value_of(rb, in->operands[2], &t3));
    OP(RT_EX_MUL, x, y, 0, &t1);
    OP(RT_EX_ADD, t1, t3, 0, out);
  } else if (is_op(in, ISA_OP_Relu)) { /* x > 0 ? x : 0 (NaN -> 0, as the kernel) */
    K(0.0);
    OP(RT_EX_GT, x, c, 0, &t1);
    OP(RT_EX_WHERE, t1, x, c, out);
  } else if (is_op(in, ISA_OP_LeakyRelu)) { /* x < 0 ? alpha * x : x */
    K(0.0);
    OP(RT_EX_LT, x, c, 0, &t1);
    K(in->attrs[ISA_A_LeakyRelu_alpha].v.f);
    OP(RT_EX_MUL, c, x, 0, &t2);
    OP(RT_EX_WHERE, t1, t2, x, out);
  } else if (is_op(in, ISA_OP_Elu)) { /* x < 0 ? alpha * (exp(x) - 1) : x */
    K(0.0);
    OP(RT_EX_LT, x, c, 0, &t1);
    OP(RT_EX_EXP, x, 0, 0, &t2);
    K(1.0);
    OP(RT_EX_SUB, t2, c, 0, &t2);
    K(in->attrs[ISA_A_Elu_alpha].v.f);
    OP(RT_EX_MUL, c, t2, 0, &t2);
    OP(RT_EX_WHERE, t1, t2, x, out);
  } else if (is_op(in, ISA_OP_HardSigmoid)) { /* clamp(alpha * x + beta, 0, 1) */
    K(in->attrs[ISA_A_HardSigmoid_alpha].v.f);
    OP(RT_EX_MUL, c, x, 0, &t1);
    K(in->attrs[ISA_A_HardSigmoid_beta].v.f);
    OP(RT_EX_ADD, t1, c, 0, &t1);
    K(0.0);
    OP(RT_EX_MAX, t1, c, 0, &t1);
    K(1.0);
    OP(RT_EX_MIN, t1, c, 0, out);
  } else if (is_op(in, ISA_OP_Softplus)) { /* max(x, 0) + log(1 + exp(-|x|)): no overflow */
    K(0.0);
    OP(RT_EX_MAX, x, c, 0, &t1);
    OP(RT_EX_ABS, x, 0, 0, &t2);
    OP(RT_EX_NEG, t2, 0, 0, &t2);
    OP(RT_EX_EXP, t2, 0, 0, &t2);
    K(1.0);
    OP(RT_EX_ADD, c, t2, 0, &t2);
    OP(RT_EX_LOG, t2, 0, 0, &t2);
    OP(RT_EX_ADD, t1, t2, 0, out);
  } else if (is_op(in, ISA_OP_Softsign)) { /* x / (1 + |x|) */
    OP(RT_EX_ABS, x, 0, 0, &t1);
    K(1.0);
    OP(RT_EX_ADD, c, t1, 0, &t1);
    OP(RT_EX_DIV, x, t1, 0, out);
  } else if (is_op(in, ISA_OP_Clip)) { /* comparisons keep NaN, as the kernel does */
    t3 = x;
    float lo, hi;
    if (in->n_in > 1 && in->operands[1] != ISA_NO_TENSOR &&
        const_scalar(&rb->m->view, in->operands[1], &lo)) {
      K(lo);
      OP(RT_EX_LT, t3, c, 0, &t1);
      OP(RT_EX_WHERE, t1, c, t3, &t3);
    }
    if (in->n_in > 2 && in->operands[2] != ISA_NO_TENSOR &&
        const_scalar(&rb->m->view, in->operands[2], &hi)) {
      K(hi);
      OP(RT_EX_GT, t3, c, 0, &t1);
      OP(RT_EX_WHERE, t1, c, t3, &t3);
    }
    *out = t3;
  } else {
    return ivm_error(IVM_ERR_INTERNAL, "fusion: op %s has no expression", in->desc->name);
  }
  rb->node_of[in->operands[in->n_in]] = *out + 1;
  return NULL;
}
#undef K
#undef OP

/* Is tensor t read by an instruction outside [first, last], or a graph output? */
static int read_outside(const ivm_module *m, uint32_t t, uint32_t first, uint32_t last) {
  const isa_module *v = &m->view;
  for (uint32_t k = 0; k < v->n_outputs; k++)
    if (v->outputs[k] == t) return 1;
  for (uint32_t i = 0; i < v->n_instrs; i++) {
    if (i >= first && i <= last) continue;
    const vm_instr *in = &m->instrs[i];
    for (uint32_t k = 0; k < in->n_in; k++)
      if (in->operands[k] == t) return 1;
  }
  return 0;
}

/* A stored output may take exactly an input's storage (the planner reuses a dead input's
 * memory): element k is read before it is written in both the native loop and the
 * interpreter's blocks. Any other overlap could overwrite values not yet read. */
static int unsafe_overlap(const isa_tensor_rec *a, const isa_tensor_rec *b) {
  if (a->kind != ISA_TK_ARENA || b->kind != ISA_TK_ARENA) return 0;
  if (a->offset == b->offset && a->size == b->size) return 0;
  return a->offset < b->offset + b->size && b->offset < a->offset + a->size;
}

/* Builds region [first, last] into f (DAG, operand list). *ok = 0 when it must not be
 * fused: a stored output partly overlaps an input's arena memory. */
static ivm_status build_region(const ivm_module *m, uint32_t first, uint32_t last, jit_fused *f,
                               int *ok) {
  const isa_module *v = &m->view;
  region_builder rb = {m, first, last, NULL, NULL, NULL, 0};
  *ok = 0;
  rb.node_of = calloc(v->n_tensors + 1, sizeof *rb.node_of);
  uint32_t n_ops = 0;
  for (uint32_t i = first; i <= last; i++) n_ops += (uint32_t)m->instrs[i].n_in + 1;
  rb.inputs = calloc(n_ops + 1, sizeof *rb.inputs);
  uint32_t *outs = calloc(n_ops + 1, sizeof *outs), n_outs = 0;
  ivm_status st = rb.node_of && rb.inputs && outs ? rt_expr_builder_create(&rb.b)
                                                   : ivm_error(IVM_ERR_OUT_OF_MEMORY, "jit: out of memory");
  for (uint32_t i = first; !st && i <= last; i++) {
    uint32_t node;
    st = add_instr(&rb, i, &node);
    uint32_t t = m->instrs[i].operands[m->instrs[i].n_in];
    if (!st && read_outside(m, t, first, last)) {
      st = rt_expr_add_output(rb.b, node);
      outs[n_outs++] = t;
    }
  }
  int safe = n_outs > 0;
  for (uint32_t a = 0; !st && a < n_outs && safe; a++)
    for (uint32_t k = 0; k < rb.n_inputs && safe; k++)
      if (unsafe_overlap(&v->tensors[outs[a]], &v->tensors[rb.inputs[k]])) safe = 0;
  if (!st && safe) {
    st = rt_expr_builder_finish(rb.b, &f->expr);
    f->n_in = rb.n_inputs;
    f->n_out = n_outs;
    f->operands = st ? NULL : malloc((rb.n_inputs + n_outs) * sizeof *f->operands);
    if (!st && !f->operands) st = ivm_error(IVM_ERR_OUT_OF_MEMORY, "jit: out of memory");
    if (!st) {
      memcpy(f->operands, rb.inputs, rb.n_inputs * sizeof *f->operands);
      memcpy(f->operands + rb.n_inputs, outs, n_outs * sizeof *f->operands);
      *ok = 1;
    }
  }
  rt_expr_builder_destroy(rb.b);
  free(rb.node_of);
  free(rb.inputs);
  free(outs);
  return st;
}

void jit_fused_free(jit_fused *f) {
  if (!f) return;
  rt_expr_free(f->expr);
  free(f->operands);
  free(f);
}

ivm_status jit_fuse_module(ivm_module *m, jit_engine *engine, jit_fused **list) {
  const isa_module *v = &m->view;
  int64_t min_elements = fuse_min_elements();
  for (uint32_t i = 0; i < v->n_instrs;) {
    if (!candidate(m, i, ISA_NO_TENSOR, min_elements)) {
      i++;
      continue;
    }
    uint32_t shape_of = m->instrs[i].operands[m->instrs[i].n_in], j = i;
    while (j + 1 < v->n_instrs && j + 1 - i < FUSE_MAX_INSTRUCTIONS &&
           candidate(m, j + 1, shape_of, min_elements))
      j++;
    if (j == i) {
      i++;
      continue;
    }
    jit_fused *f = calloc(1, sizeof *f);
    if (!f) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "jit: out of memory");
    int ok = 0;
    ivm_status st = build_region(m, i, j, f, &ok);
    if (!st && ok) st = jit_compile(engine, f->expr, &f->fn);
    if (st || !ok) {
      jit_fused_free(f);
      if (st) return st;
      i = j + 1;
      continue;
    }
    f->next = *list;
    *list = f;
    for (uint32_t k = i; k < j; k++) {
      vm_instr *in = &m->instrs[k];
      in->kernel = nop_kernel;
      in->n_in = in->n_out = 0;
    }
    vm_instr *last = &m->instrs[j];
    last->kernel = fused_kernel;
    last->state = f;
    last->desc = &fused_desc;
    last->attrs = NULL;
    last->operands = f->operands;
    last->n_in = (uint16_t)f->n_in;
    last->n_out = (uint16_t)f->n_out;
    m->stats.fused_regions++;
    m->stats.fused_instructions += j - i + 1;
    i = j + 1;
  }
  return NULL;
}
