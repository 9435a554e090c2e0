/* The module verifier: everything the interpreter and the kernels rely on, checked once at
 * load. After isa_module_open (container) and this (meaning), the runtime may index any
 * table without checks. Rules are listed in docs/bytecode.md, "Verification". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isa/module_impl.h"

#define ISA_MAX_ARENA_ALIGN 4096
#define ISA_MIN_ARENA_ALIGN 64
/* Byte sizes beyond this are rejected so that sums of a few sizes cannot overflow. */
#define ISA_MAX_BYTES ((uint64_t)1 << 60)

typedef struct vctx {
  const isa_module *m;
  const isa_registry *reg;
  const char *what;
  const isa_op_desc **ops; /* per import */
  uint32_t *def_t;         /* per tensor: time of definition + 1 (0: never defined) */
  uint32_t *last_t;        /* per tensor: time of last use */
  uint8_t *is_input;
  /* Control flow (docs/bytecode.md, "Control flow"): */
  uint8_t *visible;        /* per tensor: written on every path to the current point */
  uint32_t *partner;       /* per instruction: jump target of a region marker */
  uint32_t *log;           /* tensors made visible, in order (undone at region ends) */
  size_t n_log;
  uint32_t *then_stamp;    /* per tensor: id of the If whose then region wrote it */
  struct vframe {
    uint8_t kind;          /* CK_IF, CK_ELSE (in the else region), CK_LOOP */
    uint32_t at, end;      /* marker instruction; LOOP: index of its LoopEnd */
    size_t mark;           /* log length at region entry */
    uint32_t id;
  } *frames;
  uint32_t n_frames, next_id;
} vctx;

/* Control instructions, recognised by descriptor (the registry holds the built-in ones). */
enum { CK_NONE = 0, CK_IF, CK_ELSE, CK_ENDIF, CK_LOOP, CK_LOOPEND, CK_SCANINIT, CK_SCANAPPEND };

static int ctl_kind(const isa_op_desc *d) {
  if (!d || !(d->flags & ISA_OPF_CONTROL)) return CK_NONE;
  if (d == isa_builtin_desc(ISA_OP_IfThen)) return CK_IF;
  if (d == isa_builtin_desc(ISA_OP_Else)) return CK_ELSE;
  if (d == isa_builtin_desc(ISA_OP_EndIf)) return CK_ENDIF;
  if (d == isa_builtin_desc(ISA_OP_LoopBegin)) return CK_LOOP;
  if (d == isa_builtin_desc(ISA_OP_LoopEnd)) return CK_LOOPEND;
  if (d == isa_builtin_desc(ISA_OP_ScanInit)) return CK_SCANINIT;
  if (d == isa_builtin_desc(ISA_OP_ScanAppend)) return CK_SCANAPPEND;
  return CK_NONE;
}

#define VERR(sec, ...) \
  ivm_status_wrap(ivm_error(IVM_ERR_FORMAT, __VA_ARGS__), "%s: section %s", v->what, sec)

static const char *tname(const vctx *v, uint32_t t) {
  return isa_module_str(v->m, v->m->tensors[t].name);
}

/* Wraps an instruction-level error with "what: section CODE: instruction i (Op, node 'n')". */
static ivm_status instr_wrap(const vctx *v, uint32_t i, ivm_status st) {
  const isa_module *m = v->m;
  const isa_instr_rec *in = &m->code[i];
  const char *op = "?";
  if (in->op < m->n_imports && v->ops && v->ops[in->op])
    op = v->ops[in->op]->name;
  else if (in->op < m->n_imports)
    op = isa_module_str(m, m->imports[in->op].name);
  const char *node = m->debug ? isa_module_str(m, m->debug[i]) : "";
  if (*node)
    return ivm_status_wrap(st, "%s: section CODE: instruction %u (%s, node '%s')", v->what, i, op,
                           node);
  return ivm_status_wrap(st, "%s: section CODE: instruction %u (%s)", v->what, i, op);
}

#define IERR(...) instr_wrap(v, i, ivm_error(IVM_ERR_FORMAT, __VA_ARGS__))

/* ---- tables --------------------------------------------------------------------------- */
static ivm_status check_plan(const vctx *v) {
  const isa_plan_rec *p = v->m->plan;
  uint32_t a = p->arena_align;
  if (a < ISA_MIN_ARENA_ALIGN || a > ISA_MAX_ARENA_ALIGN || (a & (a - 1)))
    return VERR("PLAN", "arena_align %u must be a power of two in [%d, %d]", a, ISA_MIN_ARENA_ALIGN,
                ISA_MAX_ARENA_ALIGN);
  if (p->arena_size > ISA_MAX_BYTES)
    return VERR("PLAN", "arena_size %llu is too large", (unsigned long long)p->arena_size);
  if (p->reserved) return VERR("PLAN", "reserved field is not zero");
  return NULL;
}

