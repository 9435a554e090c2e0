/* The expression IR behind ivm.expr (runtime/expr.h): the opcode table, the builder (type
 * checking, sharing of identical nodes, dropping dead nodes), the text parser and the
 * canonical serializer. The interpreter and the kernel driver are in runtime/expr_op.c.
 *
 * Thread-safety: a builder is used by one thread at a time; a finished rt_expr is
 * immutable and may be read (evaluated, serialized) by any number of threads. */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/expr.h"

#define EX_MAX_NODES (1u << 24)    /* keeps node-id and size arithmetic far from overflow */
#define EX_PARSE_MAX_NODES 65536u  /* bounds the work one hostile expression text can cause */
#define EX_PARSE_MAX_DEPTH 256     /* nesting bound: the parser recurses */
#define EX_SHOWN 60                /* an expression is quoted in messages up to this length */
#define EX_SERIAL_VERSION 1        /* bump when the byte layout of rt_expr_serialize changes */

/* ---- opcodes -------------------------------------------------------------------------- */
/* Operand and result typing, by opcode: LEAF (input, const), FLOAT (numbers -> number of
 * the same dtype), CMP (numbers -> bool), LOGIC (bools -> bool), WHERE (bool, n, n -> n). */
enum { EXK_LEAF, EXK_FLOAT, EXK_CMP, EXK_LOGIC, EXK_WHERE };

typedef struct ex_opinfo {
  const char *name;
  uint8_t arity, kind;
} ex_opinfo;

static const ex_opinfo ex_ops[RT_EX_OPCODE_COUNT] = {
    [RT_EX_INPUT] = {"input", 0, EXK_LEAF},   [RT_EX_CONST] = {"const", 0, EXK_LEAF},
    [RT_EX_NEG] = {"neg", 1, EXK_FLOAT},      [RT_EX_ABS] = {"abs", 1, EXK_FLOAT},
    [RT_EX_EXP] = {"exp", 1, EXK_FLOAT},      [RT_EX_LOG] = {"log", 1, EXK_FLOAT},
    [RT_EX_SQRT] = {"sqrt", 1, EXK_FLOAT},    [RT_EX_TANH] = {"tanh", 1, EXK_FLOAT},
    [RT_EX_SIGMOID] = {"sigmoid", 1, EXK_FLOAT}, [RT_EX_ERF] = {"erf", 1, EXK_FLOAT},
    [RT_EX_FLOOR] = {"floor", 1, EXK_FLOAT},  [RT_EX_CEIL] = {"ceil", 1, EXK_FLOAT},
    [RT_EX_SIN] = {"sin", 1, EXK_FLOAT},      [RT_EX_COS] = {"cos", 1, EXK_FLOAT},
    [RT_EX_RECIP] = {"recip", 1, EXK_FLOAT},  [RT_EX_NOT] = {"not", 1, EXK_LOGIC},
    [RT_EX_ADD] = {"add", 2, EXK_FLOAT},      [RT_EX_SUB] = {"sub", 2, EXK_FLOAT},
    [RT_EX_MUL] = {"mul", 2, EXK_FLOAT},      [RT_EX_DIV] = {"div", 2, EXK_FLOAT},
    [RT_EX_POW] = {"pow", 2, EXK_FLOAT},      [RT_EX_MIN] = {"min", 2, EXK_FLOAT},
    [RT_EX_MAX] = {"max", 2, EXK_FLOAT},      [RT_EX_LT] = {"lt", 2, EXK_CMP},
    [RT_EX_LE] = {"le", 2, EXK_CMP},          [RT_EX_GT] = {"gt", 2, EXK_CMP},
    [RT_EX_GE] = {"ge", 2, EXK_CMP},          [RT_EX_EQ] = {"eq", 2, EXK_CMP},
    [RT_EX_NE] = {"ne", 2, EXK_CMP},          [RT_EX_AND] = {"and", 2, EXK_LOGIC},
    [RT_EX_OR] = {"or", 2, EXK_LOGIC},        [RT_EX_WHERE] = {"where", 3, EXK_WHERE},
};

const char *rt_expr_opcode_name(int op) {
  return op >= 0 && op < RT_EX_OPCODE_COUNT && ex_ops[op].name ? ex_ops[op].name : "?";
}

static int ex_is_float(int dt) { return dt == IVM_DT_F32 || dt == IVM_DT_F64; }

/* ---- builder -------------------------------------------------------------------------- */
struct rt_expr_builder {
  rt_expr_node *nodes;
  uint32_t n_nodes, cap_nodes;
  uint8_t *in_dtypes;
  uint32_t n_inputs, cap_inputs;
  uint32_t *outputs;
  uint32_t n_outputs, cap_outputs;
  uint8_t float_dt; /* the expression's float type; IVM_DT_NONE until the first leaf */
  uint32_t *table;  /* sharing: open-addressed hash of node ids + 1 (0 = empty) */
  uint32_t table_cap; /* power of two, at least twice n_nodes */
};

