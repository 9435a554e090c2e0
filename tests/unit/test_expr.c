/* The expression IR (runtime/expr.h): parser (precedence, associativity, functions,
 * parameters, sharing), type and syntax errors with columns, hostile input, interpreter
 * values against libm, rt_expr_run with broadcasting (interpreted and with a stand-in for
 * native code), serialization, and the ivm.expr op family (infer, prepare, kernel).
 * Expected values come from libm loops written here or from hand-worked arithmetic. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/expr.h"

#define D(...) ((const int64_t[]){__VA_ARGS__})

static void ok(ivm_status st) {
  cr_assert_null(st, "unexpected error: %s", ivm_status_message(st));
}

/* Expects an error of `code` whose message contains `part`. */
static void fails_with(ivm_status st, ivm_status_code code, const char *part) {
  cr_assert_not_null(st, "expected an error containing \"%s\"", part);
  const char *msg = ivm_status_message(st);
  cr_assert_eq(ivm_status_get_code(st), code, "code %s: %s",
               ivm_status_code_name(ivm_status_get_code(st)), msg);
  cr_assert(strstr(msg, part), "message \"%s\" lacks \"%s\"", msg, part);
  ivm_status_free(st);
}

/* Parses text over inputs named x (and y, z) of one dtype, with optional parameters. */
static ivm_status parse_n(const char *text, uint32_t n_in, uint8_t dt, uint32_t n_params,
                          const char *const *pnames, const double *pvals, rt_expr **out) {
  static const char *const names[] = {"x", "y", "z"};
  const uint8_t dts[3] = {dt, dt, dt};
  rt_expr_source src = {text, n_in, names, dts, n_params, pnames, pvals};
  return rt_expr_parse(&src, out);
}

static rt_expr *parse_ok(const char *text, uint32_t n_in, uint8_t dt) {
  rt_expr *e = NULL;
  ok(parse_n(text, n_in, dt, 0, NULL, NULL, &e));
  return e;
}

/* The value of an f32 expression of x (and y) at one point. */
static float at_f32(const char *text, float x, float y) {
  rt_expr *e = parse_ok(text, 2, IVM_DT_F32);
  cr_assert_eq(e->nodes[e->outputs[0]].dtype, IVM_DT_F32, "%s", text);
  const void *in[2] = {&x, &y};
  float r = -12345.0f;
  void *out[1] = {&r};
  rt_expr_eval(e, 1, in, out);
  rt_expr_free(e);
  return r;
}

static void expect_f32(const char *text, float x, float y, float want) {
  float got = at_f32(text, x, y);
  cr_assert(fabsf(got - want) <= 1e-6f * fmaxf(1.0f, fabsf(want)),
            "%s at x=%g y=%g: got %.9g, want %.9g", text, x, y, got, want);
}

static void syntax_error(const char *text, const char *part) {
  rt_expr *e = NULL;
  fails_with(parse_n(text, 2, IVM_DT_F32, 0, NULL, NULL, &e), IVM_ERR_INVALID_ARGUMENT, part);
  cr_assert_null(e);
}

/* ---- parser ------------------------------------------------------------------------- */
Test(expr_parse, precedence_and_associativity) {
  expect_f32("x + 2 * 3", 1, 0, 7);              /* * before + */
  expect_f32("(x + 2) * 3", 1, 0, 9);
  expect_f32("x - 1 - 1", 5, 0, 3);              /* left-associative */
  expect_f32("8 / 2 * 2", 0, 0, 8);
  expect_f32("x / 2 / 2", 8, 0, 2);
  expect_f32("-x^2", 3, 0, -9);                  /* ^ binds tighter than unary minus */
  expect_f32("2^3^2", 0, 0, 512);                /* right-associative: 2^(3^2) */
  expect_f32("2**3**2", 0, 0, 512);
  expect_f32("2^-1", 0, 0, 0.5f);                /* unary operand on the right */
  expect_f32("- -x", 4, 0, 4);
  expect_f32("x*-y", 3, 2, -6);
  expect_f32("x - -1", 1, 0, 2);
  expect_f32("2 * x ^ 2 + 1", 3, 0, 19);
  expect_f32(" \t x\n+\r y ", 1, 2, 3);          /* whitespace anywhere */
  expect_f32("1.5e1 + .5 + 2.", 0, 0, 17.5f);       /* number forms */
  expect_f32("where(x < y && y < 3 || x == 7, 1, 0)", 1, 2, 1);
  expect_f32("where(x < y && y < 3 || x == 7, 1, 0)", 1, 5, 0);
  expect_f32("where(x < y && y < 3 || x == 7, 1, 0)", 7, 0, 1);
  expect_f32("where(!(x >= y), 1, 0)", 1, 2, 1);
  expect_f32("where(x != y, 1, 0) + where(x <= y, 10, 0)", 2, 2, 10);
}

Test(expr_parse, functions_constants_and_params) {
  float x = 0.7f;
  expect_f32("abs(x)", -x, 0, x);
  expect_f32("exp(x)", x, 0, expf(x));
  expect_f32("log(x)", x, 0, logf(x));
  expect_f32("sqrt(x)", x, 0, sqrtf(x));
  expect_f32("tanh(x)", x, 0, tanhf(x));
  expect_f32("sigmoid(x)", x, 0, 1.0f / (1.0f + expf(-x)));
  expect_f32("erf(x)", x, 0, erff(x));
  expect_f32("floor(x) + ceil(x)", x, 0, 1.0f);
  expect_f32("floor(-x)", x, 0, -1.0f);
  expect_f32("sin(x) * cos(x)", x, 0, sinf(x) * cosf(x));
  expect_f32("min(x, y) + 10 * max(x, y)", 1, 2, 21);
  expect_f32("pow(x, y)", 2, 10, 1024);
  expect_f32("relu(x) + relu(y)", -3, 2, 2);
  expect_f32("recip(x)", 4, 0, 0.25f);
  expect_f32("pi", 0, 0, (float)M_PI);
  expect_f32("e", 0, 0, (float)M_E);
  expect_f32("2 * pi * x", 1, 0, (float)(2 * M_PI));

  /* Parameters, and inputs shadowing the constant e. */
  const char *pn[] = {"alpha", "beta"};
  const double pv[] = {0.5, -2.0};
  rt_expr *e;
  ok(parse_n("alpha * x + beta", 1, IVM_DT_F32, 2, pn, pv, &e));
  float in = 6, r;
  const void *ins[1] = {&in};
  void *outs[1] = {&r};
  rt_expr_eval(e, 1, ins, outs);
  cr_assert_float_eq(r, 1.0f, 1e-6);
  rt_expr_free(e);

  static const char *const names[] = {"e"};
  const uint8_t dt[] = {IVM_DT_F32};
  rt_expr_source src = {"e * 2", 1, names, dt, 0, NULL, NULL};
  ok(rt_expr_parse(&src, &e));
  in = 5;
  rt_expr_eval(e, 1, ins, outs);
  cr_assert_float_eq(r, 10.0f, 1e-6, "an input named e shadows the constant");
  rt_expr_free(e);
}