static ivm_status check_names(const vctx *v) {
  const isa_module *m = v->m;
  for (uint32_t i = 0; i < m->n_symbols; i++)
    if (m->symbols[i] >= m->strtab_size)
      return VERR("SYMBOLS", "symbol %u: name offset %u is outside STRTAB (%zu bytes)", i,
                  m->symbols[i], m->strtab_size);
  for (uint32_t i = 0; m->debug && i < m->n_instrs; i++)
    if (m->debug[i] >= m->strtab_size)
      return VERR("DEBUG", "instruction %u: name offset %u is outside STRTAB (%zu bytes)", i,
                  m->debug[i], m->strtab_size);
  return NULL;
}

static ivm_status check_imports(vctx *v) {
  const isa_module *m = v->m;
  for (uint32_t i = 0; i < m->n_imports; i++) {
    const isa_import_rec *r = &m->imports[i];
    if (r->domain >= m->strtab_size || r->name >= m->strtab_size)
      return VERR("IMPORTS", "import %u: name offset is outside STRTAB", i);
    if (r->reserved) return VERR("IMPORTS", "import %u: reserved field is not zero", i);
    const char *dom = m->strtab + r->domain, *name = m->strtab + r->name;
    const isa_registry_entry *e = isa_registry_find(v->reg, dom, name, r->version);
    if (!e)
      return ivm_status_wrap(
          ivm_error(IVM_ERR_NOT_FOUND, "import %u: op %s.%s version %u is not registered", i, dom,
                    name, r->version),
          "%s: section IMPORTS", v->what);
    v->ops[i] = e->desc;
  }
  return NULL;
}

/* numel * element size of a tensor with known dims, or UINT64_MAX if it exceeds the limit. */
static uint64_t tensor_bytes(const isa_module *m, const isa_tensor_rec *t) {
  uint64_t n = 1;
  for (uint32_t k = 0; k < t->rank; k++) {
    uint64_t d = (uint64_t)m->dims[t->dims + k];
    if (d && n > ISA_MAX_BYTES / d) return UINT64_MAX;
    n *= d;
  }
  uint64_t es = ivm_dtype_size((ivm_dtype)t->dtype);
  if (n > ISA_MAX_BYTES / es) return UINT64_MAX;
  return n * es;
}

