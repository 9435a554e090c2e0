/* ONNX import, passes and emission. Real models come from the ONNX backend test data;
 * small models for rewrites and error paths are built here with the protobuf-c bindings.
 * Expected shapes and attributes are read off the models with onnx (python). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compiler/cc.h"
#include "ivm/ivm.h"
#include "onnx.pb-c.h"

#define ONNX_DATA "/usr/share/libonnx-testdata/data"

/* ---- helpers ------------------------------------------------------------------------ */
typedef struct compiled {
  cc_graph g;
  cc_emitted e;
} compiled;

static ivm_status compile_bytes(const uint8_t *b, size_t n, const char *dir, compiled *c) {
  cc_graph_init(&c->g);
  memset(&c->e, 0, sizeof c->e);
  ivm_status st = cc_import_and_optimize(b, n, dir, &c->g);
  if (!st) st = cc_build_def(&c->g, &c->e);
  return st;
}

static void compile_file_ok(const char *path, compiled *c) {
  uint8_t *b;
  size_t n;
  cr_assert_null(cc_read_file(path, &b, &n), "cannot read %s", path);
  ivm_status st = compile_bytes(b, n, NULL, c);
  free(b);
  cr_assert_null(st, "%s: %s", path, ivm_status_message(st));
}

static void compiled_free(compiled *c) {
  cc_emitted_free(&c->e);
  cc_graph_free(&c->g);
}

static const char *op_name(const compiled *c, uint32_t instr) {
  return c->e.def.imports[c->e.def.instrs[instr].op].name;
}

static const isa_def_tensor *operand(const compiled *c, uint32_t instr, uint32_t k) {
  uint32_t t = c->e.def.instrs[instr].operands[k];
  cr_assert_neq(t, ISA_NO_TENSOR);
  cr_assert_lt(t, c->e.def.n_tensors);
  return &c->e.def.tensors[t];
}

static const isa_def_attr *find_attr(const compiled *c, uint32_t instr, const char *name) {
  const isa_def_instr *in = &c->e.def.instrs[instr];
  for (uint32_t i = 0; i < in->n_attrs; i++)
    if (strcmp(in->attrs[i].name, name) == 0) return &in->attrs[i];
  return NULL;
}

static void expect_dims(const isa_def_tensor *t, int rank, const int64_t *dims) {
  cr_expect_eq(t->rank, rank, "tensor '%s': rank %d, want %d", t->name, t->rank, rank);
  for (int k = 0; k < rank && k < t->rank; k++)
    cr_expect_eq(t->dims[k], dims[k], "tensor '%s' dim %d: %lld, want %lld", t->name, k,
                 (long long)t->dims[k], (long long)dims[k]);
}

/* ---- building small models ---------------------------------------------------------- */
typedef struct mb {
  Onnx__ModelProto m;
  Onnx__GraphProto g;
  Onnx__OperatorSetIdProto opset;
  Onnx__OperatorSetIdProto *opsets[1];
  Onnx__NodeProto nodes[8], *np[8];
  Onnx__AttributeProto attrs[16], *ap[16];
  uint32_t n_attrs;
  Onnx__ValueInfoProto vi[8], *in_p[4], *out_p[4];
  Onnx__TypeProto tp[8];
  Onnx__TypeProto__Tensor tt[8];
  Onnx__TensorShapeProto sh[8];
  Onnx__TensorShapeProto__Dimension dim[8][8], *dimp[8][8];
  uint32_t n_vi;
  Onnx__TensorProto inits[4], *initp[4];
  char *io_names[8][8];
} mb;

static void mb_init(mb *b, int64_t opset) {
  memset(b, 0, sizeof *b);
  onnx__model_proto__init(&b->m);
  onnx__graph_proto__init(&b->g);
  onnx__operator_set_id_proto__init(&b->opset);
  b->opset.domain = "";
  b->opset.has_version = 1;
  b->opset.version = opset;
  b->opsets[0] = &b->opset;
  b->m.n_opset_import = 1;
  b->m.opset_import = b->opsets;
  b->m.has_ir_version = 1;
  b->m.ir_version = 8;
  b->m.graph = &b->g;
  b->g.name = "g";
  b->g.node = b->np;
  b->g.input = b->in_p;
  b->g.output = b->out_p;
  b->g.initializer = b->initp;
}

/* dims: >= 0 sizes; -1 a symbolic dim named "N". */
static Onnx__ValueInfoProto *mb_vi(mb *b, const char *name, int dtype, int rank,
                                   const int64_t *dims) {
  uint32_t i = b->n_vi++;
  onnx__value_info_proto__init(&b->vi[i]);
  onnx__type_proto__init(&b->tp[i]);
  onnx__type_proto__tensor__init(&b->tt[i]);
  onnx__tensor_shape_proto__init(&b->sh[i]);
  b->vi[i].name = (char *)name;
  b->vi[i].type = &b->tp[i];
  b->tp[i].value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
  b->tp[i].tensor_type = &b->tt[i];
  b->tt[i].has_elem_type = 1;
  b->tt[i].elem_type = dtype;
  b->tt[i].shape = &b->sh[i];
  b->sh[i].n_dim = (size_t)rank;
  b->sh[i].dim = b->dimp[i];
  for (int k = 0; k < rank; k++) {
    onnx__tensor_shape_proto__dimension__init(&b->dim[i][k]);
    b->dimp[i][k] = &b->dim[i][k];
    if (dims[k] >= 0) {
      b->dim[i][k].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
      b->dim[i][k].dim_value = dims[k];
    } else {
      b->dim[i][k].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
      b->dim[i][k].dim_param = "N";
    }
  }
  return &b->vi[i];
}

