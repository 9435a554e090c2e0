/* Private to the fusion passes (compiler/pass_fuse*.c): the bookkeeping they share.
 *
 * A fusion replaces a chain of nodes by one node. It rewrites the chain's last node in
 * place (so the graph stays in emission order and the chain's output keeps its value id
 * and name) and marks the others dead. It is only valid when every intermediate value of
 * the chain is read by the chain alone, is not a graph output and is not a var, when the
 * chain lies in one straight-line block (no control marker between its nodes), and when
 * the constants match; each pass checks those, and fuse_commit re-runs inference on the
 * rewritten node and backs out unless it gives the very type the chain gave. */
#ifndef IVM_COMPILER_PASS_FUSE_H
#define IVM_COMPILER_PASS_FUSE_H

#include "compiler/cc.h"

typedef struct fuse_ctx {
  cc_graph *g;
  uint32_t *uses;   /* per value: reads by live nodes plus graph-output references */
  int32_t *reader;  /* per value: a live node reading it (the only one when uses == 1) */
  uint32_t *block;  /* per node: straight-line block (control markers separate blocks) */
  uint32_t cap;     /* values uses / reader cover; passes add constants, fuse_commit grows */
} fuse_ctx;

ivm_status fuse_ctx_init(fuse_ctx *f, cc_graph *g);
void fuse_ctx_free(fuse_ctx *f);

/* The node producing v when v is an ordinary single-use intermediate of the same block as
 * node `user` (read once, not an output, not a var) and the node's op is `op`; else -1. */
int32_t fuse_single_producer(const fuse_ctx *f, int32_t v, isa_builtin_op op, uint32_t user);
/* v's producer if it is a live node of op `op` in user's block (any number of readers). */
int32_t fuse_producer(const fuse_ctx *f, int32_t v, isa_builtin_op op, uint32_t user);
/* The only reader of v, when v is a single-use intermediate (not an output, not a var)
 * and the reader is a live node of op `op` in the same block as v's producer; else -1. */
int32_t fuse_single_reader(fuse_ctx *f, int32_t v, isa_builtin_op op);

/* v is a constant with every element equal to `want` (within rel_tol relative, 0 for
 * exactly), f32, f64 or f16, that broadcasts into a tensor of rank `rank` without
 * widening it (one element, rank <= rank). */
int fuse_const_scalar_is(const cc_graph *g, int32_t v, double want, double rel_tol, int rank);
/* The value of a one-element f32 constant (rank <= rank), or 0 (and *ok = 0). */
float fuse_const_scalar_f32(const cc_graph *g, int32_t v, int rank, int *ok);

/* The other input of a two-input node than `v` (-1 if neither or both are v). */
int32_t fuse_other_input(const cc_node *n, int32_t v);

/* Rewrites node `id` into op with the given inputs (attributes cleared; set them after)
 * and returns the saved node for fuse_commit. */
ivm_status fuse_rewrite(fuse_ctx *f, uint32_t id, isa_builtin_op op, const int32_t *in,
                        uint32_t n_in, cc_node *saved);
/* Checks the rewritten node's inferred output type against the chain's; if equal, marks
 * `dead` nodes (n_dead of them) dead, updates the use counts and sets *done = 1; else
 * restores the saved node and leaves the graph as it was (*done = 0). */
ivm_status fuse_commit(fuse_ctx *f, uint32_t id, const cc_node *saved, const uint32_t *dead,
                       uint32_t n_dead, int *done);

/* Copies an activation node's alpha / beta / approximate into the fused node `id` as
 * act_alpha / act_beta / act_approximate (FusedMatMul, FusedConv). */
ivm_status fuse_copy_activation_attrs(cc_graph *g, uint32_t id, const cc_node *act);

/* One fusion attempt at node `node` (a live node of one of the ops asked for): *done = 1
 * when it fused. */
typedef ivm_status (*fuse_try_fn)(fuse_ctx *f, uint32_t node, int *done);
/* Runs try at every live node, in graph order, whose op is one of ops[0..n_ops) (n_ops 0:
 * every node; try then filters), adding the fusions made to *count. */
ivm_status fuse_each(fuse_ctx *f, const isa_builtin_op *ops, int n_ops, fuse_try_fn try_fn,
                     uint32_t *count);
#define FUSE_EACH(f, try_fn, count, ...)                                                   \
  fuse_each(f, (const isa_builtin_op[]){__VA_ARGS__},                                      \
            (int)(sizeof((const isa_builtin_op[]){__VA_ARGS__}) / sizeof(isa_builtin_op)), \
            try_fn, count)

/* The passes, each over the whole graph; counts of fusions made are added to *count. */
ivm_status fuse_gelu(fuse_ctx *f, uint32_t *count);
ivm_status fuse_hardswish(fuse_ctx *f, uint32_t *count);
ivm_status fuse_layernorm(fuse_ctx *f, uint32_t *count);
ivm_status fuse_attention(fuse_ctx *f, uint32_t *count);
ivm_status fuse_matmul_epilogue(fuse_ctx *f, uint32_t *count);
ivm_status fuse_conv_residual(fuse_ctx *f, uint32_t *count); /* before fuse_conv_activation */
ivm_status fuse_conv_activation(fuse_ctx *f, uint32_t *count);
ivm_status fuse_conv_clip(fuse_ctx *f, uint32_t *count); /* after fuse_conv_activation */
ivm_status fuse_conv_affine(fuse_ctx *f, uint32_t *count); /* after fuse_conv_clip */
ivm_status fuse_mul_add(fuse_ctx *f, uint32_t *count); /* last: Mul + Add, Resize + Add */

#endif
