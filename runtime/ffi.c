/* The ivm.ffi op family: instructions that call a C function through libffi.
 *
 * Family template: domain "ivm.ffi", name "*" (the registry copies it once per op name a
 * module uses, e.g. "Cbrt"), version 1, 1..variadic inputs, 1..variadic outputs, kind
 * ISA_OP_KIND_FFI, flags ISA_OPF_SIDE_EFFECTS (never constant-folded, never reordered).
 * Attributes:
 *   symbol    (string, required)  the C function's name, e.g. "cbrtf"
 *   signature (string, required)  its C type, e.g. "f32(f32)"
 *   library   (string, optional)  a shared library to dlopen; "" = the process itself
 *
 * Signature grammar, whitespace-insensitive:
 *   SIG    := RET '(' PARAM (',' PARAM)* ')'
 *   RET    := SCALAR | 'void'
 *   PARAM  := ['const'] SCALAR ['*']
 *   SCALAR := f32 f64 i8 i16 i32 i64 u8 u16 u32 u64, or the C spellings float double
 *             int8_t int16_t int32_t int64_t uint8_t uint16_t uint32_t uint64_t,
 *             int (= i32), size_t (= u64)
 * `const T*` is an input buffer, `T*` an output buffer.
 *
 * Two modes, decided by the signature:
 * - Elementwise (no pointers): RET is a scalar; one input tensor per PARAM, of exactly the
 *   PARAM's dtype, broadcast numpy-style to the output's shape; one output of dtype RET.
 *   The function is called once per output element through a prepared ffi_cif, except
 *   f32(f32), f64(f64), f32(f32,f32) and f64(f64,f64), which are called directly: for
 *   cheap functions ffi_call dominates (measured: cbrtf 15 vs 65 ns per element, fmaxf 3.5
 *   vs 47 ns).
 * - Buffer (at least one pointer): each `const T*` takes the next input tensor's data
 *   (dtype T), each `T*` the next output tensor's data (dtype T, shape of input 0), and
 *   each scalar PARAM, which must be an integer, receives input 0's element count. RET is
 *   void or an integer; a non-zero return is IVM_ERR_RUNTIME naming the symbol and the
 *   value. The function is called once per instruction and is trusted with the sizes of
 *   its buffers: outputs hold input 0's element count, other inputs their own.
 * The instruction's input and output counts must equal the signature's (elementwise: one
 * output).
 *
 * The host decides what code may run: prepare checks the load's allow list before any
 * dlopen. With no library, an entry "SYMBOL" allows it and the symbol is looked up in the
 * process (dlsym(RTLD_DEFAULT): libc, libm, libivm's dependencies). With a library, only
 * the exact entry "LIBRARY:SYMBOL" allows it: a bare "SYMBOL" entry does not, since
 * dlopen runs the library's constructors. Refusal is IVM_ERR_PERMISSION, a missing
 * library or symbol IVM_ERR_NOT_FOUND.
 *
 * Thread-safety: the per-instruction state is immutable once prepared; kernels of one
 * module may run on several threads at once. */
#include <ctype.h>
#include <dlfcn.h>
#include <ffi.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isa/infer_util.h"
#include "runtime/rt.h"

#define FFI_MAX_PARAMS 16
#define SIG_SHOWN 120 /* a signature is quoted in messages up to this many characters */

enum { A_SYMBOL, A_SIGNATURE, A_LIBRARY, A_COUNT };

/* ---- signatures ------------------------------------------------------------------------ */
typedef enum { PARAM_SCALAR, PARAM_IN, PARAM_OUT } param_kind;

typedef struct ffi_param {
  uint8_t kind;  /* param_kind */
  uint8_t dtype; /* the scalar or the pointed-to element */
} ffi_param;

typedef struct ffi_sig {
  uint8_t ret; /* dtype; IVM_DT_NONE for void */
  uint8_t buffer_mode;
  uint8_t n_params, n_in, n_out; /* n_in/n_out: tensors the instruction takes and gives */
  ffi_param params[FFI_MAX_PARAMS];
} ffi_sig;

