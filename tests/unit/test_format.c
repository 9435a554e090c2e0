/* .ivm writer and reader: round trip, determinism, and the container checks (every
 * truncation, byte flips with and without a valid checksum, header damage), and the 1.2
 * split checksum (metadata at open, constants on request) next to the 1.0/1.1 rule. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "format_fixture.h"
#include "ivm/ivm.h"
#include "runtime/rt.h"
#include "vm/vm.h"

static void write_fixture(fixture *f, uint8_t **bytes, size_t *size) {
  fixture_init(f);
  uint8_t *raw;
  ivm_status st = isa_module_write(&f->def, &raw, size);
  cr_assert_null(st, "%s", ivm_status_message(st));
  *bytes = fx_aligned_copy(raw, *size);
  free(raw);
}

/* CRC-32/IEEE bit by bit, straight from the definition (reflected 0xEDB88320, init and
 * final xor 0xFFFFFFFF): the expected values below do not come from isa_crc32. */
static uint32_t crc_bitwise(uint32_t crc, const uint8_t *p, size_t n) {
  crc = ~crc;
  for (size_t i = 0; i < n; i++) {
    crc ^= p[i];
    for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
  }
  return ~crc;
}

static void expect_format_error(ivm_status st, const char *needle) {
  cr_assert_not_null(st, "expected an error containing '%s'", needle);
  cr_expect_eq(ivm_status_get_code(st), IVM_ERR_FORMAT, "%s", ivm_status_message(st));
  cr_expect(strstr(ivm_status_message(st), needle) != NULL, "message '%s' lacks '%s'",
            ivm_status_message(st), needle);
  ivm_status_free(st);
}

