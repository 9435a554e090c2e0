/* The JIT engine: one ORC LLJIT, a host TargetMachine, and the on-disk object cache.
 *
 * jit_compile hashes the expression's canonical bytes together with everything that
 * changes the machine code (host CPU name and features, target triple, LLVM version,
 * JIT_CODEGEN_VERSION, which libmvec functions were found) into a 128-bit key. A cache file <dir>/<key>.o holds the object
 * LLVM emitted for it; loading that file links the object and compiles nothing. On a miss
 * the IR is built (jit/codegen.c), optimised with the O3 pipeline, emitted as an object,
 * written to the cache (temp file + rename, so readers never see half a file) and linked.
 *
 * Cache file layout: the ELF object, then the expression's bytes, then a trailer (magic,
 * lengths, key, CRC-32 of the object). The trailer lets a load prove the file is whole and
 * belongs to this very expression before LLVM parses it; any mismatch means "compile".
 * The cache directory is trusted like the user's other files: a file forged with a valid
 * CRC is handed to LLVM's object loader.
 *
 * Thread-safety: an engine is thread-safe (one mutex around compiles); compiled functions
 * may run concurrently from any thread until the engine is destroyed. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/Core.h>
#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include "isa/format.h"
#include "isa/status.h"
#include "jit/codegen.h"
#include "jit/jit.h"

/* Bump whenever the generated code changes: old cache entries then stop matching. */
#define JIT_CODEGEN_VERSION 2u

static const char cache_magic[8] = {'I', 'V', 'M', 'J', 'I', 'T', 'O', '1'};

typedef struct cache_trailer {
  char magic[8];
  uint64_t obj_len, expr_len;
  uint64_t key[2];
  uint32_t obj_crc, codegen_version;
} cache_trailer;

typedef struct jit_entry {
  uint64_t key[2];
  rt_expr_fn fn;
} jit_entry;

struct jit_engine {
  pthread_mutex_t mu;
  LLVMOrcLLJITRef lljit;
  LLVMTargetMachineRef tm;
  char *cache_dir;     /* NULL: no cache */
  int cache_writable;  /* the directory accepts new files */
  unsigned vector_bits; /* widest vector registers of the host */
  jit_vlib vlib;       /* libmvec, when the process can load it */
  uint64_t salt[2];    /* the hashes of the host description, extended per expression */
  jit_entry *entries;  /* functions compiled by this engine, by key */
  uint32_t n_entries, cap_entries;
  uint32_t n_retries;  /* names used for recompiles after a cached object failed to link */
  jit_engine_stats stats;
};

/* ---- LLVM setup ----------------------------------------------------------------------- */
static pthread_once_t llvm_once = PTHREAD_ONCE_INIT;
static int llvm_init_failed;

static void init_llvm(void) {
  llvm_init_failed = LLVMInitializeNativeTarget() || LLVMInitializeNativeAsmPrinter();
}

static ivm_status llvm_error(LLVMErrorRef err, const char *what) {
  char *msg = LLVMGetErrorMessage(err);
  ivm_status st = ivm_error(IVM_ERR_INTERNAL, "jit: %s: %s", what, msg ? msg : "(no message)");
  LLVMDisposeErrorMessage(msg);
  return st;
}

/* "+name" as a whole entry of LLVM's comma-separated feature list. */
static int has_feature(const char *features, const char *name) {
  size_t n = strlen(name);
  for (const char *p = features; (p = strstr(p, name)) != NULL; p += n) {
    if (p > features && p[-1] == '+' && (p - 1 == features || p[-2] == ',') &&
        (p[n] == ',' || p[n] == '\0'))
      return 1;
  }
  return 0;
}

/* ---- hashing -------------------------------------------------------------------------- */
/* Two independent 64-bit hashes: FNV-1a, and a multiply-xorshift mix with other constants,
 * so a collision needs both to collide. */
static void hash_bytes(uint64_t h[2], const void *data, size_t len) {
  const unsigned char *p = data;
  for (size_t i = 0; i < len; i++) {
    h[0] = (h[0] ^ p[i]) * 0x100000001b3ull;
    h[1] = (h[1] ^ p[i]) * 0x9e3779b97f4a7c15ull;
    h[1] ^= h[1] >> 29;
  }
}

