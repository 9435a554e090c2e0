/* Host tensor files: .npy (read v1-3, write v1) and ONNX TensorProto (.pb). Both are
 * untrusted input: every size is checked against the file length before use. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/cc.h"
#include "onnx.pb-c.h"

static const struct {
  const char *descr;
  ivm_dtype dt;
} npy_types[] = {
    {"<f4", IVM_DT_F32}, {"<f8", IVM_DT_F64}, {"<f2", IVM_DT_F16}, {"<i1", IVM_DT_I8},
    {"|i1", IVM_DT_I8},  {"|u1", IVM_DT_U8},  {"<u1", IVM_DT_U8},  {"<i2", IVM_DT_I16},
    {"<u2", IVM_DT_U16}, {"<i4", IVM_DT_I32}, {"<u4", IVM_DT_U32}, {"<i8", IVM_DT_I64},
    {"<u8", IVM_DT_U64}, {"|b1", IVM_DT_BOOL},
};

static const char *npy_descr(ivm_dtype dt) {
  for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++)
    if (npy_types[i].dt == dt) return npy_types[i].descr;
  return NULL;
}

/* Finds 'key': in the header dict and returns a pointer just after the colon. */
static const char *dict_value(const char *h, const char *key) {
  char pat[32];
  for (int q = 0; q < 2; q++) {
    snprintf(pat, sizeof pat, q ? "\"%s\"" : "'%s'", key);
    const char *p = strstr(h, pat);
    if (!p) continue;
    p += strlen(pat);
    while (*p == ' ') p++;
    if (*p != ':') return NULL;
    p++;
    while (*p == ' ') p++;
    return p;
  }
  return NULL;
}

static ivm_status parse_npy(const char *path, const uint8_t *b, size_t size, ivm_host_tensor *out) {
  if (size < 10 || memcmp(b, "\x93NUMPY", 6) != 0)
    return ivm_error(IVM_ERR_FORMAT, "%s: not a .npy file (bad magic)", path);
  uint8_t major = b[6];
  size_t hlen, hstart;
  if (major == 1) {
    hlen = (size_t)b[8] | (size_t)b[9] << 8;
    hstart = 10;
  } else if (major == 2 || major == 3) {
    if (size < 12) return ivm_error(IVM_ERR_FORMAT, "%s: truncated .npy header", path);
    hlen = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
    hstart = 12;
  } else {
    return ivm_error(IVM_ERR_FORMAT, "%s: unsupported .npy version %u", path, major);
  }
  if (hlen > size - hstart || hlen > (1u << 20))
    return ivm_error(IVM_ERR_FORMAT, "%s: .npy header length %zu exceeds the file", path, hlen);
  char *h = malloc(hlen + 1);
  if (!h) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
  memcpy(h, b + hstart, hlen);
  h[hlen] = 0;
  ivm_status st = NULL;
  ivm_dtype dt = IVM_DT_NONE;
  const char *p = dict_value(h, "descr");
  if (!p || (*p != '\'' && *p != '"')) {
    st = ivm_error(IVM_ERR_FORMAT, "%s: .npy header has no descr", path);
    goto out;
  }
  char q = *p++;
  const char *e = strchr(p, q);
  if (!e || e - p > 16) {
    st = ivm_error(IVM_ERR_FORMAT, "%s: bad .npy descr", path);
    goto out;
  }
  char descr[17];
  memcpy(descr, p, (size_t)(e - p));
  descr[e - p] = 0;
  for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++)
    if (strcmp(descr, npy_types[i].descr) == 0) dt = npy_types[i].dt;
  if (dt == IVM_DT_NONE) {
    st = ivm_error(IVM_ERR_UNSUPPORTED,
                   "%s: .npy element type '%s' is not supported (little-endian numeric or bool "
                   "only)", path, descr);
    goto out;
  }
  p = dict_value(h, "fortran_order");
  if (!p || strncmp(p, "False", 5) != 0) {
    st = ivm_error(p && strncmp(p, "True", 4) == 0 ? IVM_ERR_UNSUPPORTED : IVM_ERR_FORMAT,
                   "%s: only C-order .npy arrays are supported", path);
    goto out;
  }
  p = dict_value(h, "shape");
  if (!p || *p != '(') {
    st = ivm_error(IVM_ERR_FORMAT, "%s: .npy header has no shape", path);
    goto out;
  }
  p++;
  int rank = 0;
  uint64_t numel = 1;
  for (;;) {
    while (*p == ' ' || *p == ',') p++;
    if (*p == ')') break;
    if (*p < '0' || *p > '9') {
      st = ivm_error(IVM_ERR_FORMAT, "%s: bad .npy shape", path);
      goto out;
    }
    uint64_t d = 0;
    while (*p >= '0' && *p <= '9') {
      if (d > (1ull << 40)) {
        st = ivm_error(IVM_ERR_FORMAT, "%s: .npy dimension too large", path);
        goto out;
      }
      d = d * 10 + (uint64_t)(*p++ - '0');
    }
    while (*p == 'L') p++;
    if (rank >= IVM_MAX_RANK) {
      st = ivm_error(IVM_ERR_UNSUPPORTED, "%s: .npy rank exceeds %d", path, IVM_MAX_RANK);
      goto out;
    }
    out->dims[rank++] = (int64_t)d;
    if (d && numel > (UINT64_MAX >> 4) / d) {
      st = ivm_error(IVM_ERR_FORMAT, "%s: .npy shape too large", path);
      goto out;
    }
    numel *= d;
  }
  size_t es = ivm_dtype_size(dt);
  size_t avail = size - hstart - hlen;
  if (numel > avail / es) {
    st = ivm_error(IVM_ERR_FORMAT, "%s: .npy data is truncated (%zu bytes for %llu elements)", path,
                   avail, (unsigned long long)numel);
    goto out;
  }
  size_t nbytes = (size_t)numel * es;
  out->data = malloc(nbytes ? nbytes : 1);
  if (!out->data) {
    st = ivm_error(IVM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    goto out;
  }
  memcpy(out->data, b + hstart + hlen, nbytes);
  if (dt == IVM_DT_BOOL)
    for (size_t i = 0; i < nbytes; i++) ((uint8_t *)out->data)[i] = ((uint8_t *)out->data)[i] != 0;
  out->nbytes = nbytes;
  out->rank = rank;
  out->dtype = dt;
out:
  free(h);
  return st;
}