static const struct {
  const char *name;
  uint8_t dtype;
} type_names[] = {
    {"f32", IVM_DT_F32},     {"float", IVM_DT_F32},     {"f64", IVM_DT_F64},
    {"double", IVM_DT_F64},  {"i8", IVM_DT_I8},         {"int8_t", IVM_DT_I8},
    {"i16", IVM_DT_I16},     {"int16_t", IVM_DT_I16},   {"i32", IVM_DT_I32},
    {"int32_t", IVM_DT_I32}, {"int", IVM_DT_I32},       {"i64", IVM_DT_I64},
    {"int64_t", IVM_DT_I64}, {"u8", IVM_DT_U8},         {"uint8_t", IVM_DT_U8},
    {"u16", IVM_DT_U16},     {"uint16_t", IVM_DT_U16},  {"u32", IVM_DT_U32},
    {"uint32_t", IVM_DT_U32}, {"u64", IVM_DT_U64},      {"uint64_t", IVM_DT_U64},
    {"size_t", IVM_DT_U64},
};

typedef struct sig_cursor {
  const char *s;
  size_t pos;
} sig_cursor;

static ivm_status sig_error(const sig_cursor *c, const char *what) {
  return ivm_error(IVM_ERR_INVALID_ARGUMENT, "signature '%.*s%s': %s (at offset %zu)",
                   SIG_SHOWN, c->s, strlen(c->s) > SIG_SHOWN ? "..." : "", what, c->pos);
}

static void sig_skip_space(sig_cursor *c) {
  while (c->s[c->pos] && isspace((unsigned char)c->s[c->pos])) c->pos++;
}

static int is_ident_start(char ch) { return isalpha((unsigned char)ch) || ch == '_'; }
static int is_ident_char(char ch) { return isalnum((unsigned char)ch) || ch == '_'; }

/* The identifier at the cursor (skipping space first) as [*start, *start + *len); 0 if
 * there is none. */
static int sig_ident(sig_cursor *c, const char **start, size_t *len) {
  sig_skip_space(c);
  if (!is_ident_start(c->s[c->pos])) return 0;
  size_t b = c->pos;
  while (is_ident_char(c->s[c->pos])) c->pos++;
  *start = c->s + b;
  *len = c->pos - b;
  return 1;
}

static int word_is(const char *p, size_t n, const char *w) {
  return strlen(w) == n && memcmp(p, w, n) == 0;
}

/* "found end of text" / "found 'x'" for the character at the cursor. */
static ivm_status sig_expected(const sig_cursor *c, const char *what) {
  char msg[96];
  char ch = c->s[c->pos];
  if (!ch)
    snprintf(msg, sizeof msg, "expected %s, found end of text", what);
  else if (isprint((unsigned char)ch))
    snprintf(msg, sizeof msg, "expected %s, found '%c'", what, ch);
  else
    snprintf(msg, sizeof msg, "expected %s, found byte 0x%02x", what, (unsigned char)ch);
  return sig_error(c, msg);
}

/* One type: RET when is_ret (a scalar or void), else PARAM. */
static ivm_status sig_type(sig_cursor *c, int is_ret, ffi_param *out) {
  const char *w;
  size_t n;
  if (!sig_ident(c, &w, &n)) return sig_expected(c, "a type");
  int is_const = word_is(w, n, "const");
  if (is_const && !sig_ident(c, &w, &n)) return sig_expected(c, "a type after 'const'");
  if (word_is(w, n, "void")) {
    sig_skip_space(c);
    if (c->s[c->pos] == '*')
      return sig_error(c, "'void*' has no element type; name it, e.g. 'const f32*'");
    if (!is_ret) return sig_error(c, "'void' is only allowed as the return type");
    if (is_const) return sig_error(c, "'const void' is not a return type");
    out->kind = PARAM_SCALAR;
    out->dtype = IVM_DT_NONE;
    return NULL;
  }
  out->dtype = IVM_DT_NONE;
  for (size_t k = 0; k < sizeof type_names / sizeof type_names[0]; k++)
    if (word_is(w, n, type_names[k].name)) out->dtype = type_names[k].dtype;
  if (out->dtype == IVM_DT_NONE) {
    char msg[96];
    snprintf(msg, sizeof msg, "unknown type '%.*s' (scalar types: f32 f64 i8..i64 u8..u64)",
             (int)(n > 32 ? 32 : n), w);
    c->pos = (size_t)(w - c->s);
    return sig_error(c, msg);
  }
  sig_skip_space(c);
  out->kind = PARAM_SCALAR;
  if (c->s[c->pos] == '*') {
    c->pos++;
    sig_skip_space(c);
    if (c->s[c->pos] == '*') return sig_error(c, "pointers to pointers are not supported");
    if (is_ret) return sig_error(c, "the return type must be a scalar or void, not a pointer");
    out->kind = is_const ? PARAM_IN : PARAM_OUT;
  }
  return NULL;
}