static void hash_str(uint64_t h[2], const char *s) { hash_bytes(h, s, strlen(s) + 1); }

/* ---- files ------------------------------------------------------------------------------ */
/* mkdir -p; 0 when path is (now) a directory. */
static int make_dirs(const char *path) {
  size_t len = strlen(path);
  char *p = malloc(len + 1);
  if (!p) return -1;
  memcpy(p, path, len + 1);
  for (size_t i = 1; i <= len; i++) {
    if (p[i] != '/' && p[i] != '\0') continue;
    char c = p[i];
    p[i] = '\0';
    if (mkdir(p, 0777) != 0 && errno != EEXIST) {
      free(p);
      return -1;
    }
    p[i] = c;
  }
  free(p);
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}

static char *cache_path(const jit_engine *j, const uint64_t key[2], const char *suffix) {
  size_t n = strlen(j->cache_dir) + 64;
  char *path = malloc(n);
  if (path)
    snprintf(path, n, "%s/%016llx%016llx%s", j->cache_dir, (unsigned long long)key[0],
             (unsigned long long)key[1], suffix);
  return path;
}

/* The whole file, or NULL when it cannot be read (a missing file is the common case). */
static unsigned char *read_file(const char *path, size_t *out_len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  struct stat st;
  unsigned char *buf = NULL;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
    size_t len = (size_t)st.st_size, got = 0;
    buf = malloc(len);
    while (buf && got < len) {
      ssize_t r = read(fd, buf + got, len - got);
      if (r <= 0) {
        if (r < 0 && errno == EINTR) continue;
        free(buf);
        buf = NULL;
      } else {
        got += (size_t)r;
      }
    }
    *out_len = len;
  }
  close(fd);
  return buf;
}

