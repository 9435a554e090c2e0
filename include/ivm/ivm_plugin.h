/* IVM plugin ABI: add instructions to IVM without rebuilding it.
 *
 * A plugin is a shared library that exports two symbols:
 *
 *   IVM_PLUGIN_DECLARE();   -- defines `ivm_plugin_abi`, the ABI version it was built for
 *   ivm_status ivm_plugin_init(const ivm_plugin_host *host, uint32_t abi_version);
 *
 * IVM reads `ivm_plugin_abi` before calling anything; a plugin built for another ABI is
 * refused with a message. ivm_plugin_init registers op descriptors with
 * ivm_plugin_add_op(): the very descriptor type IVM's built-in instructions use (name,
 * version, arity, attribute schema, shape/type inference) plus a CPU kernel. A plugin op is
 * then first-class: named in bytecode, verified, shown by `ivm dis`, listed by `ivm ops`.
 *
 * A plugin never links against libivm: everything it may call comes through `host`. The
 * host decides which plugins load (ivm_load_options.allow_plugins, `--allow-plugin PATH`).
 * Plugins stay loaded until the process exits. See docs/custom-ops.md. */
#ifndef IVM_IVM_PLUGIN_H
#define IVM_IVM_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include "ivm/ivm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on any change to the types or the host table below. */
#define IVM_PLUGIN_ABI_VERSION 1u

/* ---- attributes ------------------------------------------------------------------ */
typedef enum ivm_attr_type {
  IVM_ATTR_NONE = 0,
  IVM_ATTR_INT = 1,    /* int64 */
  IVM_ATTR_FLOAT = 2,  /* float32 */
  IVM_ATTR_STRING = 3, /* UTF-8 bytes, NUL-terminated */
  IVM_ATTR_INTS = 4,
  IVM_ATTR_FLOATS = 5,
} ivm_attr_type;

/* One attribute of an op's schema. Lists have no default (an absent list is empty). */
typedef struct ivm_attr_schema {
  const char *name;
  uint8_t type;     /* ivm_attr_type */
  uint8_t required;
  union {
    int64_t i;
    float f;
    const char *s;
  } def;
} ivm_attr_schema;

/* One attribute value of one instruction, in schema order, defaults filled in. */
typedef struct ivm_attr {
  uint8_t type;    /* ivm_attr_type */
  uint8_t present; /* 0: not given, the schema default applies */
  uint32_t count;  /* list length for INTS/FLOATS; byte length for STRING; 1 otherwise */
  union {
    int64_t i;
    float f;
    const char *s;
    const int64_t *ints;
    const float *floats;
  } v;
} ivm_attr;

/* ---- shape and type inference ----------------------------------------------------- */
/* A value's type while inferring. rank -1: unknown. dims[k] < 0: unknown or symbolic. */
typedef struct ivm_type {
  uint8_t dtype;  /* ivm_dtype */
  int8_t rank;
  uint8_t vkind;  /* 0: tensor (plugin ops take and give tensors only) */
  int64_t dims[IVM_MAX_RANK];
} ivm_type;

#define IVM_DIM_ANY (-1)

/* The compiler calls infer with constant inputs' values, the verifier with the module's
 * constants, the runtime with every input's value when an output's shape depends on data.
 * Fill out[0..n_out); return NULL or a status from ivm_plugin_host.status_create. */
typedef struct ivm_infer_ctx {
  uint32_t n_in;
  const ivm_type *in;          /* in[i].dtype == IVM_DT_NONE: optional input absent */
  const void *const *in_data;  /* in_data[i]: the input's elements when known, else NULL */
  const ivm_attr *attrs;       /* schema order, defaults filled in */
  uint32_t n_out;
  ivm_type *out;
} ivm_infer_ctx;

typedef ivm_status (*ivm_infer_fn)(ivm_infer_ctx *ctx);

/* ---- op descriptors ---------------------------------------------------------------- */
enum {
  IVM_OPF_ELEMENTWISE = 1u << 0, /* output element i depends only on input element i */
  IVM_OPF_DATA_SHAPE = 1u << 1,  /* output shape may depend on input values */
  IVM_OPF_CAN_ALIAS = 1u << 2,   /* output may share its input's storage */
  IVM_OPF_SIDE_EFFECTS = 1u << 3,/* never folded, reordered or removed */
  /* 1u << 4 and 1u << 5 are reserved for IVM's own control and sequence ops. */
};