/* Room for `need` elements: p itself, a grown copy, or NULL (p still valid) when out of
 * memory. *cap is updated only on success. */
static void *ex_reserve(void *p, uint32_t *cap, uint32_t need, size_t elem) {
  if (need <= *cap) return p;
  uint32_t c = *cap ? *cap : 16;
  while (c < need) c *= 2;
  void *q = realloc(p, (size_t)c * elem);
  if (q) *cap = c;
  return q;
}

static ivm_status ex_oom(void) {
  return ivm_error(IVM_ERR_OUT_OF_MEMORY, "expression: out of memory");
}

static uint64_t ex_mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  return x ^ (x >> 33);
}

static uint64_t ex_value_bits(double v) {
  uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  return bits;
}

static uint64_t ex_node_hash(const rt_expr_node *n) {
  uint64_t h = ex_mix((uint64_t)n->op | (uint64_t)n->dtype << 8 | (uint64_t)n->input << 16);
  h = ex_mix(h ^ ((uint64_t)n->a | (uint64_t)n->b << 32));
  h = ex_mix(h ^ n->c);
  return ex_mix(h ^ ex_value_bits(n->value));
}

/* Nodes are normalised (unused fields zero), so equal fields mean the same operation;
 * constants compare by bits (0.0 and -0.0 differ, a NaN equals itself). */
static int ex_node_same(const rt_expr_node *x, const rt_expr_node *y) {
  return x->op == y->op && x->dtype == y->dtype && x->a == y->a && x->b == y->b &&
         x->c == y->c && x->input == y->input && ex_value_bits(x->value) == ex_value_bits(y->value);
}

static void ex_table_put(uint32_t *table, uint32_t cap, const rt_expr_node *nodes, uint32_t id) {
  uint32_t i = (uint32_t)ex_node_hash(&nodes[id]) & (cap - 1);
  while (table[i]) i = (i + 1) & (cap - 1);
  table[i] = id + 1;
}

/* Appends node (or finds its twin) and returns its id. */
static ivm_status ex_intern(rt_expr_builder *b, const rt_expr_node *node, uint32_t *out) {
  if (b->table_cap) {
    uint32_t i = (uint32_t)ex_node_hash(node) & (b->table_cap - 1);
    for (; b->table[i]; i = (i + 1) & (b->table_cap - 1))
      if (ex_node_same(&b->nodes[b->table[i] - 1], node)) {
        *out = b->table[i] - 1;
        return NULL;
      }
  }
  if (b->n_nodes >= EX_MAX_NODES)
    return ivm_error(IVM_ERR_UNSUPPORTED, "expression: more than %u nodes", EX_MAX_NODES);
  void *p = ex_reserve(b->nodes, &b->cap_nodes, b->n_nodes + 1, sizeof *b->nodes);
  if (!p) return ex_oom();
  b->nodes = p;
  if (2 * (b->n_nodes + 1) > b->table_cap) {
    uint32_t cap = b->table_cap ? 2 * b->table_cap : 64;
    uint32_t *t = calloc(cap, sizeof *t);
    if (!t) return ex_oom();
    for (uint32_t id = 0; id < b->n_nodes; id++) ex_table_put(t, cap, b->nodes, id);
    free(b->table);
    b->table = t;
    b->table_cap = cap;
  }
  uint32_t id = b->n_nodes++;
  b->nodes[id] = *node;
  ex_table_put(b->table, b->table_cap, b->nodes, id);
  *out = id;
  return NULL;
}

/* Every float leaf of one expression has one dtype. */
static ivm_status ex_use_float(rt_expr_builder *b, uint8_t dt, const char *what) {
  if (!ex_is_float(dt))
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "%s has dtype %s; expressions compute in f32 or f64",
                     what, ivm_dtype_name((ivm_dtype)dt));
  if (b->float_dt == IVM_DT_NONE) b->float_dt = dt;
  if (dt != b->float_dt)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT,
                     "%s is %s in an %s expression; an expression does not mix f32 and f64", what,
                     ivm_dtype_name((ivm_dtype)dt), ivm_dtype_name((ivm_dtype)b->float_dt));
  return NULL;
}

ivm_status rt_expr_builder_create(rt_expr_builder **out) {
  *out = calloc(1, sizeof **out);
  return *out ? NULL : ex_oom();
}

static void ex_builder_clear(rt_expr_builder *b) {
  free(b->nodes);
  free(b->in_dtypes);
  free(b->outputs);
  free(b->table);
  memset(b, 0, sizeof *b);
}

void rt_expr_builder_destroy(rt_expr_builder *b) {
  if (!b) return;
  ex_builder_clear(b);
  free(b);
}

