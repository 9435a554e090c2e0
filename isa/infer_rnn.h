/* RNN / LSTM / GRU attribute decoding shared by inference (isa/infer_rnn.c) and the kernels
 * (runtime/kernels/rnn.c), so that what the verifier accepts and what the kernels run come
 * from one function. */
#ifndef IVM_ISA_INFER_RNN_H
#define IVM_ISA_INFER_RNN_H

#include "isa/op.h"

typedef enum isa_rnn_kind { ISA_RNN_KIND_RNN = 0, ISA_RNN_KIND_LSTM = 1, ISA_RNN_KIND_GRU = 2 } isa_rnn_kind;

/* Activation codes (the canonical `activations` INTS). */
typedef enum isa_rnn_act {
  ISA_RNN_RELU = 0,
  ISA_RNN_TANH = 1,
  ISA_RNN_SIGMOID = 2,
  ISA_RNN_AFFINE = 3,
  ISA_RNN_LEAKY_RELU = 4,
  ISA_RNN_THRESHOLDED_RELU = 5,
  ISA_RNN_SCALED_TANH = 6,
  ISA_RNN_HARD_SIGMOID = 7,
  ISA_RNN_ELU = 8,
  ISA_RNN_SOFTSIGN = 9,
  ISA_RNN_SOFTPLUS = 10,
  ISA_RNN_ACT_COUNT = 11
} isa_rnn_act;

enum { ISA_RNN_FORWARD = 0, ISA_RNN_REVERSE = 1, ISA_RNN_BIDIRECTIONAL = 2 };

#define ISA_RNN_MAX_HIDDEN ((int64_t)1 << 24)

typedef struct isa_rnn_attrs {
  int kind;       /* isa_rnn_kind */
  int gates;      /* rows of W per hidden unit: 1 RNN, 4 LSTM, 3 GRU */
  int n_funcs;    /* activations per direction: 1 RNN, 3 LSTM, 2 GRU */
  int direction;  /* ISA_RNN_FORWARD / REVERSE / BIDIRECTIONAL */
  int num_dirs;   /* 1 or 2 */
  int layout;     /* 0: X [T, B, I]; 1: X [B, T, I] */
  int64_t hidden; /* hidden_size */
  float clip;     /* 0: none */
  int input_forget, linear_before_reset;
  int act[2][3]; /* [direction][function] codes, defaults filled */
  float alpha[2][3], beta[2][3];
} isa_rnn_attrs;

/* Name (case-insensitive, as ONNX spells them: "Tanh", "LeakyRelu"...) to code, or -1. */
int isa_rnn_act_from_name(const char *name, size_t len);
/* Whether the function takes alpha / beta, and their defaults. */
int isa_rnn_act_uses_alpha(int code);
int isa_rnn_act_uses_beta(int code);
float isa_rnn_act_default_alpha(int code);
float isa_rnn_act_default_beta(int code);

/* Validates and decodes the attributes of an RNN (kind) instruction. Errors are
 * IVM_ERR_INVALID_ARGUMENT. */
ivm_status isa_rnn_decode(int kind, const isa_attr *attrs, isa_rnn_attrs *out);

#endif
