/* Shared by the ONNX op translators: the node being translated and helpers to build
 * canonical IVM nodes. onnx_ops.c handles the Step-1 ops; each op family has its own
 * file, compiler/onnx_ops_<family>.c, exporting one cc_family_fn. */
#ifndef IVM_COMPILER_ONNX_OPS_H
#define IVM_COMPILER_ONNX_OPS_H

#include "compiler/onnx_import.h"

#define MAX_IO 64

typedef struct tr {
  cc_imp *im;
  const Onnx__NodeProto *n;
  const char *op_type;
  uint32_t n_in, n_out;
  int32_t in[MAX_IO], out[MAX_IO]; /* value ids, CC_NONE for empty names */
} tr;

/* Translates t if it is one of the family's ops (*handled = 1), else leaves *handled 0.
 * Ops whose ONNX form equals a built-in of the same name need no translator: they map
 * directly (same inputs, outputs and attribute names). */
typedef ivm_status (*cc_family_fn)(tr *t, int *handled);
ivm_status cc_tr_control(tr *t, int *handled); /* If, Loop, Scan */
ivm_status cc_tr_rnn(tr *t, int *handled);     /* RNN, LSTM, GRU */
ivm_status cc_tr_quant(tr *t, int *handled);   /* int8 ops, losses */
ivm_status cc_tr_index(tr *t, int *handled);   /* gather/scatter/topk/nonzero... */
ivm_status cc_tr_math(tr *t, int *handled);    /* remaining elementwise, reductions */
ivm_status cc_tr_nn(tr *t, int *handled);      /* ConvTranspose, Resize, norms, pools */
ivm_status cc_tr_signal(tr *t, int *handled);  /* DFT, STFT, windows */
ivm_status cc_tr_seq(tr *t, int *handled);     /* Optional, SequenceMap */
ivm_status cc_tr_train(tr *t, int *handled);   /* optimizers, TfIdfVectorizer, training Dropout */

/* ONNX attribute of the node by name, or NULL. */
const Onnx__AttributeProto *tr_attr(const tr *t, const char *name);
int64_t tr_attr_int(const tr *t, const char *name, int64_t def);
float tr_attr_float(const tr *t, const char *name, float def);
/* Copies the node's ONNX attributes onto IVM node `node` by schema name, except those
 * named in `ignore` (NULL-terminated, may be NULL). */
ivm_status tr_copy_attrs(tr *t, uint32_t node, const char *const *ignore);
/* Adds an IVM node (trailing absent inputs/outputs dropped; arity checked). */
ivm_status tr_node(tr *t, isa_builtin_op op, const int32_t *in, uint32_t n_in,
                   const int32_t *out, uint32_t n_out, uint32_t *out_node);
/* A fresh intermediate value id (or -1 on out of memory). */
int32_t tr_tmp(tr *t);
ivm_status tr_const_i64(tr *t, const int64_t *v, size_t n, int rank, int32_t *id);
/* One-element constant of dtype dt holding v (rank 0 or 1). */
ivm_status tr_const_scalar(tr *t, int dt, double v, int rank, int32_t *id);
const isa_type *tr_vtype(tr *t, int32_t id);
/* The canonical op has the same inputs, outputs and attributes. */
ivm_status tr_direct(tr *t, isa_builtin_op op, const char *const *ignore);
/* An ints attribute (if present) becomes an i64 input at position pos. */
ivm_status tr_ints_attr_to_input(tr *t, const char *name, int32_t *in, uint32_t pos,
                                 uint32_t *n_in);

#endif
