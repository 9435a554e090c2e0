/* The module verifier: the fixture passes; each rule is broken once (through the def, or
 * by patching bytes and recomputing the checksum) and must give an error that says what
 * and where. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <time.h>

#include "format_fixture.h"
#include "runtime/rt.h"

static isa_registry *reg;

static void setup(void) { cr_assert_null(rt_registry_create_builtin(&reg)); }
static void teardown(void) { isa_registry_destroy(reg); }

TestSuite(verify, .init = setup, .fini = teardown);

/* Writes def, opens and verifies it; returns the verifier's status. */
static ivm_status verify_def(const isa_module_def *d) {
  uint8_t *raw;
  size_t n;
  ivm_status st = isa_module_write(d, &raw, &n);
  cr_assert_null(st, "write: %s", ivm_status_message(st));
  uint8_t *b = fx_aligned_copy(raw, n);
  free(raw);
  isa_module m;
  st = isa_module_open(b, n, "model.ivm", &m);
  cr_assert_null(st, "open: %s", ivm_status_message(st));
  st = isa_module_verify(&m, reg, "model.ivm");
  free(b);
  return st;
}

static void expect_error(ivm_status st, ivm_status_code code, const char *needle) {
  cr_assert_not_null(st, "expected an error containing '%s'", needle);
  cr_expect_eq(ivm_status_get_code(st), code, "code %d: %s", ivm_status_get_code(st),
               ivm_status_message(st));
  cr_expect(strstr(ivm_status_message(st), needle) != NULL, "message '%s' lacks '%s'",
            ivm_status_message(st), needle);
  ivm_status_free(st);
}

/* Patches the fixture's bytes through a callback that edits the opened view's memory. */
typedef void (*patch_fn)(isa_module *m, uint8_t *bytes);

static ivm_status verify_patched(patch_fn patch) {
  fixture f;
  fixture_init(&f);
  uint8_t *raw;
  size_t n;
  cr_assert_null(isa_module_write(&f.def, &raw, &n));
  uint8_t *b = fx_aligned_copy(raw, n);
  free(raw);
  isa_module m;
  cr_assert_null(isa_module_open(b, n, "model.ivm", &m));
  patch(&m, b);
  fx_fix_checksum(b, n);
  ivm_status st = isa_module_open(b, n, "model.ivm", &m);
  if (!st) st = isa_module_verify(&m, reg, "model.ivm");
  free(b);
  return st;
}

#define MUT(T, p) ((T *)(uintptr_t)(p))

Test(verify, fixture_is_valid) {
  fixture f;
  fixture_init(&f);
  ivm_status st = verify_def(&f.def);
  cr_expect_null(st, "%s", ivm_status_message(st));
  ivm_status_free(st);
}

Test(verify, missing_op_names_domain_name_version) {
  fixture f;
  fixture_init(&f);
  f.imports[4] = (isa_def_import){"com.example", "Swish", 1};
  expect_error(verify_def(&f.def), IVM_ERR_NOT_FOUND,
               "model.ivm: section IMPORTS: import 4: op com.example.Swish version 1 is not "
               "registered");
  fixture_init(&f);
  f.imports[0].version = 2;
  expect_error(verify_def(&f.def), IVM_ERR_NOT_FOUND, "op ivm.Conv version 2");
}

