/* Emission: graph IR -> isa_module_def -> .ivm bytes (isa_module_write), and the
 * compile pipeline behind ivm_compile_onnx_file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/cc.h"
#include "runtime/rt.h"

#define ARENA_ALIGN 64u

void cc_emitted_free(cc_emitted *b) {
  free(b->imports);
  free(b->tensors);
  free(b->instrs);
  free(b->operands);
  free(b->inputs);
  free(b->outputs);
  free(b->items);
  free(b->item_tensor);
  free(b->value_of_tensor);
  free(b->used);
  memset(b, 0, sizeof *b);
}

static uint32_t tensor_of(const cc_graph *g, int32_t v) {
  return v < 0 ? ISA_NO_TENSOR : g->values[v].tensor;
}

/* Control regions (isa/ops_control.def): sets the jump-target attributes of the region
 * markers to emitted instruction indices, marks the values written inside a region
 * (dyn[v] = 1: they become DYNAMIC, so the arena planner only plans straight-line values)
 * and records, per LoopBegin node, the emitted index of its LoopEnd (loop_end[i]). */
static ivm_status plan_regions(cc_graph *g, uint8_t *dyn, uint32_t *loop_end) {
  uint32_t *stk = calloc(g->n_nodes + 1, sizeof *stk), *ix = calloc(g->n_nodes + 1, sizeof *ix);
  ivm_status st = NULL;
  if (!stk || !ix) {
    st = ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
    goto done;
  }
  uint32_t depth = 0, next = 0;
  for (uint32_t i = 0; i < g->n_nodes && !st; i++) {
    cc_node *n = &g->nodes[i];
    if (n->dead) continue;
    ix[i] = next++;
    isa_builtin_op top = depth ? g->nodes[stk[depth - 1]].op : ISA_OP_COUNT;
    switch (n->op) {
      case ISA_OP_IfThen:
      case ISA_OP_LoopBegin: stk[depth++] = i; break;
      case ISA_OP_Else:
        if (top != ISA_OP_IfThen) goto bad;
        st = cc_node_set_int(g, stk[depth - 1], "else_at", ix[i]);
        stk[depth - 1] = i;
        break;
      case ISA_OP_EndIf:
        if (top != ISA_OP_Else) goto bad;
        st = cc_node_set_int(g, stk[--depth], "end_at", ix[i]);
        break;
      case ISA_OP_LoopEnd:
        if (top != ISA_OP_LoopBegin) goto bad;
        depth--;
        st = cc_node_set_int(g, stk[depth], "end_at", ix[i]);
        if (!st) st = cc_node_set_int(g, i, "begin_at", ix[stk[depth]]);
        loop_end[stk[depth]] = ix[i];
        break;
      default:
        if (depth)
          for (uint32_t k = 0; k < n->n_out; k++)
            if (n->out[k] >= 0) dyn[n->out[k]] = 1;
        break;
    }
    for (uint32_t k = 0; k < n->n_out; k++)
      if (n->out[k] >= 0 && g->values[n->out[k]].is_var) dyn[n->out[k]] = 1;
  }
  if (!st && depth) goto bad;
  goto done;
bad:
  st = ivm_error(IVM_ERR_INTERNAL, "compiler: control regions do not nest properly");
done:
  free(stk);
  free(ix);
  return st;
}

/* The import already made for a custom op's descriptor, or -1. */
static int32_t find_import(const cc_emitted *b, uint32_t n_imports, const isa_op_desc *d) {
  for (uint32_t k = 0; k < n_imports; k++)
    if (b->imports[k].version == d->version && strcmp(b->imports[k].name, d->name) == 0 &&
        strcmp(b->imports[k].domain, d->domain) == 0)
      return (int32_t)k;
  return -1;
}