static ivm_status check_tensor(const vctx *v, uint32_t i) {
  const isa_module *m = v->m;
  const isa_tensor_rec *t = &m->tensors[i];
  if (t->name >= m->strtab_size)
    return VERR("TENSORS", "tensor %u: name offset %u is outside STRTAB", i, t->name);
  const char *nm = m->strtab + t->name;
  if (t->reserved) return VERR("TENSORS", "tensor %u '%s': reserved field is not zero", i, nm);
  if (!isa_dtype_valid(t->dtype))
    return VERR("TENSORS", "tensor %u '%s': invalid dtype %u", i, nm, t->dtype);
  if (t->kind < ISA_TK_CONST || t->kind > ISA_TK_DYNAMIC)
    return VERR("TENSORS", "tensor %u '%s': invalid kind %u", i, nm, t->kind);
  if (t->rank > ISA_MAX_RANK)
    return VERR("TENSORS", "tensor %u '%s': rank %u exceeds %d", i, nm, t->rank, ISA_MAX_RANK);
  uint8_t known = ISA_TF_RANK_UNKNOWN | ISA_TF_VAR;
  if (m->header->minor >= ISA_FORMAT_MINOR_SEQ) known |= ISA_TF_SEQUENCE | ISA_TF_OPTIONAL;
  if (t->flags & ~known)
    return VERR("TENSORS", "tensor %u '%s': unknown flags 0x%x (format version %u.%u)", i, nm,
                t->flags, m->header->major, m->header->minor);
  if ((t->flags & (ISA_TF_SEQUENCE | ISA_TF_OPTIONAL)) && t->kind != ISA_TK_DYNAMIC)
    return VERR("TENSORS", "tensor %u '%s': only DYNAMIC tensors may be sequences or optionals", i,
                nm);
  if ((t->flags & ISA_TF_VAR) && t->kind != ISA_TK_DYNAMIC)
    return VERR("TENSORS", "tensor %u '%s': only DYNAMIC tensors may be vars", i, nm);
  if ((t->flags & ISA_TF_RANK_UNKNOWN) && (t->kind != ISA_TK_DYNAMIC || t->rank != 0))
    return VERR("TENSORS",
                "tensor %u '%s': unknown rank is allowed only for DYNAMIC tensors "
                "(with rank field 0)",
                i, nm);
  if ((uint64_t)t->dims + t->rank > m->n_dims)
    return VERR("TENSORS", "tensor %u '%s': dims [%u, +%u) outside DIMS (%u entries)", i, nm,
                t->dims, t->rank, m->n_dims);
  for (uint32_t k = 0; k < t->rank; k++) {
    int64_t d = m->dims[t->dims + k];
    if (d >= 0) continue;
    if (t->kind != ISA_TK_DYNAMIC)
      return VERR("TENSORS",
                  "tensor %u '%s': dim %u is %lld; only DYNAMIC tensors may have "
                  "unknown or symbolic dims",
                  i, nm, k, (long long)d);
    if (d != ISA_DIM_ANY && ISA_DIM_SYM_INDEX(d) >= (int64_t)m->n_symbols)
      return VERR("TENSORS", "tensor %u '%s': dim %u refers to symbol %lld, but there are %u", i,
                  nm, k, (long long)ISA_DIM_SYM_INDEX(d), m->n_symbols);
  }
  if (t->kind == ISA_TK_DYNAMIC) {
    if (t->offset || t->size)
      return VERR("TENSORS", "tensor %u '%s': DYNAMIC tensors must have offset 0 and size 0", i,
                  nm);
    return NULL;
  }
  uint64_t bytes = tensor_bytes(m, t);
  if (bytes == UINT64_MAX) return VERR("TENSORS", "tensor %u '%s': too large", i, nm);
  if (t->size != bytes)
    return VERR("TENSORS", "tensor %u '%s': size %llu, but its type needs %llu bytes", i, nm,
                (unsigned long long)t->size, (unsigned long long)bytes);
  if (t->kind == ISA_TK_CONST) {
    if (t->offset % ISA_CONST_ALIGN)
      return VERR("CONSTS", "tensor %u '%s': offset %llu is not %d-byte aligned", i, nm,
                  (unsigned long long)t->offset, ISA_CONST_ALIGN);
    if (t->offset > m->consts_size || t->size > m->consts_size - t->offset)
      return VERR("CONSTS", "tensor %u '%s': data [%llu, +%llu) is outside CONSTS (%llu bytes)", i,
                  nm, (unsigned long long)t->offset, (unsigned long long)t->size,
                  (unsigned long long)m->consts_size);
  } else {
    uint64_t arena = m->plan->arena_size;
    if (t->offset % m->plan->arena_align)
      return VERR("TENSORS", "tensor %u '%s': arena offset %llu is not a multiple of %u", i, nm,
                  (unsigned long long)t->offset, m->plan->arena_align);
    if (t->offset > arena || t->size > arena - t->offset)
      return VERR("TENSORS", "tensor %u '%s': arena range [%llu, +%llu) exceeds arena_size %llu", i,
                  nm, (unsigned long long)t->offset, (unsigned long long)t->size,
                  (unsigned long long)arena);
  }
  return NULL;
}

static ivm_status check_io(vctx *v) {
  const isa_module *m = v->m;
  for (uint32_t k = 0; k < m->n_inputs; k++) {
    uint32_t t = m->inputs[k];
    if (t >= m->n_tensors)
      return VERR("IO", "input %u: tensor %u out of range (%u tensors)", k, t, m->n_tensors);
    uint8_t kind = m->tensors[t].kind;
    if (kind != ISA_TK_ARENA && kind != ISA_TK_DYNAMIC)
      return VERR("IO", "input %u: tensor %u '%s' must be ARENA or DYNAMIC", k, t, tname(v, t));
    if (v->is_input[t])
      return VERR("IO", "input %u: tensor %u '%s' is listed twice", k, t, tname(v, t));
    v->is_input[t] = 1;
    v->def_t[t] = 1; /* time 0, stored + 1 */
    v->visible[t] = 1;
  }
  for (uint32_t k = 0; k < m->n_outputs; k++)
    if (m->outputs[k] >= m->n_tensors)
      return VERR("IO", "output %u: tensor %u out of range (%u tensors)", k, m->outputs[k],
                  m->n_tensors);
  return NULL;
}

/* ---- instructions --------------------------------------------------------------------- */
typedef struct scratch {
  isa_type *in, *out;
  const void **in_data;
  isa_attr *attrs;
} scratch;

