/* The fusion passes (compiler/pass_fuse*.c) and the fused ops they emit (isa/ops_fused.def,
 * runtime/kernels/fused.c).
 *
 * Fixtures come from tests/data/make_fuse.py: each model holds several instances of a
 * pattern (or near misses of it), and the expected outputs are numpy's, computed in float64
 * from the written-out formulas. A test counts the instructions the compiler emits and runs
 * the model through the public API against those outputs. fuse_big is large enough for the
 * products to be split across threads: its outputs must be bitwise the same for 1..4
 * threads and match a plain double-precision loop written here. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/cc.h"
#include "isa/infer_fused.h"
#include "isa/module.h"
#include "ivm/ivm.h"
#include "runtime/kernels/gemm.h"
#include "vm/schedule.h"
#include "vm/vm.h"

#define DATA IVM_TEST_DATA

/* ---- compiling: instruction counts ------------------------------------------------------ */
typedef struct compiled {
  cc_graph g;
  cc_emitted e;
} compiled;

static void compile_ok(const char *model, compiled *c) {
  char path[512];
  snprintf(path, sizeof path, DATA "/%s.onnx", model);
  uint8_t *b;
  size_t n;
  cr_assert_null(cc_read_file(path, &b, &n), "cannot read %s", path);
  cc_graph_init(&c->g);
  memset(&c->e, 0, sizeof c->e);
  ivm_status st = cc_import_and_optimize(b, n, NULL, &c->g);
  if (!st) st = cc_build_def(&c->g, &c->e);
  free(b);
  cr_assert_null(st, "%s: %s", path, ivm_status_message(st));
}

static void compiled_free(compiled *c) {
  cc_emitted_free(&c->e);
  cc_graph_free(&c->g);
}

static const char *op_name(const compiled *c, uint32_t i) {
  return c->e.def.imports[c->e.def.instrs[i].op].name;
}

static uint32_t count_op(const compiled *c, const char *name) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < c->e.def.n_instrs; i++) n += strcmp(op_name(c, i), name) == 0;
  return n;
}

static const isa_def_attr *attr(const compiled *c, uint32_t i, const char *name) {
  const isa_def_instr *in = &c->e.def.instrs[i];
  for (uint32_t k = 0; k < in->n_attrs; k++)
    if (strcmp(in->attrs[k].name, name) == 0) return &in->attrs[k];
  return NULL;
}

/* The instruction writing graph output `name`. */
static uint32_t writer_of(const compiled *c, const char *name) {
  const isa_module_def *d = &c->e.def;
  for (uint32_t i = 0; i < d->n_instrs; i++) {
    const isa_def_instr *in = &d->instrs[i];
    for (uint32_t k = in->n_in; k < in->n_in + in->n_out; k++) {
      uint32_t t = in->operands[k];
      if (t != ISA_NO_TENSOR && d->tensors[t].name && strcmp(d->tensors[t].name, name) == 0)
        return i;
    }
  }
  cr_assert_fail("no instruction writes %s", name);
  return 0;
}

static const char *str_attr(const compiled *c, uint32_t i, const char *name) {
  const isa_def_attr *a = attr(c, i, name);
  return a ? a->v.s : "";
}

/* The op writing each of y1..y<n> is want[k - 1]. */
static void writers_are(const compiled *c, int n, const char *const *want) {
  for (int k = 1; k <= n; k++) {
    char y[16];
    snprintf(y, sizeof y, "y%d", k);
    cr_expect_str_eq(op_name(c, writer_of(c, y)), want[k - 1], "%s", y);
  }
}

/* ---- running: outputs against the numpy fixtures ----------------------------------------- */
static void check_close(const char *what, const float *got, const float *want, size_t n) {
  for (size_t i = 0; i < n; i++)
    cr_assert(fabsf(got[i] - want[i]) <= 1e-5f * (1 + fabsf(want[i])), "%s[%zu]: %g vs %g",
              what, i, got[i], want[i]);
}

/* Compiles DATA/<model>.onnx (IVM_FUSE as the environment says) and runs it on
 * <model>_x.npy; returns its session, outputs readable. */
static ivm_session *run_model(const char *model, ivm_module **m) {
  char path[512];
  snprintf(path, sizeof path, DATA "/%s.onnx", model);
  void *bytes;
  size_t size;
  ivm_status st = ivm_compile_onnx_file(path, &bytes, &size, NULL);
  cr_assert_null(st, "%s", ivm_status_message(st));
  cr_assert_null(ivm_module_load_memory(bytes, size, 1, NULL, m));
  ivm_session *s;
  cr_assert_null(ivm_session_create(*m, NULL, &s));
  ivm_host_tensor x;
  snprintf(path, sizeof path, DATA "/%s_x.npy", model);
  cr_assert_null(ivm_host_tensor_read_file(path, &x));
  cr_assert_null(ivm_session_bind_input(s, 0, x.dtype, x.rank, x.dims, x.data, x.nbytes));
  st = ivm_session_run(s);
  cr_assert_null(st, "%s: %s", model, ivm_status_message(st));
  ivm_host_tensor_free(&x);
  return s;
}

/* Runs DATA/<model>.onnx on <model>_x.npy and compares outputs y1..yn with the fixtures. */
static void run_matches(const char *model, uint32_t n_out) {
  ivm_module *m;
  ivm_session *s = run_model(model, &m);
  for (uint32_t k = 0; k < n_out; k++) {
    char path[512];
    ivm_host_tensor want;
    snprintf(path, sizeof path, DATA "/%s_y%u.npy", model, k + 1);
    cr_assert_null(ivm_host_tensor_read_file(path, &want), "%s", path);
    ivm_tensor_view v;
    cr_assert_null(ivm_session_output(s, k, &v));
    cr_assert_eq(v.rank, want.rank, "%s", path);
    cr_assert_arr_eq(v.dims, want.dims, (size_t)v.rank * sizeof v.dims[0], "%s", path);
    cr_assert_eq(v.nbytes, want.nbytes, "%s", path);
    check_close(path, v.data, want.data, v.nbytes / 4);
    ivm_host_tensor_free(&want);
  }
  ivm_session_destroy(s);
  ivm_module_release(m);
}

/* ---- GELU --------------------------------------------------------------------------------- */
Test(fuse, gelu_forms_become_gelu) {
  compiled c;
  compile_ok("fuse_gelu", &c);
  cr_expect_eq(c.e.def.n_instrs, 5, "five chains, one Gelu each (got %u instructions)",
               c.e.def.n_instrs);
  cr_expect_eq(count_op(&c, "Gelu"), 5);
  for (int k = 1; k <= 5; k++) {
    char y[16];
    snprintf(y, sizeof y, "y%d", k);
    cr_expect_str_eq(str_attr(&c, writer_of(&c, y), "approximate"), k <= 3 ? "" : "tanh",
                     "%s: erf forms keep the default, tanh forms say tanh", y);
  }
  compiled_free(&c);
  run_matches("fuse_gelu", 5);
}

Test(fuse, gelu_near_misses_are_left_alone) {
  compiled c;
  compile_ok("fuse_gelu_miss", &c);
  cr_expect_eq(count_op(&c, "Gelu"), 0, "wrong constants, or erf read elsewhere");
  cr_expect_eq(count_op(&c, "Erf"), 4);
  compiled_free(&c);
  run_matches("fuse_gelu_miss", 5);
}

