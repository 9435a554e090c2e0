/* ONNX model import: protobuf parsing, tensors (raw, typed fields, external data), graph
 * inputs/outputs, and the node loop (translation in onnx_ops.c). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/onnx_import.h"

/* ---- name map (open addressing, FNV-1a) ----------------------------------------- */
static uint32_t hash_str(const char *s) {
  uint32_t h = 2166136261u;
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
  return h;
}

int32_t cc_imp_lookup(const cc_imp *im, const char *name) {
  const cc_name_map *m = &im->names;
  if (!m->cap || !name) return -1;
  for (uint32_t i = hash_str(name) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
    if (!m->keys[i]) return -1;
    if (strcmp(m->keys[i], name) == 0) return m->ids[i];
  }
}

static uint32_t slot_of(const cc_name_map *m, const char *name) {
  for (uint32_t i = hash_str(name) & (m->cap - 1);; i = (i + 1) & (m->cap - 1))
    if (!m->keys[i] || strcmp(m->keys[i], name) == 0) return i;
}

uint32_t cc_imp_scope_push(cc_imp *im) {
  im->scope++;
  return im->n_undo;
}

void cc_imp_scope_pop(cc_imp *im, uint32_t mark) {
  while (im->n_undo > mark) {
    const cc_scope_undo *u = &im->undo[--im->n_undo];
    uint32_t i = slot_of(&im->names, u->key);
    if (!im->names.keys[i]) continue; /* cannot happen: keys are never removed */
    im->names.ids[i] = u->old_id;
    im->names.depths[i] = u->old_depth;
  }
  if (im->scope) im->scope--;
}

ivm_status cc_imp_define(cc_imp *im, const char *name, int32_t id) {
  cc_name_map *m = &im->names;
  if ((m->count + 1) * 2 > m->cap) {
    uint32_t cap = m->cap ? m->cap * 2 : 256;
    char **keys = calloc(cap, sizeof *keys);
    int32_t *ids = calloc(cap, sizeof *ids);
    uint32_t *depths = calloc(cap, sizeof *depths);
    if (!keys || !ids || !depths) {
      free(keys);
      free(ids);
      free(depths);
      return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
    }
    for (uint32_t i = 0; i < m->cap; i++) {
      if (!m->keys[i]) continue;
      uint32_t j = hash_str(m->keys[i]) & (cap - 1);
      while (keys[j]) j = (j + 1) & (cap - 1);
      keys[j] = m->keys[i];
      ids[j] = m->ids[i];
      depths[j] = m->depths[i];
    }
    free(m->keys);
    free(m->ids);
    free(m->depths);
    m->keys = keys;
    m->ids = ids;
    m->depths = depths;
    m->cap = cap;
  }
  if (im->scope && im->n_undo >= im->cap_undo) {
    uint32_t cap = im->cap_undo ? im->cap_undo * 2 : 64;
    cc_scope_undo *u = realloc(im->undo, cap * sizeof *u);
    if (!u) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
    im->undo = u;
    im->cap_undo = cap;
  }
  uint32_t i = slot_of(m, name);
  if (m->keys[i]) {
    /* Defined in this scope: an error; in an outer scope: shadowed until the scope ends. */
    if (m->ids[i] >= 0 && m->depths[i] == im->scope)
      return ivm_error(IVM_ERR_FORMAT, "value '%s' is defined twice", name);
  } else {
    m->keys[i] = cc_strdup(im->g, name);
    if (!m->keys[i]) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
    m->ids[i] = -1;
    m->depths[i] = 0;
    m->count++;
  }
  if (im->scope) {
    cc_scope_undo *u = &im->undo[im->n_undo++];
    u->key = m->keys[i];
    u->old_id = m->ids[i];
    u->old_depth = m->depths[i];
  }
  m->ids[i] = id;
  m->depths[i] = im->scope;
  return NULL;
}

ivm_status cc_imp_unsupported(const cc_imp *im, const char *fmt, ...) {
  char what[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  return ivm_error(IVM_ERR_UNSUPPORTED, "%s (node '%s', opset %lld)", what,
                   im->node_name ? im->node_name : "", (long long)im->opset);
}

/* ---- tensors ---------------------------------------------------------------------- */
static int safe_rel_path(const char *p) {
  if (!p || !*p || p[0] == '/' || p[0] == '\\') return 0;
  if (strchr(p, ':')) return 0; /* drive letters / URLs */
  const char *s = p;
  while (*s) {
    const char *e = s;
    while (*e && *e != '/' && *e != '\\') e++;
    if (e - s == 2 && s[0] == '.' && s[1] == '.') return 0;
    s = *e ? e + 1 : e;
  }
  return 1;
}

static int parse_u64(const char *s, uint64_t *out) {
  if (!s || !*s) return 0;
  uint64_t v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return 0;
    if (v > (UINT64_MAX - 9) / 10) return 0;
    v = v * 10 + (uint64_t)(*s - '0');
  }
  *out = v;
  return 1;
}