/* Parses and classifies a signature (see the grammar at the top). */
static ivm_status sig_parse(const char *text, ffi_sig *out) {
  sig_cursor c = {text, 0};
  memset(out, 0, sizeof *out);
  sig_skip_space(&c);
  if (!text[c.pos]) return sig_error(&c, "the signature is empty (write e.g. 'f32(f32)')");
  ffi_param ret;
  IVM_TRY(sig_type(&c, 1, &ret));
  out->ret = ret.dtype;
  sig_skip_space(&c);
  if (text[c.pos] != '(') return sig_expected(&c, "'(' after the return type");
  c.pos++;
  sig_skip_space(&c);
  if (text[c.pos] == ')')
    return sig_error(&c, "no parameters: an ivm.ffi call takes at least one input tensor");
  for (;;) {
    if (out->n_params == FFI_MAX_PARAMS) {
      char msg[64];
      snprintf(msg, sizeof msg, "more than %d parameters", FFI_MAX_PARAMS);
      return sig_error(&c, msg);
    }
    ffi_param *p = &out->params[out->n_params];
    IVM_TRY(sig_type(&c, 0, p));
    out->n_params++;
    if (p->kind != PARAM_SCALAR) out->buffer_mode = 1;
    out->n_in += p->kind == PARAM_IN;
    out->n_out += p->kind == PARAM_OUT;
    sig_skip_space(&c);
    if (text[c.pos] == ',') {
      c.pos++;
      continue;
    }
    if (text[c.pos] == ')') break;
    return sig_expected(&c, "',' or ')'");
  }
  c.pos++;
  sig_skip_space(&c);
  if (text[c.pos]) return sig_error(&c, "unexpected text after ')'");

  if (!out->buffer_mode) { /* elementwise */
    if (out->ret == IVM_DT_NONE)
      return sig_error(&c, "an elementwise call (no pointer parameters) must return a value");
    out->n_in = out->n_params;
    out->n_out = 1;
    return NULL;
  }
  if (out->ret != IVM_DT_NONE && !isa_dtype_is_int(out->ret))
    return sig_error(&c, "a buffer call (with pointer parameters) returns void or an integer "
                         "status, not a float");
  for (int k = 0; k < out->n_params; k++) {
    if (out->params[k].kind == PARAM_SCALAR && !isa_dtype_is_int(out->params[k].dtype)) {
      char msg[160];
      snprintf(msg, sizeof msg, "parameter %d is %s: in a buffer call a scalar parameter "
               "receives the element count, so it must be an integer", k,
               iu_dtn(out->params[k].dtype));
      return sig_error(&c, msg);
    }
  }
  if (out->n_in == 0)
    return sig_error(&c, "a buffer call needs a 'const T*' input (input 0 sets the size)");
  if (out->n_out == 0)
    return sig_error(&c, "a buffer call needs a 'T*' output");
  return NULL;
}

/* ---- attributes --------------------------------------------------------------------- */
static const char *attr_str(const isa_attr *attrs, int slot) {
  const isa_attr *a = &attrs[slot];
  return a->type == ISA_ATTR_STRING && a->v.s ? a->v.s : "";
}

/* The attributes, checked, and the parsed signature. */
static ivm_status read_attrs(const isa_attr *attrs, const char **symbol, const char **library,
                             ffi_sig *sig) {
  if (!attrs) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "ivm.ffi: no attributes");
  *symbol = attr_str(attrs, A_SYMBOL);
  *library = attr_str(attrs, A_LIBRARY);
  const char *s = *symbol;
  int ok = is_ident_start(s[0]);
  for (size_t k = 0; ok && s[k]; k++) ok = is_ident_char(s[k]);
  if (!ok)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "ivm.ffi: symbol '%.*s' is not a C identifier",
                     64, s);
  return ivm_status_wrap(sig_parse(attr_str(attrs, A_SIGNATURE), sig), "ivm.ffi '%s'", s);
}