Test(fuse, ivm_fuse_0_turns_the_pattern_passes_off) {
  setenv("IVM_FUSE", "0", 1);
  compiled c;
  compile_ok("fuse_gelu", &c);
  cr_expect_eq(count_op(&c, "Gelu"), 0);
  cr_expect_eq(count_op(&c, "Erf"), 3);
  compiled_free(&c);
  run_matches("fuse_gelu", 5);
  unsetenv("IVM_FUSE");
}

/* ---- HardSwish ---------------------------------------------------------------------------- */
Test(fuse, hardswish_forms_become_hardswish) {
  compiled c;
  compile_ok("fuse_hswish", &c);
  cr_expect_eq(c.e.def.n_instrs, 4, "four chains, one HardSwish each (got %u instructions)",
               c.e.def.n_instrs);
  cr_expect_eq(count_op(&c, "HardSwish"), 4);
  compiled_free(&c);
  run_matches("fuse_hswish", 4);
}

Test(fuse, hardswish_near_misses_are_left_alone) {
  compiled c;
  compile_ok("fuse_hswish_miss", &c);
  cr_expect_eq(count_op(&c, "HardSwish"), 0, "wrong constants, or the Clip read elsewhere");
  cr_expect_eq(count_op(&c, "Clip"), 3);
  cr_expect_eq(count_op(&c, "HardSigmoid"), 1);
  compiled_free(&c);
  run_matches("fuse_hswish_miss", 5);
}

/* ---- Conv + per-channel Mul / Add --------------------------------------------------------- */
Test(fuse, conv_per_channel_mul_add_fold_into_the_conv) {
  compiled c;
  compile_ok("fuse_conv_affine", &c);
  cr_expect_eq(count_op(&c, "Conv"), 2);
  cr_expect_eq(count_op(&c, "Mul"), 0, "every Mul folded");
  cr_expect_eq(count_op(&c, "Add"), 0, "every Add folded");
  cr_expect_eq(count_op(&c, "FusedConv"), 1, "the scaled conv's hard swish joins it");
  cr_expect_eq(c.e.def.n_instrs, 3, "got %u instructions", c.e.def.n_instrs);
  compiled_free(&c);
  run_matches("fuse_conv_affine", 3);
}

Test(fuse, conv_affine_near_misses_are_left_alone) {
  compiled c;
  compile_ok("fuse_conv_affine_miss", &c);
  cr_expect_eq(count_op(&c, "Conv"), 3);
  cr_expect_eq(count_op(&c, "Mul"), 2, "full-shape factor; conv output read twice");
  cr_expect_eq(count_op(&c, "Add"), 1, "addend along the width");
  compiled_free(&c);
  run_matches("fuse_conv_affine_miss", 4);
}

Test(fuse, affine_before_an_unpadded_conv_folds_into_it) {
  compiled c;
  compile_ok("fuse_affine_conv", &c);
  cr_expect_eq(count_op(&c, "Mul"), 0, "the scale folded into the 1x1 conv's weights");
  cr_expect_eq(count_op(&c, "Add"), 0, "the shifts folded into the biases");
  cr_expect_eq(count_op(&c, "Conv"), 1, "the grouped conv");
  cr_expect_eq(count_op(&c, "FusedConv"), 1, "the 1x1 conv, its weights transposed");
  compiled_free(&c);
  run_matches("fuse_affine_conv", 2);
}

Test(fuse, affine_before_a_padded_or_shared_value_is_left_alone) {
  compiled c;
  compile_ok("fuse_affine_conv_miss", &c);
  cr_expect_eq(count_op(&c, "Add"), 1, "the padded conv would see unshifted zeros");
  cr_expect_eq(count_op(&c, "Mul"), 1, "the scaled value is also an output");
  compiled_free(&c);
  run_matches("fuse_affine_conv_miss", 3);
}

Test(fuse, max_or_min_by_a_constant_becomes_the_conv_clip) {
  compiled c;
  compile_ok("fuse_conv_clip", &c);
  cr_expect_eq(count_op(&c, "FusedConv"), 5, "y1-y4 and y8's Min");
  cr_expect_eq(count_op(&c, "Max"), 3, "per-channel bound, conv also an output, Max after Min");
  cr_expect_eq(count_op(&c, "Min"), 0);
  cr_expect_eq(count_op(&c, "Conv"), 2, "y5's and y6's");
  compiled_free(&c);
  run_matches("fuse_conv_clip", 8);
}

Test(fuse, mul_add_or_sub_by_a_scalar_becomes_the_conv_affine) {
  compiled c;
  compile_ok("fuse_conv_out_affine", &c);
  cr_expect_eq(c.e.def.n_instrs, 15, "got %u instructions", c.e.def.n_instrs);
  cr_expect_eq(count_op(&c, "FusedConv"), 8, "every conv but y5's");
  cr_expect_eq(count_op(&c, "Add"), 0);
  cr_expect_eq(count_op(&c, "Mul"), 4,
               "Mul after the shift, per-channel, activation also an output, rank raised");
  cr_expect_eq(count_op(&c, "Sub"), 1, "Sub(c, y)");
  cr_expect_eq(count_op(&c, "Conv"), 1, "y5's");
  cr_expect_eq(count_op(&c, "Div"), 1);
  static const struct {
    const char *y;
    int scale, shift;
  } want[] = {{"y1", 1, 1}, {"y2", 1, 1}, {"y3", 0, 1}}; /* y3's scale: folded into W */
  for (int k = 0; k < 3; k++) {
    uint32_t i = writer_of(&c, want[k].y);
    cr_expect_str_eq(op_name(&c, i), "FusedConv", "%s", want[k].y);
    cr_expect_eq(attr(&c, i, "out_scale") != NULL, want[k].scale, "%s", want[k].y);
    cr_expect_eq(attr(&c, i, "out_shift") != NULL, want[k].shift, "%s", want[k].y);
  }
  compiled_free(&c);
  run_matches("fuse_conv_out_affine", 10);
}

/* A compiled module with out_scale / out_shift verifies, and the disassembler shows them
 * (from the op table) in text that assembles back to the same bytes. */
Test(fuse, conv_affine_survives_the_module_round_trip) {
  void *bytes;
  size_t size;
  ivm_status st = ivm_compile_onnx_file(DATA "/fuse_conv_out_affine.onnx", &bytes, &size, NULL);
  cr_assert_null(st, "%s", ivm_status_message(st));
  uint8_t *b = aligned_alloc(64, (size + 63) / 64 * 64);
  cr_assert_not_null(b);
  memcpy(b, bytes, size);
  isa_module m;
  cr_assert_null(isa_module_open(b, size, "m.ivm", &m));
  char *text;
  size_t len;
  cr_assert_null(isa_disassemble(&m, &text, &len));
  const char *line = strstr(text, "activation=\"HardSwish\", out_scale=0x");
  cr_assert_not_null(line, "%s", text);
  cr_expect(strstr(line, "out_shift=") && strstr(line, "out_shift=") < strchr(line, '\n'), "%s",
            text);
  uint8_t *b2;
  size_t n2;
  st = isa_assemble(text, len, "m.ivs", &b2, &n2);
  cr_assert_null(st, "%s", ivm_status_message(st));
  cr_expect(n2 == size && memcmp(b2, b, size) == 0, "asm(dis(m)) differs");
  free(b2);
  free(text);
  free(b);
  ivm_free(bytes);
}

