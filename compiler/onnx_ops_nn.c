/* ONNX -> IVM translation for the nn op family (isa/ops_nn.def). Ops whose ONNX form is
 * the canonical one (ConvTranspose, DepthToSpace, SpaceToDepth, MaxUnpool, LRN,
 * InstanceNormalization, MeanVarianceNormalization, GlobalMaxPool, LpNormalization,
 * GridSample) map directly by name; this file rewrites the rest:
 *   Resize-10       X, scales            -> Resize(X, -, scales), asymmetric, nearest 'simple'
 *   Resize-11+      antialias unsupported, otherwise direct
 *   Upsample-7/9    scales attr / input  -> Resize(X, -, scales), asymmetric, nearest 'simple'
 *   RoiAlign-10     no coordinate mode   -> coordinate_transformation_mode output_half_pixel
 *   LpPool-1, GlobalLpPool-1: float p    -> int p */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/onnx_ops.h"

static ivm_status set_str(tr *t, uint32_t node, const char *name, const char *v) {
  return cc_node_set_attr(t->im->g, node, name, ISA_ATTR_STRING, 0, 0, v, NULL, 0);
}

/* ONNX string attribute `name` copied into buf (empty if absent / too long). */
static void str_attr(const tr *t, const char *name, char *buf, size_t size) {
  const Onnx__AttributeProto *a = tr_attr(t, name);
  buf[0] = 0;
  if (!a || a->s.len >= size || (a->s.len && memchr(a->s.data, 0, a->s.len))) return;
  if (a->s.len) memcpy(buf, a->s.data, a->s.len);
  buf[a->s.len] = 0;
}

/* Resize-10 and Upsample: scales (input `scales`, or attribute floats) with asymmetric
 * coordinates; nearest rounds down when upsampling and up when downsampling. */
static ivm_status tr_legacy_resize(tr *t, int32_t scales) {
  char mode[32];
  str_attr(t, "mode", mode, sizeof mode);
  if (!mode[0]) strcpy(mode, "nearest");
  if (!strcmp(mode, "bilinear") || !strcmp(mode, "trilinear")) strcpy(mode, "linear");
  if (strcmp(mode, "nearest") && strcmp(mode, "linear"))
    return cc_imp_unsupported(t->im, "op '%s' with mode '%s'", t->op_type, mode);
  int32_t in[3] = {t->in[0], CC_NONE, scales};
  uint32_t nd;
  IVM_TRY(tr_node(t, ISA_OP_Resize, in, 3, t->out, 1, &nd));
  IVM_TRY(set_str(t, nd, "mode", mode));
  IVM_TRY(set_str(t, nd, "coordinate_transformation_mode", "asymmetric"));
  return set_str(t, nd, "nearest_mode", "simple");
}

static ivm_status tr_upsample(tr *t) {
  if (t->n_in < 1 || t->in[0] < 0) return cc_imp_unsupported(t->im, "op 'Upsample' without X");
  if (t->n_in >= 2 && t->in[1] >= 0) return tr_legacy_resize(t, t->in[1]);
  const Onnx__AttributeProto *a = tr_attr(t, "scales");
  if (!a || a->n_floats == 0)
    return cc_imp_unsupported(t->im, "op 'Upsample' without scales (opset %lld)",
                              (long long)t->im->opset);
  float *d = malloc(a->n_floats * sizeof *d);
  if (!d) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
  memcpy(d, a->floats, a->n_floats * sizeof *d);
  int64_t dims[1] = {(int64_t)a->n_floats};
  int32_t id;
  IVM_TRY(cc_add_const(t->im->g, NULL, IVM_DT_F32, 1, dims, d, a->n_floats * sizeof *d, &id));
  return tr_legacy_resize(t, id);
}

static ivm_status tr_resize(tr *t) {
  if (t->im->opset < 11) {
    if (t->n_in < 2 || t->in[1] < 0) return cc_imp_unsupported(t->im, "op 'Resize-10' without scales");
    return tr_legacy_resize(t, t->in[1]);
  }
  if (tr_attr_int(t, "antialias", 0) != 0)
    return cc_imp_unsupported(t->im, "op 'Resize' with antialias");
  static const char *const ign[] = {"antialias", NULL};
  return tr_direct(t, ISA_OP_Resize, ign);
}

static ivm_status tr_roialign(tr *t) {
  uint32_t nd;
  IVM_TRY(tr_node(t, ISA_OP_RoiAlign, t->in, t->n_in, t->out, t->n_out, &nd));
  if (t->im->opset < 16 && !tr_attr(t, "coordinate_transformation_mode"))
    IVM_TRY(set_str(t, nd, "coordinate_transformation_mode", "output_half_pixel"));
  return tr_copy_attrs(t, nd, NULL);
}

/* LpPool-1 / GlobalLpPool-1 have a float p. */
static ivm_status tr_lp(tr *t, isa_builtin_op op) {
  const Onnx__AttributeProto *a = tr_attr(t, "p");
  if (!a || a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT) return tr_direct(t, op, NULL);
  if (a->f != floorf(a->f) || a->f < 1 || a->f > 64)
    return cc_imp_unsupported(t->im, "op '%s' with p = %g", t->op_type, (double)a->f);
  static const char *const ign[] = {"p", NULL};
  uint32_t nd;
  IVM_TRY(tr_node(t, op, t->in, t->n_in, t->out, t->n_out, &nd));
  IVM_TRY(cc_node_set_int(t->im->g, nd, "p", (int64_t)a->f));
  return tr_copy_attrs(t, nd, ign);
}

ivm_status cc_tr_nn(tr *t, int *handled) {
  const char *o = t->op_type;
  *handled = 1;
  if (!strcmp(o, "Resize")) return tr_resize(t);
  if (!strcmp(o, "Upsample")) return tr_upsample(t);
  if (!strcmp(o, "RoiAlign")) return tr_roialign(t);
  if (!strcmp(o, "LpPool")) return tr_lp(t, ISA_OP_LpPool);
  if (!strcmp(o, "GlobalLpPool")) return tr_lp(t, ISA_OP_GlobalLpPool);
  *handled = 0;
  return NULL;
}
