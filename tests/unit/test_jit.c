/* The LLVM JIT engine (jit/engine.c, codegen.c, vmath.c). Compiled expressions are checked
 * against the interpreter (rt_expr_eval) and against libm computed here in double, over
 * special values (+-0, subnormals, overflow, inf, NaN) and lengths that exercise the full
 * vector blocks and the masked tail. The object cache is checked with temporary
 * directories. The softplus microbenchmark runs only with IVM_JIT_BENCH=1. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jit/jit.h"

/* ---- helpers ------------------------------------------------------------------------ */
static void ok(ivm_status st) {
  if (st) cr_log_error("status: %s", ivm_status_message(st));
  cr_assert_null(st);
}

static jit_engine *engine(const char *cache_dir) {
  jit_engine *j = NULL;
  ok(jit_engine_create(cache_dir, &j));
  cr_assert_not_null(j);
  return j;
}

/* Parses text over inputs x, y, ... of one dtype, with optional named parameters. */
static rt_expr *parse_p(const char *text, uint8_t dt, uint32_t n_inputs, uint32_t n_params,
                        const char *const *names, const double *values) {
  uint8_t dts[4] = {dt, dt, dt, dt};
  rt_expr_source src = {text, n_inputs, NULL, dts, n_params, names, values};
  rt_expr *e = NULL;
  ok(rt_expr_parse(&src, &e));
  return e;
}
static rt_expr *parse(const char *text, uint8_t dt, uint32_t n_inputs) {
  return parse_p(text, dt, n_inputs, 0, NULL, NULL);
}

static const float specials[] = {
    0.0f,    -0.0f,    1.0f,      -1.0f,    0.5f,     -0.5f,     2.0f,     -3.0f,    1e-3f,
    -1e-3f,  1e-20f,   1e-40f,    -1e-40f,  10.0f,    -10.0f,    50.0f,    -50.0f,   88.0f,
    88.8f,   89.0f,    -88.0f,    -104.0f,  -200.0f,  1e30f,     -1e30f,   FLT_MAX,  -FLT_MAX,
    INFINITY, -INFINITY, NAN,     3.5f,     0.625f,   -0.625f,   0.9999f,  1.0001f,  4.0f,
    3.9f,    -0.3f,    7.25f,     0.1f};
#define N_SPECIALS (sizeof specials / sizeof specials[0])

/* Input k of length n: the special values (rotated per input, so pairs differ), then
 * pseudo-random values in [-20, 20]. */
static void fill_input(double *v, int64_t n, int k) {
  uint32_t s = 12345u + 977u * (uint32_t)k;
  for (int64_t i = 0; i < n; i++) {
    s = s * 1664525u + 1013904223u;
    if (i < (int64_t)N_SPECIALS) v[i] = specials[(i + 3 * k) % N_SPECIALS];
    else v[i] = ((double)(s >> 8) / (double)(1u << 24)) * 40.0 - 20.0;
  }
}

/* Agreement within 1e-5 relative. The absolute floor covers cancellation (exp(x) - 1 for
 * small x): one ulp of an O(1) intermediate is then a large relative difference. */
static int close_to(double got, double want, double rel, double abs_floor) {
  if (isnan(want) || isnan(got)) return isnan(want) && isnan(got);
  if (isinf(want) || isinf(got)) {
    if (got == want) return 1;
    double big = (fabs(got) > fabs(want) ? fabs(want) : fabs(got));
    return signbit(got) == signbit(want) && big >= FLT_MAX * (1 - rel);
  }
  return fabs(got - want) <= rel * fabs(want) + abs_floor;
}

static size_t dt_size(int dt) { return dt == IVM_DT_F64 ? 8 : dt == IVM_DT_F32 ? 4 : 1; }
static double get(const void *p, int dt, int64_t i) {
  if (dt == IVM_DT_F64) return ((const double *)p)[i];
  if (dt == IVM_DT_F32) return ((const float *)p)[i];
  return ((const uint8_t *)p)[i];
}

#define CANARY 16 /* elements past n that must stay untouched */

