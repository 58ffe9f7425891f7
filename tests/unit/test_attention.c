/* test_attention.c - the generated paged-attention kernels (src/gen/attention.h), compiled
 * with the C JIT and driven by the runtime KV cache, against a plain float64 attention written
 * here. Every forward step checks every output row of every layer against the reference,
 * which reads each sequence's own history of K/V values (kept here, independent of pages).
 *
 * Configurations cover head_dim 12/32/64/128, GQA groups 1/2/4/8/16 (8 and 16 vectorized over the
 * heads, as head_dim 12 with 4 partial sums and 64 with 8), soft-cap on and off, a
 * custom scale, float16 storage, page sizes 8 and 16, rope in the append kernel; each runs
 * with three layers whose sliding windows are none, smaller and larger than the sequences.
 * Scenarios: a ragged prefill of 1 to 8 sequences of lengths among 1, 2, 15, 16, 17, 33, 100,
 * 300 (page boundaries) then
 * decode steps (split over the keys in 1, 3 and an automatic number of chunks) and a mixed
 * chunked-prefill step; decode after prefill equals prefill of the whole sequence; fork then
 * divergent appends leave the parent intact; pop_n then re-append reproduces the outputs. */
#include <dlpack/dlpack.h>
#include <stdint.h>

#include "codegen/jit.h"
#include "gen/attention.h"
#include "ir/printer.h"
#include "runtime/kv_cache.h"
#include "support/error.h"
#include "test.h"

enum { LAYERS = 3, MAX_SEQS = 16, MAX_LEN = 420, NUM_PAGES = 200 };

typedef struct seq_ref {
    int64_t id;
    uint64_t tag; /* inputs of new tokens are a function of (tag, position) */
    int64_t len;
    double *k, *v; /* [MAX_LEN][KVH][D], as stored (rounded to the dtype, rope applied) */
} seq_ref;

typedef struct fixture {
    const char *label;
    mlcc_attn_config cfg;
    double scale;
    mlcc_jit_module *mod;
    MLCCFunction *fn[3];
    MLCCKVCache *cache;
    int32_t window[LAYERS];
    seq_ref seqs[MAX_SEQS];
    int nseqs;
    /* the last step: outputs per layer as float, [rows][QH][D] */
    float *out[LAYERS];
    int64_t rows;
    double worst; /* largest error seen, relative to the output's scale */
    double tol;
} fixture;

/* ---- inputs ---- */

static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

/* A value in [-1, 1) for (tag, position, kind q/k/v, head, d). */
static double input_value(uint64_t tag, int64_t pos, int kind, int head, int d) {
    uint64_t h = mix(tag * 0x9e3779b97f4a7c15ull + (uint64_t)pos * 1000003u +
                     (uint64_t)kind * 7919u + (uint64_t)head * 131u + (uint64_t)d);
    return (double)(h >> 11) / (double)(1ull << 52) - 1.0;
}

static int is_f16(const fixture *fx) {
    return fx->cfg.dtype.bits == 16;
}

/* The value as the storage dtype holds it. */
static double round_to_dtype(const fixture *fx, double x) {
    return is_f16(fx) ? (double)mlcc_f16_to_f32(mlcc_f32_to_f16((float)x)) : (double)(float)x;
}

/* The pages' dtype (kv_dtype, else dtype). */
static int kv_is_f16(const fixture *fx) {
    return fx->cfg.kv_dtype.bits ? fx->cfg.kv_dtype.bits == 16 : is_f16(fx);
}

static double round_to_kv(const fixture *fx, double x) {
    return kv_is_f16(fx) ? (double)mlcc_f16_to_f32(mlcc_f32_to_f16((float)x)) : (double)(float)x;
}

static void store_elem(const fixture *fx, void *base, int64_t i, double x) {
    if (is_f16(fx))
        ((uint16_t *)base)[i] = mlcc_f32_to_f16((float)x);
    else
        ((float *)base)[i] = (float)x;
}

static double load_elem(const fixture *fx, const void *base, int64_t i) {
    return is_f16(fx) ? (double)mlcc_f16_to_f32(((const uint16_t *)base)[i])
                      : (double)((const float *)base)[i];
}

