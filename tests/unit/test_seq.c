/* Sequences and optionals in bytecode (isa/ops_seq.def, vm/seq.c): hand-written .ivs
 * modules are assembled, verified and run with hand-worked values; sequence inputs and
 * outputs go through the public API; the verifier rejects sequence values where an op
 * takes tensors (and the reverse), and sequence flags in a version 1.0 file (a 1.1 file,
 * with the old checksum rule, still loads); dis/asm
 * round-trips them byte for byte. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "isa/module.h"
#include "ivm/ivm.h"

static void ok(ivm_status st) {
  cr_assert(st == NULL, "unexpected error: %s", ivm_status_message(st));
}

/* s := [x]; s := insert(s, y, pos); n := len(s); a := s[pos]; c := concat(s); o := some(s);
 * h := has(o); parts := split(c, 2); m := len(parts); e := erase(parts, 0) */
static const char *SEQ =
    "ivm 1.1\n"
    "plan arena_size=0 unplanned_size=0 arena_align=64\n"
    "import #0 = ivm.SequenceEmpty@1\n"
    "import #1 = ivm.SequenceInsert@1\n"
    "import #2 = ivm.SequenceLength@1\n"
    "import #3 = ivm.SequenceAt@1\n"
    "import #4 = ivm.ConcatFromSequence@1\n"
    "import #5 = ivm.Optional@1\n"
    "import #6 = ivm.OptionalHasElement@1\n"
    "import #7 = ivm.SplitToSequence@1\n"
    "import #8 = ivm.SequenceErase@1\n"
    "tensor %0 \"x\" f32[2] dynamic\n"
    "tensor %1 \"y\" f32[3] dynamic\n"
    "tensor %2 \"pos\" i64[] dynamic\n"
    "tensor %3 \"s0\" f32[*] dynamic sequence\n"
    "tensor %4 \"s1\" f32[*] dynamic sequence\n"
    "tensor %5 \"s2\" f32[*] dynamic sequence\n"
    "tensor %6 \"n\" i64[] dynamic\n"
    "tensor %7 \"a\" f32[*] dynamic\n"
    "tensor %8 \"c\" f32[*] dynamic\n"
    "tensor %9 \"o\" f32[*] dynamic optional sequence\n"
    "tensor %10 \"h\" bool[] dynamic\n"
    "tensor %11 \"two\" i64[] const size=8\n"
    "  data 0200000000000000\n"
    "tensor %12 \"parts\" f32[?] dynamic sequence\n"
    "tensor %13 \"e\" f32[?] dynamic sequence\n"
    "inputs %0 %1 %2\n"
    "outputs %6 %7 %8 %10 %13\n"
    "%3 = SequenceEmpty {dtype=1}\n"
    "%4 = SequenceInsert %3 %0\n"
    "%5 = SequenceInsert %4 %1 %2\n"
    "%6 = SequenceLength %5\n"
    "%7 = SequenceAt %5 %2\n"
    "%8 = ConcatFromSequence %5 {axis=0}\n"
    "%9 = Optional %5\n"
    "%10 = OptionalHasElement %9\n"
    "%12 = SplitToSequence %8 %11\n"
    "%13 = SequenceErase %12 %2\n";

/* A sequence input, an optional tensor input; outputs: the sequence with its last element
 * erased, whether the optional holds a value, and a copy of the optional. */
static const char *SEQ_IO =
    "ivm 1.1\n"
    "plan arena_size=0 unplanned_size=0 arena_align=64\n"
    "import #0 = ivm.SequenceErase@1\n"
    "import #1 = ivm.OptionalHasElement@1\n"
    "import #2 = ivm.CopyValue@1\n"
    "tensor %0 \"s\" i32[?] dynamic sequence\n"
    "tensor %1 \"o\" f32[2] dynamic optional\n"
    "tensor %2 \"t\" i32[?] dynamic sequence\n"
    "tensor %3 \"h\" bool[] dynamic\n"
    "tensor %4 \"oc\" f32[2] dynamic optional\n"
    "inputs %0 %1\n"
    "outputs %2 %3 %4\n"
    "%2 = SequenceErase %0\n"
    "%3 = OptionalHasElement %1\n"
    "%4 = CopyValue %1\n";

