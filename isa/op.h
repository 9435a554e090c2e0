/* The op descriptor: one type for built-in ops now and plugin / FFI / expression ops later.
 * The registry maps (domain, name, version) to a descriptor plus an opaque implementation
 * pointer that isa/ never interprets (the runtime's kernel). */
#ifndef IVM_ISA_OP_H
#define IVM_ISA_OP_H

#include <stdint.h>

#include "isa/dtype.h"
#include "isa/status.h"

#define ISA_VARIADIC IVM_VARIADIC
#define ISA_DOMAIN_BUILTIN "ivm"

/* The descriptor, attribute and inference types are the public plugin ABI's
 * (include/ivm/ivm_plugin.h): built-ins and plugins use one descriptor type. */
#include "ivm/ivm_plugin.h"

/* Property bits read by the verifier, the compiler's passes and (later) the scheduler. */
enum {
  ISA_OPF_NONE = 0,
  ISA_OPF_ELEMENTWISE = IVM_OPF_ELEMENTWISE, /* output element i depends only on input element i */
  ISA_OPF_DATA_SHAPE = IVM_OPF_DATA_SHAPE,   /* output shape may depend on input values */
  ISA_OPF_CAN_ALIAS = IVM_OPF_CAN_ALIAS,     /* output may share its input's storage */
  ISA_OPF_SIDE_EFFECTS = IVM_OPF_SIDE_EFFECTS,
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

enum {
  ISA_ATTR_NONE = IVM_ATTR_NONE,
  ISA_ATTR_INT = IVM_ATTR_INT,
  ISA_ATTR_FLOAT = IVM_ATTR_FLOAT,
  ISA_ATTR_STRING = IVM_ATTR_STRING,
  ISA_ATTR_INTS = IVM_ATTR_INTS,
  ISA_ATTR_FLOATS = IVM_ATTR_FLOATS,
};

const char *isa_attr_type_name(int type); /* "int", "float", "string", "ints", "floats" */

typedef ivm_attr_schema isa_attr_schema;
/* One attribute value of one instruction, in its op's schema order. Pointers refer to
 * the module (or compiler) memory and stay valid as long as it does. */
typedef ivm_attr isa_attr;
/* Type of a value during inference. rank -1: unknown. dims[k] < 0: unknown (ISA_DIM_ANY)
 * or symbolic (ISA_DIM_SYM(k)); inference keeps a symbol where it can (e.g. equal dims). */
typedef ivm_type isa_type;

#define ISA_DIM_ANY IVM_DIM_ANY
#define ISA_DIM_SYM(k) (-2 - (int64_t)(k))
#define ISA_DIM_SYM_INDEX(d) (-2 - (d))

/* A shape/type inference call. The same function serves the compiler (with the values
 * of constant inputs), the verifier (with the module's constants) and the runtime (with
 * every input's value, to size outputs whose shape depends on data). */
typedef ivm_infer_ctx isa_infer_ctx;
typedef ivm_infer_fn isa_infer_fn;

enum {
  ISA_OP_KIND_BUILTIN = IVM_OP_KIND_BUILTIN,
  ISA_OP_KIND_PLUGIN = IVM_OP_KIND_PLUGIN,
  ISA_OP_KIND_FFI = IVM_OP_KIND_FFI,
  ISA_OP_KIND_EXPR = IVM_OP_KIND_EXPR,
};
const char *isa_op_kind_name(int kind); /* "builtin", "plugin", "ffi", "expr" */

typedef ivm_op_desc isa_op_desc;

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
/* A registry layered over `parent` (which must outlive it): lookups try this one first,
 * then the parent. Modules get one each so that the ops a host allows for one load (its
 * plugins, foreign functions) never leak into another. */
ivm_status isa_registry_create_child(const isa_registry *parent, isa_registry **out);
void isa_registry_destroy(isa_registry *reg);
/* Fails with IVM_ERR_INVALID_ARGUMENT if (domain, name, version) is taken (here or in a
 * parent) or desc is malformed. desc must outlive the registry. */
ivm_status isa_registry_add(isa_registry *reg, const isa_op_desc *desc, const void *impl);
/* NULL if absent. Entry pointers stay valid until the next add to the same registry. */
const isa_registry_entry *isa_registry_find(const isa_registry *reg, const char *domain,
                                            const char *name, uint32_t version);
/* Entries of the parents first, then this registry's own. */
uint32_t isa_registry_count(const isa_registry *reg);
const isa_registry_entry *isa_registry_at(const isa_registry *reg, uint32_t index);
/* Checks a descriptor's own consistency (names, arity, schema). */
ivm_status isa_op_desc_check(const isa_op_desc *desc);

/* Op families: every name in a domain shares one template descriptor (its name is the
 * family's, e.g. "*") and implementation; `ivm.ffi` and `ivm.expr` ops are families, named
 * by the model (an FFI op "Cbrt", an expression op "Softplus"). */
ivm_status isa_registry_add_family(isa_registry *reg, const isa_op_desc *tmpl, const void *impl);
/* The family template for `domain` (here or in a parent), or NULL. */
const isa_registry_entry *isa_registry_family(const isa_registry *reg, const char *domain);
/* find(), or else, when `domain` is a family of that version, registers a copy of the
 * template named `name` in reg and returns it. NULL if neither. */
const isa_registry_entry *isa_registry_resolve(isa_registry *reg, const char *domain,
                                               const char *name, uint32_t version);

#endif
