/* The compiler's internal interface: graph IR, ONNX import, passes, memory planner,
 * emission. Public entry points are in include/ivm/ivm.h (ivm_compile_onnx_file, the
 * host tensor file functions). */
#ifndef IVM_COMPILER_CC_H
#define IVM_COMPILER_CC_H

#include <stddef.h>
#include <stdint.h>

#include "isa/module.h"
#include "isa/op.h"
#include "isa/status.h"

/* ---- graph IR ------------------------------------------------------------------- */
typedef enum cc_value_kind {
  CC_V_INTER = 0, /* produced by a node */
  CC_V_INPUT = 1, /* graph input (host data) */
  CC_V_CONST = 2, /* constant: initializer, Constant node or folded */
} cc_value_kind;

#define CC_NONE (-1) /* absent optional input/output */
#define CC_MAX_ATTRS 16 /* >= the largest attribute schema in ops.def */

typedef struct cc_value {
  char *name;      /* graph-owned */
  isa_type type;   /* rank -1 until inferred */
  uint8_t kind;    /* cc_value_kind */
  uint8_t is_output;
  uint8_t is_var;   /* written by several nodes (loop-carried, If result, scan accumulator,
                     * loop counter): emitted as a DYNAMIC tensor flagged ISA_TF_VAR */
  int32_t producer; /* node index, or -1 (for a var: its last writer) */
  void *data;       /* CONST: malloc'd, nbytes bytes, row-major */
  size_t nbytes;
  uint32_t tensor; /* emission: tensor index */
} cc_value;

/* cc_node.op of an op outside the built-in table (a plugin, ivm.ffi or ivm.expr op):
 * its descriptor is cc_node.desc, from the graph's registry. */
#define CC_OP_CUSTOM ((isa_builtin_op)ISA_OP_COUNT)

typedef struct cc_node {
  isa_builtin_op op;
  const isa_op_desc *desc; /* isa_builtin_desc(op), or the custom op's */
  uint32_t n_in, n_out;
  int32_t *in, *out;    /* value ids, CC_NONE where absent (graph-owned arrays) */
  uint32_t n_attrs;     /* attributes given, in schema order */
  isa_def_attr attrs[CC_MAX_ATTRS];
  isa_attr slots[CC_MAX_ATTRS]; /* decoded, desc->n_attrs slots with defaults */
  const char *name;     /* source ONNX node name (graph-owned), may be "" */
  uint8_t dead;
  /* Inferred from its inputs' dtypes and ranks only (their dims taken as unknown): a node
   * of an If branch whose static shapes would fail, left to run-time inference. */
  uint8_t loose;
} cc_node;

typedef struct cc_block cc_block;

typedef struct cc_graph {
  cc_value *values;
  uint32_t n_values, cap_values;
  cc_node *nodes;
  uint32_t n_nodes, cap_nodes;
  int32_t *inputs;  /* graph inputs (host-fed), ONNX order */
  uint32_t n_inputs;
  int32_t *outputs; /* graph outputs, ONNX order */
  uint32_t n_outputs, cap_io_in, cap_io_out;
  char **symbols;   /* symbolic dim names; ISA_DIM_SYM(k) refers to symbols[k] */
  uint32_t n_symbols, cap_symbols;
  uint32_t tmp_counter;
  cc_block *blocks; /* bump allocator for strings and small arrays */
  /* Ops beyond the built-ins (plugins the host allowed, the ivm.ffi / ivm.expr families);
   * NULL: built-ins only. Not owned. */
  isa_registry *registry;
  /* Input shapes fixed by the caller (ivm_compile_options.input_shapes); not owned. */
  const ivm_input_shape *input_shapes;
  uint32_t n_input_shapes;
} cc_graph;

void cc_graph_init(cc_graph *g);
void cc_graph_free(cc_graph *g);
/* Graph-owned memory (freed with the graph); zeroed. NULL on out of memory. */
void *cc_alloc(cc_graph *g, size_t size);
char *cc_strdup(cc_graph *g, const char *s);
/* Adds a value; returns its id or -1 on out of memory. name is copied; NULL/"" makes
 * a fresh "_ivm_tmp<k>" name based on hint. */
int32_t cc_add_value(cc_graph *g, const char *name, cc_value_kind kind);
/* Adds a constant value taking ownership of malloc'd data (freed on failure too). */
ivm_status cc_add_const(cc_graph *g, const char *name, int dtype, int rank, const int64_t *dims,
                        void *data, size_t nbytes, int32_t *out_id);
