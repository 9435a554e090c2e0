/* ONNX node -> canonical IVM ops (docs/architecture.md, "The op table"). Every opset
 * version the ONNX backend tests use is rewritten here so that kernels and inference see
 * one signature per op. */
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/onnx_ops.h"


/* ---- attributes ------------------------------------------------------------------- */
const Onnx__AttributeProto *tr_attr(const tr *t, const char *name) {
  for (size_t i = 0; i < t->n->n_attribute; i++) {
    const Onnx__AttributeProto *a = t->n->attribute[i];
    if (a && a->name && strcmp(a->name, name) == 0) return a;
  }
  return NULL;
}

int64_t tr_attr_int(const tr *t, const char *name, int64_t def) {
  const Onnx__AttributeProto *a = tr_attr(t, name);
  return a && (a->has_i || a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT) ? a->i : def;
}

float tr_attr_float(const tr *t, const char *name, float def) {
  const Onnx__AttributeProto *a = tr_attr(t, name);
  return a && (a->has_f || a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT) ? a->f : def;
}

static int ignored(const char *name, const char *const *ignore) {
  for (; ignore && *ignore; ignore++)
    if (strcmp(*ignore, name) == 0) return 1;
  return 0;
}

/* Copies the ONNX attributes onto node `node`, by schema name. */
ivm_status tr_copy_attrs(tr *t, uint32_t node, const char *const *ignore) {
  cc_graph *g = t->im->g;
  for (size_t i = 0; i < t->n->n_attribute; i++) {
    const Onnx__AttributeProto *a = t->n->attribute[i];
    if (!a || !a->name) return ivm_error(IVM_ERR_FORMAT, "attribute %zu has no name", i);
    if (ignored(a->name, ignore) || strcmp(a->name, "consumed_inputs") == 0) continue;
    ivm_status st = NULL;
    switch (a->type) {
      case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT:
        st = cc_node_set_int(g, node, a->name, a->i);
        break;
      case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT:
        st = cc_node_set_float(g, node, a->name, a->f);
        break;
      case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING: {
        if (a->s.len > 4096 || memchr(a->s.data, 0, a->s.len))
          return cc_imp_unsupported(t->im, "attribute '%s' of op '%s': bad string", a->name,
                                    t->op_type);
        char buf[4097];
        memcpy(buf, a->s.data, a->s.len);
        buf[a->s.len] = 0;
        st = cc_node_set_attr(g, node, a->name, ISA_ATTR_STRING, 0, 0, buf, NULL, 0);
        break;
      }
      case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS:
        if (a->n_ints > UINT32_MAX) return ivm_error(IVM_ERR_FORMAT, "attribute too long");
        st = cc_node_set_attr(g, node, a->name, ISA_ATTR_INTS, 0, 0, NULL, a->ints,
                              (uint32_t)a->n_ints);
        break;
      case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS:
        if (a->n_floats > UINT32_MAX) return ivm_error(IVM_ERR_FORMAT, "attribute too long");
        st = cc_node_set_attr(g, node, a->name, ISA_ATTR_FLOATS, 0, 0, NULL, a->floats,
                              (uint32_t)a->n_floats);
        break;
      default:
        return cc_imp_unsupported(t->im, "unsupported attribute '%s' (type %d) of op '%s'",
                                  a->name, (int)a->type, t->op_type);
    }
    if (st) {
      ivm_status_code c = ivm_status_get_code(st);
      ivm_status_free(st);
      if (c == IVM_ERR_OUT_OF_MEMORY) return ivm_error(c, "compiler: out of memory");
      return cc_imp_unsupported(t->im, "unsupported attribute '%s' of op '%s'", a->name,
                                t->op_type);
    }
  }
  return NULL;
}

/* ---- node building ----------------------------------------------------------------- */
ivm_status tr_node(tr *t, isa_builtin_op op, const int32_t *in, uint32_t n_in,
                       const int32_t *out, uint32_t n_out, uint32_t *out_node) {
  /* trailing absent optional inputs/outputs are dropped */
  while (n_in > 0 && in[n_in - 1] < 0) n_in--;
  while (n_out > 1 && out[n_out - 1] < 0) n_out--;
  const isa_op_desc *d = isa_builtin_desc(op);
  if (n_in < d->min_in || (d->max_in != ISA_VARIADIC && n_in > d->max_in) || n_out < d->min_out ||
      (d->max_out != ISA_VARIADIC && n_out > d->max_out))
    return cc_imp_unsupported(t->im, "op '%s' with %u inputs and %u outputs", t->op_type, n_in, n_out);
  return cc_add_node(t->im->g, op, t->im->node_name, in, n_in, out, n_out, out_node);
}

