/* The .ivm writer: serialises an isa_module_def deterministically (equal defs give equal
 * bytes). Layout and field meanings are specified in docs/bytecode.md. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "isa/module_impl.h"

#define W_ERR(...) ivm_error(IVM_ERR_INVALID_ARGUMENT, "write module: " __VA_ARGS__)

/* ---- string table: interned, deduplicated, offset 0 is "" --------------------------- */
typedef struct strtab {
  isa_buf bytes;
  uint32_t *slots; /* open addressing; value = offset + 1, 0 = empty */
  uint32_t cap, count;
} strtab;

static uint32_t str_hash(const char *s, size_t n) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
  return h;
}

static ivm_status strtab_grow(strtab *t) {
  uint32_t cap = t->cap ? t->cap * 2 : 256;
  uint32_t *slots = calloc(cap, sizeof *slots);
  if (!slots) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "write module: out of memory");
  for (uint32_t i = 0; i < t->cap; i++) {
    uint32_t v = t->slots[i];
    if (!v) continue;
    const char *s = (const char *)t->bytes.data + (v - 1);
    uint32_t j = str_hash(s, strlen(s)) & (cap - 1);
    while (slots[j]) j = (j + 1) & (cap - 1);
    slots[j] = v;
  }
  free(t->slots);
  t->slots = slots;
  t->cap = cap;
  return NULL;
}

static ivm_status strtab_intern(strtab *t, const char *s, uint32_t *out) {
  if (!s) s = "";
  size_t n = strlen(s);
  if (n == 0) {
    *out = 0;
    return NULL;
  }
  if ((t->count + 1) * 2 > t->cap) IVM_TRY(strtab_grow(t));
  uint32_t j = str_hash(s, n) & (t->cap - 1);
  while (t->slots[j]) {
    const char *e = (const char *)t->bytes.data + (t->slots[j] - 1);
    if (strcmp(e, s) == 0) {
      *out = t->slots[j] - 1;
      return NULL;
    }
    j = (j + 1) & (t->cap - 1);
  }
  if (t->bytes.len + n + 1 >= UINT32_MAX) return W_ERR("string table exceeds 4 GiB");
  uint32_t off = (uint32_t)t->bytes.len;
  isa_buf_append(&t->bytes, s, n + 1);
  if (t->bytes.failed) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "write module: out of memory");
  t->slots[j] = off + 1;
  t->count++;
  *out = off;
  return NULL;
}

static void strtab_free(strtab *t) {
  isa_buf_free(&t->bytes);
  free(t->slots);
}

/* ---- def consistency checks (the verifier does the rest) ---------------------------- */
static ivm_status check_dims(const isa_module_def *d, uint32_t ti, const isa_def_tensor *t) {
  for (uint32_t k = 0; k < t->rank; k++) {
    int64_t v = t->dims[k];
    if (v >= ISA_DIM_ANY) continue;
    if (ISA_DIM_SYM_INDEX(v) >= (int64_t)d->n_symbols)
      return W_ERR("tensor %u: dim %u refers to symbol %lld, but there are %u", ti, k,
                   (long long)ISA_DIM_SYM_INDEX(v), d->n_symbols);
  }
  return NULL;
}

