/* Control flow in bytecode (isa/ops_control.def): hand-written .ivs modules with a loop,
 * a scan accumulator and an If are assembled, verified and run; the verifier rejects bad
 * jump targets, improperly nested regions, mistyped carried values and reads that are not
 * dominated by a write; dis/asm round-trips them byte for byte; ScanSlice's kernel. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "isa/module.h"
#include "ivm/ivm.h"
#include "runtime/rt.h"

static void ok(ivm_status st) {
  cr_assert(st == NULL, "unexpected error: %s", ivm_status_message(st));
}

/* acc := x0; for i in [0, M): acc += 1 (+ i * 0); scan := running values; the counter is
 * read in the body, the constant `one` is captured from outside the loop. */
static const char *LOOP =
    "ivm 1.0\n"
    "plan arena_size=0 unplanned_size=0 arena_align=64\n"
    "import #0 = ivm.Copy@1\n"
    "import #1 = ivm.LoopBegin@1\n"
    "import #2 = ivm.LoopEnd@1\n"
    "import #3 = ivm.Add@1\n"
    "import #4 = ivm.ScanInit@1\n"
    "import #5 = ivm.ScanAppend@1\n"
    "import #6 = ivm.Cast@1\n"
    "tensor %0 \"M\" i64[] dynamic\n"
    "tensor %1 \"x0\" f32[] dynamic\n"
    "tensor %2 \"acc\" f32[] dynamic var\n"
    "tensor %3 \"i\" i64[] dynamic var\n"
    "tensor %4 \"one\" f32[] const size=4\n"
    "  data 0000803f\n"
    "tensor %5 \"acc_next\" f32[] dynamic\n"
    "tensor %6 \"scan\" f32[*] dynamic var\n"
    "tensor %7 \"fi\" f32[] dynamic\n"
    "tensor %8 \"iters\" f32[*] dynamic var\n"
    "inputs %0 %1\n"
    "outputs %2 %6 %8\n"
    "%2 = Copy %1\n"
    "%6 = ScanInit {dtype=1}\n"
    "%8 = ScanInit {dtype=1}\n"
    "%3 = LoopBegin %0 {end_at=9}\n"
    "  %5 = Add %2 %4\n"
    "  %2 = Copy %5\n"
    "  %6 = ScanAppend %6 %2\n"
    "  %7 = Cast %3 {to=1}\n"
    "  %8 = ScanAppend %8 %7 {prepend=1}\n"
    "= LoopEnd {begin_at=3}\n";

/* y := cond ? a + a : a (If result var written by both branches). */
static const char *IF =
    "ivm 1.0\n"
    "plan arena_size=0 unplanned_size=0 arena_align=64\n"
    "import #0 = ivm.IfThen@1\n"
    "import #1 = ivm.Else@1\n"
    "import #2 = ivm.EndIf@1\n"
    "import #3 = ivm.Add@1\n"
    "import #4 = ivm.Copy@1\n"
    "tensor %0 \"cond\" bool[] dynamic\n"
    "tensor %1 \"a\" f32[2] dynamic\n"
    "tensor %2 \"y\" f32[2] dynamic var\n"
    "tensor %3 \"t\" f32[2] dynamic\n"
    "inputs %0 %1\n"
    "outputs %2\n"
    "= IfThen %0 {else_at=3}\n"
    "  %3 = Add %1 %1\n"
    "  %2 = Copy %3\n"
    "= Else {end_at=5}\n"
    "  %2 = Copy %1\n"
    "= EndIf\n";

static uint8_t *assemble(const char *text, size_t *n) {
  uint8_t *b;
  ok(isa_assemble(text, strlen(text), "t.ivs", &b, n));
  return b;
}

/* Loads text; returns the load status (NULL: loaded, *out set). */
static ivm_status load_text(const char *text, ivm_module **out) {
  size_t n;
  uint8_t *b;
  ivm_status st = isa_assemble(text, strlen(text), "t.ivs", &b, &n);
  if (st) return st;
  st = ivm_module_load_memory(b, n, 0, NULL, out);
  free(b);
  return st;
}