ivm_status rt_expr_add_input(rt_expr_builder *b, uint8_t dtype, uint32_t *out_node) {
  char what[32];
  snprintf(what, sizeof what, "input %u", b->n_inputs);
  IVM_TRY(ex_use_float(b, dtype, what));
  void *p = ex_reserve(b->in_dtypes, &b->cap_inputs, b->n_inputs + 1, 1);
  if (!p) return ex_oom();
  b->in_dtypes = p;
  rt_expr_node node = {.op = RT_EX_INPUT, .dtype = dtype, .input = b->n_inputs};
  IVM_TRY(ex_intern(b, &node, out_node));
  b->in_dtypes[b->n_inputs++] = dtype;
  return NULL;
}

ivm_status rt_expr_add_const(rt_expr_builder *b, uint8_t dtype, double value, uint32_t *out_node) {
  IVM_TRY(ex_use_float(b, dtype, "a constant"));
  /* Stored already converted, so that equal f32 constants are shared and serialize alike. */
  rt_expr_node node = {.op = RT_EX_CONST, .dtype = dtype,
                       .value = dtype == IVM_DT_F32 ? (double)(float)value : value};
  return ex_intern(b, &node, out_node);
}

/* rt_expr_add_op, naming the operation `shown` in messages (the parser passes "+"). */
static ivm_status ex_add_op(rt_expr_builder *b, rt_expr_opcode op, const uint32_t *ids,
                            const char *shown, uint32_t *out_node) {
  if ((int)op <= RT_EX_CONST || op >= RT_EX_OPCODE_COUNT)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "expression: opcode %d is not an operation",
                     (int)op);
  const ex_opinfo *info = &ex_ops[op];
  if (!shown) shown = info->name;
  uint8_t dt[3] = {0, 0, 0};
  for (int k = 0; k < info->arity; k++) {
    if (ids[k] >= b->n_nodes)
      return ivm_error(IVM_ERR_INVALID_ARGUMENT,
                       "operand %d of '%s' is node %u; there are %u nodes", k + 1, shown, ids[k],
                       b->n_nodes);
    dt[k] = b->nodes[ids[k]].dtype;
  }
  uint8_t result = dt[0];
  int first_number = info->kind == EXK_WHERE ? 1 : 0;
  if (info->kind == EXK_LOGIC) {
    for (int k = 0; k < info->arity; k++)
      if (dt[k] != IVM_DT_BOOL)
        return ivm_error(IVM_ERR_INVALID_ARGUMENT,
                         "operand %d of '%s' is %s where a bool (a comparison) is needed", k + 1,
                         shown, ivm_dtype_name((ivm_dtype)dt[k]));
  } else {
    if (info->kind == EXK_WHERE && dt[0] != IVM_DT_BOOL)
      return ivm_error(IVM_ERR_INVALID_ARGUMENT,
                       "the condition of '%s' is %s; a bool (a comparison) is needed", shown,
                       ivm_dtype_name((ivm_dtype)dt[0]));
    for (int k = first_number; k < info->arity; k++) {
      if (!ex_is_float(dt[k]))
        return ivm_error(IVM_ERR_INVALID_ARGUMENT,
                         "operand %d of '%s' is %s where a number is needed", k + 1, shown,
                         ivm_dtype_name((ivm_dtype)dt[k]));
      if (dt[k] != dt[first_number])
        return ivm_error(IVM_ERR_INVALID_ARGUMENT, "the operands of '%s' mix %s and %s", shown,
                         ivm_dtype_name((ivm_dtype)dt[first_number]),
                         ivm_dtype_name((ivm_dtype)dt[k]));
    }
    result = info->kind == EXK_CMP ? IVM_DT_BOOL : dt[first_number];
  }
  rt_expr_node node = {.op = (uint8_t)op, .dtype = result};
  node.a = ids[0];
  if (info->arity > 1) node.b = ids[1];
  if (info->arity > 2) node.c = ids[2];
  return ex_intern(b, &node, out_node);
}

ivm_status rt_expr_add_op(rt_expr_builder *b, rt_expr_opcode op, uint32_t a, uint32_t b_,
                          uint32_t c, uint32_t *out_node) {
  const uint32_t ids[3] = {a, b_, c};
  return ex_add_op(b, op, ids, NULL, out_node);
}

ivm_status rt_expr_add_output(rt_expr_builder *b, uint32_t node) {
  if (node >= b->n_nodes)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "expression output is node %u; there are %u nodes",
                     node, b->n_nodes);
  void *p = ex_reserve(b->outputs, &b->cap_outputs, b->n_outputs + 1, sizeof *b->outputs);
  if (!p) return ex_oom();
  b->outputs = p;
  b->outputs[b->n_outputs++] = node;
  return NULL;
}

void rt_expr_free(rt_expr *e) {
  if (!e) return;
  free(e->nodes);
  free(e->in_dtypes);
  free(e->outputs);
  free(e);
}