static uint8_t *assemble(const char *text, size_t *n) {
  uint8_t *b;
  ok(isa_assemble(text, strlen(text), "t.ivs", &b, n));
  return b;
}

static ivm_status load_text(const char *text, ivm_module **out) {
  size_t n;
  uint8_t *b;
  ivm_status st = isa_assemble(text, strlen(text), "t.ivs", &b, &n);
  if (st) return st;
  st = ivm_module_load_memory(b, n, 0, NULL, out);
  free(b);
  return st;
}

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

static void expect_reject_patched(const char *text, const char *from, const char *to,
                                  const char *what) {
  char *t = patch(text, from, to);
  ivm_module *m = NULL;
  ivm_status st = load_text(t, &m);
  cr_assert(st != NULL, "expected an error containing '%s'", what);
  cr_expect(strstr(ivm_status_message(st), what) != NULL, "error '%s' lacks '%s'",
            ivm_status_message(st), what);
  ivm_status_free(st);
  ivm_module_release(m);
  free(t);
}

static void expect_f32(const ivm_tensor_view *v, const float *want, int n) {
  cr_assert_eq(v->dtype, IVM_DT_F32);
  cr_assert_eq(v->nbytes, (size_t)n * 4);
  for (int i = 0; i < n; i++)
    cr_expect_eq(((const float *)v->data)[i], want[i], "element %d: %g != %g", i,
                 ((const float *)v->data)[i], want[i]);
}

Test(seq, ops_run) {
  ivm_module *m;
  ok(load_text(SEQ, &m));
  ivm_session *s;
  ok(ivm_session_create(m, NULL, &s));
  for (int rep = 0; rep < 2; rep++) { /* a second run reuses the sequences' storage */
    float x[2] = {1, 2}, y[3] = {3, 4, 5};
    int64_t dx = 2, dy = 3, pos = 0;
    ok(ivm_session_bind_input(s, 0, IVM_DT_F32, 1, &dx, x, sizeof x));
    ok(ivm_session_bind_input(s, 1, IVM_DT_F32, 1, &dy, y, sizeof y));
    ok(ivm_session_bind_input(s, 2, IVM_DT_I64, 0, NULL, &pos, sizeof pos));
    ok(ivm_session_run(s));
    ivm_tensor_view v;
    ok(ivm_session_output(s, 0, &v)); /* n = 2 */
    cr_expect_eq(*(const int64_t *)v.data, 2);
    ok(ivm_session_output(s, 1, &v)); /* s2[0] = y (inserted at the front) */
    cr_expect_eq(v.rank, 1);
    expect_f32(&v, y, 3);
    ok(ivm_session_output(s, 2, &v)); /* concat = y ++ x */
    expect_f32(&v, (const float[]){3, 4, 5, 1, 2}, 5);
    ok(ivm_session_output(s, 3, &v));
    cr_expect_eq(*(const uint8_t *)v.data, 1);
    int32_t has;
    uint32_t cnt;
    /* split([3,4,5,1,2], 2) = [3,4], [5,1], [2]; erase(0) leaves [5,1], [2] */
    ok(ivm_session_output_sequence(s, 4, &has, &cnt));
    cr_assert_eq(has, 1);
    cr_assert_eq(cnt, 2);
    ok(ivm_session_output_item(s, 4, 0, &v));
    expect_f32(&v, (const float[]){5, 1}, 2);
    ok(ivm_session_output_item(s, 4, 1, &v));
    expect_f32(&v, (const float[]){2}, 1);
    ivm_status st = ivm_session_output_item(s, 4, 2, &v);
    cr_expect(st != NULL);
    ivm_status_free(st);
    st = ivm_session_output(s, 4, &v); /* a sequence is not a tensor output */
    cr_expect(st != NULL);
    ivm_status_free(st);
  }
  /* A position out of range is a run-time error. */
  int64_t bad = 5;
  ok(ivm_session_bind_input(s, 2, IVM_DT_I64, 0, NULL, &bad, sizeof bad));
  ivm_status st = ivm_session_run(s);
  cr_assert(st != NULL);
  cr_expect(strstr(ivm_status_message(st), "out of range") != NULL, "%s", ivm_status_message(st));
  ivm_status_free(st);
  ivm_session_destroy(s);
  ivm_module_release(m);
}

