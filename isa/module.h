/* Modules in memory, two forms:
 *  - isa_module_def: the logical content, built by the compiler or the assembler and
 *    serialised by the writer. The writer is deterministic: equal defs give equal bytes.
 *  - isa_module: a verified, read-only view over .ivm bytes (no copies; constants point
 *    into the bytes). Built by isa_module_open, which checks everything the runtime and
 *    disassembler rely on. */
#ifndef IVM_ISA_MODULE_H
#define IVM_ISA_MODULE_H

#include <stddef.h>
#include <stdint.h>

#include "isa/format.h"
#include "isa/op.h"

/* ---- logical form --------------------------------------------------------------- */
typedef struct isa_def_attr {
  const char *name;
  uint8_t type;   /* isa_attr_type */
  uint32_t count; /* list length; STRING: strlen */
  union {
    int64_t i;
    float f;
    const char *s;
    const int64_t *ints;
    const float *floats;
  } v;
} isa_def_attr;

typedef struct isa_def_tensor {
  const char *name;
  uint8_t dtype;
  uint8_t kind;  /* isa_tensor_kind */
  uint8_t rank;
  uint8_t flags; /* ISA_TF_* */
  int64_t dims[ISA_MAX_RANK]; /* >= 0 known; ISA_DIM_ANY; ISA_DIM_SYM(k) -> symbols[k] */
  uint64_t offset;  /* ARENA: arena offset (from the planner). CONST: ignored (writer lays out) */
  uint64_t size;    /* ARENA/CONST: bytes */
  const void *data; /* CONST: size bytes */
} isa_def_tensor;

typedef struct isa_def_import {
  const char *domain, *name;
  uint32_t version;
} isa_def_import;

typedef struct isa_def_instr {
  uint32_t op; /* import index */
  uint16_t n_in, n_out;
  const uint32_t *operands; /* n_in inputs then n_out outputs; ISA_NO_TENSOR if absent */
  uint32_t n_attrs;
  const isa_def_attr *attrs; /* in the order they are written */
  const char *debug_name;    /* source node name, or NULL */
} isa_def_instr;

typedef struct isa_module_def {
  uint32_t n_imports;
  const isa_def_import *imports;
  uint32_t n_symbols;
  const char *const *symbols;
  uint32_t n_tensors;
  const isa_def_tensor *tensors;
  uint32_t n_instrs;
  const isa_def_instr *instrs;
  uint32_t n_inputs, n_outputs;
  const uint32_t *inputs, *outputs; /* tensor indices */
  uint64_t arena_size, unplanned_size;
  uint32_t arena_align;
} isa_module_def;

/* Serialises def. *out_bytes is malloc'd (free()). Fails on inconsistent defs (index out
 * of range, ...) but does not run the full verifier. */
ivm_status isa_module_write(const isa_module_def *def, uint8_t **out_bytes, size_t *out_size);

/* ---- read view ------------------------------------------------------------------ */
typedef struct isa_module {
  const uint8_t *bytes;
  size_t size;
  const isa_file_header *header;
  const char *strtab; size_t strtab_size;
  const uint32_t *symbols; uint32_t n_symbols;
  const isa_import_rec *imports; uint32_t n_imports;
  const isa_tensor_rec *tensors; uint32_t n_tensors;
  const int64_t *dims; uint32_t n_dims;
  const uint8_t *consts; uint64_t consts_size;
  const isa_instr_rec *code; uint32_t n_instrs;
  const uint32_t *operands; uint32_t n_operands;
  const uint8_t *attrs; uint64_t attrs_size;
  uint32_t n_inputs, n_outputs;
  const uint32_t *inputs, *outputs;
  const isa_plan_rec *plan;
  const uint32_t *debug; /* n_instrs entries, or NULL if the section is absent */
} isa_module;

/* Checks the container (magic, version, checksum, section table, bounds, alignment of
 * every section and record array) and fills the view. `what` names the source in errors
 * (a file name or "<memory>"). bytes must be 8-byte aligned (64 for in-place constants).
 * From format 1.2 on the checksum checked here leaves the CONSTS section out, so opening
 * does not touch the weight pages; isa_module_check_consts checks them. */
ivm_status isa_module_open(const void *bytes, size_t size, const char *what, isa_module *out);

/* Checks the CONSTS section against the header's consts_checksum (IVM_ERR_FORMAT on a
 * mismatch). Reads every constant byte. Files before 1.2 have no such checksum (open
 * checked their whole file): success. m must come from a successful isa_module_open. */
ivm_status isa_module_check_consts(const isa_module *m, const char *what);

/* String at strtab offset (checked by the verifier; returns "" if out of range). */
const char *isa_module_str(const isa_module *m, uint32_t offset);

/* Decodes instruction i's attribute records against desc's schema into attrs
 * (desc->n_attrs slots, defaults filled). Unknown names, wrong types, missing required
 * attributes are errors naming the instruction. */
ivm_status isa_module_decode_attrs(const isa_module *m, uint32_t instr, const isa_op_desc *desc,
                                   isa_attr *attrs);

/* The full verifier: every index, dtype, rank, shape, constant and arena range, operand
 * arity against the op descriptors (resolved through `reg`; a missing op is an error
 * naming domain, name and version), attribute decoding, and shape inference re-run on
 * every instruction whose outputs are static. Errors name the section and the
 * instruction index and op. */
ivm_status isa_module_verify(const isa_module *m, const isa_registry *reg, const char *what);

/* Text assembly (.ivs). dis prints every part of a module, weights included (as hex);
 * asm parses it back; asm(dis(m)) is byte-identical to m. */
ivm_status isa_disassemble(const isa_module *m, char **out_text, size_t *out_len);
ivm_status isa_assemble(const char *text, size_t len, const char *what, uint8_t **out_bytes,
                        size_t *out_size);

#endif
