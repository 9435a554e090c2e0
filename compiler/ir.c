/* Graph IR: values, nodes and a bump allocator for their small pieces. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/cc.h"

struct cc_block {
  cc_block *next;
  size_t used, cap;
  _Alignas(16) unsigned char data[];
};

void cc_graph_init(cc_graph *g) { memset(g, 0, sizeof *g); }

void cc_graph_free(cc_graph *g) {
  if (!g) return;
  for (uint32_t i = 0; i < g->n_values; i++) free(g->values[i].data);
  free(g->values);
  free(g->nodes);
  free(g->inputs);
  free(g->outputs);
  free(g->symbols);
  cc_block *b = g->blocks;
  while (b) {
    cc_block *n = b->next;
    free(b);
    b = n;
  }
  memset(g, 0, sizeof *g);
}

void *cc_alloc(cc_graph *g, size_t size) {
  size = (size + 15) & ~(size_t)15;
  if (size == 0) size = 16;
  cc_block *b = g->blocks;
  if (!b || b->cap - b->used < size) {
    size_t cap = size > 65536 ? size : 65536;
    b = malloc(sizeof *b + cap);
    if (!b) return NULL;
    b->cap = cap;
    b->used = 0;
    b->next = g->blocks;
    g->blocks = b;
  }
  void *p = b->data + b->used;
  b->used += size;
  memset(p, 0, size);
  return p;
}

char *cc_strdup(cc_graph *g, const char *s) {
  if (!s) s = "";
  size_t n = strlen(s);
  char *p = cc_alloc(g, n + 1);
  if (p) memcpy(p, s, n + 1);
  return p;
}

static int grow(void **arr, uint32_t *cap, uint32_t need, size_t elem) {
  if (need <= *cap) return 1;
  uint32_t c = *cap ? *cap : 16;
  while (c < need) c *= 2;
  void *p = realloc(*arr, (size_t)c * elem);
  if (!p) return 0;
  *arr = p;
  *cap = c;
  return 1;
}

int32_t cc_add_value(cc_graph *g, const char *name, cc_value_kind kind) {
  if (g->n_values >= INT32_MAX - 1) return -1;
  if (!grow((void **)&g->values, &g->cap_values, g->n_values + 1, sizeof *g->values)) return -1;
  char tmp[64];
  if (!name || !*name) {
    snprintf(tmp, sizeof tmp, "_ivm_t%u", g->tmp_counter++);
    name = tmp;
  }
  cc_value *v = &g->values[g->n_values];
  memset(v, 0, sizeof *v);
  v->name = cc_strdup(g, name);
  if (!v->name) return -1;
  v->type.rank = -1;
  v->kind = (uint8_t)kind;
  v->producer = -1;
  return (int32_t)g->n_values++;
}

ivm_status cc_add_const(cc_graph *g, const char *name, int dtype, int rank, const int64_t *dims,
                        void *data, size_t nbytes, int32_t *out_id) {
  int32_t id = cc_add_value(g, name, CC_V_CONST);
  if (id < 0) {
    free(data);
    return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
  }
  cc_value *v = &g->values[id];
  v->type.dtype = (uint8_t)dtype;
  v->type.rank = (int8_t)rank;
  for (int k = 0; k < rank; k++) v->type.dims[k] = dims[k];
  v->data = data;
  v->nbytes = nbytes;
  *out_id = id;
  return NULL;
}

uint32_t cc_value_uses(const cc_graph *g, int32_t v) {
  uint32_t uses = 0;
  for (uint32_t i = 0; i < g->n_nodes; i++) {
    const cc_node *n = &g->nodes[i];
    if (n->dead) continue;
    for (uint32_t k = 0; k < n->n_in; k++) uses += n->in[k] == v;
  }
  for (uint32_t i = 0; i < g->n_outputs; i++) uses += g->outputs[i] == v;
  return uses;
}

ivm_status cc_add_const_i64(cc_graph *g, const char *hint, const int64_t *vals, uint32_t n,
                            int rank, int32_t *out_id) {
  int64_t *d = malloc(n ? n * sizeof *d : 1);
  if (!d) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
  if (n) memcpy(d, vals, n * sizeof *d);
  int64_t dims[1] = {(int64_t)n};
  char name[96];
  snprintf(name, sizeof name, "_ivm_c%u_%s", g->tmp_counter++, hint ? hint : "");
  return cc_add_const(g, name, IVM_DT_I64, rank, dims, d, n * sizeof *d, out_id);
}

static ivm_status add_node(cc_graph *g, isa_builtin_op op, const isa_op_desc *desc,
                           const char *name, const int32_t *in, uint32_t n_in,
                           const int32_t *out, uint32_t n_out, uint32_t *out_node) {
  if (!desc) return ivm_error(IVM_ERR_INTERNAL, "compiler: node '%s' has no op", name);
  if (!grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof *g->nodes))
    return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
  cc_node *n = &g->nodes[g->n_nodes];
  memset(n, 0, sizeof *n);
  n->op = op;
  n->desc = desc;
  n->n_in = n_in;
  n->n_out = n_out;
  n->in = cc_alloc(g, (n_in + 1) * sizeof *n->in);
  n->out = cc_alloc(g, (n_out + 1) * sizeof *n->out);
  n->name = cc_strdup(g, name);
  if (!n->in || !n->out || !n->name)
    return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
  if (n_in) memcpy(n->in, in, n_in * sizeof *in);
  if (n_out) memcpy(n->out, out, n_out * sizeof *out);
  for (uint32_t i = 0; i < n_out; i++)
    if (out[i] >= 0) g->values[out[i]].producer = (int32_t)g->n_nodes;
  cc_node_decode(n);
  *out_node = g->n_nodes++;
  return NULL;
}

ivm_status cc_add_node(cc_graph *g, isa_builtin_op op, const char *name, const int32_t *in,
                       uint32_t n_in, const int32_t *out, uint32_t n_out, uint32_t *out_node) {
  return add_node(g, op, isa_builtin_desc(op), name, in, n_in, out, n_out, out_node);
}

ivm_status cc_insert_node(cc_graph *g, uint32_t at, isa_builtin_op op, const char *name,
                          const int32_t *in, uint32_t n_in, const int32_t *out, uint32_t n_out) {
  if (at > g->n_nodes) return ivm_error(IVM_ERR_INTERNAL, "compiler: insert past the end");
  uint32_t last = 0;
  IVM_TRY(add_node(g, op, isa_builtin_desc(op), name, in, n_in, out, n_out, &last));
  cc_node moved = g->nodes[last];
  memmove(&g->nodes[at + 1], &g->nodes[at], (size_t)(last - at) * sizeof *g->nodes);
  g->nodes[at] = moved;
  for (uint32_t v = 0; v < g->n_values; v++)
    if (g->values[v].producer >= (int32_t)at) g->values[v].producer++;
  for (uint32_t k = 0; k < n_out; k++)
    if (out[k] >= 0) g->values[out[k]].producer = (int32_t)at;
  return NULL;
}

ivm_status cc_add_custom_node(cc_graph *g, const isa_op_desc *desc, const char *name,
                              const int32_t *in, uint32_t n_in, const int32_t *out,
                              uint32_t n_out, uint32_t *out_node) {
  return add_node(g, CC_OP_CUSTOM, desc, name, in, n_in, out, n_out, out_node);
}

void cc_node_decode(cc_node *n) {
  const isa_op_desc *d = n->desc;
  isa_attrs_init_defaults(d, n->slots);
  for (uint32_t i = 0; i < n->n_attrs; i++) {
    int k = isa_attr_index(d, n->attrs[i].name);
    if (k < 0) continue;
    isa_attr *s = &n->slots[k];
    s->present = 1;
    s->count = n->attrs[i].count;
    switch (n->attrs[i].type) {
      case ISA_ATTR_INT: s->v.i = n->attrs[i].v.i; break;
      case ISA_ATTR_FLOAT: s->v.f = n->attrs[i].v.f; break;
      case ISA_ATTR_STRING: s->v.s = n->attrs[i].v.s; break;
      case ISA_ATTR_INTS: s->v.ints = n->attrs[i].v.ints; break;
      case ISA_ATTR_FLOATS: s->v.floats = n->attrs[i].v.floats; break;
      default: break;
    }
  }
}

ivm_status cc_node_set_attr(cc_graph *g, uint32_t node, const char *name, int type, int64_t i,
                            float f, const char *s, const void *list, uint32_t count) {
  cc_node *n = &g->nodes[node];
  const isa_op_desc *d = n->desc;
  int k = isa_attr_index(d, name);
  if (k < 0 || d->attrs[k].type != type)
    return ivm_error(IVM_ERR_UNSUPPORTED, "attribute '%s' (%s) is not supported", name,
                     isa_attr_type_name(type));
  isa_def_attr a;
  memset(&a, 0, sizeof a);
  a.name = d->attrs[k].name; /* schema-owned, static */
  a.type = (uint8_t)type;
  a.count = 1;
  switch (type) {
    case ISA_ATTR_INT: a.v.i = i; break;
    case ISA_ATTR_FLOAT: a.v.f = f; break;
    case ISA_ATTR_STRING:
      a.v.s = cc_strdup(g, s);
      if (!a.v.s) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
      a.count = (uint32_t)strlen(a.v.s);
      break;
    case ISA_ATTR_INTS:
    case ISA_ATTR_FLOATS: {
      size_t el = type == ISA_ATTR_INTS ? sizeof(int64_t) : sizeof(float);
      void *p = cc_alloc(g, count * el);
      if (!p) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
      if (count) memcpy(p, list, count * el);
      if (type == ISA_ATTR_INTS) a.v.ints = p; else a.v.floats = p;
      a.count = count;
      break;
    }
    default: return ivm_error(IVM_ERR_INTERNAL, "bad attribute type %d", type);
  }
  /* Keep attrs in schema order so that emission is deterministic. */
  uint32_t pos = 0;
  while (pos < n->n_attrs) {
    int kp = isa_attr_index(d, n->attrs[pos].name);
    if (kp == k) {
      n->attrs[pos] = a;
      cc_node_decode(n);
      return NULL;
    }
    if (kp > k) break;
    pos++;
  }
  if (n->n_attrs >= CC_MAX_ATTRS) return ivm_error(IVM_ERR_INTERNAL, "too many attributes");
  memmove(&n->attrs[pos + 1], &n->attrs[pos], (n->n_attrs - pos) * sizeof a);
  n->attrs[pos] = a;
  n->n_attrs++;
  cc_node_decode(n);
  return NULL;
}

