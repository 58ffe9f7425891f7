/* test_cuda_flash_attention.c - the tensor-core prefill attention (runtime/cuda_attention.c)
 * against the generated attn_prefill compiled for the CPU (float32), on random batches over
 * scattered pages: head_dim 128 with GQA 4:1 and sequences of 1, 17 and 100 tokens plus one
 * continuing after a 50-token prefix (chunked prefill), the same with a sliding window,
 * head_dim 64 without GQA and with a soft-cap, head_dim 80 with groups of 3 (rows of a block
 * left idle) and pages of 8, head_dim 96 with groups of 8, and one 2048-token sequence; each
 * with blocks of 4 and of 8 warps, over float32 pages and over float16 pages (the reference
 * then reads the same half values), with the old softmax (MLCC_CUDA_FLASH_FAST=0: every tile
 * masked) and, for half pages, two m-tiles a warp (MLCC_CUDA_FLASH_MT=2, 32- and 64-key tiles;
 * the 2048-token sequence has whole tiles for the unmasked path); a half q (mlcc_cuda_prefill_qkv's)
 * on Hopper at head_dim 64 and 128 through the warp-specialized wgmma kernel (with and without
 * ping-pong, with 128-key tiles and with the intra-warpgroup overlap), the 8-warp wgmma kernel and
 * the mma.sync one.
 * Tolerance: 4e-3 of the largest output (q, K, V and the
 * softmax weights are rounded to half; measured values are printed). Without NVRTC it skips;
 * without a GPU it checks that the kernels compile for sm_90 with mma.sync, and the wgmma ones for
 * sm_90a. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/jit.h"
#include "gen/attention.h"
#include "runtime/cuda.h"
#include "support/error.h"
#include "tensor_util.h"
#include "test.h"

enum { MAX_SEQS = 8 };

typedef struct flash_case {
    const char *name;
    int D, QH, KVH, PS;
    int64_t window;
    double softcap;
    int nseqs;
    int new_tokens[MAX_SEQS], prefix[MAX_SEQS];
} flash_case;

static MLCCNDArray *upload(const void *host, DLDataType t, int ndim, const int64_t *shape) {
    return test_ndarray_from(ndim, shape, t, (DLDevice){kDLCUDA, 0}, host);
}

/* nn.rope with a table on one NeoX pair (float64, rounded to float32) */
static void rope_pair(float x1, float x2, double c, double s, float *y1, float *y2) {
    *y1 = (float)((double)x1 * c + (-1.0 * (double)x2) * s);
    *y2 = (float)((double)x2 * c + (1.0 * (double)x1) * s);
}

/* q, K and V of the new tokens as one half [T, (QH + 2 KVH) D] tensor (a prefill's qkv under
 * half_activations): mlcc_cuda_prefill_qkv rotates q and K with the table, scales q into a half
 * q and stores K and V into the half pages at the tokens' slots (the first token's slot -1: not
 * stored), then the kernel with a half q; or (fold) K and V alone, the kernel reading q from qkv
 * and rotating and scaling it as it loads it. Against: the pages and the scaled q built here (to a
 * unit in the last place of half at the largest values, 1e-3: a contracted float64 product may
 * round the other way), and the reference on q rotated here over those pages; then the kernel
 * writing a half output, against the float32 one. */
