/* Signal ops (DFT, STFT, windows, MelWeightMatrix) run through rt_run_builtin, which runs
 * inference then the kernel, plus direct inference calls for unknown values and error
 * paths. Expected values were printed by numpy (np.fft.fft / ifft / rfft, np.hanning,
 * np.blackman, the cosine-sum formulas) and by ONNX's reference MelWeightMatrix code, on
 * inputs made by the same formula as sig() below:
 *   re[k] = sin(0.37k + ph) + 0.05k,  im[k] = cos(0.71k + ph) - 0.02k. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/rt.h"
#include "tests/unit/kernel_test_util.h"

/* ---- expected values computed with numpy ------------------------------------------- */
/* np.fft.fft(sin(0.37k)+0.05k, k<5) as f32 */
static const double exp_dft5[] = {3.4274829030036926, 0.0, -0.975656392566068, 0.9054119838164769, -0.7380850589357784, 0.2028527521307701, -0.7380850589357784, -0.2028527521307701, -0.975656392566068, -0.9054119838164769};
/* np.fft.ifft of two complex rows (phase 0 and 1), n = 8 */
static const double exp_idft8[] = {0.8261709863386821, -0.15461092769942972, -0.41163704214898783, 0.37612399751497794, -0.10891501414944074, 0.014396620323581771, -0.07309611499908221, 0.021575432563409824, -0.05948742923821421, 0.034172280755687595, -0.054168396790100604, 0.05202276642794312, -0.05982812068220719, 0.08860971843034712, -0.059038868330649405, 0.5677101116834822, 0.6819013010751933, -0.17058462234850322, 0.2556517429417313, 0.5957883674450414, 0.0650385096755539, 0.09091746625718515, 0.06372871808401673, 0.030782225668241507, 0.05890804591938087, -0.0033329917343491444, 0.048973358730332456, -0.03323442979274249, 0.022074764636675917, -0.06978231545758169, -0.35480545625498805, 0.09974860583084821};
/* np.fft.fft(sig(45)) complex f64 */
static const double exp_dft45[] = {54.147574765484535, -19.043781836285277, 10.628790329451682, 18.29459470651686, 12.3108366814922, 13.194329673001393, -14.074613766481178, -1.875710228560059, -2.9698039516852077, 3.7502232032993863, -7.0369218052567435, 23.64248353523801, -0.2210103663446814, 0.04536340863981203, -0.3540191676435318, 0.9039990049415416, -0.3862173743978712, 1.065734255974533, -0.414558049580779, 1.0818344872992118, -0.4455423608047393, 1.0517074709649203, -0.47841425428804607, 1.0049560169198566, -0.512129285737037, 0.9524481125320522, -0.5460382291734702, 0.8985742138047055, -0.5798211500920267, 0.8451367672093554, -0.6133700045037269, 0.7928071122291027, -0.6467061373011962, 0.7417333150875143, -0.6799305195872933, 0.6918125136540176, -0.7131957413982535, 0.6428182460277113, -0.7466915436172215, 0.5944606196671602, -0.7806388654157732, 0.5464135141247991, -0.8152895903570633, 0.4983246076779689, -0.8509305823407005, 0.44981569648745046, -0.8878915364253966, 0.4004767410935102, -0.9265568773322594, 0.34985493236665255, -0.9673826036587869, 0.29743873817435373, -1.0109197623178972, 0.24263581865846828, -1.0578473406700264, 0.1847425110204285, -1.109019079323309, 0.12290090318846819, -1.1655315540070472, 0.0560367604113331, -1.2288258317450844, -0.01723335939587195, -1.3008440562392032, -0.09874691198084795, -1.3842797159618523, -0.19103263548620825, -1.4829959123822891, -0.2977241886665595, -1.6027643883820206, -0.42434097846189767, -1.7526690439465273, -0.5799256854290815, -1.948049802337029, -0.781009955529005, -2.217671902389415, -1.0634171552919365, -2.62633775730465, -1.5307215736470807, -3.4022372074703875, -2.7246649263406995, 2.141946974229518, 20.58701447703421, -5.2856502751411165, 0.9887339100104121, -17.943781671348503, 5.0531591014377835, 6.096186357067372, -10.51972186045213, -2.1582360433359655, -15.824533079166336};
/* np.fft.rfft(sig(100)[:37]) */
static const double exp_rfft37[] = {34.36564098186891, 0.0, 0.5499814864043326, 9.43816365226127, 8.351477653738526, -8.841460513480133, -3.106044552677655, 7.259456488828534, -2.040969078503942, 4.4536550657455445, -1.7536150234185415, 3.2921557283582445, -1.6273552975356789, 2.5967151956362198, -1.5592686160280853, 2.1163019680027992, -1.5180459137441815, 1.7563025558848153, -1.4911606722582043, 1.4712954738591904, -1.472712967501176, 1.2362370359001695, -1.459602436692177, 1.0359822433045396, -1.4500670658208528, 0.860724655336756, -1.4430460078255438, 0.7037568091370004, -1.4378732943236832, 0.5602680060604666, -1.4341193446775446, 0.4266518416912613, -1.431504303295096, 0.3000823743446385, -1.4298488817676502, 0.17823912149205978, -1.4290461750072958, 0.05911683465868989};
/* np.fft.rfft(sig(5), 8) */
static const double exp_rfft5_8[] = {3.4274828738107948, 0.0, -1.6442454130764073, -1.8047646065338214, 0.42159293290949507, 0.6340832537150854, -0.7475162759988729, -0.25618878327753125, 0.5128546385207757, 0.0};
/* np.fft.rfft(arange(12).reshape(3,4), axis=1) */
static const double exp_rfft_axis2[] = {6.0, 0.0, -2.0, 2.0, -2.0, 0.0, 22.0, 0.0, -2.0, 2.0, -2.0, 0.0, 38.0, 0.0, -2.0, 2.0, -2.0, 0.0};
/* np.fft.fft(sig(1000)) bins 0, 1, 7, 500, 999 */
static const double exp_dft1000[] = {24975.967145639886, 0.0, -24.03266703942984, 7957.7511707376, -24.02354676412888, 1136.8520634282652, -24.697351678920082, 1.2434497875801753e-14, -24.032667039429878, -7957.7511707376};
/* STFT: rfft(sig(20)[4f:4f+8] * hann(8, periodic)), 4 frames */
static const double exp_stft[] = {4.246035766314003, 0.0, -2.424950658804991, 0.30895913023024346, 0.26045415260552407, -0.07360725181950678, 0.03318896972971075, -0.013318430377698753, 0.016579306625509105, 0.0, 2.2249153217876056, 0.0, -1.1672111313878455, -1.0835655853939437, 0.04723160223043621, 0.30771403384141893, 0.0060185955993795615, 0.04283602775063644, 0.0030065453284535693, 0.0, -0.9327115915557653, 0.0, 0.758359399196365, -0.15732669209259875, -0.25188902040495253, 0.054077885297724726, -0.03209753804973203, 0.005484846427142476, -0.016034089927595474, 0.0, 1.9707199304576029, 0.0, -0.877653612591987, 1.403165193726902, -0.09290997556011799, -0.3732386035858558, -0.011839267431927647, -0.057442996273717184, -0.005914219289537281, 0.0};
/* STFT: fft(sig(10, phase b)[3f:3f+4]), 2 batches x 3 frames x 4 bins */
static const double exp_stft_c[] = {2.2316020292731547, 1.2580760082792493, 0.5545853019853079, 1.5238577838033995, -0.6830262060168645, 0.9623749315441222, -2.103161125241598, 0.25569127637322875, 4.549420205429075, -3.200245901275875, -0.6433256923678514, 0.3279277960417779, -0.03547242811837936, -0.01628578590256624, 0.3121726577773458, 0.5265585406448843, 2.8139114182746927, 1.0354892962486522, -0.18356039442971805, -1.8319873177648291, 0.5404120619859469, -0.8226544364074639, 1.2154988031134262, -0.6093093073044706, 3.9652160546768735, -1.4691396397536232, 0.6569300769638595, 1.3092666788298253, -0.11083572738997316, 0.9682350420389204, -1.1454264650191737, 1.3528471423574358, 2.5816430663122003, -1.7668271797716388, -0.7758764901029522, -1.390957880866784, 0.5095486176425066, -0.8763908648235226, 1.7171561246874814, -0.20555529831363129, -0.6696921417077577, 2.2418151776435558, 1.0955760305968545, -0.7558926432562909, 0.4529213530874288, 0.08407644492702748, 0.007886624140015064, 0.03259732052802472};
/* windows of size 7: periodic (N = 7) and symmetric (N = 6); np.hanning(7) etc. */
static const double exp_hann_p[] = {0.0, 0.18825509907063326, 0.6112604669781572, 0.9504844339512095, 0.9504844339512095, 0.6112604669781573, 0.18825509907063337};
static const double exp_hann_s[] = {0.0, 0.2500000000000001, 0.75, 1.0, 0.75, 0.2500000000000001, 0.0};
static const double exp_hamming_p[] = {0.08695652173913043, 0.258841612194926, 0.6450639046322304, 0.9547901353467565, 0.9547901353467565, 0.6450639046322305, 0.25884161219492613};
static const double exp_hamming_s[] = {0.08695652173913043, 0.3152173913043478, 0.7717391304347825, 1.0, 0.7717391304347827, 0.3152173913043478, 0.08695652173913043};
static const double exp_blackman_p[] = {-1.3877787807814457e-17, 0.09045342435412809, 0.45918295754596367, 0.9203636180999081, 0.9203636180999082, 0.45918295754596383, 0.09045342435412816};
static const double exp_blackman_s[] = {-1.3877787807814457e-17, 0.1300000000000001, 0.6300000000000001, 0.9999999999999999, 0.6300000000000001, 0.1300000000000001, -1.3877787807814457e-17};
/* ONNX reference MelWeightMatrix(5, 64, 16000, 100.0f, 7000.0f): [33, 5] */
static const float exp_mel[] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 1.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.5f, 0.5f, 0.0f, 0.0f, 0.0f, 0.0f, 1.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.5f, 0.5f, 0.0f, 0.0f, 0.0f, 0.0f, 1.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.75f, 0.25f, 0.0f, 0.0f, 0.0f, 0.5f, 0.5f, 0.0f, 0.0f, 0.0f, 0.25f, 0.75f, 0.0f, 0.0f, 0.0f, 0.0f, 1.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.75f, 0.25f, 0.0f, 0.0f, 0.0f, 0.5f, 0.5f, 0.0f, 0.0f, 0.0f, 0.25f, 0.75f, 0.0f, 0.0f, 0.0f, 0.0f, 1.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.8333333134651184f, 0.0f, 0.0f, 0.0f, 0.0f, 0.6666666865348816f, 0.0f, 0.0f, 0.0f, 0.0f, 0.5f, 0.0f, 0.0f, 0.0f, 0.0f, 0.3333333432674408f, 0.0f, 0.0f, 0.0f, 0.0f, 0.1666666716337204f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};