/* ---- inference ---------------------------------------------------------------------- */
static ivm_status ffi_infer(isa_infer_ctx *ctx) {
  const char *symbol, *library;
  ffi_sig sig;
  IVM_TRY(read_attrs(ctx->attrs, &symbol, &library, &sig));
  const char *sig_text = attr_str(ctx->attrs, A_SIGNATURE);
  if (ctx->n_in != sig.n_in || ctx->n_out != sig.n_out)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT,
                     "ivm.ffi '%s': signature '%s' takes %u input and gives %u output "
                     "tensor(s); the instruction has %u and %u",
                     symbol, sig_text, sig.n_in, sig.n_out, ctx->n_in, ctx->n_out);
  IVM_TRY(ivm_status_wrap(iu_check_inputs(ctx, ctx->n_in), "ivm.ffi '%s'", symbol));
  uint32_t in_k = 0, out_k = 0;
  for (int k = 0; k < sig.n_params; k++) {
    const ffi_param *p = &sig.params[k];
    if (sig.buffer_mode && p->kind != PARAM_IN) continue;
    const isa_type *t = &ctx->in[in_k];
    if (t->vkind != ISA_VK_TENSOR)
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "ivm.ffi '%s': input %u is a %s, not a tensor",
                       symbol, in_k, isa_vkind_name(t->vkind));
    if (t->dtype != p->dtype)
      return ivm_error(IVM_ERR_INVALID_ARGUMENT,
                       "ivm.ffi '%s': input %u is %s but parameter %d of '%s' is %s", symbol,
                       in_k, iu_dtn(t->dtype), k, sig_text, iu_dtn(p->dtype));
    in_k++;
  }
  if (!sig.buffer_mode) {
    const isa_type *ts[FFI_MAX_PARAMS];
    for (uint32_t k = 0; k < ctx->n_in; k++) ts[k] = &ctx->in[k];
    isa_type *y = &ctx->out[0];
    memset(y, 0, sizeof *y);
    y->dtype = sig.ret;
    return ivm_status_wrap(iu_broadcast(ts, (int)ctx->n_in, y), "ivm.ffi '%s'", symbol);
  }
  for (int k = 0; k < sig.n_params; k++)
    if (sig.params[k].kind == PARAM_OUT)
      iu_set_like(&ctx->out[out_k++], sig.params[k].dtype, &ctx->in[0]);
  return NULL;
}

/* ---- prepare / release -------------------------------------------------------------- */
typedef enum { FAST_NONE, FAST_F32_F32, FAST_F64_F64, FAST_F32_F32F32, FAST_F64_F64F64 } fast_kind;

typedef struct ffi_state {
  ffi_sig sig;
  void (*fn)(void);
  void *library; /* our dlopen handle, NULL for a process symbol */
  uint8_t fast;  /* fast_kind: a direct call replaces ffi_call */
  ffi_cif cif;
  ffi_type *arg_types[FFI_MAX_PARAMS];
  char symbol[]; /* for run-time messages */
} ffi_state;

static ffi_type *ffi_type_of(int dtype) {
  switch (dtype) {
    case IVM_DT_F32: return &ffi_type_float;
    case IVM_DT_F64: return &ffi_type_double;
    case IVM_DT_I8: return &ffi_type_sint8;
    case IVM_DT_I16: return &ffi_type_sint16;
    case IVM_DT_I32: return &ffi_type_sint32;
    case IVM_DT_I64: return &ffi_type_sint64;
    case IVM_DT_U8: return &ffi_type_uint8;
    case IVM_DT_U16: return &ffi_type_uint16;
    case IVM_DT_U32: return &ffi_type_uint32;
    case IVM_DT_U64: return &ffi_type_uint64;
    default: return &ffi_type_void;
  }
}

static uint8_t fast_kind_of(const ffi_sig *s) {
  if (s->buffer_mode) return FAST_NONE;
  int same = 1;
  for (int k = 0; k < s->n_params; k++) same &= s->params[k].dtype == s->ret;
  if (!same || s->n_params > 2) return FAST_NONE;
  if (s->ret == IVM_DT_F32) return s->n_params == 1 ? FAST_F32_F32 : FAST_F32_F32F32;
  if (s->ret == IVM_DT_F64) return s->n_params == 1 ? FAST_F64_F64 : FAST_F64_F64F64;
  return FAST_NONE;
}

/* "LIBRARY:SYMBOL" == entry, without building the string. */
static int entry_names(const char *entry, const char *library, const char *symbol) {
  size_t n = strlen(library);
  return strncmp(entry, library, n) == 0 && entry[n] == ':' && strcmp(entry + n + 1, symbol) == 0;
}