/* q is scaled up so that logits are large enough for the soft-cap and the softmax to matter. */
static double q_value(const fixture *fx, uint64_t tag, int64_t pos, int h, int d) {
    return round_to_dtype(fx, 3.0 * input_value(tag, pos, 0, h, d));
}

/* K (kind 1) or V (kind 2) of a token as stored: rounded, with rope on K. */
static void kv_row(const fixture *fx, uint64_t tag, int64_t pos, int kind, int h, double *row) {
    int D = fx->cfg.head_dim;
    for (int d = 0; d < D; d++)
        row[d] = round_to_kv(fx, round_to_dtype(fx, input_value(tag, pos, kind, h, d)));
    if (kind != 1 || fx->cfg.rope_theta <= 0) return;
    double rotated[1024];
    int half = D / 2;
    for (int d = 0; d < D; d++) {
        double inv_freq = pow(fx->cfg.rope_theta, -2.0 * (d % half) / D);
        double angle = (double)pos * inv_freq;
        double partner = d < half ? -row[d + half] : row[d - half];
        rotated[d] = row[d] * cos(angle) + partner * sin(angle);
    }
    for (int d = 0; d < D; d++)
        row[d] = round_to_kv(fx, rotated[d]);
}

/* ---- the float64 reference ---- */

static double ref_logit(const fixture *fx, const double *q, const double *k) {
    double s = 0;
    for (int d = 0; d < fx->cfg.head_dim; d++)
        s += q[d] * k[d];
    s *= fx->scale;
    if (fx->cfg.softcap > 0) s = fx->cfg.softcap * tanh(s / fx->cfg.softcap);
    return s;
}

/* out[D] = attention of query q (head h) at position pos over the sequence's keys. */
static void ref_attention(const fixture *fx, const seq_ref *s, int64_t pos, int h, const double *q,
                          int32_t window, double *out) {
    int D = fx->cfg.head_dim, KVH = fx->cfg.num_kv_heads, kvh = h / (fx->cfg.num_qo_heads / KVH);
    int64_t lo = window > 0 && pos - window + 1 > 0 ? pos - window + 1 : 0;
    double mx = -INFINITY, sum = 0;
    static double logits[MAX_LEN];
    for (int64_t j = lo; j <= pos; j++) {
        logits[j] = ref_logit(fx, q, s->k + (j * KVH + kvh) * D);
        if (logits[j] > mx) mx = logits[j];
    }
    for (int d = 0; d < D; d++)
        out[d] = 0;
    for (int64_t j = lo; j <= pos; j++) {
        double p = exp(logits[j] - mx);
        sum += p;
        const double *v = s->v + (j * KVH + kvh) * D;
        for (int d = 0; d < D; d++)
            out[d] += p * v[d];
    }
    for (int d = 0; d < D; d++)
        out[d] /= sum;
}

/* ---- the fixture ---- */

static seq_ref *find_seq(fixture *fx, int64_t id) {
    for (int i = 0; i < fx->nseqs; i++)
        if (fx->seqs[i].id == id) return &fx->seqs[i];
    return NULL;
}

static int fx_open(fixture *fx, const char *label, mlcc_attn_config cfg, double tol) {
    memset(fx, 0, sizeof *fx);
    fx->label = label;
    fx->cfg = cfg;
    fx->tol = tol;
    fx->scale = cfg.scale > 0 ? cfg.scale : 1.0 / sqrt((double)cfg.head_dim);
    mlcc_prim_func *funcs[3];
    CHECK_MSG(gen_attn_kernels(&cfg, funcs) == 0, "%s: %s", label, mlcc_last_error());
    fx->mod = mlcc_jit_build(funcs, 3);
    CHECK_MSG(fx->mod != NULL, "%s: %s", label, mlcc_last_error());
    if (!fx->mod) return -1;
    const char *names[3] = {"kv_append", "attn_prefill", "attn_decode"};
    for (int i = 0; i < 3; i++)
        fx->fn[i] = mlcc_module_get_function(mlcc_jit_module_handle(fx->mod), names[i]);
    fx->window[0] = 0;
    fx->window[1] = 7;
    fx->window[2] = 1000;
    /* made through the packed builtin, as a model library's create_kv_cache does */
    MLCCShape *windows =
        mlcc_shape_new(LAYERS, (int64_t[LAYERS]){fx->window[0], fx->window[1], fx->window[2]});
    MLCCArgs a;
    mlcc_args_init(&a);
    int64_t ints[6] = {LAYERS,       cfg.num_qo_heads, cfg.num_kv_heads,
                       cfg.head_dim, cfg.page_size,    NUM_PAGES};
    for (int i = 0; i < 6; i++)
        mlcc_args_int(&a, ints[i]);
    mlcc_args_str(&a, is_f16(fx) ? "float16" : "float32");
    mlcc_args_object(&a, &windows->obj);
    for (int i = 0; i < 3; i++)
        mlcc_args_object(&a, fx->fn[i] ? &fx->fn[i]->obj : NULL);
    if (cfg.kv_dtype.bits) mlcc_args_str(&a, kv_is_f16(fx) ? "float16" : "float32");
    MLCCValue ret;
    int code;
    int rc = mlcc_call_global("mlcc.kv_cache.create", &a, &ret, &code);
    CHECK_MSG(rc == 0, "%s", mlcc_last_error());
    mlcc_object_release(&windows->obj);
    fx->cache = rc == 0 ? mlcc_kv_cache_from_object(ret.v_handle) : NULL;
    return fx->cache ? 0 : -1;
}