static int write_all(int fd, const void *data, size_t len) {
  const unsigned char *p = data;
  while (len) {
    ssize_t w = write(fd, p, len);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

/* Best effort: a cache that cannot be written only costs a compile next time. */
static void cache_store(jit_engine *j, const uint64_t key[2], const char *obj, size_t obj_len,
                        const uint8_t *expr, size_t expr_len) {
  static atomic_uint tmp_counter; /* engines of one process may store the same key at once */
  char suffix[64];
  snprintf(suffix, sizeof suffix, ".o.tmp.%ld.%u", (long)getpid(), atomic_fetch_add(&tmp_counter, 1));
  char *tmp = cache_path(j, key, suffix), *path = cache_path(j, key, ".o");
  if (!tmp || !path) goto out;
  cache_trailer t;
  memset(&t, 0, sizeof t);
  memcpy(t.magic, cache_magic, sizeof t.magic);
  t.obj_len = obj_len;
  t.expr_len = expr_len;
  t.key[0] = key[0];
  t.key[1] = key[1];
  t.obj_crc = isa_crc32(0, obj, obj_len);
  t.codegen_version = JIT_CODEGEN_VERSION;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) goto out;
  int bad = write_all(fd, obj, obj_len) || write_all(fd, expr, expr_len) ||
            write_all(fd, &t, sizeof t);
  bad |= close(fd) != 0;
  if (bad || rename(tmp, path) != 0) unlink(tmp);
out:
  free(tmp);
  free(path);
}

/* The object inside a cache file, if the file is whole and made for exactly this
 * expression and key; else 0. */
static int cache_file_valid(const unsigned char *buf, size_t len, const uint64_t key[2],
                            const uint8_t *expr, size_t expr_len, size_t *out_obj_len) {
  cache_trailer t;
  if (len < sizeof t) return 0;
  memcpy(&t, buf + len - sizeof t, sizeof t);
  if (memcmp(t.magic, cache_magic, sizeof t.magic) != 0 || t.codegen_version != JIT_CODEGEN_VERSION ||
      t.key[0] != key[0] || t.key[1] != key[1] || t.expr_len != expr_len ||
      t.obj_len == 0 || t.obj_len > len - sizeof t - expr_len ||
      t.obj_len + expr_len + sizeof t != len)
    return 0;
  if (memcmp(buf + t.obj_len, expr, expr_len) != 0) return 0;
  if (isa_crc32(0, buf, t.obj_len) != t.obj_crc) return 0;
  *out_obj_len = (size_t)t.obj_len;
  return 1;
}

/* ---- engine ----------------------------------------------------------------------------- */
const char *jit_default_cache_dir(void) {
  static char buf[4096];
  const char *v = getenv("IVM_JIT_CACHE");
  int n;
  if (v) {
    n = snprintf(buf, sizeof buf, "%s", v); /* "" here means: no cache */
  } else if ((v = getenv("XDG_CACHE_HOME")) && v[0] == '/') {
    n = snprintf(buf, sizeof buf, "%s/ivm/jit", v);
  } else if ((v = getenv("HOME")) && v[0]) {
    n = snprintf(buf, sizeof buf, "%s/.cache/ivm/jit", v);
  } else {
    return NULL;
  }
  return n >= 0 && (size_t)n < sizeof buf ? buf : NULL;
}

static void setup_cache(jit_engine *j, const char *cache_dir) {
  if (!cache_dir) cache_dir = jit_default_cache_dir();
  if (!cache_dir || !cache_dir[0] || make_dirs(cache_dir) != 0) return;
  j->cache_dir = strdup(cache_dir);
  /* A read-only directory still serves the objects already in it. */
  j->cache_writable = j->cache_dir && access(cache_dir, W_OK | X_OK) == 0;
}

static ivm_status create_target_machine(jit_engine *j, const char *cpu, const char *features) {
  const char *triple = LLVMOrcLLJITGetTripleString(j->lljit);
  LLVMTargetRef target;
  char *msg = NULL;
  if (LLVMGetTargetFromTriple(triple, &target, &msg)) {
    ivm_status st = ivm_error(IVM_ERR_UNSUPPORTED, "jit: no LLVM target for '%s': %s", triple,
                              msg ? msg : "");
    LLVMDisposeMessage(msg);
    return st;
  }
  j->tm = LLVMCreateTargetMachine(target, triple, cpu, features, LLVMCodeGenLevelAggressive,
                                  LLVMRelocPIC, LLVMCodeModelDefault);
  if (!j->tm) return ivm_error(IVM_ERR_INTERNAL, "jit: cannot create a target machine for '%s'", triple);
  return NULL;
}

/* Loads libmvec and defines its functions in the JIT (best effort: without it codegen
 * calls libm per lane). What was found decides the code, so it is hashed into every key. */
static void setup_vlib(jit_engine *j, int has_avx2) {
  jit_vlib_open(&j->vlib, j->vector_bits, has_avx2);
  LLVMOrcCSymbolMapPair syms[2 * JIT_VFN_COUNT];
  size_t n = 0;
  for (int fn = 0; fn < JIT_VFN_COUNT; fn++) {
    for (int f64 = 0; f64 < 2; f64++) {
      if (!j->vlib.addr[fn][f64]) continue;
      char name[64];
      unsigned lanes;
      jit_vlib_symbol(&j->vlib, (jit_vfn)fn, f64, name, sizeof name, &lanes);
      LLVMJITSymbolFlags flags = {LLVMJITSymbolGenericFlagsExported | LLVMJITSymbolGenericFlagsCallable, 0};
      syms[n].Name = LLVMOrcLLJITMangleAndIntern(j->lljit, name);
      syms[n].Sym.Address = (LLVMOrcExecutorAddress)(uintptr_t)j->vlib.addr[fn][f64];
      syms[n].Sym.Flags = flags;
      n++;
    }
  }
  if (n) {
    LLVMOrcMaterializationUnitRef mu = LLVMOrcAbsoluteSymbols(syms, n);
    LLVMErrorRef err = LLVMOrcJITDylibDefine(LLVMOrcLLJITGetMainJITDylib(j->lljit), mu);
    if (err) {
      LLVMConsumeError(err);
      LLVMOrcDisposeMaterializationUnit(mu);
      jit_vlib_close(&j->vlib);
    }
  }
  char found[2 * JIT_VFN_COUNT + 2] = {j->vlib.isa};
  for (int fn = 0; fn < JIT_VFN_COUNT; fn++)
    for (int f64 = 0; f64 < 2; f64++) found[1 + 2 * fn + f64] = j->vlib.addr[fn][f64] ? '1' : '0';
  hash_str(j->salt, found);
}

ivm_status jit_engine_create(const char *cache_dir, jit_engine **out) {
  if (!out) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "jit_engine_create: out is NULL");
  *out = NULL;
  pthread_once(&llvm_once, init_llvm);
  if (llvm_init_failed)
    return ivm_error(IVM_ERR_UNSUPPORTED, "jit: LLVM has no native target for this host");
  jit_engine *j = calloc(1, sizeof *j);
  if (!j) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "jit: out of memory creating an engine");
  if (pthread_mutex_init(&j->mu, NULL) != 0) {
    free(j);
    return ivm_error(IVM_ERR_INTERNAL, "jit: cannot create a mutex");
  }
  ivm_status st = NULL;
  LLVMErrorRef err = LLVMOrcCreateLLJIT(&j->lljit, NULL);
  if (err) {
    j->lljit = NULL;
    st = llvm_error(err, "cannot create the LLJIT");
    goto fail;
  }
  /* Objects call libm (sinf, pow, tanh, ...): resolve undefined symbols in the process. */
  LLVMOrcDefinitionGeneratorRef gen;
  err = LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(
      &gen, LLVMOrcLLJITGetGlobalPrefix(j->lljit), NULL, NULL);
  if (err) {
    st = llvm_error(err, "cannot search the process for symbols");
    goto fail;
  }
  LLVMOrcJITDylibAddGenerator(LLVMOrcLLJITGetMainJITDylib(j->lljit), gen);

  char *cpu = LLVMGetHostCPUName(), *features = LLVMGetHostCPUFeatures();
  st = create_target_machine(j, cpu, features);
  if (!st) {
    j->vector_bits = has_feature(features, "avx512f") ? 512 : has_feature(features, "avx") ? 256 : 128;
    unsigned major, minor, patch, version = JIT_CODEGEN_VERSION;
    LLVMGetVersion(&major, &minor, &patch);
    unsigned host[4] = {major, minor, patch, version};
    j->salt[0] = 0xcbf29ce484222325ull;
    j->salt[1] = 0x6a09e667f3bcc909ull;
    hash_str(j->salt, cpu);
    hash_str(j->salt, features);
    hash_str(j->salt, LLVMOrcLLJITGetTripleString(j->lljit));
    hash_bytes(j->salt, host, sizeof host);
    setup_vlib(j, has_feature(features, "avx2"));
  }
  LLVMDisposeMessage(cpu);
  LLVMDisposeMessage(features);
  if (st) goto fail;
  setup_cache(j, cache_dir);
  *out = j;
  return NULL;