static ivm_status read_external(const Onnx__TensorProto *t, const char *base_dir, void *dst,
                                size_t nbytes) {
  const char *loc = NULL;
  uint64_t offset = 0, length = nbytes;
  int has_len = 0;
  for (size_t i = 0; i < t->n_external_data; i++) {
    const Onnx__StringStringEntryProto *e = t->external_data[i];
    if (!e || !e->key) continue;
    if (strcmp(e->key, "location") == 0) loc = e->value;
    else if (strcmp(e->key, "offset") == 0) {
      if (!parse_u64(e->value, &offset))
        return ivm_error(IVM_ERR_FORMAT, "external data: bad offset '%s'", e->value ? e->value : "");
    } else if (strcmp(e->key, "length") == 0) {
      if (!parse_u64(e->value, &length))
        return ivm_error(IVM_ERR_FORMAT, "external data: bad length '%s'", e->value ? e->value : "");
      has_len = 1;
    }
  }
  if (!loc) return ivm_error(IVM_ERR_FORMAT, "external data: no location");
  if (!base_dir)
    return ivm_error(IVM_ERR_UNSUPPORTED, "external data '%s': no model directory to resolve it", loc);
  if (!safe_rel_path(loc))
    return ivm_error(IVM_ERR_PERMISSION,
                     "external data location '%s' must be a relative path inside the model's "
                     "directory", loc);
  if (has_len && length != nbytes)
    return ivm_error(IVM_ERR_FORMAT, "external data '%s': length %llu, expected %zu bytes", loc,
                     (unsigned long long)length, nbytes);
  size_t plen = strlen(base_dir) + strlen(loc) + 2;
  char *path = malloc(plen);
  if (!path) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
  snprintf(path, plen, "%s/%s", base_dir, loc);
  FILE *f = fopen(path, "rb");
  if (!f) {
    ivm_status st = ivm_error(IVM_ERR_NOT_FOUND, "external data '%s': cannot open: %s", path,
                              strerror(errno));
    free(path);
    return st;
  }
  ivm_status st = NULL;
  if (offset > (uint64_t)INT64_MAX || fseeko(f, (off_t)offset, SEEK_SET) != 0)
    st = ivm_error(IVM_ERR_FORMAT, "external data '%s': bad offset %llu", path,
                   (unsigned long long)offset);
  else if (nbytes && fread(dst, 1, nbytes, f) != nbytes)
    st = ivm_error(IVM_ERR_FORMAT, "external data '%s': file too short for %zu bytes at offset %llu",
                   path, nbytes, (unsigned long long)offset);
  fclose(f);
  free(path);
  return st;
}

