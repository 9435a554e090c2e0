/* ivm conform: runs ONNX backend-test directories (model.onnx + test_data_set_N/) and
 * compares every output with the reference (rtol 1e-3, atol 1e-4; integers exactly).
 * Each test runs in its own process, so a crash or hang is reported, not fatal. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "isa/dtype.h"
#include "isa/status.h"
#include "tools/cli.h"

#define RTOL 1e-3
#define ATOL 1e-4
/* --diff: the same answers as the unfused interpreter, within 1e-5 relative. */
#define DIFF_RTOL 1e-5
#define DIFF_ATOL 1e-6

static cli_ext conform_ext; /* --backend, --allow-* for every test */
static int conform_diff;    /* also run the unfused interpreter and compare */
static ivm_session_options conform_session; /* --threads, --schedule */
/* The reference of --diff: one thread, program order. */
static const ivm_session_options reference_session = {{0}, 1, IVM_SCHEDULE_SEQUENTIAL};

typedef struct test_case {
  char *dir;  /* path of the test directory */
  char *name; /* "<suite>/<test>" */
  char result; /* 'P', 'F', 'S' */
  char msg[512];
  pid_t pid;
  int fd;
  size_t got;
} test_case;

static int is_dir(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int has_model(const char *dir) {
  char p[4096];
  cli_fmt(p, sizeof p, "%s/model.onnx", dir);
  return access(p, R_OK) == 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted subdirectory names of dir matching prefix. */
static char **list_dirs(const char *dir, const char *prefix, int *out_n) {
  *out_n = 0;
  DIR *d = opendir(dir);
  if (!d) return NULL;
  char **v = NULL;
  int n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.' || strncmp(e->d_name, prefix, strlen(prefix)) != 0) continue;
    char p[4096];
    cli_fmt(p, sizeof p, "%s/%s", dir, e->d_name);
    if (!is_dir(p)) continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      char **nv = realloc(v, (size_t)cap * sizeof *v);
      if (!nv) break;
      v = nv;
    }
    v[n++] = strdup(e->d_name);
  }
  closedir(d);
  if (v) qsort(v, (size_t)n, sizeof *v, cmp_str);
  *out_n = n;
  return v;
}

static double element(const void *p, int dtype, size_t i) {
  switch (dtype) {
    case IVM_DT_F32: return ((const float *)p)[i];
    case IVM_DT_F64: return ((const double *)p)[i];
    case IVM_DT_F16: return isa_f16_to_f32(((const uint16_t *)p)[i]);
    case IVM_DT_BF16: return isa_bf16_to_f32(((const uint16_t *)p)[i]);
    default: return 0;
  }
}

static ivm_status compare_tol(const char *name, const ivm_tensor_view *got, ivm_host_tensor *ref,
                              double rtol, double atol) {
  if (got->dtype == IVM_DT_BF16 && ref->dtype == IVM_DT_U16) ref->dtype = IVM_DT_BF16;
  if (got->dtype != ref->dtype)
    return ivm_error(IVM_ERR_RUNTIME, "%s: dtype %s, expected %s", name, ivm_dtype_name(got->dtype),
                     ivm_dtype_name(ref->dtype));
  int same = got->rank == ref->rank;
  for (int d = 0; same && d < got->rank; d++) same = got->dims[d] == ref->dims[d];
  if (!same) {
    char a[128] = "", b[128] = "";
    for (int d = 0; d < got->rank; d++)
      cli_fmt(a + strlen(a), sizeof a - strlen(a), "%s%lld", d ? "," : "", (long long)got->dims[d]);
    for (int d = 0; d < ref->rank; d++)
      cli_fmt(b + strlen(b), sizeof b - strlen(b), "%s%lld", d ? "," : "", (long long)ref->dims[d]);
    return ivm_error(IVM_ERR_RUNTIME, "%s: shape [%s], expected [%s]", name, a, b);
  }
  if (got->nbytes != ref->nbytes)
    return ivm_error(IVM_ERR_RUNTIME, "%s: %zu bytes, expected %zu", name, got->nbytes, ref->nbytes);
  if (!isa_dtype_is_float(ref->dtype)) {
    if (got->nbytes && memcmp(got->data, ref->data, got->nbytes) != 0)
      return ivm_error(IVM_ERR_RUNTIME, "%s: values differ", name);
    return NULL;
  }
  size_t n = got->nbytes / ivm_dtype_size(got->dtype);
  double worst = 0;
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < n; i++) {
    double g = element(got->data, got->dtype, i), r = element(ref->data, ref->dtype, i);
    if (isnan(g) && isnan(r)) continue;
    if (isinf(g) && isinf(r) && (g > 0) == (r > 0)) continue;
    double diff = fabs(g - r);
    if (!(diff <= atol + rtol * fabs(r))) {
      if (!bad) first = i;
      bad++;
      if (!(diff <= worst)) worst = diff;
    }
  }
  if (bad)
    return ivm_error(IVM_ERR_RUNTIME, "%s: %zu of %zu values differ (max abs diff %.3g, first at %zu)",
                     name, bad, n, worst, first);
  return NULL;
}