static void p_operand_range(isa_module *m, uint8_t *b) {
  (void)b;
  MUT(uint32_t, m->operands)[m->code[1].operands] = 77;
}
static void p_import_range(isa_module *m, uint8_t *b) {
  (void)b;
  MUT(isa_instr_rec, m->code)[2].op = 5;
}
static void p_strtab_range(isa_module *m, uint8_t *b) {
  (void)b;
  MUT(isa_tensor_rec, m->tensors)[3].name = 100000;
}
static void p_const_misaligned(isa_module *m, uint8_t *b) {
  (void)b;
  MUT(isa_tensor_rec, m->tensors)[2].offset = 4;
}
static void p_const_out_of_range(isa_module *m, uint8_t *b) {
  (void)b;
  MUT(isa_tensor_rec, m->tensors)[5].offset = 384;
}
static void p_dims_range(isa_module *m, uint8_t *b) {
  (void)b;
  MUT(isa_tensor_rec, m->tensors)[7].dims = 1000;
}
static void p_operands_range(isa_module *m, uint8_t *b) {
  (void)b;
  MUT(isa_instr_rec, m->code)[4].operands = m->n_operands - 1;
}
static void p_attr_offset(isa_module *m, uint8_t *b) {
  (void)b;
  MUT(isa_instr_rec, m->code)[0].attrs = 1u << 30;
}
static void p_debug_range(isa_module *m, uint8_t *b) {
  (void)b;
  MUT(uint32_t, m->debug)[2] = 0xfffffff0u;
}
static void p_bad_dtype(isa_module *m, uint8_t *b) {
  (void)b;
  MUT(isa_tensor_rec, m->tensors)[6].dtype = 99;
}
static void p_rank(isa_module *m, uint8_t *b) {
  (void)b;
  MUT(isa_tensor_rec, m->tensors)[6].rank = 9;
}
static void p_arena_align(isa_module *m, uint8_t *b) {
  (void)b;
  MUT(isa_plan_rec, m->plan)->arena_align = 48;
}
static void p_input_range(isa_module *m, uint8_t *b) {
  (void)b;
  MUT(uint32_t, m->inputs)[1] = 10;
}
static void p_input_const(isa_module *m, uint8_t *b) {
  (void)b;
  MUT(uint32_t, m->inputs)[1] = 1;
}

Test(verify, out_of_range_indices) {
  expect_error(verify_patched(p_operand_range), IVM_ERR_FORMAT,
               "model.ivm: section CODE: instruction 1 (LeakyRelu, node 'lrelu'): input 0: tensor "
               "77 out of range");
  expect_error(verify_patched(p_import_range), IVM_ERR_FORMAT,
               "instruction 2 (?, node 'flatten'): import 5 out of range");
  expect_error(verify_patched(p_strtab_range), IVM_ERR_FORMAT,
               "section TENSORS: tensor 3: name offset 100000 is outside STRTAB");
  expect_error(verify_patched(p_dims_range), IVM_ERR_FORMAT, "tensor 7 'out': dims [1000, +2)");
  expect_error(verify_patched(p_operands_range), IVM_ERR_FORMAT, "instruction 4 (Relu): operands");
  expect_error(verify_patched(p_attr_offset), IVM_ERR_FORMAT,
               "instruction 0 (Conv, node 'conv1'): section ATTRS: attribute 0 at offset");
  expect_error(verify_patched(p_debug_range), IVM_ERR_FORMAT,
               "section DEBUG: instruction 2: name offset");
  expect_error(verify_patched(p_input_range), IVM_ERR_FORMAT, "section IO: input 1: tensor 10");
  expect_error(verify_patched(p_input_const), IVM_ERR_FORMAT, "must be ARENA or DYNAMIC");
}

Test(verify, bad_tensor_records) {
  expect_error(verify_patched(p_const_misaligned), IVM_ERR_FORMAT,
               "section CONSTS: tensor 2 'b': offset 4 is not 64-byte aligned");
  expect_error(verify_patched(p_const_out_of_range), IVM_ERR_FORMAT,
               "tensor 5 'shape': data [384, +16) is outside CONSTS (384 bytes)");
  expect_error(verify_patched(p_bad_dtype), IVM_ERR_FORMAT, "tensor 6 'flat': invalid dtype 99");
  expect_error(verify_patched(p_rank), IVM_ERR_FORMAT, "rank 9 exceeds 8");
  expect_error(verify_patched(p_arena_align), IVM_ERR_FORMAT, "section PLAN: arena_align 48");
}