static void mb_input(mb *b, const char *name, int dtype, int rank, const int64_t *dims) {
  b->in_p[b->g.n_input++] = mb_vi(b, name, dtype, rank, dims);
}

static void mb_output(mb *b, const char *name) {
  b->out_p[b->g.n_output++] = mb_vi(b, name, IVM_DT_F32, 0, NULL);
  b->out_p[b->g.n_output - 1]->type->tensor_type->shape = NULL;
}

static Onnx__NodeProto *mb_node(mb *b, const char *op, const char *name, const char *ins,
                                const char *outs) {
  uint32_t i = (uint32_t)b->g.n_node++;
  Onnx__NodeProto *n = &b->nodes[i];
  onnx__node_proto__init(n);
  b->np[i] = n;
  n->op_type = (char *)op;
  n->name = (char *)name;
  /* ins/outs: comma-separated names (kept in io_names storage) */
  const char *lists[2] = {ins, outs};
  for (int l = 0; l < 2; l++) {
    char **arr = &b->io_names[i][l * 4];
    size_t cnt = 0;
    const char *s = lists[l];
    while (s && *s) {
      const char *e = strchr(s, ',');
      size_t len = e ? (size_t)(e - s) : strlen(s);
      arr[cnt] = strndup(s, len);
      cnt++;
      s = e ? e + 1 : s + len;
    }
    if (l == 0) {
      n->n_input = cnt;
      n->input = arr;
    } else {
      n->n_output = cnt;
      n->output = arr;
    }
  }
  n->attribute = &b->ap[b->n_attrs];
  return n;
}

static Onnx__AttributeProto *mb_attr(mb *b, Onnx__NodeProto *n, const char *name) {
  Onnx__AttributeProto *a = &b->attrs[b->n_attrs];
  onnx__attribute_proto__init(a);
  b->ap[b->n_attrs++] = a;
  n->n_attribute++;
  a->name = (char *)name;
  return a;
}

static void mb_attr_int(mb *b, Onnx__NodeProto *n, const char *name, int64_t v) {
  Onnx__AttributeProto *a = mb_attr(b, n, name);
  a->has_type = 1;
  a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
  a->has_i = 1;
  a->i = v;
}

static void mb_attr_ints(mb *b, Onnx__NodeProto *n, const char *name, int64_t *v, size_t cnt) {
  Onnx__AttributeProto *a = mb_attr(b, n, name);
  a->has_type = 1;
  a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
  a->n_ints = cnt;
  a->ints = v;
}

static Onnx__TensorProto *mb_init_f32(mb *b, const char *name, int rank, int64_t *dims,
                                      float *data, size_t n) {
  Onnx__TensorProto *t = &b->inits[b->g.n_initializer];
  onnx__tensor_proto__init(t);
  b->initp[b->g.n_initializer++] = t;
  t->name = (char *)name;
  t->has_data_type = 1;
  t->data_type = IVM_DT_F32;
  t->n_dims = (size_t)rank;
  t->dims = dims;
  t->n_float_data = n;
  t->float_data = data;
  return t;
}

static uint8_t *mb_pack(mb *b, size_t *n) {
  *n = onnx__model_proto__get_packed_size(&b->m);
  uint8_t *buf = malloc(*n ? *n : 1);
  onnx__model_proto__pack(&b->m, buf);
  for (int i = 0; i < 8; i++)
    for (int k = 0; k < 8; k++) free(b->io_names[i][k]);
  return buf;
}

static ivm_status compile_mb(mb *b, const char *dir, compiled *c) {
  size_t n;
  uint8_t *bytes = mb_pack(b, &n);
  ivm_status st = compile_bytes(bytes, n, dir, c);
  free(bytes);
  return st;
}