static void tensor_type(const isa_module *m, uint32_t t, isa_type *out) {
  const isa_tensor_rec *r = &m->tensors[t];
  memset(out, 0, sizeof *out);
  out->dtype = r->dtype;
  out->vkind = (uint8_t)ISA_TF_VKIND(r->flags);
  if (r->flags & ISA_TF_RANK_UNKNOWN) {
    out->rank = -1;
    return;
  }
  out->rank = (int8_t)r->rank;
  for (uint32_t k = 0; k < r->rank; k++) out->dims[k] = m->dims[r->dims + k];
}

static void type_str(const isa_type *t, char *buf, size_t n) {
  int w = snprintf(buf, n, "%s%s%s", t->vkind ? isa_vkind_name(t->vkind) : "", t->vkind ? " of " : "",
                   ivm_dtype_name((ivm_dtype)t->dtype));
  if (t->rank < 0) {
    snprintf(buf + w, n - (size_t)w, "[*]");
    return;
  }
  size_t pos = (size_t)w;
  pos += (size_t)snprintf(buf + pos, n - pos, "[");
  for (int k = 0; k < t->rank && pos < n; k++) {
    if (t->dims[k] >= 0)
      pos += (size_t)snprintf(buf + pos, n - pos, "%s%lld", k ? "," : "", (long long)t->dims[k]);
    else
      pos += (size_t)snprintf(buf + pos, n - pos, "%s?", k ? "," : "");
  }
  if (pos < n) snprintf(buf + pos, n - pos, "]");
}

static ivm_status arity_err(const vctx *v, uint32_t i, const char *what, uint32_t n, uint32_t lo,
                            uint32_t hi) {
  if (hi == ISA_VARIADIC) return IERR("%u %s; the op takes at least %u", n, what, lo);
  return IERR("%u %s; the op takes %u to %u", n, what, lo, hi);
}

/* Undoes the visibility of the tensors written since log position mark; with keep_id,
 * keeps those that the then region of If `keep_id` wrote too (written on both paths). */
static void scope_undo(vctx *v, size_t mark, uint32_t keep_id) {
  size_t w = mark;
  for (size_t k = mark; k < v->n_log; k++) {
    uint32_t t = v->log[k];
    if (keep_id && v->then_stamp[t] == keep_id)
      v->log[w++] = t;
    else
      v->visible[t] = 0;
  }
  v->n_log = w;
}