static void fx_close(fixture *fx) {
    CHECK_MSG(fx->worst <= fx->tol, "%s: worst error %.3g > %.3g", fx->label, fx->worst, fx->tol);
    printf("%-34s worst relative error %.2e\n", fx->label, fx->worst);
    for (int i = 0; i < fx->nseqs; i++)
        CHECK_EQ_INT(mlcc_kv_cache_remove_sequence(fx->cache, fx->seqs[i].id), 0);
    if (fx->cache) {
        CHECK_EQ_INT(mlcc_kv_cache_free_pages(fx->cache), NUM_PAGES);
        CHECK_EQ_INT(mlcc_kv_cache_check(fx->cache), 0);
    }
    for (int i = 0; i < fx->nseqs; i++)
        free(fx->seqs[i].k), free(fx->seqs[i].v);
    for (int l = 0; l < LAYERS; l++)
        free(fx->out[l]);
    mlcc_kv_cache_release(fx->cache);
    for (int i = 0; i < 3; i++)
        mlcc_object_release(fx->fn[i] ? &fx->fn[i]->obj : NULL);
    if (fx->mod) mlcc_jit_free(fx->mod);
}

static seq_ref *new_ref(fixture *fx, int64_t id, uint64_t tag) {
    seq_ref *s = &fx->seqs[fx->nseqs++];
    size_t n = (size_t)MAX_LEN * (size_t)fx->cfg.num_kv_heads * (size_t)fx->cfg.head_dim;
    s->id = id;
    s->tag = tag;
    s->len = 0;
    s->k = calloc(n, sizeof(double));
    s->v = calloc(n, sizeof(double));
    return s;
}

static void fx_add(fixture *fx, int64_t id, uint64_t tag) {
    CHECK_EQ_INT(mlcc_kv_cache_add_sequence(fx->cache, id), 0);
    new_ref(fx, id, tag);
}

static void fx_fork(fixture *fx, int64_t parent, int64_t child, int64_t pos, uint64_t tag) {
    CHECK_MSG(mlcc_kv_cache_fork_sequence(fx->cache, parent, child, pos) == 0, "%s",
              mlcc_last_error());
    seq_ref *p = find_seq(fx, parent);
    seq_ref *c = new_ref(fx, child, tag);
    size_t n = (size_t)MAX_LEN * (size_t)fx->cfg.num_kv_heads * (size_t)fx->cfg.head_dim;
    memcpy(c->k, p->k, n * sizeof(double));
    memcpy(c->v, p->v, n * sizeof(double));
    c->len = pos < 0 ? p->len : pos;
}

static void fx_pop(fixture *fx, int64_t id, int64_t n) {
    CHECK_EQ_INT(mlcc_kv_cache_pop_n(fx->cache, id, n), 0);
    find_seq(fx, id)->len -= n;
}

static DLTensor tensor3(fixture *fx, void *data, int64_t *shape, int64_t rows, int heads) {
    DLTensor t = {0};
    shape[0] = rows, shape[1] = heads, shape[2] = fx->cfg.head_dim;
    t.data = data;
    t.device = MLCC_CPU;
    t.ndim = 3;
    t.dtype = is_f16(fx) ? MLCC_DTYPE_F16 : MLCC_DTYPE_F32;
    t.shape = shape;
    return t;
}