Test(seq, sequence_and_optional_io) {
  ivm_module *m;
  ok(load_text(SEQ_IO, &m));
  ivm_tensor_info info;
  ok(ivm_module_input_info(m, 0, &info));
  cr_expect_eq(info.kind, IVM_VALUE_SEQUENCE);
  ok(ivm_module_input_info(m, 1, &info));
  cr_expect_eq(info.kind, IVM_VALUE_OPTIONAL);
  ivm_session *s;
  ok(ivm_session_create(m, NULL, &s));
  int32_t a[3] = {1, 2, 3}, b[1] = {7};
  float f[2] = {0.5f, -1};
  ivm_tensor_view items[2] = {{IVM_DT_I32, 1, {3}, a, sizeof a}, {IVM_DT_I32, 1, {1}, b, sizeof b}};
  ivm_tensor_view opt = {IVM_DT_F32, 1, {2}, f, sizeof f};
  ivm_status st = ivm_session_bind_input(s, 0, IVM_DT_I32, 1, (int64_t[]){3}, a, sizeof a);
  cr_expect(st != NULL, "a sequence input is not bound as a tensor");
  ivm_status_free(st);
  st = ivm_session_bind_sequence(s, 0, 0, 0, NULL);
  cr_expect(st != NULL, "a sequence cannot be none");
  ivm_status_free(st);
  st = ivm_session_bind_sequence(s, 1, 1, 1, &items[0]);
  cr_expect(st != NULL, "the optional holds f32[2]");
  ivm_status_free(st);
  ok(ivm_session_bind_sequence(s, 0, 1, 2, items));
  ok(ivm_session_bind_sequence(s, 1, 1, 1, &opt));
  ok(ivm_session_run(s));
  int32_t has;
  uint32_t cnt;
  ivm_tensor_view v;
  ok(ivm_session_output_sequence(s, 0, &has, &cnt));
  cr_expect(has == 1 && cnt == 1);
  ok(ivm_session_output_item(s, 0, 0, &v));
  cr_expect(v.dtype == IVM_DT_I32 && v.rank == 1 && v.dims[0] == 3);
  cr_expect(memcmp(v.data, a, sizeof a) == 0);
  ok(ivm_session_output(s, 1, &v));
  cr_expect_eq(*(const uint8_t *)v.data, 1);
  ok(ivm_session_output_sequence(s, 2, &has, &cnt));
  cr_expect(has == 1 && cnt == 1);
  ok(ivm_session_output_item(s, 2, 0, &v));
  expect_f32(&v, f, 2);
  /* none */
  ok(ivm_session_bind_sequence(s, 1, 0, 0, NULL));
  ok(ivm_session_run(s));
  ok(ivm_session_output(s, 1, &v));
  cr_expect_eq(*(const uint8_t *)v.data, 0);
  ok(ivm_session_output_sequence(s, 2, &has, &cnt));
  cr_expect(has == 0 && cnt == 0);
  /* Erasing from an empty sequence fails at run time. */
  ok(ivm_session_bind_sequence(s, 0, 1, 0, NULL));
  st = ivm_session_run(s);
  cr_expect(st != NULL);
  ivm_status_free(st);
  ivm_session_destroy(s);
  ivm_module_release(m);
}