ivm_status cc_tensor_from_proto(const void *proto, const char *base_dir, cc_tensor *out) {
  const Onnx__TensorProto *t = proto;
  memset(out, 0, sizeof *out);
  const char *tname = t->name ? t->name : "";
  int dt = t->has_data_type ? t->data_type : 0;
  if (dt == 8) return ivm_error(IVM_ERR_UNSUPPORTED, "tensor '%s': string tensors are not supported", tname);
  if (!isa_dtype_valid(dt))
    return ivm_error(IVM_ERR_UNSUPPORTED, "tensor '%s': unsupported data type %d", tname, dt);
  if (t->n_dims > ISA_MAX_RANK)
    return ivm_error(IVM_ERR_UNSUPPORTED, "tensor '%s': rank %zu exceeds %d", tname, t->n_dims,
                     ISA_MAX_RANK);
  size_t es = ivm_dtype_size((ivm_dtype)dt);
  uint64_t numel = 1;
  for (size_t k = 0; k < t->n_dims; k++) {
    if (t->dims[k] < 0) return ivm_error(IVM_ERR_FORMAT, "tensor '%s': negative dimension", tname);
    if (t->dims[k] && numel > (UINT64_MAX >> 8) / (uint64_t)t->dims[k])
      return ivm_error(IVM_ERR_FORMAT, "tensor '%s': too many elements", tname);
    numel *= (uint64_t)t->dims[k];
    out->dims[k] = t->dims[k];
  }
  out->rank = (int)t->n_dims;
  out->dtype = dt;
  if (numel > SIZE_MAX / es / 2) return ivm_error(IVM_ERR_FORMAT, "tensor '%s': too large", tname);
  size_t nbytes = (size_t)numel * es;
  int external = t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
  /* Validate sizes before allocating: the counts come from the (untrusted) file. */
  size_t count = 0;
  const char *field = NULL;
  if (!external && t->has_raw_data) {
    if (t->raw_data.len != nbytes)
      return ivm_error(IVM_ERR_FORMAT, "tensor '%s': raw_data has %zu bytes, expected %zu", tname,
                       t->raw_data.len, nbytes);
  } else if (!external) {
    switch (dt) {
      case IVM_DT_F32: count = t->n_float_data; field = "float_data"; break;
      case IVM_DT_I32: case IVM_DT_I16: case IVM_DT_I8: case IVM_DT_U16: case IVM_DT_U8:
      case IVM_DT_BOOL: case IVM_DT_F16: case IVM_DT_BF16:
        count = t->n_int32_data; field = "int32_data"; break;
      case IVM_DT_I64: count = t->n_int64_data; field = "int64_data"; break;
      case IVM_DT_F64: count = t->n_double_data; field = "double_data"; break;
      case IVM_DT_U32: case IVM_DT_U64: count = t->n_uint64_data; field = "uint64_data"; break;
      default: break;
    }
    if (count != numel)
      return ivm_error(IVM_ERR_FORMAT, "tensor '%s': %s has %zu elements, expected %llu", tname,
                       field ? field : "data", count, (unsigned long long)numel);
  }
  uint8_t *d = malloc(nbytes ? nbytes : 1);
  if (!d) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "tensor '%s': cannot allocate %zu bytes", tname, nbytes);
  if (external) {
    ivm_status st = read_external(t, base_dir, d, nbytes);
    if (st) {
      free(d);
      return ivm_status_wrap(st, "tensor '%s'", tname);
    }
  } else if (t->has_raw_data) {
    if (nbytes) memcpy(d, t->raw_data.data, nbytes);
  } else {
    for (size_t i = 0; i < numel; i++) {
      switch (dt) {
        case IVM_DT_F32: ((float *)d)[i] = t->float_data[i]; break;
        case IVM_DT_I32: ((int32_t *)d)[i] = t->int32_data[i]; break;
        case IVM_DT_I16: ((int16_t *)d)[i] = (int16_t)t->int32_data[i]; break;
        case IVM_DT_U16: case IVM_DT_F16: case IVM_DT_BF16:
          ((uint16_t *)d)[i] = (uint16_t)t->int32_data[i]; break;
        case IVM_DT_I8: ((int8_t *)d)[i] = (int8_t)t->int32_data[i]; break;
        case IVM_DT_U8: ((uint8_t *)d)[i] = (uint8_t)t->int32_data[i]; break;
        case IVM_DT_BOOL: d[i] = t->int32_data[i] != 0; break;
        case IVM_DT_I64: ((int64_t *)d)[i] = t->int64_data[i]; break;
        case IVM_DT_F64: ((double *)d)[i] = t->double_data[i]; break;
        case IVM_DT_U32: ((uint32_t *)d)[i] = (uint32_t)t->uint64_data[i]; break;
        case IVM_DT_U64: ((uint64_t *)d)[i] = t->uint64_data[i]; break;
        default: break;
      }
    }
  }
  if (dt == IVM_DT_BOOL)
    for (size_t i = 0; i < nbytes; i++) d[i] = d[i] != 0; /* canonical 0/1 bytes */
  out->data = d;
  out->nbytes = nbytes;
  return NULL;
}