/* Runs e natively and with the interpreter over n elements; compares every output. */
static void check_against_interpreter(jit_engine *j, const rt_expr *e, int64_t n) {
  rt_expr_fn fn = NULL;
  ok(jit_compile(j, e, &fn));
  cr_assert_not_null(fn);
  const void *in[4];
  void *out_jit[8], *out_ref[8];
  cr_assert(e->n_inputs <= 4 && e->n_outputs <= 8);
  double *tmp = malloc((size_t)(n + 1) * sizeof *tmp);
  for (uint32_t k = 0; k < e->n_inputs; k++) {
    fill_input(tmp, n, (int)k);
    void *p = malloc((size_t)(n + 1) * 8);
    for (int64_t i = 0; i < n; i++) {
      if (e->in_dtypes[k] == IVM_DT_F64) ((double *)p)[i] = tmp[i];
      else ((float *)p)[i] = (float)tmp[i];
    }
    in[k] = p;
  }
  for (uint32_t k = 0; k < e->n_outputs; k++) {
    size_t bytes = (size_t)(n + CANARY) * 8;
    out_jit[k] = malloc(bytes);
    out_ref[k] = malloc(bytes);
    memset(out_jit[k], 0xA5, bytes);
    memset(out_ref[k], 0x5A, bytes);
  }
  fn(n, in, out_jit);
  rt_expr_eval(e, n, in, out_ref);
  for (uint32_t k = 0; k < e->n_outputs; k++) {
    int dt = e->nodes[e->outputs[k]].dtype;
    for (int64_t i = 0; i < n; i++) {
      double g = get(out_jit[k], dt, i), w = get(out_ref[k], dt, i);
      if (dt == IVM_DT_BOOL)
        cr_assert(g == w, "n=%lld output %u [%lld]: jit %g, interpreter %g", (long long)n, k,
                  (long long)i, g, w);
      else
        cr_assert(close_to(g, w, 1e-5, dt == IVM_DT_F32 ? 1e-6 : 1e-12),
                  "n=%lld output %u [%lld] (x=%g): jit %.9g, interpreter %.9g", (long long)n, k,
                  (long long)i, e->n_inputs ? get(in[0], e->in_dtypes[0], i) : 0.0, g, w);
    }
    const unsigned char *tail = (const unsigned char *)out_jit[k] + (size_t)n * dt_size(dt);
    for (size_t b = 0; b < CANARY * dt_size(dt); b++)
      cr_assert_eq(tail[b], 0xA5, "n=%lld output %u: byte %zu past the end was written",
                   (long long)n, k, b);
  }
  for (uint32_t k = 0; k < e->n_inputs; k++) free((void *)in[k]);
  for (uint32_t k = 0; k < e->n_outputs; k++) {
    free(out_jit[k]);
    free(out_ref[k]);
  }
  free(tmp);
}

static const int64_t lengths[] = {0, 1, 7, 15, 16, 17, 31, 32, 33, 64, 1003};

static void check_all_lengths(const char *text, uint8_t dt, uint32_t n_inputs) {
  jit_engine *j = engine("");
  rt_expr *e = parse(text, dt, n_inputs);
  for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++)
    check_against_interpreter(j, e, lengths[i]);
  rt_expr_free(e);
  jit_engine_destroy(j);
}

/* ---- expressions vs the interpreter --------------------------------------------------- */
Test(jit, softplus) { check_all_lengths("log(1 + exp(x))", IVM_DT_F32, 1); }
Test(jit, swish) { check_all_lengths("x * sigmoid(x)", IVM_DT_F32, 1); }
Test(jit, gelu_erf) { check_all_lengths("0.5 * x * (1 + erf(x / sqrt(2)))", IVM_DT_F32, 1); }
Test(jit, tanh_mix) { check_all_lengths("tanh(x) * 2 - tanh(y * 0.1)", IVM_DT_F32, 2); }
Test(jit, rounding_and_roots) {
  check_all_lengths("floor(x) + ceil(y) - sqrt(abs(x)) / (1 + abs(y))", IVM_DT_F32, 2);
  check_all_lengths("-x / y + min(x, y) * max(x, y)", IVM_DT_F32, 2);
}
Test(jit, constants_only) { check_all_lengths("2 * pi + e", IVM_DT_F32, 0); }
Test(jit, libm_calls) { check_all_lengths("sin(x) * cos(y) + pow(abs(x), y)", IVM_DT_F32, 2); }

Test(jit, elu_with_where) {
  const char *names[] = {"alpha"};
  const double alpha[] = {1.5};
  jit_engine *j = engine("");
  rt_expr *e = parse_p("where(x > 0, x, alpha * (exp(x) - 1))", IVM_DT_F32, 1, 1, names, alpha);
  for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++)
    check_against_interpreter(j, e, lengths[i]);
  /* and hand-worked values: elu(2) = 2, elu(-1) = 1.5 (e^-1 - 1), elu(-inf) = -1.5 */
  rt_expr_fn fn;
  ok(jit_compile(j, e, &fn));
  float x[3] = {2.0f, -1.0f, -INFINITY}, y[3];
  const void *in[] = {x};
  void *out[] = {y};
  fn(3, in, out);
  cr_expect_float_eq(y[0], 2.0f, 0);
  cr_expect_float_eq(y[1], (float)(1.5 * (exp(-1.0) - 1)), 1e-6);
  cr_expect_float_eq(y[2], -1.5f, 0);
  rt_expr_free(e);
  jit_engine_destroy(j);
}

