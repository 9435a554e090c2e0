/* The .ivm bytecode file format, version 1 (specified in docs/bytecode.md).
 * Little-endian. All records are naturally aligned within their section, every section
 * starts at a multiple of its alignment, and constants are 64-byte aligned so that
 * weights can be used in place from an mmap. */
#ifndef IVM_ISA_FORMAT_H
#define IVM_ISA_FORMAT_H

#include <stdint.h>

#define ISA_MAGIC "\x7fIVM\r\n\x1a\n" /* 8 bytes: catches text-mode and truncation damage */
#define ISA_FORMAT_MAJOR 1
#define ISA_FORMAT_MINOR 2 /* newest minor this IVM reads and writes */
#define ISA_FORMAT_MINOR_SEQ 1 /* first minor with ISA_TF_SEQUENCE / ISA_TF_OPTIONAL */
#define ISA_FORMAT_MINOR_SPLIT_CRC 2 /* first minor with consts_checksum (see below) */
#define ISA_CONST_ALIGN 64
#define ISA_NO_TENSOR 0xffffffffu /* operand slot of an absent optional input/output */

/* File header, at offset 0. Minor >= 2: checksum is the CRC-32 (IEEE) of the whole file
 * with bytes 40..47 (both checksums) taken as zero and the CONSTS section's bytes left
 * out; consts_checksum is the CRC-32 of the CONSTS section's bytes (0 if none). So a load
 * checks the metadata without touching the weight pages. Minor 0 and 1: checksum covers
 * the whole file with bytes 40..43 taken as zero, and consts_checksum (then reserved)
 * is 0. */
typedef struct isa_file_header {
  uint8_t magic[8];
  uint16_t major, minor;
  uint32_t flags;          /* none defined yet; must be 0 */
  uint32_t header_size;    /* sizeof(isa_file_header) */
  uint32_t section_count;
  uint64_t section_table;  /* offset of section_count isa_section_entry records */
  uint64_t file_size;
  uint32_t checksum;
  uint32_t consts_checksum;
  uint32_t reserved[4];    /* 0 */
} isa_file_header;         /* 64 bytes */

typedef enum isa_section_kind {
  ISA_SEC_STRTAB = 1,   /* NUL-terminated strings; offset 0 is "" */
  ISA_SEC_SYMBOLS = 2,  /* uint32 strtab offsets: names of symbolic dims */
  ISA_SEC_IMPORTS = 3,  /* isa_import_rec[] */
  ISA_SEC_TENSORS = 4,  /* isa_tensor_rec[] */
  ISA_SEC_DIMS = 5,     /* int64 dims, referenced by tensors */
  ISA_SEC_CONSTS = 6,   /* constant data, each tensor 64-byte aligned */
  ISA_SEC_CODE = 7,     /* isa_instr_rec[] */
  ISA_SEC_OPERANDS = 8, /* uint32 tensor indices (ISA_NO_TENSOR for absent) */
  ISA_SEC_ATTRS = 9,    /* attribute records, see isa_attr_rec */
  ISA_SEC_IO = 10,      /* isa_io_header then uint32 tensor indices: inputs, outputs */
  ISA_SEC_PLAN = 11,    /* isa_plan_rec */
  ISA_SEC_DEBUG = 12,   /* uint32 strtab offset per instruction: source node name */
} isa_section_kind;
#define ISA_SEC_MAX 12

typedef struct isa_section_entry {
  uint32_t kind;
  uint32_t align; /* power of two; offset % align == 0 */
  uint64_t offset;
  uint64_t size;
} isa_section_entry; /* 24 bytes */

typedef struct isa_import_rec {
  uint32_t domain; /* strtab */
  uint32_t name;   /* strtab */
  uint32_t version;
  uint32_t reserved;
} isa_import_rec; /* 16 bytes */

typedef enum isa_tensor_kind {
  ISA_TK_CONST = 1,   /* data in CONSTS at `offset`, `size` bytes */
  ISA_TK_ARENA = 2,   /* static shape; lives in the session arena at `offset` */
  ISA_TK_DYNAMIC = 3, /* shape known only at run time; storage sized per run */
} isa_tensor_kind;

enum {
  ISA_TF_RANK_UNKNOWN = 1, /* DYNAMIC only: rank is not known either */
  ISA_TF_VAR = 2,          /* DYNAMIC only: a variable (loop-carried value, If result, scan
                            * accumulator, loop counter) that several instructions may write */
  ISA_TF_SEQUENCE = 4,     /* DYNAMIC only, minor >= 1: a sequence of tensors (dtype, rank, dims:
                            * the elements'); with ISA_TF_OPTIONAL an optional sequence */
  ISA_TF_OPTIONAL = 8,     /* DYNAMIC only, minor >= 1: an optional value (may hold none) */
};
/* Value kind (ISA_VK_*) of a tensor record's flags. */
#define ISA_TF_VKIND(flags) ((((flags) & ISA_TF_SEQUENCE) ? 1 : 0) | (((flags) & ISA_TF_OPTIONAL) ? 2 : 0))
#define ISA_VKIND_TF(vk) ((uint8_t)((((vk) & 1) ? ISA_TF_SEQUENCE : 0) | (((vk) & 2) ? ISA_TF_OPTIONAL : 0)))

typedef struct isa_tensor_rec {
  uint32_t name; /* strtab */
  uint8_t dtype;
  uint8_t kind;  /* isa_tensor_kind */
  uint8_t rank;
  uint8_t flags; /* ISA_TF_* */
  uint32_t dims; /* index of the first of `rank` int64 in DIMS */
  uint32_t reserved;
  uint64_t offset;
  uint64_t size; /* bytes; 0 for DYNAMIC */
} isa_tensor_rec; /* 32 bytes */

typedef struct isa_instr_rec {
  uint32_t op;       /* import index */
  uint16_t n_in, n_out;
  uint32_t operands; /* index of the first of n_in + n_out entries in OPERANDS */
  uint32_t attrs;    /* byte offset of the first attribute record in ATTRS */
  uint32_t n_attrs;  /* number of attribute records */
  uint32_t reserved;
} isa_instr_rec; /* 24 bytes */

/* Attribute record: this header, then the payload padded to 8 bytes:
 * INT one int64; FLOAT one float (+4 pad); INTS count int64; FLOATS count float;
 * STRING count bytes then a NUL. */
typedef struct isa_attr_rec {
  uint32_t name; /* strtab */
  uint8_t type;  /* isa_attr_type */
  uint8_t reserved[3];
  uint32_t count;
  uint32_t reserved2;
} isa_attr_rec; /* 16 bytes */

typedef struct isa_io_header {
  uint32_t n_inputs, n_outputs;
} isa_io_header;

typedef struct isa_plan_rec {
  uint64_t arena_size;      /* bytes */
  uint64_t unplanned_size;  /* bytes the arena tensors would take without reuse */
  uint32_t arena_align;     /* alignment of every arena offset */
  uint32_t reserved;
} isa_plan_rec;

uint32_t isa_crc32(uint32_t crc, const void *data, uint64_t size);

#endif
