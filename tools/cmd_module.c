/* ivm compile / asm / dis / verify / ops. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "isa/module.h"
#include "tools/cli.h"
#include "vm/vm.h"

static int single_file_args(int argc, char **argv, const char **in, const char **out,
                            cli_ext *ext) {
  for (int i = 1; i < argc; i++) {
    int took = ext ? cli_ext_arg(argv[0], argc, argv, &i, ext) : 0;
    if (took < 0) return 0;
    if (took) continue;
    if (strcmp(argv[i], "-o") == 0 && i + 1 < argc && out) {
      *out = argv[++i];
    } else if (argv[i][0] == '-' && argv[i][1]) {
      fprintf(stderr, "unknown option '%s'\n", argv[i]);
      return 0;
    } else if (!*in) {
      *in = argv[i];
    } else {
      return 0;
    }
  }
  return *in != NULL;
}

/* "NAME=D0,D1,..." (an empty list: a scalar) -> *out; 0 if malformed. */
static int parse_shape(char *arg, ivm_input_shape *out) {
  char *eq = strrchr(arg, '=');
  if (!eq || eq == arg) return 0;
  *eq = 0;
  out->name = arg;
  out->rank = 0;
  for (char *p = eq + 1; *p;) {
    char *end;
    long long d = strtoll(p, &end, 10);
    if (end == p || d < 0 || out->rank == IVM_MAX_RANK || (*end && *end != ',')) return 0;
    out->dims[out->rank++] = d;
    p = *end ? end + 1 : end;
  }
  return 1;
}

int cmd_compile(int argc, char **argv) {
  const char *usage = "MODEL.onnx -o MODEL.ivm [--shape NAME=D0,D1,...]... [--allow-plugin PATH]...";
  if (argc >= 2 && cli_is_help(argv[1])) {
    printf("usage: ivm compile %s\n\n"
           "Imports the ONNX model, infers shapes, folds constants, removes dead code and\n"
           "identities, plans arena memory and writes verified bytecode. Prints a summary\n"
           "(instructions, constants, arena bytes and what the planner saved). A model\n"
           "with plugin ops needs --allow-plugin PATH (their shape inference runs);\n"
           "ivm.ffi and ivm.expr nodes need no permission to compile.\n"
           "--shape NAME=D0,D1,... fixes graph input NAME to that shape (its symbolic\n"
           "dims included): every shape becomes static, so memory is planned ahead,\n"
           "nothing is inferred at run time and more fusions and scheduling apply; the\n"
           "module then accepts only that shape.\n",
           usage);
    return CLI_OK;
  }
  const char *in = NULL, *out = NULL;
  cli_ext ext;
  memset(&ext, 0, sizeof ext);
  /* --shape options are taken out first; the rest is the usual single-file syntax. */
  ivm_input_shape *shapes = calloc((size_t)argc, sizeof *shapes);
  char **rest = calloc((size_t)argc + 1, sizeof *rest);
  int n_shapes = 0, n_rest = 0;
  if (!shapes || !rest) {
    free(shapes);
    free(rest);
    return cli_fail("compile", ivm_status_create(IVM_ERR_OUT_OF_MEMORY, "out of memory"));
  }
  for (int i = 0; i < argc; i++) {
    if (i > 0 && strcmp(argv[i], "--shape") == 0 && i + 1 < argc) {
      if (!parse_shape(argv[++i], &shapes[n_shapes++])) {
        fprintf(stderr, "ivm compile: --shape takes NAME=D0,D1,... (dims >= 0), not '%s'\n", argv[i]);
        free(shapes);
        free(rest);
        return cli_usage("compile", usage);
      }
    } else {
      rest[n_rest++] = argv[i];
    }
  }
  if (!single_file_args(n_rest, rest, &in, &out, &ext) || !out) {
    free(shapes);
    free(rest);
    return cli_usage("compile", usage);
  }
  ivm_load_options lo;
  cli_ext_load_options(&ext, &lo);
  ivm_compile_options co = {lo.allow_plugins, lo.n_allow_plugins, shapes, (uint32_t)n_shapes};
  int tty = isatty(2);
  if (tty) fprintf(stderr, "compiling %s ...", in);
  void *bytes = NULL;
  size_t size = 0;
  ivm_compile_report rep;
  ivm_status st = ivm_compile_onnx_file_opts(in, &co, &bytes, &size, &rep);
  free(shapes);
  free(rest);
  if (tty) fprintf(stderr, "\r\033[K");
  if (st) return cli_fail("compile", st);
  /* Verify what we wrote, so a compiler bug never ships a module the VM refuses. */
  st = vm_verify_memory(bytes, size, &lo);
  if (!st) st = cli_write_file(out, bytes, size);
  ivm_free(bytes);
  if (st) return cli_fail("compile", st);
  double saved = rep.unplanned_bytes
                     ? 100.0 * (double)(rep.unplanned_bytes - rep.arena_bytes) /
                           (double)rep.unplanned_bytes
                     : 0.0;
  printf("%s: %u instructions, %u constants, %zu bytes; arena %llu bytes "
         "(%llu without reuse, %.1f%% saved)\n",
         out, rep.instructions, rep.constants, size, (unsigned long long)rep.arena_bytes,
         (unsigned long long)rep.unplanned_bytes, saved);
  return CLI_OK;
}