Test(expr_parse, default_input_names) {
  const uint8_t dt[6] = {IVM_DT_F32, IVM_DT_F32, IVM_DT_F32, IVM_DT_F32, IVM_DT_F32, IVM_DT_F32};
  rt_expr_source src = {"x + 10*y + 100*z + 1000*w + 10000*in4 + 100000*in5 - in0", 6, NULL, dt,
                        0, NULL, NULL};
  rt_expr *e;
  ok(rt_expr_parse(&src, &e));
  float v[6] = {1, 2, 3, 4, 5, 6}, r;
  const void *in[6] = {&v[0], &v[1], &v[2], &v[3], &v[4], &v[5]};
  void *out[1] = {&r};
  rt_expr_eval(e, 1, in, out);
  cr_assert_float_eq(r, 654321.0f - 1.0f, 1e-3);
  rt_expr_free(e);
  src.text = "in6";
  fails_with(rt_expr_parse(&src, &e), IVM_ERR_INVALID_ARGUMENT, "unknown name 'in6'");
  src.text = "in01";
  fails_with(rt_expr_parse(&src, &e), IVM_ERR_INVALID_ARGUMENT, "unknown name 'in01'");
}

Test(expr_parse, shares_common_subexpressions) {
  /* x*x + x*x: input, one mul, one add. */
  rt_expr *e = parse_ok("x*x + x*x", 1, IVM_DT_F32);
  cr_assert_eq(e->n_nodes, 3);
  cr_assert_eq(e->nodes[0].op, RT_EX_INPUT);
  cr_assert_eq(e->nodes[1].op, RT_EX_MUL);
  cr_assert_eq(e->nodes[1].a, 0);
  cr_assert_eq(e->nodes[1].b, 0);
  cr_assert_eq(e->nodes[2].op, RT_EX_ADD);
  cr_assert_eq(e->nodes[2].a, 1);
  cr_assert_eq(e->nodes[2].b, 1);
  cr_assert_eq(e->n_outputs, 1);
  cr_assert_eq(e->outputs[0], 2);
  rt_expr_free(e);

  /* The same constant twice is one node; an unused input is dropped from the nodes but
   * still declared; -2 is a literal, not neg(2). */
  e = parse_ok("x * 2 + sigmoid(x) * 2 - -2", 2, IVM_DT_F32);
  cr_assert_eq(e->n_inputs, 2);
  int consts = 0, inputs = 0, negs = 0;
  for (uint32_t i = 0; i < e->n_nodes; i++) {
    consts += e->nodes[i].op == RT_EX_CONST;
    inputs += e->nodes[i].op == RT_EX_INPUT;
    negs += e->nodes[i].op == RT_EX_NEG;
    if (e->nodes[i].op != RT_EX_INPUT && e->nodes[i].op != RT_EX_CONST)
      cr_assert_lt(e->nodes[i].a, i, "operands precede their users");
  }
  cr_assert_eq(consts, 2); /* 2 and -2 */
  cr_assert_eq(inputs, 1);
  cr_assert_eq(negs, 0);
  rt_expr_free(e);
}

Test(expr_parse, opcode_names) {
  cr_assert_str_eq(rt_expr_opcode_name(RT_EX_ADD), "add");
  cr_assert_str_eq(rt_expr_opcode_name(RT_EX_SIGMOID), "sigmoid");
  cr_assert_str_eq(rt_expr_opcode_name(RT_EX_WHERE), "where");
  cr_assert_str_eq(rt_expr_opcode_name(RT_EX_RECIP), "recip");
  cr_assert_str_eq(rt_expr_opcode_name(-1), "?");
  cr_assert_str_eq(rt_expr_opcode_name(RT_EX_OPCODE_COUNT), "?");
  for (int op = 0; op < RT_EX_OPCODE_COUNT; op++) cr_assert_str_neq(rt_expr_opcode_name(op), "?");
}

/* ---- errors -------------------------------------------------------------------------- */
Test(expr_errors, type_errors) {
  rt_expr *e = NULL;
  static const char *const names[] = {"x", "y"};
  const uint8_t mixed[] = {IVM_DT_F64, IVM_DT_F32};
  rt_expr_source src = {"x + y", 2, names, mixed, 0, NULL, NULL};
  fails_with(rt_expr_parse(&src, &e), IVM_ERR_INVALID_ARGUMENT,
             "input 'y' is f32 but input 0 is f64");
  const uint8_t ints[] = {IVM_DT_F32, IVM_DT_I32};
  src.input_dtypes = ints;
  fails_with(rt_expr_parse(&src, &e), IVM_ERR_INVALID_ARGUMENT, "input 'y' has dtype i32");

  fails_with(parse_n("x + (x > 0)", 1, IVM_DT_F32, 0, NULL, NULL, &e), IVM_ERR_INVALID_ARGUMENT,
             "operand 2 of '+' is bool where a number is needed at column 3");
  fails_with(parse_n("sqrt(x < 1)", 1, IVM_DT_F32, 0, NULL, NULL, &e), IVM_ERR_INVALID_ARGUMENT,
             "operand 1 of 'sqrt' is bool");
  fails_with(parse_n("where(x, x, x)", 1, IVM_DT_F32, 0, NULL, NULL, &e), IVM_ERR_INVALID_ARGUMENT,
             "the condition of 'where' is f32");
  fails_with(parse_n("where(x > 0, x > 1, x)", 1, IVM_DT_F32, 0, NULL, NULL, &e),
             IVM_ERR_INVALID_ARGUMENT, "operand 2 of 'where' is bool");
  fails_with(parse_n("!x", 1, IVM_DT_F32, 0, NULL, NULL, &e), IVM_ERR_INVALID_ARGUMENT,
             "operand 1 of '!' is f32 where a bool");
  fails_with(parse_n("x > 0 && x", 1, IVM_DT_F32, 0, NULL, NULL, &e), IVM_ERR_INVALID_ARGUMENT,
             "operand 2 of '&&' is f32");
  fails_with(parse_n("(x > 0) < 1", 1, IVM_DT_F32, 0, NULL, NULL, &e), IVM_ERR_INVALID_ARGUMENT,
             "operand 1 of '<' is bool");
  cr_assert_null(e);
}

