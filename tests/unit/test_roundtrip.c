/* Every module the compiler emits for the ONNX test models survives the text round trip
 * byte for byte: asm(dis(m)) == m. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "isa/module.h"
#include "ivm/ivm.h"

static int roundtrip_dir(const char *root, int *compiled) {
  DIR *d = opendir(root);
  if (!d) return 0;
  int failures = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%.200s/model.onnx", root, e->d_name);
    if (access(path, R_OK) != 0) continue;
    void *bytes;
    size_t size;
    ivm_status st = ivm_compile_onnx_file(path, &bytes, &size, NULL);
    if (st) { /* unsupported models are the conformance suite's business */
      ivm_status_free(st);
      continue;
    }
    (*compiled)++;
    void *aligned = aligned_alloc(64, (size + 63) / 64 * 64);
    memcpy(aligned, bytes, size);
    isa_module m;
    char *text = NULL;
    size_t len = 0;
    uint8_t *again = NULL;
    size_t again_size = 0;
    st = isa_module_open(aligned, size, path, &m);
    if (!st) st = isa_disassemble(&m, &text, &len);
    if (!st) st = isa_assemble(text, len, path, &again, &again_size);
    if (st) {
      cr_log_error("%s: %s", path, ivm_status_message(st));
      ivm_status_free(st);
      failures++;
    } else if (again_size != size || memcmp(again, bytes, size) != 0) {
      cr_log_error("%s: asm(dis(m)) differs from m", path);
      failures++;
    }
    free(text);
    free(again);
    free(aligned);
    ivm_free(bytes);
  }
  closedir(d);
  return failures;
}

Test(roundtrip, every_compiled_test_model, .timeout = 600) {
  const char *roots[] = {"/usr/share/libonnx-testdata/data/node",
                         "/usr/share/libonnx-testdata/data/pytorch-converted",
                         "/usr/share/libonnx-testdata/data/pytorch-operator",
                         "/usr/share/libonnx-testdata/data/simple"};
  int failures = 0, compiled = 0;
  for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++)
    failures += roundtrip_dir(roots[i], &compiled);
  cr_log_info("%d modules round-tripped", compiled);
  cr_assert(compiled > 100, "only %d test models compiled", compiled);
  cr_assert_eq(failures, 0, "%d modules did not round-trip", failures);
}