static ivm_status parse_pb(const char *path, const uint8_t *b, size_t size, ivm_host_tensor *out) {
  Onnx__TensorProto *t = onnx__tensor_proto__unpack(NULL, size, b);
  if (!t) return ivm_error(IVM_ERR_FORMAT, "%s: not a valid ONNX TensorProto", path);
  cc_tensor ct;
  /* External data in a standalone tensor file is not resolved (no trusted base dir). */
  ivm_status st = cc_tensor_from_proto(t, NULL, &ct);
  if (!st && t->name && *t->name) {
    out->name = strdup(t->name);
    if (!out->name) st = ivm_error(IVM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
  }
  onnx__tensor_proto__free_unpacked(t, NULL);
  if (st) {
    free(out->name);
    out->name = NULL;
    return ivm_status_wrap(st, "%s", path);
  }
  out->dtype = (ivm_dtype)ct.dtype;
  out->rank = ct.rank;
  memcpy(out->dims, ct.dims, sizeof out->dims);
  out->data = ct.data;
  out->nbytes = ct.nbytes;
  return NULL;
}

static int ends_with(const char *s, const char *suf) {
  size_t a = strlen(s), b = strlen(suf);
  return a >= b && strcmp(s + a - b, suf) == 0;
}

ivm_status ivm_host_tensor_read_file(const char *path, ivm_host_tensor *out) {
  if (!path || !out) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "ivm_host_tensor_read_file: NULL argument");
  memset(out, 0, sizeof *out);
  uint8_t *b;
  size_t size;
  IVM_TRY(cc_read_file(path, &b, &size));
  ivm_status st;
  if (ends_with(path, ".npy")) st = parse_npy(path, b, size, out);
  else if (ends_with(path, ".pb")) st = parse_pb(path, b, size, out);
  else if (size >= 6 && memcmp(b, "\x93NUMPY", 6) == 0) st = parse_npy(path, b, size, out);
  else st = parse_pb(path, b, size, out);
  free(b);
  if (st) ivm_host_tensor_free(out);
  return st;
}