ivm_status cc_build_def(cc_graph *g, cc_emitted *out) {
  cc_emitted b;
  memset(&b, 0, sizeof b);
  ivm_status st = NULL;
  uint32_t n_instrs = 0, n_operands = 0;
  for (uint32_t i = 0; i < g->n_nodes; i++)
    if (!g->nodes[i].dead) {
      n_instrs++;
      n_operands += g->nodes[i].n_in + g->nodes[i].n_out;
    }

  b.used = calloc(g->n_values + 1, 1);
  b.value_of_tensor = calloc(g->n_values + 1, sizeof *b.value_of_tensor);
  b.tensors = calloc(g->n_values + 1, sizeof *b.tensors);
  b.instrs = calloc(n_instrs + 1, sizeof *b.instrs);
  b.operands = calloc(n_operands + 1, sizeof *b.operands);
  b.imports = calloc(ISA_OP_COUNT + n_instrs, sizeof *b.imports);
  b.inputs = calloc(g->n_inputs + 1, sizeof *b.inputs);
  b.outputs = calloc(g->n_outputs + 1, sizeof *b.outputs);
  b.items = calloc(g->n_values + 1, sizeof *b.items);
  b.item_tensor = calloc(g->n_values + 1, sizeof *b.item_tensor);
  if (!b.used || !b.value_of_tensor || !b.tensors || !b.instrs || !b.operands || !b.imports ||
      !b.inputs || !b.outputs || !b.items || !b.item_tensor) {
    cc_emitted_free(&b);
    return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
  }

  uint8_t *dyn = calloc(g->n_values + 1, 1);
  uint32_t *loop_end = calloc(g->n_nodes + 1, sizeof *loop_end);
  if (!dyn || !loop_end) {
    free(dyn);
    free(loop_end);
    cc_emitted_free(&b);
    return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
  }
  st = plan_regions(g, dyn, loop_end);
  if (st) {
    free(dyn);
    free(loop_end);
    cc_emitted_free(&b);
    return st;
  }

  /* Which values become tensors. */
  for (uint32_t i = 0; i < g->n_inputs; i++) b.used[g->inputs[i]] = 1;
  for (uint32_t i = 0; i < g->n_outputs; i++) b.used[g->outputs[i]] = 1;
  for (uint32_t i = 0; i < g->n_nodes; i++) {
    const cc_node *n = &g->nodes[i];
    if (n->dead) continue;
    for (uint32_t k = 0; k < n->n_in; k++)
      if (n->in[k] >= 0) b.used[n->in[k]] = 1;
    for (uint32_t k = 0; k < n->n_out; k++)
      if (n->out[k] >= 0) b.used[n->out[k]] = 1;
  }

  uint32_t n_tensors = 0, n_consts = 0;
  for (uint32_t v = 0; v < g->n_values; v++) {
    if (!b.used[v]) continue;
    cc_value *val = &g->values[v];
    isa_def_tensor *t = &b.tensors[n_tensors];
    val->tensor = n_tensors;
    b.value_of_tensor[n_tensors] = (int32_t)v;
    t->name = val->name;
    t->dtype = val->type.dtype;
    if (!isa_dtype_valid(t->dtype)) {
      st = ivm_error(IVM_ERR_INTERNAL, "value '%s': element type unknown after inference", val->name);
      goto done;
    }
    if (val->kind == CC_V_CONST) {
      t->kind = ISA_TK_CONST;
      t->rank = (uint8_t)val->type.rank;
      memcpy(t->dims, val->type.dims, sizeof t->dims);
      t->size = val->nbytes;
      t->data = val->data;
      n_consts++;
    } else if (cc_type_static(&val->type) && !dyn[v] && !val->type.vkind) {
      t->kind = ISA_TK_ARENA;
      t->rank = (uint8_t)val->type.rank;
      memcpy(t->dims, val->type.dims, sizeof t->dims);
      size_t nb = cc_type_nbytes(&val->type);
      if (nb == SIZE_MAX || nb > ((uint64_t)1 << 46)) {
        st = ivm_error(IVM_ERR_UNSUPPORTED, "value '%s' is too large", val->name);
        goto done;
      }
      t->size = nb;
    } else {
      t->kind = ISA_TK_DYNAMIC;
      if (val->is_var) t->flags = ISA_TF_VAR;
      t->flags |= ISA_VKIND_TF(val->type.vkind); /* sequences / optionals (ops_seq.def) */
      if (val->type.rank < 0) {
        t->flags |= ISA_TF_RANK_UNKNOWN;
        t->rank = 0;
      } else {
        t->rank = (uint8_t)val->type.rank;
        memcpy(t->dims, val->type.dims, sizeof t->dims);
        for (int k = 0; k < t->rank; k++)
          if (t->dims[k] < ISA_DIM_SYM(0) &&
              (uint64_t)ISA_DIM_SYM_INDEX(t->dims[k]) >= g->n_symbols)
            t->dims[k] = ISA_DIM_ANY;
      }
      t->size = 0;
    }
    n_tensors++;
  }

  /* Instructions, imports, and lifetimes for the planner. */
  int32_t import_of[ISA_OP_COUNT];
  for (int i = 0; i < ISA_OP_COUNT; i++) import_of[i] = -1;
  uint32_t n_imports = 0, ii = 0, oi = 0;
  uint32_t *first = calloc(n_tensors + 1, sizeof *first);
  uint32_t *last = calloc(n_tensors + 1, sizeof *last);
  /* Loops open at the current instruction: emitted begin and end indices. A value defined
   * before a loop and read inside it stays live until the loop ends (the back edge). */
  uint32_t *lb = calloc(n_instrs + 1, sizeof *lb), *le = calloc(n_instrs + 1, sizeof *le);
  int64_t *defpos = malloc((n_tensors + 1) * sizeof *defpos);
  uint32_t n_loops = 0;
  int straight_line = 1; /* no control flow: the planner may keep independent values apart */
  if (!first || !last || !lb || !le || !defpos) {
    free(first);
    free(last);
    free(lb);
    free(le);
    free(defpos);
    st = ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
    goto done;
  }
  for (uint32_t t = 0; t < n_tensors; t++) defpos[t] = INT64_MAX;
  for (uint32_t i = 0; i < g->n_inputs; i++) defpos[g->values[g->inputs[i]].tensor] = -1;
  for (uint32_t i = 0; i < g->n_nodes; i++) {
    const cc_node *n = &g->nodes[i];
    if (n->dead) continue;
    if (n->op == ISA_OP_LoopEnd && n_loops) n_loops--;
    const isa_op_desc *nd = n->op == CC_OP_CUSTOM ? n->desc : isa_builtin_desc((isa_builtin_op)n->op);
    if (!nd || (nd->flags & (ISA_OPF_CONTROL | ISA_OPF_SEQ))) straight_line = 0;
    int32_t imp = n->op == CC_OP_CUSTOM ? find_import(&b, n_imports, n->desc) : import_of[n->op];
    if (imp < 0) {
      const isa_op_desc *d = n->desc;
      b.imports[n_imports].domain = d->domain;
      b.imports[n_imports].name = d->name;
      b.imports[n_imports].version = d->version;
      imp = (int32_t)n_imports++;
      if (n->op != CC_OP_CUSTOM) import_of[n->op] = imp;
    }
    isa_def_instr *in = &b.instrs[ii];
    in->op = (uint32_t)imp;
    in->n_in = (uint16_t)n->n_in;
    in->n_out = (uint16_t)n->n_out;
    in->operands = &b.operands[oi];
    for (uint32_t k = 0; k < n->n_in; k++) {
      uint32_t tix = tensor_of(g, n->in[k]);
      b.operands[oi++] = tix;
      if (tix != ISA_NO_TENSOR && last[tix] < ii) last[tix] = ii;
      for (uint32_t l = 0; tix != ISA_NO_TENSOR && l < n_loops; l++)
        if (defpos[tix] < (int64_t)lb[l]) {
          if (last[tix] < le[l]) last[tix] = le[l];
          break;
        }
    }
    for (uint32_t k = 0; k < n->n_out; k++) {
      uint32_t tix = tensor_of(g, n->out[k]);
      b.operands[oi++] = tix;
      if (tix != ISA_NO_TENSOR) {
        if (defpos[tix] == INT64_MAX) {
          first[tix] = ii;
          defpos[tix] = ii;
        }
        if (last[tix] < ii) last[tix] = ii;
      }
    }
    if (n->op == ISA_OP_LoopBegin) {
      lb[n_loops] = ii;
      le[n_loops++] = loop_end[i];
    }
    in->n_attrs = n->n_attrs;
    in->attrs = n->attrs;
    in->debug_name = n->name && *n->name ? n->name : NULL;
    ii++;
  }
  for (uint32_t i = 0; i < g->n_inputs; i++) {
    uint32_t tix = g->values[g->inputs[i]].tensor;
    first[tix] = 0;
    b.inputs[i] = tix;
  }
  for (uint32_t i = 0; i < g->n_outputs; i++) {
    uint32_t tix = g->values[g->outputs[i]].tensor;
    last[tix] = n_instrs;
    b.outputs[i] = tix;
  }

  uint32_t n_items = 0;
  for (uint32_t t = 0; t < n_tensors; t++) {
    if (b.tensors[t].kind != ISA_TK_ARENA) continue;
    b.items[n_items].size = b.tensors[t].size;
    b.items[n_items].first = first[t];
    b.items[n_items].last = last[t];
    b.item_tensor[n_items] = t;
    n_items++;
  }
  free(first);
  free(last);
  free(lb);
  free(le);
  free(defpos);
  free(dyn);
  free(loop_end);
  dyn = NULL;
  loop_end = NULL;
  uint64_t arena = 0, unplanned = 0;
  cc_plan_order *order = NULL;
  if (straight_line) IVM_TRY_GOTO(st, cc_plan_order_build(b.instrs, n_instrs, n_tensors, &order), done);
  st = cc_plan_arena_ordered(b.items, n_items, b.item_tensor, order, ARENA_ALIGN, &arena, &unplanned);
  cc_plan_order_free(order);
  if (st) goto done;
  for (uint32_t k = 0; k < n_items; k++) b.tensors[b.item_tensor[k]].offset = b.items[k].offset;

  isa_module_def def;
  memset(&def, 0, sizeof def);
  b.n_constants = n_consts;
  def.n_imports = n_imports;
  def.imports = b.imports;
  def.n_symbols = g->n_symbols;
  def.symbols = (const char *const *)g->symbols;
  def.n_tensors = n_tensors;
  def.tensors = b.tensors;
  def.n_instrs = n_instrs;
  def.instrs = b.instrs;
  def.n_inputs = g->n_inputs;
  def.inputs = b.inputs;
  def.n_outputs = g->n_outputs;
  def.outputs = b.outputs;
  def.arena_size = arena;
  def.unplanned_size = unplanned;
  def.arena_align = ARENA_ALIGN;
  b.def = def;
  *out = b;
  return NULL;
done:
  free(dyn);
  free(loop_end);
  cc_emitted_free(&b);
  return st;
}

