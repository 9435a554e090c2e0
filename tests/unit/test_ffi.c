/* The ivm.ffi op family (runtime/ffi.c): instructions built by hand, run through the
 * family's infer, prepare, kernel and release exactly as the VM does. Expected values are
 * hand-worked (cbrt(27) = 3, 2^3 = 8...) or libm's own results for the same function. */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/rt.h"

#define D(...) ((const int64_t[]){__VA_ARGS__})
#define ALLOW(...) ((const char *const[]){__VA_ARGS__}), \
                   (uint32_t)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

/* ---- functions the buffer-mode tests call (found with dlsym when the test executable
 * exports its symbols: ENABLE_EXPORTS / -rdynamic) ------------------------------------- */
int test_ffi_scale(const float *x, float *y, int64_t n);
int test_ffi_scale(const float *x, float *y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = 2.0f * x[i];
  return 0;
}
/* Two inputs, two outputs, a 32-bit count: y = x + w[0], z = count. */
int test_ffi_two_out(const double *x, const double *w, double *y, int32_t *z, int32_t n);
int test_ffi_two_out(const double *x, const double *w, double *y, int32_t *z, int32_t n) {
  for (int32_t i = 0; i < n; i++) {
    y[i] = x[i] + w[0];
    z[i] = n;
  }
  return 0;
}
int test_ffi_fail(const float *x, float *y, int64_t n);
int test_ffi_fail(const float *x, float *y, int64_t n) {
  (void)x;
  (void)y;
  return n > 2 ? -5 : 0;
}

/* ---- building and running one instruction ------------------------------------------- */
static rt_tensor mk(int dt, int rank, const int64_t *dims, const void *data) {
  rt_tensor t;
  memset(&t, 0, sizeof t);
  t.dtype = (uint8_t)dt;
  t.rank = (uint8_t)rank;
  for (int k = 0; k < rank; k++) t.dims[k] = dims[k];
  t.data = (void *)data;
  t.capacity = rt_nbytes(&t);
  return t;
}

typedef struct ffi_node {
  const char *symbol, *signature, *library; /* library NULL: not given */
  const char *const *allow;
  uint32_t n_allow;
} ffi_node;

typedef enum { STAGE_NONE, STAGE_INFER, STAGE_PREPARE, STAGE_KERNEL } ffi_stage;

static void set_str(isa_attr *a, const char *s) {
  a->v.s = s;
  a->count = (uint32_t)strlen(s);
  a->present = 1;
}

static isa_type type_of(const rt_tensor *t) {
  isa_type y;
  memset(&y, 0, sizeof y);
  y.dtype = t->dtype;
  y.rank = (int8_t)t->rank;
  for (int k = 0; k < t->rank; k++) y.dims[k] = t->dims[k];
  return y;
}

/* Runs `node` as op "ivm.ffi".Test on n_in inputs; allocates n_out outputs (the caller
 * frees out[k].data). *failed_at says which stage returned the status. */
static ivm_status run_node(const ffi_node *node, uint32_t n_in, const rt_tensor *in,
                           uint32_t n_out, rt_tensor *out, ffi_stage *failed_at) {
  isa_registry *reg = NULL;
  cr_assert_null(rt_registry_create_builtin(&reg));
  const isa_registry_entry *e = isa_registry_resolve(reg, "ivm.ffi", "Test", 1);
  cr_assert_not_null(e, "the ivm.ffi family is not registered");
  const isa_op_desc *desc = e->desc;
  const rt_op_impl *impl = e->impl;
  isa_attr attrs[8];
  isa_attrs_init_defaults(desc, attrs);
  set_str(&attrs[isa_attr_index(desc, "symbol")], node->symbol);
  set_str(&attrs[isa_attr_index(desc, "signature")], node->signature);
  if (node->library) set_str(&attrs[isa_attr_index(desc, "library")], node->library);

  isa_type in_t[8], out_t[8];
  const void *in_data[8];
  for (uint32_t k = 0; k < n_in; k++) {
    in_t[k] = type_of(&in[k]);
    in_data[k] = in[k].data;
  }
  memset(out_t, 0, sizeof out_t);
  for (uint32_t k = 0; k < n_out; k++) memset(&out[k], 0, sizeof out[k]);
  isa_infer_ctx ictx = {n_in, in_t, in_data, attrs, n_out, out_t};
  *failed_at = STAGE_INFER;
  ivm_status st = desc->infer(&ictx);
  if (st) goto done;
  for (uint32_t k = 0; k < n_out; k++) {
    cr_assert(out_t[k].rank >= 0, "output %u rank unknown", k);
    out[k] = mk(out_t[k].dtype, out_t[k].rank, out_t[k].dims, NULL);
    out[k].data = calloc(1, out[k].capacity + 1);
  }

  rt_permissions perm = {node->allow, node->n_allow};
  rt_prepare_ctx pctx = {desc, attrs, n_in, n_out, in_t, out_t, &perm, "test"};
  void *state = NULL;
  *failed_at = STAGE_PREPARE;
  st = impl->prepare(&pctx, &state);
  if (st) {
    cr_assert_null(state, "prepare failed but left state");
    goto done;
  }
  cr_assert_not_null(state);
  const rt_tensor *in_p[8];
  rt_tensor *out_p[8];
  for (uint32_t k = 0; k < n_in; k++) in_p[k] = &in[k];
  for (uint32_t k = 0; k < n_out; k++) out_p[k] = &out[k];
  rt_call call = {n_in, n_out, in_p, out_p, attrs, NULL, state};
  *failed_at = STAGE_KERNEL;
  st = impl->kernel(&call);
  impl->release(state);
done:
  if (!st) *failed_at = STAGE_NONE;
  isa_registry_destroy(reg);
  return st;
}

