/* A small hand-built module shared by the format, verifier and assembler tests.
 *
 *   x  f32[1,2,4,4] (input, arena @0)   w f32[3,2,3,3] const   b f32[3] const
 *   0: conv  = Conv(x, w, b) {pads=[1,1,1,1], strides=[1,1], group=1, auto_pad="NOTSET",
 *                             kernel_shape=[3,3]}                -> f32[1,3,4,4] @128
 *   1: lrelu = LeakyRelu(conv) {alpha=0.1}                       -> f32[1,3,4,4] @320
 *   2: flat  = Reshape(lrelu, shape=[1,48] const i64)            -> f32[1,48]    @0 (reuses x)
 *   3: out   = Add(flat, flat)                                   -> f32[1,48]    @256
 *   4: yr    = Relu(y)   y: f32[N,48] dynamic input              -> f32[N,48] dynamic
 * Shapes are worked by hand: 3x3 kernel, pad 1, stride 1 keeps 4x4; 3*4*4 = 48. */
#ifndef IVM_TEST_FORMAT_FIXTURE_H
#define IVM_TEST_FORMAT_FIXTURE_H

#include <stdlib.h>
#include <string.h>

#include "isa/module.h"

typedef struct fixture {
  isa_def_import imports[5];
  const char *symbols[1];
  isa_def_tensor tensors[10];
  float w[54], b[3];
  int64_t shape[2];
  uint32_t ops[5][4];
  isa_def_attr conv_attrs[5], lrelu_attrs[1];
  int64_t pads[4], strides[2], kshape[2];
  isa_def_instr instrs[5];
  uint32_t inputs[2], outputs[2];
  isa_module_def def;
} fixture;

static inline void fx_tensor(isa_def_tensor *t, const char *name, int dtype, int kind, int rank,
                             const int64_t *dims, uint64_t offset, uint64_t size) {
  memset(t, 0, sizeof *t);
  t->name = name;
  t->dtype = (uint8_t)dtype;
  t->kind = (uint8_t)kind;
  t->rank = (uint8_t)rank;
  for (int k = 0; k < rank; k++) t->dims[k] = dims[k];
  t->offset = offset;
  t->size = size;
}

static inline void fixture_init(fixture *f) {
  memset(f, 0, sizeof *f);
  f->imports[0] = (isa_def_import){"ivm", "Conv", 1};
  f->imports[1] = (isa_def_import){"ivm", "LeakyRelu", 1};
  f->imports[2] = (isa_def_import){"ivm", "Reshape", 1};
  f->imports[3] = (isa_def_import){"ivm", "Add", 1};
  f->imports[4] = (isa_def_import){"ivm", "Relu", 1};
  f->symbols[0] = "N";
  for (int i = 0; i < 54; i++) f->w[i] = (float)(i % 7) * 0.25f - 0.5f;
  f->b[0] = 1.0f, f->b[1] = -2.0f, f->b[2] = 0.5f;
  f->shape[0] = 1, f->shape[1] = 48;
  isa_def_tensor *t = f->tensors;
  fx_tensor(&t[0], "x", IVM_DT_F32, ISA_TK_ARENA, 4, (int64_t[]){1, 2, 4, 4}, 0, 128);
  fx_tensor(&t[1], "w", IVM_DT_F32, ISA_TK_CONST, 4, (int64_t[]){3, 2, 3, 3}, 0, 216);
  t[1].data = f->w;
  fx_tensor(&t[2], "b", IVM_DT_F32, ISA_TK_CONST, 1, (int64_t[]){3}, 0, 12);
  t[2].data = f->b;
  fx_tensor(&t[3], "conv", IVM_DT_F32, ISA_TK_ARENA, 4, (int64_t[]){1, 3, 4, 4}, 128, 192);
  fx_tensor(&t[4], "lrelu", IVM_DT_F32, ISA_TK_ARENA, 4, (int64_t[]){1, 3, 4, 4}, 320, 192);
  fx_tensor(&t[5], "shape", IVM_DT_I64, ISA_TK_CONST, 1, (int64_t[]){2}, 0, 16);
  t[5].data = f->shape;
  fx_tensor(&t[6], "flat", IVM_DT_F32, ISA_TK_ARENA, 2, (int64_t[]){1, 48}, 0, 192);
  fx_tensor(&t[7], "out", IVM_DT_F32, ISA_TK_ARENA, 2, (int64_t[]){1, 48}, 256, 192);
  fx_tensor(&t[8], "y", IVM_DT_F32, ISA_TK_DYNAMIC, 2, (int64_t[]){ISA_DIM_SYM(0), 48}, 0, 0);
  fx_tensor(&t[9], "yr", IVM_DT_F32, ISA_TK_DYNAMIC, 2, (int64_t[]){ISA_DIM_SYM(0), 48}, 0, 0);

  f->pads[0] = f->pads[1] = f->pads[2] = f->pads[3] = 1;
  f->strides[0] = f->strides[1] = 1;
  f->kshape[0] = f->kshape[1] = 3;
  f->conv_attrs[0] = (isa_def_attr){"pads", ISA_ATTR_INTS, 4, {.ints = f->pads}};
  f->conv_attrs[1] = (isa_def_attr){"strides", ISA_ATTR_INTS, 2, {.ints = f->strides}};
  f->conv_attrs[2] = (isa_def_attr){"group", ISA_ATTR_INT, 1, {.i = 1}};
  f->conv_attrs[3] = (isa_def_attr){"auto_pad", ISA_ATTR_STRING, 6, {.s = "NOTSET"}};
  f->conv_attrs[4] = (isa_def_attr){"kernel_shape", ISA_ATTR_INTS, 2, {.ints = f->kshape}};
  f->lrelu_attrs[0] = (isa_def_attr){"alpha", ISA_ATTR_FLOAT, 1, {.f = 0.1f}};

  uint32_t ops[5][4] = {{0, 1, 2, 3}, {3, 4}, {4, 5, 6}, {6, 6, 7}, {8, 9}};
  memcpy(f->ops, ops, sizeof ops);
  f->instrs[0] = (isa_def_instr){0, 3, 1, f->ops[0], 5, f->conv_attrs, "conv1"};
  f->instrs[1] = (isa_def_instr){1, 1, 1, f->ops[1], 1, f->lrelu_attrs, "lrelu"};
  f->instrs[2] = (isa_def_instr){2, 2, 1, f->ops[2], 0, NULL, "flatten"};
  f->instrs[3] = (isa_def_instr){3, 2, 1, f->ops[3], 0, NULL, "add"};
  f->instrs[4] = (isa_def_instr){4, 1, 1, f->ops[4], 0, NULL, NULL};
  f->inputs[0] = 0, f->inputs[1] = 8;
  f->outputs[0] = 7, f->outputs[1] = 9;

  isa_module_def *d = &f->def;
  d->n_imports = 5, d->imports = f->imports;
  d->n_symbols = 1, d->symbols = f->symbols;
  d->n_tensors = 10, d->tensors = f->tensors;
  d->n_instrs = 5, d->instrs = f->instrs;
  d->n_inputs = 2, d->inputs = f->inputs;
  d->n_outputs = 2, d->outputs = f->outputs;
  d->arena_size = 512;
  d->unplanned_size = 128 + 4 * 192;
  d->arena_align = 64;
}