ivm_status rt_expr_builder_finish(rt_expr_builder *b, rt_expr **out) {
  *out = NULL;
  if (b->n_outputs == 0) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "expression has no outputs");
  /* Liveness runs backwards: operands precede their users. */
  uint32_t n = b->n_nodes, *remap = calloc(n, sizeof *remap);
  rt_expr *e = calloc(1, sizeof *e);
  if (!remap || !e) {
    free(remap);
    free(e);
    return ex_oom();
  }
  for (uint32_t j = 0; j < b->n_outputs; j++) remap[b->outputs[j]] = 1;
  uint32_t live = 0;
  for (uint32_t i = n; i-- > 0;) {
    if (!remap[i]) continue;
    live++;
    const rt_expr_node *nd = &b->nodes[i];
    uint32_t ids[3] = {nd->a, nd->b, nd->c};
    for (int k = 0; k < ex_ops[nd->op].arity; k++) remap[ids[k]] = 1;
  }
  e->nodes = malloc((size_t)live * sizeof *e->nodes);
  e->in_dtypes = malloc(b->n_inputs ? b->n_inputs : 1);
  e->outputs = malloc((size_t)b->n_outputs * sizeof *e->outputs);
  if (!e->nodes || !e->in_dtypes || !e->outputs) {
    free(remap);
    rt_expr_free(e);
    return ex_oom();
  }
  for (uint32_t i = 0; i < n; i++) {
    if (!remap[i]) continue;
    rt_expr_node nd = b->nodes[i];
    int arity = ex_ops[nd.op].arity;
    if (arity > 0) nd.a = remap[nd.a] - 1;
    if (arity > 1) nd.b = remap[nd.b] - 1;
    if (arity > 2) nd.c = remap[nd.c] - 1;
    remap[i] = e->n_nodes + 1; /* new id + 1 (users come later) */
    e->nodes[e->n_nodes++] = nd;
  }
  if (b->n_inputs) memcpy(e->in_dtypes, b->in_dtypes, b->n_inputs);
  e->n_inputs = b->n_inputs;
  for (uint32_t j = 0; j < b->n_outputs; j++) e->outputs[j] = remap[b->outputs[j]] - 1;
  e->n_outputs = b->n_outputs;
  free(remap);
  ex_builder_clear(b);
  *out = e;
  return NULL;
}

/* ---- parser ----------------------------------------------------------------------------
 * Recursive descent over the grammar in expr.h. Every nesting level passes through
 * ex_p_unary, which bounds the depth; the builder's node count bounds the work. */
typedef struct ex_parser {
  const rt_expr_source *src;
  const char *s;
  size_t pos;
  int depth;
  rt_expr_builder *b;
  uint32_t *in_node; /* node of each input */
  uint8_t fdt;       /* the expression's float type (literals take it) */
} ex_parser;

static ivm_status ex_p_or(ex_parser *p, uint32_t *out);
static ivm_status ex_p_unary(ex_parser *p, uint32_t *out);

static int ex_is_digit(char c) { return c >= '0' && c <= '9'; }
static int ex_is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

#define EX_NO_COLUMN ((size_t)-1) /* errors about the declarations, not a place in the text */

/* "expr 'TEXT': MESSAGE at column N" with the given code. */
static ivm_status ex_perr_code(const ex_parser *p, ivm_status_code code, size_t at, const char *fmt,
                               ...) IVM_PRINTF(4, 5);
static ivm_status ex_perr_code(const ex_parser *p, ivm_status_code code, size_t at, const char *fmt,
                               ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  char col[40] = "";
  if (at != EX_NO_COLUMN) snprintf(col, sizeof col, " at column %zu", at + 1);
  size_t len = strlen(p->s);
  int shown = len > EX_SHOWN ? EX_SHOWN - 3 : (int)len;
  return ivm_error(code, "expr '%.*s%s': %s%s", shown, p->s, len > EX_SHOWN ? "..." : "", msg, col);
}
#define EX_PERR(p, at, ...) ex_perr_code((p), IVM_ERR_INVALID_ARGUMENT, (at), __VA_ARGS__)

/* Re-tells a builder error as the parser's, at column `at`. */
static ivm_status ex_pwrap(const ex_parser *p, size_t at, ivm_status st) {
  ivm_status out = ex_perr_code(p, ivm_status_get_code(st), at, "%s", ivm_status_message(st));
  ivm_status_free(st);
  return out;
}

static ivm_status ex_p_op(ex_parser *p, rt_expr_opcode op, const char *shown, size_t at,
                          uint32_t a, uint32_t b, uint32_t c, uint32_t *out) {
  const uint32_t ids[3] = {a, b, c};
  ivm_status st = ex_add_op(p->b, op, ids, shown, out);
  if (st) return ex_pwrap(p, at, st);
  if (p->b->n_nodes > EX_PARSE_MAX_NODES)
    return EX_PERR(p, at, "expression too large (more than %u operations)", EX_PARSE_MAX_NODES);
  return NULL;
}