Test(fuse, conv_activation_becomes_fusedconv) {
  compiled c;
  compile_ok("fuse_conv_act", &c);
  cr_expect_eq(count_op(&c, "FusedConv"), 3, "Relu, BN + LeakyRelu, depthwise + hard swish");
  cr_expect_eq(count_op(&c, "Conv"), 2, "the conv read twice, the conv before Clip");
  cr_expect_eq(count_op(&c, "Relu"), 1);
  cr_expect_eq(count_op(&c, "Clip"), 1);
  cr_expect_str_eq(str_attr(&c, writer_of(&c, "y2"), "activation"), "LeakyRelu");
  const isa_def_attr *alpha = attr(&c, writer_of(&c, "y2"), "act_alpha");
  cr_assert(alpha && alpha->v.f == 0.2f, "LeakyRelu's alpha carried over");
  cr_expect_str_eq(str_attr(&c, writer_of(&c, "y3"), "activation"), "HardSwish");
  const isa_def_attr *group = attr(&c, writer_of(&c, "y3"), "group");
  cr_assert(group && group->v.i == 4, "the Conv's attributes carried over");
  compiled_free(&c);
  run_matches("fuse_conv_act", 6);
}

/* ---- weight layout (compiler/pass_layout.c) ------------------------------------------------ */
/* model's outputs y1..y<n> compiled as usual against IVM_FUSE=0 (no fusions, no layouts):
 * the same bits where `bits`; and, unless transw < 0, the scheduler's cost model sees the
 * same work in y1's conv, the first instruction, stored in layout `transw` (M is W's dim
 * 1 in transW 1; U stands for 9 C multiply-adds per output, not 16 C, in transW 2). */
static void same_as_unfused(const char *model, uint32_t n, int bits, int64_t transw) {
  ivm_module *m0, *m1;
  setenv("IVM_FUSE", "0", 1);
  ivm_session *s0 = run_model(model, &m0);
  unsetenv("IVM_FUSE");
  ivm_session *s1 = run_model(model, &m1);
  for (uint32_t k = 0; k < n && bits; k++) {
    ivm_tensor_view v0, v1;
    cr_assert_null(ivm_session_output(s0, k, &v0));
    cr_assert_null(ivm_session_output(s1, k, &v1));
    cr_assert(v0.nbytes == v1.nbytes && memcmp(v0.data, v1.data, v0.nbytes) == 0,
              "%s: y%u differs from the module as the graph says", model, k + 1);
  }
  if (transw >= 0) {
    cr_assert(m1->instrs[0].desc == isa_builtin_desc(ISA_OP_FusedConv) &&
                  m1->instrs[0].attrs[ISA_A_FusedConv_transW].v.i == transw,
              "y1's conv comes first");
    double cost0 = vm_instr_cost_ns(m0, 0), cost1 = vm_instr_cost_ns(m1, 0);
    cr_expect(fabs(cost0 - cost1) < 1e-9 * cost0,
              "%s: estimated %.1f ns as ONNX stores W, %.1f ns in transW %lld", model, cost0,
              cost1, (long long)transw);
  }
  ivm_session_destroy(s0);
  ivm_session_destroy(s1);
  ivm_module_release(m0);
  ivm_module_release(m1);
}

/* model's outputs y1..y8: y1..y<n_stored> in layout transw with W of rank `rank` and dims
 * `dims`, the rest as ONNX has it; y2's Relu fused. */
static void check_layouts(const char *model, int n_stored, int64_t transw, int rank,
                          const int64_t *dims) {
  compiled c;
  compile_ok(model, &c);
  for (int k = 1; k <= 8; k++) {
    char y[16];
    snprintf(y, sizeof y, "y%d", k);
    uint32_t i = writer_of(&c, y);
    const isa_def_attr *tw = attr(&c, i, "transW");
    int want = k <= n_stored;
    cr_expect_eq(tw && tw->v.i == transw, want, "%s: transW", y);
    const isa_def_tensor *w = &c.e.def.tensors[c.e.def.instrs[i].operands[1]];
    if (want)
      cr_expect(w->rank == rank && memcmp(w->dims, dims, (size_t)rank * sizeof *dims) == 0,
                "%s: W's stored shape", y);
  }
  cr_expect_str_eq(str_attr(&c, writer_of(&c, "y2"), "activation"), "Relu");
  compiled_free(&c);
  run_matches(model, 8);
}

/* stride 2, group 2, shared W, 3x3, 16 positions: as ONNX has it */
Test(fuse, pointwise_conv_weights_are_stored_transposed) {
  check_layouts("fuse_conv_layout", 2, 1, 2, (const int64_t[]){48, 64});
  same_as_unfused("fuse_conv_layout", 8, 1, 1);
}

/* 3x3 convs the Winograd kernel takes store U = G g G^T, (16, C, M) (transW 2); stride 2,
 * dilation 2, 16 output channels, shared W: as ONNX has it. With the AVX-512 matrix
 * kernel the module compiled as the graph says (IVM_FUSE=0) takes Winograd for y1-y3 too
 * and transforms W per call: the same bits. */
Test(fuse, winograd_conv_weights_are_stored_transformed) {
  check_layouts("fuse_conv_wino", 3, 2, 3, (const int64_t[]){16, 48, 40});
  same_as_unfused("fuse_conv_wino", 8, rt_sgemm_use_kernel(RT_SGEMM_AUTO) == RT_SGEMM_AVX512, 2);
}

/* c's module, written out, fails to load with a message naming FusedConv and `says`. */
static void load_fails_with(const compiled *c, const char *says) {
  uint8_t *raw;
  size_t n;
  cr_assert_null(isa_module_write(&c->e.def, &raw, &n));
  void *b;
  cr_assert_eq(posix_memalign(&b, 4096, n), 0);
  memcpy(b, raw, n);
  free(raw);
  ivm_module *m = NULL;
  ivm_status st = ivm_module_load_memory(b, n, 0, NULL, &m);
  cr_assert_not_null(st, "loaded; expected: %s", says);
  const char *msg = ivm_status_message(st);
  cr_expect(strstr(msg, "FusedConv") && strstr(msg, says), "%s", msg);
  ivm_status_free(st);
  free(b);
}

/* A module is untrusted input: a FusedConv whose transW does not fit its W (an unknown
 * layout, the transposed layout on Winograd's (16, C, M), a kernel Winograd's layout cannot
 * have) fails to load with a message naming the instruction and the rule. */
Test(fuse, malformed_weight_layouts_are_refused_at_load) {
  static const int64_t one[2] = {1, 1};
  static const struct {
    int64_t transw;
    int kernel1;
    const char *says;
  } bad[] = {{3, 0, "transW: must be 0, 1 or 2"},
             {1, 0, "expected rank 2, got 3"},
             {2, 1, "needs kernel_shape [3, 3]"}};
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    compiled c;
    compile_ok("fuse_conv_wino", &c);
    const isa_def_instr *in = &c.e.def.instrs[writer_of(&c, "y1")];
    for (uint32_t a = 0; a < in->n_attrs; a++) {
      isa_def_attr *at = (isa_def_attr *)&in->attrs[a];
      if (!strcmp(at->name, "transW")) at->v.i = bad[k].transw;
      if (!strcmp(at->name, "kernel_shape") && bad[k].kernel1) at->v.ints = one;
    }
    load_fails_with(&c, bad[k].says);
    compiled_free(&c);
  }
}

