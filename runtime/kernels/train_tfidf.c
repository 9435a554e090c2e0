/* TfIdfVectorizer (train family, isa/ops_train.def): n-gram counting over i32/i64 rows.
 * For each row, skip distance d = 1 .. max_skip_count + 1 and start position s, the
 * n-gram (x[s], x[s+d], ..., x[s+(L-1)d]) of each length L in [min_gram_length,
 * max_gram_length] that fits in the row is looked up in the pool and counted; unigrams
 * are counted at d = 1 only (skipping changes nothing for them). */
#include <string.h>

#include "isa/infer_train.h"
#include "runtime/kernels/ew.h"

ivm_status rt_k_TfIdfVectorizer(const rt_call *c) {
  IVM_TRY(ew_check_io(c, "TfIdfVectorizer", 1, 1));
  if (!c->attrs) return ivm_error(IVM_ERR_INTERNAL, "TfIdfVectorizer: attributes missing");
  isa_train_tfidf p;
  IVM_TRY(isa_train_tfidf_resolve(c->attrs, &p));
  const rt_tensor *x = c->in[0];
  rt_tensor *y = c->out[0];
  if (x->dtype != IVM_DT_I32 && x->dtype != IVM_DT_I64) return ew_bad_dtype("TfIdfVectorizer", x->dtype);
  if (x->rank != 1 && x->rank != 2)
    return ivm_error(IVM_ERR_RUNTIME, "TfIdfVectorizer: input rank %d", x->rank);
  int64_t rows = x->rank == 2 ? x->dims[0] : 1, C = x->dims[x->rank - 1];
  if (y->dtype != IVM_DT_F32 || rt_numel(y) != rows * p.out_size)
    return ivm_error(IVM_ERR_INTERNAL, "TfIdfVectorizer: output shape does not match");
  float *out = y->data;
  if (rows > 0 && p.out_size > 0) memset(out, 0, (size_t)(rows * p.out_size) * sizeof(float));
  if (p.n_grams == 0 || C == 0 || rows == 0) return NULL;
  int64_t max_len = p.max_gram < (int64_t)p.n_levels ? p.max_gram : (int64_t)p.n_levels;
  if (p.min_gram > max_len) return NULL;
  /* scratch: per-n-gram counts, then the id of each level's first n-gram */
  void *mem;
  IVM_TRY(rt_scratch_get(c->scratch, ((size_t)p.n_grams + (size_t)max_len + 2) * sizeof(int64_t), &mem));
  int64_t *cnt = mem, *first_id = cnt + p.n_grams;
  first_id[1] = 0;
  for (int64_t L = 1; L <= max_len; L++) {
    int64_t b, e;
    isa_train_tfidf_level(&p, L, &b, &e);
    first_id[L + 1] = first_id[L] + (e - b) / L;
  }
  int64_t max_skip = p.max_skip < C ? p.max_skip : C;
  for (int64_t r = 0; r < rows; r++) {
    memset(cnt, 0, (size_t)p.n_grams * sizeof(int64_t));
    int64_t base = r * C;
    for (int64_t d = 1; d <= max_skip + 1; d++) {
      int64_t lo = p.min_gram > 1 ? p.min_gram : (d == 1 ? 1 : 2);
      if (lo > max_len) break;
      for (int64_t s = 0; s < C; s++) {
        for (int64_t L = lo; L <= max_len; L++) {
          if (L - 1 > (C - 1 - s) / d) break; /* s + (L-1)*d >= C */
          int64_t b, e;
          isa_train_tfidf_level(&p, L, &b, &e);
          for (int64_t g = b; g < e; g += L) {
            int64_t k = 0;
            for (; k < L; k++)
              if (ew_load_i64(x->dtype, x->data, base + s + k * d) != p.pool[g + k]) break;
            if (k == L) {
              cnt[first_id[L] + (g - b) / L]++;
              break;
            }
          }
        }
      }
    }
    float *orow = out + r * p.out_size;
    for (uint32_t j = 0; j < p.n_grams; j++) {
      double w = p.weights ? p.weights[j] : 1.0, v;
      if (p.mode == ISA_TRAIN_TF) v = (double)cnt[j];
      else if (p.mode == ISA_TRAIN_IDF) v = cnt[j] > 0 ? w : 0.0;
      else v = (double)cnt[j] * w;
      orow[p.indexes[j]] += (float)v;
    }
  }
  return NULL;
}
