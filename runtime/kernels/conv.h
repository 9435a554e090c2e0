/* Conv's resolved geometry, shared by the general im2col path (conv.c) and the direct
 * depthwise kernel (conv_dw.c). */
#ifndef IVM_RUNTIME_KERNELS_CONV_H
#define IVM_RUNTIME_KERNELS_CONV_H

#include "isa/infer_linalg.h"
#include "runtime/rt.h"

#include <stdatomic.h>

/* FusedConv's epilogue, applied in place to each block of output as soon as it is
 * computed: Z (a residual, Y's shape) added first, then the activation (through the
 * activation op's own kernel, so every element gets the same bits wherever its block
 * starts), then its clip_min / clip_max, then out_scale / out_shift. */
typedef struct conv_act {
  /* Z's element for y[i] is z[i] (Y and Z have one shape); NULL: no Z. rt_conv_activate
   * then needs blocks given as pointers into Y itself: the direct and Winograd kernels add
   * Z in their registers where a tile's place in Y is known, others keep such an epilogue
   * out of registers and scratch tiles (conv_act_in_registers). */
  const float *z, *y;
  rt_kernel_fn fn; /* NULL: no activation (a clip or affine alone) */
  isa_attr attrs[16];
  _Atomic(ivm_status) error; /* the first failure */
  /* What a kernel may apply in registers, with the same bits as fn (NONE: no fn): */
  enum { CONV_ACT_CALL, CONV_ACT_NONE, CONV_ACT_RELU, CONV_ACT_LEAKY_RELU, CONV_ACT_HARD_SWISH } kind;
  float alpha;               /* LeakyRelu's */
  int has_min, has_max;      /* then x = Max(x, min), x = Min(x, max): NaN propagates */
  float min, max;
  int has_scale, has_shift;  /* then x = x * scale, x = x + shift: rounded apart, as Mul */
  float scale, shift;        /* and Add round them (never one FMA) */
} conv_act;

static inline int conv_act_in_registers(const conv_act *a) {
  return a && a->kind != CONV_ACT_CALL && !a->z;
}

/* Whether a kernel may apply act in its registers as it stores (the activation is one
 * it knows and there is no Z to add first). */
static inline int conv_act_in_registers(const struct conv_act *a);

/* Max / Min by a number (never NaN) as the binary kernels compute them: x when x is NaN
 * or beyond the bound, else the bound. */
static inline float conv_clip(const conv_act *a, float x) {
  if (a->has_min && !(x != x || x > a->min)) x = a->min;
  if (a->has_max && !(x != x || x < a->max)) x = a->max;
  return x;
}

/* W's layouts (FusedConv transW): as ONNX has it (M, C / G, k...); transposed (C * k, M),
 * group 1, which only the im2col / pointwise path (conv.c) reads; Winograd's transformed
 * weights (16, C, M), 2-D 3x3 stride 1 dilation 1 group 1, which only conv_wino.c reads. */
enum {
  CONV_W_ONNX = 0,
  CONV_W_TRANSPOSED = 1,
  CONV_W_WINOGRAD = 2,
  CONV_W_NCHW16C = 3,
  CONV_W_NCHW16C_HEAD = 4
};

typedef struct conv_plan {
  isa_window w;
  int64_t N, C, M, G, Cg, Mg;
  int64_t in_sz, out_sz, k_sz; /* products of spatial input, output and kernel dims */
  int pointwise;               /* 1x1, stride 1, no pads: col == X */
  int trans_w;                 /* W's layout, FusedConv's transW: CONV_W_* */
  conv_act *act;               /* NULL: none (plain Conv) */
} conv_plan;

/* Applies p->act (activation, clip, affine) to n contiguous floats (nothing without one). */
void rt_conv_activate(const conv_plan *p, float *x, int64_t n);
/* The same in one pass of AVX-512 registers (conv_act512.h, the same bits) where act's
 * activation runs there and the AVX-512 matrix kernel is in use: 1; else nothing done, 0. */
int rt_conv_activate_fast(const conv_act *act, float *x, int64_t n);

/* Zero-padded copy of one input plane x (ih x iw; 1-D: ih 1), its rows split by phase
 * modulo the vertical stride sh and its columns modulo the horizontal stride sw:
 * buf[qy][qx][r][c] = padded(r * sh + qy, c * sw + qx) for r < ph, c < pw, with pt rows
 * and pl columns of padding before the input. The inputs of consecutive output positions
 * under one kernel tap are then contiguous whatever the stride and dilation, and with
 * sh > 1 so are those of consecutive output rows, a row pitch pw apart (conv_dw.c,
 * conv_direct.c). */