Test(jit, comparisons_give_bool_bytes) {
  check_all_lengths("x < y", IVM_DT_F32, 2);
  check_all_lengths("(x >= y) && !(x == 0) || (y != y)", IVM_DT_F32, 2);
  check_all_lengths("(x <= 1) || (x > y) && (y >= -1)", IVM_DT_F64, 2);
  /* hand-worked: NaN compares false except !=, and bools are stored as 0 / 1 */
  jit_engine *j = engine("");
  rt_expr *e = parse("x != y", IVM_DT_F32, 2);
  rt_expr_fn fn;
  ok(jit_compile(j, e, &fn));
  float x[4] = {1, NAN, 2, -0.0f}, y[4] = {1, NAN, 3, 0.0f};
  uint8_t r[4] = {7, 7, 7, 7};
  const void *in[] = {x, y};
  void *out[] = {r};
  fn(4, in, out);
  cr_expect(r[0] == 0 && r[1] == 1 && r[2] == 1 && r[3] == 0, "got %u %u %u %u", r[0], r[1], r[2],
            r[3]);
  rt_expr_free(e);
  jit_engine_destroy(j);
}

Test(jit, f64_expressions) {
  check_all_lengths("log(1 + exp(x)) + tanh(x) * erf(y) - sigmoid(x * y) + sin(x) * cos(y)",
                    IVM_DT_F64, 2);
  check_all_lengths("where(x > y, pow(abs(x), 0.5), floor(y) + ceil(x) - sqrt(abs(y)))", IVM_DT_F64,
                    2);
}

/* f64 functions (libmvec or libm underneath) against libm directly. */
static double f64_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
static double f64_pow_half(double x) { return pow(x, 0.5); }
static void f64_functions_match_libm(void) {
  static const struct {
    const char *text;
    double (*ref)(double);
  } fns[] = {{"exp(x)", exp},  {"log(x)", log},         {"tanh(x)", tanh},
             {"erf(x)", erf},  {"sin(x)", sin},         {"cos(x)", cos},
             {"sigmoid(x)", f64_sigmoid}, {"pow(x, 0.5)", f64_pow_half}};
  enum { N = 1201 };
  double x[N], y[N];
  for (int i = 0; i < N; i++) x[i] = -40.0 + (80.0 / 1100) * i;
  const double edges[] = {0.0, -0.0, 1e-310, -1e-310, 700, 710, -745, -800, 1e300, -1e300,
                          INFINITY, -INFINITY, NAN, 1e-8, -1e-8, 0.5, 1.0, -1.0, 1e6};
  for (int i = 0; i < (int)(sizeof edges / sizeof edges[0]); i++) x[1100 + i] = edges[i];
  for (int i = 1100 + (int)(sizeof edges / sizeof edges[0]); i < N; i++) x[i] = 0.001 * i;
  jit_engine *j = engine("");
  for (size_t f = 0; f < sizeof fns / sizeof fns[0]; f++) {
    rt_expr *e = parse(fns[f].text, IVM_DT_F64, 1);
    rt_expr_fn fn;
    ok(jit_compile(j, e, &fn));
    const void *in[] = {x};
    void *out[] = {y};
    fn(N, in, out);
    for (int i = 0; i < N; i++) {
      double want = fns[f].ref(x[i]);
      cr_assert(close_to(y[i], want, 1e-14, 1e-300) || (isinf(want) && y[i] == want),
                "%s at x=%.17g: %.17g != %.17g", fns[f].text, x[i], y[i], want);
    }
    rt_expr_free(e);
  }
  jit_engine_destroy(j);
}

Test(jit, f64_functions_match_libm) { f64_functions_match_libm(); }

/* The per-lane libm fallback used where glibc's libmvec is missing. */
Test(jit, without_libmvec) {
  setenv("IVM_JIT_NO_LIBMVEC", "1", 1);
  f64_functions_match_libm();
  check_all_lengths("sin(x) * cos(y) + pow(abs(x), y)", IVM_DT_F32, 2);
  check_all_lengths("log(1 + exp(x)) + tanh(x) * erf(y) - sigmoid(x * y) + sin(x) * cos(y)",
                    IVM_DT_F64, 2);
  unsetenv("IVM_JIT_NO_LIBMVEC");
}

