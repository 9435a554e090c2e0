/* ONNX -> IVM translation for the math op family (isa/ops_math.def).
 *
 * Ops whose ONNX form equals the canonical one (Sin, Mod, BitShift, IsInf, Einsum, ...)
 * map by name without help. Translated here:
 *   ReduceL1/L2/LogSum/LogSumExp/Prod/SumSquare  axes attribute (opset < 18) -> input
 *   Hardmax < 13        Flatten -> Hardmax(axis=1) -> Reshape (coerced-2D semantics)
 *   PRelu < 7           a [C] slope applies per channel (axis 1): unsqueezed to [C,1,...]
 *   And/Or/Xor < 7      legacy broadcast/axis attributes
 *   CastLike            Cast to the second input's dtype
 *   BatchNormalization training_mode=1 (reached from onnx_ops.c's tr_batchnorm):
 *                       batch statistics with ReduceMean, then the inference-mode op;
 *                       running mean/var = input * momentum + batch * (1 - momentum). */
#include <string.h>

#include "compiler/onnx_ops.h"

#define OOM() ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory")

static ivm_status new_tmp(tr *t, int32_t *id) {
  *id = tr_tmp(t);
  return *id < 0 ? OOM() : NULL;
}

/* ---- reductions ---------------------------------------------------------------------- */
static ivm_status tr_reduce(tr *t, isa_builtin_op op) {
  if (t->im->opset >= 18) return tr_direct(t, op, NULL);
  int32_t in[2] = {t->in[0], CC_NONE};
  uint32_t n_in = 1, nd;
  IVM_TRY(tr_ints_attr_to_input(t, "axes", in, 1, &n_in));
  IVM_TRY(tr_node(t, op, in, n_in, t->out, 1, &nd));
  static const char *const ign[] = {"axes", NULL};
  return tr_copy_attrs(t, nd, ign);
}

/* ---- Hardmax ------------------------------------------------------------------------- */
static ivm_status tr_hardmax(tr *t) {
  if (t->im->opset >= 13) return tr_direct(t, ISA_OP_Hardmax, NULL);
  /* Opset < 13: coerce to 2-D at axis (default 1); one-hot over the flattened tail. */
  int64_t axis = tr_attr_int(t, "axis", 1);
  const isa_type *tx = tr_vtype(t, t->in[0]);
  uint32_t nd;
  if (tx->rank >= 0) {
    int64_t a = axis < 0 ? axis + tx->rank : axis;
    if (a == tx->rank - 1) {
      IVM_TRY(tr_node(t, ISA_OP_Hardmax, t->in, 1, t->out, 1, &nd));
      return cc_node_set_int(t->im->g, nd, "axis", -1);
    }
  }
  int32_t flat, hm, shp;
  IVM_TRY(new_tmp(t, &flat));
  IVM_TRY(new_tmp(t, &hm));
  IVM_TRY(new_tmp(t, &shp));
  IVM_TRY(tr_node(t, ISA_OP_Flatten, t->in, 1, &flat, 1, &nd));
  IVM_TRY(cc_node_set_int(t->im->g, nd, "axis", axis));
  IVM_TRY(tr_node(t, ISA_OP_Hardmax, &flat, 1, &hm, 1, &nd));
  IVM_TRY(cc_node_set_int(t->im->g, nd, "axis", 1));
  IVM_TRY(tr_node(t, ISA_OP_Shape, t->in, 1, &shp, 1, &nd));
  int32_t in2[2] = {hm, shp};
  return tr_node(t, ISA_OP_Reshape, in2, 2, t->out, 1, &nd);
}

/* in -> Unsqueeze(in, [first, first + 1, ..., first + count - 1]) */
static ivm_status unsqueeze_tail(tr *t, int32_t in, int first, int count, int32_t *out) {
  int64_t axes[ISA_MAX_RANK];
  if (count <= 0) {
    *out = in;
    return NULL;
  }
  if (count > ISA_MAX_RANK) return cc_imp_unsupported(t->im, "op '%s': rank too large", t->op_type);
  for (int k = 0; k < count; k++) axes[k] = first + k;
  int32_t ax, o;
  IVM_TRY(new_tmp(t, &o));
  IVM_TRY(tr_const_i64(t, axes, (size_t)count, 1, &ax));
  int32_t in2[2] = {in, ax};
  uint32_t nd;
  IVM_TRY(tr_node(t, ISA_OP_Unsqueeze, in2, 2, &o, 1, &nd));
  *out = o;
  return NULL;
}