static ivm_status ex_p_const(ex_parser *p, size_t at, double v, uint32_t *out) {
  ivm_status st = rt_expr_add_const(p->b, p->fdt, v, out);
  return st ? ex_pwrap(p, at, st) : NULL;
}

static void ex_skip(ex_parser *p) {
  for (char c; (c = p->s[p->pos]) == ' ' || c == '\t' || c == '\n' || c == '\r';) p->pos++;
}

/* What sits at pos, for "unexpected ..." messages. */
static void ex_describe(const ex_parser *p, char *buf, size_t size) {
  unsigned char c = (unsigned char)p->s[p->pos];
  if (!c)
    snprintf(buf, size, "end of expression");
  else if (c >= 0x21 && c < 0x7f)
    snprintf(buf, size, "'%c'", c);
  else
    snprintf(buf, size, "byte 0x%02x", c);
}

static ivm_status ex_unexpected(const ex_parser *p, const char *wanted) {
  char what[32];
  ex_describe(p, what, sizeof what);
  return EX_PERR(p, p->pos, "%s%s%s", wanted ? wanted : "", wanted ? ", found " : "unexpected ",
                 what);
}

static ivm_status ex_p_number(ex_parser *p, uint32_t *out) {
  size_t at = p->pos, q = p->pos;
  while (ex_is_digit(p->s[q])) q++;
  if (p->s[q] == '.') q++;
  while (ex_is_digit(p->s[q])) q++;
  if (p->s[q] == 'e' || p->s[q] == 'E') {
    size_t r = q + 1;
    if (p->s[r] == '+' || p->s[r] == '-') r++;
    if (!ex_is_digit(p->s[r])) return EX_PERR(p, at, "malformed number (exponent without digits)");
    for (q = r; ex_is_digit(p->s[q]);) q++;
  }
  if (ex_is_alpha(p->s[q]) || p->s[q] == '.') return EX_PERR(p, at, "malformed number");
  char buf[72];
  if (q - at >= sizeof buf)
    return EX_PERR(p, at, "number longer than %zu characters", sizeof buf - 1);
  memcpy(buf, p->s + at, q - at);
  buf[q - at] = 0;
  double v = strtod(buf, NULL);
  if (!isfinite(v) || (p->fdt == IVM_DT_F32 && v > FLT_MAX))
    return EX_PERR(p, at, "number %s is out of range for %s", buf,
                   ivm_dtype_name((ivm_dtype)p->fdt));
  p->pos = q;
  return ex_p_const(p, at, v, out);
}

static int ex_name_is(const char *name, const char *id, size_t len) {
  return name && strlen(name) == len && memcmp(name, id, len) == 0;
}

/* Default input names: x, y, z, w for inputs 0..3 and in<k> for every input k. */
static int ex_default_input(const char *id, size_t len, uint32_t n_inputs, uint32_t *k) {
  static const char xyzw[] = "xyzw";
  if (len == 1)
    for (uint32_t i = 0; i < 4 && i < n_inputs; i++)
      if (id[0] == xyzw[i]) return *k = i, 1;
  if (len < 3 || len > 12 || id[0] != 'i' || id[1] != 'n' || (id[2] == '0' && len > 3)) return 0;
  uint64_t v = 0;
  for (size_t i = 2; i < len; i++) {
    if (!ex_is_digit(id[i])) return 0;
    v = v * 10 + (uint64_t)(id[i] - '0');
  }
  if (v >= n_inputs) return 0;
  *k = (uint32_t)v;
  return 1;
}

static ivm_status ex_p_name(ex_parser *p, size_t at, const char *id, size_t len, uint32_t *out) {
  const rt_expr_source *src = p->src;
  uint32_t k;
  if (src->input_names) {
    for (k = 0; k < src->n_inputs; k++)
      if (ex_name_is(src->input_names[k], id, len)) return *out = p->in_node[k], NULL;
  } else if (ex_default_input(id, len, src->n_inputs, &k)) {
    return *out = p->in_node[k], NULL;
  }
  for (k = 0; k < src->n_params; k++)
    if (ex_name_is(src->param_names[k], id, len))
      return ex_p_const(p, at, src->param_values[k], out);
  if (ex_name_is("pi", id, len)) return ex_p_const(p, at, 3.14159265358979323846, out);
  if (ex_name_is("e", id, len)) return ex_p_const(p, at, 2.71828182845904523536, out);
  return EX_PERR(p, at, "unknown name '%.*s'", len > 40 ? 40 : (int)len, id);
}