static ivm_status check_allowed(const rt_prepare_ctx *ctx, const char *where,
                                const char *symbol, const char *library) {
  const rt_permissions *perm = ctx->perm;
  int bare_entry = 0;
  for (uint32_t k = 0; perm && perm->ffi && k < perm->n_ffi; k++) {
    const char *e = perm->ffi[k];
    if (!e) continue;
    if (!library[0] && strcmp(e, symbol) == 0) return NULL;
    if (library[0] && entry_names(e, library, symbol)) return NULL;
    bare_entry |= strcmp(e, symbol) == 0;
  }
  if (!library[0])
    return ivm_error(IVM_ERR_PERMISSION,
                     "%s: foreign function '%s' is not allowed; allow it with --allow-ffi %s "
                     "(API: ivm_load_options.allow_ffi)",
                     where, symbol, symbol);
  char hint[160] = "";
  if (bare_entry)
    snprintf(hint, sizeof hint, " (the entry '%.64s' allows only the process's own symbol, "
             "never loading a library)", symbol);
  return ivm_error(IVM_ERR_PERMISSION,
                   "%s: foreign function '%s' from library '%s' is not allowed; allow it with "
                   "--allow-ffi %s:%s (API: ivm_load_options.allow_ffi)%s",
                   where, symbol, library, library, symbol, hint);
}

static void ffi_release(void *state) {
  ffi_state *s = state;
  if (!s) return;
  if (s->library) dlclose(s->library);
  free(s);
}

static ivm_status ffi_prepare(const rt_prepare_ctx *ctx, void **out_state) {
  *out_state = NULL;
  const char *where = ctx->where ? ctx->where : "ivm.ffi";
  const char *symbol, *library;
  ffi_sig sig;
  IVM_TRY(ivm_status_wrap(read_attrs(ctx->attrs, &symbol, &library, &sig), "%s", where));
  if (ctx->n_in != sig.n_in || ctx->n_out != sig.n_out)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT,
                     "%s: ivm.ffi '%s' has %u inputs and %u outputs; its signature needs %u "
                     "and %u", where, symbol, ctx->n_in, ctx->n_out, sig.n_in, sig.n_out);
  IVM_TRY(check_allowed(ctx, where, symbol, library));

  void *lib = NULL;
  if (library[0]) {
    dlerror();
    lib = dlopen(library, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      const char *why = dlerror();
      return ivm_error(IVM_ERR_NOT_FOUND, "%s: cannot open library '%s' for foreign function "
                       "'%s': %s", where, library, symbol, why ? why : "unknown error");
    }
  }
  dlerror();
  void *sym = dlsym(lib ? lib : RTLD_DEFAULT, symbol);
  if (!sym) {
    const char *why = dlerror();
    ivm_status st =
        ivm_error(IVM_ERR_NOT_FOUND, "%s: foreign function '%s' not found in %s%s%s: %s", where,
                  symbol, lib ? "library '" : "the process", lib ? library : "", lib ? "'" : "",
                  why ? why : "the symbol's address is NULL");
    if (lib) dlclose(lib);
    return st;
  }

  size_t name_len = strlen(symbol);
  ffi_state *s = calloc(1, sizeof *s + name_len + 1);
  if (!s) {
    if (lib) dlclose(lib);
    return ivm_error(IVM_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
  }
  s->sig = sig;
  s->library = lib;
  s->fn = (void (*)(void))sym; /* POSIX guarantees data and function pointers convert */
  memcpy(s->symbol, symbol, name_len + 1);
  for (int k = 0; k < sig.n_params; k++)
    s->arg_types[k] = sig.params[k].kind == PARAM_SCALAR ? ffi_type_of(sig.params[k].dtype)
                                                          : &ffi_type_pointer;
  ffi_status fs = ffi_prep_cif(&s->cif, FFI_DEFAULT_ABI, sig.n_params, ffi_type_of(sig.ret),
                               s->arg_types);
  if (fs != FFI_OK) {
    ffi_release(s);
    return ivm_error(IVM_ERR_UNSUPPORTED, "%s: libffi cannot call '%s' with signature '%s' "
                     "(ffi_prep_cif status %d)", where, symbol,
                     attr_str(ctx->attrs, A_SIGNATURE), (int)fs);
  }
  s->fast = fast_kind_of(&sig);
  *out_state = s;
  return NULL;
}

/* ---- kernels ------------------------------------------------------------------------ */
/* Room for any return value: libffi widens integer returns to a full ffi_arg. */
typedef union ffi_ret {
  ffi_arg u;
  ffi_sarg i;
  uint64_t u64;
  int64_t i64;
  float f;
  double d;
} ffi_ret;