static void free_outs(rt_tensor *out, uint32_t n) {
  for (uint32_t k = 0; k < n; k++) free(out[k].data);
}

static void ok(ivm_status st) {
  cr_assert(st == NULL, "unexpected error: %s", ivm_status_message(st));
}

/* Expects `code` from `stage`, and each of up to three fragments in the message. */
static void fails_with(ivm_status st, ffi_stage got_stage, ivm_status_code code,
                       ffi_stage stage, const char *m1, const char *m2, const char *m3) {
  cr_assert_not_null(st, "expected an error");
  const char *msg = ivm_status_message(st);
  cr_assert_eq(ivm_status_get_code(st), code, "got %s: %s",
               ivm_status_code_name(ivm_status_get_code(st)), msg);
  cr_assert_eq(got_stage, stage, "failed in stage %d, expected %d: %s", got_stage, stage, msg);
  const char *frag[3] = {m1, m2, m3};
  for (int k = 0; k < 3; k++)
    cr_assert(!frag[k] || strstr(msg, frag[k]), "message lacks '%s': %s", frag[k], msg);
  ivm_status_free(st);
}

static void f32_near(const rt_tensor *t, const float *want, int64_t n) {
  cr_assert_eq(t->dtype, IVM_DT_F32);
  cr_assert_eq(rt_numel(t), n, "numel %lld, expected %lld", (long long)rt_numel(t), (long long)n);
  const float *g = t->data;
  for (int64_t i = 0; i < n; i++)
    cr_assert(fabsf(g[i] - want[i]) <= 1e-6f * (1 + fabsf(want[i])), "[%lld] = %.9g, expected %.9g",
              (long long)i, g[i], want[i]);
}

static void dims_are(const rt_tensor *t, int rank, const int64_t *dims) {
  cr_assert_eq(t->rank, rank, "rank %d, expected %d", t->rank, rank);
  for (int k = 0; k < rank; k++)
    cr_assert_eq(t->dims[k], dims[k], "dim %d is %lld, expected %lld", k, (long long)t->dims[k],
                 (long long)dims[k]);
}

/* Whether the test executable's own functions are visible to dlsym(RTLD_DEFAULT). */
static void need_exported_test_symbols(void) {
  if (!dlsym(RTLD_DEFAULT, "test_ffi_scale"))
    cr_skip_test("test_ffi's own symbols are not exported (link it with ENABLE_EXPORTS)");
}

/* ---- the family ----------------------------------------------------------------------- */
Test(ffi, family_resolves_one_op_per_name) {
  isa_registry *reg = NULL;
  cr_assert_null(rt_registry_create_builtin(&reg));
  const isa_registry_entry *e = isa_registry_resolve(reg, "ivm.ffi", "Cbrt", 1);
  cr_assert_not_null(e);
  cr_assert_str_eq(e->desc->domain, "ivm.ffi");
  cr_assert_str_eq(e->desc->name, "Cbrt");
  cr_assert_eq(e->desc->kind, ISA_OP_KIND_FFI);
  cr_assert(e->desc->flags & ISA_OPF_SIDE_EFFECTS);
  cr_assert_eq(e->desc->min_in, 1);
  cr_assert_eq(e->desc->max_in, ISA_VARIADIC);
  cr_assert_eq(e->desc->min_out, 1);
  cr_assert_eq(e->desc->max_out, ISA_VARIADIC);
  cr_assert_eq(isa_attr_index(e->desc, "symbol"), 0);
  cr_assert_eq(isa_attr_index(e->desc, "signature"), 1);
  cr_assert_eq(isa_attr_index(e->desc, "library"), 2);
  cr_assert_eq(e->desc->attrs[0].required, 1);
  cr_assert_eq(e->desc->attrs[2].required, 0);
  const rt_op_impl *impl = e->impl;
  cr_assert(impl->prepare && impl->release && impl->kernel);
  cr_assert_null(isa_registry_find(reg, "ivm.ffi", "Other", 1));
  isa_registry_destroy(reg);
}