ivm_status cc_node_set_int(cc_graph *g, uint32_t node, const char *name, int64_t v) {
  return cc_node_set_attr(g, node, name, ISA_ATTR_INT, v, 0, NULL, NULL, 1);
}

ivm_status cc_node_set_float(cc_graph *g, uint32_t node, const char *name, float v) {
  return cc_node_set_attr(g, node, name, ISA_ATTR_FLOAT, 0, v, NULL, NULL, 1);
}

ivm_status cc_add_symbol(cc_graph *g, const char *name, uint32_t *out_index) {
  for (uint32_t i = 0; i < g->n_symbols; i++)
    if (strcmp(g->symbols[i], name) == 0) {
      *out_index = i;
      return NULL;
    }
  if (g->n_symbols >= 1000000)
    return ivm_error(IVM_ERR_UNSUPPORTED, "too many symbolic dimensions");
  if (!grow((void **)&g->symbols, &g->cap_symbols, g->n_symbols + 1, sizeof *g->symbols))
    return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
  char *s = cc_strdup(g, name);
  if (!s) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "compiler: out of memory");
  g->symbols[g->n_symbols] = s;
  *out_index = g->n_symbols++;
  return NULL;
}

void cc_replace_uses(cc_graph *g, int32_t from, int32_t to) {
  for (uint32_t i = 0; i < g->n_nodes; i++) {
    cc_node *n = &g->nodes[i];
    if (n->dead) continue;
    for (uint32_t k = 0; k < n->n_in; k++)
      if (n->in[k] == from) n->in[k] = to;
  }
}