int32_t tr_tmp(tr *t) {
  return cc_add_value(t->im->g, NULL, CC_V_INTER);
}

ivm_status tr_const_i64(tr *t, const int64_t *v, size_t n, int rank, int32_t *id) {
  if (n > UINT32_MAX) return ivm_error(IVM_ERR_FORMAT, "list too long");
  return cc_add_const_i64(t->im->g, t->im->node_name, v, (uint32_t)n, rank, id);
}

/* One-element constant of dtype dt holding v (rank 0 or 1). */
ivm_status tr_const_scalar(tr *t, int dt, double v, int rank, int32_t *id) {
  size_t es = ivm_dtype_size((ivm_dtype)dt);
  if (!es) return cc_imp_unsupported(t->im, "op '%s' on dtype %d", t->op_type, dt);
  void *p = calloc(1, es < 8 ? 8 : es);
  if (!p) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
  switch (dt) {
    case IVM_DT_F32: *(float *)p = (float)v; break;
    case IVM_DT_F64: *(double *)p = v; break;
    case IVM_DT_F16: *(uint16_t *)p = isa_f32_to_f16((float)v); break;
    case IVM_DT_BF16: *(uint16_t *)p = isa_f32_to_bf16((float)v); break;
    case IVM_DT_I8: *(int8_t *)p = (int8_t)v; break;
    case IVM_DT_U8: *(uint8_t *)p = (uint8_t)v; break;
    case IVM_DT_BOOL: *(uint8_t *)p = v != 0; break;
    case IVM_DT_I16: *(int16_t *)p = (int16_t)v; break;
    case IVM_DT_U16: *(uint16_t *)p = (uint16_t)v; break;
    case IVM_DT_I32: *(int32_t *)p = (int32_t)v; break;
    case IVM_DT_U32: *(uint32_t *)p = (uint32_t)v; break;
    case IVM_DT_I64: *(int64_t *)p = (int64_t)v; break;
    case IVM_DT_U64: *(uint64_t *)p = (uint64_t)v; break;
    default: free(p); return cc_imp_unsupported(t->im, "op '%s' on dtype %d", t->op_type, dt);
  }
  int64_t one = 1;
  char name[64];
  snprintf(name, sizeof name, "_ivm_s%u", t->im->g->tmp_counter++);
  return cc_add_const(t->im->g, name, dt, rank, &one, p, es, id);
}

const isa_type *tr_vtype(tr *t, int32_t id) { return &t->im->g->values[id].type; }

/* The canonical op has the same inputs, outputs and attributes. */
ivm_status tr_direct(tr *t, isa_builtin_op op, const char *const *ignore) {
  uint32_t nd;
  IVM_TRY(tr_node(t, op, t->in, t->n_in, t->out, t->n_out, &nd));
  return tr_copy_attrs(t, nd, ignore);
}

/* An ints attribute (if present) becomes an i64 input at position pos. */
ivm_status tr_ints_attr_to_input(tr *t, const char *name, int32_t *in, uint32_t pos,
                                     uint32_t *n_in) {
  const Onnx__AttributeProto *a = tr_attr(t, name);
  if (!a) return NULL;
  int32_t id;
  IVM_TRY(tr_const_i64(t, a->ints, a->n_ints, 1, &id));
  while (*n_in < pos) in[(*n_in)++] = CC_NONE;
  in[pos] = id;
  if (*n_in <= pos) *n_in = pos + 1;
  return NULL;
}

