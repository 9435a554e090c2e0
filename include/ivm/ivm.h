/* IVM public API: load a verified bytecode module, create sessions, bind inputs, run,
 * read outputs. Everything returns an ivm_status: NULL means success; otherwise the
 * status carries a code and a message with context and must be freed with
 * ivm_status_free().
 *
 * Thread-safety: an ivm_module is immutable once loaded and may be shared by any number
 * of sessions on any threads. An ivm_session is used by one thread at a time. */
#ifndef IVM_IVM_H
#define IVM_IVM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status ---------------------------------------------------------------------- */
typedef struct ivm_status_s *ivm_status; /* NULL = ok */

typedef enum ivm_status_code {
  IVM_OK = 0,
  IVM_ERR_INVALID_ARGUMENT = 1, /* bad argument from the caller (wrong shape, dtype...) */
  IVM_ERR_FORMAT = 2,           /* malformed module, ONNX file, .npy or assembly text */
  IVM_ERR_UNSUPPORTED = 3,      /* valid input that IVM cannot handle yet */
  IVM_ERR_NOT_FOUND = 4,        /* missing file, op, input name */
  IVM_ERR_OUT_OF_MEMORY = 5,
  IVM_ERR_IO = 6,
  IVM_ERR_PERMISSION = 7, /* the host did not allow a plugin / foreign symbol */
  IVM_ERR_RUNTIME = 8,    /* a kernel found bad data at run time (index out of range...) */
  IVM_ERR_INTERNAL = 9,
} ivm_status_code;

/* Creates an error status (for hosts and, later, plugin kernels). Never returns NULL;
 * code must not be IVM_OK. */
