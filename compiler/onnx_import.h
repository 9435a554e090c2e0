/* Private to the ONNX importer (needs the generated protobuf-c bindings). */
#ifndef IVM_COMPILER_ONNX_IMPORT_H
#define IVM_COMPILER_ONNX_IMPORT_H

#include "compiler/cc.h"
#include "onnx.pb-c.h"

typedef struct cc_name_map {
  uint32_t cap, count;
  char **keys;   /* graph-owned names */
  int32_t *ids;  /* -1: not defined in the current scope chain */
  uint32_t *depths; /* scope depth of each definition */
} cc_name_map;

/* Undo record of a definition made inside a subgraph scope. */
typedef struct cc_scope_undo {
  const char *key;
  int32_t old_id;
  uint32_t old_depth;
} cc_scope_undo;

typedef struct cc_imp {
  cc_graph *g;
  int64_t opset;
  const Onnx__ModelProto *model; /* its opset_import versions other domains' ops */
  const char *base_dir;
  cc_name_map names;
  const Onnx__NodeProto *node; /* being translated */
  const char *node_name;
  /* Subgraph scopes (If branches, Loop/Scan bodies): inner names shadow outer ones and
   * outer names stay visible (captured values). */
  uint32_t scope;
  uint32_t if_branches; /* If branches being imported (nested) */
  cc_scope_undo *undo;
  uint32_t n_undo, cap_undo;
} cc_imp;

int32_t cc_imp_lookup(const cc_imp *im, const char *name); /* -1 if undefined */
ivm_status cc_imp_define(cc_imp *im, const char *name, int32_t id);

/* Opens a subgraph scope; returns the mark to close it with. */
uint32_t cc_imp_scope_push(cc_imp *im);
/* Closes the scope: names defined inside it are forgotten, shadowed ones come back. */
void cc_imp_scope_pop(cc_imp *im, uint32_t mark);
/* Imports a subgraph's initializers and nodes into im->g in the current scope (inputs
 * must already be defined by the caller), inferring and folding node by node.
 * Restores im->node / im->node_name. */
ivm_status cc_imp_subgraph(cc_imp *im, const Onnx__GraphProto *gr);

/* The IVM type (dtype, shape, value kind) of an ONNX TypeProto: tensors, and sequences /
 * optionals of tensors. name is for messages. */
ivm_status cc_type_from_type_proto(cc_graph *g, const Onnx__TypeProto *tp, const char *name,
                                   isa_type *out);

/* Translates im->node into IVM nodes (onnx_ops.c). */
ivm_status cc_imp_translate(cc_imp *im);

/* "unsupported op 'Foo' (node 'n1', opset 13)"-style errors. */
ivm_status cc_imp_unsupported(const cc_imp *im, const char *fmt, ...) IVM_PRINTF(2, 3);

#endif