fail:
  jit_engine_destroy(j);
  return st;
}

void jit_engine_destroy(jit_engine *j) {
  if (!j) return;
  if (j->lljit) {
    LLVMErrorRef err = LLVMOrcDisposeLLJIT(j->lljit);
    if (err) LLVMConsumeError(err); /* nothing to report to: the engine is gone either way */
  }
  if (j->tm) LLVMDisposeTargetMachine(j->tm);
  jit_vlib_close(&j->vlib); /* after the code that calls it is gone */
  pthread_mutex_destroy(&j->mu);
  free(j->cache_dir);
  free(j->entries);
  free(j);
}

void jit_engine_get_stats(const jit_engine *j, jit_engine_stats *out) {
  if (!out) return;
  memset(out, 0, sizeof *out);
  if (!j) return;
  pthread_mutex_lock((pthread_mutex_t *)&j->mu);
  *out = j->stats;
  pthread_mutex_unlock((pthread_mutex_t *)&j->mu);
}

/* ---- compiling ---------------------------------------------------------------------------- */
/* Links an object (taking the buffer) and looks `symbol` up in it. */
static ivm_status link_object(jit_engine *j, LLVMMemoryBufferRef obj, const char *symbol,
                              rt_expr_fn *out) {
  LLVMErrorRef err = LLVMOrcLLJITAddObjectFile(j->lljit, LLVMOrcLLJITGetMainJITDylib(j->lljit), obj);
  if (err) return llvm_error(err, "cannot add the object");
  LLVMOrcExecutorAddress addr = 0;
  err = LLVMOrcLLJITLookup(j->lljit, &addr, symbol);
  if (err) return llvm_error(err, "cannot link the object");
  if (!addr) return ivm_error(IVM_ERR_INTERNAL, "jit: '%s' resolved to address 0", symbol);
  *out = (rt_expr_fn)(uintptr_t)addr;
  return NULL;
}