/* ---- value types ------------------------------------------------------------------ */
ivm_status cc_type_from_type_proto(cc_graph *g, const Onnx__TypeProto *tp, const char *name,
                                   isa_type *out) {
  memset(out, 0, sizeof *out);
  out->rank = -1;
  /* Sequences and optionals of tensors: the element's type, with the value kind. */
  uint8_t vk = ISA_VK_TENSOR;
  if (tp && tp->value_case == ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE && tp->optional_type) {
    vk = ISA_VK_OPT;
    tp = tp->optional_type->elem_type;
  }
  if (tp && tp->value_case == ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE && tp->sequence_type) {
    vk |= ISA_VK_SEQ;
    tp = tp->sequence_type->elem_type;
  }
  if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
    return ivm_error(IVM_ERR_UNSUPPORTED,
                     "value '%s': only tensors and sequences / optionals of tensors are supported",
                     name);
  out->vkind = vk;
  const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
  int dt = tt->has_elem_type ? tt->elem_type : 0;
  if (!isa_dtype_valid(dt))
    return ivm_error(IVM_ERR_UNSUPPORTED, "value '%s': unsupported element type %d", name, dt);
  out->dtype = (uint8_t)dt;
  if (!tt->shape) return NULL;
  if (tt->shape->n_dim > ISA_MAX_RANK)
    return ivm_error(IVM_ERR_UNSUPPORTED, "value '%s': rank %zu exceeds %d", name, tt->shape->n_dim,
                     ISA_MAX_RANK);
  out->rank = (int8_t)tt->shape->n_dim;
  for (size_t k = 0; k < tt->shape->n_dim; k++) {
    const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[k];
    out->dims[k] = ISA_DIM_ANY;
    if (!d) continue;
    if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
      if (d->dim_value < 0)
        return ivm_error(IVM_ERR_FORMAT, "value '%s': negative dimension", name);
      out->dims[k] = d->dim_value;
    } else if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM &&
               d->dim_param && *d->dim_param) {
      uint32_t s;
      IVM_TRY(cc_add_symbol(g, d->dim_param, &s));
      out->dims[k] = ISA_DIM_SYM(s);
    }
  }
  return NULL;
}

static ivm_status fix_input_shape(const cc_graph *g, const char *name, isa_type *t);

static ivm_status type_from_proto(cc_graph *g, const Onnx__ValueInfoProto *vi, isa_type *out) {
  return cc_type_from_type_proto(g, vi->type, vi->name ? vi->name : "", out);
}

/* Declared types (value_info, outputs) only refine what inference left unknown:
 * the element type and symbolic names for unknown dims. Concrete sizes are not trusted. */
static void refine_type(isa_type *t, const isa_type *decl) {
  if (t->vkind != decl->vkind) return;
  if (t->dtype == IVM_DT_NONE) t->dtype = decl->dtype;
  if (t->rank < 0 || decl->rank != t->rank) return;
  for (int k = 0; k < t->rank; k++)
    if (t->dims[k] == ISA_DIM_ANY && decl->dims[k] <= ISA_DIM_SYM(0)) t->dims[k] = decl->dims[k];
}

/* Infers node *k of a subgraph. Inside an If branch, shapes fixed with --shape can make a
 * branch that will not run for them fail (silero_vad_v5's 8 kHz branch given 16 kHz
 * frames: "cannot squeeze axis 2 of size 2"). Such a node reads its non-constant inputs
 * through copies whose dims are left unknown (`loose` Identity nodes inserted before it):
 * it then runs with run-time inference, which reports the error with the instruction
 * should the branch run, and the module verifies. *k moves past the copies. */
static ivm_status infer_branch_node(cc_imp *im, uint32_t *k) {
  cc_graph *g = im->g;
  ivm_status st = cc_infer_node(g, *k);
  if (!st || !im->if_branches || ivm_status_get_code(st) != IVM_ERR_INVALID_ARGUMENT)
    return ivm_status_wrap(st, "opset %lld", (long long)im->opset);
  uint32_t at = *k;
  for (uint32_t i = 0; i < g->nodes[*k].n_in; i++) {
    int32_t x = g->nodes[*k].in[i];
    if (x < 0 || g->values[x].kind == CC_V_CONST || g->values[x].type.rank <= 0 ||
        g->values[x].type.vkind)
      continue;
    int32_t y = cc_add_value(g, g->values[x].name, CC_V_INTER);
    if (y < 0) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
    IVM_TRY(cc_insert_node(g, at, ISA_OP_Identity, g->nodes[*k].name, &x, 1, &y, 1));
    g->nodes[at].loose = 1;
    IVM_TRY(cc_infer_node(g, at));
    (*k)++;
    g->nodes[*k].in[i] = y;
  }
  ivm_status again = *k > at ? cc_infer_node(g, *k) : st;
  if (again) {
    if (again != st) ivm_status_free(again);
    return ivm_status_wrap(st, "opset %lld", (long long)im->opset);
  }
  ivm_status_free(st);
  return NULL;
}