Test(seq, verifier_rejects_misuse) {
  /* A sequence given to a tensor op. */
  char *t = patch(SEQ, "import #8 = ivm.SequenceErase@1\n",
                  "import #8 = ivm.SequenceErase@1\nimport #9 = ivm.Relu@1\n");
  char *t2 = patch(t, "tensor %13 \"e\" f32[?] dynamic sequence\n",
                   "tensor %13 \"e\" f32[?] dynamic sequence\ntensor %14 \"r\" f32[*] dynamic\n");
  char *t3 = patch(t2, "%13 = SequenceErase %12 %2\n", "%13 = SequenceErase %12 %2\n%14 = Relu %5\n");
  expect_reject_patched(t3, "ivm 1.1", "ivm 1.1", "is a sequence value; the op takes tensors only");
  free(t);
  free(t2);
  free(t3);
  /* A tensor where a sequence is expected. */
  expect_reject_patched(SEQ, "%6 = SequenceLength %5\n", "%6 = SequenceLength %0\n",
                        "expected a sequence, got a tensor");
  /* A tensor op writing a sequence-declared value, and a seq op whose output kind differs. */
  expect_reject_patched(SEQ, "tensor %7 \"a\" f32[*] dynamic\n",
                        "tensor %7 \"a\" f32[*] dynamic sequence\n", "inference gives");
  expect_reject_patched(SEQ, "tensor %9 \"o\" f32[*] dynamic optional sequence\n",
                        "tensor %9 \"o\" f32[*] dynamic optional\n", "inference gives");
  /* Element dtype mismatch. */
  expect_reject_patched(SEQ, "tensor %1 \"y\" f32[3] dynamic\n", "tensor %1 \"y\" i32[3] dynamic\n",
                        "the sequence holds f32");
  /* A position must be i32/i64. */
  expect_reject_patched(SEQ, "tensor %2 \"pos\" i64[] dynamic\n", "tensor %2 \"pos\" f32[] dynamic\n",
                        "expected i32 or i64");
}

/* The writer's file (1.2) turned into an old-format file of `minor`: consts_checksum
 * zeroed and the checksum recomputed over the whole file (bytes 40..43 as zero), the
 * rule of 1.0 and 1.1. */
static void make_old_format(uint8_t *b, size_t n, uint16_t minor) {
  isa_file_header h;
  memcpy(&h, b, sizeof h);
  h.minor = minor;
  h.checksum = 0;
  h.consts_checksum = 0;
  memcpy(b, &h, sizeof h);
  uint32_t crc = isa_crc32(0, b, n);
  memcpy(b + offsetof(isa_file_header, checksum), &crc, 4);
}

Test(seq, verifier_rejects_flags_in_version_1_0) {
  /* Hand-made 1.0 file with a sequence flag: the writer says 1.2, so patch the header. */
  size_t n;
  uint8_t *b = assemble(SEQ_IO, &n);
  isa_file_header h;
  memcpy(&h, b, sizeof h);
  cr_assert_eq(h.minor, 2, "the writer writes version 1.2");
  /* As a 1.1 file (old checksum rule) the flags are allowed and it loads. */
  make_old_format(b, n, 1);
  ivm_module *m = NULL;
  ok(ivm_module_load_memory(b, n, 0, NULL, &m));
  ivm_module_release(m);
  m = NULL;
  make_old_format(b, n, 0);
  ivm_status st = ivm_module_load_memory(b, n, 0, NULL, &m);
  cr_assert(st != NULL);
  cr_expect(strstr(ivm_status_message(st), "unknown flags") != NULL, "%s", ivm_status_message(st));
  ivm_status_free(st);
  free(b);
}

Test(seq, round_trip) {
  const char *texts[] = {SEQ, SEQ_IO};
  for (int k = 0; k < 2; k++) {
    size_t n, n2, len;
    uint8_t *b = assemble(texts[k], &n);
    uint8_t *al = aligned_alloc(64, (n + 63) / 64 * 64);
    memcpy(al, b, n);
    isa_module m;
    ok(isa_module_open(al, n, "t.ivm", &m));
    char *text;
    ok(isa_disassemble(&m, &text, &len));
    cr_expect(strstr(text, "ivm 1.2\n") != NULL, "%s", text);
    cr_expect(strstr(text, " dynamic sequence\n") != NULL, "%s", text);
    uint8_t *b2 = assemble(text, &n2);
    cr_expect(n2 == n && memcmp(b, b2, n) == 0, "asm(dis(m)) differs:\n%s", text);
    free(b2);
    free(text);
    free(al);
    free(b);
  }
}