/* ---- handlers ---------------------------------------------------------------------- */
static ivm_status tr_binary(tr *t, isa_builtin_op op) {
  if (t->n_in != 2 || t->in[0] < 0 || t->in[1] < 0)
    return cc_imp_unsupported(t->im, "op '%s' needs 2 inputs", t->op_type);
  int32_t b = t->in[1];
  if (tr_attr_int(t, "broadcast", 0) && tr_attr(t, "axis")) {
    /* Legacy (opset < 7) broadcasting: B aligns with A starting at `axis`. Append
     * trailing 1s to B so that numpy broadcasting gives the same result. */
    const isa_type *ta = tr_vtype(t, t->in[0]), *tb = tr_vtype(t, b);
    if (ta->rank < 0 || tb->rank < 0)
      return cc_imp_unsupported(t->im, "op '%s' with legacy axis broadcasting on unknown ranks",
                                t->op_type);
    int64_t axis = tr_attr_int(t, "axis", 0);
    if (axis < 0) axis += ta->rank;
    int64_t extra = ta->rank - axis - tb->rank;
    if (axis < 0 || extra < 0)
      return cc_imp_unsupported(t->im, "op '%s' with broadcast axis %lld", t->op_type,
                                (long long)tr_attr_int(t, "axis", 0));
    if (extra > 0) {
      int64_t axes[ISA_MAX_RANK];
      for (int64_t k = 0; k < extra; k++) axes[k] = tb->rank + k;
      int32_t ax, nb = tr_tmp(t);
      if (nb < 0) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
      IVM_TRY(tr_const_i64(t, axes, (size_t)extra, 1, &ax));
      int32_t in2[2] = {b, ax};
      uint32_t nd;
      IVM_TRY(tr_node(t, ISA_OP_Unsqueeze, in2, 2, &nb, 1, &nd));
      b = nb;
    }
  }
  int32_t in[2] = {t->in[0], b};
  uint32_t nd;
  return tr_node(t, op, in, 2, t->out, 1, &nd);
}

/* Variadic Min/Max/Sum/Mean as a chain of binary ops. */
static ivm_status tr_variadic(tr *t, isa_builtin_op op, int mean) {
  uint32_t n = 0;
  int32_t ins[MAX_IO];
  for (uint32_t i = 0; i < t->n_in; i++)
    if (t->in[i] >= 0) ins[n++] = t->in[i];
  if (n == 0) return cc_imp_unsupported(t->im, "op '%s' with no inputs", t->op_type);
  uint32_t nd;
  if (n == 1 && !mean) return tr_node(t, ISA_OP_Identity, ins, 1, t->out, 1, &nd);
  int32_t acc = ins[0];
  for (uint32_t i = 1; i < n; i++) {
    int32_t o = (i == n - 1 && !mean) ? t->out[0] : tr_tmp(t);
    if (o < 0) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
    int32_t in2[2] = {acc, ins[i]};
    IVM_TRY(tr_node(t, op, in2, 2, &o, 1, &nd));
    acc = o;
  }
  if (mean) {
    int dt = tr_vtype(t, ins[0])->dtype;
    if (!isa_dtype_is_float(dt)) return cc_imp_unsupported(t->im, "op 'Mean' on non-float input");
    int32_t c;
    IVM_TRY(tr_const_scalar(t, dt, (double)n, 0, &c));
    int32_t in2[2] = {acc, c};
    IVM_TRY(tr_node(t, ISA_OP_Div, in2, 2, t->out, 1, &nd));
  }
  return NULL;
}

static ivm_status tr_clip(tr *t) {
  if (t->im->opset >= 11) return tr_direct(t, ISA_OP_Clip, NULL);
  int32_t in[3] = {t->in[0], CC_NONE, CC_NONE};
  const char *names[2] = {"min", "max"};
  for (int k = 0; k < 2; k++) {
    const Onnx__AttributeProto *a = tr_attr(t, names[k]);
    if (a) IVM_TRY(tr_const_scalar(t, IVM_DT_F32, a->f, 0, &in[k + 1]));
  }
  uint32_t nd;
  return tr_node(t, ISA_OP_Clip, in, 3, t->out, 1, &nd);
}

static ivm_status tr_softmax(tr *t, isa_builtin_op op) {
  if (t->im->opset >= 13) return tr_direct(t, op, NULL);
  /* Opset < 13: coerce to 2-D at axis (default 1), softmax over the flattened tail. */
  int64_t axis = tr_attr_int(t, "axis", 1);
  const isa_type *tx = tr_vtype(t, t->in[0]);
  uint32_t nd;
  if (tx->rank >= 0) {
    int64_t a = axis < 0 ? axis + tx->rank : axis;
    if (a == tx->rank - 1) {
      IVM_TRY(tr_node(t, op, t->in, 1, t->out, 1, &nd));
      return cc_node_set_int(t->im->g, nd, "axis", -1);
    }
  }
  int32_t flat = tr_tmp(t), sm = tr_tmp(t), shp = tr_tmp(t);
  if (flat < 0 || sm < 0 || shp < 0) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
  IVM_TRY(tr_node(t, ISA_OP_Flatten, t->in, 1, &flat, 1, &nd));
  IVM_TRY(cc_node_set_int(t->im->g, nd, "axis", axis));
  IVM_TRY(tr_node(t, op, &flat, 1, &sm, 1, &nd));
  IVM_TRY(cc_node_set_int(t->im->g, nd, "axis", 1));
  IVM_TRY(tr_node(t, ISA_OP_Shape, t->in, 1, &shp, 1, &nd));
  int32_t in2[2] = {sm, shp};
  return tr_node(t, ISA_OP_Reshape, in2, 2, t->out, 1, &nd);
}