static ivm_status check_def(const isa_module_def *d) {
  if ((d->n_imports && !d->imports) || (d->n_symbols && !d->symbols) ||
      (d->n_tensors && !d->tensors) || (d->n_instrs && !d->instrs) || (d->n_inputs && !d->inputs) ||
      (d->n_outputs && !d->outputs))
    return W_ERR("a non-empty table has no array");
  for (uint32_t i = 0; i < d->n_imports; i++)
    if (!d->imports[i].domain || !d->imports[i].name)
      return W_ERR("import %u: domain or name is NULL", i);
  for (uint32_t i = 0; i < d->n_tensors; i++) {
    const isa_def_tensor *t = &d->tensors[i];
    if (!isa_dtype_valid(t->dtype)) return W_ERR("tensor %u: bad dtype %u", i, t->dtype);
    if (t->kind < ISA_TK_CONST || t->kind > ISA_TK_DYNAMIC)
      return W_ERR("tensor %u: bad kind %u", i, t->kind);
    if (t->rank > ISA_MAX_RANK) return W_ERR("tensor %u: rank %u > %d", i, t->rank, ISA_MAX_RANK);
    if (t->flags & ~(ISA_TF_RANK_UNKNOWN | ISA_TF_VAR | ISA_TF_SEQUENCE | ISA_TF_OPTIONAL)) return W_ERR("tensor %u: unknown flags 0x%x", i, t->flags);
    if ((t->flags & ISA_TF_RANK_UNKNOWN) && (t->kind != ISA_TK_DYNAMIC || t->rank != 0))
      return W_ERR("tensor %u: unknown rank needs a DYNAMIC tensor with rank 0", i);
    if (t->kind == ISA_TK_CONST && t->size && !t->data)
      return W_ERR("tensor %u: CONST without data", i);
    IVM_TRY(check_dims(d, i, t));
  }
  for (uint32_t i = 0; i < d->n_instrs; i++) {
    const isa_def_instr *in = &d->instrs[i];
    if (in->op >= d->n_imports) return W_ERR("instruction %u: import %u out of range", i, in->op);
    uint32_t n = (uint32_t)in->n_in + in->n_out;
    if (n && !in->operands) return W_ERR("instruction %u: operands missing", i);
    for (uint32_t k = 0; k < n; k++)
      if (in->operands[k] != ISA_NO_TENSOR && in->operands[k] >= d->n_tensors)
        return W_ERR("instruction %u: operand %u: tensor %u out of range", i, k, in->operands[k]);
    if (in->n_attrs && !in->attrs) return W_ERR("instruction %u: attributes missing", i);
    for (uint32_t k = 0; k < in->n_attrs; k++) {
      const isa_def_attr *a = &in->attrs[k];
      if (!a->name || !*a->name) return W_ERR("instruction %u: attribute %u has no name", i, k);
      switch (a->type) {
        case ISA_ATTR_INT:
        case ISA_ATTR_FLOAT: break;
        case ISA_ATTR_STRING:
          if (!a->v.s || strlen(a->v.s) != a->count)
            return W_ERR("instruction %u: attribute '%s': string length mismatch", i, a->name);
          break;
        case ISA_ATTR_INTS:
        case ISA_ATTR_FLOATS:
          if (a->count && !a->v.ints)
            return W_ERR("instruction %u: attribute '%s': list data missing", i, a->name);
          break;
        default: return W_ERR("instruction %u: attribute '%s': bad type %u", i, a->name, a->type);
      }
    }
  }
  for (uint32_t i = 0; i < d->n_inputs; i++)
    if (d->inputs[i] >= d->n_tensors)
      return W_ERR("input %u: tensor %u out of range", i, d->inputs[i]);
  for (uint32_t i = 0; i < d->n_outputs; i++)
    if (d->outputs[i] >= d->n_tensors)
      return W_ERR("output %u: tensor %u out of range", i, d->outputs[i]);
  return NULL;
}

/* ---- sections ------------------------------------------------------------------------ */
typedef struct writer {
  const isa_module_def *d;
  strtab st;
  isa_buf sec[ISA_SEC_MAX + 1]; /* by kind */
} writer;