Test(verify, arena_rules) {
  fixture f;
  fixture_init(&f);
  f.tensors[4].offset = 192; /* bytes [192,384) meet conv [128,320) while both are live */
  expect_error(verify_def(&f.def), IVM_ERR_FORMAT,
               "arena tensors 3 'conv' [128, 320) and 4 'lrelu' [192, 384) overlap");
  fixture_init(&f);
  f.tensors[7].offset = 0; /* out over flat, which Add reads while writing out */
  expect_error(verify_def(&f.def), IVM_ERR_FORMAT,
               "6 'flat' [0, 192) and 7 'out' [0, 192) overlap");
  fixture_init(&f);
  f.tensors[7].offset = 320; /* out over lrelu: lrelu dies at instruction 2, out is born at 3 */
  ivm_status st = verify_def(&f.def);
  cr_expect_null(st, "%s", ivm_status_message(st));
  ivm_status_free(st);
  fixture_init(&f);
  f.tensors[6].offset = 32;
  expect_error(verify_def(&f.def), IVM_ERR_FORMAT, "arena offset 32 is not a multiple of 64");
  fixture_init(&f);
  f.tensors[7].offset = 384;
  expect_error(verify_def(&f.def), IVM_ERR_FORMAT,
               "arena range [384, +192) exceeds arena_size 512");
  fixture_init(&f);
  f.tensors[7].size = 100;
  expect_error(verify_def(&f.def), IVM_ERR_FORMAT, "size 100, but its type needs 192 bytes");
  fixture_init(&f);
  f.tensors[7].dims[0] = ISA_DIM_ANY;
  expect_error(verify_def(&f.def), IVM_ERR_FORMAT, "only DYNAMIC tensors may have unknown");
}

Test(verify, dataflow_rules) {
  fixture f;
  fixture_init(&f);
  isa_def_instr t = f.instrs[0]; /* LeakyRelu before Conv: reads conv before it is written */
  f.instrs[0] = f.instrs[1];
  f.instrs[1] = t;
  expect_error(verify_def(&f.def), IVM_ERR_FORMAT,
               "instruction 0 (LeakyRelu, node 'lrelu'): input 0: tensor 3 'conv' is read before "
               "it is written");
  fixture_init(&f);
  f.ops[3][2] = 6; /* Add writes flat again */
  expect_error(verify_def(&f.def), IVM_ERR_FORMAT,
               "instruction 3 (Add, node 'add'): output 0: tensor 6 'flat' is already written by "
               "instruction 2");
  fixture_init(&f);
  f.ops[1][1] = 1; /* LeakyRelu writes the constant w */
  expect_error(verify_def(&f.def), IVM_ERR_FORMAT, "output 0: tensor 1 'w' is a constant");
  fixture_init(&f);
  f.ops[4][1] = 8; /* Relu writes the graph input y */
  expect_error(verify_def(&f.def), IVM_ERR_FORMAT, "tensor 8 'y' is a graph input");
}

Test(verify, arity_and_optional_operands) {
  fixture f;
  fixture_init(&f);
  uint32_t ops4[3] = {8, 8, 9}; /* Relu(y, y) -> yr: one input too many */
  f.instrs[4].n_in = 2;
  f.instrs[4].operands = ops4;
  expect_error(verify_def(&f.def), IVM_ERR_FORMAT,
               "instruction 4 (Relu): 2 inputs; the op takes 1 to 1");
  fixture_init(&f);
  f.instrs[3].n_out = 0; /* Add with no output */
  expect_error(verify_def(&f.def), IVM_ERR_FORMAT,
               "instruction 3 (Add, node 'add'): 0 outputs; the op takes 1 to 1");
  fixture_init(&f);
  f.ops[0][1] = ISA_NO_TENSOR; /* Conv's W is required */
  expect_error(verify_def(&f.def), IVM_ERR_FORMAT, "input 1 is required but absent");
  fixture_init(&f);
  f.ops[0][2] = ISA_NO_TENSOR; /* Conv's B is optional: inference still gives [1,3,4,4] */
  ivm_status st = verify_def(&f.def);
  cr_expect_null(st, "%s", ivm_status_message(st));
  ivm_status_free(st);
  fixture_init(&f);
  f.outputs[0] = 6;
  f.tensors[7].kind = ISA_TK_ARENA;
  f.instrs[3].n_attrs = 1;
  f.instrs[3].attrs = f.lrelu_attrs; /* Add has no attribute alpha */
  expect_error(verify_def(&f.def), IVM_ERR_FORMAT,
               "section CODE: instruction 3 (Add, node 'add'): unknown attribute 'alpha'");
}