/* NAME '(' expr (',' expr)* ')': opcode names (expr.h) and relu. */
static ivm_status ex_p_call(ex_parser *p, size_t at, const char *id, size_t len, uint32_t *out) {
  int op = -1, arity = 1, relu = ex_name_is("relu", id, len);
  for (int i = RT_EX_CONST + 1; !relu && i < RT_EX_OPCODE_COUNT; i++)
    if (ex_name_is(ex_ops[i].name, id, len)) op = i, arity = ex_ops[i].arity;
  int shown_len = len > 40 ? 40 : (int)len;
  if (op < 0 && !relu) return EX_PERR(p, at, "unknown function '%.*s'", shown_len, id);
  p->pos++; /* '(' */
  uint32_t args[3] = {0, 0, 0};
  int n = 0;
  ex_skip(p);
  if (p->s[p->pos] == ')') {
    p->pos++;
  } else {
    for (;;) {
      if (n == arity)
        return EX_PERR(p, at, "'%.*s' takes %d argument%s, got more", shown_len, id, arity,
                       arity == 1 ? "" : "s");
      IVM_TRY(ex_p_or(p, &args[n++]));
      ex_skip(p);
      if (p->s[p->pos] == ')') {
        p->pos++;
        break;
      }
      if (p->s[p->pos] != ',') return ex_unexpected(p, "expected ',' or ')'");
      p->pos++;
    }
  }
  if (n != arity)
    return EX_PERR(p, at, "'%.*s' takes %d argument%s, got %d", shown_len, id, arity,
                   arity == 1 ? "" : "s", n);
  if (relu) { /* max(x, 0) */
    uint32_t zero;
    IVM_TRY(ex_p_const(p, at, 0.0, &zero));
    return ex_p_op(p, RT_EX_MAX, "relu", at, args[0], zero, 0, out);
  }
  return ex_p_op(p, (rt_expr_opcode)op, ex_ops[op].name, at, args[0], args[1], args[2], out);
}

static ivm_status ex_p_atom(ex_parser *p, uint32_t *out) {
  ex_skip(p);
  size_t at = p->pos;
  char c = p->s[at];
  if (ex_is_digit(c) || (c == '.' && ex_is_digit(p->s[at + 1]))) return ex_p_number(p, out);
  if (ex_is_alpha(c)) {
    size_t len = 0;
    while (ex_is_alpha(p->s[at + len]) || ex_is_digit(p->s[at + len])) len++;
    p->pos += len;
    ex_skip(p);
    if (p->s[p->pos] == '(') return ex_p_call(p, at, p->s + at, len, out);
    return ex_p_name(p, at, p->s + at, len, out);
  }
  if (c == '(') {
    p->pos++;
    IVM_TRY(ex_p_or(p, out));
    ex_skip(p);
    if (p->s[p->pos] != ')') {
      char wanted[64];
      snprintf(wanted, sizeof wanted, "expected ')' to close the '(' at column %zu", at + 1);
      return ex_unexpected(p, wanted);
    }
    p->pos++;
    return NULL;
  }
  return ex_unexpected(p, "expected a number, a name or '('");
}

/* pow := atom (('^' | '**') unary)? -- the unary on the right makes it right-associative. */
static ivm_status ex_p_pow(ex_parser *p, uint32_t *out) {
  uint32_t a, b;
  IVM_TRY(ex_p_atom(p, &a));
  ex_skip(p);
  size_t at = p->pos;
  const char *t = p->s + at;
  size_t len = t[0] == '^' ? 1 : (t[0] == '*' && t[1] == '*') ? 2 : 0;
  if (!len) return *out = a, NULL;
  p->pos += len;
  IVM_TRY(ex_p_unary(p, &b));
  return ex_p_op(p, RT_EX_POW, len == 1 ? "^" : "**", at, a, b, 0, out);
}

static ivm_status ex_p_unary(ex_parser *p, uint32_t *out) {
  ex_skip(p);
  size_t at = p->pos;
  if (++p->depth > EX_PARSE_MAX_DEPTH)
    return EX_PERR(p, at, "nesting deeper than %d levels", EX_PARSE_MAX_DEPTH);
  char c = p->s[at];
  uint32_t a;
  if (c == '-' || (c == '!' && p->s[at + 1] != '=')) {
    p->pos++;
    IVM_TRY(ex_p_unary(p, &a));
    const rt_expr_node *nd = &p->b->nodes[a];
    if (c == '-' && nd->op == RT_EX_CONST) { /* a negative literal; negation is exact */
      IVM_TRY(ex_p_const(p, at, -nd->value, out));
    } else {
      IVM_TRY(ex_p_op(p, c == '-' ? RT_EX_NEG : RT_EX_NOT, c == '-' ? "-" : "!", at, a, 0, 0, out));
    }
  } else {
    IVM_TRY(ex_p_pow(p, out));
  }
  p->depth--;
  return NULL;
}

/* One level of left-associative binary operators: ops[i] spelled toks[i]. */
typedef ivm_status (*ex_level_fn)(ex_parser *p, uint32_t *out);