static ivm_status build(writer *w) {
  const isa_module_def *d = w->d;
  uint32_t off;
  /* Fixed interning order: symbols, imports, tensors, attribute names, debug names. */
  isa_buf_zeros(&w->st.bytes, 1); /* offset 0 = "" */
  for (uint32_t i = 0; i < d->n_symbols; i++) {
    IVM_TRY(strtab_intern(&w->st, d->symbols[i], &off));
    isa_buf_append(&w->sec[ISA_SEC_SYMBOLS], &off, 4);
  }
  for (uint32_t i = 0; i < d->n_imports; i++) {
    isa_import_rec r = {0};
    IVM_TRY(strtab_intern(&w->st, d->imports[i].domain, &r.domain));
    IVM_TRY(strtab_intern(&w->st, d->imports[i].name, &r.name));
    r.version = d->imports[i].version;
    isa_buf_append(&w->sec[ISA_SEC_IMPORTS], &r, sizeof r);
  }
  for (uint32_t i = 0; i < d->n_tensors; i++) {
    const isa_def_tensor *t = &d->tensors[i];
    isa_tensor_rec r = {0};
    IVM_TRY(strtab_intern(&w->st, t->name, &r.name));
    r.dtype = t->dtype;
    r.kind = t->kind;
    r.rank = t->rank;
    r.flags = t->flags;
    size_t nd = w->sec[ISA_SEC_DIMS].len / 8;
    if (nd > UINT32_MAX - ISA_MAX_RANK) return W_ERR("too many dims");
    r.dims = (uint32_t)nd;
    isa_buf_append(&w->sec[ISA_SEC_DIMS], t->dims, (size_t)t->rank * 8);
    if (t->kind == ISA_TK_CONST) {
      /* Constants are laid out in tensor order, each 64-byte aligned. */
      isa_buf *c = &w->sec[ISA_SEC_CONSTS];
      isa_buf_align(c, ISA_CONST_ALIGN);
      if (t->size > SIZE_MAX - c->len) return W_ERR("tensor %u: constant too large", i);
      r.offset = c->len;
      r.size = t->size;
      isa_buf_append(c, t->data, (size_t)t->size);
    } else if (t->kind == ISA_TK_ARENA) {
      r.offset = t->offset;
      r.size = t->size;
    }
    isa_buf_append(&w->sec[ISA_SEC_TENSORS], &r, sizeof r);
  }
  isa_buf_align(&w->sec[ISA_SEC_CONSTS], ISA_CONST_ALIGN);
  for (uint32_t i = 0; i < d->n_instrs; i++) {
    const isa_def_instr *in = &d->instrs[i];
    isa_instr_rec r = {0};
    r.op = in->op;
    r.n_in = in->n_in;
    r.n_out = in->n_out;
    size_t no = w->sec[ISA_SEC_OPERANDS].len / 4;
    if (no + in->n_in + in->n_out > UINT32_MAX) return W_ERR("too many operands");
    r.operands = (uint32_t)no;
    isa_buf_append(&w->sec[ISA_SEC_OPERANDS], in->operands, ((size_t)in->n_in + in->n_out) * 4);
    isa_buf *ab = &w->sec[ISA_SEC_ATTRS];
    if (in->n_attrs) {
      if (ab->len > UINT32_MAX) return W_ERR("attribute section exceeds 4 GiB");
      r.attrs = (uint32_t)ab->len;
      r.n_attrs = in->n_attrs;
    }
    for (uint32_t k = 0; k < in->n_attrs; k++) {
      const isa_def_attr *a = &in->attrs[k];
      isa_attr_rec h = {0};
      IVM_TRY(strtab_intern(&w->st, a->name, &h.name));
      h.type = a->type;
      h.count = (a->type == ISA_ATTR_INT || a->type == ISA_ATTR_FLOAT) ? 1 : a->count;
      isa_buf_append(ab, &h, sizeof h);
      switch (a->type) {
        case ISA_ATTR_INT: isa_buf_append(ab, &a->v.i, 8); break;
        case ISA_ATTR_FLOAT: isa_buf_append(ab, &a->v.f, 4); break;
        case ISA_ATTR_STRING: isa_buf_append(ab, a->v.s, (size_t)a->count + 1); break;
        case ISA_ATTR_INTS: isa_buf_append(ab, a->v.ints, (size_t)a->count * 8); break;
        case ISA_ATTR_FLOATS: isa_buf_append(ab, a->v.floats, (size_t)a->count * 4); break;
      }
      isa_buf_align(ab, 8);
    }
    isa_buf_append(&w->sec[ISA_SEC_CODE], &r, sizeof r);
  }
  int any_debug = 0;
  for (uint32_t i = 0; i < d->n_instrs; i++) any_debug |= d->instrs[i].debug_name != NULL;
  for (uint32_t i = 0; any_debug && i < d->n_instrs; i++) {
    IVM_TRY(strtab_intern(&w->st, d->instrs[i].debug_name, &off));
    isa_buf_append(&w->sec[ISA_SEC_DEBUG], &off, 4);
  }
  isa_io_header io = {d->n_inputs, d->n_outputs};
  isa_buf_append(&w->sec[ISA_SEC_IO], &io, sizeof io);
  isa_buf_append(&w->sec[ISA_SEC_IO], d->inputs, (size_t)d->n_inputs * 4);
  isa_buf_append(&w->sec[ISA_SEC_IO], d->outputs, (size_t)d->n_outputs * 4);
  isa_plan_rec plan = {d->arena_size, d->unplanned_size, d->arena_align, 0};
  isa_buf_append(&w->sec[ISA_SEC_PLAN], &plan, sizeof plan);
  w->sec[ISA_SEC_STRTAB] = w->st.bytes;
  memset(&w->st.bytes, 0, sizeof w->st.bytes);
  for (int k = 1; k <= ISA_SEC_MAX; k++)
    if (w->sec[k].failed) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "write module: out of memory");
  return NULL;
}

