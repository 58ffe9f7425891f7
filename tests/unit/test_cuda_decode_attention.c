/* test_cuda_decode_attention.c - the one-kernel decode attention (runtime/cuda_decode_attention.c:
 * split over the keys and merged by the last block, q's rope while loading, the append folded
 * in) against a float64 reference computed here, on random batches over scattered pages: head
 * dims 16, 32, 64, 80, 96, 128 and 256; GQA groups of 1 to 8 (3 and 5: lanes of a group left
 * idle) and MQA; 1 to 15 sequences of odd lengths, at and across page boundaries, up to 2049
 * keys; windows; a soft-cap; pages of 8 and 16, float32 and float16; split counts chosen as
 * the KV cache chooses them, forced to 1, to 64 with 1 key per split (empty splits), and odd
 * ones. Each case runs with q as given, q rotated by the kernel, and the append folded in with
 * and without K's rope: the new key's page slot holds NaN before, and must hold the rotated,
 * rounded K / V after. Outputs are filled with NaN before; each case runs twice and must give
 * the same bits (the merging block resets its counter, as a graph replay needs), the second time
 * with q, k and v read as the column ranges of one [B, (QH + 2 KVH) D] tensor (row strides: the
 * KV cache's attention_qkv), and a third time writing a half output (o_proj's x under decode's
 * half activations), which must be the first run's float32 output rounded, bit for bit. One
 * sequence's second run also rounds its output to int8 groups for the 4-bit projection after it
 * (the default; the other runs set MLCC_CUDA_DECODE_XQ=0): that projection takes them (one launch) and gives the bits it gives
 * when it rounds x itself. Tolerance:
 * 2e-5 of the largest output (float32 arithmetic; measured values are printed). Also the
 * rope-of-q kernel against the reference rotation, and the q, k, v split kernel against memcpy.
 * Without NVRTC it skips; without a GPU it compiles some kernels for sm_90 and checks for the
 * atomic, the fence and programmatic dependent launch's wait (after the K / V prefetch). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/scheme.h"
#include "runtime/cuda.h"
#include "runtime/cuda_decode_attention.h"
#include "support/error.h"
#include "tensor_util.h"
#include "test.h"

enum { MAX_SEQS = 16, BLOCKS = 1024 };

typedef struct dcase {
    const char *name;
    int D, QH, KVH, PS;
    int64_t window;
    double softcap;
    int splits, min_keys; /* splits 0: chosen as the KV cache does (2 blocks per multiprocessor) */
    int nseqs;
    int lens[MAX_SEQS]; /* keys of each sequence after the append (the new token's position + 1) */
} dcase;

static MLCCNDArray *upload(const void *host, DLDataType t, int64_t n) {
    MLCCNDArray *a = mlcc_ndarray_empty(1, &n, t, (DLDevice){kDLCUDA, 0});
    if (a && host && mlcc_ndarray_copy_from_bytes(a, host, (size_t)n * mlcc_dtype_bytes(t))) {
        mlcc_ndarray_release(a);
        return NULL;
    }
    return a;
}

/* nn.rope with a table on one row: x cos + (sign partner) sin in float64, rounded to float32 */
static void rope_row(const float *x, const double *table, int D, float *y) {
    int H = D / 2;
    for (int d = 0; d < D; d++) {
        int k = d % H;
        double partner = d < H ? -(double)x[d + H] : (double)x[d - H];
        y[d] = (float)((double)x[d] * table[k] + partner * table[H + k]);
    }
}

static float page_value(const void *pages, int f16, size_t i) {
    return f16 ? mlcc_f16_to_f32(((const uint16_t *)pages)[i]) : ((const float *)pages)[i];
}

static float round_page(float x, int f16) {
    return f16 ? mlcc_f16_to_f32(mlcc_f32_to_f16(x)) : x;
}

/* mode: 0 q as given, 1 q rotated by the kernel, 2 + the append folded with K's rope, 3 the
 * append folded without rope (q as given) */
/* Right after a one-sequence launch that rounds its output (MLCC_CUDA_DECODE_XQ not 0), the rounded row at the end of the
 * workspace (ws, ws_bytes) against the output host_x [in]: per group of 32, d = max |x| / 127,
 * each value's q within 1 of x / d (a tie may round either way after the float steps) and at most
 * 127 in size, the sum of the q, in the layout mlcc_quantize_x8 writes (words of the even then
 * the odd values of 8, low byte first). Then a 4-bit projection of x (random q4f16_1 W, 40
 * outputs) takes those groups (one launch, no rounding kernel) and gives the same bits as the
 * same projection rounding x itself (the second call: the first one's launch ended the offer). */