static ivm_status tr_reduce(tr *t, isa_builtin_op op) {
  int64_t attr_until = op == ISA_OP_ReduceSum ? 13 : 18;
  if (t->im->opset >= attr_until) return tr_direct(t, op, NULL);
  int32_t in[2] = {t->in[0], CC_NONE};
  uint32_t n_in = 1, nd;
  IVM_TRY(tr_ints_attr_to_input(t, "axes", in, 1, &n_in));
  IVM_TRY(tr_node(t, op, in, n_in, t->out, 1, &nd));
  static const char *const ign[] = {"axes", NULL};
  return tr_copy_attrs(t, nd, ign);
}

/* An op whose attribute list became inputs at opset `since`. */
static ivm_status tr_attrs_to_inputs(tr *t, isa_builtin_op op, int64_t since,
                                     const char *const *names, uint32_t first_pos) {
  if (t->im->opset >= since) return tr_direct(t, op, NULL);
  int32_t in[8];
  uint32_t n_in = 0;
  for (uint32_t i = 0; i < t->n_in && i < first_pos; i++) in[n_in++] = t->in[i];
  while (n_in < first_pos) in[n_in++] = CC_NONE;
  for (uint32_t k = 0; names[k]; k++)
    IVM_TRY(tr_ints_attr_to_input(t, names[k], in, first_pos + k, &n_in));
  uint32_t nd;
  IVM_TRY(tr_node(t, op, in, n_in, t->out, t->n_out, &nd));
  return tr_copy_attrs(t, nd, names);
}

static ivm_status tr_pad(tr *t) {
  if (t->im->opset >= 11) {
    if (t->n_in > 3 && t->in[3] >= 0) return cc_imp_unsupported(t->im, "op 'Pad' with axes input");
    return tr_direct(t, ISA_OP_Pad, NULL);
  }
  int32_t in[3] = {t->in[0], CC_NONE, CC_NONE};
  const Onnx__AttributeProto *p = tr_attr(t, "pads");
  if (!p) return cc_imp_unsupported(t->im, "op 'Pad' without pads");
  IVM_TRY(tr_const_i64(t, p->ints, p->n_ints, 1, &in[1]));
  float v = tr_attr_float(t, "value", 0.0f);
  if (v != 0.0f) IVM_TRY(tr_const_scalar(t, tr_vtype(t, t->in[0])->dtype, v, 0, &in[2]));
  uint32_t nd;
  IVM_TRY(tr_node(t, ISA_OP_Pad, in, 3, t->out, 1, &nd));
  static const char *const ign[] = {"pads", "value", "paddings", NULL};
  return tr_copy_attrs(t, nd, ign);
}

static ivm_status tr_constant_of_shape(tr *t) {
  int32_t in[2] = {t->in[0], CC_NONE};
  const Onnx__AttributeProto *a = tr_attr(t, "value");
  if (a) {
    if (!a->t) return cc_imp_unsupported(t->im, "op 'ConstantOfShape' value is not a tensor");
    cc_tensor ct;
    IVM_TRY(cc_tensor_from_proto(a->t, t->im->base_dir, &ct));
    IVM_TRY(cc_add_const(t->im->g, NULL, ct.dtype, ct.rank, ct.dims, ct.data, ct.nbytes, &in[1]));
  }
  uint32_t nd;
  return tr_node(t, ISA_OP_ConstantOfShape, in, 2, t->out, 1, &nd);
}

static ivm_status tr_batchnorm(tr *t) {
  if (tr_attr_int(t, "training_mode", 0) != 0) {
    int handled = 0; /* the math family expands training mode (compiler/onnx_ops_math.c) */
    IVM_TRY(cc_tr_math(t, &handled));
    if (handled) return NULL;
    return cc_imp_unsupported(t->im, "op 'BatchNormalization' in training mode");
  }
  if (tr_attr_int(t, "spatial", 1) != 1)
    return cc_imp_unsupported(t->im, "op 'BatchNormalization' with spatial=0");
  for (uint32_t i = 1; i < t->n_out; i++)
    if (t->out[i] >= 0)
      return cc_imp_unsupported(t->im, "op 'BatchNormalization' with training outputs");
  uint32_t nd;
  IVM_TRY(tr_node(t, ISA_OP_BatchNormalization, t->in, t->n_in, t->out, 1, &nd));
  static const char *const ign[] = {"training_mode", "spatial", "is_test", "momentum", NULL};
  return tr_copy_attrs(t, nd, ign);
}