/* ---- residual: Conv + Add (compiler/pass_fuse_conv.c) ------------------------------------ */
/* An Add of a conv's output (read by the Add alone) and a tensor of its shape becomes
 * FusedConv with Z, and an activation after the Add joins it; a shared conv, a
 * broadcasting addend or a conv whose activation comes before the Add stays. */
Test(fuse, add_of_a_private_conv_becomes_its_residual) {
  compiled c;
  compile_ok("fuse_conv_residual", &c);
  static const char *const want[7] = {"FusedConv", "FusedConv", "FusedConv", "Add",
                                      "Relu",      "Add",       "Add"};
  writers_are(&c, 7, want);
  static const char *const act[3] = {"Relu", "", "Sigmoid"};
  for (int k = 0; k < 3; k++) {
    char y[16];
    snprintf(y, sizeof y, "y%d", k + 1);
    uint32_t i = writer_of(&c, y);
    const isa_def_instr *in = &c.e.def.instrs[i];
    cr_expect(in->n_in == 4 && in->operands[3] != ISA_NO_TENSOR, "%s: Z", y);
    cr_expect_str_eq(str_attr(&c, i, "activation"), act[k], "%s", y);
  }
  cr_expect(c.e.def.instrs[writer_of(&c, "y2")].operands[2] == ISA_NO_TENSOR, "y2: no bias");
  compiled_free(&c);
  run_matches("fuse_conv_residual", 7);
  same_as_unfused("fuse_conv_residual", 7, 1, -1);
}

/* Z that is not of Y's shape fails to load, naming the instruction and the rule. */
Test(fuse, residual_of_another_shape_is_refused_at_load) {
  compiled c;
  compile_ok("fuse_conv_residual", &c);
  uint32_t i = writer_of(&c, "y1");
  /* y1's bias, (8), as its Z */
  ((uint32_t *)c.e.def.instrs[i].operands)[3] = c.e.def.instrs[i].operands[2];
  load_fails_with(&c, "input 3 (Z)");
  compiled_free(&c);
}

/* ---- channel-blocked conv chains (compiler/pass_blocked.c) -------------------------------- */
static uint32_t count_blocked_convs(const compiled *c) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < c->e.def.n_instrs; i++) {
    const isa_def_attr *a = attr(c, i, "layout");
    n += strcmp(op_name(c, i), "FusedConv") == 0 && a && a->v.i >= 1;
  }
  return n;
}

/* Outputs of <model> compiled with IVM_BLOCKED=0 and as the compiler chooses, within
 * rounding of the sums' other order (the dense blocked kernel sums by blocks of input
 * channels). */
static void close_to_nchw(const char *model, uint32_t n) {
  ivm_module *m0, *m1;
  setenv("IVM_BLOCKED", "0", 1);
  ivm_session *s0 = run_model(model, &m0);
  unsetenv("IVM_BLOCKED");
  ivm_session *s1 = run_model(model, &m1);
  for (uint32_t k = 0; k < n; k++) {
    ivm_tensor_view v0, v1;
    cr_assert_null(ivm_session_output(s0, k, &v0));
    cr_assert_null(ivm_session_output(s1, k, &v1));
    cr_assert_eq(v0.nbytes, v1.nbytes);
    char what[32];
    snprintf(what, sizeof what, "y%u (blocked vs NCHW)", k + 1);
    check_close(what, v1.data, v0.data, v0.nbytes / 4);
  }
  ivm_session_destroy(s0);
  ivm_session_destroy(s1);
  ivm_module_release(m0);
  ivm_module_release(m1);
}

/* Convs feeding convs keep the values between them channel-blocked: a dense conv starts
 * a chain reading x as it is (layout 2), a depthwise one after a ToBlocked (y6); a
 * FromBlocked for each value read outside a chain (y1, y2's input, y3, y6, y7), a residual
 * Z passed blocked from inside the chain (y3) or reordered into it (y7: x); a lone pair,
 * 24 channels, a chain of dense convs alone (y8) and a chain whose values are read in
 * NCHW too (y10) stay NCHW. */
Test(fuse, conv_chains_compute_channel_blocked) {
  compiled c;
  compile_ok("fuse_blocked", &c);
  static const char *const want[10] = {"FromBlocked", "ReduceMean", "FromBlocked", "Conv",
                                       "Conv",        "FromBlocked", "FromBlocked", "Conv",
                                       "ReduceMean",  "Conv"};
  writers_are(&c, 10, want);
  cr_expect_eq(count_blocked_convs(&c), 16, "the chains' convs (got %u)",
               count_blocked_convs(&c));
  uint32_t heads = 0;
  for (uint32_t i = 0; i < c.e.def.n_instrs; i++) {
    const isa_def_attr *a = attr(&c, i, "layout");
    heads += a && a->v.i == 2;
  }
  cr_expect_eq(heads, 3, "y1's, y3's and y7's chains start reading x as it is");
  cr_expect_eq(count_op(&c, "ToBlocked"), 2, "y6's depthwise start, y7's Z");
  cr_expect_eq(count_op(&c, "FromBlocked"), 5);
  compiled_free(&c);
  run_matches("fuse_blocked", 10);
  close_to_nchw("fuse_blocked", 10);
}

Test(fuse, ivm_blocked_0_keeps_every_conv_nchw) {
  setenv("IVM_BLOCKED", "0", 1);
  compiled c;
  compile_ok("fuse_blocked", &c);
  cr_expect_eq(count_blocked_convs(&c), 0);
  cr_expect_eq(count_op(&c, "ToBlocked") + count_op(&c, "FromBlocked"), 0);
  compiled_free(&c);
  unsetenv("IVM_BLOCKED");
}

/* A blocked conv whose operands do not fit the layout fails to load, naming the rule. */
Test(fuse, malformed_blocked_convs_are_refused_at_load) {
  static const char *const says[4] = {"attribute layout", "input 1 (W)", "input 0 (X)",
                                      "input 0 (X)"};
  for (int k = 0; k < 4; k++) {
    compiled c;
    compile_ok("fuse_blocked", &c);
    uint32_t head = 0, i; /* y1's chain: a head (layout 2), depthwise 3x3, 5x5, a 1x1 */
    while (head < c.e.def.n_instrs && !attr(&c, head, "layout")) head++;
    i = head + 1;
    cr_assert(i < c.e.def.n_instrs && attr(&c, head, "layout")->v.i == 2 &&
              attr(&c, i, "layout")->v.i == 1, "y1's chain");
    isa_def_instr *in = (isa_def_instr *)&c.e.def.instrs[i];
    if (k == 0) ((isa_def_attr *)attr(&c, i, "layout"))->v.i = 3;
    if (k == 1) /* the next conv's, depthwise of 25 taps */
      ((uint32_t *)in->operands)[1] = c.e.def.instrs[i + 1].operands[1];
    if (k == 2) ((uint32_t *)in->operands)[0] = c.e.def.inputs[0]; /* x: NCHW */
    if (k == 3) /* the dense 1x1 after them read as a head: its X is blocked */
      ((isa_def_attr *)attr(&c, i + 2, "layout"))->v.i = 2;
    load_fails_with(&c, says[k]);
    compiled_free(&c);
  }
}

