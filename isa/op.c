#include "isa/op.h"

#include <stdlib.h>
#include <string.h>

const char *isa_attr_type_name(int type) {
  switch (type) {
    case ISA_ATTR_INT: return "int";
    case ISA_ATTR_FLOAT: return "float";
    case ISA_ATTR_STRING: return "string";
    case ISA_ATTR_INTS: return "ints";
    case ISA_ATTR_FLOATS: return "floats";
    default: return "?";
  }
}

/* ---- the built-in table, expanded from ops.def ------------------------------------ */
#define ISA_REQ 1
#define ISA_OPT 0
#define ISA_DEF_INT(d) {.i = (d)}
#define ISA_DEF_FLOAT(d) {.f = (d)}
#define ISA_DEF_STRING(d) {.s = (d)}
#define ISA_DEF_INTS(d) {.i = (d)}
#define ISA_DEF_FLOATS(d) {.i = (d)}
#define ISA_SCHEMA_(op, nm, type, req, d) {#nm, ISA_ATTR_##type, ISA_##req, ISA_DEF_##type(d)},
#define IVM_OP(Name, mi, xi, mo, xo, fl, inf, ATTRS, syn, doc) \
  static const isa_attr_schema schema_##Name[] = {ATTRS(ISA_SCHEMA_, Name){NULL, 0, 0, {0}}};
#include "isa/ops.def"
#undef IVM_OP

#define IVM_OP(Name, mi, xi, mo, xo, fl, inf, ATTRS, syn, doc)                              \
  [ISA_OP_##Name] = {ISA_DOMAIN_BUILTIN, #Name, 1, mi, xi, mo, xo, fl, ISA_OP_KIND_BUILTIN,  \
                     (uint16_t)(sizeof schema_##Name / sizeof schema_##Name[0] - 1),          \
                     schema_##Name, inf, syn, doc},
static const isa_op_desc builtin_descs[ISA_OP_COUNT] = {
#include "isa/ops.def"
};
#undef IVM_OP

const isa_op_desc *isa_builtin_desc(isa_builtin_op op) {
  if ((unsigned)op >= ISA_OP_COUNT) return NULL;
  return &builtin_descs[op];
}

void isa_attrs_init_defaults(const isa_op_desc *desc, isa_attr *out) {
  for (uint16_t i = 0; i < desc->n_attrs; i++) {
    const isa_attr_schema *s = &desc->attrs[i];
    isa_attr *a = &out[i];
    memset(a, 0, sizeof *a);
    a->type = s->type;
    switch (s->type) {
      case ISA_ATTR_INT: a->v.i = s->def.i; a->count = 1; break;
      case ISA_ATTR_FLOAT: a->v.f = s->def.f; a->count = 1; break;
      case ISA_ATTR_STRING:
        a->v.s = s->def.s ? s->def.s : "";
        a->count = (uint32_t)strlen(a->v.s);
        break;
      default: a->count = 0; a->v.ints = NULL; break;
    }
  }
}

int isa_attr_index(const isa_op_desc *desc, const char *name) {
  for (uint16_t i = 0; i < desc->n_attrs; i++)
    if (strcmp(desc->attrs[i].name, name) == 0) return i;
  return -1;
}

/* ---- registry: open addressing would be overkill at this size; a sorted-free array
 * scanned at load time (never per instruction) is enough. ---------------------------- */
struct isa_registry {
  const isa_registry *parent;
  isa_registry_entry *entries;
  uint32_t count, cap;
  isa_registry_entry *families;
  uint32_t n_families;
  isa_op_desc **owned; /* family instances: desc and name allocated here */
  uint32_t n_owned;
};

ivm_status isa_registry_create(isa_registry **out) {
  *out = NULL;
  isa_registry *r = calloc(1, sizeof *r);
  if (!r) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "registry: out of memory");
  *out = r;
  return NULL;
}

ivm_status isa_registry_create_child(const isa_registry *parent, isa_registry **out) {
  IVM_TRY(isa_registry_create(out));
  (*out)->parent = parent;
  return NULL;
}

void isa_registry_destroy(isa_registry *reg) {
  if (!reg) return;
  for (uint32_t i = 0; i < reg->n_owned; i++) {
    free((char *)reg->owned[i]->name);
    free(reg->owned[i]);
  }
  free(reg->owned);
  free(reg->families);
  free(reg->entries);
  free(reg);
}

static int valid_ident(const char *s, int allow_dots) {
  if (!s || !*s) return 0;
  for (; *s; s++) {
    char c = *s;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '_' || (allow_dots && (c == '.' || c == '-'))))
      return 0;
  }
  return 1;
}

