/* The assembler: parses .ivs text (grammar in docs/bytecode.md, "Text assembly") into an
 * isa_module_def and calls the writer. The text is untrusted: every token is bounded by
 * the given length, every number is range-checked, and errors read "what:LINE: ...". */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isa/module_impl.h"

/* ---- memory: every allocation of one assembly is owned by a pool freed at the end ---- */
typedef struct pool {
  void **ptrs;
  size_t n, cap;
} pool;

static void *pool_alloc(pool *p, size_t size) {
  if (p->n == p->cap) {
    size_t cap = p->cap ? p->cap * 2 : 64;
    void **np = realloc(p->ptrs, cap * sizeof *np);
    if (!np) return NULL;
    p->ptrs = np;
    p->cap = cap;
  }
  void *m = calloc(1, size ? size : 1);
  if (m) p->ptrs[p->n++] = m;
  return m;
}

static void pool_free(pool *p) {
  for (size_t i = 0; i < p->n; i++) free(p->ptrs[i]);
  free(p->ptrs);
}

/* Grows a pool-independent array (freed by the caller); returns 0 on failure. */
static int grow(void **arr, uint32_t *cap, uint32_t need, size_t elem) {
  if (need <= *cap) return 1;
  uint32_t c = *cap ? *cap : 16;
  while (c < need) {
    if (c > UINT32_MAX / 2) return 0;
    c *= 2;
  }
  void *n = realloc(*arr, (size_t)c * elem);
  if (!n) return 0;
  *arr = n;
  *cap = c;
  return 1;
}

/* ---- lexer ---------------------------------------------------------------------------- */
typedef enum tok_kind { T_EOL, T_WORD, T_NUM, T_STR, T_REF, T_PUNCT } tok_kind;

typedef struct tok {
  tok_kind kind;
  const char *p; /* WORD / NUM: the text; STR: decoded bytes (pool) */
  size_t n;
  char ref;      /* REF: '%', '#' or '$' */
  uint32_t refv; /* REF: the index */
  char punct;
} tok;

typedef struct asmb {
  const char *what;
  const char *text, *end;
  const char *cur; /* position in the current line */
  const char *line_end;
  uint32_t line;
  pool pool;
  ivm_status err;
  tok t; /* current token */

  int have_version;
  int have_inputs, have_outputs, have_plan;
  uint64_t arena_size, unplanned_size;
  uint32_t arena_align;
  char **symbols;
  uint32_t n_symbols, cap_symbols;
  isa_def_import *imports;
  uint32_t n_imports, cap_imports;
  isa_def_tensor *tensors;
  uint32_t n_tensors, cap_tensors;
  isa_def_instr *instrs;
  uint32_t n_instrs, cap_instrs;
  uint32_t *inputs, *outputs;
  uint32_t n_inputs, n_outputs;
  /* a CONST tensor whose data lines are being read */
  uint8_t *pending_data;
  uint64_t pending_have, pending_size;
  uint32_t pending_tensor, pending_line;
  int pending;
} asmb;

static ivm_status fail(asmb *a, const char *fmt, ...) IVM_PRINTF(2, 3);
static ivm_status fail(asmb *a, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (!a->err) a->err = ivm_error(IVM_ERR_FORMAT, "%s:%u: %s", a->what, a->line, msg);
  return a->err;
}

static ivm_status oom(asmb *a) {
  if (!a->err) a->err = ivm_error(IVM_ERR_OUT_OF_MEMORY, "%s:%u: out of memory", a->what, a->line);
  return a->err;
}