Test(expr_errors, syntax_errors_name_the_column) {
  syntax_error("x * sigmod(x)", "expr 'x * sigmod(x)': unknown function 'sigmod' at column 5");
  syntax_error("x + q", "unknown name 'q' at column 5");
  syntax_error("x +", "expected a number, a name or '(', found end of expression at column 4");
  syntax_error("(x + 1",
               "expected ')' to close the '(' at column 1, found end of expression at column 7");
  syntax_error("x $ y", "expected an operator or the end, found '$' at column 3");
  syntax_error("x y", "found 'y' at column 3");
  syntax_error("x)", "found ')' at column 2");
  syntax_error("sqrt(x, y)", "'sqrt' takes 1 argument, got more at column 1");
  syntax_error("min(x)", "'min' takes 2 arguments, got 1 at column 1");
  syntax_error("where()", "'where' takes 3 arguments, got 0");
  syntax_error("min(x y)", "expected ',' or ')', found 'y' at column 7");
  syntax_error("1e+ 2", "malformed number (exponent without digits) at column 1");
  syntax_error("x + 2x", "malformed number at column 5");
  syntax_error("1e999", "out of range");
  syntax_error("1 < x < 2", "found '<' at column 7");
  syntax_error("x = 1", "found '=' at column 3");
  syntax_error("x & y", "found '&' at column 3");
  syntax_error("", "found end of expression at column 1");
  syntax_error("x + \xff", "found byte 0xff at column 5");
  syntax_error("+x", "found '+' at column 1");
  /* A long expression is shortened in the message. */
  syntax_error("x + x + x + x + x + x + x + x + x + x + x + x + x + x + x + x + x + x + x + q",
               "...': unknown name 'q' at column 77");
}

Test(expr_errors, names_and_sources) {
  rt_expr *e = NULL;
  static const char *const dup[] = {"a", "a"};
  const uint8_t dt[] = {IVM_DT_F32, IVM_DT_F32};
  rt_expr_source src = {"a", 2, dup, dt, 0, NULL, NULL};
  fails_with(rt_expr_parse(&src, &e), IVM_ERR_INVALID_ARGUMENT, "name 'a' is declared twice");
  static const char *const one[] = {"x"};
  const char *pn[] = {"x"};
  const double pv[] = {1.0};
  rt_expr_source src2 = {"x", 1, one, dt, 1, pn, pv};
  fails_with(rt_expr_parse(&src2, &e), IVM_ERR_INVALID_ARGUMENT, "name 'x' is declared twice");
  rt_expr_source src4 = {"y", 2, NULL, dt, 1, pn, pv}; /* default names x, y, in0, in1 */
  fails_with(rt_expr_parse(&src4, &e), IVM_ERR_INVALID_ARGUMENT,
             "parameter 'x' has the name of input 0");
  rt_expr_source src3 = {NULL, 0, NULL, NULL, 0, NULL, NULL};
  fails_with(rt_expr_parse(&src3, &e), IVM_ERR_INVALID_ARGUMENT, "incomplete source");
  cr_assert_null(e);
}

Test(expr_errors, hostile_input_does_not_crash) {
  rt_expr *e = NULL;
  /* Deep nesting, long chains of unary operators, and a long flat expression. */
  size_t n = 100000;
  char *s = malloc(2 * n + 2);
  memset(s, '(', n);
  s[n] = 'x';
  memset(s + n + 1, ')', n);
  s[2 * n + 1] = 0;
  syntax_error(s, "nesting deeper than 256 levels");
  memset(s, '-', n);
  s[n] = 'x';
  s[n + 1] = 0;
  syntax_error(s, "nesting deeper than 256 levels");
  for (size_t i = 0; i < n; i++) s[2 * i] = 'x', s[2 * i + 1] = '+';
  s[2 * n - 1] = 0;
  syntax_error(s, "expression too large");
  memset(s, ' ', 2 * n);
  s[2 * n] = 'x';
  s[2 * n + 1] = 0;
  ok(parse_n(s, 1, IVM_DT_F32, 0, NULL, NULL, &e)); /* long but simple */
  rt_expr_free(e);
  free(s);

  /* Random strings of the grammar's tokens, and of raw bytes: each either parses or fails
   * cleanly with a message naming the expression. */
  static const char *const toks[] = {"x", "y", "1", "2.5", "1e3", "+", "-", "*", "/", "^",
                                     "**", "(", ")", "<", "<=", "==", "!", "&&", "||", ",",
                                     "sqrt(", "min(", "where(", "relu(", "pi", " ", "e", "$",
                                     "\x80", "1e", "."};
  const int n_toks = (int)(sizeof toks / sizeof toks[0]);
  uint32_t rng = 12345;
  char buf[256];
  int parsed = 0;
  for (int t = 0; t < 30000; t++) {
    int raw = t % 4 == 3;
    rng = rng * 1103515245u + 12345u;
    int len = (int)((rng >> 16) % (raw ? 40 : 12)) + 1, at = 0;
    for (int i = 0; i < len; i++) {
      rng = rng * 1103515245u + 12345u;
      uint32_t v = rng >> 16;
      if (raw) {
        buf[at++] = (char)(v % 255 + 1);
      } else {
        const char *tok = toks[v % (uint32_t)n_toks];
        memcpy(buf + at, tok, strlen(tok));
        at += (int)strlen(tok);
      }
    }
    buf[at] = 0;
    ivm_status st = parse_n(buf, 2, IVM_DT_F64, 0, NULL, NULL, &e);
    if (st) {
      cr_assert_eq(ivm_status_get_code(st), IVM_ERR_INVALID_ARGUMENT, "%s", ivm_status_message(st));
      cr_assert(strstr(ivm_status_message(st), "expr '"), "%s", ivm_status_message(st));
      ivm_status_free(st);
      cr_assert_null(e);
    } else {
      parsed++;
      double xs[2] = {0.5, 2}, ys[2] = {-1, 3}, r[2];
      const void *in[2] = {xs, ys};
      void *out[1] = {r};
      rt_expr_eval(e, 2, in, out); /* whatever it computes, it must run */
      rt_expr_free(e);
    }
  }
  cr_assert_gt(parsed, 100, "some random token strings are valid expressions (%d)", parsed);
}