/* ---- elementwise ----------------------------------------------------------------------- */
Test(ffi, cbrtf_elementwise_f32) {
  static const float x[6] = {27, -8, 0, 1, 0.125f, 1000};
  static const float want[6] = {3, -2, 0, 1, 0.5f, 10};
  rt_tensor in = mk(IVM_DT_F32, 2, D(2, 3), x), out;
  ffi_stage at;
  ffi_node n = {"cbrtf", "f32(f32)", NULL, ALLOW("cbrtf")};
  ok(run_node(&n, 1, &in, 1, &out, &at));
  dims_are(&out, 2, D(2, 3));
  f32_near(&out, want, 6);
  free_outs(&out, 1);
}

Test(ffi, c_spellings_and_whitespace) {
  static const float x[3] = {64, -27, 8};
  static const float want[3] = {4, -3, 2};
  rt_tensor in = mk(IVM_DT_F32, 1, D(3), x), out;
  ffi_stage at;
  ffi_node n = {"cbrtf", "  float (\tfloat )  ", NULL, ALLOW("cbrtf")};
  ok(run_node(&n, 1, &in, 1, &out, &at));
  f32_near(&out, want, 3);
  free_outs(&out, 1);
}

Test(ffi, cbrt_f64_scalar_and_matrix) {
  static const double x[4] = {64, -27, 2, 1e-9};
  static const double want[4] = {4, -3, 1.2599210498948732, 1e-3};
  rt_tensor in = mk(IVM_DT_F64, 2, D(2, 2), x), out;
  ffi_stage at;
  ffi_node n = {"cbrt", "double(double)", NULL, ALLOW("sqrt", "cbrt")};
  ok(run_node(&n, 1, &in, 1, &out, &at));
  cr_assert_eq(out.dtype, IVM_DT_F64);
  dims_are(&out, 2, D(2, 2));
  const double *y = out.data;
  for (int i = 0; i < 4; i++)
    cr_assert(fabs(y[i] - want[i]) <= 1e-14 * fabs(want[i]), "[%d] = %.17g", i, y[i]);
  free_outs(&out, 1);

  static const double s = 125; /* rank 0 */
  rt_tensor in0 = mk(IVM_DT_F64, 0, NULL, &s);
  ok(run_node(&n, 1, &in0, 1, &out, &at));
  cr_assert_eq(out.rank, 0);
  cr_assert(fabs(*(const double *)out.data - 5.0) < 1e-14);
  free_outs(&out, 1);
}

Test(ffi, powf_broadcasts_a_row) {
  static const float x[6] = {1, 2, 3, 4, 5, 6};
  static const float e[3] = {2, 0, 3};
  static const float want[6] = {1, 1, 27, 16, 1, 216};
  rt_tensor in[2] = {mk(IVM_DT_F32, 2, D(2, 3), x), mk(IVM_DT_F32, 1, D(3), e)}, out;
  ffi_stage at;
  ffi_node n = {"powf", "f32(f32, f32)", NULL, ALLOW("powf")};
  ok(run_node(&n, 2, in, 1, &out, &at));
  dims_are(&out, 2, D(2, 3));
  f32_near(&out, want, 6);
  free_outs(&out, 1);
}

Test(ffi, fmaxf_broadcasts_both_sides) {
  static const float a[3] = {1, 5, 3};  /* [3, 1] */
  static const float b[2] = {2, 4};     /* [1, 2] */
  static const float want[6] = {2, 4, 5, 5, 3, 4};
  rt_tensor in[2] = {mk(IVM_DT_F32, 2, D(3, 1), a), mk(IVM_DT_F32, 2, D(1, 2), b)}, out;
  ffi_stage at;
  ffi_node n = {"fmaxf", "float(float,float)", NULL, ALLOW("fmaxf")};
  ok(run_node(&n, 2, in, 1, &out, &at));
  dims_are(&out, 2, D(3, 2));
  f32_near(&out, want, 6);
  free_outs(&out, 1);
}