int cmd_asm(int argc, char **argv) {
  const char *usage = "FILE.ivs -o FILE.ivm";
  if (argc >= 2 && cli_is_help(argv[1])) {
    printf("usage: ivm asm %s\n\nAssembles IVM assembly text (as printed by `ivm dis`) into a\n"
           "bytecode module and verifies it. The format is in docs/bytecode.md.\n", usage);
    return CLI_OK;
  }
  const char *in = NULL, *out = NULL;
  if (!single_file_args(argc, argv, &in, &out, NULL) || !out) return cli_usage("asm", usage);
  char *text;
  size_t len;
  ivm_status st = cli_read_file(in, &text, &len);
  if (st) return cli_fail("asm", st);
  uint8_t *bytes = NULL;
  size_t size = 0;
  st = isa_assemble(text, len, in, &bytes, &size);
  free(text);
  ivm_module *m = NULL;
  if (!st) st = ivm_module_load_memory(bytes, size, 0, NULL, &m);
  ivm_module_release(m);
  if (!st) st = cli_write_file(out, bytes, size);
  free(bytes);
  return st ? cli_fail("asm", st) : CLI_OK;
}

int cmd_dis(int argc, char **argv) {
  const char *usage = "FILE.ivm [-o FILE.ivs] [--allow-plugin PATH]...";
  if (argc >= 2 && cli_is_help(argv[1])) {
    printf("usage: ivm dis %s\n\nPrints a verified module as IVM assembly text: imports,\n"
           "symbols, tensors (weights as hex), instructions with their source ONNX node,\n"
           "inputs, outputs and the memory plan. `ivm asm` turns it back into the same bytes.\n"
           "Custom ops print by name (com.example.Swish, ivm.ffi.Cbrt); verifying plugin ops\n"
           "needs their plugin (--allow-plugin); nothing is resolved or run.\n",
           usage);
    return CLI_OK;
  }
  const char *in = NULL, *out = NULL;
  cli_ext ext;
  memset(&ext, 0, sizeof ext);
  if (!single_file_args(argc, argv, &in, &out, &ext)) return cli_usage("dis", usage);
  ivm_load_options lo;
  cli_ext_load_options(&ext, &lo);
  ivm_module *m = NULL;
  ivm_status st = vm_open_verified(in, &lo, &m);
  char *text = NULL;
  size_t len = 0;
  if (!st) st = isa_disassemble(&m->view, &text, &len);
  if (!st) {
    if (out) st = cli_write_file(out, text, len);
    else fwrite(text, 1, len, stdout);
  }
  free(text);
  ivm_module_release(m);
  return st ? cli_fail("dis", st) : CLI_OK;
}

int cmd_verify(int argc, char **argv) {
  const char *usage = "FILE.ivm [--allow-plugin PATH]...";
  if (argc >= 2 && cli_is_help(argv[1])) {
    printf("usage: ivm verify %s\n\nChecks the container, every index, type, shape, offset,\n"
           "alignment and arena overlap, that every op is known, and the checksum of the\n"
           "constant data (which loading skips unless asked). Exit 0 if valid.\n"
           "Plugin ops need their plugin (--allow-plugin); foreign functions are not\n"
           "resolved, so no --allow-ffi is needed.\n", usage);
    return CLI_OK;
  }
  const char *in = NULL;
  cli_ext ext;
  memset(&ext, 0, sizeof ext);
  if (!single_file_args(argc, argv, &in, NULL, &ext)) return cli_usage("verify", usage);
  ivm_load_options lo;
  cli_ext_load_options(&ext, &lo);
  vm_verify_info vi;
  ivm_status st = vm_verify_file(in, &lo, &vi);
  if (st) return cli_fail("verify", st);
  printf("%s: ok (%u instructions, %u tensors, %u inputs, %u outputs, arena %llu bytes)\n", in,
         vi.n_instrs, vi.n_tensors, vi.n_inputs, vi.n_outputs,
         (unsigned long long)vi.arena_size);
  return CLI_OK;
}

static void arity(char *buf, size_t n, unsigned lo, unsigned hi) {
  if (hi == ISA_VARIADIC) cli_fmt(buf, n, "%u+", lo);
  else if (lo == hi) cli_fmt(buf, n, "%u", lo);
  else cli_fmt(buf, n, "%u-%u", lo, hi);
}

