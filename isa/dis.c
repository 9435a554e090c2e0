/* The disassembler: prints every part of a module as .ivs text (grammar in
 * docs/bytecode.md, "Text assembly"). Output is exact: isa_assemble(isa_disassemble(m))
 * reproduces m byte for byte when m came from the writer. The module may be unverified,
 * so every index is bounds-checked here too. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "isa/module_impl.h"

#define DIS_ERR(...) ivm_error(IVM_ERR_FORMAT, "disassemble: " __VA_ARGS__)
#define DATA_BYTES_PER_LINE 64

/* A bare word as the assembler lexes it: [A-Za-z_] then [A-Za-z0-9_] (plus '.' and '-'
 * with allow_dot). */
static int is_ident(const char *s, int allow_dot) {
  if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_')) return 0;
  for (; *s; s++) {
    char c = *s;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          (allow_dot && (c == '.' || c == '-'))))
      return 0;
  }
  return 1;
}

static void put_string(isa_buf *b, const char *s, size_t n) {
  isa_buf_append(b, "\"", 1);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      char esc[2] = {'\\', (char)c};
      isa_buf_append(b, esc, 2);
    } else if (c < 0x20 || c >= 0x7f) {
      isa_buf_printf(b, "\\x%02x", c);
    } else {
      isa_buf_append(b, &s[i], 1);
    }
  }
  isa_buf_append(b, "\"", 1);
}

static void put_cstr(isa_buf *b, const char *s) { put_string(b, s, strlen(s)); }

/* Exact float text: C99 hex floats for finite values; NaN keeps its bit pattern. */
static void put_float(isa_buf *b, float f) {
  if (isnan(f)) {
    uint32_t bits;
    memcpy(&bits, &f, 4);
    isa_buf_printf(b, "nan(0x%08x)", bits);
  } else if (isinf(f)) {
    isa_buf_printf(b, "%sinf", f < 0 ? "-" : "");
  } else {
    isa_buf_printf(b, "%a", (double)f);
  }
}

/* 1 if `name` (a symbol) appears once among the symbols and reads as a bare word. */
static int symbol_printable(const isa_module *m, uint32_t k) {
  const char *nm = isa_module_str(m, m->symbols[k]);
  if (!is_ident(nm, 0)) return 0;
  for (uint32_t j = 0; j < m->n_symbols; j++)
    if (j != k && strcmp(nm, isa_module_str(m, m->symbols[j])) == 0) return 0;
  return 1;
}

/* 1 if import k can be named by its bare op name in instructions. */
static int import_printable(const isa_module *m, uint32_t k) {
  const char *nm = isa_module_str(m, m->imports[k].name);
  if (!is_ident(nm, 0) || strcmp(nm, "_") == 0) return 0;
  for (uint32_t j = 0; j < m->n_imports; j++)
    if (j != k && strcmp(nm, isa_module_str(m, m->imports[j].name)) == 0) return 0;
  return 1;
}

static ivm_status put_tensor(isa_buf *b, const isa_module *m, uint32_t i) {
  const isa_tensor_rec *t = &m->tensors[i];
  if (!isa_dtype_valid(t->dtype) || t->rank > ISA_MAX_RANK ||
      (uint64_t)t->dims + t->rank > m->n_dims)
    return DIS_ERR("tensor %u: malformed record", i);
  isa_buf_printf(b, "tensor %%%u ", i);
  put_cstr(b, isa_module_str(m, t->name));
  isa_buf_printf(b, " %s[", ivm_dtype_name((ivm_dtype)t->dtype));
  if (t->flags & ISA_TF_RANK_UNKNOWN) isa_buf_append(b, "*", 1);
  for (uint32_t k = 0; k < t->rank; k++) {
    int64_t d = m->dims[t->dims + k];
    if (k) isa_buf_append(b, ",", 1);
    if (d >= 0) {
      isa_buf_printf(b, "%lld", (long long)d);
    } else if (d == ISA_DIM_ANY) {
      isa_buf_append(b, "?", 1);
    } else {
      int64_t s = ISA_DIM_SYM_INDEX(d);
      if (s >= (int64_t)m->n_symbols)
        return DIS_ERR("tensor %u: symbol %lld out of range", i, (long long)s);
      if (symbol_printable(m, (uint32_t)s))
        isa_buf_printf(b, "%s", isa_module_str(m, m->symbols[s]));
      else
        isa_buf_printf(b, "$%lld", (long long)s);
    }
  }
  isa_buf_append(b, "]", 1);
  switch (t->kind) {
    case ISA_TK_CONST: {
      if (t->offset > m->consts_size || t->size > m->consts_size - t->offset)
        return DIS_ERR("tensor %u: constant data out of range", i);
      isa_buf_printf(b, " const size=%llu\n", (unsigned long long)t->size);
      const uint8_t *p = m->consts + t->offset;
      static const char hex[] = "0123456789abcdef";
      char line[8 + 2 * DATA_BYTES_PER_LINE + 1];
      for (uint64_t o = 0; o < t->size; o += DATA_BYTES_PER_LINE) {
        uint64_t n = t->size - o < DATA_BYTES_PER_LINE ? t->size - o : DATA_BYTES_PER_LINE;
        size_t w = 0;
        memcpy(line, "  data ", 7);
        w = 7;
        for (uint64_t j = 0; j < n; j++) {
          line[w++] = hex[p[o + j] >> 4];
          line[w++] = hex[p[o + j] & 15];
        }
        line[w++] = '\n';
        isa_buf_append(b, line, w);
      }
      return NULL;
    }
    case ISA_TK_ARENA:
      isa_buf_printf(b, " arena @%llu size=%llu\n", (unsigned long long)t->offset,
                     (unsigned long long)t->size);
      return NULL;
    case ISA_TK_DYNAMIC:
      isa_buf_printf(b, " dynamic%s%s%s\n", (t->flags & ISA_TF_VAR) ? " var" : "",
                     (t->flags & ISA_TF_OPTIONAL) ? " optional" : "",
                     (t->flags & ISA_TF_SEQUENCE) ? " sequence" : "");
      return NULL;
    default: return DIS_ERR("tensor %u: unknown kind %u", i, t->kind);
  }
}

