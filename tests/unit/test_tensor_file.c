/* .npy and ONNX TensorProto (.pb) host tensor files. Expected bytes and values come from
 * numpy (np.save / onnx.numpy_helper). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ivm/ivm.h"

#define ONNX_NODE "/usr/share/libonnx-testdata/data/node"

static void tmp_path(char *buf, size_t n, const char *tag) {
  snprintf(buf, n, "/tmp/ivm_test_tf_%ld_%s", (long)getpid(), tag);
}

static void write_bytes(const char *path, const void *b, size_t n) {
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f);
  cr_assert_eq(fwrite(b, 1, n, f), n);
  fclose(f);
}

static void expect_error(const char *path, ivm_status_code code) {
  ivm_host_tensor t;
  ivm_status st = ivm_host_tensor_read_file(path, &t);
  cr_assert_not_null(st, "%s: expected an error", path);
  cr_expect_eq(ivm_status_get_code(st), code, "%s: got %s: %s", path,
               ivm_status_code_name(ivm_status_get_code(st)), ivm_status_message(st));
  ivm_status_free(st);
}

/* np.save(np.array([[1.5,-2,3],[4,5,6.25]], dtype=np.float32)) */
static const char npy_f32[] =
    "\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
    "                                                          \n"
    "\x00\x00\xc0?\x00\x00\x00\xc0\x00\x00@@\x00\x00\x80@\x00\x00\xa0@\x00\x00\xc8@";
/* np.lib.format.write_array(f, np.array([1,-2,3], dtype=np.int64), version=(2,0)) */
static const char npy_i64_v2[] =
    "\x93NUMPY\x02\x00t\x00\x00\x00{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }"
    "                                                          \n"
    "\x01\x00\x00\x00\x00\x00\x00\x00\xfe\xff\xff\xff\xff\xff\xff\xff\x03\x00\x00\x00\x00\x00\x00\x00";
/* np.save(np.array([True, False, True])) */
static const char npy_bool[] =
    "\x93NUMPY\x01\x00v\x00{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }"
    "                                                            \n\x01\x00\x01";

Test(tensor_file, read_numpy_f32) {
  char p[256];
  tmp_path(p, sizeof p, "f32.npy");
  write_bytes(p, npy_f32, sizeof npy_f32 - 1);
  ivm_host_tensor t;
  cr_assert_null(ivm_host_tensor_read_file(p, &t));
  cr_expect_eq(t.dtype, IVM_DT_F32);
  cr_expect_eq(t.rank, 2);
  cr_expect_eq(t.dims[0], 2);
  cr_expect_eq(t.dims[1], 3);
  cr_assert_eq(t.nbytes, 24);
  const float want[6] = {1.5f, -2.0f, 3.0f, 4.0f, 5.0f, 6.25f};
  cr_expect_arr_eq(t.data, want, sizeof want);
  ivm_host_tensor_free(&t);
  unlink(p);
}

Test(tensor_file, read_numpy_v2_i64_and_bool) {
  char p[256];
  tmp_path(p, sizeof p, "i64.npy");
  write_bytes(p, npy_i64_v2, sizeof npy_i64_v2 - 1);
  ivm_host_tensor t;
  cr_assert_null(ivm_host_tensor_read_file(p, &t));
  cr_expect_eq(t.dtype, IVM_DT_I64);
  cr_expect_eq(t.rank, 1);
  cr_expect_eq(t.dims[0], 3);
  const int64_t want[3] = {1, -2, 3};
  cr_expect_arr_eq(t.data, want, sizeof want);
  ivm_host_tensor_free(&t);
  write_bytes(p, npy_bool, sizeof npy_bool - 1);
  cr_assert_null(ivm_host_tensor_read_file(p, &t));
  cr_expect_eq(t.dtype, IVM_DT_BOOL);
  const uint8_t wb[3] = {1, 0, 1};
  cr_expect_arr_eq(t.data, wb, 3);
  ivm_host_tensor_free(&t);
  unlink(p);
}

Test(tensor_file, npy_round_trip) {
  char p[256];
  tmp_path(p, sizeof p, "rt.npy");
  const int64_t dims[3] = {2, 1, 3};
  const double data[6] = {0.5, -1.25, 3e10, -0.0, 7, 1e-300};
  cr_assert_null(ivm_host_tensor_write_npy(p, IVM_DT_F64, 3, dims, data));
  ivm_host_tensor t;
  cr_assert_null(ivm_host_tensor_read_file(p, &t));
  cr_expect_eq(t.dtype, IVM_DT_F64);
  cr_expect_eq(t.rank, 3);
  cr_expect_arr_eq(t.dims, dims, sizeof dims);
  cr_expect_arr_eq(t.data, data, sizeof data);
  ivm_host_tensor_free(&t);
  /* The header is 64-byte aligned and parses as numpy writes it. */
  FILE *f = fopen(p, "rb");
  unsigned char hdr[128];
  size_t n = fread(hdr, 1, sizeof hdr, f);
  fclose(f);
  cr_assert_geq(n, 64);
  size_t hlen = hdr[8] | hdr[9] << 8;
  cr_expect_eq((10 + hlen) % 64, 0);
  cr_expect(memmem(hdr, n, "'shape': (2, 1, 3)", 18) != NULL);
  /* rank 0 and 1-D forms */
  const int32_t s = 42;
  cr_assert_null(ivm_host_tensor_write_npy(p, IVM_DT_I32, 0, NULL, &s));
  cr_assert_null(ivm_host_tensor_read_file(p, &t));
  cr_expect_eq(t.rank, 0);
  cr_expect_eq(*(int32_t *)t.data, 42);
  ivm_host_tensor_free(&t);
  const int64_t d1 = 2;
  const uint16_t h[2] = {0x3c00, 0xc000};
  cr_assert_null(ivm_host_tensor_write_npy(p, IVM_DT_F16, 1, &d1, h));
  cr_assert_null(ivm_host_tensor_read_file(p, &t));
  cr_expect_eq(t.dtype, IVM_DT_F16);
  cr_expect_eq(t.dims[0], 2);
  cr_expect_arr_eq(t.data, h, 4);
  ivm_host_tensor_free(&t);
  unlink(p);
}

