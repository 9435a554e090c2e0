/* Text assembly: dis then asm reproduces the module byte for byte (fixture and a module of
 * odd corner cases); hand-written text assembles and verifies; malformed text gives
 * "file:line: message" errors and never crashes. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>

#include "format_fixture.h"
#include "runtime/rt.h"

static uint8_t *write_def(const isa_module_def *d, size_t *n) {
  uint8_t *raw;
  ivm_status st = isa_module_write(d, &raw, n);
  cr_assert_null(st, "write: %s", ivm_status_message(st));
  uint8_t *b = fx_aligned_copy(raw, *n);
  free(raw);
  return b;
}

static char *dis_bytes(const uint8_t *b, size_t n, size_t *len) {
  isa_module m;
  ivm_status st = isa_module_open(b, n, "m.ivm", &m);
  cr_assert_null(st, "open: %s", ivm_status_message(st));
  char *text;
  st = isa_disassemble(&m, &text, len);
  cr_assert_null(st, "dis: %s", ivm_status_message(st));
  cr_assert_eq(strlen(text), *len);
  return text;
}

static void expect_round_trip(const isa_module_def *d) {
  size_t n, len, n2;
  uint8_t *b = write_def(d, &n);
  char *text = dis_bytes(b, n, &len);
  uint8_t *b2;
  ivm_status st = isa_assemble(text, len, "m.ivs", &b2, &n2);
  cr_assert_null(st, "asm: %s\n%s", ivm_status_message(st), text);
  cr_expect_eq(n2, n, "sizes differ: %zu vs %zu\n%s", n2, n, text);
  cr_expect(n2 == n && memcmp(b, b2, n) == 0, "bytes differ after asm(dis(m))\n%s", text);
  /* And dis(asm(dis(m))) is the same text. */
  if (n2 == n) {
    uint8_t *b3 = fx_aligned_copy(b2, n2);
    size_t len2;
    char *text2 = dis_bytes(b3, n2, &len2);
    cr_expect_str_eq(text2, text);
    free(text2);
    free(b3);
  }
  free(b2);
  free(text);
  free(b);
}

Test(asm, fixture_round_trip) {
  fixture f;
  fixture_init(&f);
  expect_round_trip(&f.def);
}