typedef struct x8_projection {
    const mlcc_quant_scheme *sch;
    int64_t in, out;
    MLCCNDArray *dq, *ds, *dy;
} x8_projection;

/* W [40, in] random, quantized q4f16_1, and y on the device: uploaded before the attention's
 * launch, since a copy between it and the projection ends the offer */
static x8_projection x8_projection_make(int64_t in) {
    x8_projection pr = {quant_scheme_find("q4f16_1"), in, 40, NULL, NULL, NULL};
    const int64_t out = pr.out, pc = quant_packed_cols(pr.sch, in), sc = quant_scale_cols(pr.sch, in);
    float *w = malloc(sizeof(float) * (size_t)(out * in));
    uint32_t *packed = malloc(sizeof(uint32_t) * (size_t)(out * pc));
    uint16_t *scales = malloc(sizeof(uint16_t) * (size_t)(out * sc));
    for (int64_t i = 0; i < out * in; i++) w[i] = test_rand_float();
    quant_pack(pr.sch, w, out, in, packed, scales);
    pr.dq = upload(packed, (DLDataType){kDLUInt, 32, 1}, out * pc), pr.ds = upload(scales, MLCC_DTYPE_F16, out * sc);
    pr.dy = upload(NULL, MLCC_DTYPE_F32, out);
    CHECK_MSG(pr.dq && pr.ds && pr.dy, "%s", mlcc_last_error());
    free(w), free(packed), free(scales);
    return pr;
}

static void check_offered_x8(const dcase *c, const x8_projection *pr, const MLCCNDArray *dout, const MLCCNDArray *ws,
                             size_t ws_bytes) {
    const float *x = dout->dl.data;
    const int64_t in = pr->in, out = pr->out;
    MLCCNDArray *dq = pr->dq, *ds = pr->ds, *dy = pr->dy;
    const mlcc_quant_scheme *sch = pr->sch;
    float *y[2] = {malloc(sizeof(float) * out), malloc(sizeof(float) * out)};
    long launches[2] = {0, 0};
    for (int pass = 0; pass < 2 && dq && ds && dy; pass++) {
        long before = mlcc_cuda_get_stats().launches;
        CHECK_MSG(mlcc_cuda_linear_q4_fused(0, NULL, x, dq->dl.data, ds->dl.data, NULL, dy->dl.data, 1, out, in, sch->zero_point) == 0,
                  "%s: %s", c->name, mlcc_last_error());
        launches[pass] = mlcc_cuda_get_stats().launches - before;
        CHECK(mlcc_ndarray_copy_to_bytes(dy, y[pass], sizeof(float) * out) == 0);
    }
    CHECK_MSG(launches[0] == 1 && launches[1] == 2,
              "%s: the projection after the attention took %ld launches (1: the offered groups), the next %ld (2)", c->name,
              launches[0], launches[1]);
    CHECK_MSG(memcmp(y[0], y[1], sizeof(float) * out) == 0, "%s: the attention's rounded groups differ from the rounding kernel's",
              c->name);
    /* the groups themselves */
    float *host_x = malloc(sizeof(float) * (size_t)in);
    CHECK(mlcc_ndarray_copy_to_bytes(dout, host_x, sizeof(float) * (size_t)in) == 0); /* (B = 1: all of out) */
    const int64_t groups = in / 32;
    const size_t x8_bytes = (size_t)groups * 40, at = ws_bytes - (x8_bytes + 15) / 16 * 16;
    unsigned char *all = malloc(ws_bytes);
    CHECK(mlcc_ndarray_copy_to_bytes(ws, all, ws_bytes) == 0);
    const int32_t *words = (const int32_t *)(all + at), *sums = words + 9 * groups;
    const float *d = (const float *)(words + 8 * groups);
    int64_t bad = 0;
    for (int64_t g = 0; g < groups; g++) {
        const float *v = host_x + 32 * g;
        float m = 0;
        for (int j = 0; j < 32; j++) m = fmaxf(m, fabsf(v[j]));
        bad += !(fabsf(d[g] - m / 127.f) <= 1e-6f * m);
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            const int word = 2 * (j / 8) + j % 2, byte = (j % 8) / 2;
            const int q = (int8_t)(((uint32_t)words[8 * g + word] >> (8 * byte)) & 255u);
            sum += q;
            bad += m > 0 ? !(fabs(q - (double)v[j] * 127.0 / m) <= 1.0) : q != 0;
        }
        bad += sum != sums[g];
    }
    CHECK_MSG(bad == 0, "%s: %lld wrong values in the attention's rounded groups", c->name, (long long)bad);
    free(all);
    free(host_x);
    mlcc_ndarray_release(dq), mlcc_ndarray_release(ds), mlcc_ndarray_release(dy);
    free(y[0]), free(y[1]);
}