Test(verify, shape_mismatch_against_inference) {
  fixture f;
  fixture_init(&f);
  f.tensors[3].dims[2] = 2; /* conv declared f32[1,3,2,8]: same bytes, wrong shape */
  f.tensors[3].dims[3] = 8;
  expect_error(verify_def(&f.def), IVM_ERR_FORMAT,
               "instruction 0 (Conv, node 'conv1'): output 0: tensor 3 'conv' is declared ARENA "
               "f32[1,3,2,8], but inference gives f32[1,3,4,4]");
  fixture_init(&f);
  f.tensors[9].dtype = IVM_DT_F64; /* DYNAMIC output: the dtype must still agree */
  expect_error(verify_def(&f.def), IVM_ERR_FORMAT, "tensor 9 'yr' is declared DYNAMIC f64");
  fixture_init(&f);
  f.shape[1] = 47; /* Reshape to [1,47] cannot hold 48 elements: inference rejects it */
  expect_error(verify_def(&f.def), IVM_ERR_FORMAT,
               "instruction 2 (Reshape, node 'flatten'): shape inference");
}

Test(verify, output_never_written) {
  fixture f;
  fixture_init(&f);
  f.instrs[3] = f.instrs[4]; /* drop Add: nothing writes the graph output `out` */
  f.def.n_instrs = 4;
  expect_error(verify_def(&f.def), IVM_ERR_FORMAT,
               "section IO: output 0: tensor 7 'out' is never written");
}

/* A long chain of Relu with ping-pong buffers: verification stays linear-ish. */
Test(verify, large_chain_is_fast) {
  enum { N = 5000 };
  static isa_def_tensor t[N + 1];
  static uint32_t ops[N][2];
  static isa_def_instr in[N];
  isa_def_import imp = {"ivm", "Relu", 1};
  for (int i = 0; i <= N; i++) {
    memset(&t[i], 0, sizeof t[i]);
    t[i].name = "t", t[i].dtype = IVM_DT_F32, t[i].kind = ISA_TK_ARENA, t[i].rank = 2;
    t[i].dims[0] = 4, t[i].dims[1] = 16;
    t[i].offset = (uint64_t)(i % 2) * 256, t[i].size = 256;
  }
  for (int i = 0; i < N; i++) {
    ops[i][0] = (uint32_t)i, ops[i][1] = (uint32_t)i + 1;
    in[i] = (isa_def_instr){0, 1, 1, ops[i], 0, NULL, NULL};
  }
  uint32_t inputs[1] = {0}, outputs[1] = {N};
  isa_module_def d = {0};
  d.n_imports = 1, d.imports = &imp, d.n_tensors = N + 1, d.tensors = t, d.n_instrs = N;
  d.instrs = in, d.n_inputs = 1, d.inputs = inputs, d.n_outputs = 1, d.outputs = outputs;
  d.arena_size = 512, d.unplanned_size = 256 * (N + 1), d.arena_align = 64;
  clock_t c0 = clock();
  ivm_status st = verify_def(&d);
  double secs = (double)(clock() - c0) / CLOCKS_PER_SEC;
  cr_expect_null(st, "%s", ivm_status_message(st));
  ivm_status_free(st);
  cr_expect_lt(secs, 1.0, "verify of %d instructions took %.3f s", N, secs);
  /* Breaking ping-pong (two consecutive tensors at one offset) is found. */
  t[2501].offset = t[2500].offset;
  expect_error(verify_def(&d), IVM_ERR_FORMAT, "2500 't'");
}