const char *cc_node_desc(const cc_graph *g, uint32_t node, char *buf, size_t size) {
  const cc_node *n = &g->nodes[node];
  snprintf(buf, size, "node '%s' (%s)", n->name ? n->name : "", n->desc->name);
  return buf;
}

int cc_type_static(const isa_type *t) {
  if (t->rank < 0) return 0;
  for (int k = 0; k < t->rank; k++)
    if (t->dims[k] < 0) return 0;
  return 1;
}

size_t cc_type_nbytes(const isa_type *t) {
  size_t n = ivm_dtype_size((ivm_dtype)t->dtype);
  for (int k = 0; k < t->rank; k++) {
    if (t->dims[k] < 0) return 0;
    if (t->dims[k] && n > SIZE_MAX / (size_t)t->dims[k]) return SIZE_MAX;
    n *= (size_t)t->dims[k];
  }
  return n;
}

ivm_status cc_read_file(const char *path, uint8_t **out, size_t *out_size) {
  *out = NULL;
  *out_size = 0;
  FILE *f = fopen(path, "rb");
  if (!f)
    return ivm_error(errno == ENOENT ? IVM_ERR_NOT_FOUND : IVM_ERR_IO, "%s: cannot open: %s", path,
                     strerror(errno));
  if (fseek(f, 0, SEEK_END) != 0) {
    fclose(f);
    return ivm_error(IVM_ERR_IO, "%s: cannot seek", path);
  }
  long len = ftell(f);
  if (len < 0 || fseek(f, 0, SEEK_SET) != 0) {
    fclose(f);
    return ivm_error(IVM_ERR_IO, "%s: cannot determine the size", path);
  }
  uint8_t *buf = malloc((size_t)len + 1);
  if (!buf) {
    fclose(f);
    return ivm_error(IVM_ERR_OUT_OF_MEMORY, "%s: cannot allocate %ld bytes", path, len);
  }
  size_t got = len ? fread(buf, 1, (size_t)len, f) : 0;
  fclose(f);
  if (got != (size_t)len) {
    free(buf);
    return ivm_error(IVM_ERR_IO, "%s: short read", path);
  }
  *out = buf;
  *out_size = (size_t)len;
  return NULL;
}