/* File order: metadata first, constants last (they are large and only touched by the
 * kernels, so the verifier's reads stay within a few pages). */
static const uint8_t file_order[] = {ISA_SEC_STRTAB,   ISA_SEC_SYMBOLS, ISA_SEC_IMPORTS,
                                     ISA_SEC_TENSORS,  ISA_SEC_DIMS,    ISA_SEC_CODE,
                                     ISA_SEC_OPERANDS, ISA_SEC_ATTRS,   ISA_SEC_IO,
                                     ISA_SEC_PLAN,     ISA_SEC_DEBUG,   ISA_SEC_CONSTS};

static int section_optional(uint32_t kind) {
  return kind == ISA_SEC_SYMBOLS || kind == ISA_SEC_DIMS || kind == ISA_SEC_CONSTS ||
         kind == ISA_SEC_ATTRS || kind == ISA_SEC_DEBUG;
}

ivm_status isa_module_write(const isa_module_def *def, uint8_t **out_bytes, size_t *out_size) {
  *out_bytes = NULL;
  *out_size = 0;
  if (!def) return W_ERR("no module");
  IVM_TRY(check_def(def));
  writer w;
  memset(&w, 0, sizeof w);
  w.d = def;
  ivm_status st = build(&w);
  uint8_t *file = NULL;
  if (st) goto done;

  /* An optional section is written only when it has content. */
  isa_section_entry table[ISA_SEC_MAX];
  uint32_t n = 0;
  for (size_t i = 0; i < sizeof file_order; i++) {
    uint32_t k = file_order[i];
    if (section_optional(k) && w.sec[k].len == 0) continue;
    table[n].kind = k;
    table[n].align = k == ISA_SEC_CONSTS ? ISA_CONST_ALIGN : 8;
    n++;
  }
  uint64_t pos = sizeof(isa_file_header) + (uint64_t)n * sizeof(isa_section_entry);
  for (uint32_t i = 0; i < n; i++) {
    pos = (pos + table[i].align - 1) / table[i].align * table[i].align;
    table[i].offset = pos;
    table[i].size = w.sec[table[i].kind].len;
    pos += table[i].size;
  }
  uint64_t total = (pos + 7) & ~(uint64_t)7;
  if (total > SIZE_MAX) {
    st = W_ERR("module too large");
    goto done;
  }
  file = calloc(1, (size_t)total);
  if (!file) {
    st = ivm_error(IVM_ERR_OUT_OF_MEMORY, "write module: cannot allocate %llu bytes",
                   (unsigned long long)total);
    goto done;
  }
  isa_file_header h;
  memset(&h, 0, sizeof h);
  memcpy(h.magic, ISA_MAGIC, 8);
  h.major = ISA_FORMAT_MAJOR;
  /* Always the newest minor: 1.2 splits the checksum so that a load checks the metadata
   * without touching the weight pages (docs/bytecode.md, "Versioning"). 1.0 and 1.1
   * readers refuse such files with a checksum mismatch; this IVM still reads theirs. */
  h.minor = ISA_FORMAT_MINOR;
  h.header_size = sizeof h;
  h.section_count = n;
  h.section_table = sizeof h;
  h.file_size = total;
  memcpy(file, &h, sizeof h);
  memcpy(file + sizeof h, table, (size_t)n * sizeof table[0]);
  for (uint32_t i = 0; i < n; i++)
    if (table[i].size)
      memcpy(file + table[i].offset, w.sec[table[i].kind].data, (size_t)table[i].size);
  uint64_t consts_off = 0, consts_len = 0;
  for (uint32_t i = 0; i < n; i++)
    if (table[i].kind == ISA_SEC_CONSTS) consts_off = table[i].offset, consts_len = table[i].size;
  h.consts_checksum = isa_crc32(0, file + consts_off, consts_len);
  memcpy(file + offsetof(isa_file_header, consts_checksum), &h.consts_checksum, 4);
  h.checksum = isa_header_checksum(file, (size_t)total, h.minor, consts_off, consts_len);
  memcpy(file + offsetof(isa_file_header, checksum), &h.checksum, 4);
  *out_bytes = file;
  *out_size = (size_t)total;
  file = NULL;
done:
  free(file);
  strtab_free(&w.st);
  for (int k = 0; k <= ISA_SEC_MAX; k++) isa_buf_free(&w.sec[k]);
  return st;
}