/* Replaces the first occurrence of `from` in text by `to` (malloc'd result). */
static char *patch(const char *text, const char *from, const char *to) {
  const char *p = strstr(text, from);
  cr_assert(p, "patch: '%s' not found", from);
  size_t a = (size_t)(p - text), nf = strlen(from), nt = strlen(to), n = strlen(text);
  char *r = malloc(n - nf + nt + 1);
  memcpy(r, text, a);
  memcpy(r + a, to, nt);
  memcpy(r + a + nt, p + nf, n - a - nf + 1);
  return r;
}

static void expect_reject(const char *text, const char *what) {
  ivm_module *m = NULL;
  ivm_status st = load_text(text, &m);
  cr_assert(st != NULL, "expected a verifier error containing '%s'", what);
  cr_expect(strstr(ivm_status_message(st), what) != NULL, "error '%s' lacks '%s'",
            ivm_status_message(st), what);
  ivm_status_free(st);
  ivm_module_release(m);
}

Test(control, loop_runs) {
  ivm_module *m;
  ok(load_text(LOOP, &m));
  ivm_session *s;
  ok(ivm_session_create(m, NULL, &s));
  for (int64_t trips = 0; trips <= 4; trips += 2) { /* runs repeat: state is re-initialised */
    float x0 = 10;
    ok(ivm_session_bind_input(s, 0, IVM_DT_I64, 0, NULL, &trips, sizeof trips));
    ok(ivm_session_bind_input(s, 1, IVM_DT_F32, 0, NULL, &x0, sizeof x0));
    ok(ivm_session_run(s));
    ivm_tensor_view acc, scan, iters;
    ok(ivm_session_output(s, 0, &acc));
    ok(ivm_session_output(s, 1, &scan));
    ok(ivm_session_output(s, 2, &iters));
    cr_assert_eq(acc.rank, 0);
    cr_expect_float_eq(*(const float *)acc.data, 10.0f + (float)trips, 1e-6f);
    cr_assert_eq(scan.rank, 1);
    cr_assert_eq(scan.dims[0], trips);
    cr_assert_eq(iters.dims[0], trips);
    for (int64_t k = 0; k < trips; k++) {
      cr_expect_float_eq(((const float *)scan.data)[k], 11.0f + (float)k, 1e-6f);
      /* prepended: the last iteration first */
      cr_expect_float_eq(((const float *)iters.data)[k], (float)(trips - 1 - k), 1e-6f);
    }
  }
  ivm_session_destroy(s);
  ivm_module_release(m);
}

Test(control, if_runs_both_branches) {
  ivm_module *m;
  ok(load_text(IF, &m));
  ivm_session *s;
  ok(ivm_session_create(m, NULL, &s));
  float a[2] = {1.5f, -2};
  int64_t dims[1] = {2};
  for (int c = 0; c < 2; c++) {
    uint8_t cond = (uint8_t)c;
    ok(ivm_session_bind_input(s, 0, IVM_DT_BOOL, 0, NULL, &cond, 1));
    ok(ivm_session_bind_input(s, 1, IVM_DT_F32, 1, dims, a, sizeof a));
    ok(ivm_session_run(s));
    ivm_tensor_view y;
    ok(ivm_session_output(s, 0, &y));
    cr_assert_eq(y.dims[0], 2);
    for (int k = 0; k < 2; k++)
      cr_expect_float_eq(((const float *)y.data)[k], c ? 2 * a[k] : a[k], 1e-6f);
  }
  ivm_session_destroy(s);
  ivm_module_release(m);
}

Test(control, round_trip) {
  const char *texts[] = {LOOP, IF};
  for (int k = 0; k < 2; k++) {
    size_t n, n2, len;
    uint8_t *b = assemble(texts[k], &n);
    uint8_t *al = aligned_alloc(64, (n + 63) / 64 * 64);
    memcpy(al, b, n);
    isa_module m;
    ok(isa_module_open(al, n, "t.ivm", &m));
    char *text;
    ok(isa_disassemble(&m, &text, &len));
    cr_expect(strstr(text, "  ; @") != NULL, "region markers are labelled:\n%s", text);
    cr_expect(strstr(text, "\n  %") != NULL, "region bodies are indented:\n%s", text);
    uint8_t *b2 = assemble(text, &n2);
    cr_expect(n2 == n && memcmp(b, b2, n) == 0, "asm(dis(m)) differs:\n%s", text);
    free(b2);
    free(text);
    free(al);
    free(b);
  }
}