/* Three arguments and a rank-3 output take the general libffi path. */
Test(ffi, fmaf_three_arguments_rank3) {
  float x[12], y[4], z[3], want[12];
  for (int i = 0; i < 12; i++) x[i] = (float)i;
  for (int i = 0; i < 4; i++) y[i] = (float)(i + 1);
  for (int i = 0; i < 3; i++) z[i] = (float)(10 * i);
  /* x [3,1,4], y [4], z [3,1,1]: out [3,1,4], out[i][0][j] = x[i][0][j] * y[j] + z[i] */
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 4; j++) want[i * 4 + j] = x[i * 4 + j] * y[j] + z[i];
  rt_tensor in[3] = {mk(IVM_DT_F32, 3, D(3, 1, 4), x), mk(IVM_DT_F32, 1, D(4), y),
                     mk(IVM_DT_F32, 3, D(3, 1, 1), z)};
  rt_tensor out;
  ffi_stage at;
  ffi_node n = {"fmaf", "f32(f32,f32,f32)", NULL, ALLOW("fmaf")};
  ok(run_node(&n, 3, in, 1, &out, &at));
  dims_are(&out, 3, D(3, 1, 4));
  f32_near(&out, want, 12);
  free_outs(&out, 1);
}

/* Mixed argument types: ldexp(x, e) = x * 2^e. */
Test(ffi, ldexp_mixed_types) {
  static const double x[2] = {1.5, -3};
  static const int32_t e[3] = {0, 2, -1};
  static const double want[6] = {1.5, 6, 0.75, -3, -12, -1.5};
  rt_tensor in[2] = {mk(IVM_DT_F64, 2, D(2, 1), x), mk(IVM_DT_I32, 1, D(3), e)}, out;
  ffi_stage at;
  ffi_node n = {"ldexp", "f64(f64, int)", NULL, ALLOW("ldexp")};
  ok(run_node(&n, 2, in, 1, &out, &at));
  dims_are(&out, 2, D(2, 3));
  for (int i = 0; i < 6; i++) cr_assert_eq(((double *)out.data)[i], want[i], "[%d]", i);
  free_outs(&out, 1);
}

/* Integer results narrower than libffi's return slot are narrowed correctly. */
Test(ffi, integer_elementwise) {
  static const int32_t x[4] = {-7, 0, 5, -2147483647};
  static const int32_t want[4] = {7, 0, 5, 2147483647};
  rt_tensor in = mk(IVM_DT_I32, 1, D(4), x), out;
  ffi_stage at;
  ffi_node n = {"abs", "i32(i32)", NULL, ALLOW("abs")};
  ok(run_node(&n, 1, &in, 1, &out, &at));
  cr_assert_eq(out.dtype, IVM_DT_I32);
  for (int i = 0; i < 4; i++) cr_assert_eq(((int32_t *)out.data)[i], want[i], "[%d]", i);
  free_outs(&out, 1);

  static const int64_t big[2] = {-5000000000LL, 3};
  static const int64_t want64[2] = {5000000000LL, 3};
  in = mk(IVM_DT_I64, 1, D(2), big);
  ffi_node n64 = {"llabs", "int64_t(int64_t)", NULL, ALLOW("llabs")};
  ok(run_node(&n64, 1, &in, 1, &out, &at));
  for (int i = 0; i < 2; i++) cr_assert_eq(((int64_t *)out.data)[i], want64[i], "[%d]", i);
  free_outs(&out, 1);
}

/* A long row through the direct-call path against cbrtf called here (within rounding:
 * the compiler may fold these calls to correctly rounded constants, libm is within 1 ulp). */
Test(ffi, fast_path_matches_libm) {
  enum { N = 1000 };
  static float x[N];
  float want[N];
  for (int i = 0; i < N; i++) {
    x[i] = (float)(i - 500) * 0.37f;
    want[i] = cbrtf(x[i]);
  }
  rt_tensor in = mk(IVM_DT_F32, 1, D(N), x), out;
  ffi_stage at;
  ffi_node n = {"cbrtf", "f32(f32)", NULL, ALLOW("cbrtf")};
  ok(run_node(&n, 1, &in, 1, &out, &at));
  f32_near(&out, want, N);
  free_outs(&out, 1);
}

Test(ffi, empty_tensor_calls_nothing) {
  rt_tensor in = mk(IVM_DT_F32, 2, D(0, 3), NULL), out;
  ffi_stage at;
  ffi_node n = {"cbrtf", "f32(f32)", NULL, ALLOW("cbrtf")};
  ok(run_node(&n, 1, &in, 1, &out, &at));
  dims_are(&out, 2, D(0, 3));
  free_outs(&out, 1);
}