/* One forward step: new tokens for each listed sequence, attention in every layer, every
 * output row compared with the reference. */
static void fx_step(fixture *fx, int n, const int64_t *ids, const int64_t *lens) {
    int D = fx->cfg.head_dim, QH = fx->cfg.num_qo_heads, KVH = fx->cfg.num_kv_heads;
    int rc = mlcc_kv_cache_begin_forward(fx->cache, ids, lens, n);
    CHECK_MSG(rc == 0, "%s: %s", fx->label, mlcc_last_error());
    if (rc) return;
    const mlcc_kv_forward *f = mlcc_kv_cache_forward(fx->cache);
    int64_t T = f->num_tokens;
    size_t esize = is_f16(fx) ? 2 : 4;
    char *q = malloc((size_t)T * QH * D * esize), *k = malloc((size_t)T * KVH * D * esize);
    char *v = malloc((size_t)T * KVH * D * esize), *out = malloc((size_t)T * QH * D * esize);
    double row[1024];
    for (int b = 0; b < n; b++) {
        seq_ref *s = find_seq(fx, ids[b]);
        for (int64_t t = 0; t < lens[b]; t++) {
            int64_t r = f->qo_indptr[b] + t, pos = s->len + t;
            for (int h = 0; h < QH; h++)
                for (int d = 0; d < D; d++)
                    store_elem(fx, q, (r * QH + h) * D + d, q_value(fx, s->tag, pos, h, d));
            for (int h = 0; h < KVH; h++)
                for (int kind = 1; kind <= 2; kind++) {
                    for (int d = 0; d < D; d++)
                        store_elem(fx, kind == 1 ? k : v, (r * KVH + h) * D + d,
                                   input_value(s->tag, pos, kind, h, d));
                    kv_row(fx, s->tag, pos, kind, h, row);
                    memcpy((kind == 1 ? s->k : s->v) + (pos * KVH + h) * D, row,
                           sizeof(double) * (size_t)D);
                }
        }
    }
    int64_t sq[3], sk[3], sv[3], so[3];
    DLTensor tq = tensor3(fx, q, sq, T, QH), tk = tensor3(fx, k, sk, T, KVH),
             tv = tensor3(fx, v, sv, T, KVH), to = tensor3(fx, out, so, T, QH);
    fx->rows = T;
    { /* a rope table of the wrong dtype (float32): refused before anything is appended */
        float table[2];
        int64_t st[3] = {T, 2, D / 2};
        DLTensor bad = {table, {kDLCPU, 0}, 3, {kDLFloat, 32, 1}, st, NULL, 0};
        mlcc_clear_error();
        CHECK(mlcc_kv_cache_attention_rope(fx->cache, 0, &tq, &tk, &tv, &bad, &to) != 0);
        CHECK_MSG(strstr(mlcc_last_error(), "rope_table") != NULL, "%s", mlcc_last_error());
    }
    for (int l = 0; l < LAYERS; l++) {
        if (l == 1) { /* one layer through the packed builtin */
            MLCCArgs a;
            mlcc_args_init(&a);
            mlcc_args_object(&a, (MLCCObject *)fx->cache);
            mlcc_args_int(&a, l);
            mlcc_args_tensor(&a, &tq);
            mlcc_args_tensor(&a, &tk);
            mlcc_args_tensor(&a, &tv);
            mlcc_args_tensor(&a, &to);
            MLCCValue ret;
            int code;
            rc = mlcc_call_global("mlcc.kv_cache.attention", &a, &ret, &code);
        } else {
            rc = mlcc_kv_cache_attention(fx->cache, l, &tq, &tk, &tv, &to);
        }
        CHECK_MSG(rc == 0, "%s: layer %d: %s", fx->label, l, mlcc_last_error());
        free(fx->out[l]);
        fx->out[l] = malloc(sizeof(float) * (size_t)T * QH * D);
        for (int64_t i = 0; i < T * QH * D; i++)
            fx->out[l][i] = (float)load_elem(fx, out, i);
        /* the reference, row by row */
        double qrow[1024], want[1024];
        for (int b = 0; b < n; b++) {
            seq_ref *s = find_seq(fx, ids[b]);
            for (int64_t t = 0; t < lens[b]; t++) {
                int64_t r = f->qo_indptr[b] + t, pos = s->len + t;
                for (int h = 0; h < QH; h++) {
                    for (int d = 0; d < D; d++)
                        qrow[d] = q_value(fx, s->tag, pos, h, d);
                    ref_attention(fx, s, pos, h, qrow, fx->window[l], want);
                    double err = 0, mag = 1e-3;
                    for (int d = 0; d < D; d++) {
                        double e = fabs(fx->out[l][(r * QH + h) * D + d] - want[d]);
                        if (!(e <= err)) err = isnan(e) ? INFINITY : e;
                        if (fabs(want[d]) > mag) mag = fabs(want[d]);
                    }
                    if (err / mag > fx->worst) {
                        if (err / mag > fx->tol)
                            fprintf(stderr, "%s: layer %d seq %lld pos %lld head %d: error %.3g\n",
                                    fx->label, l, (long long)s->id, (long long)pos, h, err / mag);
                        fx->worst = err / mag;
                    }
                }
            }
        }
    }
    for (int b = 0; b < n; b++)
        find_seq(fx, ids[b])->len += lens[b];
    CHECK_EQ_INT(mlcc_kv_cache_end_forward(fx->cache), 0);
    free(q), free(k), free(v), free(out);
}

