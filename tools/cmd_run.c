/* ivm run / ivm bench: bind inputs from files, run, write or time the outputs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tools/cli.h"

typedef struct input_arg {
  const char *name; /* NULL: bind in order */
  const char *path;
} input_arg;

/* Binds -i arguments: NAME=FILE by name, FILE alone to the next input in order. */
static ivm_status bind_inputs(ivm_module *m, ivm_session *s, const input_arg *args, int n) {
  uint32_t next = 0, count = ivm_module_input_count(m);
  for (int i = 0; i < n; i++) {
    uint32_t index;
    if (args[i].name) {
      ivm_status st = ivm_module_find_input(m, args[i].name, &index);
      if (st) return st;
    } else {
      if (next >= count)
        return ivm_status_create(IVM_ERR_INVALID_ARGUMENT, "%s: the model has only %u inputs",
                         args[i].path, count);
      index = next++;
    }
    ivm_status st = cli_bind_file(m, s, index, args[i].path);
    if (st) {
      ivm_status ctx = ivm_status_create(ivm_status_get_code(st), "%s: %s", args[i].path,
                                         ivm_status_message(st));
      ivm_status_free(st);
      return ctx;
    }
  }
  return NULL;
}

static void print_values(const ivm_tensor_view *v) {
  size_t n = ivm_dtype_size(v->dtype) ? v->nbytes / ivm_dtype_size(v->dtype) : 0;
  size_t show = n < 6 ? n : 6;
  printf(" [");
  for (size_t i = 0; i < show; i++) {
    const void *p = (const char *)v->data + i * ivm_dtype_size(v->dtype);
    double x = 0;
    switch (v->dtype) {
      case IVM_DT_F32: x = *(const float *)p; break;
      case IVM_DT_F64: x = *(const double *)p; break;
      case IVM_DT_I8: x = *(const int8_t *)p; break;
      case IVM_DT_U8: case IVM_DT_BOOL: x = *(const uint8_t *)p; break;
      case IVM_DT_I16: x = *(const int16_t *)p; break;
      case IVM_DT_U16: x = *(const uint16_t *)p; break;
      case IVM_DT_I32: x = *(const int32_t *)p; break;
      case IVM_DT_U32: x = *(const uint32_t *)p; break;
      case IVM_DT_I64: x = (double)*(const int64_t *)p; break;
      case IVM_DT_U64: x = (double)*(const uint64_t *)p; break;
      default: printf("%s?", i ? ", " : ""); continue;
    }
    printf("%s%.6g", i ? ", " : "", x);
  }
  printf("%s]\n", n > show ? ", ..." : "");
}

static const char check_help[] =
    "  --check-constants    also checksum the constant data at load (touches every\n"
    "                       weight page; by default only `ivm verify` checks it)\n";

static int parse_common(const char *cmd, int argc, char **argv, const char **model,
                        input_arg *inputs, int *n_inputs, const char **outdir,
                        ivm_session_options *so, int *reps, cli_ext *ext, int *profile) {
  *n_inputs = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (profile && strcmp(a, "--profile") == 0) {
      *profile = 1;
      continue;
    }
    if (strcmp(a, "--check-constants") == 0) {
      ext->check_constants = 1;
      continue;
    }
    int took = cli_ext_arg(cmd, argc, argv, &i, ext);
    if (took < 0) return 0;
    if (took) continue;
    if ((strcmp(a, "-i") == 0 || strcmp(a, "--input") == 0) && i + 1 < argc) {
      char *v = argv[++i];
      char *eq = strchr(v, '=');
      if (eq && eq != v) {
        *eq = 0;
        inputs[*n_inputs].name = v;
        inputs[*n_inputs].path = eq + 1;
      } else {
        inputs[*n_inputs].name = NULL;
        inputs[*n_inputs].path = v;
      }
      (*n_inputs)++;
    } else if (outdir && (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) && i + 1 < argc) {
      *outdir = argv[++i];
    } else if (so && strcmp(a, "--threads") == 0 && i + 1 < argc) {
      so->threads = atoi(argv[++i]);
    } else if (so && strcmp(a, "--schedule") == 0 && i + 1 < argc) {
      if (!cli_parse_schedule(argv[++i], &so->schedule)) {
        fprintf(stderr, "ivm %s: --schedule takes auto, seq or graph, not '%s'\n", cmd, argv[i]);
        return 0;
      }
    } else if (reps && strcmp(a, "--reps") == 0 && i + 1 < argc) {
      *reps = atoi(argv[++i]);
      if (*reps < 1) return 0;
    } else if (a[0] == '-' && a[1]) {
      fprintf(stderr, "ivm %s: unknown option '%s'\n", cmd, a);
      return 0;
    } else if (!*model) {
      *model = a;
    } else {
      fprintf(stderr, "ivm %s: unexpected argument '%s'\n", cmd, a);
      return 0;
    }
  }
  return *model != NULL;
}

