/* The `ivm` command: compile, run, conform, bench, asm, dis, verify, ops. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "isa/status.h"
#include "tools/cli.h"

int cli_fail(const char *cmd, ivm_status st) {
  fprintf(stderr, "ivm %s: %s\n", cmd, ivm_status_message(st));
  ivm_status_free(st);
  return CLI_ERROR;
}

int cli_usage(const char *cmd, const char *usage) {
  fprintf(stderr, "usage: ivm %s %s\n(see ivm %s --help)\n", cmd, usage, cmd);
  return CLI_USAGE;
}

int cli_is_help(const char *a) { return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0; }

int cli_parse_schedule(const char *a, ivm_schedule *out) {
  if (strcmp(a, "auto") == 0) *out = IVM_SCHEDULE_AUTO;
  else if (strcmp(a, "seq") == 0 || strcmp(a, "sequential") == 0) *out = IVM_SCHEDULE_SEQUENTIAL;
  else if (strcmp(a, "graph") == 0) *out = IVM_SCHEDULE_GRAPH;
  else return 0;
  return 1;
}

int cli_ends_with(const char *s, const char *suf) {
  size_t a = strlen(s), b = strlen(suf);
  return a >= b && strcmp(s + a - b, suf) == 0;
}

ivm_status cli_read_file(const char *path, char **out, size_t *out_size) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return ivm_error(errno == ENOENT ? IVM_ERR_NOT_FOUND : IVM_ERR_IO, "%s: cannot open: %s",
                     path, strerror(errno));
  char *buf = NULL;
  size_t n = 0, cap = 0;
  for (;;) {
    if (n + 65536 + 1 > cap) {
      cap = (n + 65536 + 1) * 2;
      char *b = realloc(buf, cap);
      if (!b) {
        free(buf);
        fclose(f);
        return ivm_error(IVM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
      }
      buf = b;
    }
    size_t r = fread(buf + n, 1, 65536, f);
    n += r;
    if (r < 65536) break;
  }
  int err = ferror(f);
  fclose(f);
  if (err) {
    free(buf);
    return ivm_error(IVM_ERR_IO, "%s: read error", path);
  }
  buf[n] = 0;
  *out = buf;
  *out_size = n;
  return NULL;
}

ivm_status cli_write_file(const char *path, const void *data, size_t size) {
  FILE *f = fopen(path, "wb");
  if (!f) return ivm_error(IVM_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
  size_t w = fwrite(data, 1, size, f);
  int bad = (w != size) | (fclose(f) != 0);
  if (bad) return ivm_error(IVM_ERR_IO, "%s: write failed", path);
  return NULL;
}

const char cli_ext_help[] =
    "  --allow-plugin PATH  let the model use ops from the plugin at PATH (repeatable)\n"
    "  --allow-ffi SYMBOL   let ivm.ffi instructions call SYMBOL, or LIBRARY:SYMBOL\n"
    "                       from that library (repeatable)\n"
    "  --backend interp|jit run on the interpreter (default) or the LLVM JIT\n"
    "  --jit-cache DIR      the JIT's object cache (default ~/.cache/ivm/jit; \"\" for none)\n";

int cli_ext_arg(const char *cmd, int argc, char **argv, int *i, cli_ext *e) {
  const char *a = argv[*i];
  int is_plugin = strcmp(a, "--allow-plugin") == 0 || strcmp(a, "--plugin") == 0;
  int is_ffi = strcmp(a, "--allow-ffi") == 0;
  int is_backend = strcmp(a, "--backend") == 0, is_cache = strcmp(a, "--jit-cache") == 0;
  if (!is_plugin && !is_ffi && !is_backend && !is_cache) return 0;
  if (*i + 1 >= argc) {
    fprintf(stderr, "ivm %s: %s needs a value\n", cmd, a);
    return -1;
  }
  const char *v = argv[++*i];
  if (is_backend) {
    if (strcmp(v, "interp") == 0) e->backend = IVM_BACKEND_INTERP;
    else if (strcmp(v, "jit") == 0) e->backend = IVM_BACKEND_JIT;
    else {
      fprintf(stderr, "ivm %s: --backend takes interp or jit, not '%s'\n", cmd, v);
      return -1;
    }
  } else if (is_cache) {
    e->jit_cache = v;
  } else if ((is_plugin ? e->n_plugins : e->n_ffi) >= CLI_MAX_ALLOW) {
    fprintf(stderr, "ivm %s: more than %d %s options\n", cmd, CLI_MAX_ALLOW, a);
    return -1;
  } else if (is_plugin) {
    e->plugins[e->n_plugins++] = v;
  } else {
    e->ffi[e->n_ffi++] = v;
  }
  return 1;
}

void cli_ext_load_options(const cli_ext *e, ivm_load_options *o) {
  memset(o, 0, sizeof *o);
  if (!e) return;
  o->allow_plugins = e->plugins;
  o->n_allow_plugins = e->n_plugins;
  o->allow_ffi = e->ffi;
  o->n_allow_ffi = e->n_ffi;
  o->backend = e->backend;
  o->jit_cache_dir = e->jit_cache;
  o->check_constants = e->check_constants;
}

ivm_status cli_load_model(const char *path, const cli_ext *e, ivm_module **out) {
  ivm_load_options lo;
  cli_ext_load_options(e, &lo);
  if (cli_ends_with(path, ".onnx")) {
    void *bytes;
    size_t size;
    ivm_compile_options co = {lo.allow_plugins, lo.n_allow_plugins, NULL, 0};
    IVM_TRY(ivm_compile_onnx_file_opts(path, &co, &bytes, &size, NULL));
    lo.name = path;
    return ivm_module_load_memory(bytes, size, 1, &lo, out);
  }
  return ivm_module_load_file(path, &lo, out);
}

void cli_sanitize_name(const char *in, char *out, size_t size) {
  size_t i = 0;
  for (; in[i] && i + 1 < size; i++) {
    char c = in[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '_' || c == '.' || c == '-';
    out[i] = ok ? c : '_';
  }
  out[i] = 0;
  if (strcmp(out, ".") == 0 || strcmp(out, "..") == 0 || !out[0]) snprintf(out, size, "_");
}

int cli_fmt(char *buf, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, size, fmt, ap);
  va_end(ap);
  return n >= 0 && (size_t)n < size;
}

ivm_status cli_bind(ivm_module *m, ivm_session *s, uint32_t index, const ivm_host_tensor *t) {
  ivm_dtype dt = t->dtype;
  ivm_tensor_info info;
  if (dt == IVM_DT_U16 && !ivm_module_input_info(m, index, &info) && info.dtype == IVM_DT_BF16)
    dt = IVM_DT_BF16;
  return ivm_session_bind_input(s, index, dt, t->rank, t->dims, t->data, t->nbytes);
}

ivm_status cli_bind_value(ivm_session *s, uint32_t index, const ivm_host_value *v) {
  ivm_tensor_view views[64] = {{0}}, *vw = views;
  if (v->count > 64) {
    vw = calloc(v->count, sizeof *vw);
    if (!vw) return ivm_status_create(IVM_ERR_OUT_OF_MEMORY, "out of memory");
  }
  for (uint32_t i = 0; i < v->count; i++) {
    memset(&vw[i], 0, sizeof vw[i]);
    vw[i].dtype = v->items[i].dtype;
    vw[i].rank = v->items[i].rank;
    memcpy(vw[i].dims, v->items[i].dims, sizeof vw[i].dims);
    vw[i].data = v->items[i].data;
    vw[i].nbytes = v->items[i].nbytes;
  }
  ivm_status st = ivm_session_bind_sequence(s, index, v->has_value, v->count, vw);
  if (vw != views) free(vw);
  return st;
}

ivm_status cli_bind_file(ivm_module *m, ivm_session *s, uint32_t index, const char *path) {
  ivm_tensor_info info;
  ivm_status st = ivm_module_input_info(m, index, &info);
  if (st) return st;
  if (info.kind != IVM_VALUE_TENSOR) {
    ivm_host_value v;
    st = ivm_host_value_read_file(path, info.kind, &v);
    if (st) return st;
    st = cli_bind_value(s, index, &v);
    ivm_host_value_free(&v);
    return st;
  }
  ivm_host_tensor t;
  st = ivm_host_tensor_read_file(path, &t);
  if (st) return st;
  st = cli_bind(m, s, index, &t);
  ivm_host_tensor_free(&t);
  return st;
}

double cli_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static const struct {
  const char *name;
  int (*fn)(int, char **);
  const char *what;
} commands[] = {
    {"compile", cmd_compile, "compile an ONNX model to .ivm bytecode"},
    {"run", cmd_run, "run a model (.ivm or .onnx) on input tensors"},
    {"conform", cmd_conform, "run ONNX backend-test directories and compare outputs"},
    {"bench", cmd_bench, "time a model; prints one JSON line"},
    {"asm", cmd_asm, "assemble .ivs text into .ivm bytecode"},
    {"dis", cmd_dis, "disassemble .ivm bytecode into .ivs text"},
    {"verify", cmd_verify, "verify an .ivm file"},
    {"ops", cmd_ops, "list the instruction set"},
};

static void usage(FILE *f) {
  fprintf(f, "usage: ivm <command> [args]   (ivm <command> --help for details)\n\ncommands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].what);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return CLI_USAGE;
  }
  if (cli_is_help(argv[1])) {
    usage(stdout);
    return CLI_OK;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp(argv[1], commands[i].name) == 0) return commands[i].fn(argc - 1, argv + 1);
  fprintf(stderr, "ivm: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return CLI_USAGE;
}