/* ---- helpers ------------------------------------------------------------------------ */
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))





static void fails_at(int line, ivm_status st, ivm_status_code code) {
  cr_assert(st != NULL, "line %d: expected an error", line);
  cr_assert_eq(ivm_status_get_code(st), code, "line %d: got %s: %s", line,
               ivm_status_code_name(ivm_status_get_code(st)), ivm_status_message(st));
  ivm_status_free(st);
}
#define fails(st, code) fails_at(__LINE__, (st), (code))

static void check_shape(const rt_tensor *t, int dt, int rank, const int64_t *dims) {
  cr_assert_eq(t->dtype, dt, "dtype %d, expected %d", t->dtype, dt);
  cr_assert_eq(t->rank, rank, "rank %d, expected %d", t->rank, rank);
  for (int k = 0; k < rank; k++)
    cr_assert_eq(t->dims[k], dims[k], "dim %d is %lld, expected %lld", k, (long long)t->dims[k],
                 (long long)dims[k]);
}

static void near_f(const rt_tensor *t, const double *want, size_t n, double tol) {
  cr_assert_eq(rt_numel(t), (int64_t)n, "numel %lld, expected %zu", (long long)rt_numel(t), n);
  const float *g = t->data;
  for (size_t i = 0; i < n; i++)
    cr_assert(fabs(g[i] - want[i]) <= tol * (1 + fabs(want[i])), "[%zu] = %.9g, expected %.9g", i,
              (double)g[i], want[i]);
}