static void put_tensor_ref(isa_buf *b, uint32_t t) {
  if (t == ISA_NO_TENSOR)
    isa_buf_append(b, "_", 1);
  else
    isa_buf_printf(b, "%%%u", t);
}

/* Attribute records are walked without a schema: dis shows what the file holds. */
static ivm_status put_attrs(isa_buf *b, const isa_module *m, uint32_t i) {
  const isa_instr_rec *in = &m->code[i];
  if (!in->n_attrs) return NULL;
  uint64_t pos = in->attrs;
  if (pos % 8) return DIS_ERR("instruction %u: attribute offset not aligned", i);
  isa_buf_append(b, " {", 2);
  for (uint32_t k = 0; k < in->n_attrs; k++) {
    if (pos > m->attrs_size || m->attrs_size - pos < sizeof(isa_attr_rec))
      return DIS_ERR("instruction %u: attribute %u out of range", i, k);
    const isa_attr_rec *r = (const isa_attr_rec *)(m->attrs + pos);
    uint64_t ps = isa_attr_payload_size(r->type, r->count);
    pos += sizeof *r;
    if (ps == UINT64_MAX || ps > m->attrs_size - pos)
      return DIS_ERR("instruction %u: attribute %u malformed", i, k);
    const uint8_t *p = m->attrs + pos;
    pos += ps;
    if (k) isa_buf_append(b, ", ", 2);
    const char *name = isa_module_str(m, r->name);
    if (is_ident(name, 0))
      isa_buf_printf(b, "%s", name);
    else
      put_cstr(b, name);
    isa_buf_append(b, "=", 1);
    switch (r->type) {
      case ISA_ATTR_INT: {
        int64_t v;
        memcpy(&v, p, 8);
        isa_buf_printf(b, "%lld", (long long)v);
        break;
      }
      case ISA_ATTR_FLOAT: {
        float f;
        memcpy(&f, p, 4);
        put_float(b, f);
        break;
      }
      case ISA_ATTR_STRING: put_string(b, (const char *)p, r->count); break;
      case ISA_ATTR_INTS:
      case ISA_ATTR_FLOATS:
        if (r->type == ISA_ATTR_FLOATS && r->count == 0) isa_buf_append(b, "floats", 6);
        isa_buf_append(b, "[", 1);
        for (uint32_t j = 0; j < r->count; j++) {
          if (j) isa_buf_append(b, ", ", 2);
          if (r->type == ISA_ATTR_INTS) {
            int64_t v;
            memcpy(&v, p + 8 * (size_t)j, 8);
            isa_buf_printf(b, "%lld", (long long)v);
          } else {
            float f;
            memcpy(&f, p + 4 * (size_t)j, 4);
            put_float(b, f);
          }
        }
        isa_buf_append(b, "]", 1);
        break;
    }
  }
  isa_buf_append(b, "}", 1);
  return NULL;
}

/* Region markers of the control op family (isa/ops_control.def): +1 opens a region,
 * -1 closes one, 2 closes and reopens (Else), 0 otherwise. */
static int region_step(const isa_module *m, uint32_t op) {
  if (op >= m->n_imports || strcmp(isa_module_str(m, m->imports[op].domain), "ivm") != 0)
    return 0;
  const char *nm = isa_module_str(m, m->imports[op].name);
  if (!strcmp(nm, "IfThen") || !strcmp(nm, "LoopBegin")) return 1;
  if (!strcmp(nm, "EndIf") || !strcmp(nm, "LoopEnd")) return -1;
  if (!strcmp(nm, "Else")) return 2;
  return 0;
}