static void store_ret(int dtype, void *y, int64_t i, const ffi_ret *r) {
  switch (dtype) {
    case IVM_DT_F32: ((float *)y)[i] = r->f; break;
    case IVM_DT_F64: ((double *)y)[i] = r->d; break;
    case IVM_DT_I8: ((int8_t *)y)[i] = (int8_t)r->i; break;
    case IVM_DT_I16: ((int16_t *)y)[i] = (int16_t)r->i; break;
    case IVM_DT_I32: ((int32_t *)y)[i] = (int32_t)r->i; break;
    case IVM_DT_I64: ((int64_t *)y)[i] = r->i64; break;
    case IVM_DT_U8: ((uint8_t *)y)[i] = (uint8_t)r->u; break;
    case IVM_DT_U16: ((uint16_t *)y)[i] = (uint16_t)r->u; break;
    case IVM_DT_U32: ((uint32_t *)y)[i] = (uint32_t)r->u; break;
    case IVM_DT_U64: ((uint64_t *)y)[i] = r->u64; break;
    default: break;
  }
}

static ivm_status check_tensor(const ffi_state *s, const rt_tensor *t, const char *what,
                               uint32_t k, int dtype) {
  if (!t) return ivm_error(IVM_ERR_INTERNAL, "ivm.ffi '%s': %s %u missing", s->symbol, what, k);
  if (t->dtype != dtype)
    return ivm_error(IVM_ERR_INTERNAL, "ivm.ffi '%s': %s %u is %s, expected %s", s->symbol,
                     what, k, iu_dtn(t->dtype), iu_dtn(dtype));
  if (t->rank > IVM_MAX_RANK || rt_nbytes(t) > t->capacity)
    return ivm_error(IVM_ERR_INTERNAL, "ivm.ffi '%s': %s %u's storage is smaller than its shape",
                     s->symbol, what, k);
  return NULL;
}

/* One output row of n elements: argument k's elements start at arg[k] and step by
 * step[k] bytes. */
static void row_generic(const ffi_state *s, int64_t n, const char *const *arg,
                        const int64_t *step, char *y) {
  ffi_cif *cif = (ffi_cif *)&s->cif; /* ffi_call only reads it */
  int np = s->sig.n_params;
  void *avalue[FFI_MAX_PARAMS];
  for (int64_t i = 0; i < n; i++) {
    ffi_ret r;
    for (int k = 0; k < np; k++) avalue[k] = (void *)(arg[k] + i * step[k]);
    ffi_call(cif, s->fn, &r, avalue);
    store_ret(s->sig.ret, y, i, &r);
  }
}

static void row_fast(const ffi_state *s, int64_t n, const char *const *arg,
                     const int64_t *step, char *y) {
  switch (s->fast) {
    case FAST_F32_F32: {
      float (*f)(float) = (float (*)(float))s->fn;
      for (int64_t i = 0; i < n; i++) ((float *)y)[i] = f(*(const float *)(arg[0] + i * step[0]));
      break;
    }
    case FAST_F64_F64: {
      double (*f)(double) = (double (*)(double))s->fn;
      for (int64_t i = 0; i < n; i++)
        ((double *)y)[i] = f(*(const double *)(arg[0] + i * step[0]));
      break;
    }
    case FAST_F32_F32F32: {
      float (*f)(float, float) = (float (*)(float, float))s->fn;
      for (int64_t i = 0; i < n; i++)
        ((float *)y)[i] = f(*(const float *)(arg[0] + i * step[0]),
                            *(const float *)(arg[1] + i * step[1]));
      break;
    }
    case FAST_F64_F64F64: {
      double (*f)(double, double) = (double (*)(double, double))s->fn;
      for (int64_t i = 0; i < n; i++)
        ((double *)y)[i] = f(*(const double *)(arg[0] + i * step[0]),
                             *(const double *)(arg[1] + i * step[1]));
      break;
    }
    default: row_generic(s, n, arg, step, y); break;
  }
}

/* Elementwise: the output's last axis is the inner row; the outer axes are walked with an
 * odometer. Input k's byte stride along output axis d is stride[k][d] (0 where it
 * broadcasts). */