void rt_conv_fill_phases(const float *x, int64_t ih, int64_t iw, int64_t pt, int64_t pl,
                         int64_t sh, int64_t sw, int64_t ph, int64_t pw, float *buf);

/* Whether the direct depthwise kernel takes this f32 conv: every output channel reads
 * one input channel of several (Cg == 1, G == C > 1), 1-D or 2-D. */
int rt_conv_depthwise_ok(const conv_plan *p);
ivm_status rt_conv_depthwise_f32(const rt_call *call, const conv_plan *p);

/* Whether the channel-blocked depthwise kernel (conv_dwc.c) takes this f32 conv: 2-D,
 * one output per channel, at least 16 channels, a padded block of 16 channels within half
 * of L2, the AVX-512 matrix kernel in use. The same sum as rt_conv_depthwise_f32. */
int rt_conv_depthwise_blocked_ok(const conv_plan *p);
ivm_status rt_conv_depthwise_blocked_f32(const rt_call *call, const conv_plan *p);

/* Whether the direct kernel (conv_direct.c) takes this f32 conv: 1-D or 2-D, not 1x1,
 * not depthwise, and the AVX-512 matrix kernel in use (its register tile; elsewhere
 * im2col + the portable sgemm). */
int rt_conv_direct_ok(const conv_plan *p);
ivm_status rt_conv_direct_f32(const rt_call *call, const conv_plan *p);

/* Whether Winograd F(2x2, 3x3) (conv_wino.c) takes this f32 conv: 2-D, 3x3, stride 1,
 * dilation 1, dense (groups 1), with the channels and sizes where it measured faster
 * than the direct kernel (rt_conv_winograd_worth), and the AVX-512 matrix kernel in use.
 * rt_conv_winograd_f32 computes any 2-D 3x3 stride-1 dilation-1 dense conv (any pads,
 * batch, channels; W as ONNX has it or CONV_W_WINOGRAD) with any matrix kernel (without
 * AVX-512, by a portable path), and refuses others. */
int rt_conv_winograd_ok(const conv_plan *p);
int rt_conv_winograd_worth(int64_t N, int64_t C, int64_t M, int64_t OH, int64_t OW);
ivm_status rt_conv_winograd_f32(const rt_call *call, const conv_plan *p);
/* Winograd's weights U (16, C, M), U[e][c][m] = (G g G^T)_e for the 3x3 kernel g of
 * output channel m and input channel c of W (M, C, 3, 3): the CONV_W_WINOGRAD layout,
 * with the same bits as the kernel's own per-call transform. */
void rt_conv_winograd_weights(const float *W, int64_t M, int64_t C, float *U);

/* Channel-blocked layout (FusedConv layout 1, "NCHW16c"): X, Y and Z are
 * [N][C / 16][H][W][16], channel c of position (h, w) at ((n * C/16 + c / 16) * H + h) * W
 * + w) * 16 + c % 16; C and M multiples of 16; 2-D only. W (p->trans_w CONV_W_NCHW16C):
 * dense (G 1) [M / 16][C / 16][kh * kw][16 input channels][16 output channels];
 * depthwise (G == C == M) [C / 16][kh * kw][16]. B as ever (M). conv_nchwc.c. */
#define CONV_BLOCK 16
int rt_conv_nchwc_ok(const conv_plan *p);
ivm_status rt_conv_nchwc_f32(const rt_call *call, const conv_plan *p);
/* W (M, Cg, kh, kw) as ONNX has it, G 1 or G == C == M (Cg 1), into the blocked layout
 * above: M * Cg * k_sz floats at out. */
void rt_conv_nchwc_weights(const float *W, int64_t M, int64_t Cg, int64_t G, int64_t k_sz,
                           float *out);
/* A chain's head (FusedConv layout 2, p->trans_w CONV_W_NCHW16C_HEAD): X as ONNX has it,
 * (N, C, H, W) with any C (an image's 3 channels), Y and Z blocked; dense (G 1) only; W
 * [M / 16][kh * kw][C][16 output channels]. rt_conv_nchwc_ok / rt_conv_nchwc_f32 take it
 * by p->trans_w. */
void rt_conv_nchwc_head_weights(const float *W, int64_t M, int64_t C, int64_t k_sz, float *out);

#endif