static void run_case(const dcase *c, int f16, int mode) {
    static const char *const mode_names[4] = {"q as given", "q's rope", "q's rope + append (K's rope)", "append, no rope"};
    int D = c->D, QH = c->QH, KVH = c->KVH, PS = c->PS, G = QH / KVH, B = c->nseqs, H = D / 2;
    int rope_q = mode == 1 || mode == 2, fold = mode >= 2, rope_k = mode == 2;
    int64_t npages = 0, max_keys = 0;
    for (int b = 0; b < B; b++) {
        npages += (c->lens[b] + PS - 1) / PS;
        int64_t keys = c->window > 0 && c->lens[b] > c->window ? c->window : c->lens[b];
        if (keys > max_keys) max_keys = keys;
    }
    int64_t total_pages = npages + 2;
    int32_t *perm = malloc(sizeof(int32_t) * (size_t)total_pages);
    for (int64_t i = 0; i < total_pages; i++) perm[i] = (int32_t)i;
    for (int64_t i = total_pages - 1; i > 0; i--) {
        int64_t j = (int64_t)((test_rand_float() + 1) * 0.5 * (double)(i + 1)) % (i + 1);
        int32_t x = perm[i];
        perm[i] = perm[j], perm[j] = x;
    }
    int32_t indptr[MAX_SEQS + 1] = {0}, last[MAX_SEQS], slots[MAX_SEQS], *indices = malloc(sizeof(int32_t) * (size_t)npages);
    for (int b = 0, np = 0; b < B; b++) {
        for (int p = 0; p * PS < c->lens[b]; p++, np++) indices[np] = perm[np];
        indptr[b + 1] = np;
        last[b] = (c->lens[b] - 1) % PS + 1;
        slots[b] = indices[np - 1] * PS + last[b] - 1;
    }
    size_t pn = (size_t)total_pages * 2 * KVH * PS * D, qn = (size_t)B * QH * D, kn = (size_t)B * KVH * D;
    float *pages = malloc(sizeof(float) * pn), *q = malloc(sizeof(float) * qn), *k = malloc(sizeof(float) * kn);
    float *v = malloc(sizeof(float) * kn);
    double *table = malloc(sizeof(double) * (size_t)B * D);
    for (size_t i = 0; i < pn; i++) pages[i] = test_rand_float();
    for (size_t i = 0; i < qn; i++) q[i] = 3 * test_rand_float(); /* sharper softmax: rescaling matters */
    for (size_t i = 0; i < kn; i++) k[i] = test_rand_float(), v[i] = test_rand_float();
    for (int b = 0; b < B; b++)
        for (int i = 0; i < H; i++) {
            double angle = (c->lens[b] - 1) * pow(10000.0, -2.0 * i / D);
            table[(size_t)b * D + i] = cos(angle), table[(size_t)b * D + H + i] = sin(angle);
        }
    /* the new keys: NaN in the pages when the kernel is to store them */
    for (int b = 0; fold && b < B; b++)
        for (int h = 0; h < KVH; h++)
            for (int kv = 0; kv < 2; kv++)
                for (int d = 0; d < D; d++)
                    pages[((((size_t)(slots[b] / PS) * 2 + kv) * KVH + h) * PS + slots[b] % PS) * D + d] = NAN;
    uint16_t *pages16 = malloc(sizeof(uint16_t) * pn);
    mlcc_f32_to_f16_n(pages16, pages, pn);
    void *page_data = f16 ? (void *)pages16 : (void *)pages;

    /* the reference, in float64 */
    double *want = malloc(sizeof(double) * qn), *scores = malloc(sizeof(double) * (size_t)(c->lens[0] + 1));
    float *qr = malloc(sizeof(float) * D), *knew = malloc(sizeof(float) * kn), *vnew = malloc(sizeof(float) * kn);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < KVH; h++) {
            const float *kr = k + ((size_t)b * KVH + h) * D;
            if (rope_k) rope_row(kr, table + (size_t)b * D, D, knew + ((size_t)b * KVH + h) * D);
            else memcpy(knew + ((size_t)b * KVH + h) * D, kr, sizeof(float) * D);
            for (int d = 0; d < D; d++) {
                size_t i = ((size_t)b * KVH + h) * D + d;
                knew[i] = round_page(knew[i], f16), vnew[i] = round_page(v[i], f16);
            }
        }
    double largest = 0;
    for (int b = 0; b < B; b++) {
        int len = c->lens[b], lo = c->window > 0 && len > c->window ? len - (int)c->window : 0;
        scores = realloc(scores, sizeof(double) * (size_t)len);
        for (int hq = 0; hq < QH; hq++) {
            int h = hq / G;
            const float *qrow = q + ((size_t)b * QH + hq) * D;
            if (rope_q) rope_row(qrow, table + (size_t)b * D, D, qr);
            else memcpy(qr, qrow, sizeof(float) * D);
            double mx = -INFINITY, sum = 0;
            for (int j = lo; j < len; j++) {
                size_t base = ((((size_t)indices[indptr[b] + j / PS] * 2) * KVH + h) * PS + j % PS) * D;
                double s = 0;
                for (int d = 0; d < D; d++) {
                    double kv = fold && j == len - 1 ? knew[((size_t)b * KVH + h) * D + d] : page_value(page_data, f16, base + d);
                    s += (double)(float)(qr[d] * (float)(1.0 / sqrt((double)D))) * kv;
                }
                if (c->softcap > 0) s = c->softcap * tanh(s / c->softcap);
                scores[j] = s;
                if (s > mx) mx = s;
            }
            for (int j = lo; j < len; j++) sum += scores[j] = exp(scores[j] - mx);
            for (int d = 0; d < D; d++) {
                double o = 0;
                for (int j = lo; j < len; j++) {
                    size_t base = ((((size_t)indices[indptr[b] + j / PS] * 2 + 1) * KVH + h) * PS + j % PS) * D;
                    double vv = fold && j == len - 1 ? vnew[((size_t)b * KVH + h) * D + d] : page_value(page_data, f16, base + d);
                    o += scores[j] * vv;
                }
                want[((size_t)b * QH + hq) * D + d] = o / sum;
                if (fabs(o / sum) > largest) largest = fabs(o / sum);
            }
        }
    }

    DLDataType page_type = f16 ? (DLDataType){kDLFloat, 16, 1} : MLCC_DTYPE_F32;
    size_t ws_bytes = mlcc_cuda_decode_workspace_bytes(D, QH, KVH, BLOCKS);
    MLCCNDArray *dq = upload(q, MLCC_DTYPE_F32, (int64_t)qn), *dp = upload(page_data, page_type, (int64_t)pn);
    MLCCNDArray *dptr = upload(indptr, MLCC_DTYPE_I32, B + 1), *didx = upload(indices, MLCC_DTYPE_I32, npages);
    MLCCNDArray *dlast = upload(last, MLCC_DTYPE_I32, B), *dslots = upload(slots, MLCC_DTYPE_I32, B);
    MLCCNDArray *dk = upload(k, MLCC_DTYPE_F32, (int64_t)kn), *dv = upload(v, MLCC_DTYPE_F32, (int64_t)kn);
    MLCCNDArray *dt = upload(table, MLCC_DTYPE_F64, (int64_t)B * D), *dout = upload(NULL, MLCC_DTYPE_F32, (int64_t)qn);
    MLCCNDArray *dws = upload(NULL, (DLDataType){kDLUInt, 8, 1}, (int64_t)ws_bytes);
    MLCCNDArray *dout16 = upload(NULL, (DLDataType){kDLFloat, 16, 1}, (int64_t)qn);
    /* the second launch reads q, k, v as the column ranges of one [B, W] tensor (q | k | v: a
     * combined projection's output), with row strides */
    size_t W = (size_t)(QH + 2 * KVH) * D;
    float *qkv = malloc(sizeof(float) * W * B);
    for (int b = 0; b < B; b++) {
        memcpy(qkv + b * W, q + (size_t)b * QH * D, sizeof(float) * QH * D);
        memcpy(qkv + b * W + QH * D, k + (size_t)b * KVH * D, sizeof(float) * KVH * D);
        memcpy(qkv + b * W + (QH + KVH) * D, v + (size_t)b * KVH * D, sizeof(float) * KVH * D);
    }
    MLCCNDArray *dqkv = upload(qkv, MLCC_DTYPE_F32, (int64_t)(W * B));
    CHECK_MSG(dq && dp && dptr && didx && dlast && dslots && dk && dv && dt && dout && dws && dqkv && dout16, "%s",
              mlcc_last_error());
    float *got = malloc(sizeof(float) * qn), *first = malloc(sizeof(float) * qn);
    uint16_t *got16 = malloc(2 * qn);
    if (dws) CHECK(mlcc_cuda_memset(0, dws->dl.data, 0, ws_bytes) == 0);
    int splits = c->splits ? c->splits : mlcc_cuda_decode_choose_splits(0, B, KVH, max_keys, c->min_keys, 2, BLOCKS);
    /* run 0: q, k, v compact; 1: strided in one tensor; 2: as 0 with a half output (the next
     * projection's x: transform/half_activations.c), which must be run 0's output rounded */
    for (int run = 0; dws && dout16 && run < 3; run++) {
        for (size_t i = 0; i < qn; i++) got[i] = NAN, got16[i] = 0x7e00; /* an output left unwritten fails */
        CHECK(mlcc_ndarray_copy_from_bytes(dout, got, sizeof(float) * qn) == 0);
        CHECK(mlcc_ndarray_copy_from_bytes(dout16, got16, 2 * qn) == 0);
        mlcc_cuda_decode_args a = {
            .q = dq->dl.data, .pages = dp->dl.data, .page_indptr = dptr->dl.data, .page_indices = didx->dl.data,
            .last_page_len = dlast->dl.data, .out = dout->dl.data, .rope_table = rope_q || rope_k ? dt->dl.data : NULL,
            .rope_q = rope_q, .k = fold ? dk->dl.data : NULL, .v = fold ? dv->dl.data : NULL,
            .slots = fold ? dslots->dl.data : NULL, .rope_k = rope_k, .batch = B, .num_qo_heads = QH, .num_kv_heads = KVH,
            .head_dim = D, .page_size = PS, .window = c->window, .scale = 1.0 / sqrt((double)D), .softcap = c->softcap,
            .pages_f16 = f16, .splits = splits, .min_keys = c->min_keys, .workspace = dws->dl.data,
            .workspace_blocks = BLOCKS};
        if (run == 2) a.out = dout16->dl.data, a.out_f16 = 1;
        if (run == 1) {
            float *base = dqkv->dl.data;
            a.q = base, a.q_stride = a.kv_stride = (int64_t)W;
            if (fold) a.k = base + QH * D, a.v = base + (QH + KVH) * D;
        }
        /* run 1 of one sequence also rounds its output for a 4-bit projection (not in clusters) */
        int x8 = run == 1 && B == 1 && D % 32 == 0 && !getenv("MLCC_CUDA_DECODE_CLUSTER");
        x8_projection pr = {0};
        if (x8) pr = x8_projection_make((int64_t)QH * D);
        setenv("MLCC_CUDA_DECODE_XQ", x8 ? "1" : "0", 1);
        CHECK_MSG(mlcc_cuda_decode_attention(0, &a) == 0, "%s: %s", c->name, mlcc_last_error());
        unsetenv("MLCC_CUDA_DECODE_XQ");
        if (x8) check_offered_x8(c, &pr, dout, dws, ws_bytes);
        CHECK_MSG(mlcc_ndarray_copy_to_bytes(dout, got, sizeof(float) * qn) == 0, "%s", mlcc_last_error());
        if (run == 2) {
            CHECK_MSG(mlcc_ndarray_copy_to_bytes(dout16, got16, 2 * qn) == 0, "%s", mlcc_last_error());
            size_t bad = 0;
            for (size_t i = 0; i < qn; i++) bad += got16[i] != mlcc_f32_to_f16(first[i]);
            CHECK_MSG(bad == 0, "%s, %s pages, %s: %zu of %zu half outputs are not the float32 outputs rounded", c->name,
                      f16 ? "f16" : "f32", mode_names[mode], bad, qn);
        } else if (run == 0) {
            double e = 0;
            for (size_t i = 0; i < qn; i++) {
                double d = isnan(got[i]) ? INFINITY : fabs(got[i] - want[i]) / (largest > 0 ? largest : 1);
                if (d > e) e = d;
            }
            if (getenv("MLCC_TEST_DECODE_DEBUG")) for (int i = 0; i < 4; i++) printf("  got %g want %g\n", got[i], want[i]);
            printf("%-40s %s pages, %-28s %2d splits: max error %.2e of the largest output\n", c->name, f16 ? "f16" : "f32",
                   mode_names[mode], splits, e);
            CHECK_MSG(e < 2e-5, "%s, %s pages, %s, %d splits: error %g", c->name, f16 ? "f16" : "f32", mode_names[mode], splits, e);
            memcpy(first, got, sizeof(float) * qn);
        } else {
            CHECK_MSG(memcmp(first, got, sizeof(float) * qn) == 0,
                      "%s, %s: the second launch (q, k, v strided in one tensor) differs (strides? counters not reset?)",
                      c->name, mode_names[mode]);
        }
    }
    if (fold && dws) { /* the new keys stored, rotated and rounded */
        size_t bytes = pn * (f16 ? 2 : 4);
        void *after = malloc(bytes);
        CHECK(mlcc_ndarray_copy_to_bytes(dp, after, bytes) == 0);
        int bad = 0;
        for (int b = 0; b < B; b++)
            for (int h = 0; h < KVH; h++)
                for (int d = 0; d < D; d++) {
                    size_t kb = ((((size_t)(slots[b] / PS) * 2) * KVH + h) * PS + slots[b] % PS) * D + d;
                    size_t vb = kb + (size_t)KVH * PS * D, i = ((size_t)b * KVH + h) * D + d;
                    float gk = page_value(after, f16, kb), gv = page_value(after, f16, vb);
                    if (!(fabsf(gk - knew[i]) <= 1e-6f * (1 + fabsf(knew[i]))) || gv != vnew[i]) bad++;
                }
        CHECK_MSG(bad == 0, "%s, %s: %d new K/V values stored wrong", c->name, mode_names[mode], bad);
        free(after);
    }
    MLCCNDArray *all[13] = {dq, dp, dptr, didx, dlast, dslots, dk, dv, dt, dout, dws, dqkv, dout16};
    for (int i = 0; i < 13; i++) mlcc_ndarray_release(all[i]);
    free(qkv);
    free(perm), free(indices), free(pages), free(pages16), free(q), free(k), free(v), free(table), free(want);
    free(scores), free(qr), free(knew), free(vnew), free(got), free(first), free(got16);
}