ivm_status cc_emit(cc_graph *g, uint8_t **out_bytes, size_t *out_size, cc_emit_stats *stats) {
  *out_bytes = NULL;
  *out_size = 0;
  cc_emitted e;
  IVM_TRY(cc_build_def(g, &e));
  ivm_status st = isa_module_write(&e.def, out_bytes, out_size);
  if (!st && stats) {
    stats->arena_size = e.def.arena_size;
    stats->unplanned_size = e.def.unplanned_size;
    stats->instructions = e.def.n_instrs;
    stats->constants = e.n_constants;
  }
  cc_emitted_free(&e);
  return st;
}

ivm_status cc_import_and_optimize(const uint8_t *bytes, size_t size, const char *base_dir,
                                  cc_graph *g) {
  IVM_TRY(cc_import_onnx(bytes, size, base_dir, g));
  IVM_TRY(cc_pass_identity(g));
  IVM_TRY(cc_pass_fuse(g, NULL));
  IVM_TRY(cc_pass_dce(g));
  IVM_TRY(cc_pass_blocked_layout(g));
  return cc_pass_weight_layout(g);
}

/* Every fixed shape must name a graph input (a misspelt name would otherwise compile a
 * model that still has dynamic shapes, silently). */
static ivm_status check_input_shapes(const cc_graph *g) {
  for (uint32_t k = 0; k < g->n_input_shapes; k++) {
    const char *name = g->input_shapes[k].name;
    int found = 0;
    for (uint32_t i = 0; name && !found && i < g->n_inputs; i++)
      found = strcmp(g->values[g->inputs[i]].name, name) == 0;
    if (!found)
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "input shape given for '%s', which is not a graph input",
                       name ? name : "(null)");
  }
  return NULL;
}

