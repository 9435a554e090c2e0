/* Vector building blocks of the recurrent kernels (rnn.c): matrix-vector products against
 * R or W and the gate nonlinearities. Private to the runtime (the unit tests check them
 * against libm and a plain reference).
 *
 * Determinism: every output element is computed by the same instructions whatever the
 * range a call covers, so splitting rows, panels or elements across threads gives bitwise
 * the same results. The AVX-512 versions are chosen at run time when the CPU has it.
 * All functions are thread-safe (no shared state but the one-time CPU check). */
#ifndef IVM_RUNTIME_KERNELS_RNN_VEC_H
#define IVM_RUNTIME_KERNELS_RNN_VEC_H

#include <stddef.h>
#include <stdint.h>

/* ---- packed panels: R (rows g*H + j, K columns) re-laid so that one step's product
 * streams memory once, without horizontal sums. Units are cut into panels of
 * RT_RNN_PANEL; panel q of gate g holds R[g*H + 64q + lane][p] at [p][lane] (lanes past
 * H are zero), and the G panels of q follow each other, so a range of units is one
 * contiguous block. */
#define RT_RNN_PANEL 64

/* Floats of the packed form of G gates of H units with K columns. */
size_t rt_rnn_packed_floats(int64_t G, int64_t H, int64_t K);
/* Panel q, gate g: offset into the packed form. */
static inline int64_t rt_rnn_panel_off(int64_t G, int64_t K, int64_t q, int64_t g) {
  return (q * G + g) * K * RT_RNN_PANEL;
}
/* Packs unit panels [q0, q1) of R ([G*H][K], row-major) into out (the whole packed form). */
void rt_rnn_pack(const float *R, int64_t G, int64_t H, int64_t K, int64_t q0, int64_t q1,
                 float *out);

/* out[b*ldo + l] = sum_p x[b*ldx + p] * panel[p*64 + l] for b < nb, l < width (<= 64):
 * each element summed in order p = 0..K-1. */
void rt_rnn_panel_mv(const float *panel, int64_t K, const float *x, int64_t ldx, int64_t nb,
                     float *out, int64_t ldo, int64_t width);

/* out[r] = dot(rows[r*K ..], x) for r < nrows: a fixed summation tree per row (for few
 * products, where packing would cost more than it saves). */
void rt_rnn_rows_mv(const float *rows, int64_t nrows, int64_t K, const float *x, float *out);

/* In place over n elements: 1 / (1 + e^-x) and tanh(x), a few ulp from libm (NaN stays
 * NaN). Any n and alignment; the elements past the last whole vector go through the same
 * vector code. */
void rt_rnn_sigmoid(float *x, int64_t n);
void rt_rnn_tanh(float *x, int64_t n);

/* One LSTM step of n units with the default activations (sigmoid, tanh, tanh) and no
 * peepholes, clip or input_forget, in one pass: g (H R^T) and x (the input projection)
 * hold gates i, o, f, c at stride gs; c is updated and h written. */
void rt_rnn_lstm_default(const float *g, const float *x, int64_t gs, float *c, float *h,
                         int64_t n);

#endif