static void near_d(const rt_tensor *t, const double *want, size_t n, double tol) {
  cr_assert_eq(rt_numel(t), (int64_t)n, "numel %lld, expected %zu", (long long)rt_numel(t), n);
  const double *g = t->data;
  for (size_t i = 0; i < n; i++)
    cr_assert(fabs(g[i] - want[i]) <= tol * (1 + fabs(want[i])), "[%zu] = %.17g, expected %.17g",
              i, g[i], want[i]);
}

/* The test signal: re[k] = sin(0.37k + ph) + 0.05k, im[k] = cos(0.71k + ph) - 0.02k. */
static double sig_re(int64_t k, double ph) { return sin(0.37 * (double)k + ph) + 0.05 * (double)k; }
static double sig_im(int64_t k, double ph) { return cos(0.71 * (double)k + ph) - 0.02 * (double)k; }

/* Runs op on inputs; the one output lands in *y (free y->data). */
static ivm_status run1(isa_builtin_op op, uint32_t n_in, const rt_tensor *const *in,
                       const isa_attr *attrs, rt_tensor *y) {
  return rt_run_builtin(op, n_in, in, attrs, 1, y);
}

/* Inference only, with the given types and values. */
static ivm_status infer(isa_builtin_op op, uint32_t n_in, const isa_type *in,
                        const void *const *data, const isa_attr *attrs, isa_type *out) {
  isa_infer_ctx ctx = {n_in, in, data, attrs, 1, out};
  return isa_builtin_desc(op)->infer(&ctx);
}

static isa_type ty(int dt, int rank, const int64_t *dims) {
  isa_type t;
  memset(&t, 0, sizeof t);
  t.dtype = (uint8_t)dt;
  t.rank = (int8_t)rank;
  for (int k = 0; k < rank; k++) t.dims[k] = dims[k];
  return t;
}

/* ---- DFT ----------------------------------------------------------------------------- */

Test(dft, real_f32_direct_length5) {
  float x[5];
  for (int k = 0; k < 5; k++) x[k] = (float)sig_re(k, 0);
  rt_tensor tx = mk(IVM_DT_F32, 3, D(1, 5, 1), x), y;
  const rt_tensor *in[] = {&tx};
  isa_attr at[8];
  ok(run1(ISA_OP_DFT, 1, in, defaults(ISA_OP_DFT, at), &y));
  check_shape(&y, IVM_DT_F32, 3, D(1, 5, 2));
  near_f(&y, exp_dft5, NELEM(exp_dft5), 1e-5);
  free(y.data);
}

Test(dft, complex_inverse_pow2_batch2) {
  float x[2 * 8 * 2];
  for (int b = 0; b < 2; b++)
    for (int k = 0; k < 8; k++) {
      x[(b * 8 + k) * 2] = (float)sig_re(k, b);
      x[(b * 8 + k) * 2 + 1] = (float)sig_im(k, b);
    }
  rt_tensor tx = mk(IVM_DT_F32, 3, D(2, 8, 2), x), y;
  const rt_tensor *in[] = {&tx};
  isa_attr at[8];
  defaults(ISA_OP_DFT, at);
  set_int(&at[ISA_A_DFT_inverse], 1);
  ok(run1(ISA_OP_DFT, 1, in, at, &y));
  check_shape(&y, IVM_DT_F32, 3, D(2, 8, 2));
  near_f(&y, exp_idft8, NELEM(exp_idft8), 1e-5);
  free(y.data);
}