/* ---- real models -------------------------------------------------------------------- */
Test(compiler, relu) {
  compiled c;
  compile_file_ok(ONNX_DATA "/node/test_relu/model.onnx", &c);
  const isa_module_def *d = &c.e.def;
  cr_assert_eq(d->n_instrs, 1);
  cr_assert_eq(d->n_imports, 1);
  cr_expect_str_eq(d->imports[0].domain, "ivm");
  cr_expect_str_eq(d->imports[0].name, "Relu");
  cr_expect_eq(d->imports[0].version, 1);
  cr_assert_eq(d->n_inputs, 1);
  cr_assert_eq(d->n_outputs, 1);
  const isa_def_tensor *x = &d->tensors[d->inputs[0]], *y = &d->tensors[d->outputs[0]];
  cr_expect_str_eq(x->name, "x");
  cr_expect_str_eq(y->name, "y");
  const int64_t dims[3] = {3, 4, 5};
  expect_dims(x, 3, dims);
  expect_dims(y, 3, dims);
  cr_expect_eq(x->kind, ISA_TK_ARENA);
  cr_expect_eq(y->kind, ISA_TK_ARENA);
  cr_expect_eq(x->dtype, IVM_DT_F32);
  cr_expect_eq(x->size, 240);
  cr_expect_eq(x->offset % 64, 0);
  cr_expect_eq(y->offset % 64, 0);
  /* x and y are live together (x is read by the instruction that writes y). */
  cr_expect(x->offset + 240 <= y->offset || y->offset + 240 <= x->offset);
  cr_expect_eq(d->arena_align, 64);
  cr_expect_eq(d->arena_size, 512);
  compiled_free(&c);
}

Test(compiler, relu_to_bytes) {
  void *bytes = NULL;
  size_t n = 0;
  ivm_compile_report rep;
  ivm_status st = ivm_compile_onnx_file(ONNX_DATA "/node/test_relu/model.onnx", &bytes, &n, &rep);
  cr_assert_null(st, "%s", ivm_status_message(st));
  cr_assert_gt(n, 64);
  cr_expect_eq(memcmp(bytes, ISA_MAGIC, 8), 0);
  cr_expect_eq(rep.instructions, 1);
  cr_expect_eq(rep.constants, 0);
  cr_expect_eq(rep.arena_bytes, 512);
  cr_expect_eq(rep.unplanned_bytes, 512);
  free(bytes);
}

/* Conv with W as a graph input; attrs kernel_shape [3,3], pads [1,1,1,1], strides [2,2];
 * y [1,1,4,3]. */
Test(compiler, conv_with_strides_padding) {
  compiled c;
  compile_file_ok(ONNX_DATA "/node/test_conv_with_strides_padding/model.onnx", &c);
  const isa_module_def *d = &c.e.def;
  cr_assert_eq(d->n_instrs, 1);
  cr_expect_str_eq(op_name(&c, 0), "Conv");
  cr_assert_eq(d->n_inputs, 2);
  cr_expect_str_eq(d->tensors[d->inputs[0]].name, "x");
  cr_expect_str_eq(d->tensors[d->inputs[1]].name, "W");
  const int64_t ydims[4] = {1, 1, 4, 3};
  expect_dims(&d->tensors[d->outputs[0]], 4, ydims);
  const isa_def_instr *in = &d->instrs[0];
  cr_assert_eq(in->n_attrs, 3);
  /* schema order: auto_pad, dilations, group, kernel_shape, pads, strides */
  cr_expect_str_eq(in->attrs[0].name, "kernel_shape");
  cr_expect_str_eq(in->attrs[1].name, "pads");
  cr_expect_str_eq(in->attrs[2].name, "strides");
  cr_assert_eq(in->attrs[1].count, 4);
  const int64_t pads[4] = {1, 1, 1, 1};
  cr_expect_arr_eq(in->attrs[1].v.ints, pads, sizeof pads);
  cr_expect_eq(in->attrs[2].v.ints[0], 2);
  cr_expect_eq(in->n_in, 2);
  compiled_free(&c);
}

/* The shape is a graph input: the output's dims are only known at run time. */
Test(compiler, reshape_negative_dim_is_dynamic) {
  compiled c;
  compile_file_ok(ONNX_DATA "/node/test_reshape_negative_dim/model.onnx", &c);
  const isa_module_def *d = &c.e.def;
  cr_assert_eq(d->n_instrs, 1);
  cr_expect_str_eq(op_name(&c, 0), "Reshape");
  const isa_def_tensor *y = &d->tensors[d->outputs[0]];
  cr_expect_str_eq(y->name, "reshaped");
  cr_expect_eq(y->kind, ISA_TK_DYNAMIC);
  cr_expect_eq(y->size, 0);
  const isa_def_tensor *s = operand(&c, 0, 1);
  cr_expect_str_eq(s->name, "shape");
  cr_expect_eq(s->kind, ISA_TK_ARENA);
  cr_expect_eq(s->dtype, IVM_DT_I64);
  compiled_free(&c);
}

/* Opset 13 Softmax: no rewrite, axis 0 kept. */
Test(compiler, softmax_axis_0) {
  compiled c;
  compile_file_ok(ONNX_DATA "/node/test_softmax_axis_0/model.onnx", &c);
  cr_assert_eq(c.e.def.n_instrs, 1);
  cr_expect_str_eq(op_name(&c, 0), "Softmax");
  const isa_def_attr *a = find_attr(&c, 0, "axis");
  cr_assert_not_null(a);
  cr_expect_eq(a->v.i, 0);
  compiled_free(&c);
}