Test(control, verifier_rejects_bad_jump_target) {
  char *t = patch(LOOP, "{end_at=9}", "{end_at=99}");
  expect_reject(t, "jump target end_at=99");
  free(t);
  t = patch(LOOP, "{end_at=9}", "{end_at=2}");
  expect_reject(t, "jump target end_at=2");
  free(t);
  t = patch(LOOP, "{begin_at=3}", "{begin_at=1}");
  expect_reject(t, "does not close the innermost open loop");
  free(t);
  t = patch(IF, "{else_at=3}", "{else_at=2}"); /* not the Else */
  expect_reject(t, "Else");
  free(t);
}

Test(control, verifier_rejects_target_into_another_region) {
  /* The inner If's else_at names the outer If's Else: the regions would overlap. */
  const char *nested =
      "ivm 1.0\n"
      "plan arena_size=0 unplanned_size=0 arena_align=64\n"
      "import #0 = ivm.IfThen@1\n"
      "import #1 = ivm.Else@1\n"
      "import #2 = ivm.EndIf@1\n"
      "tensor %0 \"c\" bool[] dynamic\n"
      "inputs %0\n"
      "outputs %0\n"
      "= IfThen %0 {else_at=4}\n"
      "  = IfThen %0 {else_at=4}\n"
      "  = Else {end_at=3}\n"
      "  = EndIf\n"
      "= Else {end_at=5}\n"
      "= EndIf\n";
  expect_reject(nested, "else_at=4 targets another instruction");
  /* A loop that closes inside an If's then region. */
  const char *crossed =
      "ivm 1.0\n"
      "plan arena_size=0 unplanned_size=0 arena_align=64\n"
      "import #0 = ivm.IfThen@1\n"
      "import #1 = ivm.Else@1\n"
      "import #2 = ivm.EndIf@1\n"
      "import #3 = ivm.LoopBegin@1\n"
      "import #4 = ivm.LoopEnd@1\n"
      "tensor %0 \"c\" bool[] dynamic\n"
      "tensor %1 \"i\" i64[] dynamic var\n"
      "inputs %0\n"
      "outputs %0\n"
      "%1 = LoopBegin _ %0 {end_at=2}\n"
      "= IfThen %0 {else_at=3}\n"
      "= LoopEnd {begin_at=0}\n"
      "= Else {end_at=4}\n"
      "= EndIf\n";
  expect_reject(crossed, "does not close the innermost open loop");
  /* A region left open. */
  char *t = patch(IF, "= EndIf\n", "");
  expect_reject(t, "jump target end_at=5");
  free(t);
}

Test(control, verifier_rejects_carried_type_mismatch) {
  char *t = patch(LOOP, "  %2 = Copy %5\n", "  %2 = Copy %3\n"); /* i64 into the f32 var */
  expect_reject(t, "is declared var f32[], but inference gives i64[]");
  free(t);
  t = patch(LOOP, "tensor %2 \"acc\" f32[] dynamic var", "tensor %2 \"acc\" f32[3] dynamic var");
  expect_reject(t, "is declared var f32[3]");
  free(t);
}