Test(dft, bluestein_f64_complex_length45_and_roundtrip) {
  double x[45 * 2];
  for (int k = 0; k < 45; k++) {
    x[2 * k] = sig_re(k, 0);
    x[2 * k + 1] = sig_im(k, 0);
  }
  rt_tensor tx = mk(IVM_DT_F64, 3, D(1, 45, 2), x), y, z;
  const rt_tensor *in[] = {&tx};
  isa_attr at[8];
  defaults(ISA_OP_DFT, at);
  set_int(&at[ISA_A_DFT_axis], -2);
  ok(run1(ISA_OP_DFT, 1, in, at, &y));
  check_shape(&y, IVM_DT_F64, 3, D(1, 45, 2));
  near_d(&y, exp_dft45, NELEM(exp_dft45), 1e-11);
  /* inverse of the forward transform gives the signal back */
  const rt_tensor *in2[] = {&y};
  set_int(&at[ISA_A_DFT_inverse], 1);
  ok(run1(ISA_OP_DFT, 1, in2, at, &z));
  near_d(&z, x, NELEM(x), 1e-12);
  free(y.data);
  free(z.data);
}

Test(dft, dft_length_truncates_onesided_bluestein) {
  float x[100];
  for (int k = 0; k < 100; k++) x[k] = (float)sig_re(k, 0);
  int64_t n = 37;
  rt_tensor tx = mk(IVM_DT_F32, 3, D(1, 100, 1), x), tn = mk(IVM_DT_I64, 0, NULL, &n), y;
  const rt_tensor *in[] = {&tx, &tn};
  isa_attr at[8];
  defaults(ISA_OP_DFT, at);
  set_int(&at[ISA_A_DFT_onesided], 1);
  ok(run1(ISA_OP_DFT, 2, in, at, &y));
  check_shape(&y, IVM_DT_F32, 3, D(1, 19, 2));
  near_f(&y, exp_rfft37, NELEM(exp_rfft37), 1e-5);
  free(y.data);
}

Test(dft, dft_length_zero_pads_i32_length) {
  float x[5];
  for (int k = 0; k < 5; k++) x[k] = (float)sig_re(k, 0);
  int32_t n = 8;
  rt_tensor tx = mk(IVM_DT_F32, 3, D(1, 5, 1), x), tn = mk(IVM_DT_I32, 1, D(1), &n), y;
  const rt_tensor *in[] = {&tx, &tn};
  isa_attr at[8];
  defaults(ISA_OP_DFT, at);
  set_int(&at[ISA_A_DFT_onesided], 1);
  ok(run1(ISA_OP_DFT, 2, in, at, &y));
  check_shape(&y, IVM_DT_F32, 3, D(1, 5, 2));
  near_f(&y, exp_rfft5_8, NELEM(exp_rfft5_8), 1e-5);
  free(y.data);
}

Test(dft, axis2_onesided) {
  float x[12];
  for (int k = 0; k < 12; k++) x[k] = (float)k;
  rt_tensor tx = mk(IVM_DT_F32, 4, D(1, 3, 4, 1), x), y;
  const rt_tensor *in[] = {&tx};
  isa_attr at[8];
  defaults(ISA_OP_DFT, at);
  set_int(&at[ISA_A_DFT_axis], 2);
  set_int(&at[ISA_A_DFT_onesided], 1);
  ok(run1(ISA_OP_DFT, 1, in, at, &y));
  check_shape(&y, IVM_DT_F32, 4, D(1, 3, 3, 2));
  near_f(&y, exp_rfft_axis2, NELEM(exp_rfft_axis2), 1e-6);
  free(y.data);
}

Test(dft, long_bluestein_f64_length1000) {
  static double x[1000];
  for (int k = 0; k < 1000; k++) x[k] = sig_re(k, 0);
  rt_tensor tx = mk(IVM_DT_F64, 3, D(1, 1000, 1), x), y;
  const rt_tensor *in[] = {&tx};
  isa_attr at[8];
  ok(run1(ISA_OP_DFT, 1, in, defaults(ISA_OP_DFT, at), &y));
  check_shape(&y, IVM_DT_F64, 3, D(1, 1000, 2));
  static const int bins[] = {0, 1, 7, 500, 999};
  const double *g = y.data;
  for (int i = 0; i < 5; i++)
    for (int c = 0; c < 2; c++) {
      double w = exp_dft1000[2 * i + c], v = g[2 * bins[i] + c];
      cr_assert(fabs(v - w) <= 1e-9 * (1 + fabs(w)), "bin %d.%d = %.17g, expected %.17g", bins[i], c, v, w);
    }
  free(y.data);
}

Test(dft, long_pow2_matches_direct_sum) {
  /* n = 1024 by radix-2 against a long-double direct sum at a few bins */
  static float x[1024 * 2];
  for (int k = 0; k < 1024; k++) {
    x[2 * k] = (float)sig_re(k, 0.5);
    x[2 * k + 1] = (float)sig_im(k, 0.5);
  }
  rt_tensor tx = mk(IVM_DT_F32, 3, D(1, 1024, 2), x), y;
  const rt_tensor *in[] = {&tx};
  isa_attr at[8];
  ok(run1(ISA_OP_DFT, 1, in, defaults(ISA_OP_DFT, at), &y));
  const float *g = y.data;
  static const int bins[] = {0, 3, 511, 512, 1023};
  for (int b = 0; b < 5; b++) {
    long double sr = 0, si = 0;
    for (int j = 0; j < 1024; j++) {
      long double ang = -2.0L * 3.14159265358979323846264338L * (long double)(((int64_t)j * bins[b]) % 1024) / 1024.0L;
      sr += x[2 * j] * cosl(ang) - x[2 * j + 1] * sinl(ang);
      si += x[2 * j] * sinl(ang) + x[2 * j + 1] * cosl(ang);
    }
    cr_assert(fabsl(g[2 * bins[b]] - sr) <= 1e-5L * (1 + fabsl(sr)), "bin %d re", bins[b]);
    cr_assert(fabsl(g[2 * bins[b] + 1] - si) <= 1e-5L * (1 + fabsl(si)), "bin %d im", bins[b]);
  }
  free(y.data);
}