ivm_status cc_add_const_i64(cc_graph *g, const char *hint, const int64_t *vals, uint32_t n,
                            int rank, int32_t *out_id);
/* Adds a node; in/out arrays are copied. Returns the node id in *out_node. */
ivm_status cc_add_node(cc_graph *g, isa_builtin_op op, const char *name, const int32_t *in,
                       uint32_t n_in, const int32_t *out, uint32_t n_out, uint32_t *out_node);
/* Adds a node of a custom op (op CC_OP_CUSTOM); desc must outlive the graph. */
ivm_status cc_add_custom_node(cc_graph *g, const isa_op_desc *desc, const char *name,
                              const int32_t *in, uint32_t n_in, const int32_t *out,
                              uint32_t n_out, uint32_t *out_node);
/* Adds a node at index `at`, shifting nodes at..end up by one (producers follow). Only
 * while nothing else holds node indices at or past `at`. */
ivm_status cc_insert_node(cc_graph *g, uint32_t at, isa_builtin_op op, const char *name,
                          const int32_t *in, uint32_t n_in, const int32_t *out, uint32_t n_out);
/* Sets an attribute by schema name (must exist with that type). Data is copied. */
ivm_status cc_node_set_attr(cc_graph *g, uint32_t node, const char *name, int type, int64_t i,
                            float f, const char *s, const void *list, uint32_t count);
ivm_status cc_node_set_int(cc_graph *g, uint32_t node, const char *name, int64_t v);
ivm_status cc_node_set_float(cc_graph *g, uint32_t node, const char *name, float v);
/* Re-decodes node->slots from node->attrs (defaults for the rest). */
void cc_node_decode(cc_node *n);
ivm_status cc_add_symbol(cc_graph *g, const char *name, uint32_t *out_index);
/* How often value v is read: as an input of a live node (once per operand slot) or as a
 * graph output. */
uint32_t cc_value_uses(const cc_graph *g, int32_t v);
/* Replaces every use of value `from` by `to` (node inputs; not graph outputs). */
void cc_replace_uses(cc_graph *g, int32_t from, int32_t to);
/* "node 'n1' (Conv)" style context string into buf. */
const char *cc_node_desc(const cc_graph *g, uint32_t node, char *buf, size_t size);
int cc_type_static(const isa_type *t); /* rank and every dim known */
size_t cc_type_nbytes(const isa_type *t); /* static types only */

/* ---- ONNX import ---------------------------------------------------------------- */
/* Parses an ONNX model (bytes) into g. base_dir: directory for external data (may be
 * NULL: external data refused). Runs inference and folding node by node. */
ivm_status cc_import_onnx(const uint8_t *bytes, size_t size, const char *base_dir, cc_graph *g);

/* A decoded tensor: contiguous little-endian elements of an IVM dtype. */
typedef struct cc_tensor {
  int dtype;
  int rank;
  int64_t dims[ISA_MAX_RANK];
  void *data; /* malloc'd */
  size_t nbytes;
} cc_tensor;

/* Decodes an Onnx__TensorProto (passed as void* so that this header does not need the
 * generated bindings). base_dir as above. */
ivm_status cc_tensor_from_proto(const void *tensor_proto, const char *base_dir, cc_tensor *out);

/* ---- passes --------------------------------------------------------------------- */
/* Infers the output types of one node from its inputs (constant inputs pass values). */
ivm_status cc_infer_node(cc_graph *g, uint32_t node);
ivm_status cc_pass_infer(cc_graph *g);
/* Folds one node into constants if all inputs are constant and the outputs are small.
 * *folded is set to 1 when it did; a kernel failure leaves the node as is. */
ivm_status cc_fold_node(cc_graph *g, uint32_t node, int *folded);
ivm_status cc_pass_fold(cc_graph *g);
ivm_status cc_pass_identity(cc_graph *g);
ivm_status cc_pass_dce(cc_graph *g);
/* Fusions that remove instructions (compiler/pass_fuse.c): Conv + BatchNormalization with
 * constant parameters folds into the Conv's weights and bias. */
typedef struct cc_fuse_stats {
  uint32_t conv_bn;
  uint32_t conv_affine; /* Mul / Add by per-channel constants folded into a Conv */
} cc_fuse_stats;
ivm_status cc_pass_fuse(cc_graph *g, cc_fuse_stats *stats); /* stats may be NULL */
/* Constant weights stored in the layout their kernel reads in place (a 1x1 conv's W
 * transposed: FusedConv transW), compiler/pass_layout.c. After the fusions. */
