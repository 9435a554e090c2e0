/* Elementwise expressions: the one IR behind `ivm.expr` instructions (parsed from text)
 * and the JIT's fused elementwise regions (built from chains of built-in instructions).
 *
 * An rt_expr is a DAG of scalar operations over n_inputs input streams, producing
 * n_outputs output streams, all of the same length n. It is evaluated either by the
 * interpreter here (rt_expr_eval) or by native code the JIT compiles from it (rt_expr_fn);
 * both have the same contract and give the same results within 1e-5 relative.
 *
 * Types: each node has a dtype: IVM_DT_F32, IVM_DT_F64 or IVM_DT_BOOL (comparisons and
 * logic). Inputs are f32 or f64; an expression never mixes the two (the type check refuses
 * it). Numeric literals take the float type of the expression. Outputs are f32/f64, or
 * bool (stored as one byte, 0 or 1). */
#ifndef IVM_RUNTIME_EXPR_H
#define IVM_RUNTIME_EXPR_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/rt.h"

typedef enum rt_expr_opcode {
  RT_EX_INPUT = 0, /* operand `input`: input stream index */
  RT_EX_CONST,     /* `value` (converted to the node's dtype) */
  /* unary (a) */
  RT_EX_NEG, RT_EX_ABS, RT_EX_EXP, RT_EX_LOG, RT_EX_SQRT, RT_EX_TANH, RT_EX_SIGMOID,
  RT_EX_ERF, RT_EX_FLOOR, RT_EX_CEIL, RT_EX_SIN, RT_EX_COS, RT_EX_RECIP, RT_EX_NOT,
  /* binary (a, b) */
  RT_EX_ADD, RT_EX_SUB, RT_EX_MUL, RT_EX_DIV, RT_EX_POW, RT_EX_MIN, RT_EX_MAX,
  RT_EX_LT, RT_EX_LE, RT_EX_GT, RT_EX_GE, RT_EX_EQ, RT_EX_NE, /* -> bool */
  RT_EX_AND, RT_EX_OR,                                         /* bool, bool -> bool */
  /* ternary */
  RT_EX_WHERE, /* a (bool) ? b : c */
  RT_EX_OPCODE_COUNT
} rt_expr_opcode;

const char *rt_expr_opcode_name(int op); /* "add", "sigmoid", ... (also the parser's names) */

typedef struct rt_expr_node {
  uint8_t op;    /* rt_expr_opcode */
  uint8_t dtype; /* IVM_DT_F32 / F64 / BOOL */
  uint32_t a, b, c; /* operand node ids (< this node's id), by arity */
  uint32_t input;   /* RT_EX_INPUT */
  double value;     /* RT_EX_CONST */
} rt_expr_node;

typedef struct rt_expr {
  uint32_t n_nodes;
  rt_expr_node *nodes; /* topological order: operands precede their users */
  uint32_t n_inputs;
  uint8_t *in_dtypes;  /* n_inputs */
  uint32_t n_outputs;
  uint32_t *outputs;   /* node ids; the output's dtype is its node's */
} rt_expr;

/* ---- building --------------------------------------------------------------------- */
/* Builders add nodes with type checking; the parser uses them, and so does the JIT's
 * fusion pass. Adding an identical node twice returns the first (common subexpressions
 * are shared). Errors: type mismatches (an f64 operand in an f32 expression, a bool where
 * a number is needed) as IVM_ERR_INVALID_ARGUMENT. */
typedef struct rt_expr_builder rt_expr_builder;

ivm_status rt_expr_builder_create(rt_expr_builder **out);
void rt_expr_builder_destroy(rt_expr_builder *b);
/* Declares the next input stream (ids 0, 1, ...) with its dtype (f32 or f64). */
ivm_status rt_expr_add_input(rt_expr_builder *b, uint8_t dtype, uint32_t *out_node);
ivm_status rt_expr_add_const(rt_expr_builder *b, uint8_t dtype, double value, uint32_t *out_node);
/* Unary, binary or ternary op by arity; unused operands are ignored. */
ivm_status rt_expr_add_op(rt_expr_builder *b, rt_expr_opcode op, uint32_t a, uint32_t b_,
                          uint32_t c, uint32_t *out_node);
ivm_status rt_expr_add_output(rt_expr_builder *b, uint32_t node);
/* Moves the result out (the builder is left empty). Drops nodes no output uses. */
ivm_status rt_expr_builder_finish(rt_expr_builder *b, rt_expr **out);

void rt_expr_free(rt_expr *e);

/* ---- the expression language (ivm.expr) ----------------------------------------------
 * expr       := or ; or := and ('||' and)* ; and := cmp ('&&' cmp)*
 * cmp        := add (('<'|'<='|'>'|'>='|'=='|'!=') add)?
 * add        := mul (('+'|'-') mul)* ; mul := unary (('*'|'/') unary)*
 * unary      := ('-'|'!') unary | pow ; pow := atom ('^' unary)?   (also '**')
 * atom       := NUMBER | NAME | NAME '(' expr (',' expr)* ')' | '(' expr ')'
 * Functions: abs exp log sqrt tanh sigmoid erf floor ceil sin cos min max pow where relu
 * (relu(x) = max(x, 0)), plus the constants pi and e. NAME is an input or a parameter.
 * Errors name the expression and the 1-based column: "expr 'x * sigmod(x)': unknown
 * function 'sigmod' at column 5". */
typedef struct rt_expr_source {
  const char *text;
  uint32_t n_inputs;
  const char *const *input_names; /* n_inputs names; NULL: the defaults x, y, z, w (inputs
                                   * 0..3) and in0, in1, ... (every input) */
  const uint8_t *input_dtypes;    /* n_inputs dtypes (f32 / f64) */
  uint32_t n_params;
  const char *const *param_names; /* named constants */
  const double *param_values;
} rt_expr_source;

/* Parses and type-checks; one output (the expression's value). */
ivm_status rt_expr_parse(const rt_expr_source *src, rt_expr **out);

/* ---- evaluation ------------------------------------------------------------------- */
/* in[k]: n contiguous elements of input k's dtype; out[k]: n elements of output k's. An
 * output may be the very buffer of an input (element k is read before it is written), but
 * must not partly overlap one. */
typedef void (*rt_expr_fn)(int64_t n, const void *const *in, void *const *out);

/* The interpreter (same contract as rt_expr_fn). */
void rt_expr_eval(const rt_expr *e, int64_t n, const void *const *in, void *const *out);

/* Runs e over a kernel call: inputs broadcast numpy-style to the outputs' shape (all
 * outputs have one shape, set by the caller). native, when not NULL, is e compiled by the
 * JIT; else the interpreter runs. Broadcast inputs are expanded block by block into
 * call->scratch, so the evaluated loop always sees contiguous streams. */
ivm_status rt_expr_run(const rt_expr *e, rt_expr_fn native, const rt_call *call);

/* A canonical byte string for e (the JIT's cache key); malloc'd. */
ivm_status rt_expr_serialize(const rt_expr *e, uint8_t **out, size_t *out_len);

/* ---- the ivm.expr instruction ------------------------------------------------------- */
/* Per-instruction state (call->state) of an ivm.expr op: the parsed expression, and the
 * native code the JIT backend put in place of the interpreter (NULL until then). */
typedef struct rt_expr_op_state {
  rt_expr *expr;
  rt_expr_fn native;
} rt_expr_op_state;

#endif