/* Built with the builder: shared subexpressions, a bool output, an input passed through. */
Test(jit, multi_output_dag) {
  rt_expr_builder *b;
  ok(rt_expr_builder_create(&b));
  uint32_t x, y, s, p, sg, lt, r;
  ok(rt_expr_add_input(b, IVM_DT_F32, &x));
  ok(rt_expr_add_input(b, IVM_DT_F32, &y));
  ok(rt_expr_add_op(b, RT_EX_ADD, x, y, 0, &s));
  ok(rt_expr_add_op(b, RT_EX_MUL, x, y, 0, &p));
  ok(rt_expr_add_op(b, RT_EX_SIGMOID, s, 0, 0, &sg));
  ok(rt_expr_add_op(b, RT_EX_LT, x, y, 0, &lt));
  ok(rt_expr_add_op(b, RT_EX_RECIP, y, 0, 0, &r));
  uint32_t outs[] = {s, p, sg, lt, r, x};
  for (int k = 0; k < 6; k++) ok(rt_expr_add_output(b, outs[k]));
  rt_expr *e;
  ok(rt_expr_builder_finish(b, &e));
  rt_expr_builder_destroy(b);

  jit_engine *j = engine("");
  for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++)
    check_against_interpreter(j, e, lengths[i]);
  /* and against C directly */
  rt_expr_fn fn;
  ok(jit_compile(j, e, &fn));
  enum { N = 203 };
  float xs[N], ys[N], o[5][N];
  uint8_t olt[N];
  for (int i = 0; i < N; i++) {
    xs[i] = (float)(i % 17) - 8.5f;
    ys[i] = (float)(i % 5) * 0.75f - 1.0f;
  }
  const void *in[] = {xs, ys};
  void *out[] = {o[0], o[1], o[2], olt, o[3], o[4]};
  fn(N, in, out);
  for (int i = 0; i < N; i++) {
    cr_assert_float_eq(o[0][i], xs[i] + ys[i], 0);
    cr_assert_float_eq(o[1][i], xs[i] * ys[i], 0);
    cr_assert(close_to(o[2][i], 1.0 / (1.0 + exp(-(double)(xs[i] + ys[i]))), 1e-6, 0));
    cr_assert_eq(olt[i], xs[i] < ys[i]);
    cr_assert_float_eq(o[3][i], 1.0f / ys[i], 0);
    cr_assert_float_eq(o[4][i], xs[i], 0);
  }
  rt_expr_free(e);
  jit_engine_destroy(j);
}

/* Outputs may be the inputs' own buffers (element for element). */
Test(jit, in_place) {
  jit_engine *j = engine("");
  rt_expr *e = parse("x * 2 + y", IVM_DT_F32, 2);
  rt_expr_fn fn;
  ok(jit_compile(j, e, &fn));
  enum { N = 1003 };
  float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
  for (int i = 0; i < N; i++) x[i] = (float)i, y[i] = 1.0f;
  const void *in[] = {x, y};
  void *out[] = {x};
  fn(N, in, out);
  for (int i = 0; i < N; i++) cr_assert_float_eq(x[i], 2.0f * (float)i + 1.0f, 0, "i=%d", i);
  free(x);
  free(y);
  rt_expr_free(e);
  jit_engine_destroy(j);
}

/* One engine shared by threads that compile (some of the same expressions) and run. */
static jit_engine *shared_engine;
static void *compile_and_run(void *arg) {
  static const char *texts[] = {"x * sigmoid(x)", "log(1 + exp(x))", "tanh(x) - x"};
  int t = (int)(intptr_t)arg;
  for (int k = 0; k < 3; k++) {
    const char *text = texts[(t + k) % 3];
    rt_expr *e = parse(text, IVM_DT_F32, 1);
    rt_expr_fn fn;
    if (jit_compile(shared_engine, e, &fn)) return (void *)1;
    float x[100], y[100], r[100];
    for (int i = 0; i < 100; i++) x[i] = (float)(i - 50) * 0.1f;
    const void *in[] = {x};
    void *out[] = {y}, *ref_out[] = {r};
    fn(100, in, out);
    rt_expr_eval(e, 100, in, ref_out);
    for (int i = 0; i < 100; i++)
      if (!close_to(y[i], r[i], 1e-5, 1e-6)) return (void *)2;
    rt_expr_free(e);
  }
  return NULL;
}