typedef enum ivm_op_kind {
  IVM_OP_KIND_BUILTIN = 0,
  IVM_OP_KIND_PLUGIN = 1,
  IVM_OP_KIND_FFI = 2,
  IVM_OP_KIND_EXPR = 3,
} ivm_op_kind;

#define IVM_VARIADIC 0xffffu

typedef struct ivm_op_desc {
  const char *domain;        /* e.g. "com.example"; "ivm*" and "ai.onnx" are reserved */
  const char *name;          /* e.g. "Swish" */
  uint32_t version;
  uint16_t min_in, max_in;   /* max IVM_VARIADIC: unbounded */
  uint16_t min_out, max_out;
  uint32_t flags;            /* IVM_OPF_* */
  uint8_t kind;              /* ivm_op_kind; IVM sets it for plugin ops */
  uint16_t n_attrs;
  const ivm_attr_schema *attrs;
  ivm_infer_fn infer;
  const char *synopsis;      /* "Y := X * sigmoid(X)" */
  const char *doc;           /* one line */
} ivm_op_desc;

/* ---- kernels ----------------------------------------------------------------------- */
/* A tensor as a kernel sees it: dense, row-major, little-endian. */
typedef struct ivm_kernel_tensor {
  void *data;
  uint8_t dtype;  /* ivm_dtype */
  uint8_t rank;
  int64_t dims[IVM_MAX_RANK];
  size_t capacity; /* bytes available at data */
} ivm_kernel_tensor;

struct ivm_scratch; /* a session's grow-only scratch buffer */

/* One instruction call. Output dtypes and shapes are set and their storage is large
 * enough; the kernel writes the elements. in[i] / out[i] is NULL for an absent optional
 * operand. Kernels report bad data with a status, never abort. */
typedef struct ivm_kernel_call {
  uint32_t n_in, n_out;
  const ivm_kernel_tensor *const *in;
  ivm_kernel_tensor *const *out;
  const ivm_attr *attrs;       /* schema order, defaults filled in */
  struct ivm_scratch *scratch; /* use through ivm_plugin_host.scratch */
  const void *state;           /* per-instruction state of IVM's own ops; NULL for plugins */
} ivm_kernel_call;

typedef ivm_status (*ivm_kernel_fn)(const ivm_kernel_call *call);

/* ---- the host table a plugin receives ------------------------------------------------ */
typedef struct ivm_plugin_host {
  uint32_t abi_version; /* the ABI this IVM speaks */
  void *registry;       /* opaque; add_op's target */
  /* Registers one op. plugin_abi: the plugin's IVM_PLUGIN_ABI_VERSION. desc and its
   * schema must stay valid while the plugin is loaded (static storage is the norm). A
   * malformed descriptor is refused with a status naming what is wrong. */
  ivm_status (*add_op)(const struct ivm_plugin_host *host, uint32_t plugin_abi,
                       const ivm_op_desc *desc, ivm_kernel_fn kernel);
  /* Creates an error status (infer and kernel failures). */
  ivm_status (*status_create)(ivm_status_code code, const char *fmt, ...)
#if defined(__GNUC__)
      __attribute__((format(printf, 2, 3)))
#endif
      ;
  /* Borrows `bytes` of the session's scratch memory for the duration of one kernel call. */
  ivm_status (*scratch)(const ivm_kernel_call *call, size_t bytes, void **out);
  /* "f32", "i64", ... for messages. */
  const char *(*dtype_name)(ivm_dtype dtype);
} ivm_plugin_host;

static inline ivm_status ivm_plugin_add_op(const ivm_plugin_host *host, const ivm_op_desc *desc,
                                           ivm_kernel_fn kernel) {
  return host->add_op(host, IVM_PLUGIN_ABI_VERSION, desc, kernel);
}

#if defined(__GNUC__)
#define IVM_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define IVM_PLUGIN_EXPORT
#endif

/* In exactly one source file of the plugin. */
#define IVM_PLUGIN_DECLARE() IVM_PLUGIN_EXPORT const uint32_t ivm_plugin_abi = IVM_PLUGIN_ABI_VERSION

IVM_PLUGIN_EXPORT ivm_status ivm_plugin_init(const ivm_plugin_host *host, uint32_t abi_version);

#ifdef __cplusplus
}
#endif
#endif