/* ---- PRelu --------------------------------------------------------------------------- */
static ivm_status tr_prelu(tr *t) {
  if (t->n_in != 2 || t->in[0] < 0 || t->in[1] < 0)
    return cc_imp_unsupported(t->im, "op 'PRelu' needs 2 inputs");
  int32_t slope = t->in[1];
  if (t->im->opset < 7) {
    /* PRelu-1/6: a 1-D slope of C elements is per channel (axis 1). */
    const isa_type *tx = tr_vtype(t, t->in[0]), *ts = tr_vtype(t, slope);
    if (ts->rank == 1 && tx->rank > 2 && ts->dims[0] != 1) {
      if (tx->dims[1] >= 0 && ts->dims[0] >= 0 && tx->dims[1] != ts->dims[0])
        return cc_imp_unsupported(t->im, "op 'PRelu' slope of %lld for %lld channels",
                                  (long long)ts->dims[0], (long long)tx->dims[1]);
      IVM_TRY(unsqueeze_tail(t, slope, 1, tx->rank - 2, &slope));
    }
  }
  int32_t in[2] = {t->in[0], slope};
  uint32_t nd;
  return tr_node(t, ISA_OP_PRelu, in, 2, t->out, 1, &nd);
}

/* ---- And / Or / Xor with legacy (opset < 7) broadcasting ------------------------------ */
static ivm_status tr_logical(tr *t, isa_builtin_op op) {
  if (t->n_in != 2 || t->in[0] < 0 || t->in[1] < 0)
    return cc_imp_unsupported(t->im, "op '%s' needs 2 inputs", t->op_type);
  int32_t b = t->in[1];
  if (tr_attr_int(t, "broadcast", 0) && tr_attr(t, "axis")) {
    /* B aligns with A starting at axis: trailing 1s make numpy broadcasting agree. */
    const isa_type *ta = tr_vtype(t, t->in[0]), *tb = tr_vtype(t, b);
    if (ta->rank < 0 || tb->rank < 0)
      return cc_imp_unsupported(t->im, "op '%s' with legacy broadcasting on unknown ranks",
                                t->op_type);
    int64_t axis = tr_attr_int(t, "axis", 0);
    if (axis < 0) axis += ta->rank;
    int64_t extra = ta->rank - axis - tb->rank;
    if (axis < 0 || extra < 0)
      return cc_imp_unsupported(t->im, "op '%s' with broadcast axis %lld", t->op_type,
                                (long long)tr_attr_int(t, "axis", 0));
    IVM_TRY(unsqueeze_tail(t, b, tb->rank, (int)extra, &b));
  }
  int32_t in[2] = {t->in[0], b};
  uint32_t nd;
  return tr_node(t, op, in, 2, t->out, 1, &nd);
}

/* ---- CastLike ------------------------------------------------------------------------ */
static ivm_status tr_castlike(tr *t) {
  if (t->n_in != 2 || t->in[0] < 0 || t->in[1] < 0)
    return cc_imp_unsupported(t->im, "op 'CastLike' needs 2 inputs");
  int dt = tr_vtype(t, t->in[1])->dtype;
  if (!isa_dtype_valid(dt))
    return cc_imp_unsupported(t->im, "op 'CastLike' to dtype %d", dt);
  uint32_t nd;
  IVM_TRY(tr_node(t, ISA_OP_Cast, t->in, 1, t->out, 1, &nd));
  return cc_node_set_int(t->im->g, nd, "to", dt);
}

/* ---- BatchNormalization, training mode ----------------------------------------------- */
static ivm_status add_node1(tr *t, isa_builtin_op op, int32_t a, int32_t b, int32_t out) {
  int32_t in2[2] = {a, b};
  uint32_t nd;
  return tr_node(t, op, in2, b >= 0 ? 2 : 1, &out, 1, &nd);
}

static ivm_status reduce_mean(tr *t, int32_t x, int32_t axes, int keep, int32_t out) {
  int32_t in2[2] = {x, axes};
  uint32_t nd;
  IVM_TRY(tr_node(t, ISA_OP_ReduceMean, in2, 2, &out, 1, &nd));
  return cc_node_set_int(t->im->g, nd, "keepdims", keep);
}

/* out = stat (cast to running's dtype) * (1 - momentum) + running * momentum */
static ivm_status running_update(tr *t, int32_t running, int32_t stat, double momentum,
                                 int32_t out) {
  int rdt = tr_vtype(t, running)->dtype, sdt = tr_vtype(t, stat)->dtype;
  if (!isa_dtype_is_float(rdt))
    return cc_imp_unsupported(t->im, "op 'BatchNormalization' with non-float running stats");
  if (sdt != rdt) {
    int32_t cs;
    uint32_t nd;
    IVM_TRY(new_tmp(t, &cs));
    IVM_TRY(tr_node(t, ISA_OP_Cast, &stat, 1, &cs, 1, &nd));
    IVM_TRY(cc_node_set_int(t->im->g, nd, "to", rdt));
    stat = cs;
  }
  int32_t cm, c1m, a, b;
  IVM_TRY(tr_const_scalar(t, rdt, momentum, 0, &cm));
  IVM_TRY(tr_const_scalar(t, rdt, 1.0 - momentum, 0, &c1m));
  IVM_TRY(new_tmp(t, &a));
  IVM_TRY(new_tmp(t, &b));
  IVM_TRY(add_node1(t, ISA_OP_Mul, running, cm, a));
  IVM_TRY(add_node1(t, ISA_OP_Mul, stat, c1m, b));
  return add_node1(t, ISA_OP_Add, a, b, out);
}