ivm_status cc_imp_subgraph(cc_imp *im, const Onnx__GraphProto *gr) {
  cc_graph *g = im->g;
  const Onnx__NodeProto *saved_node = im->node;
  const char *saved_name = im->node_name;
  if (gr->n_sparse_initializer)
    return ivm_error(IVM_ERR_UNSUPPORTED, "sparse initializers are not supported");
  for (size_t i = 0; i < gr->n_initializer; i++) {
    const Onnx__TensorProto *t = gr->initializer[i];
    if (!t || !t->name || !*t->name) return ivm_error(IVM_ERR_FORMAT, "initializer %zu has no name", i);
    cc_tensor ct;
    IVM_TRY(ivm_status_wrap(cc_tensor_from_proto(t, im->base_dir, &ct), "initializer %zu", i));
    int32_t id;
    IVM_TRY(cc_add_const(g, t->name, ct.dtype, ct.rank, ct.dims, ct.data, ct.nbytes, &id));
    IVM_TRY(cc_imp_define(im, t->name, id));
  }
  ivm_status st = NULL;
  for (size_t i = 0; i < gr->n_node && !st; i++) {
    const Onnx__NodeProto *n = gr->node[i];
    if (!n || !n->op_type) {
      st = ivm_error(IVM_ERR_FORMAT, "node %zu has no op_type", i);
      break;
    }
    im->node = n;
    im->node_name = n->name ? n->name : "";
    uint32_t first = g->n_nodes;
    st = cc_imp_translate(im);
    for (uint32_t k = first; k < g->n_nodes && !st; k++) {
      int folded;
      st = infer_branch_node(im, &k);
      if (!st) st = cc_fold_node(g, k, &folded);
    }
  }
  im->node = saved_node;
  im->node_name = saved_name;
  return st;
}

static ivm_status import_graph(cc_imp *im, const Onnx__ModelProto *m) {
  cc_graph *g = im->g;
  const Onnx__GraphProto *gr = m->graph;
  if (!gr) return ivm_error(IVM_ERR_FORMAT, "model has no graph");

  im->opset = -1;
  int training = 0; /* imports ai.onnx.preview.training (the optimizers, opset 1) */
  for (size_t i = 0; i < m->n_opset_import; i++) {
    const Onnx__OperatorSetIdProto *o = m->opset_import[i];
    if (!o) continue;
    if (!o->domain || !*o->domain || strcmp(o->domain, "ai.onnx") == 0)
      im->opset = o->has_version ? o->version : 1;
    else if (strcmp(o->domain, "ai.onnx.preview.training") == 0)
      training = 1;
  }
  if (im->opset < 0) {
    if (m->n_opset_import && !training)
      return ivm_error(IVM_ERR_UNSUPPORTED, "model imports no default-domain (ai.onnx) opset");
    im->opset = 1; /* IR version 1 models have no opset_import; a training-only model
                    * holds only ai.onnx.preview.training ops (version 1) */
  }
  if (gr->n_sparse_initializer)
    return ivm_error(IVM_ERR_UNSUPPORTED, "sparse initializers are not supported");

  for (size_t i = 0; i < gr->n_initializer; i++) {
    const Onnx__TensorProto *t = gr->initializer[i];
    if (!t || !t->name || !*t->name) return ivm_error(IVM_ERR_FORMAT, "initializer %zu has no name", i);
    cc_tensor ct;
    IVM_TRY(ivm_status_wrap(cc_tensor_from_proto(t, im->base_dir, &ct), "initializer %zu", i));
    int32_t id;
    IVM_TRY(cc_add_const(g, t->name, ct.dtype, ct.rank, ct.dims, ct.data, ct.nbytes, &id));
    IVM_TRY(cc_imp_define(im, t->name, id));
  }

  for (size_t i = 0; i < gr->n_input; i++) {
    const Onnx__ValueInfoProto *vi = gr->input[i];
    if (!vi || !vi->name || !*vi->name) return ivm_error(IVM_ERR_FORMAT, "graph input %zu has no name", i);
    if (cc_imp_lookup(im, vi->name) >= 0) continue; /* an initializer: a constant */
    isa_type t;
    IVM_TRY(ivm_status_wrap(type_from_proto(g, vi, &t), "graph input %zu", i));
    IVM_TRY(fix_input_shape(g, vi->name, &t));
    int32_t id = cc_add_value(g, vi->name, CC_V_INPUT);
    if (id < 0) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
    g->values[id].type = t;
    IVM_TRY(cc_imp_define(im, vi->name, id));
    if (g->n_inputs >= g->cap_io_in) {
      uint32_t cap = g->cap_io_in ? g->cap_io_in * 2 : 8;
      int32_t *p = realloc(g->inputs, cap * sizeof *p);
      if (!p) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
      g->inputs = p;
      g->cap_io_in = cap;
    }
    g->inputs[g->n_inputs++] = id;
  }

  for (size_t i = 0; i < gr->n_node; i++) {
    const Onnx__NodeProto *n = gr->node[i];
    if (!n || !n->op_type) return ivm_error(IVM_ERR_FORMAT, "node %zu has no op_type", i);
    im->node = n;
    im->node_name = n->name ? n->name : "";
    uint32_t first = g->n_nodes;
    IVM_TRY(cc_imp_translate(im));
    for (uint32_t k = first; k < g->n_nodes; k++) {
      int folded;
      IVM_TRY(ivm_status_wrap(cc_infer_node(g, k), "opset %lld", (long long)im->opset));
      IVM_TRY(cc_fold_node(g, k, &folded));
    }
  }

  /* Declared types refine unknown dims with symbolic names. */
  for (size_t i = 0; i < gr->n_value_info + gr->n_output; i++) {
    const Onnx__ValueInfoProto *vi = i < gr->n_value_info ? gr->value_info[i]
                                                          : gr->output[i - gr->n_value_info];
    if (!vi || !vi->name) continue;
    int32_t id = cc_imp_lookup(im, vi->name);
    if (id < 0 || g->values[id].kind != CC_V_INTER) continue;
    isa_type decl;
    ivm_status st = type_from_proto(g, vi, &decl);
    if (st) {
      ivm_status_free(st); /* declarations are optional hints */
      continue;
    }
    refine_type(&g->values[id].type, &decl);
  }

  if (gr->n_output == 0) return ivm_error(IVM_ERR_FORMAT, "graph has no outputs");
  g->outputs = calloc(gr->n_output, sizeof *g->outputs);
  if (!g->outputs) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
  for (size_t i = 0; i < gr->n_output; i++) {
    const Onnx__ValueInfoProto *vi = gr->output[i];
    if (!vi || !vi->name) return ivm_error(IVM_ERR_FORMAT, "graph output %zu has no name", i);
    int32_t id = cc_imp_lookup(im, vi->name);
    if (id < 0)
      return ivm_error(IVM_ERR_FORMAT, "graph output '%s' is not produced by any node", vi->name);
    g->values[id].is_output = 1;
    g->outputs[g->n_outputs++] = id;
  }
  return NULL;
}