static void half_qkv(const flash_case *fc, int64_t T, const int32_t *token_seq, const int32_t *positions,
                     const int32_t *indptr, const int32_t *indices, const uint16_t *pages16, const int64_t pshape[5],
                     const double *table, MLCCNDArray *dtab, test_arg *args, mlcc_jit_module *cpu) {
    int D = fc->D, QH = fc->QH, KVH = fc->KVH, PS = fc->PS, H = D / 2, heads = QH + 2 * KVH;
    size_t qn = (size_t)T * QH * D, pn = (size_t)pshape[0] * 2 * KVH * PS * D, xn = (size_t)T * heads * D;
    float *qkv = malloc(sizeof(float) * xn), *qr = malloc(sizeof(float) * qn), *pages = malloc(sizeof(float) * pn);
    uint16_t *qkv16 = malloc(sizeof(uint16_t) * xn), *q16 = malloc(sizeof(uint16_t) * qn);
    int32_t *slots = malloc(sizeof(int32_t) * (size_t)T);
    float *want = malloc(sizeof(float) * qn), *got = malloc(sizeof(float) * qn), *pages_got = malloc(sizeof(float) * pn);
    float *q_want = malloc(sizeof(float) * qn), *q_got = malloc(sizeof(float) * qn);
    for (size_t i = 0; i < xn; i++) qkv16[i] = mlcc_f32_to_f16((i % (heads * D) < (size_t)QH * D ? 3 : 1) * test_rand_float());
    mlcc_f16_to_f32_n(qkv, qkv16, xn);
    mlcc_f16_to_f32_n(pages, pages16, pn);
    double scale = 1.0 / sqrt((double)D);
    float q_scale = mlcc_cuda_flash_q_scale(scale, fc->softcap);
    for (int64_t t = 0; t < T; t++) {
        int s = token_seq[t], p = positions[t];
        slots[t] = t == 0 && T > 1 ? -1 : indices[indptr[s] + p / PS] * PS + p % PS;
        const double *cs = table + t * D, *sn = cs + H;
        for (int h = 0; h < heads; h++) {
            const float *x = qkv + (t * heads + h) * D;
            float y[256];
            for (int k = 0; k < H; k++) {
                if (h < QH + KVH) rope_pair(x[k], x[k + H], cs[k], sn[k], &y[k], &y[k + H]);
                else y[k] = x[k], y[k + H] = x[k + H];
            }
            if (h < QH) {
                for (int d = 0; d < D; d++) qr[(t * QH + h) * D + d] = y[d], q_want[(t * QH + h) * D + d] = y[d] * q_scale;
            } else if (slots[t] >= 0) {
                int is_v = h >= QH + KVH, kvh = h - QH - (is_v ? KVH : 0);
                float *dst = pages + ((((int64_t)(slots[t] / PS) * 2 + is_v) * KVH + kvh) * PS + slots[t] % PS) * D;
                for (int d = 0; d < D; d++) dst[d] = mlcc_f16_to_f32(mlcc_f32_to_f16(y[d]));
            }
        }
    }
    uint16_t *pages_want16 = malloc(sizeof(uint16_t) * pn);
    mlcc_f32_to_f16_n(pages_want16, pages, pn);
    int64_t qshape[3] = {T, QH, D}, xshape[2] = {T, heads * D}, tshape[1] = {T};
    args[0] = test_arg_tensor(MLCC_DTYPE_F32, qr, 3, qshape);
    args[1] = test_arg_tensor((DLDataType){kDLFloat, 16, 1}, pages_want16, 5, pshape);
    CHECK_MSG(test_run_args(mlcc_jit_get_function(cpu, "attn_prefill"), MLCC_CPU, args, 8, 6, want, NULL) == 0, "%s: %s",
              fc->name, mlcc_last_error());

    MLCCNDArray *dx = upload(qkv16, (DLDataType){kDLFloat, 16, 1}, 2, xshape);
    MLCCNDArray *dq = upload(NULL, (DLDataType){kDLFloat, 16, 1}, 3, qshape);
    MLCCNDArray *dp = upload(pages16, (DLDataType){kDLFloat, 16, 1}, 5, pshape);
    MLCCNDArray *dslots = upload(slots, MLCC_DTYPE_I32, 1, tshape), *dts = upload(token_seq, MLCC_DTYPE_I32, 1, tshape);
    MLCCNDArray *dpos = upload(positions, MLCC_DTYPE_I32, 1, tshape);
    int64_t ishape[1] = {fc->nseqs + 1}, nshape[1] = {indptr[fc->nseqs]};
    MLCCNDArray *dptr = upload(indptr, MLCC_DTYPE_I32, 1, ishape), *didx = upload(indices, MLCC_DTYPE_I32, 1, nshape);
    MLCCNDArray *dout = upload(NULL, MLCC_DTYPE_F32, 3, qshape);
    CHECK_MSG(dx && dq && dp && dslots && dts && dpos && dptr && didx && dout, "%s", mlcc_last_error());
    /* on Hopper at head_dim 64 and 128 the warp-specialized wgmma kernel (the default) with and
     * without ping-pong, with 128-key tiles, persistent (a block a multiprocessor; and 3 blocks,
     * so that each block takes several items, snaking, through both Q buffers), the 8-warp wgmma
     * kernel and the mma.sync one; elsewhere the mma.sync one; then a token a block (batched
     * decode: its output half at batch 64, o_proj's x under half_activations) */
    static const char *const kernels[8] = {"wgmma, warp-specialized", "wgmma, warp-specialized, no ping-pong",
                                           "wgmma, warp-specialized, 128-key tiles", "wgmma, persistent, no ping-pong",
                                           "wgmma, persistent, no ping-pong, 3 blocks", "wgmma, 8 warps", "mma.sync",
                                           "mma.sync, a token a block"};
    int hopper = mlcc_cuda_device_arch(0) == 90 && (D == 64 || D == 128);
    for (int run = hopper ? 0 : 12; run < 16 && dx && dq && dp && dslots && dts && dpos && dptr && didx && dout; run++) {
        int k = run / 2, fold = run % 2; /* fold: q read from qkv and rotated by the flash kernel */
        if (k >= 7 && fold) continue; /* (batched decode's q: rotated by mlcc_cuda_prefill_qkv) */
        setenv("MLCC_CUDA_FLASH_WGMMA", k < 6 ? "1" : "0", 1);
        setenv("MLCC_CUDA_FLASH_WS", k < 5 ? "1" : "0", 1);
        setenv("MLCC_CUDA_FLASH_PINGPONG", k == 1 || k == 3 || k == 4 ? "0" : "1", 1); /* persistent: as by default */
        setenv("MLCC_CUDA_FLASH_WS_KEYS", k == 2 ? "128" : "64", 1);
        setenv("MLCC_CUDA_FLASH_WS_PERSIST", k == 3 || k == 4 ? "1" : "0", 1);
        setenv("MLCC_CUDA_FLASH_PERSIST_BLOCKS", k == 4 ? "3" : "0", 1);
        char how[96];
        snprintf(how, sizeof how, "%s%s", kernels[k], fold ? ", q rotated in the kernel" : "");
        /* the pages as they were, so that each run's K and V stores are seen */
        CHECK_MSG(mlcc_ndarray_copy_from_bytes(dp, pages16, sizeof(uint16_t) * pn) == 0, "%s", mlcc_last_error());
        mlcc_cuda_prefill_qkv_args pa = {.qkv = dx->dl.data, .q16 = fold ? NULL : dq->dl.data, .pages = dp->dl.data,
                                         .slots = dslots->dl.data, .rope_table = dtab->dl.data, .num_tokens = T,
                                         .num_qo_heads = QH, .num_kv_heads = KVH, .head_dim = D, .page_size = PS,
                                         .qkv_f16 = 1, .q_scale = q_scale};
        CHECK_MSG(mlcc_cuda_prefill_qkv(0, &pa) == 0, "%s: %s", fc->name, mlcc_last_error());
        mlcc_cuda_prefill_args fa = {.q = fold ? dx->dl.data : dq->dl.data, .q_f16 = 1, .pages = dp->dl.data,
                                     .token_seq = dts->dl.data, .positions = dpos->dl.data, .page_indptr = dptr->dl.data,
                                     .page_indices = didx->dl.data, .out = dout->dl.data, .num_tokens = T,
                                     .num_qo_heads = QH, .num_kv_heads = KVH, .head_dim = D, .page_size = PS,
                                     .window = fc->window, .scale = scale, .softcap = fc->softcap, .pages_f16 = 1,
                                     .rope_table = fold ? dtab->dl.data : NULL, .q_row = fold ? (int64_t)heads * D : 0,
                                     .tokens_per_block = k >= 7};
        CHECK_MSG(mlcc_cuda_flash_prefill(0, &fa) == 0, "%s (half q): %s", fc->name, mlcc_last_error());
        uint16_t *back = malloc(sizeof(uint16_t) * (pn > qn ? pn : qn));
        CHECK(mlcc_ndarray_copy_to_bytes(dout, got, sizeof(float) * qn) == 0);
        CHECK(mlcc_ndarray_copy_to_bytes(dp, back, sizeof(uint16_t) * pn) == 0);
        mlcc_f16_to_f32_n(pages_got, back, pn);
        CHECK(mlcc_ndarray_copy_to_bytes(dq, back, sizeof(uint16_t) * qn) == 0);
        mlcc_f16_to_f32_n(q_got, back, qn);
        free(back);
        double e_out = test_rel_diff(got, want, qn), e_pages = test_rel_diff(pages_got, pages, pn);
        double e_q = fold ? 0 : test_rel_diff(q_got, q_want, qn); /* (fold: q16 is not written) */
        printf("%-34s half qkv (prefill_qkv + half q, %s): max error %.2e of the largest output; pages %.2e, q %.2e\n",
               fc->name, how, e_out, e_pages, e_q);
        CHECK_MSG(e_out < 4e-3, "%s, half qkv (%s): error %g", fc->name, how, e_out);
        /* the same with a half output (o_proj's x under half_activations): the float32 output
         * above rounded to half, to a unit in the last place */
        MLCCNDArray *dout16 = upload(NULL, (DLDataType){kDLFloat, 16, 1}, 3, qshape);
        CHECK_MSG(dout16 != NULL, "%s", mlcc_last_error());
        if (dout16) {
            fa.out = dout16->dl.data, fa.out_f16 = 1;
            CHECK_MSG(mlcc_cuda_flash_prefill(0, &fa) == 0, "%s (half out): %s", fc->name, mlcc_last_error());
            uint16_t *h = malloc(sizeof(uint16_t) * qn);
            float *got16 = malloc(sizeof(float) * qn);
            CHECK(mlcc_ndarray_copy_to_bytes(dout16, h, sizeof(uint16_t) * qn) == 0);
            mlcc_f16_to_f32_n(got16, h, qn);
            double e16 = test_rel_diff(got16, got, qn);
            printf("%-34s half qkv, half out (%s): %.2e of the largest output from the float32 one\n", fc->name, how, e16);
            CHECK_MSG(e16 < 1e-3, "%s, half out (%s): %g from the float32 output", fc->name, how, e16);
            free(h), free(got16);
        }
        mlcc_ndarray_release(dout16);
        CHECK_MSG(e_pages < 1e-3 && e_q < 1e-3, "%s, half qkv: pages %g, q %g from the rounding here", fc->name, e_pages, e_q);
    }
    unsetenv("MLCC_CUDA_FLASH_WGMMA");
    unsetenv("MLCC_CUDA_FLASH_WS");
    unsetenv("MLCC_CUDA_FLASH_PINGPONG");
    unsetenv("MLCC_CUDA_FLASH_WS_KEYS");
    unsetenv("MLCC_CUDA_FLASH_WS_PERSIST");
    unsetenv("MLCC_CUDA_FLASH_PERSIST_BLOCKS");
    MLCCNDArray *all[9] = {dx, dq, dp, dslots, dts, dpos, dptr, didx, dout};
    for (int i = 0; i < 9; i++) mlcc_ndarray_release(all[i]);
    free(qkv), free(qr), free(pages), free(qkv16), free(q16), free(slots), free(want), free(got), free(pages_got);
    free(q_want), free(q_got), free(pages_want16);
}

