/* The op descriptor: one type for built-in ops now and plugin / FFI / expression ops later.
 * The registry maps (domain, name, version) to a descriptor plus an opaque implementation
 * pointer that isa/ never interprets (the runtime's kernel). */
#ifndef IVM_ISA_OP_H
#define IVM_ISA_OP_H

#include <stdint.h>

#include "isa/dtype.h"
#include "isa/status.h"

#define ISA_VARIADIC 0xffffu
#define ISA_DOMAIN_BUILTIN "ivm"

/* Property bits read by the verifier, the compiler's passes and (later) the scheduler. */
enum {
  ISA_OPF_NONE = 0,
  ISA_OPF_ELEMENTWISE = 1u << 0, /* output element i depends only on input element i */
  ISA_OPF_DATA_SHAPE = 1u << 1,  /* output shape may depend on input values */
  ISA_OPF_CAN_ALIAS = 1u << 2,   /* output may share its input's storage */
  ISA_OPF_SIDE_EFFECTS = 1u << 3,
  ISA_OPF_CONTROL = 1u << 4,     /* executed by the VM itself (branches, loops, scan
                                  * accumulators), not through a kernel; see ops_control.def */
  ISA_OPF_SEQ = 1u << 5,         /* takes or produces sequence / optional values; executed by
                                  * the VM (vm/seq.c); see ops_seq.def. Only these ops may have
                                  * non-tensor operands; their inference checks and sets vkind */
};

/* Value kinds (isa_type.vkind): what a tensor-table entry holds. Sequences and optionals
 * carry their element's dtype and shape in the rest of the type. */
enum {
  ISA_VK_TENSOR = 0,
  ISA_VK_SEQ = 1,     /* a sequence of tensors */
  ISA_VK_OPT = 2,     /* an optional tensor */
  ISA_VK_OPT_SEQ = 3, /* an optional sequence of tensors */
};
const char *isa_vkind_name(int vkind); /* "tensor", "sequence", "optional", "optional sequence" */

typedef enum isa_attr_type {
  ISA_ATTR_NONE = 0,
  ISA_ATTR_INT = 1,    /* int64 */
  ISA_ATTR_FLOAT = 2,  /* float32 */
  ISA_ATTR_STRING = 3, /* UTF-8 bytes */
  ISA_ATTR_INTS = 4,
  ISA_ATTR_FLOATS = 5,
} isa_attr_type;

const char *isa_attr_type_name(int type); /* "int", "float", "string", "ints", "floats" */

typedef struct isa_attr_schema {
  const char *name;
  uint8_t type;     /* isa_attr_type */
  uint8_t required;
  union {
    int64_t i;
    float f;
    const char *s;
  } def; /* default for INT / FLOAT / STRING; list defaults are empty */
} isa_attr_schema;

/* One attribute value of one instruction, in its op's schema order. Pointers refer to
 * the module (or compiler) memory and stay valid as long as it does. */
typedef struct isa_attr {
  uint8_t type;    /* isa_attr_type */
  uint8_t present; /* 0: not given, the schema default applies (and is filled in) */
  uint32_t count;  /* list length for INTS/FLOATS; byte length for STRING; 1 otherwise */
  union {
    int64_t i;
    float f;
    const char *s; /* NUL-terminated */
    const int64_t *ints;
    const float *floats;
  } v;
} isa_attr;

/* Type of a value during inference. rank -1: unknown. dims[k] < 0: unknown (ISA_DIM_ANY)
 * or symbolic (ISA_DIM_SYM(k)); inference keeps a symbol where it can (e.g. equal dims). */
typedef struct isa_type {
  uint8_t dtype;
  int8_t rank;
  uint8_t vkind; /* ISA_VK_*: 0 (tensor) unless a sequence / optional value */
  int64_t dims[ISA_MAX_RANK];
} isa_type;

#define ISA_DIM_ANY (-1)
#define ISA_DIM_SYM(k) (-2 - (int64_t)(k))
#define ISA_DIM_SYM_INDEX(d) (-2 - (d))

/* A shape/type inference call. The same function serves the compiler (with the values
 * of constant inputs), the verifier (with the module's constants) and the runtime (with
 * every input's value, to size outputs whose shape depends on data). */
