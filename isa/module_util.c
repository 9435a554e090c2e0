/* Small helpers shared by the module writer, reader, verifier, assembler, disassembler. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isa/module_impl.h"

const char *isa_section_name(uint32_t kind) {
  static const char *const names[] = {"?",    "STRTAB", "SYMBOLS", "IMPORTS",  "TENSORS",
                                      "DIMS", "CONSTS", "CODE",    "OPERANDS", "ATTRS",
                                      "IO",   "PLAN",   "DEBUG"};
  return kind <= ISA_SEC_MAX ? names[kind] : "?";
}

uint64_t isa_attr_payload_size(uint32_t type, uint32_t count) {
  uint64_t n;
  switch (type) {
    case ISA_ATTR_INT: n = 8; break;
    case ISA_ATTR_FLOAT: n = 4; break;
    case ISA_ATTR_STRING: n = (uint64_t)count + 1; break;
    case ISA_ATTR_INTS: n = (uint64_t)count * 8; break;
    case ISA_ATTR_FLOATS: n = (uint64_t)count * 4; break;
    default: return UINT64_MAX;
  }
  return (n + 7) & ~(uint64_t)7;
}

static int buf_reserve(isa_buf *b, size_t extra) {
  if (b->failed) return 0;
  if (extra > SIZE_MAX - b->len) {
    b->failed = 1;
    return 0;
  }
  size_t need = b->len + extra;
  if (need <= b->cap) return 1;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  uint8_t *p = realloc(b->data, cap);
  if (!p) {
    b->failed = 1;
    return 0;
  }
  b->data = p;
  b->cap = cap;
  return 1;
}

void isa_buf_append(isa_buf *b, const void *p, size_t n) {
  if (!n || !buf_reserve(b, n)) return;
  memcpy(b->data + b->len, p, n);
  b->len += n;
}

void isa_buf_zeros(isa_buf *b, size_t n) {
  if (!n || !buf_reserve(b, n)) return;
  memset(b->data + b->len, 0, n);
  b->len += n;
}

void isa_buf_align(isa_buf *b, size_t align) {
  size_t r = b->len % align;
  if (r) isa_buf_zeros(b, align - r);
}

void isa_buf_printf(isa_buf *b, const char *fmt, ...) {
  va_list ap, ap2;
  va_start(ap, fmt);
  va_copy(ap2, ap);
  char small[256];
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) {
    b->failed = 1;
  } else if ((size_t)n < sizeof small) {
    isa_buf_append(b, small, (size_t)n);
  } else if (buf_reserve(b, (size_t)n + 1)) {
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap2);
    b->len += (size_t)n;
  }
  va_end(ap2);
}

void isa_buf_free(isa_buf *b) {
  free(b->data);
  memset(b, 0, sizeof *b);
}