/* the rope-of-q kernel (the paths that do not fold it) against the reference rotation */
static void check_rope_q(void) {
    enum { T = 5, QH = 6, D = 80 };
    float q[T * QH * D], want[T * QH * D], got[T * QH * D];
    double table[T * D];
    for (int i = 0; i < T * QH * D; i++) q[i] = 3 * test_rand_float();
    for (int t = 0; t < T; t++)
        for (int i = 0; i < D / 2; i++) table[t * D + i] = cos(t * 7.0 / (i + 1)), table[t * D + D / 2 + i] = sin(t * 7.0 / (i + 1));
    for (int t = 0; t < T; t++)
        for (int h = 0; h < QH; h++) rope_row(q + (t * QH + h) * D, table + t * D, D, want + (t * QH + h) * D);
    MLCCNDArray *dq = upload(q, MLCC_DTYPE_F32, T * QH * D), *dout = upload(NULL, MLCC_DTYPE_F32, T * QH * D);
    MLCCNDArray *dt = upload(table, MLCC_DTYPE_F64, T * D);
    CHECK_MSG(dq && dout && dt, "%s", mlcc_last_error());
    if (dq && dout && dt) {
        CHECK_MSG(mlcc_cuda_rope_q(0, dq->dl.data, dout->dl.data, dt->dl.data, T, QH, D) == 0, "%s", mlcc_last_error());
        CHECK(mlcc_ndarray_copy_to_bytes(dout, got, sizeof got) == 0);
        double e = test_rel_diff(got, want, T * QH * D);
        printf("rope of q: max error %.2e\n", e);
        CHECK_MSG(e < 1e-6, "rope of q: %g", e);
    }
    mlcc_ndarray_release(dq), mlcc_ndarray_release(dout), mlcc_ndarray_release(dt);
}