Test(control, verifier_rejects_read_before_write) {
  /* y is written only by the then branch: reading it after the EndIf is not dominated. */
  char *t = patch(IF, "  %2 = Copy %1\n", "  %3 = Copy %1\n");
  char *t2 = patch(t, "tensor %3 \"t\" f32[2] dynamic", "tensor %3 \"t\" f32[2] dynamic var");
  expect_reject(t2, "is never written");
  free(t);
  free(t2);
  /* A value of the then region is not visible in the else region. */
  t = patch(IF, "  %2 = Copy %1\n", "  %2 = Copy %3\n");
  expect_reject(t, "read before it is written on every path");
  free(t);
  /* A value written in the loop body is not visible after the loop (zero iterations). */
  const char *after =
      "ivm 1.0\n"
      "plan arena_size=0 unplanned_size=0 arena_align=64\n"
      "import #0 = ivm.LoopBegin@1\n"
      "import #1 = ivm.LoopEnd@1\n"
      "import #2 = ivm.Copy@1\n"
      "tensor %0 \"M\" i64[] dynamic\n"
      "tensor %1 \"i\" i64[] dynamic var\n"
      "tensor %2 \"last\" i64[] dynamic var\n"
      "tensor %3 \"out\" i64[] dynamic\n"
      "inputs %0\n"
      "outputs %3\n"
      "%1 = LoopBegin %0 {end_at=2}\n"
      "  %2 = Copy %1\n"
      "= LoopEnd {begin_at=0}\n"
      "%3 = Copy %2\n";
  expect_reject(after, "read before it is written on every path");
  /* Only vars may be written twice; vars must be dynamic. */
  t = patch(IF, "tensor %2 \"y\" f32[2] dynamic var", "tensor %2 \"y\" f32[2] dynamic");
  expect_reject(t, "only vars may be written more than once");
  free(t);
  t = patch(LOOP, "tensor %3 \"i\" i64[] dynamic var", "tensor %3 \"i\" i64[] dynamic");
  expect_reject(t, "must be a var");
  free(t);
}

Test(control, scan_slice_kernel) {
  float x[6] = {0, 1, 2, 3, 4, 5}; /* [2, 3] */
  rt_tensor tx = {.data = x, .dtype = IVM_DT_F32, .rank = 2, .dims = {2, 3}, .capacity = sizeof x};
  for (int64_t i = 0; i < 3; i++) {
    rt_tensor ti = {.data = &i, .dtype = IVM_DT_I64, .rank = 0, .capacity = 8};
    const rt_tensor *in[2] = {&tx, &ti};
    isa_attr attrs[2];
    isa_attrs_init_defaults(isa_builtin_desc(ISA_OP_ScanSlice), attrs);
    attrs[ISA_A_ScanSlice_axis].v.i = 1;
    attrs[ISA_A_ScanSlice_reverse].v.i = 1;
    rt_tensor out;
    ok(rt_run_builtin(ISA_OP_ScanSlice, 2, in, attrs, 1, &out));
    cr_assert_eq(out.rank, 1);
    cr_assert_eq(out.dims[0], 2);
    cr_expect_float_eq(((float *)out.data)[0], x[2 - i], 0);
    cr_expect_float_eq(((float *)out.data)[1], x[3 + 2 - i], 0);
    free(out.data);
  }
  int64_t bad = 3;
  rt_tensor ti = {.data = &bad, .dtype = IVM_DT_I64, .rank = 0, .capacity = 8};
  const rt_tensor *in[2] = {&tx, &ti};
  isa_attr attrs[2];
  isa_attrs_init_defaults(isa_builtin_desc(ISA_OP_ScanSlice), attrs);
  attrs[ISA_A_ScanSlice_axis].v.i = 1;
  rt_tensor out;
  ivm_status st = rt_run_builtin(ISA_OP_ScanSlice, 2, in, attrs, 1, &out);
  cr_assert(st != NULL, "an iteration outside the sequence is a run-time error");
  cr_expect_eq(ivm_status_get_code(st), IVM_ERR_RUNTIME);
  ivm_status_free(st);
  /* Control ops have no kernel: running one standalone is an error, not a crash. */
  uint8_t c = 1;
  rt_tensor tc = {.data = &c, .dtype = IVM_DT_BOOL, .rank = 0, .capacity = 1};
  const rt_tensor *cin[1] = {&tc};
  isa_attr ia[1];
  isa_attrs_init_defaults(isa_builtin_desc(ISA_OP_IfThen), ia);
  st = rt_run_builtin(ISA_OP_IfThen, 1, cin, ia, 0, &out);
  cr_assert(st != NULL);
  ivm_status_free(st);
}