/* Module bytes in 64-byte aligned memory (as an mmap would give). free() them. */
static inline uint8_t *fx_aligned_copy(const uint8_t *bytes, size_t size) {
  uint8_t *p = aligned_alloc(64, (size + 63) / 64 * 64);
  if (p) memcpy(p, bytes, size);
  return p;
}

/* Where a format 1.2 reader finds the CONSTS section for the metadata checksum
 * (docs/bytecode.md, "Checksum"): the first CONSTS entry of an in-bounds section table,
 * if its range lies inside the file clear of the header and the table; else nothing
 * (*len 0). Written from the spec, not from isa/reader.c. */
static inline void fx_consts_range(const uint8_t *b, size_t size, uint64_t *off, uint64_t *len) {
  uint32_t nsec;
  uint64_t tab;
  memcpy(&nsec, b + 20, 4);
  memcpy(&tab, b + 24, 8);
  *off = *len = 0;
  if (tab % 8 || tab < 64 || tab > size || nsec > 64 || nsec > (size - tab) / 24) return;
  uint64_t tab_end = tab + (uint64_t)nsec * 24;
  for (uint32_t i = 0; i < nsec; i++) {
    uint32_t kind;
    uint64_t o, n;
    memcpy(&kind, b + tab + 24 * i, 4);
    if (kind != 6 /* CONSTS */) continue;
    memcpy(&o, b + tab + 24 * i + 8, 8);
    memcpy(&n, b + tab + 24 * i + 16, 8);
    if (o >= 64 && o <= size && n <= size - o && (o >= tab_end || o + n <= tab)) *off = o, *len = n;
    return;
  }
}

/* Recomputes the header checksums after a test patched the bytes, by the rule of the
 * file's minor: >= 2, consts_checksum (bytes 44..47) over CONSTS and checksum (40..43)
 * over the rest with bytes 40..47 as zero; 0 and 1, checksum over the whole file with
 * bytes 40..43 as zero (bytes 44..47 are left as they are). */
static inline void fx_fix_checksum(uint8_t *bytes, size_t size) {
  uint16_t minor;
  memcpy(&minor, bytes + 10, 2);
  memset(bytes + 40, 0, 4);
  if (minor < 2) {
    uint32_t c = isa_crc32(0, bytes, size);
    memcpy(bytes + 40, &c, 4);
    return;
  }
  uint64_t off, len;
  fx_consts_range(bytes, size, &off, &len);
  if (len == 0) off = size;
  memset(bytes + 44, 0, 4);
  uint32_t c = isa_crc32(0, bytes, off);
  c = isa_crc32(c, bytes + off + len, size - off - len);
  uint32_t cc = isa_crc32(0, bytes + off, len);
  memcpy(bytes + 40, &c, 4);
  memcpy(bytes + 44, &cc, 4);
}

#endif