/* A library named explicitly, opened once the exact LIBRARY:SYMBOL entry allows it. */
Test(ffi, library_qualified_symbol) {
  static const float x[2] = {-1000, 0.001f};
  static const float want[2] = {-10, 0.1f};
  rt_tensor in = mk(IVM_DT_F32, 1, D(2), x), out;
  ffi_stage at;
  ffi_node n = {"cbrtf", "f32(f32)", "libm.so.6", ALLOW("libm.so.6:cbrtf")};
  ok(run_node(&n, 1, &in, 1, &out, &at));
  f32_near(&out, want, 2);
  free_outs(&out, 1);
}

/* ---- buffer mode ------------------------------------------------------------------------ */
/* swab(const void *from, void *to, ssize_t n) swaps adjacent bytes: input, then output,
 * then the count. */
Test(ffi, buffer_mode_libc_swab) {
  static const uint8_t x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  static const uint8_t want[8] = {2, 1, 4, 3, 6, 5, 8, 7};
  rt_tensor in = mk(IVM_DT_U8, 2, D(2, 4), x), out;
  ffi_stage at;
  ffi_node n = {"swab", "void(const u8*, u8*, i64)", NULL, ALLOW("swab")};
  ok(run_node(&n, 1, &in, 1, &out, &at));
  cr_assert_eq(out.dtype, IVM_DT_U8);
  dims_are(&out, 2, D(2, 4));
  cr_assert_eq(memcmp(out.data, want, 8), 0);
  free_outs(&out, 1);
}

/* memcpy(void *dst, const void *src, size_t n): the output pointer comes first. Declared
 * as returning void (its pointer result is ignored). */
Test(ffi, buffer_mode_output_first) {
  static const uint8_t x[5] = {9, 8, 7, 6, 5};
  rt_tensor in = mk(IVM_DT_U8, 1, D(5), x), out;
  ffi_stage at;
  ffi_node n = {"memcpy", "void(uint8_t *, const uint8_t *, size_t)", NULL, ALLOW("memcpy")};
  ok(run_node(&n, 1, &in, 1, &out, &at));
  cr_assert_eq(memcmp(out.data, x, 5), 0);
  free_outs(&out, 1);
}

/* strxfrm returns the transformed length (3 here): a non-zero status is a run-time error. */
Test(ffi, buffer_mode_nonzero_return_libc) {
  static const uint8_t x[4] = {'a', 'b', 'c', 0};
  rt_tensor in = mk(IVM_DT_U8, 1, D(4), x), out;
  ffi_stage at;
  ffi_node n = {"strxfrm", "size_t(u8*, const u8*, size_t)", NULL, ALLOW("strxfrm")};
  ivm_status st = run_node(&n, 1, &in, 1, &out, &at);
  fails_with(st, at, IVM_ERR_RUNTIME, STAGE_KERNEL, "strxfrm", "returned 3", NULL);
  free_outs(&out, 1);
}

Test(ffi, buffer_mode_function_in_test) {
  need_exported_test_symbols();
  static const float x[6] = {1, -2, 3.5f, 0, 10, -0.25f};
  static const float want[6] = {2, -4, 7, 0, 20, -0.5f};
  rt_tensor in = mk(IVM_DT_F32, 2, D(3, 2), x), out;
  ffi_stage at;
  ffi_node n = {"test_ffi_scale", "int(const float*, float*, int64_t)", NULL,
                ALLOW("test_ffi_scale")};
  ok(run_node(&n, 1, &in, 1, &out, &at));
  dims_are(&out, 2, D(3, 2));
  f32_near(&out, want, 6);
  free_outs(&out, 1);
}

Test(ffi, buffer_mode_two_inputs_two_outputs) {
  need_exported_test_symbols();
  static const double x[3] = {1, 2, 3};
  static const double w[1] = {0.5};
  static const double want[3] = {1.5, 2.5, 3.5};
  rt_tensor in[2] = {mk(IVM_DT_F64, 1, D(3), x), mk(IVM_DT_F64, 1, D(1), w)}, out[2];
  ffi_stage at;
  ffi_node n = {"test_ffi_two_out", "i32(const f64*, const f64*, f64*, i32*, i32)", NULL,
                ALLOW("test_ffi_two_out")};
  ok(run_node(&n, 2, in, 2, out, &at));
  cr_assert_eq(out[0].dtype, IVM_DT_F64);
  cr_assert_eq(out[1].dtype, IVM_DT_I32);
  dims_are(&out[1], 1, D(3));
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(((double *)out[0].data)[i], want[i]);
    cr_assert_eq(((int32_t *)out[1].data)[i], 3);
  }
  free_outs(out, 2);
}

