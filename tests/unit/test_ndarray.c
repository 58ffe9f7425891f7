/* test_ndarray.c - data types, the float16/bfloat16 converters (exhaustively, and against a
 * float64 round-to-nearest-even reference built from the formats' definitions), storages,
 * NDArrays, views, copies, device errors and reference counting. */
#include <stdint.h>

#include "mlcc/mlcc_runtime.h"
#include "runtime/device.h"
#include "runtime/ndarray.h"
#include "test.h"

static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint64_t next_random(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static float float_of(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Value of the non-negative finite pattern h of a format with `mant_bits` mantissa bits and
 * exponent bias `bias`, from the definition (no bit tricks shared with the code under test). */
static double pattern_value(uint32_t h, int mant_bits, int bias) {
    uint32_t exp = h >> mant_bits, mant = h & ((1u << mant_bits) - 1);
    if (exp == 0) return ldexp((double)mant, 1 - bias - mant_bits);
    return ldexp((double)((1u << mant_bits) + mant), (int)exp - bias - mant_bits);
}

/* The pattern (without sign) that |x| rounds to, nearest with ties to even; vals holds the
 * `count` non-negative finite values in pattern order, and pattern `count` is infinity. */
static uint32_t reference_round(double x, const double *vals, uint32_t count) {
    double top = vals[count - 1], overflow = top + (top - vals[count - 2]) / 2;
    if (x >= overflow) return count;
    uint32_t lo = 0, hi = count - 1; /* largest i with vals[i] <= x */
    while (lo < hi) {
        uint32_t mid = (lo + hi + 1) / 2;
        if (vals[mid] <= x)
            lo = mid;
        else
            hi = mid - 1;
    }
    if (lo == count - 1) return lo;
    double below = x - vals[lo], above = vals[lo + 1] - x;
    if (below < above) return lo;
    if (above < below) return lo + 1;
    return (lo & 1) ? lo + 1 : lo;
}

static double *format_table(uint32_t count, int mant_bits, int bias) {
    double *vals = malloc(count * sizeof *vals);
    for (uint32_t h = 0; h < count; h++) vals[h] = pattern_value(h, mant_bits, bias);
    return vals;
}

static int is_f16_nan(uint16_t h) {
    return (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
}

static void test_f16_exhaustive(void) {
    int bad_roundtrip = 0, bad_value = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = mlcc_f16_to_f32((uint16_t)h);
        if (mlcc_f32_to_f16(f) != h) bad_roundtrip++;
        uint32_t mag = h & 0x7fff;
        double expect;
        if (mag < 0x7c00)
            expect = pattern_value(mag, 10, 15);
        else if (mag == 0x7c00)
            expect = INFINITY;
        else
            expect = NAN;
        if (h & 0x8000) expect = -expect;
        if (is_f16_nan((uint16_t)h) ? !isnan(f)
                                    : (double)f != expect || !!signbit(f) != !!(h & 0x8000))
            bad_value++;
    }
    CHECK_EQ_INT(bad_roundtrip, 0);
    CHECK_EQ_INT(bad_value, 0);
    /* NaN payloads: a float NaN whose payload lives only in low bits must stay a NaN. */
    CHECK(is_f16_nan(mlcc_f32_to_f16(float_of(0x7f800001))));
    CHECK(is_f16_nan(mlcc_f32_to_f16(float_of(0xffc00000))));
    CHECK_EQ_INT(mlcc_f32_to_f16(float_of(0xffc00000)) & 0x8000, 0x8000);
    CHECK_EQ_INT(mlcc_f32_to_f16(INFINITY), 0x7c00);
    CHECK_EQ_INT(mlcc_f32_to_f16(-INFINITY), 0xfc00);
    CHECK_EQ_INT(mlcc_f32_to_f16(65504.0f), 0x7bff);
    CHECK_EQ_INT(mlcc_f32_to_f16(65519.99f), 0x7bff);
    CHECK_EQ_INT(mlcc_f32_to_f16(65520.0f),
                 0x7c00); /* the tie above the max rounds to even = inf */
    CHECK_EQ_INT(mlcc_f32_to_f16(ldexpf(1, -25)), 0); /* tie between 0 and the smallest subnormal */
    CHECK_EQ_INT(mlcc_f32_to_f16(ldexpf(1.5f, -25)), 1);
    CHECK_EQ_INT(mlcc_f32_to_f16(-0.0f), 0x8000);
}

static void check_f16_rounding(float x, int *bad, const double *vals) {
    uint16_t got = mlcc_f32_to_f16(x);
    if (isnan(x)) {
        if (!is_f16_nan(got)) (*bad)++;
        return;
    }
    uint32_t want = reference_round(fabs((double)x), vals, 0x7c00) | (signbit(x) ? 0x8000 : 0);
    if (got != want) {
        if (*bad < 5) fprintf(stderr, "f32->f16 %a: got %04x want %04x\n", (double)x, got, want);
        (*bad)++;
    }
#ifdef __FLT16_MAX__
    /* The compiler's own conversion is a second, independent reference. */
    _Float16 hw = (_Float16)x;
    uint16_t hw_bits;
    memcpy(&hw_bits, &hw, 2);
    if (hw_bits != got) (*bad)++;
#endif
}

static void test_f16_rounding(void) {
    double *vals = format_table(0x7c00, 10, 15);
    int bad = 0;
    for (int i = 0; i < 400000; i++)
        check_f16_rounding(float_of((uint32_t)next_random()), &bad, vals);
    /* Values in and around the half range: a random pattern plus a random fraction of an ulp. */
    for (int i = 0; i < 400000; i++) {
        uint32_t h = (uint32_t)(next_random() % 0x7c00);
        double lo = vals[h], hi = h + 1 < 0x7c00 ? vals[h + 1] : 65536.0;
        double x = lo + (hi - lo) * (double)(next_random() % 1024) / 1024.0;
        check_f16_rounding((float)(next_random() & 1 ? -x : x), &bad, vals);
    }
    /* Every exact tie between neighbours (representable in float32). */
    for (uint32_t h = 0; h + 1 < 0x7c00; h++)
        check_f16_rounding((float)((vals[h] + vals[h + 1]) / 2), &bad, vals);
    CHECK_EQ_INT(bad, 0);
    free(vals);
}

static void test_bf16(void) {
    int bad_roundtrip = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = mlcc_bf16_to_f32((uint16_t)h);
        if (mlcc_f32_to_bf16(f) != h) bad_roundtrip++;
    }
    CHECK_EQ_INT(bad_roundtrip, 0);
    double *vals = format_table(0x7f80, 7, 127);
    int bad = 0;
    for (int i = 0; i < 400000; i++) {
        float x = float_of((uint32_t)next_random());
        uint16_t got = mlcc_f32_to_bf16(x);
        if (isnan(x)) {
            if (!((got & 0x7f80) == 0x7f80 && (got & 0x7f))) bad++;
            continue;
        }
        uint32_t want = reference_round(fabs((double)x), vals, 0x7f80) | (signbit(x) ? 0x8000 : 0);
        if (got != want) bad++;
        /* and the value read back is the reference's value */
        double back = (want & 0x7fff) == 0x7f80 ? INFINITY : pattern_value(want & 0x7fff, 7, 127);
        if (fabs((double)mlcc_bf16_to_f32(got)) != back) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(mlcc_f32_to_bf16(float_of(0x7f800001)) & 0x7f80, 0x7f80);
    CHECK(mlcc_f32_to_bf16(float_of(0x7f800001)) & 0x7f); /* still a NaN, not infinity */
    CHECK_EQ_INT(mlcc_f32_to_bf16(1.0f), 0x3f80);
    CHECK_EQ_INT(mlcc_f32_to_bf16(float_of(0x3f808000)), 0x3f80); /* tie to even (down) */
    CHECK_EQ_INT(mlcc_f32_to_bf16(float_of(0x3f818000)), 0x3f82); /* tie to even (up) */
    CHECK_EQ_INT(mlcc_f32_to_bf16(float_of(0x7f7fffff)), 0x7f80); /* overflow to infinity */
    free(vals);

    /* The array forms agree with the scalar ones. */
    uint16_t h[5] = {0x3c00, 0xc000, 0x7bff, 0x0001, 0x3f80};
    float f[5];
    uint16_t back[5];
    mlcc_f16_to_f32_n(f, h, 5);
    CHECK(f[0] == 1.0f && f[1] == -2.0f && f[2] == 65504.0f && f[3] == ldexpf(1, -24));
    mlcc_f32_to_f16_n(back, f, 5);
    CHECK(memcmp(back, h, 8) == 0);
    mlcc_bf16_to_f32_n(f, h + 4, 1);
    CHECK(f[0] == 1.0f);
    mlcc_f32_to_bf16_n(back, f, 1);
    CHECK_EQ_INT(back[0], 0x3f80);
}

static void test_dtype(void) {
    char buf[32];
    static const char *names[] = {"float32", "float16", "bfloat16", "int64",
                                  "int8",    "uint8",   "bool",     "float32x4"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        DLDataType t;
        CHECK(mlcc_dtype_parse(names[i], &t) == 0);
        CHECK_EQ_STR(mlcc_dtype_str(t, buf), names[i]);
    }
    DLDataType t;
    CHECK(mlcc_dtype_parse("f32", &t) == 0 && mlcc_dtype_eq(t, MLCC_DTYPE_F32));
    CHECK(mlcc_dtype_parse("floaty", &t) != 0);
    CHECK(strstr(mlcc_last_error(), "floaty") != NULL);
    CHECK_EQ_INT(mlcc_dtype_bytes(MLCC_DTYPE_BOOL), 1);
    CHECK_EQ_INT(mlcc_dtype_bytes(MLCC_DTYPE_BF16), 2);
    CHECK_EQ_INT(mlcc_dtype_bytes(((DLDataType){kDLFloat, 32, 4})), 16);
    CHECK_EQ_INT(mlcc_dtype_bytes(((DLDataType){kDLInt, 4, 1})), 0);

    int64_t n;
    int64_t shape[3] = {2, 3, 4};
    CHECK(mlcc_shape_numel(3, shape, &n) == 0 && n == 24);
    CHECK(mlcc_shape_numel(0, shape, &n) == 0 && n == 1);
    int64_t huge[3] = {1ll << 40, 1ll << 30, 4};
    CHECK(mlcc_shape_numel(3, huge, &n) != 0);
    int64_t neg[2] = {3, -1};
    CHECK(mlcc_shape_numel(2, neg, &n) != 0);
    CHECK(strstr(mlcc_last_error(), "negative") != NULL);
    size_t bytes;
    int64_t big[2] = {1ll << 31, 1ll << 31};
    CHECK(mlcc_shape_nbytes(2, big, MLCC_DTYPE_F64, &bytes) != 0);
    CHECK(mlcc_shape_nbytes(3, shape, MLCC_DTYPE_F16, &bytes) == 0 && bytes == 48);
}

static int freed_count;
static void count_free(void *ctx) {
    freed_count += *(int *)ctx;
}

static void test_ndarray(void) {
    int64_t shape[2] = {3, 5};
    MLCCNDArray *a = mlcc_ndarray_empty(2, shape, MLCC_DTYPE_F32, MLCC_CPU);
    CHECK(a != NULL);
    CHECK(((uintptr_t)a->dl.data % MLCC_ALLOC_ALIGNMENT) == 0);
    CHECK_EQ_INT(a->dl.ndim, 2);
    CHECK(a->dl.shape[0] == 3 && a->dl.shape[1] == 5 && a->dl.strides == NULL &&
          a->dl.byte_offset == 0);
    CHECK_EQ_INT(mlcc_ndarray_numel(a), 15);
    CHECK_EQ_INT(mlcc_ndarray_nbytes(a), 60);
    CHECK(mlcc_tensor_is_contiguous(&a->dl));
    char desc[160];
    CHECK_EQ_STR(mlcc_tensor_describe(&a->dl, desc, sizeof desc), "[3, 5] float32 cpu:0");

    float src[15], dst[15];
    for (int i = 0; i < 15; i++) src[i] = (float)i * 1.5f;
    CHECK(mlcc_ndarray_copy_from_bytes(a, src, sizeof src) == 0);
    CHECK(mlcc_ndarray_copy_to_bytes(a, dst, sizeof dst) == 0);
    CHECK(memcmp(src, dst, sizeof src) == 0);
    CHECK(mlcc_ndarray_copy_from_bytes(a, src, 12) != 0);
    CHECK(strstr(mlcc_last_error(), "12 bytes") != NULL);

    /* A view of row 1 as a flat vector shares memory and keeps the storage alive. */
    int64_t row_shape[1] = {5};
    MLCCNDArray *row = mlcc_ndarray_view(a, 5 * sizeof(float), 1, row_shape, MLCC_DTYPE_F32);
    CHECK(row != NULL);
    CHECK_EQ_INT(a->storage->obj.ref_count, 2);
    mlcc_ndarray_release(a);
    CHECK(((float *)row->dl.data)[0] == 7.5f && ((float *)row->dl.data)[4] == 13.5f);
    /* A view of the view, as raw bytes, from the row's start. */
    int64_t four[1] = {4};
    MLCCNDArray *bytes = mlcc_ndarray_view(row, 4, 1, four, MLCC_DTYPE_U8);
    CHECK(bytes && bytes->storage_offset == 24);
    float one_five;
    memcpy(&one_five, bytes->dl.data, 4);
    CHECK(one_five == 9.0f);
    /* Out of range views fail with the sizes in the message. */
    int64_t too_long[1] = {11};
    CHECK(mlcc_ndarray_view(row, 0, 1, too_long, MLCC_DTYPE_F32) == NULL);
    CHECK(strstr(mlcc_last_error(), "does not fit") != NULL);
    CHECK(mlcc_ndarray_view(row, SIZE_MAX - 2, 1, four, MLCC_DTYPE_U8) == NULL);
    mlcc_ndarray_release(bytes);
    mlcc_ndarray_release(row);

    /* Copy between arrays: same dtype and element count, any shapes. */
    int64_t s6[1] = {6}, s23[2] = {2, 3};
    MLCCNDArray *x = mlcc_ndarray_empty(1, s6, MLCC_DTYPE_I64, MLCC_CPU);
    MLCCNDArray *y = mlcc_ndarray_empty(2, s23, MLCC_DTYPE_I64, MLCC_CPU);
    MLCCNDArray *z = mlcc_ndarray_empty(2, s23, MLCC_DTYPE_I32, MLCC_CPU);
    for (int i = 0; i < 6; i++) ((int64_t *)x->dl.data)[i] = i * 100;
    CHECK(mlcc_ndarray_copy(y, x) == 0);
    CHECK(((int64_t *)y->dl.data)[5] == 500);
    CHECK(mlcc_ndarray_copy(z, x) != 0);
    CHECK(strstr(mlcc_last_error(), "int64") != NULL);
    mlcc_ndarray_release(x);
    mlcc_ndarray_release(y);
    mlcc_ndarray_release(z);

    /* Zero-size and scalar tensors. */
    int64_t zero[2] = {0, 7};
    MLCCNDArray *empty = mlcc_ndarray_empty(2, zero, MLCC_DTYPE_F16, MLCC_CPU);
    CHECK(empty && mlcc_ndarray_nbytes(empty) == 0 && empty->dl.data != NULL);
    mlcc_ndarray_release(empty);
    MLCCNDArray *scalar = mlcc_ndarray_empty(0, NULL, MLCC_DTYPE_F64, MLCC_CPU);
    CHECK(scalar && mlcc_ndarray_nbytes(scalar) == 8);
    mlcc_ndarray_release(scalar);

    /* Bad requests. */
    int64_t neg[1] = {-2};
    CHECK(mlcc_ndarray_empty(1, neg, MLCC_DTYPE_F32, MLCC_CPU) == NULL);
    CHECK(mlcc_ndarray_empty(MLCC_MAX_NDIM + 1, shape, MLCC_DTYPE_F32, MLCC_CPU) == NULL);
    int64_t huge[2] = {1ll << 40, 1ll << 40};
    CHECK(mlcc_ndarray_empty(2, huge, MLCC_DTYPE_F32, MLCC_CPU) == NULL);
    CHECK(mlcc_ndarray_empty(1, s6, MLCC_DTYPE_F32, ((DLDevice){kDLCUDA, 0})) == NULL);
    CHECK(strstr(mlcc_last_error(), "cuda:0 is not available") != NULL);
}

static void test_storage_planning(void) {
    /* Memory planning: one storage, tensors at planned offsets, each alive past the storage handle.
     */
    MLCCStorage *s = mlcc_storage_alloc(1024, MLCC_CPU);
    CHECK(s && s->nbytes == 1024 && ((uintptr_t)s->data % 64) == 0);
    int64_t sh[2] = {4, 16};
    MLCCNDArray *t0 = mlcc_storage_alloc_tensor(s, 0, 2, sh, MLCC_DTYPE_F32);
    MLCCNDArray *t1 = mlcc_storage_alloc_tensor(s, 256, 2, sh, MLCC_DTYPE_F32);
    MLCCNDArray *bad = mlcc_storage_alloc_tensor(s, 772, 2, sh, MLCC_DTYPE_F32);
    CHECK(t0 && t1 && !bad);
    CHECK((char *)t1->dl.data - (char *)t0->dl.data == 256);
    CHECK_EQ_INT(s->obj.ref_count, 3);
    mlcc_storage_release(s);
    ((float *)t1->dl.data)[63] = 1.0f; /* inside the storage, still alive */
    mlcc_ndarray_release(t0);
    mlcc_ndarray_release(t1);

    /* Wrapped memory: the free function runs once, when the last tensor goes. */
    static float external[8];
    int weight = 1;
    freed_count = 0;
    MLCCStorage *w = mlcc_storage_wrap(external, sizeof external, MLCC_CPU, count_free, &weight);
    int64_t s8[1] = {8};
    MLCCNDArray *v = mlcc_storage_alloc_tensor(w, 0, 1, s8, MLCC_DTYPE_F32);
    mlcc_storage_release(w);
    CHECK_EQ_INT(freed_count, 0);
    CHECK(v->dl.data == (void *)external);
    mlcc_ndarray_release(v);
    CHECK_EQ_INT(freed_count, 1);
}

/* A pretend second device whose memory lives in host memory and counts copies: what a CUDA
 * table will look like to NDArray code. */
static int fake_copies;
static void *fake_alloc(DLDevice dev, size_t n, size_t align) {
    (void)dev;
    return aligned_alloc(align, (n + align - 1) / align * align + align);
}
static void fake_free(DLDevice dev, void *p) {
    (void)dev;
    free(p);
}
static int fake_copy(const void *src, DLDevice sd, void *dst, DLDevice dd, size_t n, void *stream) {
    (void)stream;
    CHECK(sd.device_type == kDLExtDev || dd.device_type == kDLExtDev);
    fake_copies++;
    memcpy(dst, src, n);
    return 0;
}
static int fake_sync(DLDevice dev, void *stream) {
    (void)dev, (void)stream;
    return 0;
}

static void test_device_table(void) {
    static const MLCCDeviceAPI fake = {"fake", fake_alloc, fake_free, fake_copy, fake_sync};
    DLDevice dev = {kDLExtDev, 0};
    CHECK(mlcc_device_api(dev) == NULL);
    CHECK(mlcc_device_register(kDLExtDev, &fake) == 0);
    CHECK(mlcc_device_api(dev) == &fake);
    int64_t s4[1] = {4};
    MLCCNDArray *d = mlcc_ndarray_empty(1, s4, MLCC_DTYPE_I32, dev);
    int32_t in[4] = {1, 2, 3, 4}, out[4] = {0};
    CHECK(mlcc_ndarray_copy_from_bytes(d, in, sizeof in) == 0);
    CHECK(mlcc_ndarray_copy_to_bytes(d, out, sizeof out) == 0);
    CHECK(memcmp(in, out, sizeof in) == 0);
    MLCCNDArray *h = mlcc_ndarray_empty(1, s4, MLCC_DTYPE_I32, MLCC_CPU);
    CHECK(mlcc_ndarray_copy(h, d) == 0);
    CHECK(((int32_t *)h->dl.data)[3] == 4);
    CHECK_EQ_INT(fake_copies, 3);
    char buf[32];
    CHECK_EQ_STR(mlcc_device_str(((DLDevice){kDLCUDA, 1}), buf), "cuda:1");
    mlcc_ndarray_release(d);
    mlcc_ndarray_release(h);
    CHECK(mlcc_device_register((DLDeviceType)0, &fake) != 0);
}

static void test_objects(void) {
    int64_t dims[3] = {1, 2, 3};
    MLCCShape *s = mlcc_shape_new(3, dims);
    CHECK(s->ndim == 3 && s->dims[2] == 3 && s->obj.type_index == MLCC_OBJECT_SHAPE);
    MLCCString *str = mlcc_string_new("ab\0c", 4);
    CHECK(str->len == 4 && str->data[3] == 'c' && str->data[4] == 0);
    CHECK_EQ_STR(mlcc_object_type_name(str->obj.type_index), "String");
    mlcc_object_retain(&s->obj);
    mlcc_object_release(&s->obj);
    CHECK_EQ_INT(s->obj.ref_count, 1);
    MLCCValue v = {.v_handle = &s->obj};
    mlcc_value_release(v, MLCC_TYPE_OBJECT);
    mlcc_object_release(&str->obj);
    mlcc_object_release(NULL);
    CHECK(mlcc_shape_new(-1, dims) == NULL);
}

int main(void) {
    test_f16_exhaustive();
    test_f16_rounding();
    test_bf16();
    test_dtype();
    test_ndarray();
    test_storage_planning();
    test_device_table();
    test_objects();
    return test_finish();
}