static void fx_decode(fixture *fx, int n, const int64_t *ids) {
    int64_t ones[MAX_SEQS];
    for (int i = 0; i < n; i++)
        ones[i] = 1;
    fx_step(fx, n, ids, ones);
}

/* Rows [r0, r0 + n) of the last step's outputs, all layers. */
static float *save_rows(const fixture *fx, int64_t r0, int64_t n) {
    size_t per = (size_t)fx->cfg.num_qo_heads * (size_t)fx->cfg.head_dim;
    float *s = malloc(sizeof(float) * per * (size_t)n * LAYERS);
    for (int l = 0; l < LAYERS; l++)
        memcpy(s + (size_t)l * per * (size_t)n, fx->out[l] + (size_t)r0 * per,
               sizeof(float) * per * (size_t)n);
    return s;
}

static double max_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (!(e <= m)) m = isnan(e) ? INFINITY : e;
    }
    return m;
}

/* ---- scenarios ---- */

/* Ragged prefill at page boundaries, decode steps with several split counts, a mixed step. */
static void scenario_ragged(fixture *fx, int nseq, int first) {
    static const int64_t all_lengths[8] = {17, 1, 300, 16, 100, 15, 33, 2};
    int64_t ids[8], lengths[8];
    for (int i = 0; i < nseq; i++) {
        ids[i] = 100 + i;
        lengths[i] = all_lengths[(first + i) % 8];
        fx_add(fx, ids[i], 1000 + (uint64_t)i);
    }
    fx_step(fx, nseq, ids, lengths);
    mlcc_kv_cache_set_decode_splits(fx->cache, 1);
    fx_decode(fx, nseq, ids);
    mlcc_kv_cache_set_decode_splits(fx->cache, 3);
    fx_decode(fx, nseq, ids);
    mlcc_kv_cache_set_decode_splits(fx->cache, 0);
    fx_decode(fx, nseq, ids);
    /* chunked prefill mixed with single tokens: each attends its pages and its new tokens */
    int64_t mixed[8] = {5, 1, 16, 2, 1, 9, 1, 3};
    fx_step(fx, nseq, ids, mixed);
}

/* Decode after prefill gives what a prefill of the whole sequence gives. */
static void scenario_decode_equals_prefill(fixture *fx) {
    int64_t a = 200, b = 201;
    fx_add(fx, a, 77);
    fx_add(fx, b, 77); /* same inputs */
    int64_t len = 29;
    fx_step(fx, 1, &a, &len);
    float *dec[3];
    for (int i = 0; i < 3; i++) {
        fx_decode(fx, 1, &a);
        dec[i] = save_rows(fx, 0, 1);
    }
    int64_t whole = 32;
    fx_step(fx, 1, &b, &whole);
    size_t per = (size_t)fx->cfg.num_qo_heads * fx->cfg.head_dim;
    for (int i = 0; i < 3; i++) {
        float *pre = save_rows(fx, 29 + i, 1);
        double diff = max_diff(dec[i], pre, per * LAYERS);
        CHECK_MSG(diff < (is_f16(fx) ? 2e-3 : 2e-5),
                  "%s: decode step %d differs from prefill by %g", fx->label, i, diff);
        free(pre);
        free(dec[i]);
    }
}