ivm_status ivm_host_tensor_write_npy(const char *path, ivm_dtype dtype, int32_t rank,
                                     const int64_t *dims, const void *data) {
  if (!path || (rank > 0 && !dims))
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "ivm_host_tensor_write_npy: NULL argument");
  /* numpy has no bfloat16: write its bit patterns as uint16, as ONNX's test data does. */
  const char *descr = dtype == IVM_DT_BF16 ? "<u2" : npy_descr(dtype);
  if (!descr)
    return ivm_error(IVM_ERR_UNSUPPORTED, "%s: dtype %s cannot be written to .npy", path,
                     ivm_dtype_name(dtype));
  if (rank < 0 || rank > IVM_MAX_RANK)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "%s: bad rank %d", path, (int)rank);
  char shape[256];
  size_t sl = 0;
  uint64_t numel = 1;
  shape[sl++] = '(';
  for (int k = 0; k < rank; k++) {
    if (dims[k] < 0) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "%s: negative dimension", path);
    sl += (size_t)snprintf(shape + sl, sizeof shape - sl, "%lld,%s", (long long)dims[k],
                           k + 1 < rank ? " " : "");
    numel *= (uint64_t)dims[k];
  }
  if (rank > 1) sl--; /* numpy writes "(2, 3)" but "(5,)" */
  shape[sl++] = ')';
  shape[sl] = 0;
  if (numel && !data) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "%s: NULL data", path);
  char header[512];
  int n = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                   descr, shape);
  /* Pad with spaces so that magic + len + header + '\n' is a multiple of 64. */
  size_t total = 10 + (size_t)n + 1;
  size_t pad = (64 - total % 64) % 64;
  size_t hlen = (size_t)n + pad + 1;
  memset(header + n, ' ', pad);
  header[hlen - 1] = '\n';
  FILE *f = fopen(path, "wb");
  if (!f) return ivm_error(IVM_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
  uint8_t pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (uint8_t)(hlen & 0xff), (uint8_t)(hlen >> 8)};
  size_t nbytes = (size_t)numel * ivm_dtype_size(dtype);
  int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(header, 1, hlen, f) == hlen &&
           (nbytes == 0 || fwrite(data, 1, nbytes, f) == nbytes);
  if (fclose(f) != 0) ok = 0;
  if (!ok) return ivm_error(IVM_ERR_IO, "%s: write failed", path);
  return NULL;
}

void ivm_host_tensor_free(ivm_host_tensor *t) {
  if (!t) return;
  free(t->name);
  free(t->data);
  t->name = NULL;
  t->data = NULL;
  t->nbytes = 0;
}

/* ---- SequenceProto / OptionalProto (.pb) ------------------------------------------- */
/* onnx-data.proto has no generated bindings here, so these two small messages are read
 * with a protobuf wire-format walker; their TensorProto fields are unpacked by protobuf-c.
 *   SequenceProto: 1 name, 2 elem_type (1 tensor), 3 tensor_values (repeated TensorProto)
 *   OptionalProto: 1 name, 2 elem_type (1 tensor, 3 sequence), 3 tensor_value,
 *                  5 sequence_value (SequenceProto) */
typedef struct pb_field {
  uint32_t num, wire;
  uint64_t v;         /* varint / fixed value */
  const uint8_t *p;   /* length-delimited payload */
  size_t n;
} pb_field;

static int pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*p >= end) return 0;
    uint8_t b = *(*p)++;
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *out = v;
      return 1;
    }
  }
  return 0;
}

/* Next field of [*p, end); 0 at the end, -1 on malformed input. */
static int pb_next(const uint8_t **p, const uint8_t *end, pb_field *f) {
  if (*p >= end) return 0;
  uint64_t key;
  f->v = 0;
  if (!pb_varint(p, end, &key)) return -1;
  f->num = (uint32_t)(key >> 3);
  f->wire = (uint32_t)(key & 7);
  f->p = NULL;
  f->n = 0;
  switch (f->wire) {
    case 0: return pb_varint(p, end, &f->v) ? 1 : -1;
    case 1: if (end - *p < 8) return -1; *p += 8; return 1;
    case 5: if (end - *p < 4) return -1; *p += 4; return 1;
    case 2: {
      uint64_t n;
      if (!pb_varint(p, end, &n) || n > (uint64_t)(end - *p)) return -1;
      f->p = *p;
      f->n = (size_t)n;
      *p += n;
      return 1;
    }
    default: return -1;
  }
}