/* ---- ConvTranspose folds (compiler/pass_fuse.c) -------------------------------------------- */
/* A group-1 ConvTranspose takes the per-channel Add after it as its bias, then the
 * BatchNormalization after that (det's head) or a per-channel Mul into its weights;
 * group 2 keeps its BatchNormalization, an output read as a graph output keeps its Add. */
Test(fuse, convtranspose_takes_its_bias_and_batchnorm) {
  compiled c;
  compile_ok("fuse_convt_fold", &c);
  static const char *const want[5] = {"ConvTranspose", "ConvTranspose", "BatchNormalization",
                                      "ConvTranspose", "Add"};
  writers_are(&c, 5, want);
  for (int k = 0; k < 2; k++) {
    const isa_def_instr *in = &c.e.def.instrs[writer_of(&c, k ? "y2" : "y1")];
    cr_expect(in->n_in == 3 && in->operands[2] != ISA_NO_TENSOR, "y%d: the folded bias", k + 1);
  }
  cr_expect_eq(c.e.def.n_instrs, 6, "y1, y2, y3's two, y4, y5 (got %u)", c.e.def.n_instrs);
  compiled_free(&c);
  run_matches("fuse_convt_fold", 5);
}

/* ---- Mul + Add (compiler/pass_fuse_ew.c) ---------------------------------------------------- */
Test(fuse, add_of_a_private_mul_becomes_fusedmuladd) {
  compiled c;
  compile_ok("fuse_muladd", &c);
  /* y4's product also feeds y5; y6 is an output */
  static const char *const want[8] = {"FusedMulAdd", "FusedMulAdd", "FusedMulAdd", "Add",
                                      "Relu",        "Mul",         "Add",         "FusedMulAdd"};
  writers_are(&c, 8, want);
  cr_expect_eq(count_op(&c, "FusedMulAdd"), 4);
  cr_expect_eq(count_op(&c, "Mul"), 3, "y4's, y6 and one of y8's two");
  compiled_free(&c);
  run_matches("fuse_muladd", 8);
  same_as_unfused("fuse_muladd", 8, 1, -1);
}

/* An Add of a Resize read by nothing else and a tensor of the sum's shape becomes
 * FusedResizeAdd with Resize's attributes; a shared Resize or a broadcast addend stays. */
Test(fuse, add_of_a_private_resize_becomes_fusedresizeadd) {
  compiled c;
  compile_ok("fuse_resize_add", &c);
  static const char *const want[5] = {"FusedResizeAdd", "FusedResizeAdd", "Add", "Relu", "Add"};
  writers_are(&c, 5, want);
  cr_expect_str_eq(str_attr(&c, writer_of(&c, "y1"), "nearest_mode"), "floor");
  cr_expect_str_eq(str_attr(&c, writer_of(&c, "y2"), "coordinate_transformation_mode"),
                   "asymmetric");
  compiled_free(&c);
  run_matches("fuse_resize_add", 5);
  same_as_unfused("fuse_resize_add", 5, 1, -1);
}

/* ---- LayerNorm ---------------------------------------------------------------------------- */
Test(fuse, decomposed_layernorm_becomes_layernormalization) {
  compiled c;
  compile_ok("fuse_ln", &c);
  cr_expect_eq(c.e.def.n_instrs, 3, "got %u instructions", c.e.def.n_instrs);
  cr_expect_eq(count_op(&c, "LayerNormalization"), 3);
  const float eps[3] = {1e-5f, 1e-3f, 1e-6f};
  for (int k = 0; k < 3; k++) {
    char y[16];
    snprintf(y, sizeof y, "y%d", k + 1);
    uint32_t i = writer_of(&c, y);
    const isa_def_attr *a = attr(&c, i, "epsilon");
    cr_assert_not_null(a, "%s", y);
    cr_expect_eq(a->v.f, eps[k], "%s: epsilon %g", y, a->v.f);
    cr_expect_eq(c.e.def.instrs[i].n_in, k == 0 ? 3u : 2u, "%s: bias only where there was one", y);
  }
  compiled_free(&c);
  run_matches("fuse_ln", 3);
}

Test(fuse, layernorm_near_misses_are_left_alone) {
  compiled c;
  compile_ok("fuse_ln_miss", &c);
  cr_expect_eq(count_op(&c, "LayerNormalization"), 0, "other axis, exponent 4, d read elsewhere");
  cr_expect_eq(count_op(&c, "ReduceMean"), 6);
  compiled_free(&c);
  run_matches("fuse_ln_miss", 4);
}

/* ---- MatMul / Gemm epilogue ------------------------------------------------------------- */
Test(fuse, matmul_bias_activation_residual_become_fusedmatmul) {
  compiled c;
  compile_ok("fuse_mm", &c);
  cr_expect_eq(count_op(&c, "FusedMatMul"), 6);
  cr_expect_eq(c.e.def.n_instrs, 7, "six products and the Reshape before the Gemm (got %u)",
               c.e.def.n_instrs);
  uint32_t i = writer_of(&c, "y1");
  cr_expect_str_eq(str_attr(&c, i, "activation"), "Relu");
  cr_expect_eq(c.e.def.instrs[i].n_in, 3, "A, B, Bias");
  i = writer_of(&c, "y2");
  cr_expect_str_eq(str_attr(&c, i, "activation"), "");
  cr_expect_eq(c.e.def.instrs[i].n_in, 4, "A, B, Bias, Z");
  i = writer_of(&c, "y3");
  cr_expect_str_eq(str_attr(&c, i, "activation"), "Gelu", "the GELU chain became Gelu first");
  i = writer_of(&c, "y4");
  cr_expect_str_eq(str_attr(&c, i, "activation"), "LeakyRelu");
  cr_assert_not_null(attr(&c, i, "act_alpha"));
  cr_expect_eq(attr(&c, i, "act_alpha")->v.f, 0.2f);
  i = writer_of(&c, "y5");
  cr_expect_str_eq(str_attr(&c, i, "activation"), "Sigmoid");
  cr_assert_not_null(attr(&c, i, "transB"), "the Gemm's transB carries over");
  cr_expect_eq(attr(&c, i, "transB")->v.i, 1);
  i = writer_of(&c, "y6");
  cr_assert_eq(c.e.def.instrs[i].n_in, 4, "A, B, no Bias, Z");
  cr_expect_eq(c.e.def.instrs[i].operands[2], ISA_NO_TENSOR);
  compiled_free(&c);
  run_matches("fuse_mm", 6);
}

Test(fuse, matmul_near_misses_are_left_alone) {
  compiled c;
  compile_ok("fuse_mm_miss", &c);
  cr_expect_eq(count_op(&c, "FusedMatMul"), 0,
               "product read elsewhere, full-matrix addend, batched B, Gemm alpha 0.5");
  cr_expect_eq(count_op(&c, "MatMul"), 3);
  cr_expect_eq(count_op(&c, "Gemm"), 1);
  compiled_free(&c);
  run_matches("fuse_mm_miss", 5);
}