static ivm_status compare(const char *name, const ivm_tensor_view *got, ivm_host_tensor *ref) {
  return compare_tol(name, got, ref, RTOL, ATOL);
}

static ivm_status read_pb(const char *dir, const char *kind, int k, ivm_host_tensor *t, int *found) {
  char p[4096];
  cli_fmt(p, sizeof p, "%s/%s_%d.pb", dir, kind, k);
  *found = access(p, R_OK) == 0;
  if (!*found) return NULL;
  return ivm_host_tensor_read_file(p, t);
}

/* A sequence / optional output against output_k.pb (SequenceProto / OptionalProto): the
 * same presence, the same number of tensors, each compared like a tensor output. */
static ivm_status compare_value(const char *ds, ivm_session *s, uint32_t k, const ivm_tensor_info *info) {
  char p[4096];
  cli_fmt(p, sizeof p, "%s/output_%u.pb", ds, k);
  if (access(p, R_OK) != 0) return NULL;
  ivm_host_value ref;
  IVM_TRY(ivm_host_value_read_file(p, info->kind, &ref));
  int32_t has = 0;
  uint32_t cnt = 0;
  ivm_status st = ivm_session_output_sequence(s, k, &has, &cnt);
  if (!st && (has != 0) != (ref.has_value != 0))
    st = ivm_error(IVM_ERR_RUNTIME, "%s: %s a value, the reference %s", info->name,
                   has ? "holds" : "holds no", ref.has_value ? "does" : "does not");
  if (!st && has && cnt != ref.count)
    st = ivm_error(IVM_ERR_RUNTIME, "%s: %u tensors, the reference has %u", info->name, cnt, ref.count);
  for (uint32_t j = 0; !st && has && j < cnt; j++) {
    ivm_tensor_view got;
    char nm[300];
    cli_fmt(nm, sizeof nm, "%s[%u]", info->name, j);
    st = ivm_session_output_item(s, k, j, &got);
    if (!st) st = compare(nm, &got, &ref.items[j]);
  }
  ivm_host_value_free(&ref);
  return st;
}

static ivm_status bind_and_run(ivm_module *m, ivm_session *s, const char *ds) {
  for (uint32_t k = 0;; k++) {
    char p[4096];
    cli_fmt(p, sizeof p, "%s/input_%u.pb", ds, k);
    if (access(p, R_OK) != 0) break;
    if (k >= ivm_module_input_count(m))
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "input_%u.pb: the model has %u inputs", k,
                       ivm_module_input_count(m));
    IVM_TRY(cli_bind_file(m, s, k, p));
  }
  return ivm_session_run(s);
}

/* Runs the data set on `other` too (the interpreter, in program order on one thread) and
 * compares every tensor output of the two within DIFF_RTOL. */
static ivm_status diff_backends(ivm_module *m, ivm_session *s, ivm_module *other,
                                const char *ds) {
  ivm_session *s2 = NULL;
  IVM_TRY(ivm_session_create(other, &reference_session, &s2));
  ivm_status st = bind_and_run(other, s2, ds);
  for (uint32_t k = 0; !st && k < ivm_module_output_count(m); k++) {
    ivm_tensor_info info;
    ivm_tensor_view got, want;
    st = ivm_module_output_info(m, k, &info);
    if (st || info.kind != IVM_VALUE_TENSOR) continue;
    st = ivm_session_output(s, k, &got);
    if (!st) st = ivm_session_output(s2, k, &want);
    if (st) break;
    ivm_host_tensor ref = {NULL, want.dtype, want.rank, {0}, (void *)want.data, want.nbytes};
    memcpy(ref.dims, want.dims, sizeof ref.dims);
    st = compare_tol(info.name, &got, &ref, DIFF_RTOL, DIFF_ATOL);
    if (st) st = ivm_status_wrap(st, "%s", m == other ? "scheduled vs sequential" : "jit vs interpreter");
  }
  ivm_session_destroy(s2);
  return st;
}