static ivm_status value_add_tensor(const char *path, ivm_host_value *v, const uint8_t *b, size_t n) {
  if (v->count >= (1u << 24)) return ivm_error(IVM_ERR_FORMAT, "%s: too many tensors", path);
  ivm_host_tensor *items = realloc(v->items, (v->count + 1) * sizeof *items);
  if (!items) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
  v->items = items;
  memset(&items[v->count], 0, sizeof items[0]);
  IVM_TRY(parse_pb(path, b, n, &items[v->count]));
  v->count++;
  return NULL;
}

static ivm_status parse_sequence_proto(const char *path, const uint8_t *b, size_t n,
                                       ivm_host_value *v) {
  const uint8_t *p = b, *end = b + n;
  pb_field f;
  int r;
  while ((r = pb_next(&p, end, &f)) > 0) {
    if (f.num == 2 && f.wire == 0 && f.v != 1)
      return ivm_error(IVM_ERR_UNSUPPORTED, "%s: only sequences of tensors are supported", path);
    if (f.num == 3 && f.wire == 2) IVM_TRY(value_add_tensor(path, v, f.p, f.n));
    if (f.num >= 4 && f.num <= 7 && f.wire == 2)
      return ivm_error(IVM_ERR_UNSUPPORTED, "%s: only sequences of tensors are supported", path);
  }
  if (r < 0) return ivm_error(IVM_ERR_FORMAT, "%s: not a valid ONNX SequenceProto", path);
  v->has_value = 1;
  return NULL;
}

static ivm_status parse_optional_proto(const char *path, const uint8_t *b, size_t n,
                                       ivm_host_value *v) {
  const uint8_t *p = b, *end = b + n;
  pb_field f;
  int r, found = 0;
  while ((r = pb_next(&p, end, &f)) > 0) {
    if (f.wire != 2 || (f.num != 3 && f.num != 5)) {
      if (f.wire == 2 && f.num >= 4 && f.num <= 7)
        return ivm_error(IVM_ERR_UNSUPPORTED, "%s: unsupported optional element", path);
      continue;
    }
    if ((f.num == 3) != (v->kind == IVM_VALUE_OPTIONAL))
      return ivm_error(IVM_ERR_FORMAT, "%s: the optional holds a %s, expected a %s", path,
                       f.num == 3 ? "tensor" : "sequence",
                       v->kind == IVM_VALUE_OPTIONAL ? "tensor" : "sequence");
    if (found) return ivm_error(IVM_ERR_FORMAT, "%s: the optional holds two values", path);
    found = 1;
    if (f.num == 3) IVM_TRY(value_add_tensor(path, v, f.p, f.n));
    else IVM_TRY(parse_sequence_proto(path, f.p, f.n, v));
  }
  if (r < 0) return ivm_error(IVM_ERR_FORMAT, "%s: not a valid ONNX OptionalProto", path);
  v->has_value = found;
  return NULL;
}

ivm_status ivm_host_value_read_file(const char *path, ivm_value_kind kind, ivm_host_value *out) {
  if (!path || !out) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "ivm_host_value_read_file: NULL argument");
  memset(out, 0, sizeof *out);
  out->kind = kind;
  if (kind == IVM_VALUE_TENSOR) {
    ivm_host_tensor t;
    IVM_TRY(ivm_host_tensor_read_file(path, &t));
    out->items = malloc(sizeof *out->items);
    if (!out->items) {
      ivm_host_tensor_free(&t);
      return ivm_error(IVM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    out->items[0] = t;
    out->count = 1;
    out->has_value = 1;
    return NULL;
  }
  if (kind != IVM_VALUE_SEQUENCE && kind != IVM_VALUE_OPTIONAL && kind != IVM_VALUE_OPTIONAL_SEQUENCE)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "%s: unknown value kind %d", path, (int)kind);
  uint8_t *b;
  size_t size;
  IVM_TRY(cc_read_file(path, &b, &size));
  ivm_status st = kind == IVM_VALUE_SEQUENCE ? parse_sequence_proto(path, b, size, out)
                                             : parse_optional_proto(path, b, size, out);
  free(b);
  if (st) ivm_host_value_free(out);
  return st;
}

void ivm_host_value_free(ivm_host_value *v) {
  if (!v) return;
  for (uint32_t i = 0; i < v->count; i++) ivm_host_tensor_free(&v->items[i]);
  free(v->items);
  v->items = NULL;
  v->count = 0;
}