Test(ffi, buffer_mode_nonzero_return_names_symbol_and_value) {
  need_exported_test_symbols();
  static const float x[4] = {1, 2, 3, 4};
  rt_tensor in = mk(IVM_DT_F32, 1, D(4), x), out;
  ffi_stage at;
  ffi_node n = {"test_ffi_fail", "int(const float*, float*, int64_t)", NULL,
                ALLOW("test_ffi_fail")};
  ivm_status st = run_node(&n, 1, &in, 1, &out, &at);
  fails_with(st, at, IVM_ERR_RUNTIME, STAGE_KERNEL, "test_ffi_fail", "-5", NULL);
  free_outs(&out, 1);
}

/* ---- the host decides what may run --------------------------------------------------- */
Test(ffi, refused_without_allow_entry) {
  static const float x[1] = {8};
  rt_tensor in = mk(IVM_DT_F32, 1, D(1), x), out;
  ffi_stage at;
  ffi_node n = {"cbrtf", "f32(f32)", NULL, ALLOW("cbrt", "sqrtf", "libm.so.6:cbrtf")};
  ivm_status st = run_node(&n, 1, &in, 1, &out, &at);
  fails_with(st, at, IVM_ERR_PERMISSION, STAGE_PREPARE, "test: foreign function 'cbrtf'",
             "--allow-ffi cbrtf", "allow_ffi");
  free_outs(&out, 1);

  ffi_node none = {"cbrtf", "f32(f32)", NULL, NULL, 0};
  st = run_node(&none, 1, &in, 1, &out, &at);
  fails_with(st, at, IVM_ERR_PERMISSION, STAGE_PREPARE, "cbrtf", NULL, NULL);
  free_outs(&out, 1);
}

Test(ffi, bare_symbol_does_not_allow_a_library) {
  static const float x[1] = {8};
  rt_tensor in = mk(IVM_DT_F32, 1, D(1), x), out;
  ffi_stage at;
  ffi_node n = {"cbrtf", "f32(f32)", "libm.so.6", ALLOW("cbrtf", "libm.so:cbrtf", "libm.so.6:")};
  ivm_status st = run_node(&n, 1, &in, 1, &out, &at);
  fails_with(st, at, IVM_ERR_PERMISSION, STAGE_PREPARE, "--allow-ffi libm.so.6:cbrtf",
             "libm.so.6", NULL);
  free_outs(&out, 1);
}

/* Permission is checked before dlopen: an unknown library without permission is refused,
 * not looked for. */
Test(ffi, permission_before_dlopen) {
  static const float x[1] = {8};
  rt_tensor in = mk(IVM_DT_F32, 1, D(1), x), out;
  ffi_stage at;
  ffi_node n = {"f", "f32(f32)", "libivm_no_such_lib.so", ALLOW("f")};
  ivm_status st = run_node(&n, 1, &in, 1, &out, &at);
  fails_with(st, at, IVM_ERR_PERMISSION, STAGE_PREPARE, "libivm_no_such_lib.so:f", NULL, NULL);
  free_outs(&out, 1);

  ffi_node allowed = {"f", "f32(f32)", "libivm_no_such_lib.so", ALLOW("libivm_no_such_lib.so:f")};
  st = run_node(&allowed, 1, &in, 1, &out, &at);
  fails_with(st, at, IVM_ERR_NOT_FOUND, STAGE_PREPARE, "libivm_no_such_lib.so", "'f'", NULL);
  free_outs(&out, 1);
}

Test(ffi, missing_symbol_is_not_found) {
  static const float x[1] = {8};
  rt_tensor in = mk(IVM_DT_F32, 1, D(1), x), out;
  ffi_stage at;
  ffi_node n = {"ivm_no_such_function_xyz", "f32(f32)", NULL, ALLOW("ivm_no_such_function_xyz")};
  ivm_status st = run_node(&n, 1, &in, 1, &out, &at);
  fails_with(st, at, IVM_ERR_NOT_FOUND, STAGE_PREPARE, "ivm_no_such_function_xyz", "process",
             NULL);
  free_outs(&out, 1);

  ffi_node in_lib = {"ivm_no_such_function_xyz", "f32(f32)", "libm.so.6",
                     ALLOW("libm.so.6:ivm_no_such_function_xyz")};
  st = run_node(&in_lib, 1, &in, 1, &out, &at);
  fails_with(st, at, IVM_ERR_NOT_FOUND, STAGE_PREPARE, "ivm_no_such_function_xyz", "libm.so.6",
             NULL);
  free_outs(&out, 1);
}