static int word_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
static int word_char(char c) {
  return word_start(c) || (c >= '0' && c <= '9') || c == '.' || c == '-';
}
static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Reads the next token of the current line into a->t. */
static ivm_status next(asmb *a) {
  const char *p = a->cur, *e = a->line_end;
  while (p < e && (*p == ' ' || *p == '\t' || *p == '\r')) p++;
  tok *t = &a->t;
  memset(t, 0, sizeof *t);
  if (p == e || *p == ';') {
    t->kind = T_EOL;
    a->cur = e;
    return NULL;
  }
  char c = *p;
  if (word_start(c)) {
    const char *s = p;
    while (p < e && word_char(*p)) p++;
    t->kind = T_WORD;
    t->p = s;
    t->n = (size_t)(p - s);
  } else if (is_digit(c) || ((c == '-' || c == '+') && p + 1 < e && is_digit(p[1]))) {
    /* Integers, decimal floats (1.5e-3) and C99 hex floats (0x1.8p+1). */
    const char *s = p++;
    const char *digits = (c == '-' || c == '+') ? s + 1 : s;
    int hex = e - digits > 1 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X');
    while (p < e) {
      char d = *p, prev = p[-1];
      int sign_ok = (d == '+' || d == '-') &&
                    (prev == 'p' || prev == 'P' || (!hex && (prev == 'e' || prev == 'E')));
      if (!(is_digit(d) || (d >= 'a' && d <= 'z') || (d >= 'A' && d <= 'Z') || d == '.' || sign_ok))
        break;
      p++;
    }
    t->kind = T_NUM;
    t->p = s;
    t->n = (size_t)(p - s);
  } else if (c == '"') {
    p++;
    size_t cap = 0;
    for (const char *q = p; q < e && *q != '"'; q++, cap++)
      if (*q == '\\') q++;
    char *buf = pool_alloc(&a->pool, cap + 1);
    if (!buf) return oom(a);
    size_t n = 0;
    for (;;) {
      if (p >= e) return fail(a, "unterminated string");
      char d = *p++;
      if (d == '"') break;
      if (d == '\\') {
        if (p >= e) return fail(a, "unterminated string");
        char x = *p++;
        if (x == '"' || x == '\\')
          d = x;
        else if (x == 'n')
          d = '\n';
        else if (x == 't')
          d = '\t';
        else if (x == 'x') {
          int h = p < e ? hexval(p[0]) : -1, l = p + 1 < e ? hexval(p[1]) : -1;
          if (h < 0 || l < 0) return fail(a, "bad \\x escape in string");
          d = (char)(h * 16 + l);
          p += 2;
          if (!d) return fail(a, "strings may not contain NUL (\\x00)");
        } else {
          return fail(a, "unknown escape '\\%c' in string", x);
        }
      }
      if (n >= cap) return fail(a, "malformed string"); /* cannot happen; keeps writes bounded */
      buf[n++] = d;
    }
    buf[n] = 0;
    t->kind = T_STR;
    t->p = buf;
    t->n = n;
  } else if ((c == '%' || c == '#' || c == '$') && p + 1 < e && is_digit(p[1])) {
    t->kind = T_REF;
    t->ref = c;
    p++;
    uint64_t v = 0;
    while (p < e && is_digit(*p)) {
      v = v * 10 + (uint64_t)(*p++ - '0');
      if (v >= UINT32_MAX) return fail(a, "index after '%c' is too large", c);
    }
    t->refv = (uint32_t)v;
  } else if (strchr("=,[]{}@?*-()", c)) {
    t->kind = T_PUNCT;
    t->punct = c;
    p++;
  } else {
    if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f)
      return fail(a, "unexpected byte 0x%02x", (unsigned char)c);
    return fail(a, "unexpected character '%c'", c);
  }
  a->cur = p;
  return NULL;
}

static int is_word(const asmb *a, const char *w) {
  return a->t.kind == T_WORD && a->t.n == strlen(w) && memcmp(a->t.p, w, a->t.n) == 0;
}
static int is_punct(const asmb *a, char c) { return a->t.kind == T_PUNCT && a->t.punct == c; }

static ivm_status expect_punct(asmb *a, char c) {
  if (!is_punct(a, c)) return fail(a, "expected '%c'", c);
  return next(a);
}

static ivm_status expect_word(asmb *a, const char *w) {
  if (!is_word(a, w)) return fail(a, "expected '%s'", w);
  return next(a);
}

static ivm_status expect_eol(asmb *a) {
  if (a->t.kind != T_EOL) return fail(a, "unexpected text at the end of the line");
  return NULL;
}

/* Copies the current token's text into a NUL-terminated pool string. */
static char *tok_cstr(asmb *a) {
  char *s = pool_alloc(&a->pool, a->t.n + 1);
  if (!s) return NULL;
  memcpy(s, a->t.p, a->t.n);
  s[a->t.n] = 0;
  return s;
}

/* An unsigned decimal integer token. */
static ivm_status parse_u64(asmb *a, uint64_t max, uint64_t *out) {
  if (a->t.kind != T_NUM) return fail(a, "expected a number");
  uint64_t v = 0;
  for (size_t i = 0; i < a->t.n; i++) {
    char c = a->t.p[i];
    if (!is_digit(c))
      return fail(a, "expected a non-negative integer, got '%.*s'", (int)a->t.n, a->t.p);
    uint64_t d = (uint64_t)(c - '0');
    if (v > (max - d) / 10) return fail(a, "number '%.*s' is too large", (int)a->t.n, a->t.p);
    v = v * 10 + d;
  }
  *out = v;
  return next(a);
}