ivm_status isa_op_desc_check(const isa_op_desc *d) {
  if (!d) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "op descriptor is NULL");
  if (!valid_ident(d->domain, 1))
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "op descriptor: bad domain");
  if (!valid_ident(d->name, 0))
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "op descriptor (domain %s): bad name", d->domain);
  if (d->min_in > d->max_in || d->min_out > d->max_out ||
      (d->max_out == 0 && !(d->flags & ISA_OPF_CONTROL))) /* only region markers have no outputs */
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "op %s.%s: inconsistent arity", d->domain, d->name);
  if (!d->infer)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "op %s.%s: no inference function", d->domain,
                     d->name);
  if (d->n_attrs && !d->attrs)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "op %s.%s: attribute schema missing", d->domain,
                     d->name);
  for (uint16_t i = 0; i < d->n_attrs; i++) {
    if (!valid_ident(d->attrs[i].name, 0) || d->attrs[i].type < ISA_ATTR_INT ||
        d->attrs[i].type > ISA_ATTR_FLOATS)
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "op %s.%s: attribute %u is malformed",
                       d->domain, d->name, i);
    for (uint16_t j = 0; j < i; j++)
      if (strcmp(d->attrs[i].name, d->attrs[j].name) == 0)
        return ivm_error(IVM_ERR_INVALID_ARGUMENT, "op %s.%s: attribute '%s' declared twice",
                         d->domain, d->name, d->attrs[i].name);
  }
  return NULL;
}

ivm_status isa_registry_add(isa_registry *reg, const isa_op_desc *desc, const void *impl) {
  IVM_TRY(isa_op_desc_check(desc));
  if (isa_registry_find(reg, desc->domain, desc->name, desc->version))
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "op %s.%s version %u is already registered",
                     desc->domain, desc->name, desc->version);
  if (reg->count == reg->cap) {
    uint32_t cap = reg->cap ? reg->cap * 2 : 64;
    isa_registry_entry *e = realloc(reg->entries, cap * sizeof *e);
    if (!e) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "registry: out of memory");
    reg->entries = e;
    reg->cap = cap;
  }
  reg->entries[reg->count].desc = desc;
  reg->entries[reg->count].impl = impl;
  reg->count++;
  return NULL;
}

const isa_registry_entry *isa_registry_find(const isa_registry *reg, const char *domain,
                                            const char *name, uint32_t version) {
  for (; reg; reg = reg->parent)
    for (uint32_t i = 0; i < reg->count; i++) {
      const isa_op_desc *d = reg->entries[i].desc;
      if (d->version == version && strcmp(d->name, name) == 0 && strcmp(d->domain, domain) == 0)
        return &reg->entries[i];
    }
  return NULL;
}

uint32_t isa_registry_count(const isa_registry *reg) {
  return reg ? reg->count + isa_registry_count(reg->parent) : 0;
}

const isa_registry_entry *isa_registry_at(const isa_registry *reg, uint32_t i) {
  if (!reg) return NULL;
  uint32_t below = isa_registry_count(reg->parent);
  if (i < below) return isa_registry_at(reg->parent, i);
  return i - below < reg->count ? &reg->entries[i - below] : NULL;
}

ivm_status isa_registry_add_family(isa_registry *reg, const isa_op_desc *tmpl, const void *impl) {
  if (!tmpl || !valid_ident(tmpl->domain, 1) || !tmpl->name || !tmpl->infer)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "op family: malformed template");
  if (isa_registry_family(reg, tmpl->domain))
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "op family %s is already registered",
                     tmpl->domain);
  isa_registry_entry *f = realloc(reg->families, (reg->n_families + 1) * sizeof *f);
  if (!f) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "registry: out of memory");
  reg->families = f;
  f[reg->n_families].desc = tmpl;
  f[reg->n_families].impl = impl;
  reg->n_families++;
  return NULL;
}

const isa_registry_entry *isa_registry_family(const isa_registry *reg, const char *domain) {
  for (; reg; reg = reg->parent)
    for (uint32_t i = 0; i < reg->n_families; i++)
      if (strcmp(reg->families[i].desc->domain, domain) == 0) return &reg->families[i];
  return NULL;
}

const isa_registry_entry *isa_registry_resolve(isa_registry *reg, const char *domain,
                                               const char *name, uint32_t version) {
  const isa_registry_entry *e = isa_registry_find(reg, domain, name, version);
  if (e) return e;
  const isa_registry_entry *fam = isa_registry_family(reg, domain);
  if (!fam || fam->desc->version != version || !valid_ident(name, 0)) return NULL;
  isa_op_desc **owned = realloc(reg->owned, (reg->n_owned + 1) * sizeof *owned);
  if (!owned) return NULL;
  reg->owned = owned;
  isa_op_desc *d = malloc(sizeof *d);
  char *nm = d ? strdup(name) : NULL;
  if (!nm) {
    free(d);
    return NULL;
  }
  *d = *fam->desc;
  d->name = nm;
  reg->owned[reg->n_owned++] = d;
  ivm_status st = isa_registry_add(reg, d, fam->impl);
  if (st) {
    ivm_status_free(st);
    return NULL;
  }
  return isa_registry_find(reg, domain, name, version);
}

const char *isa_op_kind_name(int kind) {
  switch (kind) {
    case ISA_OP_KIND_BUILTIN: return "builtin";
    case ISA_OP_KIND_PLUGIN: return "plugin";
    case ISA_OP_KIND_FFI: return "ffi";
    case ISA_OP_KIND_EXPR: return "expr";
    default: return "?";
  }
}