/* ---- builder ------------------------------------------------------------------------- */
Test(expr_builder, types_sharing_and_dead_nodes) {
  rt_expr_builder *b;
  ok(rt_expr_builder_create(&b));
  uint32_t x, y, two, m1, m2, dead, cmp, w, c32;
  ok(rt_expr_add_input(b, IVM_DT_F64, &x));
  ok(rt_expr_add_input(b, IVM_DT_F64, &y));
  ok(rt_expr_add_const(b, IVM_DT_F64, 2.0, &two));
  ok(rt_expr_add_op(b, RT_EX_MUL, x, two, 0, &m1));
  ok(rt_expr_add_op(b, RT_EX_MUL, x, two, 99, &m2)); /* unused operand ignored */
  cr_assert_eq(m1, m2, "identical nodes are shared");
  ok(rt_expr_add_op(b, RT_EX_EXP, y, 0, 0, &dead));
  ok(rt_expr_add_op(b, RT_EX_GT, m1, y, 0, &cmp));
  ok(rt_expr_add_op(b, RT_EX_WHERE, cmp, m1, y, &w));
  fails_with(rt_expr_add_const(b, IVM_DT_F32, 1.0, &c32), IVM_ERR_INVALID_ARGUMENT,
             "does not mix f32 and f64");
  fails_with(rt_expr_add_input(b, IVM_DT_F32, &c32), IVM_ERR_INVALID_ARGUMENT, "input 2 is f32");
  fails_with(rt_expr_add_input(b, IVM_DT_BOOL, &c32), IVM_ERR_INVALID_ARGUMENT,
             "input 2 has dtype bool");
  fails_with(rt_expr_add_op(b, RT_EX_ADD, cmp, x, 0, &c32), IVM_ERR_INVALID_ARGUMENT,
             "operand 1 of 'add' is bool");
  fails_with(rt_expr_add_op(b, RT_EX_AND, cmp, x, 0, &c32), IVM_ERR_INVALID_ARGUMENT,
             "operand 2 of 'and' is f64 where a bool");
  fails_with(rt_expr_add_op(b, RT_EX_ADD, x, 1000, 0, &c32), IVM_ERR_INVALID_ARGUMENT, "node 1000");
  fails_with(rt_expr_add_op(b, RT_EX_INPUT, x, 0, 0, &c32), IVM_ERR_INVALID_ARGUMENT,
             "not an operation");
  fails_with(rt_expr_add_op(b, (rt_expr_opcode)200, x, 0, 0, &c32), IVM_ERR_INVALID_ARGUMENT,
             "not an operation");
  fails_with(rt_expr_add_output(b, 1000), IVM_ERR_INVALID_ARGUMENT, "node 1000");
  rt_expr *e;
  fails_with(rt_expr_builder_finish(b, &e), IVM_ERR_INVALID_ARGUMENT, "no outputs");
  ok(rt_expr_add_output(b, w));
  ok(rt_expr_add_output(b, cmp));
  ok(rt_expr_builder_finish(b, &e));
  /* x, y, 2, mul, gt, where: exp(y) is dropped. */
  cr_assert_eq(e->n_nodes, 6);
  cr_assert_eq(e->n_inputs, 2);
  cr_assert_eq(e->n_outputs, 2);
  for (uint32_t i = 0; i < e->n_nodes; i++) cr_assert_neq(e->nodes[i].op, RT_EX_EXP);
  cr_assert_eq(e->nodes[e->outputs[0]].op, RT_EX_WHERE);
  cr_assert_eq(e->nodes[e->outputs[0]].dtype, IVM_DT_F64);
  cr_assert_eq(e->nodes[e->outputs[1]].dtype, IVM_DT_BOOL);

  /* two outputs, f64: where(2x > y, 2x, y) and 2x > y */
  double xv[3] = {1, 2, -1}, yv[3] = {3, 3, -5}, r[3];
  uint8_t g[3];
  const void *in[2] = {xv, yv};
  void *out[2] = {r, g};
  rt_expr_eval(e, 3, in, out);
  const double want[3] = {3, 4, -2};
  const uint8_t want_g[3] = {0, 1, 1};
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(r[i], want[i]);
    cr_assert_eq(g[i], want_g[i]);
  }
  rt_expr_free(e);

  /* The builder is empty again and reusable. */
  ok(rt_expr_add_input(b, IVM_DT_F32, &x));
  ok(rt_expr_add_output(b, x));
  ok(rt_expr_builder_finish(b, &e));
  cr_assert_eq(e->n_nodes, 1);
  cr_assert_eq(e->in_dtypes[0], IVM_DT_F32);
  rt_expr_free(e);
  rt_expr_builder_destroy(b);
}

/* ---- interpreter ---------------------------------------------------------------------- */
#define N_VALUES 1000 /* several interpreter blocks, the last one partial */

static void eval_f32(const char *text, const char *const *pn, const double *pv, uint32_t np,
                     const float *x, float *r) {
  rt_expr *e;
  ok(parse_n(text, 1, IVM_DT_F32, np, pn, pv, &e));
  const void *in[1] = {x};
  void *out[1] = {r};
  rt_expr_eval(e, N_VALUES, in, out);
  rt_expr_free(e);
}

static void close_f32(float got, float want, const char *what, int i) {
  cr_assert(fabsf(got - want) <= 1e-6f * fmaxf(1.0f, fabsf(want)) || (isnan(got) && isnan(want)),
            "%s[%d]: got %.9g, want %.9g", what, i, got, want);
}