static int tok_is_int(const tok *t) {
  size_t i = (t->p[0] == '-' || t->p[0] == '+') ? 1 : 0;
  if (i == t->n) return 0;
  for (; i < t->n; i++)
    if (!is_digit(t->p[i])) return 0;
  return 1;
}

static ivm_status parse_i64(asmb *a, int64_t *out) {
  if (a->t.kind != T_NUM || !tok_is_int(&a->t)) return fail(a, "expected an integer");
  int neg = a->t.p[0] == '-';
  size_t i = (a->t.p[0] == '-' || a->t.p[0] == '+') ? 1 : 0;
  uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
  for (; i < a->t.n; i++) {
    uint64_t d = (uint64_t)(a->t.p[i] - '0');
    if (v > (lim - d) / 10) return fail(a, "integer '%.*s' is out of range", (int)a->t.n, a->t.p);
    v = v * 10 + d;
  }
  *out = neg ? (int64_t)(0 - v) : (int64_t)v;
  return next(a);
}

/* A float: a decimal or C99 hex literal, inf, -inf, nan, or nan(0xBITS) for exact bits. */
static ivm_status parse_float(asmb *a, float *out) {
  int neg = 0;
  if (is_punct(a, '-')) {
    neg = 1;
    IVM_TRY(next(a));
  }
  if (is_word(a, "inf")) {
    *out = neg ? -INFINITY : INFINITY;
    return next(a);
  }
  if (is_word(a, "nan")) {
    IVM_TRY(next(a));
    uint32_t bits = 0x7fc00000u;
    if (is_punct(a, '(')) {
      IVM_TRY(next(a));
      if (a->t.kind != T_NUM || a->t.n < 3 || a->t.n > 10 || a->t.p[0] != '0' ||
          (a->t.p[1] != 'x' && a->t.p[1] != 'X'))
        return fail(a, "expected nan(0xHHHHHHHH)");
      bits = 0;
      for (size_t i = 2; i < a->t.n; i++) {
        int h = hexval(a->t.p[i]);
        if (h < 0) return fail(a, "expected nan(0xHHHHHHHH)");
        bits = bits * 16 + (uint32_t)h;
      }
      IVM_TRY(next(a));
      IVM_TRY(expect_punct(a, ')'));
    }
    if (neg) bits |= 0x80000000u;
    memcpy(out, &bits, 4);
    if (!isnan(*out)) return fail(a, "nan(0x%08x) is not a NaN bit pattern", bits);
    return NULL;
  }
  if (a->t.kind != T_NUM || neg) return fail(a, "expected a number");
  char buf[128];
  if (a->t.n >= sizeof buf) return fail(a, "number is too long");
  memcpy(buf, a->t.p, a->t.n);
  buf[a->t.n] = 0;
  char *endp;
  errno = 0;
  float f = strtof(buf, &endp);
  if (*endp || endp == buf) return fail(a, "malformed number '%s'", buf);
  if (errno == ERANGE && isinf(f)) return fail(a, "number '%s' is out of float range", buf);
  *out = f;
  return next(a);
}

static int tok_is_float_literal(const asmb *a) {
  return (a->t.kind == T_NUM && !tok_is_int(&a->t)) || is_punct(a, '-') || is_word(a, "inf") ||
         is_word(a, "nan");
}

/* ---- declarations --------------------------------------------------------------------- */
static ivm_status parse_version(asmb *a) {
  if (a->have_version) return fail(a, "duplicate 'ivm' version line");
  if (a->t.kind != T_NUM) return fail(a, "expected a version like 1.0");
  const char *dot = memchr(a->t.p, '.', a->t.n);
  size_t maj_len = dot ? (size_t)(dot - a->t.p) : a->t.n;
  uint64_t major = 0;
  for (size_t i = 0; i < maj_len; i++) {
    if (!is_digit(a->t.p[i]) || major > 100000) return fail(a, "expected a version like 1.0");
    major = major * 10 + (uint64_t)(a->t.p[i] - '0');
  }
  if (maj_len == 0) return fail(a, "expected a version like 1.0");
  if (major != ISA_FORMAT_MAJOR)
    return fail(a, "text is for bytecode format version %llu, this IVM writes version %d",
                (unsigned long long)major, ISA_FORMAT_MAJOR);
  a->have_version = 1;
  IVM_TRY(next(a));
  return expect_eol(a);
}