/* q, k, v of a combined projection copied apart (the KV cache's paths that need them compact) */
static void check_split_columns(void) {
    enum { T = 7, W0 = 96, W1 = 32, W2 = 32, W = W0 + W1 + W2 };
    float src[T * W], want[T * W], got[T * W];
    for (int i = 0; i < T * W; i++) src[i] = test_rand_float();
    for (int t = 0; t < T; t++) {
        memcpy(want + t * W0, src + t * W, sizeof(float) * W0);
        memcpy(want + T * W0 + t * W1, src + t * W + W0, sizeof(float) * W1);
        memcpy(want + T * (W0 + W1) + t * W2, src + t * W + W0 + W1, sizeof(float) * W2);
    }
    MLCCNDArray *ds = upload(src, MLCC_DTYPE_F32, T * W), *dd = upload(NULL, MLCC_DTYPE_F32, T * W);
    CHECK_MSG(ds && dd, "%s", mlcc_last_error());
    if (ds && dd) {
        CHECK_MSG(mlcc_cuda_split_columns(0, ds->dl.data, 0, dd->dl.data, T, W0, W1, W2) == 0, "%s", mlcc_last_error());
        CHECK(mlcc_ndarray_copy_to_bytes(dd, got, sizeof got) == 0);
        CHECK_MSG(memcmp(got, want, sizeof got) == 0, "split columns: the copies differ");
    }
    mlcc_ndarray_release(ds), mlcc_ndarray_release(dd);
}

