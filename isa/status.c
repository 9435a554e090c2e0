#include "isa/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ivm_status_s {
  ivm_status_code code;
  int is_static;
  char *message;
};

static struct ivm_status_s oom_status = {IVM_ERR_OUT_OF_MEMORY, 1, "out of memory"};

static char *vformat(const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0) return NULL;
  char *s = malloc((size_t)n + 1);
  if (s) vsnprintf(s, (size_t)n + 1, fmt, ap);
  return s;
}

static ivm_status vcreate(ivm_status_code code, const char *fmt, va_list ap) {
  ivm_status st = malloc(sizeof *st);
  if (!st) return &oom_status;
  st->message = vformat(fmt, ap);
  if (!st->message) {
    free(st);
    return &oom_status;
  }
  st->code = code == IVM_OK ? IVM_ERR_INTERNAL : code;
  st->is_static = 0;
  return st;
}

ivm_status ivm_error(ivm_status_code code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  ivm_status st = vcreate(code, fmt, ap);
  va_end(ap);
  return st;
}

ivm_status ivm_status_create(ivm_status_code code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  ivm_status st = vcreate(code, fmt, ap);
  va_end(ap);
  return st;
}

ivm_status ivm_status_wrap(ivm_status st, const char *fmt, ...) {
  if (!st || st->is_static) return st;
  va_list ap;
  va_start(ap, fmt);
  char *ctx = vformat(fmt, ap);
  va_end(ap);
  if (!ctx) return st;
  size_t a = strlen(ctx), b = strlen(st->message);
  char *m = malloc(a + 2 + b + 1);
  if (m) {
    memcpy(m, ctx, a);
    memcpy(m + a, ": ", 2);
    memcpy(m + a + 2, st->message, b + 1);
    free(st->message);
    st->message = m;
  }
  free(ctx);
  return st;
}

ivm_status_code ivm_status_get_code(ivm_status st) { return st ? st->code : IVM_OK; }
const char *ivm_status_message(ivm_status st) { return st ? st->message : ""; }

void ivm_status_free(ivm_status st) {
  if (!st || st->is_static) return;
  free(st->message);
  free(st);
}

const char *ivm_status_code_name(ivm_status_code code) {
  switch (code) {
    case IVM_OK: return "ok";
    case IVM_ERR_INVALID_ARGUMENT: return "invalid argument";
    case IVM_ERR_FORMAT: return "format error";
    case IVM_ERR_UNSUPPORTED: return "unsupported";
    case IVM_ERR_NOT_FOUND: return "not found";
    case IVM_ERR_OUT_OF_MEMORY: return "out of memory";
    case IVM_ERR_IO: return "i/o error";
    case IVM_ERR_PERMISSION: return "not permitted";
    case IVM_ERR_RUNTIME: return "runtime error";
    case IVM_ERR_INTERNAL: return "internal error";
  }
  return "unknown error";
}