static ivm_status run_elementwise(const ffi_state *s, const rt_call *call) {
  const ffi_sig *sig = &s->sig;
  int np = sig->n_params;
  rt_tensor *y = call->out[0];
  IVM_TRY(check_tensor(s, y, "output", 0, sig->ret));
  int R = y->rank;
  int64_t stride[FFI_MAX_PARAMS][IVM_MAX_RANK];
  for (int k = 0; k < np; k++) {
    const rt_tensor *x = call->in[k];
    IVM_TRY(check_tensor(s, x, "input", (uint32_t)k, sig->params[k].dtype));
    if (x->rank > R)
      return ivm_error(IVM_ERR_INTERNAL, "ivm.ffi '%s': input %d has rank %d > output rank %d",
                       s->symbol, k, x->rank, R);
    int64_t st = (int64_t)ivm_dtype_size((ivm_dtype)x->dtype);
    for (int d = R - 1; d >= 0; d--) {
      int j = d - (R - x->rank);
      int64_t dim = j >= 0 ? x->dims[j] : 1;
      if (dim != 1 && dim != y->dims[d])
        return ivm_error(IVM_ERR_INTERNAL, "ivm.ffi '%s': input %d dim %d (%" PRId64
                         ") does not broadcast to %" PRId64, s->symbol, k, j, dim, y->dims[d]);
      stride[k][d] = dim == 1 ? 0 : st;
      st *= dim;
    }
  }
  int64_t total = rt_numel(y);
  if (total == 0) return NULL;
  int64_t inner = R ? y->dims[R - 1] : 1;
  size_t ysize = ivm_dtype_size((ivm_dtype)y->dtype);
  int64_t idx[IVM_MAX_RANK] = {0};
  const char *arg[FFI_MAX_PARAMS];
  int64_t step[FFI_MAX_PARAMS];
  for (int k = 0; k < np; k++) step[k] = R ? stride[k][R - 1] : 0;
  char *yp = y->data;
  for (int64_t row = 0; row < total / inner; row++) {
    for (int k = 0; k < np; k++) {
      int64_t off = 0;
      for (int d = 0; d < R - 1; d++) off += idx[d] * stride[k][d];
      arg[k] = (const char *)call->in[k]->data + off;
    }
    if (s->fast)
      row_fast(s, inner, arg, step, yp);
    else
      row_generic(s, inner, arg, step, yp);
    yp += (size_t)inner * ysize;
    for (int d = R - 2; d >= 0; d--) { /* odometer over the outer axes */
      if (++idx[d] < y->dims[d]) break;
      idx[d] = 0;
    }
  }
  return NULL;
}

/* The element count as scalar parameter k's integer type, if it fits. */
static ivm_status count_arg(const ffi_state *s, int k, int64_t n, ffi_ret *v) {
  int dt = s->sig.params[k].dtype;
  int64_t max = dt == IVM_DT_I8 ? INT8_MAX : dt == IVM_DT_U8 ? UINT8_MAX
              : dt == IVM_DT_I16 ? INT16_MAX : dt == IVM_DT_U16 ? UINT16_MAX
              : dt == IVM_DT_I32 ? INT32_MAX : dt == IVM_DT_U32 ? UINT32_MAX : INT64_MAX;
  if (n > max)
    return ivm_error(IVM_ERR_RUNTIME, "ivm.ffi '%s': element count %" PRId64 " does not fit "
                     "parameter %d (%s)", s->symbol, n, k, iu_dtn(dt));
  memset(v, 0, sizeof *v);
  switch (dt) { /* libffi reads the argument at its own width */
    case IVM_DT_I8: { int8_t x = (int8_t)n; memcpy(v, &x, sizeof x); break; }
    case IVM_DT_U8: { uint8_t x = (uint8_t)n; memcpy(v, &x, sizeof x); break; }
    case IVM_DT_I16: { int16_t x = (int16_t)n; memcpy(v, &x, sizeof x); break; }
    case IVM_DT_U16: { uint16_t x = (uint16_t)n; memcpy(v, &x, sizeof x); break; }
    case IVM_DT_I32: { int32_t x = (int32_t)n; memcpy(v, &x, sizeof x); break; }
    case IVM_DT_U32: { uint32_t x = (uint32_t)n; memcpy(v, &x, sizeof x); break; }
    default: v->i64 = n; break;
  }
  return NULL;
}