static void attr_list(const isa_op_desc *d, char *buf, size_t n) {
  size_t used = 0;
  buf[0] = 0;
  for (uint16_t k = 0; k < d->n_attrs && used + 1 < n; k++) {
    const isa_attr_schema *a = &d->attrs[k];
    char def[64] = "";
    if (a->required) cli_fmt(def, sizeof def, " (required)");
    else if (a->type == ISA_ATTR_INT) cli_fmt(def, sizeof def, "=%lld", (long long)a->def.i);
    else if (a->type == ISA_ATTR_FLOAT) cli_fmt(def, sizeof def, "=%g", (double)a->def.f);
    else if (a->type == ISA_ATTR_STRING) cli_fmt(def, sizeof def, "=\"%s\"", a->def.s);
    cli_fmt(buf + used, n - used, "%s%s:%s%s", k ? ", " : "", a->name,
            isa_attr_type_name(a->type), def);
    used += strlen(buf + used);
  }
}

/* GitHub tables end a cell at '|', even inside backticks. Printed as it goes: a buffer
 * cut the longer docs short (FusedConv's lost its last 1,000 characters). */
static void md_cell(const char *in) {
  for (; *in; in++) {
    if (*in == '|') putchar('\\');
    putchar(*in);
  }
}

static void print_op(const isa_op_desc *d, const char *name, int markdown) {
  char ins[16], outs[16], attrs[2048];
  arity(ins, sizeof ins, d->min_in, d->max_in);
  arity(outs, sizeof outs, d->min_out, d->max_out);
  attr_list(d, attrs, sizeof attrs);
  if (markdown) {
    printf("| `%s.%s` | %u | %s | %s | %s | %s | `", d->domain, name, d->version,
           isa_op_kind_name(d->kind), ins, outs, attrs);
    md_cell(d->synopsis);
    fputs("` | ", stdout);
    md_cell(d->doc);
    fputs(" |\n", stdout);
  } else
    printf("%s.%s@%u  %-7s in %-4s out %-4s %s\n    %s\n    %s\n", d->domain, name,
           d->version, isa_op_kind_name(d->kind), ins, outs, attrs, d->synopsis, d->doc);
}

int cmd_ops(int argc, char **argv) {
  int markdown = 0;
  const char *plugins[CLI_MAX_ALLOW];
  uint32_t n_plugins = 0;
  for (int i = 1; i < argc; i++) {
    if (cli_is_help(argv[i])) {
      printf("usage: ivm ops [--plugin PATH]... [--markdown]\n\nLists every instruction: "
             "qualified name, version, kind (builtin,\nplugin, ffi, expr), inputs, outputs, "
             "attributes, synopsis and doc line.\nivm.ffi.* and ivm.expr.* are op families: a "
             "model names its own ops in those\ndomains. --plugin PATH (or --allow-plugin) "
             "loads a plugin and lists its ops too.\n--markdown prints docs/isa.md.\n");
      return CLI_OK;
    } else if (strcmp(argv[i], "--markdown") == 0) {
      markdown = 1;
    } else if ((strcmp(argv[i], "--plugin") == 0 || strcmp(argv[i], "--allow-plugin") == 0) &&
               i + 1 < argc && n_plugins < CLI_MAX_ALLOW) {
      plugins[n_plugins++] = argv[++i];
    } else {
      return cli_usage("ops", "[--plugin PATH]... [--markdown]");
    }
  }
  const isa_registry *builtin;
  isa_registry *reg = NULL;
  ivm_status st = vm_builtin_registry(&builtin);
  if (!st) st = isa_registry_create_child(builtin, &reg);
  for (uint32_t k = 0; !st && k < n_plugins; k++)
    st = rt_plugin_add_to_registry(plugins[k], reg);
  if (st) {
    isa_registry_destroy(reg);
    return cli_fail("ops", st);
  }
  if (markdown)
    printf("# IVM instruction set\n\nGenerated from `isa/ops.def` by `ivm ops --markdown`; "
           "do not edit.\n\n| op | version | kind | inputs | outputs | attributes | "
           "synopsis | description |\n|---|---|---|---|---|---|---|---|\n");
  for (uint32_t i = 0; i < isa_registry_count(reg); i++) {
    const isa_op_desc *d = isa_registry_at(reg, i)->desc;
    print_op(d, d->name, markdown);
  }
  static const char *const families[] = {"ivm.ffi", "ivm.expr"};
  for (size_t k = 0; k < sizeof families / sizeof families[0]; k++) {
    const isa_registry_entry *f = isa_registry_family(reg, families[k]);
    if (f) print_op(f->desc, "*", markdown);
  }
  isa_registry_destroy(reg);
  return CLI_OK;
}