static ivm_status run_data_set(ivm_module *m, ivm_module *other, const char *ds) {
  ivm_session *s = NULL;
  IVM_TRY(ivm_session_create(m, &conform_session, &s));
  ivm_status st = bind_and_run(m, s, ds);
  if (!st && other) st = diff_backends(m, s, other, ds);
  for (uint32_t k = 0; !st && k < ivm_module_output_count(m); k++) {
    ivm_tensor_info oi;
    st = ivm_module_output_info(m, k, &oi);
    if (!st && oi.kind != IVM_VALUE_TENSOR) {
      st = compare_value(ds, s, k, &oi);
      continue;
    }
    ivm_host_tensor ref;
    int found;
    st = read_pb(ds, "output", (int)k, &ref, &found);
    if (st || !found) break;
    ivm_tensor_info info;
    ivm_tensor_view got;
    st = ivm_module_output_info(m, k, &info);
    if (!st) st = ivm_session_output(s, k, &got);
    if (!st) st = compare(info.name, &got, &ref);
    ivm_host_tensor_free(&ref);
  }
  ivm_session_destroy(s);
  return st;
}

/* Runs in the child: writes "<P|F|S><message>" to fd. */
static void run_case(const char *dir, int fd) {
  char p[4096], out[600];
  cli_fmt(p, sizeof p, "%s/model.onnx", dir);
  void *bytes = NULL;
  size_t size = 0;
  ivm_module *m = NULL, *interp = NULL;
  ivm_load_options lo;
  cli_ext_load_options(&conform_ext, &lo);
  ivm_compile_options co = {lo.allow_plugins, lo.n_allow_plugins, NULL, 0};
  ivm_status st = ivm_compile_onnx_file_opts(p, &co, &bytes, &size, NULL);
  char kind = 'F';
  if (st && ivm_status_get_code(st) == IVM_ERR_UNSUPPORTED) kind = 'S';
  if (!st) st = ivm_module_load_memory(bytes, size, 0, &lo, &m);
  ivm_free(bytes);
  if (!st && conform_diff) {
    /* The reference: the model compiled without the pattern fusions (IVM_FUSE=0; this
     * child process only), on the interpreter, in program order on one thread. */
    setenv("IVM_FUSE", "0", 1);
    cli_fmt(p, sizeof p, "%s/model.onnx", dir);
    st = ivm_compile_onnx_file_opts(p, &co, &bytes, &size, NULL);
    unsetenv("IVM_FUSE");
    lo.backend = IVM_BACKEND_INTERP;
    if (!st) st = ivm_module_load_memory(bytes, size, 0, &lo, &interp);
    if (st) st = ivm_status_wrap(st, "the unfused reference");
    ivm_free(bytes);
  }
  ivm_module *other = interp;
  int n_sets = 0;
  char **sets = st ? NULL : list_dirs(dir, "test_data_set_", &n_sets);
  for (int i = 0; !st && i < n_sets; i++) {
    cli_fmt(p, sizeof p, "%s/%s", dir, sets[i]);
    st = run_data_set(m, other, p);
    if (st) st = ivm_status_wrap(st, "%s", sets[i]);
  }
  for (int i = 0; i < n_sets; i++) free(sets[i]);
  free(sets);
  ivm_module_release(interp);
  ivm_module_release(m);
  if (st) cli_fmt(out, sizeof out, "%c%s", kind, ivm_status_message(st));
  else cli_fmt(out, sizeof out, "P");
  ivm_status_free(st);
  size_t len = strlen(out), off = 0;
  while (off < len) {
    ssize_t w = write(fd, out + off, len - off);
    if (w <= 0) break;
    off += (size_t)w;
  }
}

static void collect(const char *arg, test_case **v, int *n, int *cap) {
  char *path = strdup(arg);
  size_t L = strlen(path);
  while (L > 1 && path[L - 1] == '/') path[--L] = 0;
  char **names = NULL;
  int k = 0;
  if (has_model(path)) {
    names = malloc(sizeof *names);
    names[0] = strdup("");
    k = 1;
  } else {
    names = list_dirs(path, "", &k);
  }
  for (int i = 0; i < k; i++) {
    char dir[4096];
    if (names[i][0]) cli_fmt(dir, sizeof dir, "%s/%s", path, names[i]);
    else cli_fmt(dir, sizeof dir, "%s", path);
    if (has_model(dir)) {
      if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 256;
        *v = realloc(*v, (size_t)*cap * sizeof **v);
      }
      test_case *t = &(*v)[(*n)++];
      memset(t, 0, sizeof *t);
      t->dir = strdup(dir);
      /* name: parent directory's basename / test directory's basename */
      char tmp[4096];
      cli_fmt(tmp, sizeof tmp, "%s", dir);
      char *base = strrchr(tmp, '/');
      char *test = base ? base + 1 : tmp;
      if (base) *base = 0;
      char *suite = strrchr(tmp, '/');
      suite = suite ? suite + 1 : (base ? tmp : "");
      char nm[8300];
      cli_fmt(nm, sizeof nm, "%s%s%s", suite, suite[0] ? "/" : "", test);
      t->name = strdup(nm);
    }
    free(names[i]);
  }
  free(names);
  free(path);
}