Test(dft, f16_input) {
  uint16_t x[4];
  for (int k = 0; k < 4; k++) x[k] = isa_f32_to_f16((float)(k + 1));
  rt_tensor tx = mk(IVM_DT_F16, 3, D(1, 4, 1), x), y;
  const rt_tensor *in[] = {&tx};
  isa_attr at[8];
  ok(run1(ISA_OP_DFT, 1, in, defaults(ISA_OP_DFT, at), &y));
  check_shape(&y, IVM_DT_F16, 3, D(1, 4, 2));
  /* fft([1,2,3,4]) = [10, -2+2i, -2, -2-2i] */
  static const float want[] = {10, 0, -2, 2, -2, 0, -2, -2};
  const uint16_t *g = y.data;
  for (int i = 0; i < 8; i++) cr_assert_float_eq(isa_f16_to_f32(g[i]), want[i], 1e-3);
  free(y.data);
}

Test(dft, inference_unknown_and_errors) {
  isa_attr at[8];
  defaults(ISA_OP_DFT, at);
  isa_type in[2] = {ty(IVM_DT_F32, 3, D(2, 10, 1)), ty(IVM_DT_I64, 0, NULL)}, out;
  /* dft_length unknown: the axis dim is unknown */
  ok(infer(ISA_OP_DFT, 2, in, NULL, at, &out));
  cr_assert_eq(out.rank, 3);
  cr_assert_eq(out.dims[0], 2);
  cr_assert_eq(out.dims[1], ISA_DIM_ANY);
  cr_assert_eq(out.dims[2], 2);
  /* symbolic length kept when not onesided, unknown when onesided */
  in[0].dims[1] = ISA_DIM_SYM(0);
  ok(infer(ISA_OP_DFT, 1, in, NULL, at, &out));
  cr_assert_eq(out.dims[1], ISA_DIM_SYM(0));
  set_int(&at[ISA_A_DFT_onesided], 1);
  ok(infer(ISA_OP_DFT, 1, in, NULL, at, &out));
  cr_assert_eq(out.dims[1], ISA_DIM_ANY);
  defaults(ISA_OP_DFT, at);
  in[0].dims[1] = 10;
  /* last dim 3 */
  in[0].dims[2] = 3;
  fails(infer(ISA_OP_DFT, 1, in, NULL, at, &out), IVM_ERR_INVALID_ARGUMENT);
  in[0].dims[2] = 1;
  /* axis out of range: the last (complex) axis and beyond the rank */
  set_int(&at[ISA_A_DFT_axis], 2);
  fails(infer(ISA_OP_DFT, 1, in, NULL, at, &out), IVM_ERR_INVALID_ARGUMENT);
  set_int(&at[ISA_A_DFT_axis], -1);
  fails(infer(ISA_OP_DFT, 1, in, NULL, at, &out), IVM_ERR_INVALID_ARGUMENT);
  set_int(&at[ISA_A_DFT_axis], -4);
  fails(infer(ISA_OP_DFT, 1, in, NULL, at, &out), IVM_ERR_INVALID_ARGUMENT);
  defaults(ISA_OP_DFT, at);
  set_int(&at[ISA_A_DFT_inverse], 2);
  fails(infer(ISA_OP_DFT, 1, in, NULL, at, &out), IVM_ERR_INVALID_ARGUMENT);
  defaults(ISA_OP_DFT, at);
  /* dft_length 0, non-scalar, wrong dtype; integer signal */
  int64_t zero = 0;
  const void *data[2] = {NULL, &zero};
  fails(infer(ISA_OP_DFT, 2, in, data, at, &out), IVM_ERR_INVALID_ARGUMENT);
  in[1] = ty(IVM_DT_I64, 1, D(2));
  fails(infer(ISA_OP_DFT, 2, in, NULL, at, &out), IVM_ERR_INVALID_ARGUMENT);
  in[1] = ty(IVM_DT_F32, 0, NULL);
  fails(infer(ISA_OP_DFT, 2, in, NULL, at, &out), IVM_ERR_INVALID_ARGUMENT);
  in[0].dtype = IVM_DT_I32;
  fails(infer(ISA_OP_DFT, 1, in, NULL, at, &out), IVM_ERR_INVALID_ARGUMENT);
  /* empty axis */
  in[0] = ty(IVM_DT_F32, 3, D(2, 0, 1));
  fails(infer(ISA_OP_DFT, 1, in, NULL, at, &out), IVM_ERR_INVALID_ARGUMENT);
  /* rank 1 */
  in[0] = ty(IVM_DT_F32, 1, D(4));
  fails(infer(ISA_OP_DFT, 1, in, NULL, at, &out), IVM_ERR_INVALID_ARGUMENT);
}

Test(dft, empty_batch_runs) {
  float dummy = 0;
  rt_tensor tx = mk(IVM_DT_F32, 3, D(0, 6, 2), &dummy), y;
  const rt_tensor *in[] = {&tx};
  isa_attr at[8];
  ok(run1(ISA_OP_DFT, 1, in, defaults(ISA_OP_DFT, at), &y));
  check_shape(&y, IVM_DT_F32, 3, D(0, 6, 2));
  free(y.data);
}

