/* Errors are values: an ivm_status is NULL on success or a heap object with a code and a
 * message. Context is added as the error travels up (ivm_status_wrap), so the final
 * message reads "file: section: instruction 12 (Conv, node 'conv1'): what went wrong". */
#ifndef IVM_ISA_STATUS_H
#define IVM_ISA_STATUS_H

#include "ivm/ivm.h"

#if defined(__GNUC__)
#define IVM_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define IVM_NODISCARD __attribute__((warn_unused_result))
#else
#define IVM_PRINTF(a, b)
#define IVM_NODISCARD
#endif

/* Never fails: if the status itself cannot be allocated, a static out-of-memory status
 * is returned (freeing it is a no-op). */
ivm_status ivm_error(ivm_status_code code, const char *fmt, ...) IVM_PRINTF(2, 3);
/* Prefixes the message with "context: ". Returns the same (or a replacement) status;
 * NULL stays NULL. */
ivm_status ivm_status_wrap(ivm_status status, const char *fmt, ...) IVM_PRINTF(2, 3);

#define IVM_TRY(expr)                      \
  do {                                     \
    ivm_status ivm_try_st_ = (expr);       \
    if (ivm_try_st_) return ivm_try_st_;   \
  } while (0)

/* Evaluates expr; on error stores it in `st` and jumps to `label` (for cleanup paths). */
#define IVM_TRY_GOTO(st, expr, label) \
  do {                                \
    (st) = (expr);                    \
    if (st) goto label;               \
  } while (0)

#endif