/* ---- bad signatures and types ----------------------------------------------------------- */
Test(ffi, malformed_signatures_are_clean_errors) {
  static const char *const bad[][2] = {
      {"float(", "found end of text"},
      {"float(float", "',' or ')'"},
      {"vector<float>(float)", "unknown type 'vector'"},
      {"", "empty"},
      {"   ", "empty"},
      {"void(float)", "must return a value"},
      {"int(const float*, float*, float)", "element count"},
      {"f32()", "no parameters"},
      {"f32(f32,)", "expected a type"},
      {"f32(f32) x", "after ')'"},
      {"f32 f32", "'('"},
      {"f32*(f32)", "not a pointer"},
      {"void(const f32**, f32*)", "pointers to pointers"},
      {"void(void*, f32*)", "element type"},
      {"f32(void)", "only allowed as the return type"},
      {"f32(const f32*, f32*, i64)", "not a float"},
      {"void(const f32*, i64)", "'T*' output"},
      {"void(f32*, i64)", "'const T*' input"},
      {"f32(const)", "after 'const'"},
      {"\x01\xff(f32)", "0x01"},
      {"f32(f32,f32,f32,f32,f32,f32,f32,f32,f32,f32,f32,f32,f32,f32,f32,f32,f32)", "more than"},
  };
  static const float x[1] = {8};
  rt_tensor in = mk(IVM_DT_F32, 1, D(1), x), out;
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    ffi_stage at;
    ffi_node n = {"cbrtf", bad[k][0], NULL, ALLOW("cbrtf")};
    ivm_status st = run_node(&n, 1, &in, 1, &out, &at);
    cr_assert_not_null(st, "signature '%s' accepted", bad[k][0]);
    const char *msg = ivm_status_message(st);
    cr_assert_eq(ivm_status_get_code(st), IVM_ERR_INVALID_ARGUMENT, "'%s': %s", bad[k][0], msg);
    cr_assert_eq(at, STAGE_INFER, "'%s' failed late: %s", bad[k][0], msg);
    cr_assert(strstr(msg, "signature"), "'%s': %s", bad[k][0], msg);
    cr_assert(strstr(msg, bad[k][1]), "'%s': message lacks '%s': %s", bad[k][0], bad[k][1], msg);
    ivm_status_free(st);
    free_outs(&out, 1);
  }
}

Test(ffi, prepare_rejects_a_bad_signature_too) {
  isa_registry *reg = NULL;
  cr_assert_null(rt_registry_create_builtin(&reg));
  const isa_registry_entry *e = isa_registry_resolve(reg, "ivm.ffi", "Cbrt", 1);
  isa_attr attrs[3];
  isa_attrs_init_defaults(e->desc, attrs);
  set_str(&attrs[0], "cbrtf");
  set_str(&attrs[1], "float(float");
  isa_type t;
  memset(&t, 0, sizeof t);
  t.dtype = IVM_DT_F32;
  const char *const allow[] = {"cbrtf"};
  rt_permissions perm = {allow, 1};
  rt_prepare_ctx pctx = {e->desc, attrs, 1, 1, &t, &t, &perm, "model.ivm: instruction 7"};
  void *state = NULL;
  ivm_status st = ((const rt_op_impl *)e->impl)->prepare(&pctx, &state);
  cr_assert_null(state);
  fails_with(st, STAGE_PREPARE, IVM_ERR_INVALID_ARGUMENT, STAGE_PREPARE,
             "model.ivm: instruction 7", "float(float", NULL);
  isa_registry_destroy(reg);
}

Test(ffi, symbol_must_be_an_identifier) {
  static const float x[1] = {8};
  rt_tensor in = mk(IVM_DT_F32, 1, D(1), x), out;
  static const char *const bad[] = {"", "cbrtf; rm", "1abc", "a b"};
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    ffi_stage at;
    ffi_node n = {bad[k], "f32(f32)", NULL, ALLOW("cbrtf")};
    ivm_status st = run_node(&n, 1, &in, 1, &out, &at);
    fails_with(st, at, IVM_ERR_INVALID_ARGUMENT, STAGE_INFER, "identifier", NULL, NULL);
    free_outs(&out, 1);
  }
}