/* ---- STFT ---------------------------------------------------------------------------- */

Test(stft, real_with_hann_window_onesided) {
  float x[20], w[8];
  for (int k = 0; k < 20; k++) x[k] = (float)sig_re(k, 0);
  for (int k = 0; k < 8; k++) w[k] = (float)(0.5 - 0.5 * cos(2 * 3.14159265358979323846 * k / 8));
  int64_t step = 4;
  rt_tensor tx = mk(IVM_DT_F32, 3, D(1, 20, 1), x), ts = mk(IVM_DT_I64, 0, NULL, &step),
            tw = mk(IVM_DT_F32, 1, D(8), w), y;
  const rt_tensor *in[] = {&tx, &ts, &tw};
  isa_attr at[4];
  ok(run1(ISA_OP_STFT, 3, in, defaults(ISA_OP_STFT, at), &y));
  check_shape(&y, IVM_DT_F32, 4, D(1, 4, 5, 2));
  near_f(&y, exp_stft, NELEM(exp_stft), 1e-5);
  free(y.data);
}

Test(stft, complex_frame_length_two_sided) {
  double x[2 * 10 * 2];
  for (int b = 0; b < 2; b++)
    for (int k = 0; k < 10; k++) {
      x[(b * 10 + k) * 2] = sig_re(k, b);
      x[(b * 10 + k) * 2 + 1] = sig_im(k, b);
    }
  int32_t step = 3, fl = 4;
  rt_tensor tx = mk(IVM_DT_F64, 3, D(2, 10, 2), x), ts = mk(IVM_DT_I32, 0, NULL, &step),
            tl = mk(IVM_DT_I32, 0, NULL, &fl), y;
  const rt_tensor *in[] = {&tx, &ts, NULL, &tl};
  isa_attr at[4];
  defaults(ISA_OP_STFT, at);
  set_int(&at[ISA_A_STFT_onesided], 0);
  ok(run1(ISA_OP_STFT, 4, in, at, &y));
  check_shape(&y, IVM_DT_F64, 4, D(2, 3, 4, 2));
  near_d(&y, exp_stft_c, NELEM(exp_stft_c), 1e-12);
  free(y.data);
}

Test(stft, errors) {
  isa_attr at[4];
  defaults(ISA_OP_STFT, at);
  int64_t step = 4, fl = 8, zero = 0, big = 40;
  isa_type in[4] = {ty(IVM_DT_F32, 3, D(1, 20, 1)), ty(IVM_DT_I64, 0, NULL), ty(IVM_DT_F32, 1, D(8)),
                    ty(IVM_DT_I64, 0, NULL)},
           out;
  const void *data[4] = {NULL, &step, NULL, &fl};
  ok(infer(ISA_OP_STFT, 4, in, data, at, &out));
  cr_assert_eq(out.dims[1], 4);
  cr_assert_eq(out.dims[2], 5);
  /* unknown step: frames unknown */
  ok(infer(ISA_OP_STFT, 3, in, NULL, at, &out));
  cr_assert_eq(out.rank, 4);
  cr_assert_eq(out.dims[1], ISA_DIM_ANY);
  cr_assert_eq(out.dims[2], 5);
  /* neither window nor frame_length */
  fails(infer(ISA_OP_STFT, 2, in, data, at, &out), IVM_ERR_INVALID_ARGUMENT);
  /* step 0 */
  data[1] = &zero;
  fails(infer(ISA_OP_STFT, 3, in, data, at, &out), IVM_ERR_INVALID_ARGUMENT);
  data[1] = &step;
  /* window / frame_length mismatch, frame longer than the signal */
  data[3] = &big;
  fails(infer(ISA_OP_STFT, 4, in, data, at, &out), IVM_ERR_INVALID_ARGUMENT);
  in[2].dtype = IVM_DT_NONE;
  fails(infer(ISA_OP_STFT, 4, in, data, at, &out), IVM_ERR_INVALID_ARGUMENT);
  /* window of another dtype, of rank 2 */
  in[2] = ty(IVM_DT_F64, 1, D(8));
  fails(infer(ISA_OP_STFT, 3, in, data, at, &out), IVM_ERR_INVALID_ARGUMENT);
  in[2] = ty(IVM_DT_F32, 2, D(2, 4));
  fails(infer(ISA_OP_STFT, 3, in, data, at, &out), IVM_ERR_INVALID_ARGUMENT);
  /* signal of rank 2, with last dim 3 */
  in[2] = ty(IVM_DT_F32, 1, D(8));
  in[0] = ty(IVM_DT_F32, 2, D(1, 20));
  fails(infer(ISA_OP_STFT, 3, in, data, at, &out), IVM_ERR_INVALID_ARGUMENT);
  in[0] = ty(IVM_DT_F32, 3, D(1, 20, 3));
  fails(infer(ISA_OP_STFT, 3, in, data, at, &out), IVM_ERR_INVALID_ARGUMENT);
}