static ivm_status check_instr(vctx *v, uint32_t i, scratch *s) {
  const isa_module *m = v->m;
  const isa_instr_rec *in = &m->code[i];
  if (in->op >= m->n_imports)
    return IERR("import %u out of range (%u imports)", in->op, m->n_imports);
  const isa_op_desc *d = v->ops[in->op];
  if (in->reserved) return IERR("reserved field is not zero");
  int ck = ctl_kind(d);
  /* Region ends: what the region wrote is not visible after it, except what both
   * branches of an If wrote. */
  if (ck == CK_ELSE) {
    struct vframe *f = &v->frames[v->n_frames - 1]; /* the structure pass matched it */
    for (size_t k = f->mark; k < v->n_log; k++) v->then_stamp[v->log[k]] = f->id;
    scope_undo(v, f->mark, 0);
    f->kind = CK_ELSE;
  } else if (ck == CK_ENDIF) {
    struct vframe *f = &v->frames[--v->n_frames];
    scope_undo(v, f->mark, f->id);
  } else if (ck == CK_LOOPEND) {
    struct vframe *f = &v->frames[--v->n_frames];
    scope_undo(v, f->mark, 0);
  }
  if (in->n_in < d->min_in || (d->max_in != ISA_VARIADIC && in->n_in > d->max_in))
    return arity_err(v, i, "inputs", in->n_in, d->min_in, d->max_in);
  if (in->n_out < d->min_out || (d->max_out != ISA_VARIADIC && in->n_out > d->max_out))
    return arity_err(v, i, "outputs", in->n_out, d->min_out, d->max_out);
  uint32_t n_ops = (uint32_t)in->n_in + in->n_out;
  if ((uint64_t)in->operands + n_ops > m->n_operands)
    return IERR("operands [%u, +%u) are outside OPERANDS (%u entries)", in->operands, n_ops,
                m->n_operands);
  const uint32_t *ins = m->operands + in->operands, *outs = ins + in->n_in;
  uint32_t now = i + 1; /* time of this instruction; graph inputs are at time 0 */

  for (uint32_t k = 0; k < in->n_in; k++) {
    uint32_t t = ins[k];
    memset(&s->in[k], 0, sizeof s->in[k]);
    s->in_data[k] = NULL;
    if (t == ISA_NO_TENSOR) {
      if (k < d->min_in) return IERR("input %u is required but absent", k);
      continue;
    }
    if (t >= m->n_tensors)
      return IERR("input %u: tensor %u out of range (%u tensors)", k, t, m->n_tensors);
    const isa_tensor_rec *r = &m->tensors[t];
    if (r->kind != ISA_TK_CONST && !v->visible[t])
      return IERR("input %u: tensor %u '%s' is read before it is written%s", k, t, tname(v, t),
                  v->def_t[t] ? " on every path to this instruction" : "");
    if (r->kind != ISA_TK_CONST) {
      if (v->last_t[t] < now) v->last_t[t] = now;
      /* A value from before a loop that the loop reads is live until the loop ends
       * (the back edge reads it again). */
      for (uint32_t f = 0; f < v->n_frames; f++) {
        if (v->frames[f].kind != CK_LOOP || v->def_t[t] - 1 > v->frames[f].at) continue;
        if (v->last_t[t] < v->frames[f].end + 1) v->last_t[t] = v->frames[f].end + 1;
        break;
      }
    }
    tensor_type(m, t, &s->in[k]);
    if (s->in[k].vkind && !(d->flags & ISA_OPF_SEQ))
      return IERR("input %u: tensor %u '%s' is a %s value; the op takes tensors only", k, t,
                  tname(v, t), isa_vkind_name(s->in[k].vkind));
    /* An empty constant has no bytes (CONSTS may be absent); any non-NULL pointer says
     * "value known". */
    static const uint64_t empty_const = 0;
    if (r->kind == ISA_TK_CONST)
      s->in_data[k] = r->size ? (const void *)(m->consts + r->offset) : (const void *)&empty_const;
  }
  for (uint32_t k = 0; k < in->n_out; k++) {
    uint32_t t = outs[k];
    if (t == ISA_NO_TENSOR) {
      if (k < d->min_out) return IERR("output %u is required but absent", k);
      continue;
    }
    if (t >= m->n_tensors)
      return IERR("output %u: tensor %u out of range (%u tensors)", k, t, m->n_tensors);
    const isa_tensor_rec *r = &m->tensors[t];
    if (r->kind == ISA_TK_CONST)
      return IERR("output %u: tensor %u '%s' is a constant", k, t, tname(v, t));
    if (v->is_input[t])
      return IERR("output %u: tensor %u '%s' is a graph input", k, t, tname(v, t));
    int is_var = (r->flags & ISA_TF_VAR) != 0;
    if (v->def_t[t] && !is_var)
      return IERR("output %u: tensor %u '%s' is already written by instruction %u (only vars "
                  "may be written more than once)", k, t, tname(v, t), v->def_t[t] - 2);
    if ((ck == CK_LOOP || ck == CK_SCANINIT || ck == CK_SCANAPPEND) && !is_var)
      return IERR("output %u: tensor %u '%s' must be a var", k, t, tname(v, t));
    if ((r->flags & (ISA_TF_SEQUENCE | ISA_TF_OPTIONAL)) && !(d->flags & ISA_OPF_SEQ))
      return IERR("output %u: tensor %u '%s' is a %s value; the op writes tensors only", k, t,
                  tname(v, t), isa_vkind_name(ISA_TF_VKIND(r->flags)));
    if (ck == CK_SCANAPPEND && t != ins[0])
      return IERR("output 0 must be the accumulator, input 0 (tensor %u)", ins[0]);
    if (!v->def_t[t]) v->def_t[t] = now + 1;
    if (v->last_t[t] < now) v->last_t[t] = now;
    if (!v->visible[t]) {
      v->visible[t] = 1;
      v->log[v->n_log++] = t;
    }
  }
  if (ck == CK_IF || ck == CK_LOOP) { /* region starts: after the marker's own operands */
    struct vframe *f = &v->frames[v->n_frames++];
    f->kind = (uint8_t)ck;
    f->at = now; /* times: instruction j is time j + 1 */
    f->end = v->partner[i] + 1;
    f->mark = v->n_log;
    f->id = ++v->next_id;
  }

  ivm_status st = isa_decode_attrs_raw(m, i, d, s->attrs);
  if (st) return instr_wrap(v, i, st);

  for (uint32_t k = 0; k < in->n_out; k++) {
    memset(&s->out[k], 0, sizeof s->out[k]);
    s->out[k].rank = -1;
  }
  isa_infer_ctx ctx = {in->n_in, s->in, s->in_data, s->attrs, in->n_out, s->out};
  st = d->infer(&ctx);
  if (st) {
    if (ivm_status_get_code(st) == IVM_ERR_INVALID_ARGUMENT) {
      ivm_status f = ivm_error(IVM_ERR_FORMAT, "shape inference: %s", ivm_status_message(st));
      ivm_status_free(st);
      st = f;
    } else {
      st = ivm_status_wrap(st, "shape inference");
    }
    return instr_wrap(v, i, st);
  }
  for (uint32_t k = 0; k < in->n_out; k++) {
    uint32_t t = outs[k];
    if (t == ISA_NO_TENSOR) continue;
    const isa_tensor_rec *r = &m->tensors[t];
    isa_type decl, *got = &s->out[k];
    tensor_type(m, t, &decl);
    int ok = got->dtype == decl.dtype && got->vkind == decl.vkind;
    if (ok && r->kind == ISA_TK_ARENA) {
      ok = got->rank == decl.rank;
      for (int j = 0; ok && j < decl.rank; j++) ok = got->dims[j] == decl.dims[j];
    } else if (ok && (r->flags & ISA_TF_VAR) && got->rank >= 0 && decl.rank >= 0) {
      /* Every write of a var agrees with its declared type where both are known. */
      ok = got->rank == decl.rank;
      for (int j = 0; ok && j < decl.rank; j++)
        ok = got->dims[j] < 0 || decl.dims[j] < 0 || got->dims[j] == decl.dims[j];
    }
    if (!ok) {
      char a[160], b[160];
      type_str(&decl, a, sizeof a);
      type_str(got, b, sizeof b);
      return IERR("output %u: tensor %u '%s' is declared %s %s, but inference gives %s", k, t,
                  tname(v, t),
                  r->kind == ISA_TK_ARENA ? "ARENA" : (r->flags & ISA_TF_VAR) ? "var" : "DYNAMIC",
                  a, b);
    }
  }
  return NULL;
}