static void run_case(const flash_case *fc, int kv_f16) {
    int D = fc->D, QH = fc->QH, KVH = fc->KVH, PS = fc->PS;
    mlcc_attn_config cfg = {0};
    cfg.head_dim = D, cfg.num_qo_heads = QH, cfg.num_kv_heads = KVH, cfg.page_size = PS;
    cfg.dtype = DT_F32, cfg.softcap = fc->softcap;
    if (kv_f16) cfg.kv_dtype = DT_F16;
    DLDataType page_type = kv_f16 ? (DLDataType){kDLFloat, 16, 1} : MLCC_DTYPE_F32;
    mlcc_prim_func *prefill = gen_attn_prefill(&cfg);
    CHECK_MSG(prefill != NULL, "%s", mlcc_last_error());
    mlcc_jit_module *cpu = prefill ? mlcc_jit_build(&prefill, 1) : NULL;
    CHECK_MSG(cpu != NULL, "%s: %s", fc->name, mlcc_last_error());
    if (!cpu) return;

    /* the batch: tokens, their pages (scattered: page ids shuffled) */
    int64_t T = 0, npages = 0;
    for (int s = 0; s < fc->nseqs; s++) {
        T += fc->new_tokens[s];
        npages += (fc->prefix[s] + fc->new_tokens[s] + PS - 1) / PS;
    }
    int64_t total_pages = npages + 3;
    int32_t *perm = malloc(sizeof(int32_t) * (size_t)total_pages);
    for (int64_t i = 0; i < total_pages; i++) perm[i] = (int32_t)i;
    for (int64_t i = total_pages - 1; i > 0; i--) {
        int64_t j = (int64_t)((test_rand_float() + 1) * 0.5 * (double)(i + 1)) % (i + 1);
        int32_t x = perm[i];
        perm[i] = perm[j], perm[j] = x;
    }
    int32_t *token_seq = malloc(sizeof(int32_t) * (size_t)T), *positions = malloc(sizeof(int32_t) * (size_t)T);
    int32_t indptr[MAX_SEQS + 1] = {0}, *indices = malloc(sizeof(int32_t) * (size_t)npages);
    int64_t t = 0, np = 0;
    for (int s = 0; s < fc->nseqs; s++) {
        for (int i = 0; i < fc->new_tokens[s]; i++, t++) token_seq[t] = s, positions[t] = fc->prefix[s] + i;
        for (int p = 0; p * PS < fc->prefix[s] + fc->new_tokens[s]; p++, np++) indices[np] = perm[np];
        indptr[s + 1] = (int32_t)np;
    }
    size_t qn = (size_t)T * QH * D, pn = (size_t)total_pages * 2 * KVH * PS * D;
    float *q = malloc(sizeof(float) * qn), *pages = malloc(sizeof(float) * pn);
    for (size_t i = 0; i < qn; i++) q[i] = 3 * test_rand_float(); /* sharper softmax: rescaling matters */
    for (size_t i = 0; i < pn; i++) pages[i] = test_rand_float();
    uint16_t *pages16 = malloc(sizeof(uint16_t) * pn); /* the same values as half pages */
    mlcc_f32_to_f16_n(pages16, pages, pn);
    void *page_data = kv_f16 ? (void *)pages16 : (void *)pages;

    float *want = malloc(sizeof(float) * qn), *got = malloc(sizeof(float) * qn);
    int64_t qshape[3] = {T, QH, D}, pshape[5] = {total_pages, 2, KVH, PS, D}, tshape[1] = {T};
    int64_t ishape[1] = {fc->nseqs + 1}, nshape[1] = {np};
    test_arg args[8] = {test_arg_tensor(MLCC_DTYPE_F32, q, 3, qshape), test_arg_tensor(page_type, page_data, 5, pshape),
                        test_arg_tensor(MLCC_DTYPE_I32, token_seq, 1, tshape),
                        test_arg_tensor(MLCC_DTYPE_I32, positions, 1, tshape),
                        test_arg_tensor(MLCC_DTYPE_I32, indptr, 1, ishape), test_arg_tensor(MLCC_DTYPE_I32, indices, 1, nshape),
                        test_arg_tensor(MLCC_DTYPE_F32, NULL, 3, qshape), test_arg_scalar(fc->window)};
    CHECK_MSG(test_run_args(mlcc_jit_get_function(cpu, "attn_prefill"), MLCC_CPU, args, 8, 6, want, NULL) == 0, "%s: %s",
              fc->name, mlcc_last_error());

    MLCCNDArray *dq = upload(q, MLCC_DTYPE_F32, 3, qshape), *dp = upload(page_data, page_type, 5, pshape);
    MLCCNDArray *dts = upload(token_seq, MLCC_DTYPE_I32, 1, tshape), *dpos = upload(positions, MLCC_DTYPE_I32, 1, tshape);
    MLCCNDArray *dptr = upload(indptr, MLCC_DTYPE_I32, 1, ishape), *didx = upload(indices, MLCC_DTYPE_I32, 1, nshape);
    MLCCNDArray *dout = upload(NULL, MLCC_DTYPE_F32, 3, qshape);
    CHECK_MSG(dq && dp && dts && dpos && dptr && didx && dout, "%s", mlcc_last_error());
    double scale = 1.0 / sqrt((double)D);
    /* blocks of 4 and 8 warps; half pages through cp.async and through registers; one token a
     * block (how batched decode runs it); the default layout with MLCC_CUDA_FLASH_FAST=0 (every
     * tile masked, q scaled without log2(e)); for half pages also two m-tiles a warp
     * (MLCC_CUDA_FLASH_MT=2) with tiles of 32 and 64 keys */
    int nvariants = kv_f16 ? 8 : 4;
    for (int v = 0; dout && v < nvariants; v++) {
        int mt2 = kv_f16 && v >= 6, slow = !mt2 && v == (kv_f16 ? 5 : 3), one = !mt2 && v == (kv_f16 ? 4 : 2);
        int w = one || mt2 ? 4 : slow ? 8 : v % 2 ? 8 : 4, pipe = slow ? kv_f16 : v < 2 || one || mt2;
        setenv("MLCC_CUDA_FLASH_WARPS", w == 8 ? "8" : "4", 1);
        setenv("MLCC_CUDA_FLASH_PIPE", pipe ? "1" : "0", 1);
        setenv("MLCC_CUDA_FLASH_FAST", slow ? "0" : "1", 1);
        setenv("MLCC_CUDA_FLASH_MT", mt2 ? "2" : "1", 1);
        setenv("MLCC_CUDA_FLASH_BN", v == 7 ? "64" : "32", 1);
        for (size_t i = 0; i < qn; i++) got[i] = NAN; /* an output row left unwritten fails */
        CHECK_MSG(mlcc_ndarray_copy_from_bytes(dout, got, sizeof(float) * qn) == 0, "%s", mlcc_last_error());
        mlcc_cuda_prefill_args fa = {dq->dl.data, dp->dl.data, dts->dl.data, dpos->dl.data, dptr->dl.data, didx->dl.data,
                                     dout->dl.data, T, QH, KVH, D, PS, fc->window, scale, fc->softcap, kv_f16, one, NULL, 0, 0,
                                     0};
        CHECK_MSG(mlcc_cuda_flash_prefill_supports(D, QH, KVH), "%s", fc->name);
        CHECK_MSG(mlcc_cuda_flash_prefill(0, &fa) == 0, "%s: %s", fc->name, mlcc_last_error());
        CHECK_MSG(mlcc_ndarray_copy_to_bytes(dout, got, sizeof(float) * qn) == 0, "%s", mlcc_last_error());
        double e = test_rel_diff(got, want, qn);
        const char *kind = kv_f16 ? (pipe ? "f16 (cp.async)" : "f16 (registers)") : "f32";
        const char *how = one ? ", a token a block" : slow ? ", FLASH_FAST=0" : !mt2 ? "" : v == 7 ? ", 2 m-tiles, 64 keys" : ", 2 m-tiles, 32 keys";
        printf("%-34s %s pages, %d warps%s: %lld tokens, max error %.2e of the largest output\n", fc->name, kind, w, how,
               (long long)T, e);
        CHECK_MSG(e < 4e-3, "%s, %s pages, %d warps%s: error %g", fc->name, kind, w, how, e);
    }
    unsetenv("MLCC_CUDA_FLASH_WARPS");
    unsetenv("MLCC_CUDA_FLASH_PIPE");
    unsetenv("MLCC_CUDA_FLASH_FAST");
    unsetenv("MLCC_CUDA_FLASH_MT");
    unsetenv("MLCC_CUDA_FLASH_BN");

    /* q rotated while the kernel loads it (a rope table [T, 2, D/2] in float64, NeoX pairs):
     * against the reference on q rotated here in float64, as mlcc_rope_q rotates it */
    int H = D / 2;
    int64_t tabshape[3] = {T, 2, H};
    double *table = malloc(sizeof(double) * (size_t)T * D);
    float *qr = malloc(sizeof(float) * qn);
    for (int64_t tt = 0; tt < T; tt++)
        for (int k = 0; k < H; k++) {
            double angle = positions[tt] * pow(10000.0, -2.0 * k / D);
            table[tt * D + k] = cos(angle), table[tt * D + H + k] = sin(angle);
        }
    for (int64_t row = 0; row < T * QH; row++) {
        const double *cs = table + row / QH * D, *sn = cs + H;
        for (int k = 0; k < H; k++) {
            double x1 = q[row * D + k], x2 = q[row * D + k + H];
            qr[row * D + k] = (float)(x1 * cs[k] + (-1.0 * x2) * sn[k]);
            qr[row * D + k + H] = (float)(x2 * cs[k] + (1.0 * x1) * sn[k]);
        }
    }
    args[0] = test_arg_tensor(MLCC_DTYPE_F32, qr, 3, qshape);
    CHECK_MSG(test_run_args(mlcc_jit_get_function(cpu, "attn_prefill"), MLCC_CPU, args, 8, 6, want, NULL) == 0, "%s: %s",
              fc->name, mlcc_last_error());
    MLCCNDArray *dtab = upload(table, MLCC_DTYPE_F64, 3, tabshape);
    CHECK_MSG(dtab != NULL, "%s", mlcc_last_error());
    if (dout && dtab) {
        mlcc_cuda_prefill_args fa = {dq->dl.data, dp->dl.data, dts->dl.data, dpos->dl.data, dptr->dl.data, didx->dl.data,
                                     dout->dl.data, T, QH, KVH, D, PS, fc->window, scale, fc->softcap, kv_f16, 0,
                                     dtab->dl.data, 0, 0, 0};
        CHECK_MSG(mlcc_cuda_flash_prefill(0, &fa) == 0, "%s (rope): %s", fc->name, mlcc_last_error());
        CHECK_MSG(mlcc_ndarray_copy_to_bytes(dout, got, sizeof(float) * qn) == 0, "%s", mlcc_last_error());
        double e = test_rel_diff(got, want, qn);
        printf("%-34s %s pages, q rotated while loaded: max error %.2e of the largest output\n", fc->name,
               kv_f16 ? "f16" : "f32", e);
        CHECK_MSG(e < 4e-3, "%s, q rotated while loaded: error %g", fc->name, e);
    }
    if (kv_f16 && dout && dtab) half_qkv(fc, T, token_seq, positions, indptr, indices, pages16, pshape, table, dtab, args, cpu);
    mlcc_ndarray_release(dtab);
    free(table), free(qr);
    MLCCNDArray *all[7] = {dq, dp, dts, dpos, dptr, didx, dout};
    for (int i = 0; i < 7; i++) mlcc_ndarray_release(all[i]);
    free(perm), free(token_seq), free(positions), free(indices), free(q), free(pages), free(pages16), free(want), free(got);
    mlcc_jit_free(cpu);
}