/* Buffer mode: one call with the tensors' storage. */
static ivm_status run_buffers(const ffi_state *s, const rt_call *call) {
  const ffi_sig *sig = &s->sig;
  if (!call->in[0]) return ivm_error(IVM_ERR_INTERNAL, "ivm.ffi '%s': input 0 missing", s->symbol);
  int64_t n = rt_numel(call->in[0]); /* the element count every scalar parameter receives */
  void *ptr[FFI_MAX_PARAMS];
  ffi_ret scalar[FFI_MAX_PARAMS];
  void *avalue[FFI_MAX_PARAMS];
  uint32_t in_k = 0, out_k = 0;
  for (int k = 0; k < sig->n_params; k++) {
    const ffi_param *p = &sig->params[k];
    if (p->kind == PARAM_IN) {
      const rt_tensor *x = call->in[in_k];
      IVM_TRY(check_tensor(s, x, "input", in_k, p->dtype));
      ptr[k] = x->data;
      avalue[k] = &ptr[k];
      in_k++;
    } else if (p->kind == PARAM_OUT) {
      rt_tensor *y = call->out[out_k];
      IVM_TRY(check_tensor(s, y, "output", out_k, p->dtype));
      if (rt_numel(y) != n)
        return ivm_error(IVM_ERR_INTERNAL, "ivm.ffi '%s': output %u has %" PRId64 " elements, "
                         "input 0 has %" PRId64, s->symbol, out_k, rt_numel(y), n);
      ptr[k] = y->data;
      avalue[k] = &ptr[k];
      out_k++;
    } else {
      IVM_TRY(count_arg(s, k, n, &scalar[k]));
      avalue[k] = &scalar[k];
    }
  }
  ffi_ret r;
  memset(&r, 0, sizeof r);
  ffi_call((ffi_cif *)&s->cif, s->fn, &r, avalue);
  if (sig->ret == IVM_DT_NONE) return NULL;
  int64_t value = 0;
  uint64_t uvalue = 0;
  switch (sig->ret) {
    case IVM_DT_I8: value = (int8_t)r.i; break;
    case IVM_DT_I16: value = (int16_t)r.i; break;
    case IVM_DT_I32: value = (int32_t)r.i; break;
    case IVM_DT_I64: value = r.i64; break;
    case IVM_DT_U8: uvalue = (uint8_t)r.u; break;
    case IVM_DT_U16: uvalue = (uint16_t)r.u; break;
    case IVM_DT_U32: uvalue = (uint32_t)r.u; break;
    default: uvalue = r.u64; break;
  }
  if (value != 0)
    return ivm_error(IVM_ERR_RUNTIME, "foreign function '%s' failed: it returned %" PRId64,
                     s->symbol, value);
  if (uvalue != 0)
    return ivm_error(IVM_ERR_RUNTIME, "foreign function '%s' failed: it returned %" PRIu64,
                     s->symbol, uvalue);
  return NULL;
}

static ivm_status ffi_kernel(const rt_call *call) {
  const ffi_state *s = call->state;
  if (!s) return ivm_error(IVM_ERR_INTERNAL, "ivm.ffi: instruction was not prepared");
  if (call->n_in != s->sig.n_in || call->n_out != s->sig.n_out)
    return ivm_error(IVM_ERR_INTERNAL, "ivm.ffi '%s': called with %u inputs and %u outputs, "
                     "prepared for %u and %u", s->symbol, call->n_in, call->n_out, s->sig.n_in,
                     s->sig.n_out);
  return s->sig.buffer_mode ? run_buffers(s, call) : run_elementwise(s, call);
}

static const isa_attr_schema ffi_attrs[A_COUNT] = {
    [A_SYMBOL] = {"symbol", ISA_ATTR_STRING, 1, {.s = ""}},
    [A_SIGNATURE] = {"signature", ISA_ATTR_STRING, 1, {.s = ""}},
    [A_LIBRARY] = {"library", ISA_ATTR_STRING, 0, {.s = ""}},
};

const isa_op_desc rt_ffi_family_desc = {
    "ivm.ffi", "*", 1, 1, ISA_VARIADIC, 1, ISA_VARIADIC, ISA_OPF_SIDE_EFFECTS, ISA_OP_KIND_FFI,
    A_COUNT, ffi_attrs, ffi_infer, "Y... := SYMBOL(X...)",
    "Calls the C function `symbol` (type `signature`, from `library` or the process) through "
    "libffi, per element or once on whole buffers; the host must allow it."};

const rt_op_impl rt_ffi_family_impl = {ffi_kernel, ffi_prepare, ffi_release};