ivm_status cc_pass_weight_layout(cc_graph *g);
/* Chains of convs computed in the channel-blocked layout (FusedConv layout 1) with
 * ToBlocked / FromBlocked at their borders, compiler/pass_blocked.c. After the fusions,
 * before cc_pass_weight_layout. */
ivm_status cc_pass_blocked_layout(cc_graph *g);

/* ---- memory planner ------------------------------------------------------------- */
typedef struct cc_plan_item {
  uint64_t size;   /* bytes */
  uint32_t first;  /* first instruction at which it is live (0 for graph inputs) */
  uint32_t last;   /* last instruction at which it is live (n_instrs for outputs) */
  uint64_t offset; /* out */
} cc_plan_item;

#define CC_PLAN_MAX_FOLD_BYTES (16u << 20)

/* Greedy best-fit assignment: items live at overlapping [first, last] intervals never
 * overlap in memory. Offsets are multiples of align (a power of two). */
ivm_status cc_plan_arena(cc_plan_item *items, uint32_t n, uint32_t align, uint64_t *arena_size,
                         uint64_t *unplanned_size);

/* The data-dependency order of a straight-line program (no control flow): which
 * instructions must finish before each starts, who produces and who reads each tensor.
 * *out stays NULL for programs too large to be worth it (> 8192 instructions). */
typedef struct cc_plan_order cc_plan_order;
ivm_status cc_plan_order_build(const isa_def_instr *instrs, uint32_t n_instrs,
                               uint32_t n_tensors, cc_plan_order **out);
void cc_plan_order_free(cc_plan_order *order);
/* cc_plan_arena, where items (item k is tensor item_tensor[k]) whose lifetimes are
 * disjoint in program order still never share storage unless the dependency order puts
 * every use of one before the producer of the other, so that the dependency-graph
 * scheduler can run independent instructions at once. order NULL: cc_plan_arena. */
ivm_status cc_plan_arena_ordered(cc_plan_item *items, uint32_t n, const uint32_t *item_tensor,
                                 const cc_plan_order *order, uint32_t align,
                                 uint64_t *arena_size, uint64_t *unplanned_size);

/* ---- emission ------------------------------------------------------------------- */
typedef struct cc_emit_stats {
  uint64_t arena_size, unplanned_size;
  uint32_t instructions, constants;
} cc_emit_stats;

/* The logical module built from a graph, with the arrays it points into. Strings, attrs
 * and constant data point into the graph, which must outlive it. */
typedef struct cc_emitted {
  isa_module_def def;
  uint32_t n_constants;
  isa_def_import *imports;
  isa_def_tensor *tensors;
  isa_def_instr *instrs;
  uint32_t *operands;
  uint32_t *inputs, *outputs;
  cc_plan_item *items;
  uint32_t *item_tensor;
  int32_t *value_of_tensor;
  uint8_t *used;
} cc_emitted;

/* Assigns tensor kinds (CONST / ARENA / DYNAMIC), plans the arena, builds the def. */
ivm_status cc_build_def(cc_graph *g, cc_emitted *out);
void cc_emitted_free(cc_emitted *e);

/* Import-independent last steps: cc_build_def then isa_module_write. */
ivm_status cc_emit(cc_graph *g, uint8_t **out_bytes, size_t *out_size, cc_emit_stats *stats);

/* Import plus the passes (identity removal, DCE) that run before emission. */
ivm_status cc_import_and_optimize(const uint8_t *bytes, size_t size, const char *base_dir,
                                  cc_graph *g);
/* Whole pipeline on ONNX bytes. */
/* registry: custom ops (see cc_graph.registry), may be NULL. */
/* input_shapes: see ivm_compile_options (may be NULL). */
ivm_status cc_compile_onnx_bytes(const uint8_t *bytes, size_t size, const char *base_dir,
                                 const ivm_input_shape *input_shapes, uint32_t n_input_shapes,
                                 isa_registry *registry,
                                 uint8_t **out_bytes, size_t *out_size, cc_emit_stats *stats);

/* Reads a whole file into malloc'd memory (with a limit, for untrusted input). */
ivm_status cc_read_file(const char *path, uint8_t **out, size_t *out_size);

#endif