static int in_list(char **list, int n, const char *name) {
  for (int i = 0; i < n; i++)
    if (strcmp(list[i], name) == 0) return 1;
  return 0;
}

static void write_markdown(const char *path, test_case *v, int n) {
  FILE *f = fopen(path, "w");
  if (!f) {
    fprintf(stderr, "ivm conform: cannot write %s\n", path);
    return;
  }
  fprintf(f, "# ONNX conformance\n\nGenerated by `ivm conform --markdown`; do not edit.\n"
             "Tolerance: rtol %g, atol %g; integers and bools exact.\n\n", RTOL, ATOL);
  fprintf(f, "| suite | passed | failed | skipped |\n|---|---|---|---|\n");
  for (int i = 0; i < n;) {
    const char *slash = strchr(v[i].name, '/');
    int sl = slash ? (int)(slash - v[i].name) : 0;
    int p = 0, fl = 0, s = 0, j = i;
    for (; j < n && strncmp(v[j].name, v[i].name, (size_t)sl) == 0 && v[j].name[sl] == '/'; j++)
      v[j].result == 'P' ? p++ : v[j].result == 'S' ? s++ : fl++;
    if (j == i) j = i + 1; /* a test without a suite prefix */
    fprintf(f, "| %.*s | %d | %d | %d |\n", sl, v[i].name, p, fl, s);
    i = j;
  }
  fprintf(f, "\n| test | result | detail |\n|---|---|---|\n");
  for (int i = 0; i < n; i++) {
    char msg[512];
    cli_fmt(msg, sizeof msg, "%s", v[i].msg);
    for (char *c = msg; *c; c++)
      if (*c == '|' || *c == '\n') *c = ' ';
    fprintf(f, "| %s | %s | %s |\n", v[i].name,
            v[i].result == 'P' ? "pass" : v[i].result == 'S' ? "skip" : "FAIL", msg);
  }
  fclose(f);
}

