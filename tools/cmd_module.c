/* ivm compile / asm / dis / verify / ops. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "isa/module.h"
#include "tools/cli.h"
#include "vm/vm.h"

static int single_file_args(int argc, char **argv, const char **in, const char **out) {
  for (int i = 1; i < argc; i++) {
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

int cmd_compile(int argc, char **argv) {
  const char *usage = "MODEL.onnx -o MODEL.ivm";
  if (argc >= 2 && cli_is_help(argv[1])) {
    printf("usage: ivm compile %s\n\n"
           "Imports the ONNX model, infers shapes, folds constants, removes dead code and\n"
           "identities, plans arena memory and writes verified bytecode. Prints a summary\n"
           "(instructions, constants, arena bytes and what the planner saved).\n",
           usage);
    return CLI_OK;
  }
  const char *in = NULL, *out = NULL;
  if (!single_file_args(argc, argv, &in, &out) || !out) return cli_usage("compile", usage);
  int tty = isatty(2);
  if (tty) fprintf(stderr, "compiling %s ...", in);
  void *bytes = NULL;
  size_t size = 0;
  ivm_compile_report rep;
  ivm_status st = ivm_compile_onnx_file(in, &bytes, &size, &rep);
  if (tty) fprintf(stderr, "\r\033[K");
  if (st) return cli_fail("compile", st);
  /* Verify what we wrote, so a compiler bug never ships a module the VM refuses. */
  ivm_module *m = NULL;
  st = ivm_module_load_memory(bytes, size, 0, NULL, &m);
  ivm_module_release(m);
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
  if (!single_file_args(argc, argv, &in, &out) || !out) return cli_usage("asm", usage);
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
  const char *usage = "FILE.ivm [-o FILE.ivs]";
  if (argc >= 2 && cli_is_help(argv[1])) {
    printf("usage: ivm dis %s\n\nPrints a verified module as IVM assembly text: imports,\n"
           "symbols, tensors (weights as hex), instructions with their source ONNX node,\n"
           "inputs, outputs and the memory plan. `ivm asm` turns it back into the same bytes.\n",
           usage);
    return CLI_OK;
  }
  const char *in = NULL, *out = NULL;
  if (!single_file_args(argc, argv, &in, &out)) return cli_usage("dis", usage);
  ivm_module *m = NULL;
  ivm_status st = ivm_module_load_file(in, NULL, &m);
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
  const char *usage = "FILE.ivm";
  if (argc >= 2 && cli_is_help(argv[1])) {
    printf("usage: ivm verify %s\n\nChecks the container, every index, type, shape, offset,\n"
           "alignment and arena overlap, and that every op is known. Exit 0 if valid.\n", usage);
    return CLI_OK;
  }
  const char *in = NULL;
  if (!single_file_args(argc, argv, &in, NULL)) return cli_usage("verify", usage);
  ivm_module *m = NULL;
  ivm_status st = ivm_module_load_file(in, NULL, &m);
  if (st) return cli_fail("verify", st);
  printf("%s: ok (%u instructions, %u tensors, %u inputs, %u outputs, arena %llu bytes)\n", in,
         m->view.n_instrs, m->view.n_tensors, m->view.n_inputs, m->view.n_outputs,
         (unsigned long long)m->view.plan->arena_size);
  ivm_module_release(m);
  return CLI_OK;
}

static const char *kind_name(int kind) {
  switch (kind) {
    case ISA_OP_KIND_BUILTIN: return "builtin";
    case ISA_OP_KIND_PLUGIN: return "plugin";
    case ISA_OP_KIND_FFI: return "ffi";
    case ISA_OP_KIND_EXPR: return "expr";
    default: return "?";
  }
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

/* GitHub tables end a cell at '|', even inside backticks. */
static const char *md_escape(const char *in, char *buf, size_t size) {
  size_t o = 0;
  for (; *in && o + 3 < size; in++) {
    if (*in == '|') buf[o++] = '\\';
    buf[o++] = *in;
  }
  buf[o] = 0;
  return buf;
}

int cmd_ops(int argc, char **argv) {
  int markdown = 0;
  for (int i = 1; i < argc; i++) {
    if (cli_is_help(argv[i])) {
      printf("usage: ivm ops [--markdown]\n\nLists every registered instruction: qualified\n"
             "name, version, kind (builtin, plugin, ffi, expr), inputs, outputs, attributes,\n"
             "synopsis and doc line. --markdown prints docs/isa.md.\n");
      return CLI_OK;
    } else if (strcmp(argv[i], "--markdown") == 0) {
      markdown = 1;
    } else {
      return cli_usage("ops", "[--markdown]");
    }
  }
  const isa_registry *reg;
  ivm_status st = vm_builtin_registry(&reg);
  if (st) return cli_fail("ops", st);
  if (markdown)
    printf("# IVM instruction set\n\nGenerated from `isa/ops.def` by `ivm ops --markdown`; "
           "do not edit.\n\n| op | version | kind | inputs | outputs | attributes | "
           "synopsis | description |\n|---|---|---|---|---|---|---|---|\n");
  for (uint32_t i = 0; i < isa_registry_count(reg); i++) {
    const isa_op_desc *d = isa_registry_at(reg, i)->desc;
    char ins[16], outs[16], attrs[1024];
    arity(ins, sizeof ins, d->min_in, d->max_in);
    arity(outs, sizeof outs, d->min_out, d->max_out);
    attr_list(d, attrs, sizeof attrs);
    char syn[256], doc[512];
    if (markdown)
      printf("| `%s.%s` | %u | %s | %s | %s | %s | `%s` | %s |\n", d->domain, d->name,
             d->version, kind_name(d->kind), ins, outs, attrs,
             md_escape(d->synopsis, syn, sizeof syn), md_escape(d->doc, doc, sizeof doc));
    else
      printf("%s.%s@%u  %-7s in %-4s out %-4s %s\n    %s\n    %s\n", d->domain, d->name,
             d->version, kind_name(d->kind), ins, outs, attrs, d->synopsis, d->doc);
  }
  return CLI_OK;
}