typedef struct isa_infer_ctx {
  uint32_t n_in;
  const isa_type *in;        /* in[i].dtype == IVM_DT_NONE: optional input absent */
  const void *const *in_data; /* in_data[i]: the input's elements when known, else NULL */
  const isa_attr *attrs;     /* schema order, defaults filled in */
  uint32_t n_out;
  isa_type *out;             /* to fill; n_out as the instruction declares */
} isa_infer_ctx;

typedef ivm_status (*isa_infer_fn)(isa_infer_ctx *ctx);

typedef enum isa_op_kind {
  ISA_OP_KIND_BUILTIN = 0,
  ISA_OP_KIND_PLUGIN = 1,
  ISA_OP_KIND_FFI = 2,
  ISA_OP_KIND_EXPR = 3,
} isa_op_kind;

typedef struct isa_op_desc {
  const char *domain; /* "ivm" for built-ins */
  const char *name;
  uint32_t version;
  uint16_t min_in, max_in;   /* max ISA_VARIADIC: unbounded */
  uint16_t min_out, max_out;
  uint32_t flags;            /* ISA_OPF_* */
  uint8_t kind;              /* isa_op_kind */
  uint16_t n_attrs;
  const isa_attr_schema *attrs;
  isa_infer_fn infer;
  const char *synopsis; /* "Y := A @ B" */
  const char *doc;      /* one line */
} isa_op_desc;

/* ---- built-in op table ---------------------------------------------------------- */
#define IVM_OP(Name, ...) ISA_OP_##Name,
typedef enum isa_builtin_op {
#include "isa/ops.def"
  ISA_OP_COUNT
} isa_builtin_op;
#undef IVM_OP

/* Attribute slot indices: ISA_A_<Op>_<attr>, e.g. ISA_A_Conv_group. Ops that share an
 * attribute macro get their own names for it. */
#define ISA_ATTR_ENUM_(op, name, type, req, def) ISA_A_##op##_##name,
#define IVM_OP(Name, mi, xi, mo, xo, fl, inf, ATTRS, syn, doc) \
  enum { ATTRS(ISA_ATTR_ENUM_, Name) ISA_A_##Name##__count };
#include "isa/ops.def"
#undef IVM_OP

/* Declarations of the inference functions named in ops.def. */
#define IVM_OP(Name, mi, xi, mo, xo, fl, inf, ATTRS, syn, doc) ivm_status inf(isa_infer_ctx *ctx);
#include "isa/ops.def"
#undef IVM_OP

const isa_op_desc *isa_builtin_desc(isa_builtin_op op); /* NULL if out of range */

/* ---- attributes ----------------------------------------------------------------- */
/* Fills `out` (desc->n_attrs slots) with the schema defaults, present = 0. */
void isa_attrs_init_defaults(const isa_op_desc *desc, isa_attr *out);
/* Index of the attribute `name` in desc's schema, or -1. */
int isa_attr_index(const isa_op_desc *desc, const char *name);

/* ---- registry ------------------------------------------------------------------- */
/* Maps (domain, name, version) to a descriptor and an implementation. Registration at run
 * time is allowed. Not thread-safe for registration; lookups may run concurrently once
 * registration is finished. */
typedef struct isa_registry isa_registry;

typedef struct isa_registry_entry {
  const isa_op_desc *desc;
  const void *impl; /* opaque to isa/: the runtime's kernel for this op */
} isa_registry_entry;

ivm_status isa_registry_create(isa_registry **out);
void isa_registry_destroy(isa_registry *reg);
/* Fails with IVM_ERR_INVALID_ARGUMENT if (domain, name, version) is taken or desc is
 * malformed. desc must outlive the registry. */
ivm_status isa_registry_add(isa_registry *reg, const isa_op_desc *desc, const void *impl);
/* NULL if absent. */
const isa_registry_entry *isa_registry_find(const isa_registry *reg, const char *domain,
                                            const char *name, uint32_t version);
uint32_t isa_registry_count(const isa_registry *reg);
const isa_registry_entry *isa_registry_at(const isa_registry *reg, uint32_t index);
/* Checks a descriptor's own consistency (names, arity, schema); for plugins later. */
ivm_status isa_op_desc_check(const isa_op_desc *desc);

#endif