Test(jit, threads_share_an_engine) {
  shared_engine = engine("");
  pthread_t th[4];
  for (int t = 0; t < 4; t++) pthread_create(&th[t], NULL, compile_and_run, (void *)(intptr_t)t);
  for (int t = 0; t < 4; t++) {
    void *r;
    pthread_join(th[t], &r);
    cr_expect_null(r, "thread %d failed (%p)", t, r);
  }
  jit_engine_stats s;
  jit_engine_get_stats(shared_engine, &s);
  cr_expect(s.functions == 12 && s.compiled == 3, "functions %u, compiled %u", s.functions, s.compiled);
  jit_engine_destroy(shared_engine);
}

/* ---- f32 math accuracy against libm in double ------------------------------------------ */
/* Within 1e-6 relative where the true result is a normal float; results below FLT_MIN
 * (subnormal or underflowed) may differ by up to FLT_MIN. */
static int accurate(float got, double want) {
  if (isnan(want)) return isnan(got);
  if (isinf(want)) return got == (float)want;
  if (fabs(want) > FLT_MAX) return isinf(got) ? signbit(got) == signbit(want) : fabs(got) >= FLT_MAX * (1 - 1e-6);
  if (fabs(want) < FLT_MIN) return fabs(got - want) <= FLT_MIN;
  return fabs(got - want) <= 1e-6 * fabs(want);
}

typedef double (*ref_fn)(double);
static double ref_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

static void sweep(const char *text, ref_fn ref) {
  jit_engine *j = engine("");
  rt_expr *e = parse(text, IVM_DT_F32, 1);
  rt_expr_fn fn;
  ok(jit_compile(j, e, &fn));
  /* Every 2039th bit pattern of each sign (all exponents, varied mantissas), plus the
   * specials. */
  int64_t n = 0, cap = 2 * (0x7f800000 / 2039 + 2) + (int64_t)N_SPECIALS;
  float *x = malloc((size_t)cap * sizeof *x), *y = malloc((size_t)cap * sizeof *y);
  for (uint32_t bits = 0; bits < 0x7f800000u; bits += 2039u) {
    float v;
    memcpy(&v, &bits, sizeof v);
    x[n++] = v;
    x[n++] = -v;
  }
  for (size_t i = 0; i < N_SPECIALS; i++) x[n++] = specials[i];
  const void *in[] = {x};
  void *out[] = {y};
  fn(n, in, out);
  int64_t bad = 0;
  for (int64_t i = 0; i < n; i++) {
    double want = ref(x[i]);
    if (!accurate(y[i], want) && bad++ < 5)
      cr_log_error("%s at x=%.9g: got %.9g, want %.9g", text, x[i], y[i], want);
  }
  cr_expect_eq(bad, 0, "%s: %lld of %lld inaccurate", text, (long long)bad, (long long)n);
  free(x);
  free(y);
  rt_expr_free(e);
  jit_engine_destroy(j);
}

Test(jit_math, exp) { sweep("exp(x)", exp); }
Test(jit_math, log) { sweep("log(x)", log); }
Test(jit_math, tanh) { sweep("tanh(x)", tanh); }
Test(jit_math, erf) { sweep("erf(x)", erf); }
Test(jit_math, sigmoid) { sweep("sigmoid(x)", ref_sigmoid); }