Test(expr_eval, activations_against_libm) {
  float x[N_VALUES], r[N_VALUES];
  for (int i = 0; i < N_VALUES; i++) x[i] = -10.0f + 20.0f * (float)i / (N_VALUES - 1);

  eval_f32("log(1 + exp(x))", NULL, NULL, 0, x, r);
  for (int i = 0; i < N_VALUES; i++) close_f32(r[i], logf(1.0f + expf(x[i])), "softplus", i);

  eval_f32("x * sigmoid(x)", NULL, NULL, 0, x, r);
  for (int i = 0; i < N_VALUES; i++)
    close_f32(r[i], x[i] * (1.0f / (1.0f + expf(-x[i]))), "swish", i);

  const char *pn[] = {"alpha"};
  const double pv[] = {0.3};
  eval_f32("where(x > 0, x, alpha * (exp(x) - 1))", pn, pv, 1, x, r);
  for (int i = 0; i < N_VALUES; i++) {
    float want = x[i] > 0 ? x[i] : 0.3f * (expf(x[i]) - 1.0f);
    close_f32(r[i], want, "elu", i);
  }

  eval_f32("0.5 * x * (1 + erf(x / sqrt(2)))", NULL, NULL, 0, x, r);
  for (int i = 0; i < N_VALUES; i++)
    close_f32(r[i], 0.5f * x[i] * (1.0f + erff(x[i] / sqrtf(2.0f))), "gelu", i);

  eval_f32("tanh(x) + abs(x) - floor(x) * ceil(x) / (1 + x*x)", NULL, NULL, 0, x, r);
  for (int i = 0; i < N_VALUES; i++)
    close_f32(r[i], tanhf(x[i]) + fabsf(x[i]) - floorf(x[i]) * ceilf(x[i]) / (1.0f + x[i] * x[i]),
              "mix", i);
}

Test(expr_eval, min_max_pow_follow_libm) {
  /* fminf/fmaxf: a NaN operand yields the other; pow(-8, 1/3) is NaN as in powf. */
  float x[3] = {NAN, 1.0f, -8.0f}, y[3] = {2.0f, NAN, 1.0f / 3.0f}, r[3];
  const void *in[2] = {x, y};
  void *out[1] = {r};
  rt_expr *e = parse_ok("min(x, y)", 2, IVM_DT_F32);
  rt_expr_eval(e, 3, in, out);
  for (int i = 0; i < 3; i++) close_f32(r[i], fminf(x[i], y[i]), "min", i);
  rt_expr_free(e);
  e = parse_ok("max(x, y)", 2, IVM_DT_F32);
  rt_expr_eval(e, 3, in, out);
  for (int i = 0; i < 3; i++) close_f32(r[i], fmaxf(x[i], y[i]), "max", i);
  rt_expr_free(e);
  e = parse_ok("x ^ y", 2, IVM_DT_F32);
  rt_expr_eval(e, 3, in, out);
  for (int i = 0; i < 3; i++) close_f32(r[i], powf(x[i], y[i]), "pow", i);
  rt_expr_free(e);
}

Test(expr_eval, comparisons_give_bool_bytes) {
  float x[N_VALUES], y[N_VALUES];
  uint8_t r[N_VALUES];
  for (int i = 0; i < N_VALUES; i++) x[i] = (float)(i % 7), y[i] = (float)(i % 5);
  rt_expr *e = parse_ok("x < y || x == 6 && !(y >= 2)", 2, IVM_DT_F32);
  cr_assert_eq(e->nodes[e->outputs[0]].dtype, IVM_DT_BOOL);
  const void *in[2] = {x, y};
  void *out[1] = {r};
  memset(r, 0xAA, sizeof r);
  rt_expr_eval(e, N_VALUES, in, out);
  for (int i = 0; i < N_VALUES; i++) {
    uint8_t want = x[i] < y[i] || (x[i] == 6 && !(y[i] >= 2));
    cr_assert_eq(r[i], want, "element %d: %u vs %u", i, r[i], want);
  }
  rt_expr_free(e);
}

Test(expr_eval, f64_computes_in_double) {
  double x[N_VALUES], r[N_VALUES];
  for (int i = 0; i < N_VALUES; i++) x[i] = 0.001 + 3.0 * i / N_VALUES;
  rt_expr *e = parse_ok("log(x) * sigmoid(x) + sqrt(x) - sin(x) / cos(x) + 0.1", 1, IVM_DT_F64);
  cr_assert_eq(e->nodes[e->outputs[0]].dtype, IVM_DT_F64);
  const void *in[1] = {x};
  void *out[1] = {r};
  rt_expr_eval(e, N_VALUES, in, out);
  for (int i = 0; i < N_VALUES; i++) {
    double want = log(x[i]) * (1.0 / (1.0 + exp(-x[i]))) + sqrt(x[i]) - sin(x[i]) / cos(x[i]) + 0.1;
    cr_assert(fabs(r[i] - want) <= 1e-14 * fmax(1.0, fabs(want)), "[%d]: %.17g vs %.17g", i, r[i],
              want);
  }
  rt_expr_free(e);
  /* 0.1 in f64 stays the double 0.1 (an f32 literal would be off by ~1.5e-9). */
  e = parse_ok("0.1 + x * 0", 1, IVM_DT_F64);
  double one = 1.0, v;
  const void *in1[1] = {&one};
  void *out1[1] = {&v};
  rt_expr_eval(e, 1, in1, out1);
  cr_assert_eq(v, 0.1);
  rt_expr_free(e);
}

Test(expr_eval, wide_expressions_and_constant_outputs) {
  /* Many values alive at once (each sum term is kept until the end), and an output that is
   * a constant or an input. */
  char text[4096] = "";
  for (int k = 1; k <= 60; k++) {
    char term[64];
    snprintf(term, sizeof term, "%s(x * %d + %d)", k == 1 ? "" : " + ", k, k);
    strcat(text, term);
  }
  float x[N_VALUES], r[N_VALUES];
  for (int i = 0; i < N_VALUES; i++) x[i] = (float)i / 100.0f;
  eval_f32(text, NULL, NULL, 0, x, r);
  for (int i = 0; i < N_VALUES; i++) {
    float want = 0;
    for (int k = 1; k <= 60; k++) want += x[i] * (float)k + (float)k;
    cr_assert(fabsf(r[i] - want) <= 1e-4f * fabsf(want), "[%d] %g vs %g", i, r[i], want);
  }
  eval_f32("3", NULL, NULL, 0, x, r);
  for (int i = 0; i < N_VALUES; i++) cr_assert_eq(r[i], 3.0f);
  eval_f32("x", NULL, NULL, 0, x, r);
  cr_assert_eq(memcmp(r, x, sizeof r), 0);
}