static ivm_status tr_dropout_training(tr *t) {
  int handled = 0; /* the train family has the training-mode op (compiler/onnx_ops_train.c) */
  IVM_TRY(cc_tr_train(t, &handled));
  if (handled) return NULL;
  return cc_imp_unsupported(t->im, "op 'Dropout' in training mode");
}

static ivm_status tr_dropout(tr *t) {
  /* Inference: Dropout is the identity; the mask is all true. */
  if (t->n_in > 2 && t->in[2] >= 0) {
    const cc_value *m = &t->im->g->values[t->in[2]];
    if (m->kind != CC_V_CONST || m->nbytes < 1 || ((const uint8_t *)m->data)[0] != 0)
      return tr_dropout_training(t);
  }
  if (tr_attr(t, "is_test") && tr_attr_int(t, "is_test", 0) == 0 && t->im->opset < 7)
    return tr_dropout_training(t);
  uint32_t nd;
  IVM_TRY(tr_node(t, ISA_OP_Identity, t->in, 1, t->out, 1, &nd));
  if (t->n_out > 1 && t->out[1] >= 0) {
    int32_t shp = tr_tmp(t), one;
    if (shp < 0) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
    IVM_TRY(tr_node(t, ISA_OP_Shape, t->in, 1, &shp, 1, &nd));
    IVM_TRY(tr_const_scalar(t, IVM_DT_BOOL, 1, 1, &one));
    int32_t in2[2] = {shp, one};
    IVM_TRY(tr_node(t, ISA_OP_ConstantOfShape, in2, 2, &t->out[1], 1, &nd));
  }
  return NULL;
}

static ivm_status tr_constant(tr *t) {
  const Onnx__AttributeProto *a = t->n->n_attribute == 1 ? t->n->attribute[0] : NULL;
  if (!a || !a->name)
    return cc_imp_unsupported(t->im, "op 'Constant' without exactly one value attribute");
  if (t->n_out != 1 || !t->n->output[0] || !*t->n->output[0])
    return ivm_error(IVM_ERR_FORMAT, "node '%s': Constant needs one output", t->im->node_name);
  const char *out = t->n->output[0];
  cc_graph *g = t->im->g;
  int32_t id;
  if (strcmp(a->name, "value") == 0 && a->t) {
    cc_tensor ct;
    IVM_TRY(ivm_status_wrap(cc_tensor_from_proto(a->t, t->im->base_dir, &ct), "node '%s'",
                            t->im->node_name));
    IVM_TRY(cc_add_const(g, out, ct.dtype, ct.rank, ct.dims, ct.data, ct.nbytes, &id));
  } else if (strcmp(a->name, "value_float") == 0 || strcmp(a->name, "value_int") == 0) {
    int isf = a->name[6] == 'f';
    void *p = malloc(8);
    if (!p) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
    if (isf) *(float *)p = a->f; else *(int64_t *)p = a->i;
    IVM_TRY(cc_add_const(g, out, isf ? IVM_DT_F32 : IVM_DT_I64, 0, NULL, p, isf ? 4 : 8, &id));
  } else if (strcmp(a->name, "value_floats") == 0 || strcmp(a->name, "value_ints") == 0) {
    int isf = a->name[6] == 'f';
    size_t n = isf ? a->n_floats : a->n_ints, es = isf ? 4 : 8;
    void *p = malloc(n ? n * es : 1);
    if (!p) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
    if (n) memcpy(p, isf ? (const void *)a->floats : (const void *)a->ints, n * es);
    int64_t dim = (int64_t)n;
    IVM_TRY(cc_add_const(g, out, isf ? IVM_DT_F32 : IVM_DT_I64, 1, &dim, p, n * es, &id));
  } else {
    return cc_imp_unsupported(t->im, "op 'Constant' with attribute '%s'", a->name);
  }
  return cc_imp_define(t->im, out, id);
}

/* ---- dispatch ---------------------------------------------------------------------- */
typedef struct direct_entry {
  const char *onnx;
  isa_builtin_op op;
} direct_entry;