static const flash_case cases[] = {
    {"d128 gqa4 1,17,100 + prefix 50", 128, 8, 2, 16, 0, 0, 4, {1, 17, 100, 30}, {0, 0, 0, 50}},
    {"d128 gqa4 window 24", 128, 8, 2, 16, 24, 0, 4, {1, 17, 100, 30}, {0, 0, 0, 50}},
    {"d64 no gqa soft-cap 2", 64, 4, 4, 16, 0, 2.0, 2, {5, 70}, {0, 3}},
    {"d80 groups of 3, pages of 8", 80, 6, 2, 8, 0, 0, 2, {33, 1}, {0, 40}},
    {"d80 groups of 3, 150 tokens", 80, 6, 2, 16, 0, 0, 1, {150}, {0}}, /* full 64-key tiles at d80 */
    {"d96 groups of 8 window 40", 96, 16, 2, 16, 40, 0, 1, {64}, {0}},
    {"d128 gqa4 2048 tokens", 128, 8, 2, 16, 0, 0, 1, {2048}, {0}},
    /* pages of 12 (not a power of two: keys to pages by division); blocks of up to 128 tokens
     * holding several sequences, one of them over more than 32 tokens of a block */
    {"d64 no gqa, pages of 12, 4 sequences", 64, 4, 4, 12, 0, 0, 4, {40, 3, 90, 1}, {0, 20, 7, 0}},
    /* a decode step: one new token for each of several sequences */
    {"decode d128 gqa4, 7 sequences", 128, 8, 2, 16, 0, 0, 7, {1, 1, 1, 1, 1, 1, 1}, {0, 1, 15, 63, 64, 200, 777}},
    {"decode d64 groups of 8 window 100", 64, 16, 2, 8, 100, 0, 3, {1, 1, 1}, {5, 99, 300}},
};