Test(ffi, input_dtype_must_match_the_signature) {
  static const double xd[2] = {8, 27};
  rt_tensor in = mk(IVM_DT_F64, 1, D(2), xd), out;
  ffi_stage at;
  ffi_node n = {"cbrtf", "f32(f32)", NULL, ALLOW("cbrtf")};
  ivm_status st = run_node(&n, 1, &in, 1, &out, &at);
  fails_with(st, at, IVM_ERR_INVALID_ARGUMENT, STAGE_INFER, "input 0 is f64", "f32", "cbrtf");
  free_outs(&out, 1);

  static const float xf[2] = {8, 27};
  static const int64_t e[2] = {1, 2};
  rt_tensor two[2] = {mk(IVM_DT_F32, 1, D(2), xf), mk(IVM_DT_I64, 1, D(2), e)};
  ffi_node ld = {"ldexpf", "f32(f32, i32)", NULL, ALLOW("ldexpf")};
  st = run_node(&ld, 2, two, 1, &out, &at);
  fails_with(st, at, IVM_ERR_INVALID_ARGUMENT, STAGE_INFER, "input 1 is i64", "i32", NULL);
  free_outs(&out, 1);

  /* buffer mode: the pointer's element type */
  rt_tensor xb = mk(IVM_DT_F32, 1, D(2), xf);
  ffi_node sw = {"swab", "void(const u8*, u8*, i64)", NULL, ALLOW("swab")};
  st = run_node(&sw, 1, &xb, 1, &out, &at);
  fails_with(st, at, IVM_ERR_INVALID_ARGUMENT, STAGE_INFER, "input 0 is f32", "u8", NULL);
  free_outs(&out, 1);
}

Test(ffi, operand_counts_must_match_the_signature) {
  static const float x[2] = {8, 27};
  rt_tensor in[2] = {mk(IVM_DT_F32, 1, D(2), x), mk(IVM_DT_F32, 1, D(2), x)}, out[2];
  ffi_stage at;
  ffi_node one = {"cbrtf", "f32(f32)", NULL, ALLOW("cbrtf")};
  ivm_status st = run_node(&one, 2, in, 1, out, &at);
  fails_with(st, at, IVM_ERR_INVALID_ARGUMENT, STAGE_INFER, "takes 1 input", NULL, NULL);
  free_outs(out, 1);
  st = run_node(&one, 1, in, 2, out, &at); /* elementwise gives one output */
  fails_with(st, at, IVM_ERR_INVALID_ARGUMENT, STAGE_INFER, "gives 1 output", NULL, NULL);
  free_outs(out, 2);
  ffi_node two = {"powf", "f32(f32,f32)", NULL, ALLOW("powf")};
  st = run_node(&two, 1, in, 1, out, &at);
  fails_with(st, at, IVM_ERR_INVALID_ARGUMENT, STAGE_INFER, "takes 2 input", NULL, NULL);
  free_outs(out, 1);
}

Test(ffi, shapes_that_do_not_broadcast) {
  static const float a[3] = {1, 2, 3}, b[2] = {1, 2};
  rt_tensor in[2] = {mk(IVM_DT_F32, 1, D(3), a), mk(IVM_DT_F32, 1, D(2), b)}, out;
  ffi_stage at;
  ffi_node n = {"powf", "f32(f32,f32)", NULL, ALLOW("powf")};
  ivm_status st = run_node(&n, 2, in, 1, &out, &at);
  fails_with(st, at, IVM_ERR_INVALID_ARGUMENT, STAGE_INFER, "broadcast", "powf", NULL);
  free_outs(&out, 1);
}

/* A kernel called with tensors that contradict the prepared signature reports it. */
Test(ffi, kernel_checks_its_operands) {
  isa_registry *reg = NULL;
  cr_assert_null(rt_registry_create_builtin(&reg));
  const isa_registry_entry *e = isa_registry_resolve(reg, "ivm.ffi", "Cbrt", 1);
  const rt_op_impl *impl = e->impl;
  isa_attr attrs[3];
  isa_attrs_init_defaults(e->desc, attrs);
  set_str(&attrs[0], "cbrtf");
  set_str(&attrs[1], "f32(f32)");
  isa_type t;
  memset(&t, 0, sizeof t);
  t.dtype = IVM_DT_F32;
  const char *const allow[] = {"cbrtf"};
  rt_permissions perm = {allow, 1};
  rt_prepare_ctx pctx = {e->desc, attrs, 1, 1, &t, &t, &perm, "test"};
  void *state = NULL;
  ok(impl->prepare(&pctx, &state));
  double xd = 8, yd = 0;
  rt_tensor x = mk(IVM_DT_F64, 0, NULL, &xd), y = mk(IVM_DT_F64, 0, NULL, &yd);
  const rt_tensor *in_p[1] = {&x};
  rt_tensor *out_p[1] = {&y};
  rt_call call = {1, 1, in_p, out_p, attrs, NULL, state};
  ivm_status st = impl->kernel(&call);
  fails_with(st, STAGE_KERNEL, IVM_ERR_INTERNAL, STAGE_KERNEL, "cbrtf", NULL, NULL);
  rt_call unprepared = {1, 1, in_p, out_p, attrs, NULL, NULL};
  st = impl->kernel(&unprepared);
  fails_with(st, STAGE_KERNEL, IVM_ERR_INTERNAL, STAGE_KERNEL, "not prepared", NULL, NULL);
  impl->release(state);
  isa_registry_destroy(reg);
}