static const direct_entry direct_ops[] = {
    {"Pow", ISA_OP_Pow}, {"Equal", ISA_OP_Equal}, {"Greater", ISA_OP_Greater},
    {"Less", ISA_OP_Less}, {"Where", ISA_OP_Where}, {"Sqrt", ISA_OP_Sqrt}, {"Exp", ISA_OP_Exp},
    {"Log", ISA_OP_Log}, {"Neg", ISA_OP_Neg}, {"Abs", ISA_OP_Abs},
    {"Reciprocal", ISA_OP_Reciprocal}, {"Floor", ISA_OP_Floor}, {"Ceil", ISA_OP_Ceil},
    {"Relu", ISA_OP_Relu}, {"LeakyRelu", ISA_OP_LeakyRelu}, {"Sigmoid", ISA_OP_Sigmoid},
    {"Tanh", ISA_OP_Tanh}, {"HardSigmoid", ISA_OP_HardSigmoid}, {"HardSwish", ISA_OP_HardSwish},
    {"Erf", ISA_OP_Erf}, {"Not", ISA_OP_Not}, {"Cast", ISA_OP_Cast}, {"Identity", ISA_OP_Identity},
    {"LayerNormalization", ISA_OP_LayerNormalization}, {"MatMul", ISA_OP_MatMul},
    {"Conv", ISA_OP_Conv}, {"MaxPool", ISA_OP_MaxPool}, {"AveragePool", ISA_OP_AveragePool},
    {"GlobalAveragePool", ISA_OP_GlobalAveragePool}, {"Flatten", ISA_OP_Flatten},
    {"Transpose", ISA_OP_Transpose}, {"Gather", ISA_OP_Gather}, {"Expand", ISA_OP_Expand},
    {"Tile", ISA_OP_Tile}, {"Shape", ISA_OP_Shape}, {"Size", ISA_OP_Size}, {"Range", ISA_OP_Range},
};

static const cc_family_fn families[] = {
    cc_tr_control, cc_tr_rnn, cc_tr_quant, cc_tr_index, cc_tr_math, cc_tr_nn, cc_tr_signal, cc_tr_seq,
    cc_tr_train,
};

static ivm_status dispatch(tr *t) {
  const char *o = t->op_type;
  int64_t v = t->im->opset;
  if (!strcmp(o, "Add")) return tr_binary(t, ISA_OP_Add);
  if (!strcmp(o, "Sub")) return tr_binary(t, ISA_OP_Sub);
  if (!strcmp(o, "Mul")) return tr_binary(t, ISA_OP_Mul);
  if (!strcmp(o, "Div")) return tr_binary(t, ISA_OP_Div);
  if (!strcmp(o, "Min")) return tr_variadic(t, ISA_OP_Min, 0);
  if (!strcmp(o, "Max")) return tr_variadic(t, ISA_OP_Max, 0);
  if (!strcmp(o, "Sum")) return tr_variadic(t, ISA_OP_Add, 0);
  if (!strcmp(o, "Mean")) return tr_variadic(t, ISA_OP_Add, 1);
  if (!strcmp(o, "Clip")) return tr_clip(t);
  if (!strcmp(o, "Softmax")) return tr_softmax(t, ISA_OP_Softmax);
  if (!strcmp(o, "LogSoftmax")) return tr_softmax(t, ISA_OP_LogSoftmax);
  if (!strcmp(o, "ReduceSum")) return tr_reduce(t, ISA_OP_ReduceSum);
  if (!strcmp(o, "ReduceMean")) return tr_reduce(t, ISA_OP_ReduceMean);
  if (!strcmp(o, "ReduceMax")) return tr_reduce(t, ISA_OP_ReduceMax);
  if (!strcmp(o, "ReduceMin")) return tr_reduce(t, ISA_OP_ReduceMin);
  if (!strcmp(o, "BatchNormalization")) return tr_batchnorm(t);
  if (!strcmp(o, "Dropout")) return tr_dropout(t);
  if (!strcmp(o, "ConstantOfShape")) return tr_constant_of_shape(t);
  if (!strcmp(o, "Pad")) return tr_pad(t);
  if (!strcmp(o, "Cast") && !isa_dtype_valid((int)tr_attr_int(t, "to", 0)))
    return cc_imp_unsupported(t->im, "op 'Cast' to dtype %lld", (long long)tr_attr_int(t, "to", 0));
  if (!strcmp(o, "Gemm")) {
    static const char *const ign[] = {"broadcast", NULL};
    return tr_direct(t, ISA_OP_Gemm, ign);
  }
  if (!strcmp(o, "Concat")) {
    uint32_t nd;
    IVM_TRY(tr_node(t, ISA_OP_Concat, t->in, t->n_in, t->out, 1, &nd));
    if (!tr_attr(t, "axis") && v < 4) IVM_TRY(cc_node_set_int(t->im->g, nd, "axis", 1));
    return tr_copy_attrs(t, nd, NULL);
  }
  if (!strcmp(o, "Reshape")) {
    static const char *const names[] = {"shape", NULL};
    return tr_attrs_to_inputs(t, ISA_OP_Reshape, 5, names, 1);
  }
  if (!strcmp(o, "Squeeze") || !strcmp(o, "Unsqueeze")) {
    static const char *const names[] = {"axes", NULL};
    return tr_attrs_to_inputs(t, o[0] == 'S' ? ISA_OP_Squeeze : ISA_OP_Unsqueeze, 13, names, 1);
  }
  if (!strcmp(o, "Split")) {
    static const char *const names[] = {"split", NULL};
    if (v >= 18 && tr_attr(t, "num_outputs")) {
      static const char *const ign[] = {"num_outputs", NULL};
      return tr_direct(t, ISA_OP_Split, ign);
    }
    return tr_attrs_to_inputs(t, ISA_OP_Split, 13, names, 1);
  }
  if (!strcmp(o, "Slice")) {
    static const char *const names[] = {"starts", "ends", "axes", NULL};
    return tr_attrs_to_inputs(t, ISA_OP_Slice, 10, names, 1);
  }
  for (size_t i = 0; i < sizeof direct_ops / sizeof direct_ops[0]; i++)
    if (!strcmp(o, direct_ops[i].onnx)) return tr_direct(t, direct_ops[i].op, NULL);
  /* Op families translate their own ops (compiler/onnx_ops_<family>.c). */
  for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
    int handled = 0;
    ivm_status st = families[i](t, &handled);
    if (st || handled) return st;
  }
  /* A built-in op of the same name has ONNX's signature (the canonical form). */
  for (int op = 0; op < ISA_OP_COUNT; op++)
    if (!strcmp(o, isa_builtin_desc((isa_builtin_op)op)->name))
      return tr_direct(t, (isa_builtin_op)op, NULL);
  return cc_imp_unsupported(t->im, "unsupported op '%s'", o);
}