Test(stft, kernel_rejects_mismatched_output) {
  /* The kernel re-derives the shape from the values: a stale output shape is an error. */
  float x[20] = {0}, w[8] = {0};
  int64_t step = 4;
  rt_tensor tx = mk(IVM_DT_F32, 3, D(1, 20, 1), x), ts = mk(IVM_DT_I64, 0, NULL, &step),
            tw = mk(IVM_DT_F32, 1, D(8), w);
  float ybuf[1 * 3 * 5 * 2];
  rt_tensor y = mk(IVM_DT_F32, 4, D(1, 3, 5, 2), ybuf);
  rt_tensor *outs[] = {&y};
  const rt_tensor *in[] = {&tx, &ts, &tw};
  isa_attr at[4];
  rt_scratch s = {NULL, NULL, 0, NULL};
  rt_call call = {3, 1, in, outs, defaults(ISA_OP_STFT, at), &s, NULL};
  fails(rt_builtin_kernel(ISA_OP_STFT)(&call), IVM_ERR_RUNTIME);
  rt_scratch_release(&s);
}

/* ---- windows -------------------------------------------------------------------------- */

static void window_case(isa_builtin_op op, int periodic, const double *want) {
  int32_t n = 7;
  rt_tensor tn = mk(IVM_DT_I32, 0, NULL, &n), y;
  const rt_tensor *in[] = {&tn};
  isa_attr at[4];
  defaults(op, at);
  set_int(&at[ISA_A_HannWindow_periodic], periodic);
  ok(run1(op, 1, in, at, &y));
  check_shape(&y, IVM_DT_F32, 1, D(7));
  near_f(&y, want, 7, 1e-6);
  free(y.data);
  /* f64 output */
  set_int(&at[ISA_A_HannWindow_output_datatype], IVM_DT_F64);
  ok(run1(op, 1, in, at, &y));
  check_shape(&y, IVM_DT_F64, 1, D(7));
  near_d(&y, want, 7, 1e-14);
  free(y.data);
}

Test(window, hann) {
  window_case(ISA_OP_HannWindow, 1, exp_hann_p);
  window_case(ISA_OP_HannWindow, 0, exp_hann_s);
}

Test(window, hamming) {
  window_case(ISA_OP_HammingWindow, 1, exp_hamming_p);
  window_case(ISA_OP_HammingWindow, 0, exp_hamming_s);
}

Test(window, blackman) {
  window_case(ISA_OP_BlackmanWindow, 1, exp_blackman_p);
  window_case(ISA_OP_BlackmanWindow, 0, exp_blackman_s);
}

Test(window, sizes_zero_one_and_int_output) {
  isa_attr at[4];
  int64_t n = 0;
  rt_tensor tn = mk(IVM_DT_I64, 0, NULL, &n), y;
  const rt_tensor *in[] = {&tn};
  ok(run1(ISA_OP_HannWindow, 1, in, defaults(ISA_OP_HannWindow, at), &y));
  check_shape(&y, IVM_DT_F32, 1, D(0));
  free(y.data);
  n = 1; /* symmetric size 1 is [1] */
  set_int(&at[ISA_A_HannWindow_periodic], 0);
  ok(run1(ISA_OP_HannWindow, 1, in, at, &y));
  cr_assert_float_eq(((float *)y.data)[0], 1.0f, 0);
  free(y.data);
  /* i64 output saturates/truncates: the Hann peak 1 at n = 2 of a periodic window of 4 */
  n = 4;
  defaults(ISA_OP_HannWindow, at);
  set_int(&at[ISA_A_HannWindow_output_datatype], IVM_DT_I64);
  ok(run1(ISA_OP_HannWindow, 1, in, at, &y));
  check_shape(&y, IVM_DT_I64, 1, D(4));
  const int64_t *g = y.data;
  cr_assert(g[0] == 0 && g[1] == 0 && g[2] == 1 && g[3] == 0);
  free(y.data);
}

Test(window, inference_and_errors) {
  isa_attr at[4];
  defaults(ISA_OP_BlackmanWindow, at);
  isa_type in = ty(IVM_DT_I64, 0, NULL), out;
  ok(infer(ISA_OP_BlackmanWindow, 1, &in, NULL, at, &out));
  cr_assert_eq(out.rank, 1);
  cr_assert_eq(out.dims[0], ISA_DIM_ANY);
  cr_assert_eq(out.dtype, IVM_DT_F32);
  int64_t neg = -3;
  const void *data[1] = {&neg};
  fails(infer(ISA_OP_BlackmanWindow, 1, &in, data, at, &out), IVM_ERR_INVALID_ARGUMENT);
  set_int(&at[ISA_A_BlackmanWindow_output_datatype], IVM_DT_BOOL);
  fails(infer(ISA_OP_BlackmanWindow, 1, &in, NULL, at, &out), IVM_ERR_INVALID_ARGUMENT);
  set_int(&at[ISA_A_BlackmanWindow_output_datatype], 99);
  fails(infer(ISA_OP_BlackmanWindow, 1, &in, NULL, at, &out), IVM_ERR_INVALID_ARGUMENT);
  defaults(ISA_OP_BlackmanWindow, at);
  set_int(&at[ISA_A_BlackmanWindow_periodic], 5);
  fails(infer(ISA_OP_BlackmanWindow, 1, &in, NULL, at, &out), IVM_ERR_INVALID_ARGUMENT);
  defaults(ISA_OP_BlackmanWindow, at);
  in = ty(IVM_DT_F32, 0, NULL);
  fails(infer(ISA_OP_BlackmanWindow, 1, &in, NULL, at, &out), IVM_ERR_INVALID_ARGUMENT);
  in = ty(IVM_DT_I32, 1, D(3));
  fails(infer(ISA_OP_BlackmanWindow, 1, &in, NULL, at, &out), IVM_ERR_INVALID_ARGUMENT);
}