/* Opset 6 Softmax on the last axis needs no reshaping. */
Test(compiler, softmax_opset6_last_axis) {
  compiled c;
  compile_file_ok(ONNX_DATA "/pytorch-converted/test_softmax_lastdim/model.onnx", &c);
  cr_assert_eq(c.e.def.n_instrs, 1);
  cr_expect_str_eq(op_name(&c, 0), "Softmax");
  compiled_free(&c);
}

/* Opset 11 Softmax(axis=1) on [2,3,4]: Flatten(axis=1) -> Softmax(axis=1) -> Reshape to
 * the constant shape [2,3,4]. */
Test(compiler, softmax_opset11_rewrite) {
  mb b;
  mb_init(&b, 11);
  const int64_t xd[3] = {2, 3, 4};
  mb_input(&b, "x", IVM_DT_F32, 3, xd);
  Onnx__NodeProto *n = mb_node(&b, "Softmax", "sm", "x", "y");
  mb_attr_int(&b, n, "axis", 1);
  mb_output(&b, "y");
  compiled c;
  ivm_status st = compile_mb(&b, NULL, &c);
  cr_assert_null(st, "%s", ivm_status_message(st));
  const isa_module_def *d = &c.e.def;
  cr_assert_eq(d->n_instrs, 3);
  cr_expect_str_eq(op_name(&c, 0), "Flatten");
  cr_expect_str_eq(op_name(&c, 1), "Softmax");
  cr_expect_str_eq(op_name(&c, 2), "Reshape");
  cr_expect_eq(find_attr(&c, 0, "axis")->v.i, 1);
  cr_expect_eq(find_attr(&c, 1, "axis")->v.i, 1);
  const int64_t fd[2] = {2, 12};
  expect_dims(operand(&c, 0, 1), 2, fd);
  const isa_def_tensor *shape = operand(&c, 2, 1);
  cr_expect_eq(shape->kind, ISA_TK_CONST);
  cr_assert_eq(shape->size, 24);
  cr_expect_arr_eq(shape->data, xd, sizeof xd);
  const isa_def_tensor *y = &d->tensors[d->outputs[0]];
  cr_expect_str_eq(y->name, "y");
  expect_dims(y, 3, xd);
  for (uint32_t i = 0; i < 3; i++) cr_expect_str_eq(d->instrs[i].debug_name, "sm");
  compiled_free(&c);
}

Test(compiler, maxpool_with_indices) {
  compiled c;
  compile_file_ok(ONNX_DATA "/node/test_maxpool_with_argmax_2d_precomputed_strides/model.onnx", &c);
  cr_assert_eq(c.e.def.n_instrs, 1);
  cr_expect_str_eq(op_name(&c, 0), "MaxPool");
  cr_expect_eq(c.e.def.instrs[0].n_out, 2);
  cr_expect_eq(operand(&c, 0, 2)->dtype, IVM_DT_I64);
  compiled_free(&c);
}

/* Symbolic input dims: the input is DYNAMIC and keeps its symbol. */
Test(compiler, symbolic_input) {
  mb b;
  mb_init(&b, 13);
  const int64_t xd[2] = {-1, 4};
  mb_input(&b, "x", IVM_DT_F32, 2, xd);
  mb_node(&b, "Relu", "r", "x", "y");
  mb_output(&b, "y");
  compiled c;
  ivm_status st = compile_mb(&b, NULL, &c);
  cr_assert_null(st, "%s", ivm_status_message(st));
  const isa_module_def *d = &c.e.def;
  cr_assert_eq(d->n_symbols, 1);
  cr_expect_str_eq(d->symbols[0], "N");
  const isa_def_tensor *x = &d->tensors[d->inputs[0]];
  cr_expect_eq(x->kind, ISA_TK_DYNAMIC);
  cr_expect_eq(x->dims[0], ISA_DIM_SYM(0));
  cr_expect_eq(x->dims[1], 4);
  cr_expect_eq(d->tensors[d->outputs[0]].kind, ISA_TK_DYNAMIC);
  compiled_free(&c);
}

/* Relu -> Identity -> output: the Identity goes, Relu writes the output name directly.
 * An unused branch is removed. */
Test(compiler, identity_and_dead_code) {
  mb b;
  mb_init(&b, 13);
  const int64_t xd[1] = {8};
  mb_input(&b, "x", IVM_DT_F32, 1, xd);
  mb_node(&b, "Relu", "r", "x", "t");
  mb_node(&b, "Identity", "id", "t", "y");
  mb_node(&b, "Neg", "unused", "x", "u");
  mb_output(&b, "y");
  compiled c;
  ivm_status st = compile_mb(&b, NULL, &c);
  cr_assert_null(st, "%s", ivm_status_message(st));
  const isa_module_def *d = &c.e.def;
  cr_assert_eq(d->n_instrs, 1);
  cr_expect_str_eq(op_name(&c, 0), "Relu");
  cr_expect_str_eq(operand(&c, 0, 1)->name, "y");
  cr_expect_eq(d->instrs[0].operands[1], d->outputs[0]);
  cr_expect_eq(d->n_imports, 1);
  compiled_free(&c);
}