Test(asm, fixture_text_shows_everything) {
  fixture f;
  fixture_init(&f);
  size_t n, len;
  uint8_t *b = write_def(&f.def, &n);
  char *text = dis_bytes(b, n, &len);
  const char *want[] = {
      "ivm 1.2\n", /* writers write the newest minor */
      "plan arena_size=512 unplanned_size=896 arena_align=64\n",
      "symbol $0 \"N\"\n",
      "import #0 = ivm.Conv@1\n",
      "tensor %0 \"x\" f32[1,2,4,4] arena @0 size=128\n",
      /* b = {1, -2, 0.5} as little-endian f32: 3f800000, c0000000, 3f000000 */
      "tensor %2 \"b\" f32[3] const size=12\n  data 0000803f000000c00000003f\n",
      "tensor %8 \"y\" f32[N,48] dynamic\n",
      "inputs %0 %8\n",
      "outputs %7 %9\n",
      ("%3 = Conv %0 %1 %2 {pads=[1, 1, 1, 1], strides=[1, 1], group=1, auto_pad=\"NOTSET\", "
      "kernel_shape=[3, 3]} node \"conv1\"\n"),
      /* 0.1f = 0x3dcccccd = 0x1.99999ap-4 */
      "%4 = LeakyRelu %3 {alpha=0x1.99999ap-4} node \"lrelu\"\n",
      "%9 = Relu %8 node \"\"\n",
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    cr_expect(strstr(text, want[i]) != NULL, "missing: %s\n--- text:\n%s", want[i], text);
  free(text);
  free(b);
}

/* Everything the text form has to escape or special-case. */
Test(asm, corner_cases_round_trip) {
  isa_def_import imps[4] = {{"ivm", "Relu", 1},
                            {"ivm", "Relu", 2}, /* same name twice: referenced as #k */
                            {"my domain", "op.with.dots", 3},
                            {"-x", "_", 0}};
  const char *syms[3] = {"batch size", "N", "N"};
  static isa_def_tensor t[6];
  memset(t, 0, sizeof t);
  t[0] = (isa_def_tensor){"wei\"rd\\ \n\x01\xc3\xa9",
                          IVM_DT_BF16,
                          ISA_TK_DYNAMIC,
                          3,
                          0,
                          {ISA_DIM_SYM(0), ISA_DIM_ANY, ISA_DIM_SYM(2)},
                          0,
                          0,
                          NULL};
  t[1] = (isa_def_tensor){"", IVM_DT_I8, ISA_TK_DYNAMIC, 0, ISA_TF_RANK_UNKNOWN, {0}, 0, 0, NULL};
  t[2] = (isa_def_tensor){"empty", IVM_DT_F32, ISA_TK_CONST, 2, 0, {0, 5}, 0, 0, NULL};
  uint8_t scalar[8] = {1, 2, 3, 4, 5, 6, 7, 0xff};
  t[3] = (isa_def_tensor){"s", IVM_DT_U64, ISA_TK_CONST, 0, 0, {0}, 0, 8, scalar};
  static uint8_t big[300];
  for (int i = 0; i < 300; i++) big[i] = (uint8_t)(i * 37);
  t[4] = (isa_def_tensor){"big", IVM_DT_U8, ISA_TK_CONST, 1, 0, {300}, 0, 300, big};
  t[5] = (isa_def_tensor){"a", IVM_DT_BOOL, ISA_TK_ARENA, 1, 0, {64}, 4096, 64, NULL};
  float nan_payload, neg_nan;
  uint32_t bits = 0x7fa00001u; /* a signalling NaN with a payload */
  memcpy(&nan_payload, &bits, 4);
  bits = 0xffc00000u;
  memcpy(&neg_nan, &bits, 4);
  float fl[7] = {-0.0f, 1e-45f, 3.4028235e38f, INFINITY, -INFINITY, nan_payload, neg_nan};
  int64_t il[3] = {INT64_MIN, -1, INT64_MAX};
  isa_def_attr at[8] = {
      {"f", ISA_ATTR_FLOAT, 1, {.f = nan_payload}},
      {"g", ISA_ATTR_FLOAT, 1, {.f = -INFINITY}},
      {"fl", ISA_ATTR_FLOATS, 7, {.floats = fl}},
      {"il", ISA_ATTR_INTS, 3, {.ints = il}},
      {"ef", ISA_ATTR_FLOATS, 0, {.floats = NULL}},
      {"ei", ISA_ATTR_INTS, 0, {.ints = NULL}},
      {"name with space", ISA_ATTR_STRING, 4, {.s = "\t\"\\\x7f"}},
      {"i", ISA_ATTR_INT, 1, {.i = INT64_MIN}},
  };
  uint32_t o0[3] = {ISA_NO_TENSOR, 0, 1}, o1[2] = {3, ISA_NO_TENSOR}, o2[1] = {2};
  isa_def_instr in[4] = {
      {0, 1, 2, o0, 8, at, "n0"},
      {1, 1, 1, o1, 0, NULL, NULL}, /* no debug name: written as "" */
      {2, 1, 0, o2, 1, &at[1], "\xff"},
      {3, 0, 0, NULL, 0, NULL, "no operands"},
  };
  uint32_t inputs[1] = {5}, outputs[2] = {0, 0};
  isa_module_def d = {0};
  d.n_imports = 4, d.imports = imps, d.n_symbols = 3, d.symbols = syms;
  d.n_tensors = 6, d.tensors = t, d.n_instrs = 4, d.instrs = in;
  d.n_inputs = 1, d.inputs = inputs, d.n_outputs = 2, d.outputs = outputs;
  d.arena_size = 8192, d.unplanned_size = 1, d.arena_align = 4096;
  expect_round_trip(&d);

  /* Without any debug name the DEBUG section is absent and so is `node`. */
  for (int i = 0; i < 4; i++) in[i].debug_name = NULL;
  expect_round_trip(&d);
  /* No instructions, tensors, imports at all. */
  isa_module_def empty = {0};
  empty.arena_align = 64;
  expect_round_trip(&empty);
}

Test(asm, hand_written_text_verifies) {
  const char *text =
      "; a tiny model\n"
      "ivm 1.0\n"
      "plan arena_size=128 unplanned_size=128 arena_align=64\n"
      "import #0 = ivm.LeakyRelu@1\n"
      "import #1 = ivm.Add@1\n"
      "tensor %0 \"x\" f32[2,2] arena @0 size=16\n"
      "tensor %1 \"one\" f32[] const size=4   ; scalar 1.0\n"
      "  data 00 00 80 3f\n"
      "tensor %2 \"y\" f32[2,2] arena @64 size=16\n"
      "tensor %3 \"z\" f32[2,2] arena @0 size=16\n"
      "inputs %0\n"
      "outputs %3\n"
      "%2 = LeakyRelu %0 {alpha=1}   ; int literal, schema says float\n"
      "%3 = #1 %2 %1 node \"add\"\n";
  uint8_t *raw;
  size_t n;
  ivm_status st = isa_assemble(text, strlen(text), "tiny.ivs", &raw, &n);
  cr_assert_null(st, "%s", ivm_status_message(st));
  uint8_t *b = fx_aligned_copy(raw, n);
  free(raw);
  isa_module m;
  cr_assert_null(isa_module_open(b, n, "tiny.ivm", &m));
  cr_expect_eq(m.n_instrs, 2);
  cr_expect_eq(m.consts_size, 64);
  float one;
  memcpy(&one, m.consts, 4);
  cr_expect_eq(one, 1.0f);
  isa_attr a[1];
  cr_assert_null(isa_module_decode_attrs(&m, 0, isa_builtin_desc(ISA_OP_LeakyRelu), a));
  cr_expect_eq(a[0].type, ISA_ATTR_FLOAT);
  cr_expect_eq(a[0].v.f, 1.0f);
  isa_registry *reg;
  cr_assert_null(rt_registry_create_builtin(&reg));
  st = isa_module_verify(&m, reg, "tiny.ivm");
  cr_expect_null(st, "%s", ivm_status_message(st));
  ivm_status_free(st);
  isa_registry_destroy(reg);
  free(b);
}

Test(asm, syntax_errors_name_the_line) {
  struct {
    const char *text, *msg;
  } cases[] = {
      {"ivm 1.0\ntensor %0 \"x\" f32[1,2 arena @0 size=8\n", "t.ivs:2: expected ']'"},
      {"ivm 2.0\n", "t.ivs:1: text is for bytecode format version 2"},
      {"bogus\n", "t.ivs:1: unknown keyword 'bogus'"},
      {"\n\ntensor %1 \"x\" f32[1] dynamic\n", "t.ivs:3: tensor %1 declared out of order"},
      {"tensor %0 \"x\" q7[1] dynamic\n", "t.ivs:1: unknown dtype 'q7'"},
      {"tensor %0 \"x\" f32[1,1,1,1,1,1,1,1,1] dynamic\n", "rank exceeds 8"},
      {"tensor %0 \"x\" f32[N] dynamic\n", "t.ivs:1: unknown symbol 'N'"},
      {"tensor %0 \"x f32[1] dynamic\n", "t.ivs:1: unterminated string"},
      {"tensor %0 \"x\\q\" f32[1] dynamic\n", "unknown escape"},
      {"tensor %0 \"x\\x00\" f32[1] dynamic\n", "NUL"},
      {"tensor %0 \"x\" f32[1] const size=4\n  data 0011\n; comment\n",
       "t.ivs:1: tensor %0: 2 bytes of data, its size is 4"},
      {"tensor %0 \"x\" f32[1] const size=4\n  data 001122334455\n", "t.ivs:2: more data"},
      {"tensor %0 \"x\" f32[1] const size=4\n  data 0g\n", "t.ivs:2: expected hex digits"},
      {"tensor %0 \"x\" f32[1] const size=99999999999\n", "more than the data that follows"},
      {"  data 00\n", "t.ivs:1: 'data' line without a preceding const tensor"},
      {"import #0 = Conv@1\n", "t.ivs:1: expected domain.name"},
      {"import #0 = ivm.Conv@99999999999\n", "too large"},
      {"%0 = Relu\n", "t.ivs:1: tensor %0 is not declared"},
      {"tensor %0 \"x\" f32[1] dynamic\n%0 = Relu %0\n", "t.ivs:2: op 'Relu' is not imported"},
      {"import #0 = ivm.Relu@1\ntensor %0 \"x\" f32[1] dynamic\n%0 = Relu %0 {a=[1, 2}\n",
       "t.ivs:3: expected ','"},
      {"import #0 = ivm.Relu@1\ntensor %0 \"x\" f32[1] dynamic\n%0 = Relu %0 {a=1\n",
       "t.ivs:3: expected '}'"},
      {"import #0 = ivm.Relu@1\ntensor %0 \"x\" f32[1] dynamic\n%0 = Relu %0 "
       "{a=99999999999999999999}\n",
       "t.ivs:3: integer '99999999999999999999' is out of range"},
      {"import #0 = ivm.Relu@1\ntensor %0 \"x\" f32[1] dynamic\n%0 = Relu %0 {a=1e999}\n",
       "out of float range"},
      {"import #0 = ivm.Relu@1\ntensor %0 \"x\" f32[1] dynamic\n%0 = Relu %0 {a=nan(0x3f800000)}\n",
       "is not a NaN"},
      {"import #0 = ivm.Relu@1\nimport #1 = ivm.Relu@2\ntensor %0 \"x\" f32[1] dynamic\n%0 = Relu "
       "%0\n",
       "t.ivs:4: op 'Relu' matches several imports"},
      {"plan arena_size=-1\n", "t.ivs:1: expected a non-negative integer"},
      {"plan arena_size=1\nplan arena_size=1\n", "t.ivs:2: duplicate 'plan' line"},
      {"inputs %3\n", "t.ivs:1: tensor %3 is not declared"},
      {"tensor %0 \"x\" f32[1] dynamic extra\n", "t.ivs:1: unexpected text at the end of the line"},
      {"tensor %0 \"x\" f32[1] dynamic\n\x01\n", "t.ivs:2: unexpected byte 0x01"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint8_t *b = NULL;
    size_t n = 0;
    ivm_status st = isa_assemble(cases[i].text, strlen(cases[i].text), "t.ivs", &b, &n);
    cr_expect_not_null(st, "case %zu accepted:\n%s", i, cases[i].text);
    if (!st) {
      free(b);
      continue;
    }
    cr_expect_eq(ivm_status_get_code(st), IVM_ERR_FORMAT, "case %zu: %s", i,
                 ivm_status_message(st));
    cr_expect(strstr(ivm_status_message(st), cases[i].msg) != NULL, "case %zu: '%s' lacks '%s'", i,
              ivm_status_message(st), cases[i].msg);
    cr_expect_null(b);
    ivm_status_free(st);
  }
}

Test(asm, writer_errors_are_reported) {
  /* Text that parses but makes an inconsistent def (symbol dim on... a bad operand count). */
  const char *text = "symbol $0 \"N\"\ntensor %0 \"x\" f32[$1] dynamic\n";
  uint8_t *b;
  size_t n;
  ivm_status st = isa_assemble(text, strlen(text), "w.ivs", &b, &n);
  cr_assert_not_null(st);
  cr_expect(strstr(ivm_status_message(st), "w.ivs:2: symbol $1 is not declared") != NULL, "%s",
            ivm_status_message(st));
  ivm_status_free(st);
}

static uint32_t rng_next(uint64_t *s) {
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(*s >> 33);
}

/* Every prefix and thousands of random edits of a valid text: errors, never crashes.
 * The text is copied into an exact-size heap buffer so that AddressSanitizer sees any
 * read past `len`. */
Test(asm, damaged_text_never_crashes) {
  fixture f;
  fixture_init(&f);
  size_t n, len;
  uint8_t *b = write_def(&f.def, &n);
  char *text = dis_bytes(b, n, &len);
  for (size_t cut = 0; cut < len; cut++) {
    char *p = malloc(cut ? cut : 1);
    memcpy(p, text, cut);
    uint8_t *o;
    size_t on;
    ivm_status st = isa_assemble(p, cut, "cut.ivs", &o, &on);
    if (!st) free(o);
    ivm_status_free(st);
    free(p);
  }
  uint64_t seed = 99;
  static const char alphabet[] = "%#$@=,[]{}()\"\\;_-+.0123456789abcdefxpnN \n\t\x01\xff";
  for (int trial = 0; trial < 3000; trial++) {
    char *p = malloc(len + 8);
    memcpy(p, text, len);
    size_t plen = len;
    int edits = 1 + (int)(rng_next(&seed) % 4);
    for (int e = 0; e < edits; e++) {
      size_t pos = rng_next(&seed) % plen;
      char c = alphabet[rng_next(&seed) % (sizeof alphabet - 1)];
      switch (rng_next(&seed) % 3) {
        case 0: p[pos] = c; break;
        case 1:
          memmove(p + pos, p + pos + 1, plen - pos - 1);
          plen--;
          break;
        default:
          memmove(p + pos + 1, p + pos, plen - pos);
          p[pos] = c;
          plen++;
          break;
      }
    }
    char *exact = malloc(plen);
    memcpy(exact, p, plen);
    free(p);
    uint8_t *o;
    size_t on;
    ivm_status st = isa_assemble(exact, plen, "fuzz.ivs", &o, &on);
    if (!st) free(o);
    ivm_status_free(st);
    free(exact);
  }
  free(text);
  free(b);
}