/* Applies the caller's shape for input `name`, if any: it must agree with every dim the
 * model states. */
static ivm_status fix_input_shape(const cc_graph *g, const char *name, isa_type *t) {
  for (uint32_t k = 0; k < g->n_input_shapes; k++) {
    const ivm_input_shape *s = &g->input_shapes[k];
    if (!s->name || strcmp(s->name, name) != 0) continue;
    if (s->rank < 0 || s->rank > ISA_MAX_RANK)
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "input '%s': bad rank %d", name, (int)s->rank);
    if (t->rank >= 0 && t->rank != s->rank)
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "input '%s': the model gives rank %d, not %d",
                       name, (int)t->rank, (int)s->rank);
    for (int d = 0; d < s->rank; d++) {
      if (s->dims[d] < 0)
        return ivm_error(IVM_ERR_INVALID_ARGUMENT, "input '%s': dim %d is negative", name, d);
      if (t->rank >= 0 && t->dims[d] >= 0 && t->dims[d] != s->dims[d])
        return ivm_error(IVM_ERR_INVALID_ARGUMENT, "input '%s': dim %d is %lld in the model, not %lld",
                         name, d, (long long)t->dims[d], (long long)s->dims[d]);
    }
    t->rank = (int8_t)s->rank;
    for (int d = 0; d < s->rank; d++) t->dims[d] = s->dims[d];
  }
  return NULL;
}

ivm_status cc_import_onnx(const uint8_t *bytes, size_t size, const char *base_dir, cc_graph *g) {
  Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, size, bytes);
  if (!m)
    return ivm_error(IVM_ERR_FORMAT, "not a valid ONNX model (protobuf decoding failed)");
  cc_imp im;
  memset(&im, 0, sizeof im);
  im.g = g;
  im.base_dir = base_dir;
  im.model = m;
  ivm_status st = import_graph(&im, m);
  free(im.names.keys);
  free(im.names.ids);
  free(im.names.depths);
  free(im.undo);
  onnx__model_proto__free_unpacked(m, NULL);
  return st;
}