static void add_string_attr(LLVMContextRef ctx, LLVMValueRef fn, const char *k, const char *v) {
  LLVMAttributeRef a = LLVMCreateStringAttribute(ctx, k, (unsigned)strlen(k), v, (unsigned)strlen(v));
  LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, a);
}

/* IR for e, optimised (O3 with the vectorisers on) and emitted as an object. */
static ivm_status emit_object(jit_engine *j, const rt_expr *e, const char *symbol,
                              LLVMMemoryBufferRef *out) {
  ivm_status st = NULL;
  LLVMContextRef ctx = LLVMContextCreate();
  LLVMModuleRef mod = LLVMModuleCreateWithNameInContext(symbol, ctx);
  LLVMBuilderRef b = LLVMCreateBuilderInContext(ctx);
  char *triple = LLVMGetTargetMachineTriple(j->tm);
  LLVMSetTarget(mod, triple);
  LLVMDisposeMessage(triple);
  LLVMTargetDataRef layout = LLVMCreateTargetDataLayout(j->tm);
  LLVMSetModuleDataLayout(mod, layout);
  LLVMDisposeTargetData(layout);

  jit_cg cg = {ctx, mod, b, jit_expr_lanes(e, j->vector_bits), LLVMInt1TypeInContext(ctx),
               LLVMInt8TypeInContext(ctx), LLVMInt32TypeInContext(ctx), LLVMInt64TypeInContext(ctx),
               LLVMFloatTypeInContext(ctx), LLVMDoubleTypeInContext(ctx),
               LLVMPointerTypeInContext(ctx, 0), &j->vlib};
  st = jit_codegen_function(&cg, e, symbol);
  if (st) goto out;
  char *cpu = LLVMGetTargetMachineCPU(j->tm), *features = LLVMGetTargetMachineFeatureString(j->tm);
  LLVMValueRef fn = LLVMGetNamedFunction(mod, symbol);
  add_string_attr(ctx, fn, "target-cpu", cpu);
  add_string_attr(ctx, fn, "target-features", features);
  LLVMDisposeMessage(cpu);
  LLVMDisposeMessage(features);

  char *msg = NULL;
  if (LLVMVerifyModule(mod, LLVMReturnStatusAction, &msg)) {
    st = ivm_error(IVM_ERR_INTERNAL, "jit: generated IR for '%s' is invalid: %s", symbol, msg);
    LLVMDisposeMessage(msg);
    goto out;
  }
  LLVMDisposeMessage(msg);
  msg = NULL;
  LLVMPassBuilderOptionsRef opts = LLVMCreatePassBuilderOptions();
  LLVMPassBuilderOptionsSetLoopVectorization(opts, 1);
  LLVMPassBuilderOptionsSetSLPVectorization(opts, 1);
  LLVMPassBuilderOptionsSetLoopUnrolling(opts, 1);
  LLVMErrorRef err = LLVMRunPasses(mod, "default<O3>", j->tm, opts);
  LLVMDisposePassBuilderOptions(opts);
  if (err) {
    st = llvm_error(err, "optimising the expression");
    goto out;
  }
  if (LLVMTargetMachineEmitToMemoryBuffer(j->tm, mod, LLVMObjectFile, &msg, out)) {
    st = ivm_error(IVM_ERR_INTERNAL, "jit: cannot emit an object for '%s': %s", symbol,
                   msg ? msg : "");
    LLVMDisposeMessage(msg);
  }
out:
  LLVMDisposeBuilder(b);
  LLVMDisposeModule(mod);
  LLVMContextDispose(ctx);
  return st;
}

