/* Geometry shared by the nn family's inference (isa/infer_nn.c) and its kernels
 * (runtime/kernels/nn*.c), so the shapes the verifier accepts and the loops the kernels
 * run come from one computation. */
#ifndef IVM_ISA_INFER_NN_H
#define IVM_ISA_INFER_NN_H

#include "isa/op.h"

/* ---- ConvTranspose ------------------------------------------------------------------- */
typedef struct isa_nn_convt {
  int n;                                 /* spatial rank */
  int64_t in[ISA_MAX_RANK];              /* < 0: unknown */
  int64_t kernel[ISA_MAX_RANK];          /* < 0: unknown */
  int64_t stride[ISA_MAX_RANK], dilation[ISA_MAX_RANK];
  int64_t pad_begin[ISA_MAX_RANK];       /* resolved; may be negative (output_shape) */
  int64_t out[ISA_MAX_RANK];             /* ISA_DIM_ANY where unknown */
} isa_nn_convt;

/* Output position of input x and kernel tap k: x*stride + k*dilation - pad_begin; taps
 * landing outside [0, out) are dropped. attrs in the ConvTranspose schema order. */
ivm_status isa_nn_convt_resolve(int n, const int64_t *in, const int64_t *kernel,
                                const isa_attr *attrs, isa_nn_convt *g);

/* ---- Resize ---------------------------------------------------------------------------- */
enum { ISA_NN_RESIZE_NEAREST, ISA_NN_RESIZE_LINEAR, ISA_NN_RESIZE_CUBIC };
enum {
  ISA_NN_CTM_HALF_PIXEL,
  ISA_NN_CTM_HALF_PIXEL_SYMMETRIC,
  ISA_NN_CTM_PYTORCH_HALF_PIXEL,
  ISA_NN_CTM_ALIGN_CORNERS,
  ISA_NN_CTM_ASYMMETRIC,
  ISA_NN_CTM_TF_HALF_PIXEL_FOR_NN,
  ISA_NN_CTM_TF_CROP_AND_RESIZE,
};
enum {
  ISA_NN_NEAREST_ROUND_PREFER_FLOOR,
  ISA_NN_NEAREST_ROUND_PREFER_CEIL,
  ISA_NN_NEAREST_FLOOR,
  ISA_NN_NEAREST_CEIL,
  ISA_NN_NEAREST_SIMPLE, /* Upsample / Resize-10: floor when upsampling, ceil when down */
};

typedef struct isa_nn_resize {
  int rank;
  int mode, ctm, nearest, exclude_outside;
  double cubic_a, extrapolation;
  int64_t out[ISA_MAX_RANK];             /* ISA_DIM_ANY where unknown */
  double scale[ISA_MAX_RANK];            /* used by the coordinate transform */
  double out_len[ISA_MAX_RANK];          /* "length_resized": scale * in, or sizes */
  double roi_lo[ISA_MAX_RANK], roi_hi[ISA_MAX_RANK];
} isa_nn_resize;

/* Validates the attributes and inputs of Resize (x_dims: X's dims, < 0 unknown; in[1..3]
 * the roi / scales / sizes types, dtype NONE when absent; data[i] NULL when unknown) and
 * resolves output dims, per-axis scales and roi. */
ivm_status isa_nn_resize_resolve(const isa_attr *attrs, int rank, const int64_t *x_dims,
                                 uint32_t n_in, const isa_type *in, const void *const *data,
                                 isa_nn_resize *r);

/* String attribute codes (-1 if unknown). */
int isa_nn_gridsample_mode(const isa_attr *a);    /* 0 bilinear, 1 nearest, 2 bicubic */
int isa_nn_gridsample_padding(const isa_attr *a); /* 0 zeros, 1 border, 2 reflection */

#endif