/* Constant folding: Constant + initializer folds into the output constant. */
Test(compiler, constant_folding) {
  mb b;
  mb_init(&b, 13);
  const int64_t xd[1] = {3};
  mb_input(&b, "x", IVM_DT_F32, 1, xd);
  int64_t wd[1] = {3};
  float w[3] = {1, 2, 3};
  mb_init_f32(&b, "w", 1, wd, w, 3);
  Onnx__NodeProto *k = mb_node(&b, "Constant", "k", "", "c");
  Onnx__AttributeProto *a = mb_attr(&b, k, "value_floats");
  float kv[3] = {10, 20, 30};
  a->has_type = 1;
  a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
  a->n_floats = 3;
  a->floats = kv;
  mb_node(&b, "Add", "fold", "w,c", "s");
  mb_node(&b, "Mul", "m", "x,s", "y");
  mb_output(&b, "y");
  compiled c;
  ivm_status st = compile_mb(&b, NULL, &c);
  cr_assert_null(st, "%s", ivm_status_message(st));
  cr_assert_eq(c.e.def.n_instrs, 1);
  cr_expect_str_eq(op_name(&c, 0), "Mul");
  const isa_def_tensor *s = operand(&c, 0, 1);
  cr_expect_eq(s->kind, ISA_TK_CONST);
  const float want[3] = {11, 22, 33};
  cr_assert_eq(s->size, 12);
  cr_expect_arr_eq(s->data, want, sizeof want);
  cr_expect_eq(c.e.n_constants, 1);
  compiled_free(&c);
}

/* Variadic Max of 3 becomes two binary Max; Clip-6 attributes become inputs. */
Test(compiler, variadic_and_clip6) {
  mb b;
  mb_init(&b, 6);
  const int64_t xd[1] = {4};
  mb_input(&b, "a", IVM_DT_F32, 1, xd);
  mb_input(&b, "b", IVM_DT_F32, 1, xd);
  mb_input(&b, "c", IVM_DT_F32, 1, xd);
  mb_node(&b, "Max", "mx", "a,b,c", "m");
  Onnx__NodeProto *n = mb_node(&b, "Clip", "cl", "m", "y");
  Onnx__AttributeProto *lo = mb_attr(&b, n, "min");
  lo->has_type = 1;
  lo->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
  lo->has_f = 1;
  lo->f = -0.5f;
  mb_output(&b, "y");
  compiled c;
  ivm_status st = compile_mb(&b, NULL, &c);
  cr_assert_null(st, "%s", ivm_status_message(st));
  cr_assert_eq(c.e.def.n_instrs, 3);
  cr_expect_str_eq(op_name(&c, 0), "Max");
  cr_expect_str_eq(op_name(&c, 1), "Max");
  cr_expect_str_eq(op_name(&c, 2), "Clip");
  cr_assert_eq(c.e.def.instrs[2].n_in, 2); /* X, min; max absent */
  const isa_def_tensor *mn = operand(&c, 2, 1);
  cr_expect_eq(mn->kind, ISA_TK_CONST);
  cr_expect_eq(*(const float *)mn->data, -0.5f);
  compiled_free(&c);
}

/* Opset 11 Unsqueeze: the axes attribute becomes a constant i64 input. */
Test(compiler, unsqueeze_opset11) {
  mb b;
  mb_init(&b, 11);
  const int64_t xd[2] = {3, 4};
  mb_input(&b, "x", IVM_DT_F32, 2, xd);
  Onnx__NodeProto *n = mb_node(&b, "Unsqueeze", "u", "x", "y");
  int64_t axes[2] = {0, 3};
  mb_attr_ints(&b, n, "axes", axes, 2);
  mb_output(&b, "y");
  compiled c;
  ivm_status st = compile_mb(&b, NULL, &c);
  cr_assert_null(st, "%s", ivm_status_message(st));
  cr_assert_eq(c.e.def.n_instrs, 1);
  cr_expect_str_eq(op_name(&c, 0), "Unsqueeze");
  const isa_def_tensor *ax = operand(&c, 0, 1);
  cr_expect_eq(ax->kind, ISA_TK_CONST);
  cr_expect_eq(ax->dtype, IVM_DT_I64);
  cr_expect_arr_eq(ax->data, axes, sizeof axes);
  const int64_t yd[4] = {1, 3, 4, 1};
  expect_dims(&c.e.def.tensors[c.e.def.outputs[0]], 4, yd);
  compiled_free(&c);
}

/* ---- errors ------------------------------------------------------------------------ */
Test(compiler, unsupported_op_message) {
  mb b;
  mb_init(&b, 13);
  const int64_t xd[1] = {2};
  mb_input(&b, "x", IVM_DT_F32, 1, xd);
  mb_node(&b, "Foo", "n1", "x", "y");
  mb_output(&b, "y");
  compiled c;
  ivm_status st = compile_mb(&b, NULL, &c);
  cr_assert_not_null(st);
  cr_expect_eq(ivm_status_get_code(st), IVM_ERR_UNSUPPORTED);
  cr_expect(strstr(ivm_status_message(st), "unsupported op 'Foo' (node 'n1', opset 13)") != NULL,
            "message: %s", ivm_status_message(st));
  ivm_status_free(st);
  compiled_free(&c);
}