ivm_status cc_compile_onnx_bytes(const uint8_t *bytes, size_t size, const char *base_dir,
                                 const ivm_input_shape *input_shapes, uint32_t n_input_shapes,
                                 isa_registry *registry, uint8_t **out_bytes, size_t *out_size,
                                 cc_emit_stats *stats) {
  cc_graph g;
  cc_graph_init(&g);
  g.registry = registry;
  g.input_shapes = input_shapes;
  g.n_input_shapes = n_input_shapes;
  ivm_status st = cc_import_and_optimize(bytes, size, base_dir, &g);
  if (!st) st = check_input_shapes(&g);
  if (!st) st = cc_emit(&g, out_bytes, out_size, stats);
  cc_graph_free(&g);
  return st;
}

ivm_status ivm_compile_onnx_file(const char *path, void **out_bytes, size_t *out_size,
                                 ivm_compile_report *out_report) {
  return ivm_compile_onnx_file_opts(path, NULL, out_bytes, out_size, out_report);
}

/* Built-ins, the ivm.ffi / ivm.expr families and the plugins the host allowed. */
static ivm_status compile_registry(const ivm_compile_options *opts, isa_registry **out) {
  IVM_TRY(rt_registry_create_builtin(out));
  for (uint32_t k = 0; opts && k < opts->n_allow_plugins; k++) {
    ivm_status st = rt_plugin_add_to_registry(opts->allow_plugins[k], *out);
    if (st) {
      isa_registry_destroy(*out);
      *out = NULL;
      return st;
    }
  }
  return NULL;
}