/* The edges, hand-worked. */
Test(jit_math, special_values) {
  jit_engine *j = engine("");
  static const struct {
    const char *text;
    float x, want;
  } cases[] = {
      {"exp(x)", INFINITY, INFINITY}, {"exp(x)", -INFINITY, 0.0f},     {"exp(x)", 100.0f, INFINITY},
      {"exp(x)", -200.0f, 0.0f},      {"exp(x)", 0.0f, 1.0f},          {"exp(x)", -0.0f, 1.0f},
      {"log(x)", 0.0f, -INFINITY},    {"log(x)", -0.0f, -INFINITY},    {"log(x)", 1.0f, 0.0f},
      {"log(x)", INFINITY, INFINITY}, {"tanh(x)", INFINITY, 1.0f},     {"tanh(x)", -INFINITY, -1.0f},
      {"tanh(x)", 20.0f, 1.0f},       {"erf(x)", INFINITY, 1.0f},      {"erf(x)", -INFINITY, -1.0f},
      {"erf(x)", 10.0f, 1.0f},        {"sigmoid(x)", INFINITY, 1.0f},  {"sigmoid(x)", -INFINITY, 0.0f},
      {"sigmoid(x)", 0.0f, 0.5f},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    rt_expr *e = parse(cases[i].text, IVM_DT_F32, 1);
    rt_expr_fn fn;
    ok(jit_compile(j, e, &fn));
    float x = cases[i].x, y = 42;
    const void *in[] = {&x};
    void *out[] = {&y};
    fn(1, in, out);
    cr_expect(y == cases[i].want, "%s at %g: got %g, want %g", cases[i].text, x, y, cases[i].want);
    rt_expr_free(e);
  }
  const char *nan_cases[] = {"exp(x)", "log(x)", "tanh(x)", "erf(x)", "sigmoid(x)", "log(x - 2)"};
  for (size_t i = 0; i < sizeof nan_cases / sizeof nan_cases[0]; i++) {
    rt_expr *e = parse(nan_cases[i], IVM_DT_F32, 1);
    rt_expr_fn fn;
    ok(jit_compile(j, e, &fn));
    float x[2] = {NAN, 1.0f}, y[2];
    const void *in[] = {x};
    void *out[] = {y};
    fn(1, in, out);
    cr_expect(isnan(y[0]), "%s(NaN) = %g", nan_cases[i], y[0]);
    rt_expr_free(e);
  }
  /* odd functions keep the sign of zero */
  const char *odd[] = {"tanh(x)", "erf(x)"};
  for (size_t i = 0; i < 2; i++) {
    rt_expr *e = parse(odd[i], IVM_DT_F32, 1);
    rt_expr_fn fn;
    ok(jit_compile(j, e, &fn));
    float x = -0.0f, y = 1;
    const void *in[] = {&x};
    void *out[] = {&y};
    fn(1, in, out);
    cr_expect(y == 0 && signbit(y), "%s(-0) = %g", odd[i], y);
    rt_expr_free(e);
  }
  jit_engine_destroy(j);
}

/* ---- bad input ------------------------------------------------------------------------- */
Test(jit, malformed_expressions_are_refused) {
  jit_engine *j = engine("");
  uint8_t dts[1] = {IVM_DT_F32};
  uint32_t outs[1] = {1};
  rt_expr_node nodes[2] = {{.op = RT_EX_INPUT, .dtype = IVM_DT_F32, .input = 0},
                           {.op = RT_EX_EXP, .dtype = IVM_DT_F32, .a = 0}};
  rt_expr e = {2, nodes, 1, dts, 1, outs};
  rt_expr_fn fn = NULL;
  ok(jit_compile(j, &e, &fn)); /* the well-formed original */
  struct {
    const char *what;
    rt_expr_node bad;
    uint32_t out;
  } cases[] = {
      {"operand after its user", {.op = RT_EX_EXP, .dtype = IVM_DT_F32, .a = 1}, 1},
      {"unknown opcode", {.op = RT_EX_OPCODE_COUNT, .dtype = IVM_DT_F32}, 1},
      {"bool operand to exp", {.op = RT_EX_EXP, .dtype = IVM_DT_BOOL, .a = 0}, 1},
      {"f64 result of f32 operand", {.op = RT_EX_EXP, .dtype = IVM_DT_F64, .a = 0}, 1},
      {"not of a float", {.op = RT_EX_NOT, .dtype = IVM_DT_BOOL, .a = 0}, 1},
      {"input out of range", {.op = RT_EX_INPUT, .dtype = IVM_DT_F32, .input = 3}, 1},
      {"output out of range", {.op = RT_EX_EXP, .dtype = IVM_DT_F32, .a = 0}, 9},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    nodes[1] = cases[i].bad;
    outs[0] = cases[i].out;
    fn = NULL;
    ivm_status st = jit_compile(j, &e, &fn);
    cr_expect_eq(ivm_status_get_code(st), IVM_ERR_INVALID_ARGUMENT, "%s: %s", cases[i].what,
                 ivm_status_message(st));
    cr_expect_null(fn);
    ivm_status_free(st);
  }
  jit_engine_stats s;
  jit_engine_get_stats(j, &s);
  cr_expect_eq(s.functions, 1);
  jit_engine_destroy(j);
}

/* ---- the object cache ----------------------------------------------------------------- */
static char *temp_dir(void) {
  char *d = strdup("/tmp/ivm_test_jit_XXXXXX");
  cr_assert_not_null(mkdtemp(d));
  return d;
}

/* Paths of the .o files directly in dir (at most 8). */
static int cache_files(const char *dir, char paths[8][512]) {
  int n = 0;
  DIR *d = opendir(dir);
  if (!d) return 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    size_t len = strlen(de->d_name);
    if (len > 2 && strcmp(de->d_name + len - 2, ".o") == 0 && n < 8)
      snprintf(paths[n++], 512, "%s/%s", dir, de->d_name);
  }
  closedir(d);
  return n;
}