/* ---- MelWeightMatrix ------------------------------------------------------------------- */

static ivm_status mel_run(int64_t nmel, int64_t dft, int64_t rate, float lo, float hi,
                          const isa_attr *at, rt_tensor *y) {
  rt_tensor t0 = mk(IVM_DT_I64, 0, NULL, &nmel), t1 = mk(IVM_DT_I64, 0, NULL, &dft),
            t2 = mk(IVM_DT_I64, 0, NULL, &rate), t3 = mk(IVM_DT_F32, 0, NULL, &lo),
            t4 = mk(IVM_DT_F32, 0, NULL, &hi);
  const rt_tensor *in[] = {&t0, &t1, &t2, &t3, &t4};
  return run1(ISA_OP_MelWeightMatrix, 5, in, at, y);
}

Test(mel, onnx_test_case) {
  isa_attr at[2];
  rt_tensor y;
  ok(mel_run(8, 16, 8192, 0.0f, 4096.0f, defaults(ISA_OP_MelWeightMatrix, at), &y));
  check_shape(&y, IVM_DT_F32, 2, D(9, 8));
  /* ONNX's expected matrix: ones at (0,0) (0,1) (1,2) (1,3) (2,4) (3,5) (4,6) (5,7) */
  static const int ones[][2] = {{0, 0}, {0, 1}, {1, 2}, {1, 3}, {2, 4}, {3, 5}, {4, 6}, {5, 7}};
  const float *g = y.data;
  for (int r = 0; r < 9; r++)
    for (int c = 0; c < 8; c++) {
      float w = 0;
      for (int k = 0; k < 8; k++)
        if (ones[k][0] == r && ones[k][1] == c) w = 1;
      cr_assert_float_eq(g[r * 8 + c], w, 0, "(%d, %d)", r, c);
    }
  free(y.data);
}

Test(mel, triangles_and_f64_output) {
  isa_attr at[2];
  rt_tensor y;
  defaults(ISA_OP_MelWeightMatrix, at);
  ok(mel_run(5, 64, 16000, 100.0f, 7000.0f, at, &y));
  check_shape(&y, IVM_DT_F32, 2, D(33, 5));
  const float *g = y.data;
  for (size_t i = 0; i < NELEM(exp_mel); i++) cr_assert_float_eq(g[i], exp_mel[i], 1e-6, "[%zu]", i);
  free(y.data);
  set_int(&at[ISA_A_MelWeightMatrix_output_datatype], IVM_DT_F64);
  ok(mel_run(5, 64, 16000, 100.0f, 7000.0f, at, &y));
  check_shape(&y, IVM_DT_F64, 2, D(33, 5));
  const double *gd = y.data;
  for (size_t i = 0; i < NELEM(exp_mel); i++) cr_assert_float_eq(gd[i], exp_mel[i], 1e-6, "[%zu]", i);
  free(y.data);
}

Test(mel, errors) {
  isa_attr at[2];
  rt_tensor y;
  defaults(ISA_OP_MelWeightMatrix, at);
  /* odd dft_length with the Nyquist upper edge: the last band edge is bin 8 of 0..7, which
   * only ends the last (falling) triangle, so it is accepted as in the reference */
  ok(mel_run(8, 15, 8192, 0.0f, 4096.0f, at, &y));
  check_shape(&y, IVM_DT_F32, 2, D(8, 8));
  free(y.data);
  /* an upper edge at the sample rate puts band edges outside the spectrogram bins */
  fails(mel_run(4, 16, 8000, 0.0f, 8000.0f, at, &y), IVM_ERR_RUNTIME);
  /* beyond the sample rate */
  fails(mel_run(4, 16, 8000, 0.0f, 9000.0f, at, &y), IVM_ERR_RUNTIME);
  /* NaN edge */
  fails(mel_run(4, 16, 8000, NAN, 3000.0f, at, &y), IVM_ERR_RUNTIME);
  /* bad sizes, caught by inference */
  fails(mel_run(4, 0, 8000, 0.0f, 3000.0f, at, &y), IVM_ERR_INVALID_ARGUMENT);
  fails(mel_run(4, 16, 0, 0.0f, 3000.0f, at, &y), IVM_ERR_INVALID_ARGUMENT);
  fails(mel_run(-1, 16, 8000, 0.0f, 3000.0f, at, &y), IVM_ERR_INVALID_ARGUMENT);
  /* mixed integer dtypes, integer edges */
  isa_type in[5] = {ty(IVM_DT_I32, 0, NULL), ty(IVM_DT_I64, 0, NULL), ty(IVM_DT_I32, 0, NULL),
                    ty(IVM_DT_F32, 0, NULL), ty(IVM_DT_F32, 0, NULL)},
           out;
  fails(infer(ISA_OP_MelWeightMatrix, 5, in, NULL, at, &out), IVM_ERR_INVALID_ARGUMENT);
  in[1].dtype = IVM_DT_I32;
  ok(infer(ISA_OP_MelWeightMatrix, 5, in, NULL, at, &out));
  cr_assert_eq(out.rank, 2);
  cr_assert_eq(out.dims[0], ISA_DIM_ANY);
  cr_assert_eq(out.dims[1], ISA_DIM_ANY);
  in[4].dtype = IVM_DT_I32;
  fails(infer(ISA_OP_MelWeightMatrix, 5, in, NULL, at, &out), IVM_ERR_INVALID_ARGUMENT);
}