static ivm_status tr_batchnorm_training(tr *t) {
  if (t->n_in != 5) return cc_imp_unsupported(t->im, "op 'BatchNormalization' needs 5 inputs");
  for (uint32_t i = 0; i < 5; i++)
    if (t->in[i] < 0) return cc_imp_unsupported(t->im, "op 'BatchNormalization' input %u absent", i);
  if (t->n_out > 3)
    return cc_imp_unsupported(t->im, "op 'BatchNormalization' with %u outputs in training mode",
                              t->n_out);
  const isa_type *tx = tr_vtype(t, t->in[0]);
  if (tx->rank < 2)
    return cc_imp_unsupported(t->im, "op 'BatchNormalization' training mode needs X of known rank >= 2");
  int64_t axes[ISA_MAX_RANK];
  int na = 0;
  for (int i = 0; i < tx->rank; i++)
    if (i != 1) axes[na++] = i;
  int32_t ax, mkeep, diff, sq, mean, var;
  IVM_TRY(tr_const_i64(t, axes, (size_t)na, 1, &ax));
  IVM_TRY(new_tmp(t, &mkeep));
  IVM_TRY(new_tmp(t, &diff));
  IVM_TRY(new_tmp(t, &sq));
  IVM_TRY(new_tmp(t, &mean));
  IVM_TRY(new_tmp(t, &var));
  /* population statistics over every axis but the channel axis */
  IVM_TRY(reduce_mean(t, t->in[0], ax, 1, mkeep));
  IVM_TRY(add_node1(t, ISA_OP_Sub, t->in[0], mkeep, diff));
  IVM_TRY(add_node1(t, ISA_OP_Mul, diff, diff, sq));
  IVM_TRY(reduce_mean(t, sq, ax, 0, var));
  IVM_TRY(reduce_mean(t, t->in[0], ax, 0, mean));
  int32_t bn_in[5] = {t->in[0], t->in[1], t->in[2], mean, var};
  uint32_t nd;
  IVM_TRY(tr_node(t, ISA_OP_BatchNormalization, bn_in, 5, t->out, 1, &nd));
  IVM_TRY(cc_node_set_float(t->im->g, nd, "epsilon", tr_attr_float(t, "epsilon", 1e-5f)));
  double momentum = tr_attr_float(t, "momentum", 0.9f);
  if (t->n_out > 1 && t->out[1] >= 0) IVM_TRY(running_update(t, t->in[3], mean, momentum, t->out[1]));
  if (t->n_out > 2 && t->out[2] >= 0) IVM_TRY(running_update(t, t->in[4], var, momentum, t->out[2]));
  return NULL;
}

/* ---- dispatch ------------------------------------------------------------------------ */
typedef struct math_reduce_entry {
  const char *onnx;
  isa_builtin_op op;
} math_reduce_entry;

static const math_reduce_entry reduce_ops[] = {
    {"ReduceL1", ISA_OP_ReduceL1},         {"ReduceL2", ISA_OP_ReduceL2},
    {"ReduceLogSum", ISA_OP_ReduceLogSum}, {"ReduceLogSumExp", ISA_OP_ReduceLogSumExp},
    {"ReduceProd", ISA_OP_ReduceProd},     {"ReduceSumSquare", ISA_OP_ReduceSumSquare},
};

ivm_status cc_tr_math(tr *t, int *handled) {
  const char *o = t->op_type;
  *handled = 1;
  for (size_t i = 0; i < sizeof reduce_ops / sizeof reduce_ops[0]; i++)
    if (!strcmp(o, reduce_ops[i].onnx)) return tr_reduce(t, reduce_ops[i].op);
  if (!strcmp(o, "Hardmax")) return tr_hardmax(t);
  if (!strcmp(o, "PRelu")) return tr_prelu(t);
  if (!strcmp(o, "And")) return tr_logical(t, ISA_OP_And);
  if (!strcmp(o, "Or")) return tr_logical(t, ISA_OP_Or);
  if (!strcmp(o, "Xor")) return tr_logical(t, ISA_OP_Xor);
  if (!strcmp(o, "CastLike")) return tr_castlike(t);
  if (!strcmp(o, "BatchNormalization") && tr_attr_int(t, "training_mode", 0) != 0)
    return tr_batchnorm_training(t);
  *handled = 0;
  return NULL;
}