int cmd_run(int argc, char **argv) {
  const char *usage = "MODEL.(ivm|onnx) [-i [NAME=]FILE]... [-o OUTDIR] [--threads N]\n"
                      "    [--schedule auto|seq|graph]\n"
                      "    [--allow-plugin PATH]...\n"
                      "    [--allow-ffi SYMBOL]... [--backend interp|jit] [--jit-cache DIR]\n"
                      "    [--check-constants]";
  if (argc >= 2 && cli_is_help(argv[1])) {
    printf("usage: ivm run %s\n\n"
           "Runs MODEL (.ivm, or .onnx compiled in memory). Each -i binds a .npy or ONNX\n"
           "TensorProto .pb file: NAME=FILE by input name, FILE alone to the next input in\n"
           "order. Prints each output's dtype, shape and first values; with -o, writes each\n"
           "output to OUTDIR/NAME.npy (characters outside [A-Za-z0-9_.-] become '_').\n\n%s%s",
           usage, cli_ext_help, check_help);
    return CLI_OK;
  }
  const char *model = NULL, *outdir = NULL;
  input_arg *inputs = calloc((size_t)argc, sizeof *inputs);
  int n_inputs = 0;
  if (!inputs) return cli_fail("run", ivm_status_create(IVM_ERR_OUT_OF_MEMORY, "out of memory"));
  cli_ext ext;
  memset(&ext, 0, sizeof ext);
  ivm_session_options so;
  memset(&so, 0, sizeof so);
  if (!parse_common("run", argc, argv, &model, inputs, &n_inputs, &outdir, &so, NULL, &ext,
                    NULL)) {
    free(inputs);
    return cli_usage("run", usage);
  }
  ivm_module *m = NULL;
  ivm_session *s = NULL;
  ivm_status st = cli_load_model(model, &ext, &m);
  if (!st) st = ivm_session_create(m, &so, &s);
  if (!st) st = bind_inputs(m, s, inputs, n_inputs);
  if (!st) st = ivm_session_run(s);
  if (!st && outdir) {
    if (mkdir(outdir, 0777) != 0 && errno != EEXIST)
      st = ivm_status_create(IVM_ERR_IO, "%s: cannot create directory: %s", outdir, strerror(errno));
  }
  for (uint32_t k = 0; !st && k < ivm_module_output_count(m); k++) {
    ivm_tensor_info info;
    ivm_tensor_view v;
    st = ivm_module_output_info(m, k, &info);
    if (!st && info.kind != IVM_VALUE_TENSOR) {
      /* A sequence / optional: NAME_0.npy, NAME_1.npy, ... (none: no files). */
      int32_t has = 0;
      uint32_t cnt = 0;
      st = ivm_session_output_sequence(s, k, &has, &cnt);
      if (st) break;
      printf("%s: %s of %u %s\n", info.name, info.kind == IVM_VALUE_SEQUENCE ? "sequence" : "optional",
             cnt, has ? "tensors" : "(none)");
      for (uint32_t j = 0; !st && j < cnt; j++) {
        st = ivm_session_output_item(s, k, j, &v);
        if (st) break;
        printf("  [%u]: %s[", j, ivm_dtype_name(v.dtype));
        for (int d = 0; d < v.rank; d++) printf("%s%lld", d ? "," : "", (long long)v.dims[d]);
        printf("]");
        print_values(&v);
        if (outdir) {
          char safe[256], path[4096];
          cli_sanitize_name(info.name, safe, sizeof safe);
          cli_fmt(path, sizeof path, "%s/%s_%u.npy", outdir, safe, j);
          st = ivm_host_tensor_write_npy(path, v.dtype, v.rank, v.dims, v.data);
        }
      }
      continue;
    }
    if (!st) st = ivm_session_output(s, k, &v);
    if (st) break;
    printf("%s: %s[", info.name, ivm_dtype_name(v.dtype));
    for (int d = 0; d < v.rank; d++) printf("%s%lld", d ? "," : "", (long long)v.dims[d]);
    printf("]");
    print_values(&v);
    if (outdir) {
      char safe[256], path[4096];
      cli_sanitize_name(info.name, safe, sizeof safe);
      cli_fmt(path, sizeof path, "%s/%s.npy", outdir, safe);
      st = ivm_host_tensor_write_npy(path, v.dtype, v.rank, v.dims, v.data);
    }
  }
  ivm_session_destroy(s);
  ivm_module_release(m);
  free(inputs);
  return st ? cli_fail("run", st) : CLI_OK;
}