/* Instructions inside control regions are indented two spaces per level, and region
 * markers end with a "; @index" comment so that jump targets are easy to follow. */
static ivm_status put_instr(isa_buf *b, const isa_module *m, uint32_t i, int *depth) {
  const isa_instr_rec *in = &m->code[i];
  uint32_t n = (uint32_t)in->n_in + in->n_out;
  if (in->op >= m->n_imports || (uint64_t)in->operands + n > m->n_operands)
    return DIS_ERR("instruction %u: malformed record", i);
  int step = region_step(m, in->op);
  if ((step == -1 || step == 2) && *depth > 0) (*depth)--;
  for (int k = 0; k < *depth && k < 64; k++) isa_buf_append(b, "  ", 2);
  if (step == 1 || step == 2) (*depth)++;
  const uint32_t *ops = m->operands + in->operands;
  for (uint32_t k = 0; k < in->n_out; k++) {
    if (k) isa_buf_append(b, ", ", 2);
    put_tensor_ref(b, ops[in->n_in + k]);
  }
  isa_buf_append(b, in->n_out ? " = " : "= ", in->n_out ? 3 : 2);
  if (import_printable(m, in->op))
    isa_buf_printf(b, "%s", isa_module_str(m, m->imports[in->op].name));
  else
    isa_buf_printf(b, "#%u", in->op);
  for (uint32_t k = 0; k < in->n_in; k++) {
    isa_buf_append(b, " ", 1);
    put_tensor_ref(b, ops[k]);
  }
  IVM_TRY(put_attrs(b, m, i));
  if (m->debug) {
    isa_buf_append(b, " node ", 6);
    put_cstr(b, isa_module_str(m, m->debug[i]));
  }
  if (step) isa_buf_printf(b, "  ; @%u", i);
  isa_buf_append(b, "\n", 1);
  return NULL;
}

static ivm_status dis(isa_buf *b, const isa_module *m) {
  isa_buf_printf(b, "; IVM bytecode module (text form; see docs/bytecode.md)\n");
  isa_buf_printf(b, "ivm %u.%u\n", m->header->major, m->header->minor);
  isa_buf_printf(b, "plan arena_size=%llu unplanned_size=%llu arena_align=%u\n",
                 (unsigned long long)m->plan->arena_size,
                 (unsigned long long)m->plan->unplanned_size, m->plan->arena_align);
  for (uint32_t k = 0; k < m->n_symbols; k++) {
    isa_buf_printf(b, "symbol $%u ", k);
    put_cstr(b, isa_module_str(m, m->symbols[k]));
    isa_buf_append(b, "\n", 1);
  }
  for (uint32_t k = 0; k < m->n_imports; k++) {
    const char *dom = isa_module_str(m, m->imports[k].domain);
    const char *nm = isa_module_str(m, m->imports[k].name);
    isa_buf_printf(b, "import #%u = ", k);
    if (is_ident(dom, 1) && is_ident(nm, 0) && strcmp(nm, "_") != 0) {
      isa_buf_printf(b, "%s.%s", dom, nm);
    } else {
      put_cstr(b, dom);
      isa_buf_append(b, " ", 1);
      put_cstr(b, nm);
      isa_buf_append(b, " ", 1);
    }
    isa_buf_printf(b, "@%u\n", m->imports[k].version);
  }
  for (uint32_t t = 0; t < m->n_tensors; t++) IVM_TRY(put_tensor(b, m, t));
  isa_buf_append(b, "inputs", 6);
  for (uint32_t k = 0; k < m->n_inputs; k++) isa_buf_printf(b, " %%%u", m->inputs[k]);
  isa_buf_append(b, "\noutputs", 8);
  for (uint32_t k = 0; k < m->n_outputs; k++) isa_buf_printf(b, " %%%u", m->outputs[k]);
  isa_buf_append(b, "\n", 1);
  int depth = 0;
  for (uint32_t i = 0; i < m->n_instrs; i++) IVM_TRY(put_instr(b, m, i, &depth));
  return NULL;
}

ivm_status isa_disassemble(const isa_module *m, char **out_text, size_t *out_len) {
  *out_text = NULL;
  *out_len = 0;
  isa_buf b = {0};
  ivm_status st = dis(&b, m);
  if (!st) isa_buf_append(&b, "", 1); /* NUL terminator, not counted */
  if (!st && b.failed) st = ivm_error(IVM_ERR_OUT_OF_MEMORY, "disassemble: out of memory");
  if (st) {
    isa_buf_free(&b);
    return st;
  }
  *out_text = (char *)b.data;
  *out_len = b.len - 1;
  return NULL;
}
