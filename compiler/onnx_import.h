/* Private to the ONNX importer (needs the generated protobuf-c bindings). */
#ifndef IVM_COMPILER_ONNX_IMPORT_H
#define IVM_COMPILER_ONNX_IMPORT_H

#include "compiler/cc.h"
#include "onnx.pb-c.h"

typedef struct cc_name_map {
  uint32_t cap, count;
  char **keys;   /* graph-owned names */
  int32_t *ids;
} cc_name_map;

typedef struct cc_imp {
  cc_graph *g;
  int64_t opset;
  const char *base_dir;
  cc_name_map names;
  const Onnx__NodeProto *node; /* being translated */
  const char *node_name;
} cc_imp;

int32_t cc_imp_lookup(const cc_imp *im, const char *name); /* -1 if undefined */
ivm_status cc_imp_define(cc_imp *im, const char *name, int32_t id);

/* Translates im->node into IVM nodes (onnx_ops.c). */
ivm_status cc_imp_translate(cc_imp *im);

/* "unsupported op 'Foo' (node 'n1', opset 13)"-style errors. */
ivm_status cc_imp_unsupported(const cc_imp *im, const char *fmt, ...) IVM_PRINTF(2, 3);

#endif