static ivm_status ex_p_level(ex_parser *p, ex_level_fn next, int n_ops, const char *const *toks,
                             const rt_expr_opcode *ops, int once, uint32_t *out) {
  uint32_t a, b;
  IVM_TRY(next(p, &a));
  for (;;) {
    ex_skip(p);
    size_t at = p->pos;
    int found = -1;
    for (int i = 0; i < n_ops && found < 0; i++) {
      size_t len = strlen(toks[i]);
      /* '*' must not take the first half of '**', '<' of '<=', and so on */
      if (strncmp(p->s + at, toks[i], len) == 0 && !(len == 1 && p->s[at + 1] == '=') &&
          !(toks[i][0] == '*' && p->s[at + 1] == '*'))
        found = i;
    }
    if (found < 0) break;
    p->pos += strlen(toks[found]);
    IVM_TRY(next(p, &b));
    IVM_TRY(ex_p_op(p, ops[found], toks[found], at, a, b, 0, &a));
    if (once) break; /* comparisons do not chain */
  }
  *out = a;
  return NULL;
}

static ivm_status ex_p_mul(ex_parser *p, uint32_t *out) {
  static const char *const toks[] = {"*", "/"};
  static const rt_expr_opcode ops[] = {RT_EX_MUL, RT_EX_DIV};
  return ex_p_level(p, ex_p_unary, 2, toks, ops, 0, out);
}
static ivm_status ex_p_add(ex_parser *p, uint32_t *out) {
  static const char *const toks[] = {"+", "-"};
  static const rt_expr_opcode ops[] = {RT_EX_ADD, RT_EX_SUB};
  return ex_p_level(p, ex_p_mul, 2, toks, ops, 0, out);
}
static ivm_status ex_p_cmp(ex_parser *p, uint32_t *out) {
  static const char *const toks[] = {"<=", ">=", "==", "!=", "<", ">"};
  static const rt_expr_opcode ops[] = {RT_EX_LE, RT_EX_GE, RT_EX_EQ, RT_EX_NE, RT_EX_LT, RT_EX_GT};
  return ex_p_level(p, ex_p_add, 6, toks, ops, 1, out);
}
static ivm_status ex_p_and(ex_parser *p, uint32_t *out) {
  static const char *const toks[] = {"&&"};
  static const rt_expr_opcode ops[] = {RT_EX_AND};
  return ex_p_level(p, ex_p_cmp, 1, toks, ops, 0, out);
}
static ivm_status ex_p_or(ex_parser *p, uint32_t *out) {
  static const char *const toks[] = {"||"};
  static const rt_expr_opcode ops[] = {RT_EX_OR};
  return ex_p_level(p, ex_p_and, 1, toks, ops, 0, out);
}

static int ex_strcmp_p(const void *x, const void *y) {
  return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* Names must be distinct (inputs and parameters together): a repeated name would
 * silently mean only its first declaration. Sorted, so long lists stay cheap. */
static ivm_status ex_check_names(const ex_parser *p) {
  const rt_expr_source *src = p->src;
  uint32_t n = (src->input_names ? src->n_inputs : 0) + src->n_params, m = 0;
  if (n < 2) return NULL;
  const char **all = malloc((size_t)n * sizeof *all);
  if (!all) return ex_oom();
  for (uint32_t k = 0; src->input_names && k < src->n_inputs; k++) all[m++] = src->input_names[k];
  for (uint32_t k = 0; k < src->n_params; k++) all[m++] = src->param_names[k];
  qsort(all, n, sizeof *all, ex_strcmp_p);
  ivm_status st = NULL;
  for (uint32_t k = 1; k < n && !st; k++)
    if (strcmp(all[k - 1], all[k]) == 0)
      st = EX_PERR(p, EX_NO_COLUMN, "name '%.40s' is declared twice", all[k]);
  free(all);
  return st;
}

static ivm_status ex_parse_in(ex_parser *p, rt_expr **out) {
  const rt_expr_source *src = p->src;
  char name[24];
  for (uint32_t k = 0; k < src->n_inputs; k++) {
    if (src->input_names && !src->input_names[k])
      return EX_PERR(p, EX_NO_COLUMN, "input %u has no name", k);
    if (!src->input_names && k < 4)
      snprintf(name, sizeof name, "%c", "xyzw"[k]);
    else if (!src->input_names)
      snprintf(name, sizeof name, "in%u", k);
    const char *shown = src->input_names ? src->input_names[k] : name;
    uint8_t dt = src->input_dtypes[k];
    if (dt == IVM_DT_NONE) return EX_PERR(p, EX_NO_COLUMN, "input '%.40s' is missing", shown);
    if (!ex_is_float(dt))
      return EX_PERR(p, EX_NO_COLUMN, "input '%.40s' has dtype %s; expressions take f32 or f64",
                     shown, ivm_dtype_name((ivm_dtype)dt));
    if (dt != p->fdt)
      return EX_PERR(p, EX_NO_COLUMN,
                     "input '%.40s' is %s but input 0 is %s; an expression does not mix them",
                     shown, ivm_dtype_name((ivm_dtype)dt), ivm_dtype_name((ivm_dtype)p->fdt));
    ivm_status st = rt_expr_add_input(p->b, dt, &p->in_node[k]);
    if (st) return ex_pwrap(p, EX_NO_COLUMN, st);
  }
  uint32_t in_k;
  for (uint32_t k = 0; k < src->n_params; k++) {
    const char *pn = src->param_names[k];
    if (!pn) return EX_PERR(p, EX_NO_COLUMN, "parameter %u has no name", k);
    if (!src->input_names && ex_default_input(pn, strlen(pn), src->n_inputs, &in_k))
      return EX_PERR(p, EX_NO_COLUMN, "parameter '%.40s' has the name of input %u", pn, in_k);
  }
  IVM_TRY(ex_check_names(p));
  uint32_t root;
  IVM_TRY(ex_p_or(p, &root));
  ex_skip(p);
  if (p->s[p->pos]) return ex_unexpected(p, "expected an operator or the end");
  IVM_TRY(rt_expr_add_output(p->b, root));
  return rt_expr_builder_finish(p->b, out);
}

ivm_status rt_expr_parse(const rt_expr_source *src, rt_expr **out) {
  *out = NULL;
  if (!src || !src->text || (src->n_inputs && !src->input_dtypes) ||
      (src->n_params && (!src->param_names || !src->param_values)))
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "rt_expr_parse: incomplete source");
  ex_parser p = {
      src, src->text, 0, 0, NULL, NULL, src->n_inputs ? src->input_dtypes[0] : IVM_DT_F32};
  p.in_node = malloc((src->n_inputs ? src->n_inputs : 1) * sizeof *p.in_node);
  ivm_status st = p.in_node ? rt_expr_builder_create(&p.b) : ex_oom();
  if (!st) st = ex_parse_in(&p, out);
  rt_expr_builder_destroy(p.b);
  free(p.in_node);
  return st;
}