/* Training mode is expanded into ReduceMean / Sub / Mul / BatchNormalization by the math
 * family (compiler/onnx_ops_math.c). */
Test(compiler, batchnorm_training_mode_compiles) {
  compiled c;
  uint8_t *bytes;
  size_t n;
  cr_assert_null(cc_read_file(ONNX_DATA "/node/test_batchnorm_example_training_mode/model.onnx",
                              &bytes, &n));
  ivm_status st = compile_bytes(bytes, n, NULL, &c);
  free(bytes);
  cr_expect_null(st, "%s", st ? ivm_status_message(st) : "");
  ivm_status_free(st);
  compiled_free(&c);
}

Test(compiler, truncated_and_garbled) {
  uint8_t *bytes;
  size_t n;
  cr_assert_null(cc_read_file(ONNX_DATA "/node/test_conv_with_strides_padding/model.onnx", &bytes, &n));
  compiled c;
  ivm_status st = compile_bytes(bytes, n / 2, NULL, &c);
  cr_assert_not_null(st);
  cr_expect_eq(ivm_status_get_code(st), IVM_ERR_FORMAT, "%s", ivm_status_message(st));
  ivm_status_free(st);
  compiled_free(&c);
  /* Every truncation gives an error or a module, never a crash. */
  for (size_t len = 0; len < n; len++) {
    st = compile_bytes(bytes, len, NULL, &c);
    ivm_status_free(st);
    compiled_free(&c);
  }
  /* Garbage */
  uint8_t junk[512];
  uint32_t s = 99;
  for (size_t i = 0; i < sizeof junk; i++) {
    s = s * 1103515245u + 12345u;
    junk[i] = (uint8_t)(s >> 16);
  }
  st = compile_bytes(junk, sizeof junk, NULL, &c);
  cr_assert_not_null(st);
  cr_expect_eq(ivm_status_get_code(st), IVM_ERR_FORMAT, "%s", ivm_status_message(st));
  ivm_status_free(st);
  compiled_free(&c);
  /* Flipped bytes: anything but a crash. */
  for (size_t i = 0; i < n; i += 3) {
    uint8_t save = bytes[i];
    bytes[i] ^= 0xa5;
    st = compile_bytes(bytes, n, NULL, &c);
    ivm_status_free(st);
    compiled_free(&c);
    bytes[i] = save;
  }
  free(bytes);
  /* A file that is not there. */
  void *out;
  size_t out_n;
  st = ivm_compile_onnx_file("/nonexistent/model.onnx", &out, &out_n, NULL);
  cr_assert_not_null(st);
  cr_expect_eq(ivm_status_get_code(st), IVM_ERR_NOT_FOUND);
  ivm_status_free(st);
}

/* External data: read relative to the model's directory; absolute paths and '..'
 * are refused. */
Test(compiler, external_data) {
  char dir[256];
  snprintf(dir, sizeof dir, "/tmp/ivm_test_ext_%ld", (long)getpid());
  mkdir(dir, 0700);
  char path[300];
  snprintf(path, sizeof path, "%s/w.bin", dir);
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f);
  const float pad[2] = {0, 0}, w[2] = {1.5f, -2.0f};
  fwrite(pad, sizeof pad, 1, f);
  fwrite(w, sizeof w, 1, f);
  fclose(f);
  for (int variant = 0; variant < 3; variant++) {
    mb b;
    mb_init(&b, 13);
    const int64_t xd[1] = {2};
    mb_input(&b, "x", IVM_DT_F32, 1, xd);
    int64_t wd[1] = {2};
    Onnx__TensorProto *t = mb_init_f32(&b, "w", 1, wd, NULL, 0);
    Onnx__StringStringEntryProto e[3], *ep[3];
    const char *locs[3] = {"w.bin", "/etc/passwd", "../w.bin"};
    const char *keys[3] = {"location", "offset", "length"};
    const char *vals[3] = {locs[variant], "8", "8"};
    for (int k = 0; k < 3; k++) {
      onnx__string_string_entry_proto__init(&e[k]);
      e[k].key = (char *)keys[k];
      e[k].value = (char *)vals[k];
      ep[k] = &e[k];
    }
    t->n_external_data = 3;
    t->external_data = ep;
    t->has_data_location = 1;
    t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    mb_node(&b, "Mul", "m", "x,w", "y");
    mb_output(&b, "y");
    compiled c;
    ivm_status st = compile_mb(&b, dir, &c);
    if (variant == 0) {
      cr_assert_null(st, "%s", ivm_status_message(st));
      const isa_def_tensor *wt = operand(&c, 0, 1);
      cr_expect_eq(wt->kind, ISA_TK_CONST);
      cr_expect_arr_eq(wt->data, w, sizeof w);
    } else {
      cr_assert_not_null(st, "variant %d", variant);
      cr_expect_eq(ivm_status_get_code(st), IVM_ERR_PERMISSION, "%s", ivm_status_message(st));
      ivm_status_free(st);
    }
    compiled_free(&c);
  }
  unlink(path);
  rmdir(dir);
}