/* ---- rt_expr_run ---------------------------------------------------------------------- */
static rt_tensor mk(int dt, int rank, const int64_t *dims, void *data) {
  rt_tensor t;
  memset(&t, 0, sizeof t);
  t.dtype = (uint8_t)dt;
  t.rank = (uint8_t)rank;
  for (int k = 0; k < rank; k++) t.dims[k] = dims[k];
  t.data = data;
  t.capacity = rt_nbytes(&t);
  return t;
}

static ivm_status run_expr(const rt_expr *e, rt_expr_fn native, uint32_t n_in, rt_tensor *in,
                           rt_tensor *out) {
  const rt_tensor *inp[4];
  rt_tensor *outp[1] = {out};
  for (uint32_t k = 0; k < n_in; k++) inp[k] = &in[k];
  rt_scratch scratch = {NULL, NULL, 0, NULL};
  rt_call call = {n_in, 1, inp, outp, NULL, &scratch, NULL};
  ivm_status st = rt_expr_run(e, native, &call);
  rt_scratch_release(&scratch);
  return st;
}

Test(expr_run, broadcasts_like_numpy) {
  /* x[2,3] + 10*y[3] */
  rt_expr *e = parse_ok("x + 10 * y", 2, IVM_DT_F32);
  float xv[6] = {1, 2, 3, 4, 5, 6}, yv[3] = {1, 2, 3}, r[6];
  rt_tensor in[2] = {mk(IVM_DT_F32, 2, D(2, 3), xv), mk(IVM_DT_F32, 1, D(3), yv)};
  rt_tensor out = mk(IVM_DT_F32, 2, D(2, 3), r);
  ok(run_expr(e, NULL, 2, in, &out));
  const float want[6] = {11, 22, 33, 14, 25, 36};
  for (int i = 0; i < 6; i++) cr_assert_eq(r[i], want[i], "[%d] %g", i, r[i]);

  /* scalar (rank 0) y */
  float s = 0.5f;
  in[1] = mk(IVM_DT_F32, 0, NULL, &s);
  ok(run_expr(e, NULL, 2, in, &out));
  for (int i = 0; i < 6; i++) cr_assert_eq(r[i], xv[i] + 5.0f);

  /* y[2,1] against x[2,3]: a column broadcast */
  float col[2] = {100, 200};
  in[1] = mk(IVM_DT_F32, 2, D(2, 1), col);
  ok(run_expr(e, NULL, 2, in, &out));
  const float want_col[6] = {1001, 1002, 1003, 2004, 2005, 2006};
  for (int i = 0; i < 6; i++) cr_assert_eq(r[i], want_col[i]);

  /* An input that does not broadcast is refused. */
  float bad[2] = {0, 0};
  in[1] = mk(IVM_DT_F32, 1, D(2), bad);
  fails_with(run_expr(e, NULL, 2, in, &out), IVM_ERR_INTERNAL, "does not broadcast");
  in[1] = mk(IVM_DT_F64, 1, D(3), yv);
  fails_with(run_expr(e, NULL, 2, in, &out), IVM_ERR_INTERNAL, "input 1 is f64");
  fails_with(run_expr(e, NULL, 1, in, &out), IVM_ERR_INTERNAL, "takes 2 inputs");
  rt_expr_free(e);
}

/* A stand-in for JIT code computing x - 2*y + z over contiguous streams, counting calls. */
static int native_calls;
static int64_t native_elems;
static void native_fn(int64_t n, const void *const *in, void *const *out) {
  const float *x = in[0], *y = in[1], *z = in[2];
  float *r = out[0];
  for (int64_t i = 0; i < n; i++) r[i] = x[i] - 2 * y[i] + z[i];
  native_calls++;
  native_elems += n;
}

Test(expr_run, large_broadcast_across_blocks) {
  /* x[5,1,300] - 2*y[4,1] + z[] -> [5,4,300] (6000 elements, several blocks), checked
   * against a direct index computation, with the interpreter and with native code. */
  enum { A = 5, B = 4, C = 300 };
  static float x[A * C], y[B], r[A * B * C], r2[A * B * C];
  for (int i = 0; i < A * C; i++) x[i] = (float)(i % 97) * 0.25f;
  for (int i = 0; i < B; i++) y[i] = (float)i * 3.0f;
  float z = -1.5f;
  rt_expr *e = parse_ok("x - 2*y + z", 3, IVM_DT_F32);
  rt_tensor in[3] = {mk(IVM_DT_F32, 3, D(A, 1, C), x), mk(IVM_DT_F32, 2, D(B, 1), y),
                     mk(IVM_DT_F32, 0, NULL, &z)};
  rt_tensor out = mk(IVM_DT_F32, 3, D(A, B, C), r);
  ok(run_expr(e, NULL, 3, in, &out));
  out.data = r2;
  native_calls = 0;
  native_elems = 0;
  ok(run_expr(e, native_fn, 3, in, &out));
  cr_assert_gt(native_calls, 1, "broadcast output goes in blocks");
  cr_assert_eq(native_elems, A * B * C);
  for (int a = 0; a < A; a++)
    for (int b = 0; b < B; b++)
      for (int c = 0; c < C; c++) {
        int i = (a * B + b) * C + c;
        float want = x[a * C + c] - 2 * y[b] + z;
        cr_assert_eq(r[i], want, "interpreter [%d,%d,%d]: %g vs %g", a, b, c, r[i], want);
        cr_assert_eq(r2[i], want, "native [%d,%d,%d]", a, b, c);
      }

  /* Same shapes everywhere: native code is called once over all elements. */
  static float x2[A * B * C], y2[A * B * C], z2[A * B * C];
  for (int i = 0; i < A * B * C; i++) x2[i] = (float)i, y2[i] = 1.0f, z2[i] = 2.0f;
  rt_tensor same[3] = {mk(IVM_DT_F32, 3, D(A, B, C), x2), mk(IVM_DT_F32, 3, D(A, B, C), y2),
                       mk(IVM_DT_F32, 3, D(A, B, C), z2)};
  native_calls = 0;
  ok(run_expr(e, native_fn, 3, same, &out));
  cr_assert_eq(native_calls, 1);
  for (int i = 0; i < A * B * C; i++) cr_assert_eq(r2[i], (float)i);
  out.data = r;
  ok(run_expr(e, NULL, 3, same, &out));
  for (int i = 0; i < A * B * C; i++) cr_assert_eq(r[i], (float)i);

  /* No elements: nothing is touched. */
  rt_tensor empty_out = mk(IVM_DT_F32, 3, D(A, 0, C), NULL);
  rt_tensor empty_in[3] = {mk(IVM_DT_F32, 3, D(A, 1, C), x), mk(IVM_DT_F32, 2, D(0, 1), NULL),
                           mk(IVM_DT_F32, 0, NULL, &z)};
  ok(run_expr(e, NULL, 3, empty_in, &empty_out));
  rt_expr_free(e);
}

