/* Shared helpers of the `ivm` command's subcommands. */
#ifndef IVM_TOOLS_CLI_H
#define IVM_TOOLS_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "ivm/ivm.h"

enum { CLI_OK = 0, CLI_ERROR = 1, CLI_USAGE = 2 };

/* Prints "ivm <cmd>: message" for a failed status, frees it, returns CLI_ERROR. */
int cli_fail(const char *cmd, ivm_status st);
int cli_usage(const char *cmd, const char *usage);
int cli_is_help(const char *arg);
/* "auto", "seq" (or "sequential"), "graph" -> *out; 0 if it is none of them. */
int cli_parse_schedule(const char *arg, ivm_schedule *out);
int cli_ends_with(const char *s, const char *suffix);
/* Reads a whole file; *out is malloc'd and NUL-terminated. */
ivm_status cli_read_file(const char *path, char **out, size_t *out_size);
ivm_status cli_write_file(const char *path, const void *data, size_t size);
/* What the user allows and chooses for custom instructions: --allow-plugin PATH,
 * --allow-ffi SYMBOL, --backend interp|jit, --jit-cache DIR. */
#define CLI_MAX_ALLOW 64
typedef struct cli_ext {
  const char *plugins[CLI_MAX_ALLOW];
  uint32_t n_plugins;
  const char *ffi[CLI_MAX_ALLOW];
  uint32_t n_ffi;
  ivm_backend backend;
  const char *jit_cache; /* NULL: the default */
  int check_constants;   /* --check-constants (ivm run / bench) */
} cli_ext;

/* Consumes one of those options at argv[*i] (advancing *i past its value): 1 if it did,
 * 0 if argv[*i] is not one of them, -1 (after printing why) on a bad value. */
int cli_ext_arg(const char *cmd, int argc, char **argv, int *i, cli_ext *e);
/* The help text lines for those options. */
extern const char cli_ext_help[];
void cli_ext_load_options(const cli_ext *e, ivm_load_options *out);
/* Loads MODEL: .onnx is compiled in memory, anything else is loaded as .ivm. e may be
 * NULL (nothing allowed, the interpreter). */
ivm_status cli_load_model(const char *path, const cli_ext *e, ivm_module **out);
/* Characters outside [A-Za-z0-9_.-] become '_'. */
void cli_sanitize_name(const char *in, char *out, size_t size);
double cli_now_ms(void);
/* Binds a host tensor to input `index`. numpy and ONNX's test data carry bfloat16 as
 * uint16 bit patterns, so a u16 tensor binds to a bf16 input. */
ivm_status cli_bind(ivm_module *m, ivm_session *s, uint32_t index, const ivm_host_tensor *t);
/* Reads input `index` from a file of the input's kind (tensor .npy/.pb, SequenceProto or
 * OptionalProto .pb) and binds it. */
ivm_status cli_bind_file(ivm_module *m, ivm_session *s, uint32_t index, const char *path);
/* Binds a host sequence / optional value. */
ivm_status cli_bind_value(ivm_session *s, uint32_t index, const ivm_host_value *v);
/* snprintf that may truncate (paths, messages); returns 1 if everything fit. */
int cli_fmt(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

int cmd_compile(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_conform(int argc, char **argv);
int cmd_asm(int argc, char **argv);
int cmd_dis(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_ops(int argc, char **argv);

#endif