static ivm_status parse_plan(asmb *a) {
  if (a->have_plan) return fail(a, "duplicate 'plan' line");
  a->have_plan = 1;
  while (a->t.kind != T_EOL) {
    uint64_t v = 0;
    if (is_word(a, "arena_size")) {
      IVM_TRY(next(a));
      IVM_TRY(expect_punct(a, '='));
      IVM_TRY(parse_u64(a, UINT64_MAX, &a->arena_size));
    } else if (is_word(a, "unplanned_size")) {
      IVM_TRY(next(a));
      IVM_TRY(expect_punct(a, '='));
      IVM_TRY(parse_u64(a, UINT64_MAX, &a->unplanned_size));
    } else if (is_word(a, "arena_align")) {
      IVM_TRY(next(a));
      IVM_TRY(expect_punct(a, '='));
      IVM_TRY(parse_u64(a, UINT32_MAX, &v));
      a->arena_align = (uint32_t)v;
    } else {
      return fail(a, "expected arena_size=, unplanned_size= or arena_align=");
    }
  }
  return NULL;
}

static ivm_status expect_decl_index(asmb *a, char ref, uint32_t want, const char *what) {
  if (a->t.kind != T_REF || a->t.ref != ref) return fail(a, "expected %c%u", ref, want);
  if (a->t.refv != want)
    return fail(a, "%s %c%u declared out of order (expected %c%u)", what, ref, a->t.refv, ref,
                want);
  return next(a);
}

static ivm_status parse_symbol(asmb *a) {
  IVM_TRY(expect_decl_index(a, '$', a->n_symbols, "symbol"));
  if (a->t.kind != T_STR) return fail(a, "expected the symbol's name as a string");
  if (!grow((void **)&a->symbols, &a->cap_symbols, a->n_symbols + 1, sizeof *a->symbols))
    return oom(a);
  a->symbols[a->n_symbols++] = (char *)a->t.p;
  IVM_TRY(next(a));
  return expect_eol(a);
}

static ivm_status parse_import(asmb *a) {
  IVM_TRY(expect_decl_index(a, '#', a->n_imports, "import"));
  IVM_TRY(expect_punct(a, '='));
  isa_def_import im = {0};
  if (a->t.kind == T_STR) {
    im.domain = a->t.p;
    IVM_TRY(next(a));
    if (a->t.kind != T_STR) return fail(a, "expected the op name as a string");
    im.name = a->t.p;
    IVM_TRY(next(a));
  } else if (a->t.kind == T_WORD) {
    char *s = tok_cstr(a);
    if (!s) return oom(a);
    char *dot = strrchr(s, '.');
    if (!dot || dot == s || !dot[1]) return fail(a, "expected domain.name (e.g. ivm.Conv)");
    *dot = 0;
    im.domain = s;
    im.name = dot + 1;
    IVM_TRY(next(a));
  } else {
    return fail(a, "expected domain.name (e.g. ivm.Conv)");
  }
  IVM_TRY(expect_punct(a, '@'));
  uint64_t v = 0;
  IVM_TRY(parse_u64(a, UINT32_MAX, &v));
  im.version = (uint32_t)v;
  if (!grow((void **)&a->imports, &a->cap_imports, a->n_imports + 1, sizeof *a->imports))
    return oom(a);
  a->imports[a->n_imports++] = im;
  return expect_eol(a);
}

static ivm_status parse_dim(asmb *a, int64_t *out) {
  if (is_punct(a, '?')) {
    *out = ISA_DIM_ANY;
    return next(a);
  }
  if (a->t.kind == T_REF && a->t.ref == '$') {
    if (a->t.refv >= a->n_symbols) return fail(a, "symbol $%u is not declared", a->t.refv);
    *out = ISA_DIM_SYM(a->t.refv);
    return next(a);
  }
  if (a->t.kind == T_WORD) {
    int found = -1;
    for (uint32_t k = 0; k < a->n_symbols; k++)
      if (strlen(a->symbols[k]) == a->t.n && memcmp(a->symbols[k], a->t.p, a->t.n) == 0) {
        if (found >= 0) return fail(a, "symbol '%.*s' is ambiguous; use $k", (int)a->t.n, a->t.p);
        found = (int)k;
      }
    if (found < 0) return fail(a, "unknown symbol '%.*s'", (int)a->t.n, a->t.p);
    *out = ISA_DIM_SYM(found);
    return next(a);
  }
  uint64_t v = 0;
  IVM_TRY(parse_u64(a, INT64_MAX, &v));
  *out = (int64_t)v;
  return NULL;
}

