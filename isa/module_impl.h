/* Internal helpers shared by the .ivm writer, reader, verifier, assembler and
 * disassembler. Not part of any public or cross-layer interface. */
#ifndef IVM_ISA_MODULE_IMPL_H
#define IVM_ISA_MODULE_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "isa/module.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the .ivm reader and writer assume a little-endian host"
#endif

/* The header checksum of a file (docs/bytecode.md, "Checksum"): minor >= 2, CRC-32 of
 * [0, size) with bytes 40..47 taken as zero and [skip_off, skip_off + skip_len) (the
 * CONSTS section) left out; minor 0/1, bytes 40..43 zero and nothing left out. skip_len 0
 * or skip_off >= 64 and skip_off + skip_len <= size; size >= 64. */
uint32_t isa_header_checksum(const uint8_t *b, size_t size, uint16_t minor, uint64_t skip_off,
                             uint64_t skip_len);

/* "STRTAB", "CODE", ...; "?" for an unknown kind. */
const char *isa_section_name(uint32_t kind);

/* Bytes of attribute payload after the record header (padded to 8), or UINT64_MAX for an
 * unknown type. */
uint64_t isa_attr_payload_size(uint32_t type, uint32_t count);

/* isa_module_decode_attrs without the "instruction i (Op)" prefix on errors (instr must be
 * in range); the verifier adds its own prefix with the node name. */
ivm_status isa_decode_attrs_raw(const isa_module *m, uint32_t instr, const isa_op_desc *desc,
                                isa_attr *attrs);

/* A growable byte buffer. On allocation failure `failed` is set and further appends are
 * ignored, so builders check once at the end. */
typedef struct isa_buf {
  uint8_t *data;
  size_t len, cap;
  int failed;
} isa_buf;

void isa_buf_append(isa_buf *b, const void *p, size_t n);
void isa_buf_zeros(isa_buf *b, size_t n);
void isa_buf_align(isa_buf *b, size_t align); /* pads with zeros to a multiple of align */
void isa_buf_printf(isa_buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void isa_buf_free(isa_buf *b);

#endif