/* Compiles e under `symbol`, stores the object in the cache when `store`, and links it. */
static ivm_status compile_fresh(jit_engine *j, const rt_expr *e, const char *symbol,
                                const uint64_t key[2], const uint8_t *bytes, size_t len,
                                int store, rt_expr_fn *out) {
  LLVMMemoryBufferRef obj = NULL;
  IVM_TRY(emit_object(j, e, symbol, &obj));
  if (store)
    cache_store(j, key, LLVMGetBufferStart(obj), LLVMGetBufferSize(obj), bytes, len);
  IVM_TRY(link_object(j, obj, symbol, out));
  j->stats.compiled++;
  return NULL;
}

/* Links the cached object for key if there is a valid one: 1 when *out was set. A valid
 * file that LLVM still refuses is deleted; *out_poisoned then says `symbol` may be half
 * defined in the JIT and must not be reused. */
static int load_cached(jit_engine *j, const uint64_t key[2], const uint8_t *bytes, size_t len,
                       const char *symbol, rt_expr_fn *out, int *out_poisoned) {
  char *path = cache_path(j, key, ".o");
  if (!path) return 0;
  size_t file_len = 0, obj_len = 0;
  unsigned char *buf = read_file(path, &file_len);
  int ok = 0;
  if (buf && cache_file_valid(buf, file_len, key, bytes, len, &obj_len)) {
    LLVMMemoryBufferRef obj = LLVMCreateMemoryBufferWithMemoryRangeCopy((const char *)buf, obj_len, symbol);
    ivm_status st = obj ? link_object(j, obj, symbol, out) : ivm_error(IVM_ERR_OUT_OF_MEMORY, "jit");
    ok = st == NULL;
    if (st) {
      ivm_status_free(st);
      *out_poisoned = 1;
      if (j->cache_writable) unlink(path);
    }
  }
  free(buf);
  free(path);
  return ok;
}

static ivm_status remember(jit_engine *j, const uint64_t key[2], rt_expr_fn fn) {
  if (j->n_entries == j->cap_entries) {
    uint32_t cap = j->cap_entries ? 2 * j->cap_entries : 16;
    jit_entry *grown = realloc(j->entries, cap * sizeof *grown);
    if (!grown) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "jit: out of memory");
    j->entries = grown;
    j->cap_entries = cap;
  }
  j->entries[j->n_entries++] = (jit_entry){{key[0], key[1]}, fn};
  return NULL;
}

static ivm_status compile_locked(jit_engine *j, const rt_expr *e, const uint8_t *bytes,
                                 size_t len, rt_expr_fn *out) {
  uint64_t key[2] = {j->salt[0], j->salt[1]};
  hash_bytes(key, bytes, len);
  for (uint32_t i = 0; i < j->n_entries; i++) {
    if (j->entries[i].key[0] == key[0] && j->entries[i].key[1] == key[1]) {
      *out = j->entries[i].fn;
      return NULL;
    }
  }
  char symbol[80];
  snprintf(symbol, sizeof symbol, "ivm_expr_%016llx%016llx", (unsigned long long)key[0],
           (unsigned long long)key[1]);
  rt_expr_fn fn = NULL;
  int poisoned = 0;
  if (j->cache_dir && load_cached(j, key, bytes, len, symbol, &fn, &poisoned)) {
    j->stats.cache_hits++;
  } else {
    if (poisoned) /* the failed object may have claimed the name */
      snprintf(symbol + strlen(symbol), sizeof symbol - strlen(symbol), "_r%u", ++j->n_retries);
    IVM_TRY(compile_fresh(j, e, symbol, key, bytes, len, j->cache_dir && j->cache_writable && !poisoned,
                          &fn));
  }
  IVM_TRY(remember(j, key, fn));
  *out = fn;
  return NULL;
}

ivm_status jit_compile(jit_engine *j, const rt_expr *e, rt_expr_fn *out_fn) {
  if (!j || !out_fn) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "jit_compile: NULL engine or output");
  *out_fn = NULL;
  IVM_TRY(jit_expr_check(e));
  uint8_t *bytes = NULL;
  size_t len = 0;
  IVM_TRY(rt_expr_serialize(e, &bytes, &len));
  pthread_mutex_lock(&j->mu);
  ivm_status st = compile_locked(j, e, bytes, len, out_fn);
  if (!st) j->stats.functions++;
  pthread_mutex_unlock(&j->mu);
  free(bytes);
  return st;
}