/* Hex data lines of the pending CONST tensor. */
static ivm_status parse_data(asmb *a) {
  if (!a->pending) return fail(a, "'data' line without a preceding const tensor");
  const char *p = a->cur, *e = a->line_end;
  for (;;) {
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\r')) p++;
    if (p == e || *p == ';') break;
    if (p + 1 >= e) return fail(a, "odd number of hex digits");
    int h = hexval(p[0]), l = hexval(p[1]);
    if (h < 0 || l < 0) return fail(a, "expected hex digits");
    if (a->pending_have >= a->pending_size)
      return fail(a, "more data than the tensor's size=%llu", (unsigned long long)a->pending_size);
    a->pending_data[a->pending_have++] = (uint8_t)(h * 16 + l);
    p += 2;
  }
  a->cur = p;
  IVM_TRY(next(a));
  return expect_eol(a);
}

static ivm_status finish_pending(asmb *a) {
  if (!a->pending) return NULL;
  if (a->pending_have != a->pending_size) {
    a->line = a->pending_line; /* report at the tensor's declaration */
    return fail(a, "tensor %%%u: %llu bytes of data, its size is %llu", a->pending_tensor,
                (unsigned long long)a->pending_have, (unsigned long long)a->pending_size);
  }
  a->pending = 0;
  return NULL;
}

static ivm_status parse_tensor(asmb *a) {
  IVM_TRY(expect_decl_index(a, '%', a->n_tensors, "tensor"));
  isa_def_tensor t;
  memset(&t, 0, sizeof t);
  if (a->t.kind != T_STR) return fail(a, "expected the tensor's name as a string");
  t.name = a->t.p;
  IVM_TRY(next(a));
  if (a->t.kind != T_WORD) return fail(a, "expected a dtype (f32, i64, ...)");
  char dt[16];
  if (a->t.n >= sizeof dt) return fail(a, "unknown dtype '%.*s'", (int)a->t.n, a->t.p);
  memcpy(dt, a->t.p, a->t.n);
  dt[a->t.n] = 0;
  t.dtype = (uint8_t)isa_dtype_from_name(dt);
  if (t.dtype == IVM_DT_NONE) return fail(a, "unknown dtype '%s'", dt);
  IVM_TRY(next(a));
  IVM_TRY(expect_punct(a, '['));
  if (is_punct(a, '*')) {
    t.flags = ISA_TF_RANK_UNKNOWN;
    IVM_TRY(next(a));
  } else if (!is_punct(a, ']')) {
    for (;;) {
      if (t.rank == ISA_MAX_RANK) return fail(a, "rank exceeds %d", ISA_MAX_RANK);
      IVM_TRY(parse_dim(a, &t.dims[t.rank]));
      t.rank++;
      if (!is_punct(a, ',')) break;
      IVM_TRY(next(a));
    }
  }
  IVM_TRY(expect_punct(a, ']'));
  if (is_word(a, "const")) {
    t.kind = ISA_TK_CONST;
    IVM_TRY(next(a));
    IVM_TRY(expect_word(a, "size"));
    IVM_TRY(expect_punct(a, '='));
    IVM_TRY(parse_u64(a, UINT64_MAX, &t.size));
    /* Each byte takes two hex digits in the text that follows: a larger size is a lie. */
    if (t.size > (uint64_t)(a->end - a->line_end) / 2)
      return fail(a, "size=%llu is more than the data that follows", (unsigned long long)t.size);
    uint8_t *d = pool_alloc(&a->pool, (size_t)t.size);
    if (!d) return oom(a);
    t.data = d;
    a->pending = 1;
    a->pending_data = d;
    a->pending_have = 0;
    a->pending_size = t.size;
    a->pending_tensor = a->n_tensors;
    a->pending_line = a->line;
  } else if (is_word(a, "arena")) {
    t.kind = ISA_TK_ARENA;
    IVM_TRY(next(a));
    IVM_TRY(expect_punct(a, '@'));
    IVM_TRY(parse_u64(a, UINT64_MAX, &t.offset));
    IVM_TRY(expect_word(a, "size"));
    IVM_TRY(expect_punct(a, '='));
    IVM_TRY(parse_u64(a, UINT64_MAX, &t.size));
  } else if (is_word(a, "dynamic")) {
    t.kind = ISA_TK_DYNAMIC;
    IVM_TRY(next(a));
    /* var: written by several instructions; optional / sequence: the value kind
     * (docs/bytecode.md). */
    for (;;) {
      uint8_t f = is_word(a, "var") ? ISA_TF_VAR
                  : is_word(a, "optional") ? ISA_TF_OPTIONAL
                  : is_word(a, "sequence") ? ISA_TF_SEQUENCE : 0;
      if (!f) break;
      if (t.flags & f) return fail(a, "tensor flag given twice");
      t.flags |= f;
      IVM_TRY(next(a));
    }
  } else {
    return fail(a, "expected 'const', 'arena' or 'dynamic'");
  }
  if (!grow((void **)&a->tensors, &a->cap_tensors, a->n_tensors + 1, sizeof *a->tensors))
    return oom(a);
  a->tensors[a->n_tensors++] = t;
  return expect_eol(a);
}

