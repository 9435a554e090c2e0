/* Sliding-window geometry shared by Conv / MaxPool / AveragePool inference and their
 * kernels, so that the shapes the verifier accepts and the loops the kernels run come
 * from one computation. */
#ifndef IVM_ISA_INFER_LINALG_H
#define IVM_ISA_INFER_LINALG_H

#include "isa/op.h"

typedef struct isa_window {
  int n; /* spatial rank */
  int64_t in[ISA_MAX_RANK];     /* < 0: unknown */
  int64_t kernel[ISA_MAX_RANK]; /* < 0: unknown */
  int64_t stride[ISA_MAX_RANK], dilation[ISA_MAX_RANK];
  int64_t pad_begin[ISA_MAX_RANK], pad_end[ISA_MAX_RANK]; /* resolved (auto_pad applied) */
  int64_t out[ISA_MAX_RANK];    /* ISA_DIM_ANY where in or kernel is unknown */
} isa_window;

/* Validates the window attributes against spatial rank n and resolves pads and output
 * sizes. dilations may be NULL (AveragePool: all 1). ceil_mode is 0 for Conv. pool != 0
 * additionally requires every pad to be smaller than the dilated kernel, which makes every
 * window overlap the input. Errors are IVM_ERR_INVALID_ARGUMENT. */
ivm_status isa_window_resolve(int n, const int64_t *in, const int64_t *kernel,
                              const isa_attr *auto_pad, const isa_attr *pads,
                              const isa_attr *strides, const isa_attr *dilations,
                              int64_t ceil_mode, int pool, isa_window *w);

#endif
