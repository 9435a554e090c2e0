/* ONNX -> IVM translation for the rnn op family: RNN, LSTM, GRU (every opset).
 *
 * The inputs and outputs map one to one. The attributes are rewritten into the canonical
 * form of isa/ops_rnn.def: the `activations` string list becomes INTS codes (defaults
 * filled per ONNX, a list given for one direction of a bidirectional op is repeated), and
 * activation_alpha / activation_beta, which ONNX consumes in order by the functions that
 * take them, become one value per activation (each function's default where the list runs
 * out). hidden_size, when absent, comes from R's shape. Opset-1 `output_sequence` is
 * dropped (outputs are optional anyway). */
#include <string.h>

#include "compiler/onnx_ops.h"
#include "isa/infer_rnn.h"

static ivm_status tr_recurrent(tr *t, isa_builtin_op op, int kind) {
  static const int nf_of[3] = {1, 3, 2};
  static const int defaults[3][3] = {{ISA_RNN_TANH, 0, 0},
                                     {ISA_RNN_SIGMOID, ISA_RNN_TANH, ISA_RNN_TANH},
                                     {ISA_RNN_SIGMOID, ISA_RNN_TANH, 0}};
  const int nf = nf_of[kind];
  const uint32_t max_in = kind == ISA_RNN_KIND_LSTM ? 8 : 6, max_out = kind == ISA_RNN_KIND_LSTM ? 3 : 2;
  if (t->n_in < 3 || t->in[0] < 0 || t->in[1] < 0 || t->in[2] < 0)
    return cc_imp_unsupported(t->im, "op '%s' needs inputs X, W and R", t->op_type);
  if (t->n_in > max_in || t->n_out > max_out)
    return cc_imp_unsupported(t->im, "op '%s' with %u inputs and %u outputs", t->op_type, t->n_in,
                              t->n_out);

  /* direction */
  int num_dirs = 1;
  const Onnx__AttributeProto *dir = tr_attr(t, "direction");
  char dbuf[32] = "forward";
  if (dir) {
    if (dir->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING || dir->s.len >= sizeof dbuf ||
        (dir->s.len && memchr(dir->s.data, 0, dir->s.len)))
      return cc_imp_unsupported(t->im, "op '%s': bad direction attribute", t->op_type);
    memcpy(dbuf, dir->s.data, dir->s.len);
    dbuf[dir->s.len] = 0;
    if (!strcmp(dbuf, "bidirectional")) num_dirs = 2;
    else if (strcmp(dbuf, "forward") != 0 && strcmp(dbuf, "reverse") != 0)
      return cc_imp_unsupported(t->im, "op '%s' with direction '%s'", t->op_type, dbuf);
  }

  /* hidden_size (from R [num_directions, G*H, H] when absent) */
  int64_t hidden = tr_attr_int(t, "hidden_size", -1);
  if (!tr_attr(t, "hidden_size")) {
    const isa_type *r = tr_vtype(t, t->in[2]);
    if (r->rank != 3 || r->dims[2] < 1)
      return cc_imp_unsupported(t->im, "op '%s' without hidden_size and R's shape unknown",
                                t->op_type);
    hidden = r->dims[2];
  }

  /* activations -> codes, alpha/beta -> one per activation */
  int64_t codes[6];
  float alpha[6], beta[6];
  uint32_t n = (uint32_t)(num_dirs * nf);
  const Onnx__AttributeProto *acts = tr_attr(t, "activations");
  const Onnx__AttributeProto *al = tr_attr(t, "activation_alpha");
  const Onnx__AttributeProto *be = tr_attr(t, "activation_beta");
  size_t n_given = acts ? acts->n_strings : 0;
  if (n_given != 0 && n_given != n && !(num_dirs == 2 && n_given == (size_t)nf))
    return cc_imp_unsupported(t->im, "op '%s' with %zu activations (expected %u)", t->op_type,
                              n_given, n);
  size_t ia = 0, ib = 0;
  for (uint32_t k = 0; k < n; k++) {
    int c = defaults[kind][k % (uint32_t)nf];
    if (n_given) {
      const ProtobufCBinaryData *s = &acts->strings[k % n_given];
      c = isa_rnn_act_from_name((const char *)s->data, s->len);
      if (c < 0)
        return cc_imp_unsupported(t->im, "op '%s' with activation '%.*s'", t->op_type,
                                  (int)(s->len > 64 ? 64 : s->len), (const char *)s->data);
    }
    codes[k] = c;
    alpha[k] = isa_rnn_act_default_alpha(c);
    beta[k] = isa_rnn_act_default_beta(c);
    if (n_given && isa_rnn_act_uses_alpha(c) && al && ia < al->n_floats) alpha[k] = al->floats[ia++];
    if (n_given && isa_rnn_act_uses_beta(c) && be && ib < be->n_floats) beta[k] = be->floats[ib++];
  }

  float clip = 0.0f;
  if (tr_attr(t, "clip")) {
    clip = tr_attr_float(t, "clip", 0.0f);
    if (!(clip > 0.0f))
      return cc_imp_unsupported(t->im, "op '%s' with clip %g (must be > 0)", t->op_type, (double)clip);
  }

  uint32_t nd;
  IVM_TRY(tr_node(t, op, t->in, t->n_in, t->out, t->n_out, &nd));
  cc_graph *g = t->im->g;
  IVM_TRY(cc_node_set_int(g, nd, "hidden_size", hidden));
  IVM_TRY(cc_node_set_int(g, nd, "layout", tr_attr_int(t, "layout", 0)));
  IVM_TRY(cc_node_set_attr(g, nd, "direction", ISA_ATTR_STRING, 0, 0, dbuf, NULL, 0));
  if (clip > 0.0f) IVM_TRY(cc_node_set_float(g, nd, "clip", clip));
  if (n_given) {
    IVM_TRY(cc_node_set_attr(g, nd, "activations", ISA_ATTR_INTS, 0, 0, NULL, codes, n));
    IVM_TRY(cc_node_set_attr(g, nd, "activation_alpha", ISA_ATTR_FLOATS, 0, 0, NULL, alpha, n));
    IVM_TRY(cc_node_set_attr(g, nd, "activation_beta", ISA_ATTR_FLOATS, 0, 0, NULL, beta, n));
  }
  if (kind == ISA_RNN_KIND_LSTM)
    IVM_TRY(cc_node_set_int(g, nd, "input_forget", tr_attr_int(t, "input_forget", 0)));
  if (kind == ISA_RNN_KIND_GRU)
    IVM_TRY(cc_node_set_int(g, nd, "linear_before_reset", tr_attr_int(t, "linear_before_reset", 0)));
  return NULL;
}

ivm_status cc_tr_rnn(tr *t, int *handled) {
  const char *o = t->op_type;
  *handled = 1;
  if (!strcmp(o, "RNN")) return tr_recurrent(t, ISA_OP_RNN, ISA_RNN_KIND_RNN);
  if (!strcmp(o, "LSTM")) return tr_recurrent(t, ISA_OP_LSTM, ISA_RNN_KIND_LSTM);
  if (!strcmp(o, "GRU")) return tr_recurrent(t, ISA_OP_GRU, ISA_RNN_KIND_GRU);
  *handled = 0;
  return NULL;
}