static ivm_status parse_tensor_ref(asmb *a, int allow_absent, uint32_t *out) {
  if (allow_absent && is_word(a, "_")) {
    *out = ISA_NO_TENSOR;
    return next(a);
  }
  if (a->t.kind != T_REF || a->t.ref != '%') return fail(a, "expected a tensor (%%N)");
  if (a->t.refv >= a->n_tensors) return fail(a, "tensor %%%u is not declared", a->t.refv);
  *out = a->t.refv;
  return next(a);
}

static ivm_status parse_io(asmb *a, int outputs) {
  int *have = outputs ? &a->have_outputs : &a->have_inputs;
  if (*have) return fail(a, "duplicate '%s' line", outputs ? "outputs" : "inputs");
  *have = 1;
  uint32_t *list = NULL, n = 0, cap = 0;
  while (a->t.kind != T_EOL) {
    uint32_t t = 0;
    ivm_status st = parse_tensor_ref(a, 0, &t);
    if (!st && !grow((void **)&list, &cap, n + 1, sizeof *list)) st = oom(a);
    if (st) {
      free(list);
      return st;
    }
    list[n++] = t;
  }
  /* Hand the list to the pool so that it is freed with everything else. */
  uint32_t *kept = pool_alloc(&a->pool, (size_t)n * sizeof *kept);
  if (!kept) {
    free(list);
    return oom(a);
  }
  if (n) memcpy(kept, list, (size_t)n * sizeof *kept);
  free(list);
  if (outputs) {
    a->outputs = kept;
    a->n_outputs = n;
  } else {
    a->inputs = kept;
    a->n_inputs = n;
  }
  return NULL;
}

/* ---- instructions --------------------------------------------------------------------- */
static const isa_op_desc *builtin_by_name(const isa_def_import *im) {
  if (strcmp(im->domain, ISA_DOMAIN_BUILTIN) != 0 || im->version != 1) return NULL;
  for (int op = 0; op < ISA_OP_COUNT; op++) {
    const isa_op_desc *d = isa_builtin_desc((isa_builtin_op)op);
    if (strcmp(d->name, im->name) == 0) return d;
  }
  return NULL;
}

static ivm_status parse_attr_value(asmb *a, isa_def_attr *at) {
  if (a->t.kind == T_STR) {
    at->type = ISA_ATTR_STRING;
    at->v.s = a->t.p;
    at->count = (uint32_t)a->t.n;
    if (a->t.n > UINT32_MAX - 8) return fail(a, "string is too long");
    return next(a);
  }
  int floats_prefix = 0;
  if (is_word(a, "floats")) {
    floats_prefix = 1;
    IVM_TRY(next(a));
    if (!is_punct(a, '[')) return fail(a, "expected '[' after 'floats'");
  }
  if (is_punct(a, '[')) {
    IVM_TRY(next(a));
    /* Values are collected as both int64 and float; the list is FLOATS if any element is a
     * float literal (or the 'floats' prefix was given). */
    uint32_t n = 0, cap = 0;
    int64_t *iv = NULL;
    float *fv = NULL;
    uint32_t fcap = 0;
    int any_float = floats_prefix;
    ivm_status st = NULL;
    while (!is_punct(a, ']')) {
      if (n && (st = expect_punct(a, ','))) break;
      if (!grow((void **)&iv, &cap, n + 1, sizeof *iv) ||
          !grow((void **)&fv, &fcap, n + 1, sizeof *fv)) {
        st = oom(a);
        break;
      }
      if (tok_is_float_literal(a)) {
        any_float = 1;
        if ((st = parse_float(a, &fv[n]))) break;
        iv[n] = 0;
      } else {
        if ((st = parse_i64(a, &iv[n]))) break;
        fv[n] = (float)iv[n];
      }
      n++;
      if (a->t.kind == T_EOL) {
        st = fail(a, "expected ']'");
        break;
      }
    }
    if (!st) st = next(a);
    if (!st) {
      size_t es = any_float ? sizeof(float) : sizeof(int64_t);
      void *kept = pool_alloc(&a->pool, (size_t)n * es);
      if (!kept)
        st = oom(a);
      else if (n)
        memcpy(kept, any_float ? (void *)fv : (void *)iv, (size_t)n * es);
      at->type = any_float ? ISA_ATTR_FLOATS : ISA_ATTR_INTS;
      at->count = n;
      at->v.ints = kept;
    }
    free(iv);
    free(fv);
    return st;
  }
  if (tok_is_float_literal(a)) {
    at->type = ISA_ATTR_FLOAT;
    at->count = 1;
    return parse_float(a, &at->v.f);
  }
  if (a->t.kind == T_NUM) {
    at->type = ISA_ATTR_INT;
    at->count = 1;
    return parse_i64(a, &at->v.i);
  }
  return fail(a, "expected an attribute value");
}