/* ---- control-flow structure ------------------------------------------------------------- */
/* Every region marker's target must name its structural partner: IfThen.else_at the Else
 * of the same If, Else.end_at its EndIf, LoopBegin.end_at its LoopEnd and LoopEnd.begin_at
 * its LoopBegin. So regions nest properly and every jump lands on a region boundary. */
static ivm_status check_structure(vctx *v, scratch *s) {
  const isa_module *m = v->m;
  uint32_t *stack = v->log; /* free before the instruction pass; n_instrs <= its size */
  uint8_t *kinds = (uint8_t *)v->then_stamp;
  uint32_t depth = 0;
  for (uint32_t i = 0; i < m->n_instrs; i++) {
    const isa_instr_rec *in = &m->code[i];
    if (in->op >= m->n_imports) continue; /* reported by check_instr */
    const isa_op_desc *d = v->ops[in->op];
    int ck = ctl_kind(d);
    if (ck == CK_NONE || ck == CK_SCANINIT || ck == CK_SCANAPPEND) continue;
    ivm_status st = isa_decode_attrs_raw(m, i, d, s->attrs);
    if (st) return instr_wrap(v, i, st);
    int64_t tgt = d->n_attrs ? s->attrs[0].v.i : 0;
    const char *an = d->n_attrs ? d->attrs[0].name : "";
    if (ck == CK_IF || ck == CK_LOOP || ck == CK_ELSE) {
      if (tgt <= (int64_t)i || tgt >= (int64_t)m->n_instrs)
        return IERR("jump target %s=%lld is not a later instruction (there are %u)", an,
                    (long long)tgt, m->n_instrs);
      v->partner[i] = (uint32_t)tgt;
    }
    if (ck == CK_LOOPEND) {
      if (tgt < 0 || tgt >= (int64_t)i)
        return IERR("jump target begin_at=%lld is not an earlier instruction", (long long)tgt);
      v->partner[i] = (uint32_t)tgt;
    }
    uint32_t top = depth ? stack[depth - 1] : UINT32_MAX;
    uint8_t topk = depth ? kinds[depth - 1] : CK_NONE;
    switch (ck) {
      case CK_IF:
      case CK_LOOP:
        stack[depth] = i;
        kinds[depth++] = (uint8_t)ck;
        break;
      case CK_ELSE:
        if (topk != CK_IF || v->partner[top] != i) {
          if (topk == CK_IF)
            return IERR("the innermost open region is the IfThen at instruction %u, whose "
                        "else_at=%u targets another instruction",
                        top, v->partner[top]);
          return IERR("Else outside the then region of an IfThen that targets it");
        }
        stack[depth - 1] = i;
        kinds[depth - 1] = CK_ELSE;
        break;
      case CK_ENDIF:
        if (topk != CK_ELSE || v->partner[top] != i)
          return IERR("EndIf does not close the Else region that targets it%s",
                      topk == CK_ELSE ? " (the open Else's end_at names another instruction)"
                                      : "");
        depth--;
        break;
      case CK_LOOPEND:
        if (topk != CK_LOOP || v->partner[top] != i || v->partner[i] != top)
          return IERR("LoopEnd (begin_at=%u) does not close the innermost open loop%s",
                      v->partner[i], topk == CK_LOOP ? "" : " (another region is open)");
        depth--;
        break;
      default: break;
    }
  }
  if (depth) {
    uint32_t i = stack[depth - 1];
    return IERR("region is not closed before the end of the code");
  }
  /* The scratch use of log and then_stamp is over. */
  memset(v->then_stamp, 0, (m->n_tensors ? m->n_tensors : 1) * sizeof *v->then_stamp);
  return NULL;
}