/* ---- Conv + BatchNormalization fold (compiler/pass_fuse.c) ----------------------------- */
static uint32_t count_op(const compiled *c, const char *name) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < c->e.def.n_instrs; i++) n += strcmp(op_name(c, i), name) == 0;
  return n;
}

/* Runs the model through the public API and compares output k with a numpy fixture. */
static void run_matches(const char *model, uint32_t k, const char *want_npy) {
  void *bytes;
  size_t size;
  ivm_status st = ivm_compile_onnx_file(model, &bytes, &size, NULL);
  cr_assert_null(st, "%s", ivm_status_message(st));
  ivm_module *m;
  cr_assert_null(ivm_module_load_memory(bytes, size, 1, NULL, &m));
  ivm_session *s;
  cr_assert_null(ivm_session_create(m, NULL, &s));
  ivm_host_tensor x, want;
  cr_assert_null(ivm_host_tensor_read_file(IVM_TEST_DATA "/conv_bn_x.npy", &x));
  cr_assert_null(ivm_host_tensor_read_file(want_npy, &want));
  cr_assert_null(ivm_session_bind_input(s, 0, x.dtype, x.rank, x.dims, x.data, x.nbytes));
  cr_assert_null(ivm_session_run(s));
  ivm_tensor_view v;
  cr_assert_null(ivm_session_output(s, k, &v));
  cr_assert_eq(v.nbytes, want.nbytes);
  const float *g = v.data, *w = want.data;
  for (size_t i = 0; i < v.nbytes / 4; i++)
    cr_assert(fabsf(g[i] - w[i]) <= 1e-4f * (1 + fabsf(w[i])), "%s[%zu]: %g vs %g", want_npy, i,
              g[i], w[i]);
  ivm_host_tensor_free(&x);
  ivm_host_tensor_free(&want);
  ivm_session_destroy(s);
  ivm_module_release(m);
}

Test(fuse, conv_batchnorm_folds_into_the_conv) {
  compiled c;
  compile_file_ok(IVM_TEST_DATA "/conv_bn.onnx", &c);
  cr_assert_eq(count_op(&c, "BatchNormalization"), 0, "both BNs fold (with and without bias)");
  cr_assert_eq(count_op(&c, "FusedConv"), 1, "Conv + BN + Relu");
  cr_assert_eq(count_op(&c, "Conv"), 1);
  cr_assert_eq(c.e.def.n_instrs, 2, "FusedConv (with Relu), Conv");
  compiled_free(&c);
  run_matches(IVM_TEST_DATA "/conv_bn.onnx", 0, IVM_TEST_DATA "/conv_bn_y.npy");
  run_matches(IVM_TEST_DATA "/conv_bn.onnx", 1, IVM_TEST_DATA "/conv_bn_z.npy");
}

Test(fuse, conv_output_read_elsewhere_is_not_folded) {
  compiled c;
  compile_file_ok(IVM_TEST_DATA "/conv_bn_shared.onnx", &c);
  cr_assert_eq(count_op(&c, "BatchNormalization"), 1);
  compiled_free(&c);
  run_matches(IVM_TEST_DATA "/conv_bn_shared.onnx", 0, IVM_TEST_DATA "/conv_bn_y.npy");
}

/* ---- fixed input shapes (ivm_compile_options.input_shapes, ivm compile --shape) ---- */
static ivm_status compile_with_shape(const ivm_input_shape *shapes, uint32_t n, ivm_module **m) {
  ivm_compile_options co = {NULL, 0, shapes, n};
  void *bytes;
  size_t size;
  IVM_TRY(ivm_compile_onnx_file_opts(IVM_TEST_DATA "/dyn_mlp.onnx", &co, &bytes, &size, NULL));
  return ivm_module_load_memory(bytes, size, 1, NULL, m);
}

Test(compiler, fixed_input_shape_makes_every_shape_static_and_gives_numpys_answer) {
  ivm_input_shape shape = {"x", 2, {3, 8}};
  ivm_module *m;
  ivm_status st = compile_with_shape(&shape, 1, &m);
  cr_assert_null(st, "%s", ivm_status_message(st));
  ivm_tensor_info info;
  cr_assert_null(ivm_module_input_info(m, 0, &info));
  cr_assert(info.rank == 2 && info.dims[0] == 3 && info.dims[1] == 8);
  cr_assert_null(ivm_module_output_info(m, 1, &info)); /* Reshape(x, Shape(x)): folded */
  cr_assert(info.rank == 2 && info.dims[0] == 3 && info.dims[1] == 8, "y2 rank %d", info.rank);
  ivm_session *s;
  cr_assert_null(ivm_session_create(m, NULL, &s));
  ivm_host_tensor x, want;
  cr_assert_null(ivm_host_tensor_read_file(IVM_TEST_DATA "/dyn_mlp_x.npy", &x));
  cr_assert_null(ivm_host_tensor_read_file(IVM_TEST_DATA "/dyn_mlp_y.npy", &want));
  cr_assert_null(ivm_session_bind_input(s, 0, x.dtype, x.rank, x.dims, x.data, x.nbytes));
  cr_assert_null(ivm_session_run(s));
  ivm_tensor_view v;
  cr_assert_null(ivm_session_output(s, 0, &v));
  cr_assert_eq(v.nbytes, want.nbytes);
  const float *g = v.data, *w = want.data;
  for (size_t i = 0; i < v.nbytes / 4; i++)
    cr_assert(fabsf(g[i] - w[i]) <= 1e-5f * (1 + fabsf(w[i])), "y[%zu]: %g vs %g", i, g[i], w[i]);
  /* Another batch size is refused: the module is for [3, 8] only. */
  int64_t other[2] = {4, 8};
  float z[32] = {0};
  st = ivm_session_bind_input(s, 0, IVM_DT_F32, 2, other, z, sizeof z);
  cr_assert_not_null(st);
  ivm_status_free(st);
  ivm_host_tensor_free(&x);
  ivm_host_tensor_free(&want);
  ivm_session_destroy(s);
  ivm_module_release(m);
}