Test(format, crc32_check_value) {
  /* The standard CRC-32/IEEE check value of "123456789". */
  cr_expect_eq(isa_crc32(0, "123456789", 9), 0xCBF43926u);
  cr_expect_eq(isa_crc32(isa_crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
  cr_expect_eq(crc_bitwise(0, (const uint8_t *)"123456789", 9), 0xCBF43926u);
}

/* The fixture's CONSTS section: the last one (the writer's order), 384 bytes (w at 0,
 * b at 256, shape at 320, each 64-aligned), ending where the file ends (384 is a multiple
 * of 8, so no padding follows). */
static void consts_of(const uint8_t *b, size_t n, uint64_t *off, uint64_t *len) {
  const isa_file_header *h = (const isa_file_header *)b;
  const isa_section_entry *e = (const isa_section_entry *)(b + h->section_table);
  const isa_section_entry *last = &e[h->section_count - 1];
  cr_assert_eq(last->kind, ISA_SEC_CONSTS);
  cr_assert_eq(last->size, 384);
  cr_assert_eq(last->offset + last->size, n);
  *off = last->offset;
  *len = last->size;
}

/* The fixture written, and where its CONSTS section lies. */
static void write_fixture_consts(fixture *f, uint8_t **b, size_t *n, uint64_t *co, uint64_t *cl) {
  write_fixture(f, b, n);
  consts_of(*b, *n, co, cl);
}

Test(format, split_checksum_by_hand) {
  fixture f;
  uint8_t *b;
  size_t n;
  write_fixture(&f, &b, &n);
  isa_file_header h;
  memcpy(&h, b, sizeof h);
  cr_expect_eq(h.minor, 2, "writers write version 1.2");
  uint64_t co, cl;
  consts_of(b, n, &co, &cl);
  /* checksum: bytes [0, 40), eight zeros for the two checksum fields, [48, CONSTS). */
  static const uint8_t zeros[8] = {0};
  uint32_t want = crc_bitwise(0, b, 40);
  want = crc_bitwise(want, zeros, 8);
  want = crc_bitwise(want, b + 48, (size_t)co - 48);
  cr_expect_eq(h.checksum, want, "checksum 0x%08x, expected 0x%08x", h.checksum, want);
  /* consts_checksum: the CONSTS bytes, which are the fixture's w, b, shape at their
   * offsets with zero padding between. */
  uint8_t consts[384] = {0};
  memcpy(consts + 0, f.w, sizeof f.w);
  memcpy(consts + 256, f.b, sizeof f.b);
  memcpy(consts + 320, f.shape, sizeof f.shape);
  cr_expect_eq(memcmp(b + co, consts, sizeof consts), 0);
  uint32_t want_c = crc_bitwise(0, consts, sizeof consts);
  cr_expect_eq(h.consts_checksum, want_c, "consts_checksum 0x%08x, expected 0x%08x",
               h.consts_checksum, want_c);
  isa_module m;
  cr_assert_null(isa_module_open(b, n, "fixture.ivm", &m));
  cr_expect_null(isa_module_check_consts(&m, "fixture.ivm"));
  /* The test helper agrees with the writer. */
  uint8_t *c = fx_aligned_copy(b, n);
  if (!c || n < 64) { /* also tells GCC's -Warray-bounds (the -O1 sanitizer build) */
    cr_assert_fail("out of memory or a short module");
    return;
  }
  memset(c + 40, 0xAB, 8);
  fx_fix_checksum(c, n);
  cr_expect_eq(memcmp(b, c, n), 0);
  free(c);
  free(b);
}

/* A 1.2 file rewritten with the 1.0/1.1 rule: consts_checksum 0, and the checksum over the
 * whole file with bytes 40..43 as zero (computed here bit by bit). */
static void make_old_format(uint8_t *b, size_t n, uint16_t minor, uint32_t consts_checksum) {
  memcpy(b + 10, &minor, 2);
  memset(b + 40, 0, 4);
  memcpy(b + 44, &consts_checksum, 4);
  uint32_t crc = crc_bitwise(0, b, n);
  memcpy(b + 40, &crc, 4);
}

Test(format, old_format_whole_file_checksum) {
  fixture f;
  uint8_t *b;
  size_t n;
  uint64_t co, cl;
  write_fixture_consts(&f, &b, &n, &co, &cl);
  isa_registry *reg;
  cr_assert_null(rt_registry_create_builtin(&reg));
  for (uint16_t minor = 0; minor <= 1; minor++) {
    uint8_t *o = fx_aligned_copy(b, n);
    make_old_format(o, n, minor, 0);
    isa_module m;
    ivm_status st = isa_module_open(o, n, "old.ivm", &m);
    cr_assert_null(st, "minor %u: %s", minor, ivm_status_message(st));
    cr_expect_eq(m.header->minor, minor);
    cr_expect_null(isa_module_check_consts(&m, "old.ivm")); /* open checked everything */
    st = isa_module_verify(&m, reg, "old.ivm");
    cr_expect_null(st, "%s", ivm_status_message(st));
    cr_expect_null(vm_verify_memory(o, n, NULL));
    /* The old rule covers the constants: a damaged weight fails at open. */
    o[co + 5] ^= 0x10;
    expect_format_error(isa_module_open(o, n, "old.ivm", &m), "checksum mismatch");
    o[co + 5] ^= 0x10;
    /* The field that 1.2 calls consts_checksum must be 0 in an old file. */
    make_old_format(o, n, minor, 0x1234);
    expect_format_error(isa_module_open(o, n, "old.ivm", &m), "consts_checksum");
    free(o);
  }
  /* A 1.2 file checked by the old rule (or the reverse) does not match. */
  uint8_t *o = fx_aligned_copy(b, n);
  make_old_format(o, n, 2, ((const isa_file_header *)b)->consts_checksum);
  isa_module m;
  expect_format_error(isa_module_open(o, n, "x.ivm", &m), "checksum mismatch");
  free(o);
  isa_registry_destroy(reg);
  free(b);
}

Test(format, damaged_constants) {
  fixture f;
  uint8_t *b;
  size_t n;
  uint64_t co, cl;
  write_fixture_consts(&f, &b, &n, &co, &cl);
  uint8_t *w = fx_aligned_copy(b, n);
  w[co + 3] ^= 0x80; /* the sign of w[0] */
  isa_module m;
  ivm_status st = isa_module_open(w, n, "model.ivm", &m);
  cr_assert_null(st, "open does not read the constants: %s", ivm_status_message(st));
  expect_format_error(isa_module_check_consts(&m, "model.ivm"),
                      "model.ivm: section CONSTS: checksum mismatch");
  /* Loading: by default the damage is not seen; with check_constants it is. */
  ivm_module *mod = NULL;
  st = ivm_module_load_memory(w, n, 0, NULL, &mod);
  cr_expect_null(st, "%s", ivm_status_message(st));
  ivm_module_release(mod);
  mod = NULL;
  ivm_load_options lo;
  memset(&lo, 0, sizeof lo);
  lo.check_constants = 1;
  lo.name = "model.ivm";
  expect_format_error(ivm_module_load_memory(w, n, 0, &lo, &mod), "section CONSTS: checksum");
  cr_expect_null(mod);
  /* ivm verify's path always checks them. */
  expect_format_error(vm_verify_memory(w, n, NULL), "section CONSTS: checksum mismatch");
  /* The undamaged file passes all three. */
  cr_expect_null(vm_verify_memory(b, n, &lo));
  st = ivm_module_load_memory(b, n, 0, &lo, &mod);
  cr_expect_null(st, "%s", ivm_status_message(st));
  ivm_module_release(mod);
  free(w);
  free(b);
}

Test(format, round_trip) {
  fixture f;
  uint8_t *b;
  size_t n;
  write_fixture(&f, &b, &n);
  isa_module m;
  ivm_status st = isa_module_open(b, n, "fixture.ivm", &m);
  cr_assert_null(st, "%s", ivm_status_message(st));
  cr_expect_eq(n % 8, 0);
  cr_expect_eq(m.header->major, ISA_FORMAT_MAJOR);
  cr_expect_eq(m.n_imports, 5);
  cr_expect_str_eq(isa_module_str(&m, m.imports[0].domain), "ivm");
  cr_expect_str_eq(isa_module_str(&m, m.imports[1].name), "LeakyRelu");
  cr_expect_eq(m.n_symbols, 1);
  cr_expect_str_eq(isa_module_str(&m, m.symbols[0]), "N");
  cr_expect_eq(m.n_tensors, 10);
  cr_expect_str_eq(isa_module_str(&m, m.tensors[3].name), "conv");
  cr_expect_eq(m.tensors[3].offset, 128);
  cr_expect_eq(m.tensors[3].size, 192);
  /* Constants: tensor order, each 64-aligned: w at 0 (216 bytes), b at 256, shape at 320. */
  cr_expect_eq(m.tensors[1].offset, 0);
  cr_expect_eq(m.tensors[2].offset, 256);
  cr_expect_eq(m.tensors[5].offset, 320);
  cr_expect_eq(m.consts_size, 384);
  cr_expect_eq((uintptr_t)m.consts % 64, 0);
  cr_expect_eq(memcmp(m.consts + m.tensors[1].offset, f.w, sizeof f.w), 0);
  cr_expect_eq(memcmp(m.consts + m.tensors[5].offset, f.shape, sizeof f.shape), 0);
  cr_expect_eq(m.dims[m.tensors[8].dims], ISA_DIM_SYM(0));
  cr_expect_eq(m.n_instrs, 5);
  cr_expect_eq(m.code[0].n_in, 3);
  cr_expect_eq(m.operands[m.code[3].operands + 2], 7);
  cr_expect_eq(m.n_inputs, 2);
  cr_expect_eq(m.inputs[1], 8);
  cr_expect_eq(m.outputs[0], 7);
  cr_expect_eq(m.plan->arena_size, 512);
  cr_expect_eq(m.plan->arena_align, 64);
  cr_assert_not_null(m.debug);
  cr_expect_str_eq(isa_module_str(&m, m.debug[0]), "conv1");
  cr_expect_str_eq(isa_module_str(&m, m.debug[4]), "");
  cr_expect_str_eq(isa_module_str(&m, 0xffffffffu), "");

  /* Attributes decode into the schema's slots, defaults elsewhere. */
  isa_attr a[16];
  const isa_op_desc *conv = isa_builtin_desc(ISA_OP_Conv);
  st = isa_module_decode_attrs(&m, 0, conv, a);
  cr_assert_null(st, "%s", ivm_status_message(st));
  cr_expect(a[ISA_A_Conv_pads].present);
  cr_expect_eq(a[ISA_A_Conv_pads].count, 4);
  cr_expect_eq(a[ISA_A_Conv_pads].v.ints[3], 1);
  cr_expect_eq(a[ISA_A_Conv_group].v.i, 1);
  cr_expect_str_eq(a[ISA_A_Conv_auto_pad].v.s, "NOTSET");
  cr_expect_eq(a[ISA_A_Conv_dilations].present, 0);
  st = isa_module_decode_attrs(&m, 1, isa_builtin_desc(ISA_OP_LeakyRelu), a);
  cr_assert_null(st, "%s", ivm_status_message(st));
  cr_expect_eq(a[ISA_A_LeakyRelu_alpha].v.f, 0.1f);
  free(b);
}

Test(format, deterministic) {
  fixture f1, f2;
  uint8_t *a, *b;
  size_t na, nb;
  write_fixture(&f1, &a, &na);
  write_fixture(&f2, &b, &nb);
  cr_assert_eq(na, nb);
  cr_expect_eq(memcmp(a, b, na), 0);
  free(a);
  free(b);
}

Test(format, strtab_deduplicates) {
  fixture f;
  fixture_init(&f);
  f.tensors[4].name = "conv"; /* same as tensor 3 */
  uint8_t *raw;
  size_t n;
  cr_assert_null(isa_module_write(&f.def, &raw, &n));
  uint8_t *b = fx_aligned_copy(raw, n);
  isa_module m;
  cr_assert_null(isa_module_open(b, n, "x", &m));
  cr_expect_eq(m.tensors[3].name, m.tensors[4].name);
  cr_expect_eq(m.strtab[0], 0);
  free(raw);
  free(b);
}

/* A def with one attribute of every type, decoded with a matching schema. */
static const isa_attr_schema zoo_schema[] = {
    {"i", ISA_ATTR_INT, 1, {.i = 0}},         {"f", ISA_ATTR_FLOAT, 0, {.f = 2.5f}},
    {"s", ISA_ATTR_STRING, 0, {.s = "dflt"}}, {"is", ISA_ATTR_INTS, 0, {.i = 0}},
    {"fs", ISA_ATTR_FLOATS, 0, {.i = 0}},     {"opt", ISA_ATTR_INT, 0, {.i = 42}},
};

static ivm_status zoo_infer(isa_infer_ctx *ctx) {
  (void)ctx;
  return NULL;
}

static const isa_op_desc zoo_desc = {
    "test",    "Zoo",        1,         0, 1, 1, 1, 0, ISA_OP_KIND_PLUGIN, 6, zoo_schema,
    zoo_infer, "Y := zoo()", "Test op."};

static void write_zoo(const isa_def_attr *attrs, uint32_t n_attrs, uint8_t **out, size_t *n) {
  static isa_def_import imp = {"test", "Zoo", 1};
  static isa_def_tensor t[1];
  memset(t, 0, sizeof t);
  t[0].name = "y", t[0].dtype = IVM_DT_F32, t[0].kind = ISA_TK_DYNAMIC;
  static uint32_t ops[1] = {0};
  isa_def_instr in = {0, 0, 1, ops, n_attrs, attrs, "zoo"};
  isa_module_def d = {0};
  d.n_imports = 1, d.imports = &imp, d.n_tensors = 1, d.tensors = t, d.n_instrs = 1;
  d.instrs = &in, d.arena_align = 64;
  uint8_t *raw;
  ivm_status st = isa_module_write(&d, &raw, n);
  cr_assert_null(st, "%s", ivm_status_message(st));
  *out = fx_aligned_copy(raw, *n);
  free(raw);
}

Test(format, attrs_of_every_type) {
  int64_t is[3] = {-1, 0, INT64_MAX};
  float fs[2] = {-0.0f, 1e-40f};
  isa_def_attr attrs[5] = {{"i", ISA_ATTR_INT, 1, {.i = INT64_MIN}},
                           {"f", ISA_ATTR_FLOAT, 1, {.f = 0.1f}},
                           {"s", ISA_ATTR_STRING, 5, {.s = "a\"b\nc"}},
                           {"is", ISA_ATTR_INTS, 3, {.ints = is}},
                           {"fs", ISA_ATTR_FLOATS, 2, {.floats = fs}}};
  uint8_t *b;
  size_t n;
  write_zoo(attrs, 5, &b, &n);
  isa_module m;
  cr_assert_null(isa_module_open(b, n, "zoo", &m));
  isa_attr a[6];
  ivm_status st = isa_module_decode_attrs(&m, 0, &zoo_desc, a);
  cr_assert_null(st, "%s", ivm_status_message(st));
  cr_expect_eq(a[0].v.i, INT64_MIN);
  cr_expect_eq(a[1].v.f, 0.1f);
  cr_expect_str_eq(a[2].v.s, "a\"b\nc");
  cr_expect_eq(a[2].count, 5);
  cr_expect_eq(a[3].count, 3);
  cr_expect_eq(a[3].v.ints[2], INT64_MAX);
  cr_expect_eq(a[4].count, 2);
  cr_expect_eq(memcmp(a[4].v.floats, fs, sizeof fs), 0);
  cr_expect_eq(a[5].present, 0);
  cr_expect_eq(a[5].v.i, 42);
  free(b);
}

Test(format, attr_decode_errors) {
  struct {
    isa_def_attr attrs[2];
    uint32_t n;
    const char *needle;
  } cases[] = {
      {{{"i", ISA_ATTR_INT, 1, {.i = 1}}, {"bogus", ISA_ATTR_INT, 1, {.i = 1}}},
       2,
       "unknown attribute 'bogus'"},
      {{{"i", ISA_ATTR_FLOAT, 1, {.f = 1}}}, 1, "attribute 'i' has type float, expected int"},
      {{{"i", ISA_ATTR_INT, 1, {.i = 1}}, {"i", ISA_ATTR_INT, 1, {.i = 2}}},
       2,
       "attribute 'i' given twice"},
      {{{"f", ISA_ATTR_FLOAT, 1, {.f = 1}}}, 1, "required attribute 'i' is missing"},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    uint8_t *b;
    size_t n;
    write_zoo(cases[c].attrs, cases[c].n, &b, &n);
    isa_module m;
    cr_assert_null(isa_module_open(b, n, "zoo", &m));
    isa_attr a[6];
    ivm_status st = isa_module_decode_attrs(&m, 0, &zoo_desc, a);
    cr_assert_not_null(st, "case %zu", c);
    cr_expect(strstr(ivm_status_message(st), cases[c].needle) != NULL, "case %zu: '%s'", c,
              ivm_status_message(st));
    cr_expect(strstr(ivm_status_message(st), "instruction 0 (Zoo)") != NULL, "%s",
              ivm_status_message(st));
    ivm_status_free(st);
    free(b);
  }
}

Test(format, every_truncation_fails) {
  fixture f;
  uint8_t *b;
  size_t n;
  write_fixture(&f, &b, &n);
  for (size_t len = 0; len < n; len++) {
    isa_module m;
    ivm_status st = isa_module_open(b, len, "trunc.ivm", &m);
    cr_assert_not_null(st, "truncation to %zu bytes was accepted", len);
    cr_expect_eq(ivm_status_get_code(st), IVM_ERR_FORMAT);
    ivm_status_free(st);
  }
  free(b);
}

static uint32_t rng_next(uint64_t *s) {
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(*s >> 33);
}

/* Flips one random bit per trial and recomputes the checksums so that the structural
 * checks and the verifier see the damage. Nothing may crash; returns how many flips were
 * rejected. */
static int flip_trials(int trials, uint64_t seed) {
  fixture f;
  uint8_t *b;
  size_t n;
  write_fixture(&f, &b, &n);
  isa_registry *reg;
  cr_assert_null(rt_registry_create_builtin(&reg));
  uint8_t *work = aligned_alloc(64, (n + 63) / 64 * 64);
  int rejected = 0;
  for (int t = 0; t < trials; t++) {
    memcpy(work, b, n);
    size_t pos = rng_next(&seed) % n;
    work[pos] ^= (uint8_t)(1u << (rng_next(&seed) % 8));
    fx_fix_checksum(work, n);
    isa_module m;
    ivm_status st = isa_module_open(work, n, "flip.ivm", &m);
    if (!st) st = isa_module_check_consts(&m, "flip.ivm");
    if (!st) {
      st = isa_module_verify(&m, reg, "flip.ivm");
      if (!st) {
        char *text;
        size_t len;
        ivm_status d = isa_disassemble(&m, &text, &len);
        if (!d) free(text);
        ivm_status_free(d);
      }
    }
    if (st) rejected++;
    ivm_status_free(st);
  }
  free(work);
  free(b);
  isa_registry_destroy(reg);
  return rejected;
}

Test(format, every_flip_raw) {
  /* One bit flipped at every byte, checksums left as written. Outside CONSTS the metadata
   * checksum catches it at open (bytes checked before it give their own errors: magic,
   * major, header_size, file_size); inside CONSTS, and in consts_checksum itself, open
   * succeeds without reading the constants and isa_module_check_consts catches it. */
  fixture f;
  uint8_t *b;
  size_t n;
  uint64_t co, cl;
  write_fixture_consts(&f, &b, &n, &co, &cl);
  isa_registry *reg;
  cr_assert_null(rt_registry_create_builtin(&reg));
  uint8_t *w = aligned_alloc(64, (n + 63) / 64 * 64);
  for (size_t pos = 0; pos < n; pos++) {
    memcpy(w, b, n);
    w[pos] ^= (uint8_t)(1u << (pos % 8));
    isa_module m;
    ivm_status st = isa_module_open(w, n, "flip.ivm", &m);
    int in_consts = pos >= co && pos < co + cl;
    if (in_consts || (pos >= 44 && pos < 48)) {
      cr_expect_null(st, "flip at %zu: %s", pos, ivm_status_message(st));
      if (st) {
        ivm_status_free(st);
        continue;
      }
      /* The verifier reads small constants shape inference needs (the Reshape shape), so
       * it may see the damage too; it must not crash. */
      ivm_status_free(isa_module_verify(&m, reg, "flip.ivm"));
      st = isa_module_check_consts(&m, "flip.ivm");
      cr_expect(st && strstr(ivm_status_message(st), "section CONSTS: checksum mismatch"),
                "flip at %zu: check_consts: %s", pos, st ? ivm_status_message(st) : "ok");
      ivm_status_free(st);
    } else {
      int early = pos < 10 || (pos >= 16 && pos < 20) || (pos >= 32 && pos < 40);
      cr_expect(st != NULL, "flip at %zu was accepted", pos);
      if (st && !early)
        cr_expect(strstr(ivm_status_message(st), "header: checksum mismatch") != NULL,
                  "flip at %zu: %s", pos, ivm_status_message(st));
      ivm_status_free(st);
    }
  }
  free(w);
  isa_registry_destroy(reg);
  free(b);
}

Test(format, random_flips_with_valid_checksum) {
  int rejected = flip_trials(2000, 777);
  /* Flips in weight bytes or names are legal modules; most others must be caught. */
  cr_expect_gt(rejected, 1000, "only %d of 2000 structural flips rejected", rejected);
}

static void patch_and_open(const uint8_t *b, size_t n, size_t off, const void *val, size_t vn,
                           const char *needle) {
  uint8_t *w = fx_aligned_copy(b, n);
  memcpy(w + off, val, vn);
  fx_fix_checksum(w, n);
  isa_module m;
  expect_format_error(isa_module_open(w, n, "model.ivm", &m), needle);
  free(w);
}

Test(format, header_damage) {
  fixture f;
  uint8_t *b;
  size_t n;
  write_fixture(&f, &b, &n);
  isa_module m;
  expect_format_error(isa_module_open(b, 4, "model.ivm", &m), "bad magic");
  uint16_t major = 2;
  patch_and_open(b, n, 8, &major, 2, "version 2.2 is not supported (this IVM reads version 1");
  uint32_t hs = 72;
  patch_and_open(b, n, 16, &hs, 4, "header_size is 72");
  uint32_t flags = 1;
  patch_and_open(b, n, 12, &flags, 4, "unknown flags");
  patch_and_open(b, n, 0, "\x7fIVX", 4, "not an IVM module");
  uint64_t big = n + 8;
  patch_and_open(b, n, 32, &big, 8, "file_size");
  uint64_t tab = n;
  patch_and_open(b, n, 24, &tab, 8, "section table");
  /* A damaged metadata byte (the last of the section table) without a fixed checksum. */
  const isa_file_header *h = (const isa_file_header *)b;
  uint8_t *w = fx_aligned_copy(b, n);
  w[h->section_table + h->section_count * sizeof(isa_section_entry) - 1] ^= 1;
  expect_format_error(isa_module_open(w, n, "model.ivm", &m), "header: checksum mismatch");
  free(w);
  /* A nonzero reserved field, checksum fixed. */
  uint32_t one = 1;
  patch_and_open(b, n, 60, &one, 4, "reserved field 3 is not zero");
  /* Misaligned buffer: a caller error, not a format error. */
  uint8_t *u = malloc(n + 8);
  memcpy(u + 4, b, n);
  ivm_status st = isa_module_open(u + 4, n, "model.ivm", &m);
  cr_expect_eq(ivm_status_get_code(st), IVM_ERR_INVALID_ARGUMENT);
  ivm_status_free(st);
  free(u);
  free(b);
}

/* Finds the section table entry of `kind`; returns its byte offset in the file. */
static size_t sec_entry(const uint8_t *b, uint32_t kind) {
  const isa_file_header *h = (const isa_file_header *)b;
  for (uint32_t i = 0; i < h->section_count; i++) {
    const isa_section_entry *e = (const isa_section_entry *)(b + h->section_table) + i;
    if (e->kind == kind) return (size_t)h->section_table + i * sizeof *e;
  }
  cr_assert_fail("section %u not found", kind);
  return 0;
}

Test(format, section_damage) {
  fixture f;
  uint8_t *b;
  size_t n;
  write_fixture(&f, &b, &n);
  size_t te = sec_entry(b, ISA_SEC_TENSORS);
  isa_section_entry e;
  memcpy(&e, b + te, sizeof e);
  e.size = 100;
  patch_and_open(b, n, te, &e, sizeof e,
                 "model.ivm: section TENSORS: size 100 is not a multiple of 32");
  memcpy(&e, b + te, sizeof e);
  e.offset += 4;
  patch_and_open(b, n, te, &e, sizeof e, "section TENSORS: offset");
  memcpy(&e, b + te, sizeof e);
  e.size = n;
  patch_and_open(b, n, te, &e, sizeof e, "section TENSORS: range");
  /* Point TENSORS at the CODE section: overlap. */
  isa_section_entry code;
  memcpy(&code, b + sec_entry(b, ISA_SEC_CODE), sizeof code);
  memcpy(&e, b + te, sizeof e);
  e.offset = code.offset;
  e.size = 32;
  patch_and_open(b, n, te, &e, sizeof e, "overlaps section");
  /* Over the header. */
  memcpy(&e, b + te, sizeof e);
  e.offset = 0;
  e.size = 32;
  patch_and_open(b, n, te, &e, sizeof e, "overlaps the header");
  /* A required section renamed to a duplicate and to a missing one. */
  memcpy(&e, b + te, sizeof e);
  e.kind = ISA_SEC_IMPORTS; /* 320 bytes is a whole number of imports */
  patch_and_open(b, n, te, &e, sizeof e, "section IMPORTS appears twice");
  e.kind = 200; /* unknown (newer minor): ignored, so TENSORS is now missing */
  patch_and_open(b, n, te, &e, sizeof e, "section TENSORS is missing");
  /* STRTAB must start with NUL. */
  isa_section_entry s;
  memcpy(&s, b + sec_entry(b, ISA_SEC_STRTAB), sizeof s);
  patch_and_open(b, n, (size_t)s.offset, "x", 1, "section STRTAB");
  /* DEBUG must have one entry per instruction. */
  size_t de = sec_entry(b, ISA_SEC_DEBUG);
  memcpy(&e, b + de, sizeof e);
  e.size -= 4;
  patch_and_open(b, n, de, &e, sizeof e, "section DEBUG");
  /* IO counts must match the section size. */
  isa_section_entry io;
  memcpy(&io, b + sec_entry(b, ISA_SEC_IO), sizeof io);
  uint32_t ni = 3;
  patch_and_open(b, n, (size_t)io.offset, &ni, 4, "section IO");
  /* A huge section count. */
  uint32_t cnt = 1000000;
  patch_and_open(b, n, 20, &cnt, 4, "section");
  free(b);
}

Test(format, writer_rejects_bad_defs) {
  fixture f;
  uint8_t *raw;
  size_t n;
  ivm_status st;
  fixture_init(&f);
  f.tensors[3].dtype = 8; /* string: not an IVM dtype */
  st = isa_module_write(&f.def, &raw, &n);
  cr_assert_not_null(st);
  cr_expect(strstr(ivm_status_message(st), "tensor 3: bad dtype") != NULL, "%s",
            ivm_status_message(st));
  ivm_status_free(st);
  fixture_init(&f);
  f.tensors[3].rank = 9;
  st = isa_module_write(&f.def, &raw, &n);
  cr_assert_not_null(st);
  cr_expect(strstr(ivm_status_message(st), "rank 9") != NULL, "%s", ivm_status_message(st));
  ivm_status_free(st);
  fixture_init(&f);
  f.instrs[2].op = 9;
  st = isa_module_write(&f.def, &raw, &n);
  cr_assert_not_null(st);
  cr_expect(strstr(ivm_status_message(st), "instruction 2: import 9") != NULL, "%s",
            ivm_status_message(st));
  ivm_status_free(st);
  fixture_init(&f);
  f.ops[1][1] = 99;
  st = isa_module_write(&f.def, &raw, &n);
  cr_assert_not_null(st);
  cr_expect(strstr(ivm_status_message(st), "tensor 99 out of range") != NULL, "%s",
            ivm_status_message(st));
  ivm_status_free(st);
  fixture_init(&f);
  f.tensors[8].dims[0] = ISA_DIM_SYM(3);
  st = isa_module_write(&f.def, &raw, &n);
  cr_assert_not_null(st);
  cr_expect(strstr(ivm_status_message(st), "symbol 3") != NULL, "%s", ivm_status_message(st));
  ivm_status_free(st);
  fixture_init(&f);
  f.outputs[1] = 10;
  st = isa_module_write(&f.def, &raw, &n);
  cr_assert_not_null(st);
  ivm_status_free(st);
  cr_expect_null(raw);
}