/* ---- serialization ----------------------------------------------------------------------
 * "IVMX", version byte, then little-endian u32 counts: n_inputs and one dtype byte each;
 * n_nodes and per node op, dtype and its fields by kind (input index; constant as the
 * node dtype's bits; operand ids by arity); n_outputs and their node ids. Fields a node
 * does not use are left out, so only what evaluation reads shapes the bytes. */
typedef struct ex_writer {
  uint8_t *p;
  size_t n;
} ex_writer;

static void ex_w8(ex_writer *w, uint8_t v) {
  if (w->p) w->p[w->n] = v;
  w->n++;
}
static void ex_w32(ex_writer *w, uint32_t v) {
  for (int i = 0; i < 4; i++) ex_w8(w, (uint8_t)(v >> (8 * i)));
}

/* Returns 0 if e is malformed (no bytes can describe it). Sizes when w->p is NULL. */
static int ex_write(const rt_expr *e, ex_writer *w) {
  static const uint8_t magic[4] = {'I', 'V', 'M', 'X'};
  for (int i = 0; i < 4; i++) ex_w8(w, magic[i]);
  ex_w8(w, EX_SERIAL_VERSION);
  ex_w32(w, e->n_inputs);
  for (uint32_t k = 0; k < e->n_inputs; k++) ex_w8(w, e->in_dtypes[k]);
  ex_w32(w, e->n_nodes);
  for (uint32_t i = 0; i < e->n_nodes; i++) {
    const rt_expr_node *nd = &e->nodes[i];
    if (nd->op >= RT_EX_OPCODE_COUNT) return 0;
    ex_w8(w, nd->op);
    ex_w8(w, nd->dtype);
    if (nd->op == RT_EX_INPUT) {
      ex_w32(w, nd->input);
    } else if (nd->op == RT_EX_CONST && nd->dtype == IVM_DT_F32) {
      float f = (float)nd->value;
      uint32_t bits;
      memcpy(&bits, &f, sizeof bits);
      ex_w32(w, bits);
    } else if (nd->op == RT_EX_CONST) {
      uint64_t bits = ex_value_bits(nd->value);
      ex_w32(w, (uint32_t)bits);
      ex_w32(w, (uint32_t)(bits >> 32));
    } else {
      const uint32_t ids[3] = {nd->a, nd->b, nd->c};
      for (int k = 0; k < ex_ops[nd->op].arity; k++) ex_w32(w, ids[k]);
    }
  }
  ex_w32(w, e->n_outputs);
  for (uint32_t j = 0; j < e->n_outputs; j++) ex_w32(w, e->outputs[j]);
  return 1;
}

ivm_status rt_expr_serialize(const rt_expr *e, uint8_t **out, size_t *out_len) {
  *out = NULL;
  *out_len = 0;
  ex_writer w = {NULL, 0};
  if (!ex_write(e, &w))
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "rt_expr_serialize: a node has an unknown opcode");
  w.p = malloc(w.n);
  if (!w.p) return ex_oom();
  w.n = 0;
  ex_write(e, &w);
  *out = w.p;
  *out_len = w.n;
  return NULL;
}