/* ---- attention ------------------------------------------------------------------------------ */
Test(fuse, attention_becomes_fusedattention) {
  compiled c;
  compile_ok("fuse_att", &c);
  cr_expect_eq(c.e.def.n_instrs, 3, "got %u instructions", c.e.def.n_instrs);
  cr_expect_eq(count_op(&c, "FusedAttention"), 3);
  uint32_t i = writer_of(&c, "y1");
  cr_expect_eq(c.e.def.instrs[i].n_in, 4, "Q, Kt, V, Mask");
  cr_assert_not_null(attr(&c, i, "divide"));
  cr_expect_eq(attr(&c, i, "divide")->v.i, 1);
  cr_expect_eq(attr(&c, i, "scale")->v.f, (float)sqrt(8.0));
  i = writer_of(&c, "y2");
  cr_expect_null(attr(&c, i, "divide"));
  cr_expect_eq(attr(&c, i, "scale")->v.f, 0.25f);
  i = writer_of(&c, "y3");
  cr_expect_null(attr(&c, i, "scale"), "no scale op, no scale");
  compiled_free(&c);
  run_matches("fuse_att", 3);
}

Test(fuse, attention_near_misses_are_left_alone) {
  compiled c;
  compile_ok("fuse_att_miss", &c);
  cr_expect_eq(count_op(&c, "FusedAttention"), 0,
               "softmax on axis 2, scores read elsewhere, broadcast batch");
  cr_expect_eq(count_op(&c, "Softmax"), 3);
  compiled_free(&c);
  run_matches("fuse_att_miss", 4);
}

/* ---- split across threads: bitwise the same, and right ------------------------------------ */
static float *random_floats(size_t n, uint32_t seed) {
  float *p = malloc(n * sizeof *p);
  cr_assert_not_null(p);
  uint32_t s = seed;
  for (size_t i = 0; i < n; i++) {
    s = s * 1664525u + 1013904223u;
    p[i] = (float)((s >> 8) / 16777216.0 * 2.0 - 1.0);
  }
  return p;
}

typedef struct big_inputs {
  float *in[6];
  int64_t dims[6][4];
  int rank[6];
} big_inputs;

static void big_make(big_inputs *b) {
  static const int64_t d[6][4] = {{256, 256}, {256, 160}, {256, 600},
                                  {1, 4, 200, 32}, {1, 4, 32, 300}, {1, 4, 300, 32}};
  static const int r[6] = {2, 2, 2, 4, 4, 4};
  for (int k = 0; k < 6; k++) {
    size_t n = 1;
    for (int j = 0; j < r[k]; j++) n *= (size_t)d[k][j];
    b->in[k] = random_floats(n, 7u + (uint32_t)k);
    b->rank[k] = r[k];
    memcpy(b->dims[k], d[k], sizeof d[k]);
  }
  /* Weights scaled so that the products (sums of 256 terms) stay around +-1, where the
   * activations are not flat. */
  for (size_t i = 0; i < 256 * 160; i++) b->in[1][i] *= 0.1f;
  for (size_t i = 0; i < 256 * 600; i++) b->in[2][i] *= 0.1f;
}

/* Runs fuse_big with `threads`; *out[k] receives a malloc'd copy of output k. */
static void big_run(const void *bytes, size_t size, const big_inputs *b, int threads,
                    float *out[3], size_t nout[3]) {
  ivm_module *m;
  cr_assert_null(ivm_module_load_memory(bytes, size, 0, NULL, &m));
  ivm_session_options o;
  memset(&o, 0, sizeof o);
  o.threads = threads;
  ivm_session *s;
  cr_assert_null(ivm_session_create(m, &o, &s));
  for (uint32_t k = 0; k < 6; k++) {
    size_t n = 1;
    for (int j = 0; j < b->rank[k]; j++) n *= (size_t)b->dims[k][j];
    cr_assert_null(ivm_session_bind_input(s, k, IVM_DT_F32, b->rank[k], b->dims[k], b->in[k], n * 4));
  }
  ivm_status st = ivm_session_run(s);
  cr_assert_null(st, "%s", ivm_status_message(st));
  for (uint32_t k = 0; k < 3; k++) {
    ivm_tensor_view v;
    cr_assert_null(ivm_session_output(s, k, &v));
    out[k] = malloc(v.nbytes);
    memcpy(out[k], v.data, v.nbytes);
    nout[k] = v.nbytes / 4;
  }
  ivm_session_destroy(s);
  ivm_module_release(m);
}

/* The reference: plain loops in double. */
static void big_reference(const big_inputs *b, double *y1, double *y2, double *y3) {
  const float *x = b->in[0];
  for (int i = 0; i < 256; i++) {
    for (int j = 0; j < 160; j++) {
      double s = 0;
      for (int k = 0; k < 256; k++) s += (double)x[i * 256 + k] * b->in[1][k * 160 + j];
      s += -1.0 + 2.0 * j / 159.0;
      y1[i * 160 + j] = 0.5 * s * (1 + erf(s / sqrt(2.0)));
    }
    for (int j = 0; j < 600; j++) {
      double s = 0;
      for (int k = 0; k < 256; k++) s += (double)x[i * 256 + k] * b->in[2][k * 600 + j];
      s += -1.0 + 2.0 * j / 599.0;
      y2[i * 600 + j] = s > 0 ? s : 0;
    }
  }
  const float *q = b->in[3], *kt = b->in[4], *v = b->in[5];
  static double sc[300];
  for (int h = 0; h < 4; h++)
    for (int i = 0; i < 200; i++) {
      double mx = -INFINITY, sum = 0;
      for (int j = 0; j < 300; j++) {
        double s = 0;
        for (int k = 0; k < 32; k++) s += (double)q[(h * 200 + i) * 32 + k] * kt[(h * 32 + k) * 300 + j];
        sc[j] = s / sqrt(32.0);
        mx = sc[j] > mx ? sc[j] : mx;
      }
      for (int j = 0; j < 300; j++) sum += sc[j] = exp(sc[j] - mx);
      for (int d = 0; d < 32; d++) {
        double s = 0;
        for (int j = 0; j < 300; j++) s += sc[j] / sum * v[(h * 300 + j) * 32 + d];
        y3[(h * 200 + i) * 32 + d] = s;
      }
    }
}

Test(fuse, split_products_are_bitwise_the_same_for_any_thread_count, .timeout = 120) {
  compiled c;
  compile_ok("fuse_big", &c);
  cr_expect_eq(count_op(&c, "FusedMatMul"), 2);
  cr_expect_eq(count_op(&c, "FusedAttention"), 1);
  cr_expect_eq(c.e.def.n_instrs, 3);
  compiled_free(&c);
  void *bytes;
  size_t size;
  ivm_status st = ivm_compile_onnx_file(DATA "/fuse_big.onnx", &bytes, &size, NULL);
  cr_assert_null(st, "%s", ivm_status_message(st));
  big_inputs b;
  big_make(&b);
  float *first[3];
  size_t n[3];
  big_run(bytes, size, &b, 1, first, n);
  double *want[3] = {malloc(256 * 160 * 8), malloc(256 * 600 * 8), malloc(4 * 200 * 32 * 8)};
  big_reference(&b, want[0], want[1], want[2]);
  cr_assert_eq(n[0], 256 * 160);
  cr_assert_eq(n[1], 256 * 600);
  cr_assert_eq(n[2], 4 * 200 * 32);
  for (int k = 0; k < 3; k++)
    for (size_t i = 0; i < n[k]; i++)
      cr_assert(fabs(first[k][i] - want[k][i]) <= 1e-4 * (1 + fabs(want[k][i])),
                "y%d[%zu]: %g vs %g", k + 1, i, first[k][i], want[k][i]);
  for (int threads = 2; threads <= 4; threads++) {
    float *got[3];
    size_t m[3];
    big_run(bytes, size, &b, threads, got, m);
    for (int k = 0; k < 3; k++) {
      cr_assert_eq(m[k], n[k]);
      cr_assert(memcmp(got[k], first[k], n[k] * 4) == 0, "y%d differs with %d threads", k + 1,
                threads);
      free(got[k]);
    }
  }
  for (int k = 0; k < 3; k++) {
    free(first[k]);
    free(want[k]);
  }
  for (int k = 0; k < 6; k++) free(b.in[k]);
  free(bytes);
}