/* Text written by hand may give an integer where a built-in's schema says float. */
static ivm_status coerce_to_schema(asmb *a, const isa_op_desc *d, isa_def_attr *at) {
  int slot = d ? isa_attr_index(d, at->name) : -1;
  if (slot < 0) return NULL;
  uint8_t want = d->attrs[slot].type;
  if (want == ISA_ATTR_FLOAT && at->type == ISA_ATTR_INT) {
    at->type = ISA_ATTR_FLOAT;
    at->v.f = (float)at->v.i;
  } else if (want == ISA_ATTR_FLOATS && at->type == ISA_ATTR_INTS) {
    float *f = pool_alloc(&a->pool, (size_t)at->count * sizeof *f);
    if (!f) return oom(a);
    for (uint32_t k = 0; k < at->count; k++) f[k] = (float)at->v.ints[k];
    at->type = ISA_ATTR_FLOATS;
    at->v.floats = f;
  }
  return NULL;
}

static ivm_status parse_instr(asmb *a) {
  uint32_t n_out = 0, n_in = 0;
  uint32_t *outs = NULL, *ins = NULL, in_cap = 0, out_cap = 0;
  isa_def_attr *attrs = NULL;
  uint32_t n_attrs = 0, attr_cap = 0;
  ivm_status st = NULL;
  isa_def_instr in;
  memset(&in, 0, sizeof in);

  if (!is_punct(a, '=')) {
    for (;;) {
      uint32_t t = 0;
      if ((st = parse_tensor_ref(a, 1, &t))) goto done;
      if (!grow((void **)&outs, &out_cap, n_out + 1, sizeof *outs)) goto nomem;
      outs[n_out++] = t;
      if (!is_punct(a, ',')) break;
      if ((st = next(a))) goto done;
    }
  }
  if ((st = expect_punct(a, '='))) goto done;
  uint32_t op = 0;
  if (a->t.kind == T_REF && a->t.ref == '#') {
    op = a->t.refv;
    if (op >= a->n_imports) {
      st = fail(a, "import #%u is not declared", op);
      goto done;
    }
  } else if (a->t.kind == T_WORD) {
    int found = -1;
    for (uint32_t k = 0; k < a->n_imports; k++)
      if (strlen(a->imports[k].name) == a->t.n && memcmp(a->imports[k].name, a->t.p, a->t.n) == 0) {
        if (found >= 0) {
          st = fail(a, "op '%.*s' matches several imports; use #k", (int)a->t.n, a->t.p);
          goto done;
        }
        found = (int)k;
      }
    if (found < 0) {
      st = fail(a, "op '%.*s' is not imported", (int)a->t.n, a->t.p);
      goto done;
    }
    op = (uint32_t)found;
  } else {
    st = fail(a, "expected an op name or #k");
    goto done;
  }
  if ((st = next(a))) goto done;
  in.op = op;
  while (a->t.kind == T_REF || is_word(a, "_")) {
    uint32_t t = 0;
    if ((st = parse_tensor_ref(a, 1, &t))) goto done;
    if (!grow((void **)&ins, &in_cap, n_in + 1, sizeof *ins)) goto nomem;
    ins[n_in++] = t;
  }
  if (n_in > UINT16_MAX || n_out > UINT16_MAX) {
    st = fail(a, "too many operands");
    goto done;
  }
  const isa_op_desc *bd = builtin_by_name(&a->imports[op]);
  if (is_punct(a, '{')) {
    if ((st = next(a))) goto done;
    while (!is_punct(a, '}')) {
      if (n_attrs && (st = expect_punct(a, ','))) goto done;
      if (!grow((void **)&attrs, &attr_cap, n_attrs + 1, sizeof *attrs)) goto nomem;
      isa_def_attr *at = &attrs[n_attrs];
      memset(at, 0, sizeof *at);
      if (a->t.kind == T_WORD) {
        if (!(at->name = tok_cstr(a))) goto nomem;
      } else if (a->t.kind == T_STR && a->t.n > 0) {
        at->name = a->t.p;
      } else {
        st = fail(a, "expected an attribute name");
        goto done;
      }
      if ((st = next(a)) || (st = expect_punct(a, '=')) || (st = parse_attr_value(a, at)) ||
          (st = coerce_to_schema(a, bd, at)))
        goto done;
      n_attrs++;
      if (a->t.kind == T_EOL) {
        st = fail(a, "expected '}'");
        goto done;
      }
    }
    if ((st = next(a))) goto done;
  }
  if (is_word(a, "node")) {
    if ((st = next(a))) goto done;
    if (a->t.kind != T_STR) {
      st = fail(a, "expected the node name as a string");
      goto done;
    }
    in.debug_name = a->t.p;
    if ((st = next(a))) goto done;
  }
  if ((st = expect_eol(a))) goto done;

  in.n_in = (uint16_t)n_in;
  in.n_out = (uint16_t)n_out;
  uint32_t *operands = pool_alloc(&a->pool, ((size_t)n_in + n_out) * sizeof *operands);
  isa_def_attr *kept_attrs = pool_alloc(&a->pool, (size_t)n_attrs * sizeof *kept_attrs);
  if (!operands || !kept_attrs) goto nomem;
  if (n_in) memcpy(operands, ins, (size_t)n_in * sizeof *ins);
  if (n_out) memcpy(operands + n_in, outs, (size_t)n_out * sizeof *outs);
  if (n_attrs) memcpy(kept_attrs, attrs, (size_t)n_attrs * sizeof *attrs);
  in.operands = operands;
  in.attrs = kept_attrs;
  in.n_attrs = n_attrs;
  if (!grow((void **)&a->instrs, &a->cap_instrs, a->n_instrs + 1, sizeof *a->instrs)) goto nomem;
  a->instrs[a->n_instrs++] = in;
  goto done;
nomem:
  st = oom(a);
done:
  free(outs);
  free(ins);
  free(attrs);
  return st;
}