Test(compiler, fixed_input_shape_errors_name_the_input) {
  struct {
    ivm_input_shape shape;
    const char *msg;
  } cases[] = {
      {{"x", 3, {3, 8, 1}}, "input 'x': the model gives rank 2, not 3"},
      {{"x", 2, {3, 9}}, "input 'x': dim 1 is 8 in the model, not 9"},
      {{"X", 2, {3, 8}}, "input shape given for 'X', which is not a graph input"},
      {{"x", 2, {-1, 8}}, "input 'x': dim 0 is negative"},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    ivm_module *m = NULL;
    ivm_status st = compile_with_shape(&cases[k].shape, 1, &m);
    cr_assert_not_null(st, "case %zu compiled", k);
    cr_assert(strstr(ivm_status_message(st), cases[k].msg), "case %zu: %s", k, ivm_status_message(st));
    ivm_status_free(st);
  }
}

/* An If branch that does not infer for the shapes given (tests/data/make_dyn_shape.py:
 * the else branch squeezes x's dim 1, fixed to 4) still compiles: its node reads x through
 * a copy with unknown dims and is checked at run time. The taken branch gives Relu(x); the
 * other, when forced, fails with the instruction's error instead of at load. */
static ivm_status run_if_branch(ivm_module *m, const float *x, int64_t n, uint8_t c, float *y) {
  ivm_session *s;
  IVM_TRY(ivm_session_create(m, NULL, &s));
  int64_t dims[2] = {1, n};
  ivm_status st = ivm_session_bind_input(s, 0, IVM_DT_F32, 2, dims, x, (size_t)n * sizeof *x);
  if (!st) st = ivm_session_bind_input(s, 1, IVM_DT_BOOL, 0, NULL, &c, 1);
  if (!st) st = ivm_session_run(s);
  ivm_tensor_view v;
  if (!st) st = ivm_session_output(s, 0, &v);
  if (!st) memcpy(y, v.data, v.nbytes < (size_t)n * 4 ? v.nbytes : (size_t)n * 4);
  ivm_session_destroy(s);
  return st;
}

Test(compiler, fixed_shape_that_an_untaken_if_branch_cannot_take_compiles) {
  ivm_input_shape shape = {"x", 2, {1, 4}};
  ivm_compile_options co = {NULL, 0, &shape, 1};
  void *bytes;
  size_t size;
  ivm_status st =
      ivm_compile_onnx_file_opts(IVM_TEST_DATA "/if_branch_shapes.onnx", &co, &bytes, &size, NULL);
  cr_assert_null(st, "%s", ivm_status_message(st));
  ivm_module *m;
  cr_assert_null(ivm_module_load_memory(bytes, size, 1, NULL, &m));
  const float x[4] = {-1.5f, 2.0f, -0.0f, 3.25f};
  float y[4] = {0};
  cr_assert_null(run_if_branch(m, x, 4, 1, y));
  for (int i = 0; i < 4; i++) cr_expect_eq(y[i], x[i] > 0 ? x[i] : 0.0f, "y[%d] = %g", i, y[i]);
  st = run_if_branch(m, x, 4, 0, y);
  cr_assert_not_null(st, "the else branch cannot squeeze dim 1 of size 4");
  cr_expect(strstr(ivm_status_message(st), "Squeeze"), "%s", ivm_status_message(st));
  ivm_status_free(st);
  ivm_module_release(m);
  /* Where both branches infer (x [1, 1]), the else branch runs as usual. */
  shape.dims[1] = 1;
  cr_assert_null(
      ivm_compile_onnx_file_opts(IVM_TEST_DATA "/if_branch_shapes.onnx", &co, &bytes, &size, NULL));
  cr_assert_null(ivm_module_load_memory(bytes, size, 1, NULL, &m));
  cr_assert_null(run_if_branch(m, x, 1, 0, y));
  cr_expect_eq(y[0], -1.5f);
  ivm_module_release(m);
}
