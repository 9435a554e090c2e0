/* The math family's shared decoders: the Einsum equation parser, used by inference
 * (isa/infer_math.c) and by the kernel (runtime/kernels/math_linalg.c) so both read an
 * equation the same way. */
#ifndef IVM_ISA_INFER_MATH_H
#define IVM_ISA_INFER_MATH_H

#include <stdint.h>

#include "isa/op.h"

/* Labels: 'A'..'Z' are 0..25, 'a'..'z' 26..51 (ASCII order, which numpy's implicit output
 * follows); the broadcast ellipsis dims are 52 + j, j in [0, ell_rank), right-aligned. */
#define ISA_EINSUM_MAX_IN 32
#define ISA_EINSUM_LETTERS 52
#define ISA_EINSUM_MAX_LABELS (ISA_EINSUM_LETTERS + ISA_MAX_RANK)

typedef struct isa_einsum {
  uint32_t n_in;
  int ell_unknown;                               /* an input with "..." has unknown rank */
  int ell_rank;                                  /* rank of the broadcast ellipsis */
  int in_rank[ISA_EINSUM_MAX_IN];                /* -1 when unknown (then in_label unset) */
  int8_t in_label[ISA_EINSUM_MAX_IN][ISA_MAX_RANK];
  int out_rank;                                  /* -1 when ell_unknown */
  int8_t out_label[ISA_MAX_RANK];
  uint8_t used[ISA_EINSUM_MAX_LABELS];           /* label occurs in some input */
} isa_einsum;

/* Parses `equation` for n_in inputs of the given ranks (-1: unknown). Spaces are ignored.
 * Errors are IVM_ERR_INVALID_ARGUMENT. */
ivm_status isa_einsum_parse(const char *equation, uint32_t n_in, const int *ranks,
                            isa_einsum *out);

#endif