Test(expr_run, bool_output_and_f64_broadcast) {
  rt_expr *e = parse_ok("x > y", 2, IVM_DT_F64);
  double xv[6] = {1, 5, 3, 0, 7, 2}, yv[2] = {2, 4};
  uint8_t r[6];
  rt_tensor in[2] = {mk(IVM_DT_F64, 2, D(3, 2), xv), mk(IVM_DT_F64, 1, D(2), yv)};
  rt_tensor out = mk(IVM_DT_BOOL, 2, D(3, 2), r);
  ok(run_expr(e, NULL, 2, in, &out));
  const uint8_t want[6] = {0, 1, 1, 0, 1, 0};
  for (int i = 0; i < 6; i++) cr_assert_eq(r[i], want[i], "[%d]", i);
  rt_tensor wrong = mk(IVM_DT_F64, 2, D(3, 2), xv);
  fails_with(run_expr(e, NULL, 2, in, &wrong), IVM_ERR_INTERNAL, "output 0 is f64");
  rt_expr_free(e);
}

/* ---- serialization -------------------------------------------------------------------- */
static void bytes_of(const char *text, uint8_t dt, uint8_t **b, size_t *n) {
  rt_expr *e = parse_ok(text, 2, dt);
  ok(rt_expr_serialize(e, b, n));
  rt_expr_free(e);
}

Test(expr_serialize, canonical_and_distinct) {
  uint8_t *a, *b;
  size_t na, nb;
  bytes_of("x * sigmoid(x) + 1", IVM_DT_F32, &a, &na);
  bytes_of("x*sigmoid( x )+1.0", IVM_DT_F32, &b, &nb); /* same expression, other spelling */
  cr_assert_eq(na, nb);
  cr_assert_eq(memcmp(a, b, na), 0);
  cr_assert_eq(memcmp(a, "IVMX", 4), 0);
  free(b);
  const char *others[] = {"x * sigmoid(x) + 2", "y * sigmoid(y) + 1", "x * sigmoid(x) - 1",
                          "x * tanh(x) + 1", "(x * sigmoid(x) + 1) > 0"};
  for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
    bytes_of(others[i], IVM_DT_F32, &b, &nb);
    cr_assert(nb != na || memcmp(a, b, na) != 0, "'%s' serializes like the original", others[i]);
    free(b);
  }
  bytes_of("x * sigmoid(x) + 1", IVM_DT_F64, &b, &nb);
  cr_assert(nb != na || memcmp(a, b, na) != 0, "f64 differs from f32");
  free(b);
  free(a);

  /* Garbage in fields a node does not use does not change the bytes; an f32 constant
   * compares by its f32 value. */
  rt_expr *e = parse_ok("x + 0.1", 1, IVM_DT_F32);
  ok(rt_expr_serialize(e, &a, &na));
  for (uint32_t i = 0; i < e->n_nodes; i++) {
    e->nodes[i].c = 77;
    if (e->nodes[i].op == RT_EX_CONST) e->nodes[i].value = 0.1; /* unrounded double */
  }
  ok(rt_expr_serialize(e, &b, &nb));
  cr_assert_eq(na, nb);
  cr_assert_eq(memcmp(a, b, na), 0);
  free(a);
  free(b);
  e->nodes[0].op = 250;
  fails_with(rt_expr_serialize(e, &a, &na), IVM_ERR_INVALID_ARGUMENT, "unknown opcode");
  rt_expr_free(e);
}

/* ---- the ivm.expr op family ------------------------------------------------------------ */
typedef struct op_attrs {
  isa_attr a[4];
} op_attrs;

static op_attrs attrs_for(const char *expr, const char *inputs, const char *pnames,
                          const float *params, uint32_t n_params) {
  op_attrs x;
  isa_attrs_init_defaults(&rt_expr_family_desc, x.a);
  x.a[0].v.s = expr;
  x.a[0].count = (uint32_t)strlen(expr);
  x.a[0].present = 1;
  if (inputs) x.a[1].v.s = inputs, x.a[1].count = (uint32_t)strlen(inputs), x.a[1].present = 1;
  if (pnames) x.a[2].v.s = pnames, x.a[2].count = (uint32_t)strlen(pnames), x.a[2].present = 1;
  if (params) x.a[3].v.floats = params, x.a[3].count = n_params, x.a[3].present = 1;
  return x;
}

static isa_type ty(int dt, int rank, const int64_t *dims) {
  isa_type t;
  memset(&t, 0, sizeof t);
  t.dtype = (uint8_t)dt;
  t.rank = (int8_t)rank;
  for (int k = 0; k < rank; k++) t.dims[k] = dims[k];
  return t;
}

static ivm_status infer(const op_attrs *at, uint32_t n_in, const isa_type *in, isa_type *out) {
  const void *data[4] = {NULL, NULL, NULL, NULL};
  isa_infer_ctx ctx = {n_in, in, data, at->a, 1, out};
  return rt_expr_family_desc.infer(&ctx);
}

Test(expr_op, descriptor) {
  const isa_op_desc *d = &rt_expr_family_desc;
  cr_assert_str_eq(d->domain, "ivm.expr");
  cr_assert_str_eq(d->name, "*");
  cr_assert_eq(d->kind, ISA_OP_KIND_EXPR);
  cr_assert_eq(d->flags, ISA_OPF_ELEMENTWISE);
  cr_assert_eq(d->min_in, 1);
  cr_assert_eq(d->max_in, ISA_VARIADIC);
  cr_assert_eq(d->max_out, 1);
  cr_assert_str_eq(d->attrs[0].name, "expr");
  cr_assert_str_eq(d->attrs[1].name, "inputs");
  cr_assert_str_eq(d->attrs[2].name, "param_names");
  cr_assert_str_eq(d->attrs[3].name, "params");
  isa_registry *reg;
  ok(rt_registry_create_builtin(&reg));
  const isa_registry_entry *en = isa_registry_resolve(reg, "ivm.expr", "Softplus", 1);
  cr_assert_not_null(en);
  cr_assert_eq(en->impl, &rt_expr_family_impl);
  isa_registry_destroy(reg);
}