/* A fork shares the prefix; divergent appends leave the parent's outputs intact. */
static void scenario_fork(fixture *fx) {
    int64_t p = 300, c1 = 301, c2 = 302;
    fx_add(fx, p, 500);
    int64_t len = 37; /* a partial last page */
    fx_step(fx, 1, &p, &len);
    /* the parent's next token, before any fork */
    fx_decode(fx, 1, &p);
    float *before = save_rows(fx, 0, 1);
    fx_pop(fx, p, 1);
    fx_fork(fx, p, c1, -1, 501);
    fx_fork(fx, p, c2, 20, 502);
    int64_t ids[3] = {c1, c2, p}, lens[3] = {6, 3, 1};
    fx_step(fx, 3, ids, lens); /* the children diverge; the parent redoes its token */
    float *after = save_rows(fx, 9, 1);
    size_t per = (size_t)fx->cfg.num_qo_heads * fx->cfg.head_dim;
    CHECK_MSG(max_diff(before, after, per * LAYERS) < (is_f16(fx) ? 2e-3 : 1e-6),
              "%s: fork changed the parent's output", fx->label);
    free(before);
    free(after);
    /* decode all three; then the parent rolls back into its shared pages and appends anew */
    fx_decode(fx, 3, ids);
    fx_pop(fx, p, 20); /* now inside pages shared with c1 (and c2 for the first page) */
    int64_t again = 4;
    fx_step(fx, 1, &p, &again);
    fx_decode(fx, 3, ids);
}

/* pop_n then re-append of the same tokens reproduces the outputs, across a page boundary. */
static void scenario_pop(fixture *fx) {
    int64_t s = 400, len = 40;
    fx_add(fx, s, 900);
    fx_step(fx, 1, &s, &len);
    int64_t more = 12;
    fx_step(fx, 1, &s, &more); /* positions 40..51 cross the page boundary at 48 */
    float *first = save_rows(fx, 0, 12);
    fx_pop(fx, s, 12);
    fx_step(fx, 1, &s, &more);
    float *second = save_rows(fx, 0, 12);
    size_t per = (size_t)fx->cfg.num_qo_heads * fx->cfg.head_dim;
    CHECK_MSG(max_diff(first, second, per * 12 * LAYERS) == 0, "%s: re-append after pop_n differs",
              fx->label);
    free(first);
    free(second);
    fx_decode(fx, 1, &s);
    first = save_rows(fx, 0, 1);
    fx_pop(fx, s, 1);
    fx_decode(fx, 1, &s);
    second = save_rows(fx, 0, 1);
    CHECK_MSG(max_diff(first, second, per * LAYERS) == 0, "%s: decode after pop_n differs",
              fx->label);
    free(first);
    free(second);
}

/* A ragged batch of nseq sequences whose lengths start at entry `first` of the list. */
/* Running out of pages is reported, changes nothing, and the engine can preempt and go on. */
static void scenario_exhaustion(fixture *fx) {
    int64_t id = 600, other = 400;
    fx_add(fx, id, 4242);
    int64_t free_pages = mlcc_kv_cache_free_pages(fx->cache);
    int64_t too_many = free_pages * fx->cfg.page_size + 1;
    CHECK_EQ_INT(mlcc_kv_cache_begin_forward(fx->cache, &id, &too_many, 1), MLCC_KV_OUT_OF_PAGES);
    CHECK_MSG(strstr(mlcc_last_error(), "out of pages") != NULL, "%s", mlcc_last_error());
    CHECK_EQ_INT(mlcc_kv_cache_free_pages(fx->cache), free_pages);
    CHECK(mlcc_kv_cache_forward(fx->cache) == NULL);
    CHECK_EQ_INT(mlcc_kv_cache_seq_length(fx->cache, id), 0);
    /* preempt another sequence, then run a step that fits; outputs still match */
    seq_ref *victim = find_seq(fx, other);
    CHECK_EQ_INT(mlcc_kv_cache_remove_sequence(fx->cache, other), 0);
    free(victim->k), free(victim->v);
    *victim = fx->seqs[--fx->nseqs];
    int64_t len = 21;
    fx_step(fx, 1, &id, &len);
    fx_decode(fx, 1, &id);
}

