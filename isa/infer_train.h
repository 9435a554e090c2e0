/* Shared by the train family's inference (isa/infer_train.c) and kernels
 * (runtime/kernels/train*.c): the TfIdfVectorizer n-gram pool layout, validated once. */
#ifndef IVM_ISA_INFER_TRAIN_H
#define IVM_ISA_INFER_TRAIN_H

#include "isa/op.h"

enum { ISA_TRAIN_TF = 0, ISA_TRAIN_IDF = 1, ISA_TRAIN_TFIDF = 2 };

/* TfIdfVectorizer attributes, checked: pool_int64s holds the n-grams of length L = i+1
 * at [ngram_counts[i], ngram_counts[i+1]) (the last up to the pool's end), each span a
 * multiple of L; n-gram j (in pool order) has output column ngram_indexes[j] and weight
 * weights[j] (1 if weights is empty). */
typedef struct isa_train_tfidf {
  int mode;                 /* ISA_TRAIN_TF / IDF / TFIDF */
  int64_t min_gram, max_gram, max_skip;
  uint32_t n_levels;        /* ngram_counts length */
  const int64_t *counts;    /* n_levels */
  const int64_t *pool;
  uint32_t n_pool;
  const int64_t *indexes;   /* n_grams */
  uint32_t n_grams;
  const float *weights;     /* n_grams, or NULL */
  int64_t out_size;         /* max(ngram_indexes) + 1 (0 without n-grams) */
} isa_train_tfidf;

/* attrs in the TfIdfVectorizer schema order. */
ivm_status isa_train_tfidf_resolve(const isa_attr *attrs, isa_train_tfidf *p);

/* Pool span [*begin, *end) of the n-grams of length L (1-based), empty if none. */
void isa_train_tfidf_level(const isa_train_tfidf *p, int64_t L, int64_t *begin, int64_t *end);

#endif