/* Prints s as the body of a JSON string. */
static void print_json_string(const char *s) {
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') printf("\\%c", c);
    else if (c < 0x20) printf("\\u%04x", c);
    else putchar(c);
  }
}

/* Runs `reps` profiled runs and prints `, "profile": [...]` (ms per run, per op kind). */
static ivm_status print_profile(ivm_session *s, int reps) {
  ivm_status st = ivm_session_set_profiling(s, 1);
  for (int r = 0; !st && r < reps; r++) st = ivm_session_run(s);
  uint32_t n = 0;
  if (!st) st = ivm_session_profile(s, NULL, 0, &n);
  if (st) return st;
  ivm_profile_entry *e = calloc(n ? n : 1, sizeof *e);
  if (!e) return ivm_status_create(IVM_ERR_OUT_OF_MEMORY, "out of memory");
  st = ivm_session_profile(s, e, n, &n);
  printf(", \"profile\": [");
  for (uint32_t k = 0; !st && k < n; k++) {
    printf("%s{\"op\": \"", k ? ", " : "");
    print_json_string(e[k].domain);
    printf(".");
    print_json_string(e[k].op);
    printf("\", \"instructions\": %u, \"ms\": %.4f}", e[k].instructions, e[k].total_ms / reps);
  }
  printf("]");
  free(e);
  ivm_status_free(ivm_session_set_profiling(s, 0));
  return st;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int cmd_bench(int argc, char **argv) {
  const char *usage = "MODEL.(ivm|onnx) [-i [NAME=]FILE]... [--threads N] [--reps N] [--profile]\n"
                      "    [--schedule auto|seq|graph]\n"
                      "    [--allow-plugin PATH]... [--allow-ffi SYMBOL]... [--backend interp|jit]\n"
                      "    [--check-constants]";
  if (argc >= 2 && cli_is_help(argv[1])) {
    printf("usage: ivm bench %s\n\n"
           "Loads MODEL, binds the inputs (as ivm run does; inputs not given are zeros when\n"
           "their shape is static), runs it once to warm up, then --reps times (default 20),\n"
           "and prints one JSON line: load_ms, first_ms (the warm-up run: it maps the weight\n"
           "pages on first use), min_ms, median_ms, mean_ms, reps, threads,\n"
           "schedule, backend, what the JIT did at load (jit_functions, jit_compiled,\n"
           "jit_cache_hits, fused_regions, fused_instructions) and what the scheduler runs\n"
           "as graphs (graph_segments, graph_instructions of instructions, and the cost\n"
           "model's estimated_serial_ms and estimated_critical_ms). With --profile, after the\n"
           "timed runs, as many profiled runs add \"profile\": per op kind, the\n"
           "instructions, and mean ms per run (most first; a mean, so noisy runs weigh in).\n\n%s%s",
           usage, cli_ext_help, check_help);
    return CLI_OK;
  }
  const char *model = NULL;
  int reps = 20, n_inputs = 0;
  ivm_session_options so;
  memset(&so, 0, sizeof so);
  input_arg *inputs = calloc((size_t)argc, sizeof *inputs);
  if (!inputs) return cli_fail("bench", ivm_status_create(IVM_ERR_OUT_OF_MEMORY, "out of memory"));
  cli_ext ext;
  memset(&ext, 0, sizeof ext);
  int profile = 0;
  if (!parse_common("bench", argc, argv, &model, inputs, &n_inputs, NULL, &so, &reps,
                    &ext, &profile)) {
    free(inputs);
    return cli_usage("bench", usage);
  }
  ivm_module *m = NULL;
  ivm_session *s = NULL;
  double *times = calloc((size_t)reps, sizeof *times);
  double t0 = cli_now_ms();
  ivm_status st = times ? cli_load_model(model, &ext, &m)
                        : ivm_status_create(IVM_ERR_OUT_OF_MEMORY, "oom");
  double load_ms = cli_now_ms() - t0;
  if (!st) st = ivm_session_create(m, &so, &s);
  /* Unbound inputs with static shapes get zeros, so a model can be timed without files. */
  for (uint32_t k = 0; !st && k < ivm_module_input_count(m); k++) {
    ivm_tensor_info info;
    st = ivm_module_input_info(m, k, &info);
    int known = !st && info.rank >= 0;
    size_t n = ivm_dtype_size(info.dtype);
    for (int d = 0; known && d < info.rank; d++) {
      if (info.dims[d] < 0) known = 0;
      else n *= (size_t)info.dims[d];
    }
    if (!st && known) {
      void *z = calloc(1, n ? n : 1);
      st = z ? ivm_session_bind_input(s, k, info.dtype, info.rank, info.dims, z, n)
             : ivm_status_create(IVM_ERR_OUT_OF_MEMORY, "oom");
      free(z);
    }
  }
  if (!st) st = bind_inputs(m, s, inputs, n_inputs);
  double first_ms = cli_now_ms();
  if (!st) st = ivm_session_run(s);
  first_ms = cli_now_ms() - first_ms;
  for (int r = 0; !st && r < reps; r++) {
    double a = cli_now_ms();
    st = ivm_session_run(s);
    times[r] = cli_now_ms() - a;
  }
  if (!st) {
    double sum = 0;
    for (int r = 0; r < reps; r++) sum += times[r];
    qsort(times, (size_t)reps, sizeof *times, cmp_double);
    double median = reps % 2 ? times[reps / 2] : (times[reps / 2 - 1] + times[reps / 2]) / 2;
    printf("{\"model\": \"");
    print_json_string(model);
    ivm_module_stats ms;
    memset(&ms, 0, sizeof ms);
    ivm_status_free(ivm_module_get_stats(m, &ms));
    printf("\", \"load_ms\": %.4f, \"first_ms\": %.4f, \"min_ms\": %.6f, \"median_ms\": %.6f, "
           "\"mean_ms\": %.6f, \"reps\": %d, \"threads\": %d, \"schedule\": \"%s\", \"backend\": \"%s\", "
           "\"jit_functions\": %u, \"jit_compiled\": %u, \"jit_cache_hits\": %u, "
           "\"fused_regions\": %u, \"fused_instructions\": %u",
           load_ms, first_ms, times[0], median, sum / reps, reps,
           so.threads ? so.threads : (int)sysconf(_SC_NPROCESSORS_ONLN),
           so.schedule == IVM_SCHEDULE_GRAPH        ? "graph"
           : so.schedule == IVM_SCHEDULE_SEQUENTIAL ? "seq"
                                                    : "auto",
           ms.backend == IVM_BACKEND_JIT ? "jit" : "interp", ms.jit_functions, ms.jit_compiled,
           ms.jit_cache_hits, ms.fused_regions, ms.fused_instructions);
    ivm_schedule_stats ss;
    memset(&ss, 0, sizeof ss);
    ivm_status_free(ivm_session_schedule_stats(s, &ss));
    printf(", \"graph_segments\": %u, \"graph_instructions\": %u, \"instructions\": %u, "
           "\"estimated_serial_ms\": %.4f, \"estimated_critical_ms\": %.4f",
           ss.graph_segments, ss.graph_instructions, ss.instructions, ss.estimated_serial_ms,
           ss.estimated_critical_ms);
    if (profile) st = print_profile(s, reps);
    printf("}\n");
  }
  ivm_session_destroy(s);
  ivm_module_release(m);
  free(times);
  free(inputs);
  return st ? cli_fail("bench", st) : CLI_OK;
}