/* ---- inference of the fused ops ----------------------------------------------------------- */
static isa_type t_f32(int rank, int64_t d0, int64_t d1, int64_t d2) {
  isa_type t;
  memset(&t, 0, sizeof t);
  t.dtype = IVM_DT_F32;
  t.rank = (int8_t)rank;
  t.dims[0] = d0, t.dims[1] = d1, t.dims[2] = d2;
  return t;
}

/* Runs op's inference with its defaults and `activation` in slot act_slot. */
static ivm_status infer_fused(isa_builtin_op op, int act_slot, const char *activation,
                              isa_type *in, uint32_t n_in, isa_type *out) {
  const isa_op_desc *d = isa_builtin_desc(op);
  isa_attr slots[16];
  cr_assert(d->n_attrs <= 16 && n_in <= 4);
  isa_attrs_init_defaults(d, slots);
  slots[act_slot].v.s = activation;
  const void *data[4] = {0};
  isa_infer_ctx ctx = {n_in, in, data, slots, 1, out};
  return d->infer(&ctx);
}

static ivm_status infer_fmm(const char *activation, isa_type *in, uint32_t n_in, isa_type *out) {
  return infer_fused(ISA_OP_FusedMatMul, ISA_A_FusedMatMul_activation, activation, in, n_in, out);
}

Test(fuse, fusedmatmul_inference_accepts_its_chain_and_nothing_else) {
  isa_type in[4] = {t_f32(3, 2, 4, 24), t_f32(2, 24, 32, 0), t_f32(1, 32, 0, 0), t_f32(3, 2, 4, 32)};
  isa_type out;
  cr_assert_null(infer_fmm("Relu", in, 4, &out));
  cr_expect_eq(out.rank, 3);
  cr_expect_eq(out.dims[0], 2);
  cr_expect_eq(out.dims[1], 4);
  cr_expect_eq(out.dims[2], 32);
  ivm_status st = infer_fmm("Softmax", in, 4, &out);
  cr_assert_not_null(st, "Softmax is not an elementwise activation");
  ivm_status_free(st);
  in[2] = t_f32(1, 31, 0, 0);
  st = infer_fmm("", in, 3, &out);
  cr_assert_not_null(st, "a bias of the wrong length");
  ivm_status_free(st);
  in[2] = t_f32(2, 4, 32, 0);
  st = infer_fmm("", in, 3, &out);
  cr_assert_not_null(st, "a full-matrix bias is not a bias");
  ivm_status_free(st);
  in[2] = t_f32(1, 32, 0, 0);
  in[3] = t_f32(3, 1, 4, 32);
  st = infer_fmm("", in, 4, &out);
  cr_assert_not_null(st, "Z must not broadcast");
  ivm_status_free(st);
  in[1] = t_f32(3, 2, 24, 32);
  st = infer_fmm("", in, 2, &out);
  cr_assert_not_null(st, "B must be 2-D");
  ivm_status_free(st);
}

static ivm_status infer_fconv(const char *activation, isa_type *in, uint32_t n_in, isa_type *out) {
  return infer_fused(ISA_OP_FusedConv, ISA_A_FusedConv_activation, activation, in, n_in, out);
}

Test(fuse, fusedconv_inference_rejects_what_its_kernel_cannot_run) {
  isa_type in[3] = {t_f32(4, 1, 3, 8), t_f32(4, 4, 3, 3), t_f32(1, 4, 0, 0)};
  in[0].dims[3] = 8;
  in[1].dims[3] = 3;
  isa_type out;
  ivm_status st = infer_fconv("HardSwish", in, 3, &out);
  cr_assert_null(st, "%s", ivm_status_message(st));
  cr_expect_eq(out.rank, 4);
  cr_expect(out.dims[0] == 1 && out.dims[1] == 4 && out.dims[2] == 6 && out.dims[3] == 6);
  st = infer_fconv("Softmax", in, 3, &out);
  cr_assert_not_null(st, "Softmax is not an elementwise activation");
  ivm_status_free(st);
  st = infer_fconv("NoSuchOp", in, 3, &out);
  cr_assert_not_null(st, "an unknown activation");
  ivm_status_free(st);
  for (int k = 0; k < 3; k++) in[k].dtype = IVM_DT_F64;
  st = infer_fconv("Relu", in, 3, &out);
  cr_assert_not_null(st, "FusedConv runs f32 only");
  ivm_status_free(st);
  for (int k = 0; k < 3; k++) in[k].dtype = IVM_DT_F32;
  for (int k = 0; k < 2; k++) { /* a NaN bound: the clip compares with numbers only */
    isa_attr a[16];
    isa_attrs_init_defaults(isa_builtin_desc(ISA_OP_FusedConv), a);
    isa_attr *b = &a[k ? ISA_A_FusedConv_clip_max : ISA_A_FusedConv_clip_min];
    b->v.f = NAN;
    b->present = 1;
    const void *data[3] = {0};
    isa_infer_ctx ctx = {3, in, data, a, 1, &out};
    st = isa_builtin_desc(ISA_OP_FusedConv)->infer(&ctx);
    cr_assert_not_null(st, "a NaN clip bound");
    cr_expect(strstr(ivm_status_message(st), k ? "clip_max" : "clip_min"), "%s",
              ivm_status_message(st));
    ivm_status_free(st);
  }
  isa_attr a[16]; /* NaN and infinite affines just propagate, as through Mul and Add */
  isa_attrs_init_defaults(isa_builtin_desc(ISA_OP_FusedConv), a);
  a[ISA_A_FusedConv_out_scale].v.f = NAN;
  a[ISA_A_FusedConv_out_scale].present = 1;
  a[ISA_A_FusedConv_out_shift].v.f = -INFINITY;
  a[ISA_A_FusedConv_out_shift].present = 1;
  const void *data[3] = {0};
  isa_infer_ctx ctx = {3, in, data, a, 1, &out};
  st = isa_builtin_desc(ISA_OP_FusedConv)->infer(&ctx);
  cr_expect_null(st, "%s", ivm_status_message(st));
  ivm_status_free(st);
}