static void remove_tree(const char *dir) {
  DIR *d = opendir(dir);
  if (d) {
    struct dirent *de;
    char p[1024];
    while ((de = readdir(d)) != NULL) {
      if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
      snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
      struct stat st;
      if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) remove_tree(p);
      else unlink(p);
    }
    closedir(d);
  }
  rmdir(dir);
}

/* Compiles softplus in a fresh engine on dir; checks the stats and a few values. */
static void softplus_in(const char *dir, uint32_t want_compiled, uint32_t want_hits) {
  jit_engine *j = engine(dir);
  rt_expr *e = parse("log(1 + exp(x))", IVM_DT_F32, 1);
  rt_expr_fn fn;
  ok(jit_compile(j, e, &fn));
  jit_engine_stats s;
  jit_engine_get_stats(j, &s);
  cr_expect_eq(s.functions, 1);
  cr_expect_eq(s.compiled, want_compiled, "compiled %u, want %u", s.compiled, want_compiled);
  cr_expect_eq(s.cache_hits, want_hits, "cache hits %u, want %u", s.cache_hits, want_hits);
  float x[5] = {0.0f, 1.0f, -3.0f, 20.0f, 100.0f}, y[5];
  const void *in[] = {x};
  void *out[] = {y};
  fn(5, in, out);
  for (int i = 0; i < 4; i++)
    cr_expect(close_to(y[i], log1p(exp((double)x[i])), 1e-6, 0), "softplus(%g) = %g", x[i], y[i]);
  cr_expect(isinf(y[4]), "exp(100) overflows in f32, so softplus(100) = inf, got %g", y[4]);
  rt_expr_free(e);
  jit_engine_destroy(j);
}

Test(jit_cache, second_engine_compiles_nothing) {
  char *dir = temp_dir();
  char sub[600];
  snprintf(sub, sizeof sub, "%s/a/b", dir); /* created with mkdir -p */
  softplus_in(sub, 1, 0);
  char paths[8][512];
  cr_assert_eq(cache_files(sub, paths), 1);
  softplus_in(sub, 0, 1);
  cr_expect_eq(cache_files(sub, paths), 1);
  remove_tree(dir);
  free(dir);
}

Test(jit_cache, same_expression_twice_in_one_engine) {
  char *dir = temp_dir();
  jit_engine *j = engine(dir);
  rt_expr *e1 = parse("x * sigmoid(x)", IVM_DT_F32, 1), *e2 = parse("x * sigmoid(x)", IVM_DT_F32, 1);
  rt_expr *e3 = parse("x * sigmoid(x)", IVM_DT_F64, 1);
  rt_expr_fn f1, f2, f3;
  ok(jit_compile(j, e1, &f1));
  ok(jit_compile(j, e2, &f2));
  ok(jit_compile(j, e3, &f3));
  cr_expect_eq((void *)f1, (void *)f2);
  cr_expect_neq((void *)f1, (void *)f3);
  jit_engine_stats s;
  jit_engine_get_stats(j, &s);
  cr_expect(s.functions == 3 && s.compiled == 2 && s.cache_hits == 0, "%u %u %u", s.functions,
            s.compiled, s.cache_hits);
  char paths[8][512];
  cr_expect_eq(cache_files(dir, paths), 2);
  rt_expr_free(e1);
  rt_expr_free(e2);
  rt_expr_free(e3);
  jit_engine_destroy(j);
  remove_tree(dir);
  free(dir);
}

static void corrupt(const char *path, long at, int truncate_there) {
  FILE *f = fopen(path, "r+b");
  cr_assert_not_null(f);
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  if (at < 0) at += size;
  if (truncate_there) {
    cr_assert_eq(ftruncate(fileno(f), at), 0);
  } else {
    fseek(f, at, SEEK_SET);
    int c = fgetc(f);
    fseek(f, at, SEEK_SET);
    fputc(c ^ 0x5a, f);
  }
  fclose(f);
}

Test(jit_cache, corrupt_files_are_recompiled) {
  char *dir = temp_dir();
  char paths[8][512];
  softplus_in(dir, 1, 0);
  cr_assert_eq(cache_files(dir, paths), 1);
  const struct {
    long at;
    int truncate;
  } damage[] = {{64, 0}, {300, 0}, {-8, 0}, {-40, 0}, {100, 1}, {0, 1}, {-1, 1}};
  for (size_t i = 0; i < sizeof damage / sizeof damage[0]; i++) {
    corrupt(paths[0], damage[i].at, damage[i].truncate);
    softplus_in(dir, 1, 0); /* recompiled, and the file rewritten */
    softplus_in(dir, 0, 1);
  }
  /* Not an object at all, with a well-formed name. */
  FILE *f = fopen(paths[0], "wb");
  fputs("not an object", f);
  fclose(f);
  softplus_in(dir, 1, 0);
  softplus_in(dir, 0, 1);
  remove_tree(dir);
  free(dir);
}