int cmd_conform(int argc, char **argv) {
  const char *usage = "[-j N] [--timeout SEC] [--expect FILE] [--markdown FILE]\n"
                      "    [--backend interp|jit] [--threads N] [--schedule auto|seq|graph] [--diff]\n"
                      "    [--allow-plugin PATH]... DIR...";
  const char *expect = NULL, *markdown = NULL;
  int jobs = (int)sysconf(_SC_NPROCESSORS_ONLN), timeout = 120;
  test_case *v = NULL;
  int n = 0, cap = 0;
  for (int i = 1; i < argc; i++) {
    if (cli_is_help(argv[i])) {
      printf("usage: ivm conform %s\n\n"
             "Runs ONNX backend-test directories. DIR is a test (holding model.onnx and\n"
             "test_data_set_N/) or a folder of tests. Each test is compiled, run on every data\n"
             "set and compared with the reference outputs (rtol %g, atol %g; integers\n"
             "exactly), in its own process. Prints one line per test and ends with\n"
             "'N passed, N failed, N skipped' (skipped: an op or type IVM does not support).\n"
             "  --expect FILE    tests listed in FILE must pass (exit 1 otherwise); passing\n"
             "                   tests not listed are reported so they can be added\n"
             "  --markdown FILE  write a pass/fail table (docs/conformance.md)\n"
             "  -j N             parallel processes (default: cores)\n"
             "  --threads N      threads per test session (default: cores)\n"
             "  --schedule MODE  auto, seq or graph (ivm run --help)\n"
             "  --diff           also compile every test without the pattern fusions\n"
             "                   (IVM_FUSE=0), run it on the interpreter in program order on\n"
             "                   one thread, and require the same outputs within rtol %g,\n"
             "                   atol %g (the fused module on --backend, --threads and\n"
             "                   --schedule against that reference)\n%s",
             usage, RTOL, ATOL, DIFF_RTOL, DIFF_ATOL, cli_ext_help);
      return CLI_OK;
    } else if (strcmp(argv[i], "--diff") == 0) {
      conform_diff = 1;
    } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      conform_session.threads = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--schedule") == 0 && i + 1 < argc) {
      if (!cli_parse_schedule(argv[++i], &conform_session.schedule))
        return cli_usage("conform", usage);
    } else if (strcmp(argv[i], "-j") == 0 && i + 1 < argc) {
      jobs = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
      timeout = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--expect") == 0 && i + 1 < argc) {
      expect = argv[++i];
    } else if (strcmp(argv[i], "--markdown") == 0 && i + 1 < argc) {
      markdown = argv[++i];
    } else if (argv[i][0] == '-') {
      int took = cli_ext_arg("conform", argc, argv, &i, &conform_ext);
      if (took <= 0) return cli_usage("conform", usage);
    } else {
      if (!is_dir(argv[i])) {
        fprintf(stderr, "ivm conform: %s: not a directory\n", argv[i]);
        return CLI_ERROR;
      }
      collect(argv[i], &v, &n, &cap);
    }
  }
  if (!n) return cli_usage("conform", usage);
  if (jobs < 1) jobs = 1;
  int tty = isatty(2), next = 0, running = 0, done = 0, np = 0, nf = 0, ns = 0;
  fflush(stdout);
  while (done < n) {
    while (running < jobs && next < n) {
      test_case *t = &v[next++];
      int pfd[2];
      if (pipe(pfd) != 0) {
        t->result = 'F';
        cli_fmt(t->msg, sizeof t->msg, "pipe failed");
        done++;
        continue;
      }
      pid_t pid = fork();
      if (pid == 0) {
        close(pfd[0]);
        alarm((unsigned)timeout);
        run_case(t->dir, pfd[1]);
        close(pfd[1]);
        _exit(0);
      }
      close(pfd[1]);
      t->pid = pid;
      t->fd = pfd[0];
      running++;
    }
    int status;
    pid_t pid = wait(&status);
    if (pid < 0) break;
    for (int i = 0; i < n; i++) {
      test_case *t = &v[i];
      if (t->pid != pid) continue;
      char buf[600];
      ssize_t r = read(t->fd, buf, sizeof buf - 1);
      close(t->fd);
      t->pid = 0;
      if (WIFSIGNALED(status) || r <= 0) {
        t->result = 'F';
        int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
        cli_fmt(t->msg, sizeof t->msg, "%s", sig == SIGALRM ? "timeout" : "crashed");
        if (sig && sig != SIGALRM)
          cli_fmt(t->msg, sizeof t->msg, "crashed (signal %d)", sig);
      } else {
        buf[r] = 0;
        t->result = buf[0];
        cli_fmt(t->msg, sizeof t->msg, "%s", buf + 1);
      }
      t->result == 'P' ? np++ : t->result == 'S' ? ns++ : nf++;
      printf("%s %s%s%s\n", t->result == 'P' ? "PASS" : t->result == 'S' ? "SKIP" : "FAIL",
             t->name, t->msg[0] ? ": " : "", t->msg);
      fflush(stdout);
      running--;
      done++;
      if (tty) fprintf(stderr, "\r\033[K[%d/%d] %d passed, %d failed, %d skipped", done, n, np, nf, ns);
      break;
    }
  }
  if (tty) fprintf(stderr, "\r\033[K");
  printf("%d passed, %d failed, %d skipped\n", np, nf, ns);
  if (markdown) write_markdown(markdown, v, n);
  int rc = CLI_OK;
  if (expect) {
    char *text;
    size_t len;
    ivm_status st = cli_read_file(expect, &text, &len);
    if (st) return cli_fail("conform", st);
    char **list = NULL;
    int nl = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
      while (*line == ' ' || *line == '\t') line++;
      if (!*line || *line == '#') continue;
      list = realloc(list, (size_t)(nl + 1) * sizeof *list);
      list[nl++] = line;
    }
    int regress = 0, fresh = 0;
    for (int i = 0; i < n; i++) {
      int listed = in_list(list, nl, v[i].name);
      if (listed && v[i].result != 'P') {
        printf("REGRESSION %s: listed in %s but did not pass: %s\n", v[i].name, expect, v[i].msg);
        regress++;
      } else if (!listed && v[i].result == 'P') {
        printf("NEW PASS %s: passes but is not listed in %s; add it\n", v[i].name, expect);
        fresh++;
      }
    }
    printf("expectations: %d regressions, %d new passes\n", regress, fresh);
    if (regress) rc = CLI_ERROR;
    free(list);
    free(text);
  }
  for (int i = 0; i < n; i++) {
    free(v[i].dir);
    free(v[i].name);
  }
  free(v);
  return rc;
}