/* ---- arena overlap -------------------------------------------------------------------- */
/* Two ARENA tensors may share bytes only if their live ranges are disjoint. Sweep over
 * time (tensors by definition time); the set of live byte ranges is kept sorted by offset
 * and pairwise disjoint, so an insertion only needs to check its two neighbours:
 * O(n log n + n * live) overall. */
typedef struct ivl {
  uint64_t off, end;
  uint32_t def, last, id;
} ivl;

static int by_def(const void *a, const void *b) {
  const ivl *x = a, *y = b;
  if (x->def != y->def) return x->def < y->def ? -1 : 1;
  return x->id < y->id ? -1 : x->id > y->id;
}

static int by_last(const void *a, const void *b) {
  const ivl *x = a, *y = b;
  if (x->last != y->last) return x->last < y->last ? -1 : 1;
  return x->id < y->id ? -1 : x->id > y->id;
}

/* First index in act[0..n) whose off >= key. */
static size_t lower_bound(const ivl *act, size_t n, uint64_t key) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (act[mid].off < key)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static ivm_status overlap_err(const vctx *v, const ivl *a, const ivl *b) {
  uint32_t from = a->def > b->def ? a->def : b->def, to = a->last < b->last ? a->last : b->last;
  return VERR("TENSORS",
              "arena tensors %u '%s' [%llu, %llu) and %u '%s' [%llu, %llu) overlap in memory "
              "while both are live (times %u..%u; time 0 is the graph inputs, time i+1 "
              "instruction i)",
              a->id, tname(v, a->id), (unsigned long long)a->off, (unsigned long long)a->end, b->id,
              tname(v, b->id), (unsigned long long)b->off, (unsigned long long)b->end, from, to);
}

static ivm_status check_arena_overlap(const vctx *v) {
  const isa_module *m = v->m;
  size_t n = 0;
  for (uint32_t t = 0; t < m->n_tensors; t++)
    n += m->tensors[t].kind == ISA_TK_ARENA && m->tensors[t].size && v->def_t[t];
  if (n < 2) return NULL;
  ivl *starts = malloc(n * sizeof *starts), *ends = malloc(n * sizeof *ends),
      *act = malloc(n * sizeof *act);
  ivm_status st = NULL;
  if (!starts || !ends || !act) {
    st = ivm_error(IVM_ERR_OUT_OF_MEMORY, "%s: verify: out of memory", v->what);
    goto done;
  }
  size_t j = 0;
  for (uint32_t t = 0; t < m->n_tensors; t++) {
    const isa_tensor_rec *r = &m->tensors[t];
    if (r->kind != ISA_TK_ARENA || !r->size || !v->def_t[t]) continue;
    ivl e = {r->offset, r->offset + r->size, v->def_t[t] - 1, v->last_t[t], t};
    if (e.last < e.def) e.last = e.def;
    starts[j++] = e;
  }
  memcpy(ends, starts, n * sizeof *ends);
  qsort(starts, n, sizeof *starts, by_def);
  qsort(ends, n, sizeof *ends, by_last);
  size_t n_act = 0, p = 0;
  for (size_t k = 0; k < n; k++) {
    const ivl *x = &starts[k];
    for (; p < n && ends[p].last < x->def; p++) {
      size_t pos = lower_bound(act, n_act, ends[p].off);
      if (pos < n_act && act[pos].id == ends[p].id) {
        memmove(&act[pos], &act[pos + 1], (n_act - pos - 1) * sizeof *act);
        n_act--;
      }
    }
    size_t pos = lower_bound(act, n_act, x->off);
    if (pos > 0 && act[pos - 1].end > x->off) {
      st = overlap_err(v, &act[pos - 1], x);
      goto done;
    }
    if (pos < n_act && x->end > act[pos].off) {
      st = overlap_err(v, &act[pos], x);
      goto done;
    }
    memmove(&act[pos + 1], &act[pos], (n_act - pos) * sizeof *act);
    act[pos] = *x;
    n_act++;
  }
done:
  free(starts);
  free(ends);
  free(act);
  return st;
}