Test(jit_cache, unusable_directories_disable_caching) {
  softplus_in("/proc/ivm-no-such-dir/jit", 1, 0);
  softplus_in("/dev/null/jit", 1, 0);
  softplus_in("", 1, 0);
  /* A read-only directory still serves what is in it. */
  char *dir = temp_dir();
  softplus_in(dir, 1, 0);
  chmod(dir, 0555);
  if (access(dir, W_OK) != 0) { /* root can write anyway */
    softplus_in(dir, 0, 1);
    jit_engine *j = engine(dir);
    rt_expr *e = parse("x + 1", IVM_DT_F32, 1);
    rt_expr_fn fn;
    ok(jit_compile(j, e, &fn));
    char paths[8][512];
    cr_expect_eq(cache_files(dir, paths), 1);
    rt_expr_free(e);
    jit_engine_destroy(j);
  }
  chmod(dir, 0755);
  remove_tree(dir);
  free(dir);
}

Test(jit_cache, default_directory) {
  const char *saved = getenv("IVM_JIT_CACHE");
  char *keep = saved ? strdup(saved) : NULL;
  setenv("IVM_JIT_CACHE", "/tmp/some/where", 1);
  cr_expect_str_eq(jit_default_cache_dir(), "/tmp/some/where");
  unsetenv("IVM_JIT_CACHE");
  setenv("XDG_CACHE_HOME", "/tmp/xdg", 1);
  cr_expect_str_eq(jit_default_cache_dir(), "/tmp/xdg/ivm/jit");
  unsetenv("XDG_CACHE_HOME");
  setenv("HOME", "/home/u", 1);
  cr_expect_str_eq(jit_default_cache_dir(), "/home/u/.cache/ivm/jit");
  if (keep) setenv("IVM_JIT_CACHE", keep, 1);
  free(keep);
}

/* ---- microbenchmark (by hand: IVM_JIT_BENCH=1) ------------------------------------------ */
static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void bench(const char *text, uint8_t dt) {
  jit_engine *j = engine("");
  rt_expr *e = parse(text, dt, 1);
  double t0 = now_s();
  rt_expr_fn fn;
  ok(jit_compile(j, e, &fn));
  double compile_s = now_s() - t0;
  enum { N = 1 << 20, REPS = 20 };
  size_t es = dt == IVM_DT_F64 ? 8 : 4;
  char *x = malloc(N * es), *y = malloc(N * es);
  for (int i = 0; i < N; i++) {
    double v = -10.0 + 20.0 * i / N;
    if (dt == IVM_DT_F64) ((double *)x)[i] = v;
    else ((float *)x)[i] = (float)v;
  }
  const void *in[] = {x};
  void *out[] = {y};
  double best_jit = 1e9, best_interp = 1e9;
  for (int r = 0; r < REPS; r++) {
    t0 = now_s();
    fn(N, in, out);
    double t = now_s() - t0;
    if (t < best_jit) best_jit = t;
    t0 = now_s();
    rt_expr_eval(e, N, in, out);
    t = now_s() - t0;
    if (t < best_interp) best_interp = t;
  }
  fprintf(stderr, "%-24s %s: compile %.1f ms; interpreter %.3f ms, jit %.3f ms (%.2f ns/elem): %.1fx\n",
          text, dt == IVM_DT_F64 ? "f64" : "f32", compile_s * 1e3, best_interp * 1e3,
          best_jit * 1e3, best_jit * 1e9 / N, best_interp / best_jit);
  free(x);
  free(y);
  rt_expr_free(e);
  jit_engine_destroy(j);
}

Test(jit_bench, softplus_1m) {
  if (!getenv("IVM_JIT_BENCH")) cr_skip_test("set IVM_JIT_BENCH=1 to run");
  bench("log(1 + exp(x))", IVM_DT_F32);
  bench("x * sigmoid(x)", IVM_DT_F32);
  bench("tanh(x)", IVM_DT_F32);
  bench("0.5 * x * (1 + erf(x * 0.70710678))", IVM_DT_F32);
  bench("x * 2 + 1", IVM_DT_F32);
  bench("sin(x)", IVM_DT_F32);
  bench("log(1 + exp(x))", IVM_DT_F64);
  bench("tanh(x)", IVM_DT_F64);
}