ivm_status ivm_status_create(ivm_status_code code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
ivm_status_code ivm_status_get_code(ivm_status status);
const char *ivm_status_message(ivm_status status); /* "" for NULL */
const char *ivm_status_code_name(ivm_status_code code);
void ivm_status_free(ivm_status status);

/* ---- data types (numbered as ONNX TensorProto.DataType) --------------------------- */
typedef enum ivm_dtype {
  IVM_DT_NONE = 0,
  IVM_DT_F32 = 1,
  IVM_DT_U8 = 2,
  IVM_DT_I8 = 3,
  IVM_DT_U16 = 4,
  IVM_DT_I16 = 5,
  IVM_DT_I32 = 6,
  IVM_DT_I64 = 7,
  IVM_DT_BOOL = 9,
  IVM_DT_F16 = 10,
  IVM_DT_F64 = 11,
  IVM_DT_U32 = 12,
  IVM_DT_U64 = 13,
  IVM_DT_BF16 = 16,
} ivm_dtype;

const char *ivm_dtype_name(ivm_dtype dtype); /* "f32", ...; "?" if unknown */
size_t ivm_dtype_size(ivm_dtype dtype);      /* bytes per element; 0 if unknown */

#define IVM_MAX_RANK 8

/* ---- memory ---------------------------------------------------------------------- */
/* The host's allocator. alloc returns memory aligned to `align` (a power of two <= 4096)
 * or NULL; free(NULL) must be harmless. Zeroed {NULL,NULL,NULL} means the C library's. */
typedef struct ivm_allocator {
  void *ctx;
  void *(*alloc)(void *ctx, size_t size, size_t align);
  void (*free)(void *ctx, void *ptr);
} ivm_allocator;

/* ---- tensors as seen by the host --------------------------------------------------- */
/* What a graph input or output holds. Sequences and optionals (ONNX SequenceProto /
 * OptionalProto values) are bound with ivm_session_bind_sequence and read with
 * ivm_session_output_sequence / ivm_session_output_item. */
typedef enum ivm_value_kind {
  IVM_VALUE_TENSOR = 0,
  IVM_VALUE_SEQUENCE = 1,          /* a sequence of tensors of one dtype */
  IVM_VALUE_OPTIONAL = 2,          /* an optional tensor */
  IVM_VALUE_OPTIONAL_SEQUENCE = 3, /* an optional sequence of tensors */
} ivm_value_kind;

typedef struct ivm_tensor_info {
  const char *name;
  ivm_dtype dtype;
  int32_t rank;                /* -1: unknown until run time */
  int64_t dims[IVM_MAX_RANK];  /* <0: symbolic / known only at run time */
  const char *dim_names[IVM_MAX_RANK]; /* symbolic dim names, NULL where concrete */
  ivm_value_kind kind;         /* sequences/optionals: dtype, rank, dims are the elements' */
} ivm_tensor_info;

typedef struct ivm_tensor_view {
  ivm_dtype dtype;
  int32_t rank;
  int64_t dims[IVM_MAX_RANK];
  const void *data; /* valid until the next run or destroy of the session */
  size_t nbytes;
} ivm_tensor_view;

/* A tensor owned by the host side, e.g. read from a file. Free with ivm_host_tensor_free. */
typedef struct ivm_host_tensor {
  char *name; /* may be NULL */
  ivm_dtype dtype;
  int32_t rank;
  int64_t dims[IVM_MAX_RANK];
  void *data;
  size_t nbytes;
} ivm_host_tensor;

/* Reads a .npy file or an ONNX TensorProto (.pb) file. */
ivm_status ivm_host_tensor_read_file(const char *path, ivm_host_tensor *out_tensor);
/* Writes a .npy file. */
ivm_status ivm_host_tensor_write_npy(const char *path, ivm_dtype dtype, int32_t rank,
                                     const int64_t *dims, const void *data);
void ivm_host_tensor_free(ivm_host_tensor *tensor);

/* A sequence or optional value owned by the host side (ONNX SequenceProto / OptionalProto
 * .pb files). has_value is 0 for an optional holding none; an optional tensor holds one
 * item. Free with ivm_host_value_free. */
typedef struct ivm_host_value {
  ivm_value_kind kind;
  int32_t has_value;
  uint32_t count;
  ivm_host_tensor *items;
} ivm_host_value;

/* Reads a SequenceProto (kind IVM_VALUE_SEQUENCE) or OptionalProto (the optional kinds)
 * .pb file; kind IVM_VALUE_TENSOR reads a tensor file as a one-item value. */
ivm_status ivm_host_value_read_file(const char *path, ivm_value_kind kind,
                                    ivm_host_value *out_value);
void ivm_host_value_free(ivm_host_value *value);

/* ---- compiling ONNX ---------------------------------------------------------------- */
typedef struct ivm_compile_report {
  uint64_t arena_bytes;     /* arena size after the planner's reuse */
  uint64_t unplanned_bytes; /* what the same tensors take without reuse */
  uint32_t instructions;
  uint32_t constants;
} ivm_compile_report;

/* Compiles an ONNX model file to .ivm bytes (free them with ivm_free).
 * out_report may be NULL. */
ivm_status ivm_compile_onnx_file(const char *path, void **out_bytes, size_t *out_size,
                                 ivm_compile_report *out_report);

/* Compiling a model with plugin ops runs the plugin's shape inference, so the host allows
 * the plugin here too. ivm.ffi and ivm.expr nodes compile without permission (nothing runs
 * until load). */
/* A graph input's shape fixed at compile time: its symbolic or unknown dims become
 * these, so that every shape downstream is static (static arena plan, no shape inference
 * at run time, fusions and the dependency-graph scheduler apply). The module then only
 * accepts inputs of exactly this shape. */
typedef struct ivm_input_shape {
  const char *name;
  int32_t rank;
  int64_t dims[IVM_MAX_RANK];
} ivm_input_shape;

typedef struct ivm_compile_options {
  const char *const *allow_plugins;
  uint32_t n_allow_plugins;
  const ivm_input_shape *input_shapes; /* each must name a graph input */
  uint32_t n_input_shapes;
} ivm_compile_options;

/* ivm_compile_onnx_file with options (NULL: none). */
ivm_status ivm_compile_onnx_file_opts(const char *path, const ivm_compile_options *opts,
                                      void **out_bytes, size_t *out_size,
                                      ivm_compile_report *out_report);
void ivm_free(void *ptr);

/* ---- modules ----------------------------------------------------------------------- */
typedef struct ivm_module ivm_module; /* immutable; thread-safe */

/* Which engine runs a module's instructions. Results agree within 1e-5 relative. */
typedef enum ivm_backend {
  IVM_BACKEND_INTERP = 0, /* the interpreter: every instruction through its kernel */
  IVM_BACKEND_JIT = 1,    /* LLVM: expression ops and chains of elementwise instructions
                           * compiled to fused native loops at load (cached on disk) */
} ivm_backend;

/* Zero-initialise, then set what you need: zero fields keep their defaults. */
typedef struct ivm_load_options {
  ivm_allocator allocator; /* zero = C library */
  /* The host decides what code may run. A module whose ops come from a plugin loads only
   * if the plugin's path is listed here; it is loaded (once per process) and its ops
   * registered for this module only. */
  const char *const *allow_plugins;
  uint32_t n_allow_plugins;
  /* Foreign symbols ivm.ffi instructions may call: "SYMBOL" (found in the process: libc,
   * libm and what the host has loaded) or "LIBRARY:SYMBOL" (LIBRARY as the instruction
   * names it, opened with dlopen only once allowed). */
  const char *const *allow_ffi;
  uint32_t n_allow_ffi;
  ivm_backend backend;
  /* JIT object cache directory. NULL: $IVM_JIT_CACHE (set but empty: no cache), else
   * $XDG_CACHE_HOME/ivm/jit, else $HOME/.cache/ivm/jit. "": no cache. The JIT itself is
   * libivm_jit.so, opened on first use from $IVM_JIT_LIBRARY or libivm.so's directory. */
  const char *jit_cache_dir;
  /* What messages call a module loaded from memory (e.g. the ONNX file it was compiled
   * from). NULL: "<memory>". */
  const char *name;
  /* Nonzero: also checksum the constant data at load (touches every weight page: on a
   * 10 MB model ~10 ms instead of ~1 ms). Zero: the load checks the metadata's checksum
   * only; constants are checked by `ivm verify`, and their pages are mapped on first use. */
  int check_constants;
} ivm_load_options;

/* Maps the file and verifies it; weights are used in place (and read only when used,
 * unless opts->check_constants). opts may be NULL. */
ivm_status ivm_module_load_file(const char *path, const ivm_load_options *opts,
                                ivm_module **out_module);
/* Verifies and uses `data` in place; it must stay valid and unchanged until the module is
 * released. With take_ownership, the module frees it with ivm_free when released. */
ivm_status ivm_module_load_memory(const void *data, size_t size, int take_ownership,
                                  const ivm_load_options *opts, ivm_module **out_module);
/* What loading did, for tools and tests. */
typedef struct ivm_module_stats {
  ivm_backend backend;
  uint32_t jit_functions;      /* native functions in use (expression ops, fused regions) */
  uint32_t jit_compiled;       /* of those, compiled by LLVM during this load */
  uint32_t jit_cache_hits;     /* of those, loaded from the on-disk cache */
  uint32_t fused_regions;      /* chains of elementwise instructions run as one loop */
  uint32_t fused_instructions; /* instructions those regions replace */
} ivm_module_stats;

ivm_status ivm_module_get_stats(const ivm_module *module, ivm_module_stats *out_stats);
void ivm_module_retain(ivm_module *module);
void ivm_module_release(ivm_module *module);

uint32_t ivm_module_input_count(const ivm_module *module);
uint32_t ivm_module_output_count(const ivm_module *module);
ivm_status ivm_module_input_info(const ivm_module *module, uint32_t index,
                                 ivm_tensor_info *out_info);
ivm_status ivm_module_output_info(const ivm_module *module, uint32_t index,
                                  ivm_tensor_info *out_info);
/* Index of the input named `name`, or IVM_ERR_NOT_FOUND. */
ivm_status ivm_module_find_input(const ivm_module *module, const char *name,
                                 uint32_t *out_index);

/* ---- sessions ---------------------------------------------------------------------- */
typedef struct ivm_session ivm_session; /* one thread at a time */

/* How a session orders instructions (docs/architecture.md, "Scheduling"). AUTO: the
 * straight-line parts of the program whose independent instructions are estimated to
 * gain from running at once go through the dependency-graph scheduler, the rest runs
 * in program order; with one thread everything runs in program order. GRAPH: every
 * straight-line part goes through the scheduler (for testing and measuring).
 * SEQUENTIAL: program order only (kernels still split large work across threads). */
typedef enum ivm_schedule {
  IVM_SCHEDULE_AUTO = 0,
  IVM_SCHEDULE_SEQUENTIAL = 1,
  IVM_SCHEDULE_GRAPH = 2,
} ivm_schedule;

typedef struct ivm_session_options {
  ivm_allocator allocator; /* zero = the module's */
  int32_t threads;         /* worker threads for this session's runs, the caller included;
                            * 0 = one per online core */
  ivm_schedule schedule;
} ivm_session_options;

ivm_status ivm_session_create(ivm_module *module, const ivm_session_options *opts,
                              ivm_session **out_session);
void ivm_session_destroy(ivm_session *session);

/* Copies the data in. dims must match the module's declared input (symbolic dims
 * accept any size). */
ivm_status ivm_session_bind_input(ivm_session *session, uint32_t index, ivm_dtype dtype,
                                  int32_t rank, const int64_t *dims, const void *data,
                                  size_t nbytes);
/* Binds a sequence or optional input (ivm_tensor_info.kind): count items, copied in, each
 * of the declared dtype (and rank/dims where declared). has_value 0 binds an optional
 * holding none; an optional tensor takes exactly one item. */
ivm_status ivm_session_bind_sequence(ivm_session *session, uint32_t index, int32_t has_value,
                                     uint32_t count, const ivm_tensor_view *items);
ivm_status ivm_session_run(ivm_session *session);
ivm_status ivm_session_output(ivm_session *session, uint32_t index,
                              ivm_tensor_view *out_view);
/* A sequence or optional output: whether it holds a value and how many tensors (an
 * optional tensor holding a value: 1). Items are read with ivm_session_output_item. */
ivm_status ivm_session_output_sequence(ivm_session *session, uint32_t index,
                                       int32_t *out_has_value, uint32_t *out_count);
ivm_status ivm_session_output_item(ivm_session *session, uint32_t index, uint32_t item,
                                   ivm_tensor_view *out_view);

/* ---- profiling ---------------------------------------------------------------------- */
/* Time per op kind, summed over the runs since profiling was enabled. Enabling (again)
 * resets; disabling frees. Costs two clock reads per instruction while on. */
typedef struct ivm_profile_entry {
  const char *domain, *op;  /* valid while the module is */
  uint32_t instructions;    /* instructions of this kind that ran */
  uint64_t calls;           /* their executions (loops run one many times) */
  double total_ms;
} ivm_profile_entry;

ivm_status ivm_session_set_profiling(ivm_session *session, int enable);
/* Fills up to capacity entries, most time first; *out_count is the number of kinds. */
ivm_status ivm_session_profile(ivm_session *session, ivm_profile_entry *entries,
                               uint32_t capacity, uint32_t *out_count);

/* What the session's schedule made of the module (ivm_session_options.schedule): the
 * segments that run as dependency graphs, their instructions, and the cost model's
 * estimates over those segments of one thread's time and of the critical path (the
 * time with unlimited threads), in ms. All zero when everything runs in program order. */
typedef struct ivm_schedule_stats {
  uint32_t graph_segments, graph_instructions, instructions;
  double estimated_serial_ms, estimated_critical_ms;
} ivm_schedule_stats;
ivm_status ivm_session_schedule_stats(const ivm_session *session, ivm_schedule_stats *out);

#ifdef __cplusplus
}
#endif
#endif