/* ---- driver --------------------------------------------------------------------------- */
ivm_status isa_module_verify(const isa_module *m, const isa_registry *reg, const char *what) {
  vctx vv, *v = &vv;
  memset(&vv, 0, sizeof vv);
  vv.m = m;
  vv.reg = reg;
  vv.what = what ? what : "<memory>";
  scratch s = {0};
  ivm_status st = NULL;
  size_t nt = m->n_tensors ? m->n_tensors : 1, ni = m->n_imports ? m->n_imports : 1;
  v->ops = calloc(ni, sizeof *v->ops);
  v->def_t = calloc(nt, sizeof *v->def_t);
  v->last_t = calloc(nt, sizeof *v->last_t);
  v->is_input = calloc(nt, 1);
  v->visible = calloc(nt, 1);
  size_t nlog = (size_t)m->n_operands + m->n_instrs + nt + 1;
  v->log = calloc(nlog, sizeof *v->log);
  v->then_stamp = calloc(nt > m->n_instrs ? nt : m->n_instrs + 1, sizeof *v->then_stamp);
  v->partner = calloc(m->n_instrs + 1, sizeof *v->partner);
  v->frames = calloc(m->n_instrs + 1, sizeof *v->frames);
  if (!v->ops || !v->def_t || !v->last_t || !v->is_input || !v->visible || !v->log ||
      !v->then_stamp || !v->partner || !v->frames)
    goto oom;

  IVM_TRY_GOTO(st, check_plan(v), done);
  IVM_TRY_GOTO(st, check_names(v), done);
  IVM_TRY_GOTO(st, check_imports(v), done);
  for (uint32_t t = 0; t < m->n_tensors; t++) IVM_TRY_GOTO(st, check_tensor(v, t), done);
  IVM_TRY_GOTO(st, check_io(v), done);

  /* Scratch for inference, sized by the largest instruction. */
  uint32_t max_in = 1, max_out = 1, max_attrs = 1;
  for (uint32_t i = 0; i < m->n_instrs; i++) {
    if (m->code[i].n_in > max_in) max_in = m->code[i].n_in;
    if (m->code[i].n_out > max_out) max_out = m->code[i].n_out;
  }
  for (uint32_t k = 0; k < m->n_imports; k++)
    if (v->ops[k]->n_attrs > max_attrs) max_attrs = v->ops[k]->n_attrs;
  s.in = calloc(max_in, sizeof *s.in);
  s.in_data = calloc(max_in, sizeof *s.in_data);
  s.out = calloc(max_out, sizeof *s.out);
  s.attrs = calloc(max_attrs, sizeof *s.attrs);
  if (!s.in || !s.in_data || !s.out || !s.attrs) goto oom;
  IVM_TRY_GOTO(st, check_structure(v, &s), done);
  for (uint32_t i = 0; i < m->n_instrs; i++) IVM_TRY_GOTO(st, check_instr(v, i, &s), done);

  uint32_t end = m->n_instrs + 1;
  for (uint32_t k = 0; k < m->n_outputs; k++) {
    uint32_t t = m->outputs[k];
    if (m->tensors[t].kind != ISA_TK_CONST && !v->visible[t]) {
      st = VERR("IO", "output %u: tensor %u '%s' is never written", k, t, tname(v, t));
      goto done;
    }
    v->last_t[t] = end;
  }
  IVM_TRY_GOTO(st, check_arena_overlap(v), done);
  goto done;
oom:
  st = ivm_error(IVM_ERR_OUT_OF_MEMORY, "%s: verify: out of memory", v->what);
done:
  free(v->ops);
  free(v->def_t);
  free(v->last_t);
  free(v->is_input);
  free(v->visible);
  free(v->log);
  free(v->then_stamp);
  free(v->partner);
  free(v->frames);
  free(s.in);
  free(s.in_data);
  free(s.out);
  free((void *)s.attrs);
  return st;
}