/* ---- driver --------------------------------------------------------------------------- */
static ivm_status parse_line(asmb *a) {
  IVM_TRY(next(a));
  if (a->t.kind == T_EOL) return NULL;
  if (is_word(a, "data")) return parse_data(a);
  IVM_TRY(finish_pending(a));
  if (a->t.kind == T_REF || is_punct(a, '=') || is_word(a, "_")) return parse_instr(a);
  if (a->t.kind != T_WORD) return fail(a, "expected a declaration or an instruction");
  if (is_word(a, "ivm")) return next(a) ? a->err : parse_version(a);
  if (is_word(a, "plan")) return next(a) ? a->err : parse_plan(a);
  if (is_word(a, "symbol")) return next(a) ? a->err : parse_symbol(a);
  if (is_word(a, "import")) return next(a) ? a->err : parse_import(a);
  if (is_word(a, "tensor")) return next(a) ? a->err : parse_tensor(a);
  if (is_word(a, "inputs")) return next(a) ? a->err : parse_io(a, 0);
  if (is_word(a, "outputs")) return next(a) ? a->err : parse_io(a, 1);
  return fail(a, "unknown keyword '%.*s'", (int)a->t.n, a->t.p);
}

ivm_status isa_assemble(const char *text, size_t len, const char *what, uint8_t **out_bytes,
                        size_t *out_size) {
  *out_bytes = NULL;
  *out_size = 0;
  asmb a;
  memset(&a, 0, sizeof a);
  a.what = what ? what : "<text>";
  a.text = text ? text : "";
  a.end = a.text + (text ? len : 0);
  ivm_status st = NULL;
  for (const char *p = a.text; p < a.end && !st;) {
    const char *nl = memchr(p, '\n', (size_t)(a.end - p));
    a.line++;
    a.cur = p;
    a.line_end = nl ? nl : a.end;
    st = parse_line(&a);
    p = nl ? nl + 1 : a.end;
  }
  if (!st) st = finish_pending(&a);
  if (!st) {
    isa_module_def d;
    memset(&d, 0, sizeof d);
    d.n_imports = a.n_imports;
    d.imports = a.imports;
    d.n_symbols = a.n_symbols;
    d.symbols = (const char *const *)a.symbols;
    d.n_tensors = a.n_tensors;
    d.tensors = a.tensors;
    d.n_instrs = a.n_instrs;
    d.instrs = a.instrs;
    d.n_inputs = a.n_inputs;
    d.inputs = a.inputs;
    d.n_outputs = a.n_outputs;
    d.outputs = a.outputs;
    d.arena_size = a.arena_size;
    d.unplanned_size = a.unplanned_size;
    d.arena_align = a.arena_align;
    st = isa_module_write(&d, out_bytes, out_size);
    if (st) st = ivm_status_wrap(st, "%s", a.what);
  }
  pool_free(&a.pool);
  free(a.symbols);
  free(a.imports);
  free(a.tensors);
  free(a.instrs);
  return st;
}