static const dcase cases[] = {
    {"d128 gqa4, 1 sequence, 512 keys", 128, 32, 8, 16, 0, 0, 0, 32, 1, {512}},
    {"d128 gqa4, 1 sequence, 2049 keys", 128, 32, 8, 16, 0, 0, 0, 32, 1, {2049}},
    {"d64 groups of 8, 15 sequences", 64, 16, 2, 16, 0, 0, 0, 32, 15, {1, 2, 15, 16, 17, 31, 33, 63, 64, 65, 100, 129, 255, 256, 777}},
    {"d80 groups of 3, pages of 8, window 40", 80, 6, 2, 8, 40, 0, 7, 4, 4, {1, 40, 41, 100}},
    {"d96 groups of 5, soft-cap 2, 64 splits", 96, 10, 2, 16, 0, 2.0, 64, 1, 2, {5, 300}},
    {"d16 mqa, 3 splits", 16, 4, 1, 16, 0, 0, 3, 1, 2, {50, 3}},
    {"d32 no gqa, window 16, 5 splits", 32, 4, 4, 16, 16, 0, 5, 2, 3, {16, 17, 70}},
    {"d256 gqa2, one split", 256, 4, 2, 16, 0, 0, 1, 32, 1, {70}},
    {"d128 groups of 8, 3 sequences", 128, 16, 2, 16, 0, 0, 0, 32, 3, {1000, 1, 513}},
};