/* input_0.pb of test_relu: numpy says float32 (3, 4, 5), first values
 * [1.764052391052246, 0.40015721321105957, 0.978738009929657, 2.2408931255340576],
 * last -0.36274117, sum 4.6000376. */
Test(tensor_file, read_onnx_pb) {
  ivm_host_tensor t;
  cr_assert_null(ivm_host_tensor_read_file(ONNX_NODE "/test_relu/test_data_set_0/input_0.pb", &t));
  cr_expect_eq(t.dtype, IVM_DT_F32);
  cr_expect_eq(t.rank, 3);
  cr_expect_eq(t.dims[0], 3);
  cr_expect_eq(t.dims[1], 4);
  cr_expect_eq(t.dims[2], 5);
  cr_assert_eq(t.nbytes, 60 * 4);
  cr_expect_str_eq(t.name, "x");
  const float *f = t.data;
  cr_expect_float_eq(f[0], 1.764052391052246f, 1e-7);
  cr_expect_float_eq(f[1], 0.40015721321105957f, 1e-7);
  cr_expect_float_eq(f[3], 2.2408931255340576f, 1e-7);
  cr_expect_float_eq(f[59], -0.36274117f, 1e-7);
  double sum = 0;
  for (int i = 0; i < 60; i++) sum += f[i];
  cr_expect_float_eq(sum, 4.6000376, 1e-4);
  ivm_host_tensor_free(&t);
  /* int64 [2, -1, 2] */
  cr_assert_null(ivm_host_tensor_read_file(
      ONNX_NODE "/test_reshape_negative_dim/test_data_set_0/input_1.pb", &t));
  cr_expect_eq(t.dtype, IVM_DT_I64);
  cr_expect_eq(t.rank, 1);
  const int64_t want[3] = {2, -1, 2};
  cr_expect_arr_eq(t.data, want, sizeof want);
  ivm_host_tensor_free(&t);
}

Test(tensor_file, malformed_rejected) {
  char p[256];
  tmp_path(p, sizeof p, "bad.npy");
  /* truncated data */
  write_bytes(p, npy_f32, sizeof npy_f32 - 5);
  expect_error(p, IVM_ERR_FORMAT);
  /* truncated header */
  write_bytes(p, npy_f32, 40);
  expect_error(p, IVM_ERR_FORMAT);
  /* header length beyond the file */
  char buf[sizeof npy_f32];
  memcpy(buf, npy_f32, sizeof buf);
  buf[8] = (char)0xff;
  buf[9] = (char)0x7f;
  write_bytes(p, buf, sizeof buf - 1);
  expect_error(p, IVM_ERR_FORMAT);
  /* bad magic */
  memcpy(buf, npy_f32, sizeof buf);
  buf[1] = 'X';
  write_bytes(p, buf, sizeof buf - 1);
  expect_error(p, IVM_ERR_FORMAT);
  /* big-endian and Fortran order are refused */
  memcpy(buf, npy_f32, sizeof buf);
  char *d = memmem(buf, sizeof buf, "<f4", 3);
  d[0] = '>';
  write_bytes(p, buf, sizeof buf - 1);
  expect_error(p, IVM_ERR_UNSUPPORTED);
  memcpy(buf, npy_f32, sizeof buf);
  d = memmem(buf, sizeof buf, "False", 5);
  memcpy(d, "True ", 5);
  write_bytes(p, buf, sizeof buf - 1);
  expect_error(p, IVM_ERR_UNSUPPORTED);
  /* huge shape */
  char huge[] = "\x93NUMPY\x01\x00??{'descr': '<f4', 'fortran_order': False, "
                "'shape': (99999999999, 99999999999), }\n";
  huge[8] = (char)(sizeof huge - 11);
  huge[9] = 0;
  write_bytes(p, huge, sizeof huge - 1);
  expect_error(p, IVM_ERR_FORMAT);
  unlink(p);
  /* garbage .pb */
  tmp_path(p, sizeof p, "bad.pb");
  write_bytes(p, "\xff\xff\xff\xff\xff\x01\x02", 7);
  expect_error(p, IVM_ERR_FORMAT);
  /* a .pb whose raw_data does not match its dims: dims [1000], data_type f32, raw 4 bytes */
  const unsigned char pb[] = {0x08, 0xe8, 0x07, 0x10, 0x01, 0x4a, 0x04, 0, 0, 0x80, 0x3f};
  write_bytes(p, pb, sizeof pb);
  expect_error(p, IVM_ERR_FORMAT);
  unlink(p);
  expect_error("/nonexistent/x.npy", IVM_ERR_NOT_FOUND);
}