/* transW: W is (C * k, M) for group 1 with kernel_shape given, and nothing else. */
static ivm_status infer_transw(int64_t trans_w, int64_t group, int64_t kernel, int with_kernel,
                               isa_type w, isa_type *out) {
  isa_type in[2] = {t_f32(4, 1, 4, 5), w};
  in[0].dims[3] = 6;
  isa_attr a[16];
  isa_attrs_init_defaults(isa_builtin_desc(ISA_OP_FusedConv), a);
  a[ISA_A_FusedConv_transW].v.i = trans_w;
  a[ISA_A_FusedConv_group].v.i = group;
  int64_t ks[2] = {kernel, kernel};
  if (with_kernel) {
    a[ISA_A_FusedConv_kernel_shape].v.ints = ks;
    a[ISA_A_FusedConv_kernel_shape].count = 2;
  }
  const void *data[2] = {0};
  isa_infer_ctx ctx = {2, in, data, a, 1, out};
  return isa_builtin_desc(ISA_OP_FusedConv)->infer(&ctx);
}

Test(fuse, fusedconv_transw_inference_takes_the_transposed_weight_only) {
  isa_type out;
  ivm_status st = infer_transw(1, 1, 1, 1, t_f32(2, 4, 10, 0), &out);
  cr_assert_null(st, "%s", ivm_status_message(st));
  cr_expect(out.rank == 4 && out.dims[1] == 10 && out.dims[2] == 5 && out.dims[3] == 6);
  st = infer_transw(1, 1, 3, 1, t_f32(2, 36, 10, 0), &out); /* 3x3, C 4: 36 rows */
  cr_assert_null(st, "%s", ivm_status_message(st));
  cr_expect(out.dims[1] == 10 && out.dims[2] == 3 && out.dims[3] == 4);
  static const struct {
    int64_t trans_w, group, kernel;
    int with_kernel;
    const char *why, *says;
  } bad[] = {
      {1, 2, 1, 1, "group 2", "group"},
      {1, 1, 1, 0, "no kernel_shape", "kernel_shape"},
      {3, 1, 1, 1, "transW 3", "transW"},
      {1, 1, 1, 1, "W of rank 4", "rank"},
      {1, 1, 3, 1, "rows not a multiple of the kernel", "multiple"},
      {1, 1, 1, 1, "C * k not X's channels", "channels"},
  };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    isa_type w = k == 3 ? t_f32(4, 10, 4, 1) : k == 4 ? t_f32(2, 35, 10, 0)
                 : k == 5                 ? t_f32(2, 5, 10, 0)
                                          : t_f32(2, 4, 10, 0);
    if (k == 3) w.dims[3] = 1;
    st = infer_transw(bad[k].trans_w, bad[k].group, bad[k].kernel, bad[k].with_kernel, w, &out);
    cr_assert_not_null(st, "%s accepted", bad[k].why);
    cr_expect(strstr(ivm_status_message(st), bad[k].says), "%s: %s", bad[k].why,
              ivm_status_message(st));
    ivm_status_free(st);
  }
}

/* transW 2: W is Winograd's (16, C, M) for a 2-D 3x3 conv, stride 1, dilation 1, group 1. */
Test(fuse, fusedconv_winograd_weights_inference) {
  isa_type out;
  ivm_status st = infer_transw(2, 1, 3, 1, t_f32(3, 16, 4, 10), &out);
  cr_assert_null(st, "%s", ivm_status_message(st));
  cr_expect(out.rank == 4 && out.dims[1] == 10 && out.dims[2] == 3 && out.dims[3] == 4,
            "X (1, 4, 5, 6), no pads: Y (1, 10, 3, 4)");
  static const struct {
    int64_t group, kernel;
    int with_kernel, stride, dilation;
    isa_type w;
    const char *why, *says;
  } bad[] = {
      {2, 3, 1, 1, 1, {0}, "group 2", "group"},
      {1, 1, 1, 1, 1, {0}, "kernel 1x1", "[3, 3]"},
      {1, 3, 0, 1, 1, {0}, "no kernel_shape", "[3, 3]"},
      {1, 3, 1, 2, 1, {0}, "stride 2", "strides"},
      {1, 3, 1, 1, 2, {0}, "dilation 2", "dilations"},
      {1, 3, 1, 1, 1, {.dtype = IVM_DT_F32, .rank = 2, .dims = {64, 10}}, "W of rank 2", "rank 3"},
      {1, 3, 1, 1, 1, {.dtype = IVM_DT_F32, .rank = 3, .dims = {9, 4, 10}}, "9 rows", "16 rows"},
      {1, 3, 1, 1, 1, {.dtype = IVM_DT_F32, .rank = 3, .dims = {16, 5, 10}}, "C not X's channels", "channels"},
  };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    isa_type w = bad[k].w.rank ? bad[k].w : t_f32(3, 16, 4, 10);
    isa_type in[2] = {t_f32(4, 1, 4, 5), w};
    in[0].dims[3] = 6;
    isa_attr a[16];
    isa_attrs_init_defaults(isa_builtin_desc(ISA_OP_FusedConv), a);
    a[ISA_A_FusedConv_transW].v.i = 2;
    a[ISA_A_FusedConv_group].v.i = bad[k].group;
    int64_t ks[2] = {bad[k].kernel, bad[k].kernel}, st2[2] = {1, bad[k].stride};
    int64_t dl[2] = {bad[k].dilation, 1};
    if (bad[k].with_kernel) {
      a[ISA_A_FusedConv_kernel_shape].v.ints = ks;
      a[ISA_A_FusedConv_kernel_shape].count = 2;
    }
    a[ISA_A_FusedConv_strides].v.ints = st2;
    a[ISA_A_FusedConv_strides].count = 2;
    a[ISA_A_FusedConv_dilations].v.ints = dl;
    a[ISA_A_FusedConv_dilations].count = 2;
    const void *data[2] = {0};
    isa_infer_ctx ctx = {2, in, data, a, 1, &out};
    st = isa_builtin_desc(ISA_OP_FusedConv)->infer(&ctx);
    cr_assert_not_null(st, "%s accepted", bad[k].why);
    cr_expect(strstr(ivm_status_message(st), bad[k].says), "%s: %s", bad[k].why,
              ivm_status_message(st));
    ivm_status_free(st);
  }
}

Test(fuse, activation_attributes_map_onto_the_activation_op) {
  const isa_op_desc *d = isa_builtin_desc(ISA_OP_FusedMatMul);
  isa_attr fused[8], act[8];
  isa_attrs_init_defaults(d, fused);
  fused[ISA_A_FusedMatMul_act_alpha].v.f = 0.3f;
  fused[ISA_A_FusedMatMul_act_alpha].present = 1;
  isa_fused_activation_attrs(ISA_OP_LeakyRelu, fused, ISA_A_FusedMatMul_activation, act);
  cr_expect_eq(act[ISA_A_LeakyRelu_alpha].v.f, 0.3f);
  isa_fused_activation_attrs(ISA_OP_HardSigmoid, fused, ISA_A_FusedMatMul_activation, act);
  cr_expect_eq(act[ISA_A_HardSigmoid_alpha].v.f, 0.3f);
  cr_expect_eq(act[ISA_A_HardSigmoid_beta].v.f, 0.5f, "beta not given: HardSigmoid's default");
  isa_builtin_op op;
  cr_expect(isa_fused_activation("", &op) && op == ISA_OP_COUNT);
  cr_expect(isa_fused_activation("Gelu", &op) && op == ISA_OP_Gelu);
  cr_expect(!isa_fused_activation("Exp", &op));
}