int main(void) {
    if (!mlcc_nvrtc_available()) TEST_SKIP("%s", mlcc_nvrtc_status());
    /* what the kernel covers; the rest keeps the generated kernels */
    CHECK(mlcc_cuda_decode_attention_supports(128, 32, 8) && mlcc_cuda_decode_attention_supports(80, 6, 2));
    CHECK(mlcc_cuda_decode_attention_supports(16, 4, 1) && !mlcc_cuda_decode_attention_supports(8, 2, 1));
    CHECK(!mlcc_cuda_decode_attention_supports(128, 36, 2) && !mlcc_cuda_decode_attention_supports(72, 4, 2));
    /* splits: one wave of 2 blocks per multiprocessor, at most keys / min_keys, within the workspace */
    CHECK_EQ_INT(mlcc_cuda_decode_choose_splits(-1, 1, 8, 512, 32, 2, 1024), 16);
    CHECK_EQ_INT(mlcc_cuda_decode_choose_splits(-1, 1, 8, 2048, 32, 2, 1024), 33);
    CHECK_EQ_INT(mlcc_cuda_decode_choose_splits(-1, 15, 8, 4096, 32, 2, 1024), 2);
    CHECK_EQ_INT(mlcc_cuda_decode_choose_splits(-1, 1, 8, 20, 32, 2, 1024), 1);
    CHECK_EQ_INT(mlcc_cuda_decode_choose_splits(-1, 1, 8, 4096, 1, 8, 100), 12);
    if (!mlcc_cuda_available()) {
        /* the sources compile for sm_90, with the merge's atomic and fence */
        const int dims[3] = {128, 80, 16}, f16[3] = {1, 0, 1};
        for (int i = 0; i < 3; i++) {
            char *src = mlcc_cuda_decode_attention_source_for(dims[i], f16[i]), *ptx = NULL;
            CHECK_MSG(mlcc_nvrtc_compile_ptx(src, 90, &ptx) == 0, "head_dim %d: %s", dims[i], mlcc_last_error());
            CHECK(ptx && strstr(ptx, ".entry mlcc_decode_attn_g4") && strstr(ptx, "atom.global.add") &&
                  (strstr(ptx, "membar.gl") || strstr(ptx, "fence.sc.gpu") || strstr(ptx, "fence.acq_rel.gpu")));
            /* declared for programmatic dependent launch (the default): the wait, the trigger and
             * the K / V prefetch before them; undeclared (MLCC_CUDA_DECODE_PDL=0): no prefetch */
            const char *wait = ptx ? strstr(ptx, "griddepcontrol.wait") : NULL, *pf = ptx ? strstr(ptx, "prefetch.global.L2") : NULL;
            CHECK_MSG(wait && pf && pf < wait && strstr(ptx, "griddepcontrol.launch_dependents"),
                      "head_dim %d: no griddepcontrol.wait after an L2 prefetch in the default PTX", dims[i]);
            free(src), free(ptx);
            setenv("MLCC_CUDA_DECODE_PDL", "0", 1);
            src = mlcc_cuda_decode_attention_source_for(dims[i], f16[i]), ptx = NULL;
            unsetenv("MLCC_CUDA_DECODE_PDL");
            CHECK_MSG(mlcc_nvrtc_compile_ptx(src, 90, &ptx) == 0, "head_dim %d (no PDL): %s", dims[i], mlcc_last_error());
            CHECK_MSG(ptx && !strstr(ptx, "prefetch.global.L2"), "head_dim %d: an L2 prefetch in the undeclared PTX", dims[i]);
            free(src), free(ptx);
        }
        /* the cluster merge (sm_90): barriers and loads of other blocks' shared memory; with the
         * keys multiplier of a cluster module (MLCC_CUDA_DECODE_UMUL=2) too, through ptxas */
        setenv("MLCC_CUDA_DECODE_UMUL", "2", 1);
        char *src = mlcc_cuda_decode_attention_source_for(128, 1), *cubin = NULL, *ptx = NULL;
        unsetenv("MLCC_CUDA_DECODE_UMUL");
        size_t cubin_len = 0;
        CHECK_MSG(mlcc_nvrtc_compile_ptx(src, 90, &ptx) == 0, "cluster source: %s", mlcc_last_error());
        CHECK_MSG(ptx && strstr(ptx, "barrier.cluster.arrive.release") && strstr(ptx, "mapa.shared::cluster") &&
                      strstr(ptx, "ld.shared::cluster.f32"),
                  "no cluster merge in the sm_90 PTX");
        CHECK_MSG(mlcc_nvrtc_compile(src, 90, &cubin, &cubin_len) == 0 && cubin_len > 0, "%s", mlcc_last_error());
        free(ptx), free(cubin);
        ptx = NULL;
        CHECK_MSG(mlcc_nvrtc_compile_ptx(src, 80, &ptx) == 0, "sm_80: %s", mlcc_last_error());
        CHECK_MSG(ptx && !strstr(ptx, "barrier.cluster"), "a cluster barrier in the sm_80 PTX");
        free(ptx), free(src);
        ptx = NULL;
        CHECK_MSG(mlcc_nvrtc_compile_ptx(mlcc_cuda_rope_q_kernel_source(), 90, &ptx) == 0, "%s", mlcc_last_error());
        free(ptx);
        ptx = NULL;
        CHECK_MSG(mlcc_nvrtc_compile_ptx(mlcc_cuda_split_columns_kernel_source(), 90, &ptx) == 0, "%s", mlcc_last_error());
        CHECK(ptx && strstr(ptx, ".entry mlcc_split_columns_h") != NULL); /* half qkv (prefill) */
        free(ptx);
        if (!test_checks_failed) TEST_SKIP("%s", mlcc_cuda_status());
        return test_finish();
    }
    /* MLCC_TEST_DECODE_CASES=3,5: only those cases (the CPU emulation, bench/cuda_emu, is slow) */
    const char *only = getenv("MLCC_TEST_DECODE_CASES");
    /* splits merged through memory (the default), then in thread-block clusters where the GPU has
     * them (sm_90, MLCC_CUDA_DECODE_CLUSTER=1) */
    for (int cluster = 0; cluster < 2; cluster++) {
        if (cluster && !mlcc_cuda_clusters_supported(0)) {
            printf("no thread-block clusters on this GPU: the cluster merge is not run\n");
            break;
        }
        if (cluster) setenv("MLCC_CUDA_DECODE_CLUSTER", "1", 1);
        printf("splits merged %s\n", cluster ? "in clusters (MLCC_CUDA_DECODE_CLUSTER=1)" : "through memory");
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            for (int f16 = 0; f16 < 2 && (!only || strstr(only, (char[]){(char)('0' + i), 0})); f16++)
                for (int mode = 0; mode < 4; mode++) run_case(&cases[i], f16, mode);
        if (cluster) unsetenv("MLCC_CUDA_DECODE_CLUSTER");
    }
    check_rope_q();
    check_split_columns();
    return test_finish();
}