/* Scan in its opset-8 form (batched, sequence_lens, directions), compiled from ONNX:
 * tests/data/scan8_lens.onnx and the expected values come from tests/data/make_scan8.py
 * (numpy). Batch 2, carried s, scan inputs xa (forward) and xr (reverse):
 * s := (s + xa[i]) * xr[len-1-i]; y := s - xa[i]. Steps past a batch element's length are
 * undefined in ONNX; IVM zero-fills them. */
static const float S0[] = {1.0f, 2.0f, -1.0f, 0.5f};
static const float XA[] = {-2.5f, -2.0f, -1.5f, -1.0f, -0.5f, 0.0f,
                           0.5f,  1.0f,  1.5f,  2.0f,  2.5f, 3.0f};
static const float XR[] = {1.0f, 2.0f, 0.5f, -1.0f, 2.0f, 0.25f,
                           -2.0f, 1.0f, 3.0f, 0.5f, 9.0f, 9.0f};
/* lens = [3, 2] */
static const float S_FINAL0[] = {-2.75f, 2.0f, -0.0f, 2.75f};
static const float YS0[] = {-0.5f, 2.0f,  -0.75f, 2.0f,  -2.25f, 2.0f,
                            -2.0f, -0.25f, -1.5f, 0.75f, 0.0f,   0.0f};
/* lens = [1, 3] */
static const float S_FINAL1[] = {-1.5f, 0.0f, 13.0f, 10.75f};
static const float YS1[] = {1.0f,  2.0f,  0.0f,  0.0f,  0.0f,  0.0f,
                            -5.0f, 12.5f, -10.5f, 5.75f, 10.5f, 7.75f};

Test(control, scan8_sequence_lens_reverse) {
  void *bytes;
  size_t n;
  ok(ivm_compile_onnx_file(IVM_TEST_DATA "/scan8_lens.onnx", &bytes, &n, NULL));
  ivm_module *m;
  ok(ivm_module_load_memory(bytes, n, 1, NULL, &m));
  ivm_session *s;
  ok(ivm_session_create(m, NULL, &s));
  const int32_t lens[2][2] = {{3, 2}, {1, 3}};
  const float *want_s[2] = {S_FINAL0, S_FINAL1}, *want_y[2] = {YS0, YS1};
  const int64_t d1[1] = {2}, d2[2] = {2, 2}, d3[3] = {2, 3, 2};
  for (int c = 0; c < 2; c++) { /* the second run re-initialises every accumulator */
    ok(ivm_session_bind_input(s, 0, IVM_DT_I32, 1, d1, lens[c], sizeof lens[c]));
    ok(ivm_session_bind_input(s, 1, IVM_DT_F32, 2, d2, S0, sizeof S0));
    ok(ivm_session_bind_input(s, 2, IVM_DT_F32, 3, d3, XA, sizeof XA));
    ok(ivm_session_bind_input(s, 3, IVM_DT_F32, 3, d3, XR, sizeof XR));
    ok(ivm_session_run(s));
    ivm_tensor_view sf, ys;
    ok(ivm_session_output(s, 0, &sf));
    ok(ivm_session_output(s, 1, &ys));
    cr_assert_eq(sf.rank, 2);
    cr_assert(sf.dims[0] == 2 && sf.dims[1] == 2);
    cr_assert_eq(ys.rank, 3);
    cr_assert(ys.dims[0] == 2 && ys.dims[1] == 3 && ys.dims[2] == 2);
    for (int k = 0; k < 4; k++)
      cr_expect_float_eq(((const float *)sf.data)[k], want_s[c][k], 1e-5f, "case %d s[%d]", c, k);
    for (int k = 0; k < 12; k++)
      cr_expect_float_eq(((const float *)ys.data)[k], want_y[c][k], 1e-5f, "case %d y[%d]", c, k);
  }
  /* A length past the sequence is a run-time error, not a crash. */
  const int32_t bad[2] = {4, 1};
  ok(ivm_session_bind_input(s, 0, IVM_DT_I32, 1, d1, bad, sizeof bad));
  ivm_status st = ivm_session_run(s);
  cr_assert(st != NULL, "sequence_lens 4 > 3 must fail");
  ivm_status_free(st);
  ivm_session_destroy(s);
  ivm_module_release(m);
}