int main(void) {
    if (!mlcc_nvrtc_available()) TEST_SKIP("%s", mlcc_nvrtc_status());
    char *ptx = NULL;
    CHECK_MSG(mlcc_nvrtc_compile_ptx(mlcc_cuda_flash_prefill_kernel_source(), 90, &ptx) == 0, "%s", mlcc_last_error());
    CHECK(ptx && strstr(ptx, ".entry mlcc_flash_prefill_128_4") != NULL);
    CHECK(ptx && strstr(ptx, "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32") != NULL);
    CHECK(ptx && strstr(ptx, "ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16") != NULL);
    CHECK(ptx && strstr(ptx, ".entry mlcc_flash_prefill_128_8_hp") != NULL && strstr(ptx, "cp.async.cg.shared.global") != NULL);
    CHECK(ptx && strstr(ptx, ".entry mlcc_flash_prefill_128_8_hpq") != NULL && strstr(ptx, ".entry mlcc_prefill_qkv_h") != NULL);
    free(ptx);
    /* the sm_90a module: wgmma kernels at head_dim 64 and 128 (and only those) */
    ptx = NULL;
    CHECK_MSG(mlcc_nvrtc_compile_ptx(mlcc_cuda_flash_prefill_wgmma_source(), 90, &ptx) == 0, "%s", mlcc_last_error());
    CHECK(ptx && strstr(ptx, ".target sm_90a") != NULL && strstr(ptx, ".entry mlcc_flash_prefill_128_8_wgh") != NULL);
    CHECK(ptx && strstr(ptx, ".entry mlcc_flash_prefill_64_8_wg") != NULL);
    CHECK(ptx && strstr(ptx, ".entry mlcc_flash_prefill_128_12_wsh") != NULL);
    CHECK(ptx && strstr(ptx, ".entry mlcc_flash_prefill_64_12_ws") != NULL);
    CHECK(ptx && strstr(ptx, ".entry mlcc_flash_prefill_128_12_wsbh") != NULL && strstr(ptx, "setmaxnreg.inc") != NULL);
    CHECK(ptx && strstr(ptx, ".entry mlcc_flash_prefill_128_12_wsph") != NULL);
    CHECK(ptx && strstr(ptx, "cp.async.mbarrier.arrive.noinc.shared::cta.b64") != NULL);
    CHECK(ptx && strstr(ptx, ".entry mlcc_flash_prefill_128_8_hp") == NULL); /* the mma.sync kernels stay in the other */
    CHECK(ptx && strstr(ptx, "wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16") != NULL);
    CHECK(ptx && strstr(ptx, "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16") != NULL);
    free(ptx);
    /* what the kernel covers; the rest keeps the generated kernel */
    CHECK(mlcc_cuda_flash_prefill_supports(128, 32, 8) && mlcc_cuda_flash_prefill_supports(80, 6, 2));
    CHECK(!mlcc_cuda_flash_prefill_supports(256, 8, 4) && !mlcc_cuda_flash_prefill_supports(128, 130, 2));
    if (!mlcc_cuda_available()) {
        if (!test_checks_failed) TEST_SKIP("%s", mlcc_cuda_status());
        return test_finish();
    }
    ir_scope_begin();
    /* MLCC_TEST_FLASH_CASES=0,9: only those cases (the CPU emulation, bench/cuda_emu/run_flash.sh, is slow) */
    const char *only = getenv("MLCC_TEST_FLASH_CASES");
    char list[256];
    snprintf(list, sizeof list, ",%s,", only ? only : "");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char item[24];
        snprintf(item, sizeof item, ",%zu,", i);
        if (only && !strstr(list, item)) continue;
        run_case(&cases[i], 0);
        run_case(&cases[i], 1);
    }
    ir_scope_end();
    return test_finish();
}