/* ---- ops outside the ONNX domains: plugins, ivm.ffi, ivm.expr ---------------------- */
static int64_t domain_version(const cc_imp *im, const char *domain) {
  for (size_t i = 0; im->model && i < im->model->n_opset_import; i++) {
    const Onnx__OperatorSetIdProto *o = im->model->opset_import[i];
    if (o && o->domain && strcmp(o->domain, domain) == 0) return o->has_version ? o->version : 1;
  }
  return 1;
}

/* An ivm.expr node's attributes beyond its schema (alpha=1.0) are the expression's named
 * parameters: they become param_names / params. */
static ivm_status expr_params(tr *t, uint32_t node) {
  cc_graph *g = t->im->g;
  char names[1024];
  float vals[64];
  size_t len = 0;
  uint32_t n = 0;
  names[0] = 0;
  for (size_t i = 0; i < t->n->n_attribute; i++) {
    const Onnx__AttributeProto *a = t->n->attribute[i];
    if (!a || !a->name || isa_attr_index(g->nodes[node].desc, a->name) >= 0) continue;
    if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT &&
        a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT)
      return cc_imp_unsupported(t->im, "ivm.expr attribute '%s': only float and int "
                                "attributes can be expression parameters", a->name);
    size_t nl = strlen(a->name);
    if (n == 64 || len + nl + 2 > sizeof names)
      return cc_imp_unsupported(t->im, "ivm.expr: too many parameters");
    if (n) names[len++] = ',';
    memcpy(names + len, a->name, nl + 1);
    len += nl;
    vals[n++] = a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT ? a->f : (float)a->i;
  }
  if (!n) return NULL;
  IVM_TRY(cc_node_set_attr(g, node, "param_names", ISA_ATTR_STRING, 0, 0, names, NULL, 0));
  return cc_node_set_attr(g, node, "params", ISA_ATTR_FLOATS, 0, 0, NULL, vals, n);
}