ivm_status ivm_compile_onnx_file_opts(const char *path, const ivm_compile_options *opts,
                                      void **out_bytes, size_t *out_size,
                                      ivm_compile_report *out_report) {
  if (!path || !out_bytes || !out_size)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "ivm_compile_onnx_file: NULL argument");
  *out_bytes = NULL;
  *out_size = 0;
  if (out_report) memset(out_report, 0, sizeof *out_report);
  uint8_t *bytes;
  size_t size;
  IVM_TRY(cc_read_file(path, &bytes, &size));
  /* External data is resolved relative to the model's directory. */
  size_t plen = strlen(path);
  char *dir = malloc(plen + 2);
  if (!dir) {
    free(bytes);
    return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
  }
  const char *slash = strrchr(path, '/');
  if (slash) {
    size_t dl = (size_t)(slash - path);
    if (dl == 0) dl = 1; /* "/model.onnx" */
    memcpy(dir, path, dl);
    dir[dl] = 0;
  } else {
    strcpy(dir, ".");
  }
  uint8_t *out = NULL;
  size_t out_len = 0;
  cc_emit_stats stats;
  memset(&stats, 0, sizeof stats);
  isa_registry *reg = NULL;
  ivm_status st = compile_registry(opts, &reg);
  if (!st)
    st = cc_compile_onnx_bytes(bytes, size, dir, opts ? opts->input_shapes : NULL,
                               opts ? opts->n_input_shapes : 0, reg, &out, &out_len, &stats);
  isa_registry_destroy(reg);
  free(bytes);
  free(dir);
  if (st) return ivm_status_wrap(st, "%s", path);
  *out_bytes = out;
  *out_size = out_len;
  if (out_report) {
    out_report->arena_bytes = stats.arena_size;
    out_report->unplanned_bytes = stats.unplanned_size;
    out_report->instructions = stats.instructions;
    out_report->constants = stats.constants;
  }
  return NULL;
}