Test(expr_op, infer_broadcasts_and_checks_dtypes) {
  op_attrs at = attrs_for("a * sigmoid(b)", "a, b", NULL, NULL, 0);
  isa_type in[2] = {ty(IVM_DT_F32, 3, D(2, 1, 4)), ty(IVM_DT_F32, 2, D(3, 1))}, out;
  ok(infer(&at, 2, in, &out));
  cr_assert_eq(out.dtype, IVM_DT_F32);
  cr_assert_eq(out.rank, 3);
  cr_assert_eq(out.dims[0], 2);
  cr_assert_eq(out.dims[1], 3);
  cr_assert_eq(out.dims[2], 4);

  in[0] = ty(IVM_DT_F32, 2, D(-1, 4)); /* unknown dim against 1 stays unknown */
  in[1] = ty(IVM_DT_F32, 2, D(1, 4));
  ok(infer(&at, 2, in, &out));
  cr_assert_eq(out.rank, 2);
  cr_assert_lt(out.dims[0], 0);
  cr_assert_eq(out.dims[1], 4);
  in[0].rank = -1;
  ok(infer(&at, 2, in, &out));
  cr_assert_eq(out.rank, -1);

  in[0] = ty(IVM_DT_F32, 1, D(3));
  in[1] = ty(IVM_DT_F32, 1, D(4));
  fails_with(infer(&at, 2, in, &out), IVM_ERR_INVALID_ARGUMENT, "cannot broadcast");

  op_attrs cmp = attrs_for("x >= y", NULL, NULL, NULL, 0);
  in[0] = ty(IVM_DT_F64, 1, D(5));
  in[1] = ty(IVM_DT_F64, 0, NULL);
  ok(infer(&cmp, 2, in, &out));
  cr_assert_eq(out.dtype, IVM_DT_BOOL);
  cr_assert_eq(out.rank, 1);
  cr_assert_eq(out.dims[0], 5);

  in[1] = ty(IVM_DT_I64, 0, NULL);
  fails_with(infer(&cmp, 2, in, &out), IVM_ERR_INVALID_ARGUMENT, "input 'y' has dtype i64");
  in[1] = ty(IVM_DT_NONE, 0, NULL);
  fails_with(infer(&cmp, 2, in, &out), IVM_ERR_INVALID_ARGUMENT, "input 'y' is missing");
  in[1] = ty(IVM_DT_F32, 0, NULL);
  fails_with(infer(&cmp, 2, in, &out), IVM_ERR_INVALID_ARGUMENT, "does not mix");
  in[1] = ty(IVM_DT_F64, 0, NULL);
  op_attrs bad = attrs_for("x >= sigmod(y)", NULL, NULL, NULL, 0);
  fails_with(infer(&bad, 2, in, &out), IVM_ERR_INVALID_ARGUMENT,
             "unknown function 'sigmod' at column 6");
  op_attrs names = attrs_for("a + b", "a", NULL, NULL, 0);
  fails_with(infer(&names, 2, in, &out), IVM_ERR_INVALID_ARGUMENT, "names 1 inputs");
  op_attrs badname = attrs_for("a + b", "a, 2b", NULL, NULL, 0);
  fails_with(infer(&badname, 2, in, &out), IVM_ERR_INVALID_ARGUMENT, "'2b' is not a name");
  const float pv[1] = {1};
  op_attrs pcount = attrs_for("x + k", NULL, "k, j", pv, 1);
  fails_with(infer(&pcount, 2, in, &out), IVM_ERR_INVALID_ARGUMENT, "2 param_names but 1 params");
}

Test(expr_op, prepare_kernel_release) {
  const float pv[2] = {2.0f, 0.5f};
  op_attrs at = attrs_for("alpha * t + beta * u", "t,u", "alpha, beta", pv, 2);
  isa_type types[3] = {ty(IVM_DT_F32, 2, D(2, 2)), ty(IVM_DT_F32, 1, D(2)),
                       ty(IVM_DT_F32, 2, D(2, 2))};
  rt_prepare_ctx pctx = {&rt_expr_family_desc, at.a, 2, 1, types, types + 2, NULL, "test: instr 0"};
  void *state = NULL;
  ok(rt_expr_family_impl.prepare(&pctx, &state));
  cr_assert_not_null(state);
  const rt_expr_op_state *s = state;
  cr_assert_not_null(s->expr);
  cr_assert_null(s->native);

  float t[4] = {1, 2, 3, 4}, u[2] = {10, 20}, r[4];
  rt_tensor in[2] = {mk(IVM_DT_F32, 2, D(2, 2), t), mk(IVM_DT_F32, 1, D(2), u)};
  rt_tensor out = mk(IVM_DT_F32, 2, D(2, 2), r);
  const rt_tensor *inp[2] = {&in[0], &in[1]};
  rt_tensor *outp[1] = {&out};
  rt_scratch scratch = {NULL, NULL, 0, NULL};
  rt_call call = {2, 1, inp, outp, at.a, &scratch, state};
  ok(rt_expr_family_impl.kernel(&call));
  const float want[4] = {7, 14, 11, 18};
  for (int i = 0; i < 4; i++) cr_assert_eq(r[i], want[i]);
  /* Without prepared state the kernel parses for the call. */
  memset(r, 0, sizeof r);
  call.state = NULL;
  ok(rt_expr_family_impl.kernel(&call));
  for (int i = 0; i < 4; i++) cr_assert_eq(r[i], want[i]);
  rt_scratch_release(&scratch);
  rt_expr_family_impl.release(state);

  op_attrs bad = attrs_for("alpha * t +", "t,u", "alpha, beta", pv, 2);
  pctx.attrs = bad.a;
  state = NULL;
  fails_with(rt_expr_family_impl.prepare(&pctx, &state), IVM_ERR_INVALID_ARGUMENT,
             "test: instr 0: expr 'alpha * t +': expected a number");
  cr_assert_null(state);
}