static void run_config(const char *label, mlcc_attn_config cfg, int nseq, int first, double tol) {
    fixture fx;
    if (fx_open(&fx, label, cfg, tol) == 0) {
        scenario_ragged(&fx, nseq, first);
        scenario_decode_equals_prefill(&fx);
        scenario_fork(&fx);
        scenario_pop(&fx);
        scenario_exhaustion(&fx);
        CHECK_EQ_INT(mlcc_kv_cache_check(fx.cache), 0);
    }
    fx_close(&fx);
}

static mlcc_attn_config config(int head_dim, int qo_heads, int kv_heads, int page_size,
                               mlcc_dtype dtype) {
    mlcc_attn_config c = {0};
    c.head_dim = head_dim;
    c.num_qo_heads = qo_heads;
    c.num_kv_heads = kv_heads;
    c.page_size = page_size;
    c.dtype = dtype;
    return c;
}

static void test_bad_configs(void) {
    mlcc_attn_config c = config(64, 6, 4, 16, DT_F32);
    CHECK(gen_attn_prefill(&c) == NULL);
    CHECK_MSG(strstr(mlcc_last_error(), "num_qo_heads") != NULL, "%s", mlcc_last_error());
    c = config(64, 4, 4, 0, DT_F32);
    CHECK(gen_attn_decode(&c) == NULL);
    c = config(64, 4, 4, 16, DT_BF16);
    CHECK(gen_kv_append(&c) == NULL);
    CHECK_MSG(strstr(mlcc_last_error(), "dtype") != NULL, "%s", mlcc_last_error());
}

/* The kernels print like any other PrimFunc, with their data-dependent page lookups. */
static void test_printed(void) {
    mlcc_attn_config c = config(32, 4, 2, 16, DT_F32);
    mlcc_prim_func *f = gen_attn_decode(&c);
    char *text = tir_func_to_string(f);
    CHECK(strstr(text, "def attn_decode(") != NULL);
    CHECK(strstr(text, "page_indices[T.Cast(\"int64\", page_indptr[") != NULL);
    CHECK(strstr(text, "T.parallel(") != NULL && strstr(text, "T.vectorized(") != NULL);
    free(text);
}

int main(void) {
    ir_scope_begin();
    test_bad_configs();
    test_printed();
    mlcc_attn_config c;
    c = config(12, 2, 2, 16, DT_F32); /* group 1 */
    run_config("d12 g1 page16", c, 8, 0, 2e-5);
    c = config(32, 4, 2, 16, DT_F32); /* group 2, soft-cap */
    c.softcap = 20;
    run_config("d32 g2 softcap", c, 6, 0, 2e-5);
    c = config(64, 8, 2, 16, DT_F32); /* group 4, rope in append */
    c.rope_theta = 10000;
    run_config("d64 g4 rope", c, 1, 2, 2e-5);
    c = config(128, 8, 1, 16, DT_F32); /* MQA: group 8, soft-cap */
    c.softcap = 30;
    run_config("d128 g8 softcap", c, 5, 1, 2e-5);
    c = config(64, 4, 2, 8, DT_F16); /* float16 storage, page 8, custom scale */
    c.scale = 0.2;
    run_config("d64 g2 f16 page8 scale", c, 3, 3, 3e-3);
    c = config(32, 8, 2, 16, DT_F16); /* float16 activations over float32 pages (the CPU choice) */
    c.kv_dtype = DT_F32;
    c.rope_theta = 500000;
    run_config("d32 g4 f16 act f32 pages rope", c, 2, 5, 3e-3);
    /* groups of 8 and more take the logits vectorized over the heads (attn_common.c) */
    c = config(12, 16, 2, 8, DT_F16); /* group 8, head_dim 12 (4 partial sums), float16, page 8 */
    run_config("d12 g8 f16 page8", c, 4, 4, 3e-3);
    c = config(64, 32, 2, 16, DT_F32); /* group 16, soft-cap, rope in append */
    c.softcap = 25;
    c.rope_theta = 10000;
    run_config("d64 g16 softcap rope", c, 3, 6, 2e-5);
    ir_scope_end();
    return test_finish();
}