static ivm_status tr_custom(tr *t) {
  cc_imp *im = t->im;
  const char *dom = t->n->domain;
  int64_t ver = domain_version(im, dom);
  const isa_registry_entry *e =
      im->g->registry && ver > 0 && ver <= UINT32_MAX
          ? isa_registry_resolve(im->g->registry, dom, t->op_type, (uint32_t)ver)
          : NULL;
  char where[300] = "";
  if (im->node_name[0]) snprintf(where, sizeof where, " (node '%s')", im->node_name);
  if (!e) {
    if (strncmp(dom, "ivm", 3) == 0 && (!dom[3] || dom[3] == '.'))
      return ivm_error(IVM_ERR_UNSUPPORTED, "op %s.%s version %lld%s is not provided by this IVM",
                       dom, t->op_type, (long long)ver, where);
    return ivm_error(IVM_ERR_NOT_FOUND,
                     "op %s.%s version %lld%s is not registered; if a plugin provides it, "
                     "allow the plugin with --allow-plugin PATH",
                     dom, t->op_type, (long long)ver, where);
  }
  const isa_op_desc *d = e->desc;
  uint32_t n_in = t->n_in, n_out = t->n_out;
  while (n_in && t->in[n_in - 1] == CC_NONE) n_in--;
  if (n_in < d->min_in || (d->max_in != ISA_VARIADIC && n_in > d->max_in) ||
      n_out < d->min_out || (d->max_out != ISA_VARIADIC && n_out > d->max_out))
    return ivm_error(IVM_ERR_FORMAT, "op %s.%s%s: %u inputs and %u outputs do not match the "
                     "op's arity", dom, t->op_type, where, n_in, n_out);
  uint32_t node;
  IVM_TRY(cc_add_custom_node(im->g, d, im->node_name, t->in, n_in, t->out, n_out, &node));
  if (d->kind == ISA_OP_KIND_EXPR) {
    IVM_TRY(expr_params(t, node));
    /* the remaining attributes are the schema's */
    const char *extra[65];
    uint32_t k = 0;
    for (size_t i = 0; i < t->n->n_attribute && k < 64; i++) {
      const Onnx__AttributeProto *a = t->n->attribute[i];
      if (a && a->name && isa_attr_index(d, a->name) < 0) extra[k++] = a->name;
    }
    extra[k] = NULL;
    return tr_copy_attrs(t, node, extra);
  }
  return tr_copy_attrs(t, node, NULL);
}

ivm_status cc_imp_translate(cc_imp *im) {
  const Onnx__NodeProto *n = im->node;
  tr t;
  memset(&t, 0, sizeof t);
  t.im = im;
  t.n = n;
  t.op_type = n->op_type;
  int custom = 0;
  if (n->domain && *n->domain && strcmp(n->domain, "ai.onnx") != 0) {
    if (strncmp(n->domain, "ai.onnx", 7) != 0)
      custom = 1; /* a plugin, ivm.ffi or ivm.expr op */
    else if (!(strcmp(n->domain, "ai.onnx.preview.training") == 0 &&
               (!strcmp(n->op_type, "Adagrad") || !strcmp(n->op_type, "Adam") ||
                !strcmp(n->op_type, "Momentum")))) /* train family, onnx_ops_train.c */
      return ivm_error(IVM_ERR_UNSUPPORTED,
                       "unsupported op '%s' in domain '%s' (node '%s', opset %lld)",
                       n->op_type, n->domain, im->node_name, (long long)im->opset);
  }
  if (n->n_input > MAX_IO || n->n_output > MAX_IO)
    return cc_imp_unsupported(im, "op '%s' with %zu inputs and %zu outputs", n->op_type,
                              n->n_input, n->n_output);
  if (!custom && !strcmp(n->op_type, "Constant")) {
    t.n_out = (uint32_t)n->n_output;
    return tr_constant(&t);
  }
  t.n_in = (uint32_t)n->n_input;
  for (uint32_t i = 0; i < t.n_in; i++) {
    const char *nm = n->input[i];
    t.in[i] = CC_NONE;
    if (!nm || !*nm) continue;
    t.in[i] = cc_imp_lookup(im, nm);
    if (t.in[i] < 0)
      return ivm_error(IVM_ERR_FORMAT, "node '%s' (%s): input '%s' is not defined before use",
                       im->node_name, n->op_type, nm);
  }
  t.n_out = (uint32_t)n->n_output;
  for (uint32_t i = 0; i < t.n_out; i++) {
    const char *nm = n->output[i];
    t.out[i] = CC_NONE;
    if (!nm || !*nm) continue;
    if (cc_imp_lookup(im, nm) >= 0)
      return ivm_error(IVM_ERR_FORMAT, "node '%s' (%s): output '%s' is defined twice",
                       im->node_name, n->op_type, nm);
    t.out[i] = cc_add_value(im->g, nm, CC_V_INTER);
    if (t.out[i] < 0) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
    IVM_TRY(cc_imp_define(im, nm, t.out[i]));
  }
  if (t.n_out == 0) return ivm_error(IVM_ERR_FORMAT, "node '%s' (%s) has no outputs",
                                     im->node_name, n->op_type);
  return custom ? tr_custom(&t) : dispatch(&t);
}
