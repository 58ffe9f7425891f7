/* test_kv_cache.c - the paged KV cache's page management without attention kernels: the
 * begin_forward arrays on a hand-checked batch, page exhaustion reported and recoverable, and
 * a seeded random operation fuzzer (add, remove, fork, pop_n, forward steps) that writes a
 * unique value per token into the pages through the append slots and checks after every
 * operation that each sequence reads back exactly its own tokens through its page table, that
 * the page accounting is exact, and that no page is leaked at the end. */
#include <stdint.h>

#include "runtime/kv_cache.h"
#include "support/error.h"
#include "test.h"

static MLCCKVCache *make_cache(int page_size, int64_t num_pages) {
    mlcc_kv_cache_config cfg = {0};
    cfg.num_layers = 2;
    cfg.num_qo_heads = 1;
    cfg.num_kv_heads = 1;
    cfg.head_dim = 1;
    cfg.page_size = page_size;
    cfg.num_pages = num_pages;
    cfg.dtype = MLCC_DTYPE_F32;
    cfg.device = MLCC_CPU;
    MLCCKVCache *c = mlcc_kv_cache_new(&cfg);
    CHECK_MSG(c != NULL, "%s", mlcc_last_error());
    return c;
}

static void test_forward_arrays(void) {
    MLCCKVCache *c = make_cache(16, 64);
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(mlcc_kv_cache_add_sequence(c, 10 + i), 0);
    CHECK(mlcc_kv_cache_add_sequence(c, 10) != 0);
    /* prefill 17, 16 and 1 tokens */
    int64_t ids[3] = {10, 11, 12}, lens[3] = {17, 16, 1};
    CHECK_EQ_INT(mlcc_kv_cache_begin_forward(c, ids, lens, 3), 0);
    const mlcc_kv_forward *f = mlcc_kv_cache_forward(c);
    CHECK(f != NULL && !f->is_decode);
    CHECK_EQ_INT(f->num_tokens, 34);
    int32_t qo[4] = {0, 17, 33, 34}, pip[4] = {0, 2, 3, 4}, last[3] = {1, 16, 1};
    for (int i = 0; i < 4; i++) {
        CHECK_EQ_INT(f->qo_indptr[i], qo[i]);
        CHECK_EQ_INT(f->page_indptr[i], pip[i]);
    }
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(f->last_page_len[i], last[i]);
    /* pages come out of the pool in order: 0, 1 | 2 | 3 */
    for (int i = 0; i < 4; i++)
        CHECK_EQ_INT(f->page_indices[i], i);
    CHECK_EQ_INT(f->positions[16], 16);
    CHECK_EQ_INT(f->append_slots[16], 1 * 16 + 0);
    CHECK_EQ_INT(f->token_seq[17], 1);
    CHECK_EQ_INT(f->positions[17], 0);
    CHECK_EQ_INT(f->append_slots[33], 3 * 16);
    CHECK(mlcc_kv_cache_begin_forward(c, ids, lens, 3) != 0); /* not ended */
    CHECK(mlcc_kv_cache_pop_n(c, 10, 1) != 0);                /* no changes mid-step */
    CHECK_EQ_INT(mlcc_kv_cache_end_forward(c), 0);
    CHECK(mlcc_kv_cache_forward(c) == NULL);

    /* decode: one token each */
    int64_t ones[3] = {1, 1, 1};
    CHECK_EQ_INT(mlcc_kv_cache_begin_forward(c, ids, ones, 3), 0);
    f = mlcc_kv_cache_forward(c);
    CHECK(f->is_decode);
    CHECK_EQ_INT(f->positions[0], 17);
    CHECK_EQ_INT(f->positions[1], 16);
    CHECK_EQ_INT(f->last_page_len[0], 2);
    CHECK_EQ_INT(f->last_page_len[1], 1);
    CHECK_EQ_INT(f->page_indptr[3], 5);
    CHECK_EQ_INT(f->page_indices[3], 4); /* sequence 11 got a fresh page */
    CHECK_EQ_INT(mlcc_kv_cache_end_forward(c), 0);

    /* bad batches */
    int64_t dup[2] = {10, 10}, one2[2] = {1, 1}, missing = 99, zero = 0;
    CHECK(mlcc_kv_cache_begin_forward(c, dup, one2, 2) != 0);
    CHECK_MSG(strstr(mlcc_last_error(), "twice") != NULL, "%s", mlcc_last_error());
    CHECK(mlcc_kv_cache_begin_forward(c, &missing, ones, 1) != 0);
    CHECK(mlcc_kv_cache_begin_forward(c, ids, &zero, 1) != 0);
    CHECK(mlcc_kv_cache_forward(c) == NULL);
    CHECK_EQ_INT(mlcc_kv_cache_check(c), 0);
    mlcc_kv_cache_release(c);
}

static void test_bad_configs(void) {
    mlcc_kv_cache_config cfg = {0};
    cfg.num_layers = 1, cfg.num_qo_heads = 4, cfg.num_kv_heads = 3, cfg.head_dim = 8;
    cfg.page_size = 16, cfg.num_pages = 4, cfg.dtype = MLCC_DTYPE_F32, cfg.device = MLCC_CPU;
    CHECK(mlcc_kv_cache_new(&cfg) == NULL);
    CHECK_MSG(strstr(mlcc_last_error(), "num_qo_heads") != NULL, "%s", mlcc_last_error());
    cfg.num_kv_heads = 2;
    cfg.num_pages = (int64_t)1 << 28; /* slots would overflow int32 */
    CHECK(mlcc_kv_cache_new(&cfg) == NULL);
    CHECK_MSG(strstr(mlcc_last_error(), "num_pages") != NULL, "%s", mlcc_last_error());
    cfg.num_pages = 4;
    cfg.dtype = MLCC_DTYPE_I32;
    CHECK(mlcc_kv_cache_new(&cfg) == NULL);
    CHECK_MSG(strstr(mlcc_last_error(), "dtype") != NULL, "%s", mlcc_last_error());
    cfg.dtype = MLCC_DTYPE_F16;
    cfg.kv_dtype = MLCC_DTYPE_F32;
    MLCCKVCache *c = mlcc_kv_cache_new(&cfg);
    CHECK(c != NULL);
    if (c) CHECK(mlcc_kv_cache_pages(c, 0)->dl.dtype.bits == 32);
    mlcc_kv_cache_release(c);
}

static void test_exhaustion(void) {
    MLCCKVCache *c = make_cache(4, 5); /* 20 tokens */
    CHECK_EQ_INT(mlcc_kv_cache_add_sequence(c, 1), 0);
    CHECK_EQ_INT(mlcc_kv_cache_add_sequence(c, 2), 0);
    int64_t ids[2] = {1, 2}, lens[2] = {9, 8};
    CHECK_EQ_INT(mlcc_kv_cache_begin_forward(c, ids, lens, 2), 0); /* 3 + 2 pages */
    CHECK_EQ_INT(mlcc_kv_cache_end_forward(c), 0);
    CHECK_EQ_INT(mlcc_kv_cache_free_pages(c), 0);
    /* sequence 2 is full at a page boundary: one more token needs a page */
    int64_t one = 1;
    mlcc_clear_error();
    CHECK_EQ_INT(mlcc_kv_cache_begin_forward(c, &ids[1], &one, 1), MLCC_KV_OUT_OF_PAGES);
    CHECK_MSG(strstr(mlcc_last_error(), "out of pages") != NULL, "%s", mlcc_last_error());
    CHECK(mlcc_kv_cache_forward(c) == NULL);
    CHECK_EQ_INT(mlcc_kv_cache_seq_length(c, 2), 8);
    CHECK_EQ_INT(mlcc_kv_cache_check(c), 0);
    /* sequence 1 still has room in its last page */
    CHECK_EQ_INT(mlcc_kv_cache_begin_forward(c, &ids[0], &one, 1), 0);
    CHECK_EQ_INT(mlcc_kv_cache_end_forward(c), 0);
    /* forking a partial sequence needs a page too */
    CHECK_EQ_INT(mlcc_kv_cache_fork_sequence(c, 1, 3, -1), MLCC_KV_OUT_OF_PAGES);
    CHECK_EQ_INT(mlcc_kv_cache_num_sequences(c), 2);
    /* ... but a fork at a page boundary shares pages only */
    CHECK_EQ_INT(mlcc_kv_cache_fork_sequence(c, 1, 3, 8), 0);
    CHECK_EQ_INT(mlcc_kv_cache_seq_length(c, 3), 8);
    /* the engine preempts: remove a sequence, retry */
    CHECK_EQ_INT(mlcc_kv_cache_remove_sequence(c, 1), 0);
    CHECK_EQ_INT(mlcc_kv_cache_free_pages(c), 1);
    CHECK_EQ_INT(mlcc_kv_cache_begin_forward(c, &ids[1], &one, 1), 0);
    CHECK_EQ_INT(mlcc_kv_cache_end_forward(c), 0);
    CHECK_EQ_INT(mlcc_kv_cache_check(c), 0);
    CHECK_EQ_INT(mlcc_kv_cache_remove_sequence(c, 2), 0);
    CHECK_EQ_INT(mlcc_kv_cache_remove_sequence(c, 3), 0);
    CHECK_EQ_INT(mlcc_kv_cache_free_pages(c), 5);

    /* two sequences share a partial page (fork at a boundary, then pop_n into it): appending
     * to both copies it once, the second writes in place; the pool needs exactly one page */
    int64_t a = 10, b = 11, eight = 8, two = 2;
    CHECK_EQ_INT(mlcc_kv_cache_add_sequence(c, a), 0);
    CHECK_EQ_INT(mlcc_kv_cache_begin_forward(c, &a, &eight, 1), 0); /* pages 1, 2 of 5 */
    CHECK_EQ_INT(mlcc_kv_cache_end_forward(c), 0);
    CHECK_EQ_INT(mlcc_kv_cache_fork_sequence(c, a, b, -1), 0); /* shares both */
    CHECK_EQ_INT(mlcc_kv_cache_pop_n(c, a, 2), 0);
    CHECK_EQ_INT(mlcc_kv_cache_pop_n(c, b, 2), 0);
    CHECK_EQ_INT(mlcc_kv_cache_add_sequence(c, 13), 0);
    int64_t twelve = 12, id13 = 13;
    CHECK_EQ_INT(mlcc_kv_cache_begin_forward(c, &id13, &twelve, 1), 0); /* the last 3 pages */
    CHECK_EQ_INT(mlcc_kv_cache_end_forward(c), 0);
    CHECK_EQ_INT(mlcc_kv_cache_free_pages(c), 0);
    CHECK_EQ_INT(mlcc_kv_cache_pop_n(c, 13, 5), 0); /* 7 tokens in 2 pages: one free */
    CHECK_EQ_INT(mlcc_kv_cache_free_pages(c), 1);
    int64_t ids2[2] = {a, b}, twos[2] = {two, two};
    CHECK_MSG(mlcc_kv_cache_begin_forward(c, ids2, twos, 2) == 0, "%s", mlcc_last_error());
    const mlcc_kv_forward *f = mlcc_kv_cache_forward(c);
    CHECK(f->page_indices[1] != f->page_indices[3]);      /* the partial page is no longer shared */
    CHECK_EQ_INT(f->page_indices[0], f->page_indices[2]); /* the full one still is */
    CHECK_EQ_INT(mlcc_kv_cache_end_forward(c), 0);
    CHECK_EQ_INT(mlcc_kv_cache_free_pages(c), 0);
    CHECK_EQ_INT(mlcc_kv_cache_check(c), 0);
    mlcc_kv_cache_release(c);
}

/* ---- the packed builtins, with recording stand-ins for the kernels ---- */

typedef struct kernel_log {
    int calls, nargs;
    int64_t window, splits;
    int64_t rows; /* shape[0] of the first argument */
} kernel_log;

static kernel_log logs[3];

static int record(const MLCCValue *args, const int *codes, int n, MLCCValue *ret, int *ret_code,
                  void *res) {
    (void)ret, (void)ret_code;
    kernel_log *log = res;
    log->calls++;
    log->nargs = n;
    log->rows = codes[0] == MLCC_TYPE_DLTENSOR ? args[0].v_tensor->shape[0] : -1;
    if (log == &logs[1]) log->window = codes[7] == MLCC_TYPE_INT ? args[7].v_int64 : -99;
    if (log == &logs[2]) {
        log->window = codes[6] == MLCC_TYPE_INT ? args[6].v_int64 : -99;
        log->splits = codes[7] == MLCC_TYPE_INT ? args[7].v_int64 : -99;
    }
    return 0;
}

static int call(const char *name, MLCCArgs *a, MLCCValue *ret) {
    int code;
    int rc = mlcc_call_global(name, a, ret, &code);
    if (rc == 0 && code != MLCC_TYPE_OBJECT && code != MLCC_TYPE_INT) ret->v_int64 = 0;
    return rc;
}

static void test_builtins(void) {
    MLCCFunction *fn[3];
    for (int i = 0; i < 3; i++)
        fn[i] = mlcc_function_new("recorder", record, &logs[i], NULL);
    int64_t windows[2] = {0, 4};
    MLCCShape *w = mlcc_shape_new(2, windows);
    MLCCArgs a;
    MLCCValue ret;
    mlcc_args_init(&a);
    int64_t ints[6] = {2, 4, 2, 8, 4, 3}; /* layers, qo heads, kv heads, head_dim, page, pages */
    for (int i = 0; i < 6; i++)
        mlcc_args_int(&a, ints[i]);
    mlcc_args_str(&a, "float32");
    mlcc_args_object(&a, &w->obj);
    for (int i = 0; i < 3; i++)
        mlcc_args_object(&a, &fn[i]->obj);
    CHECK_MSG(call("mlcc.kv_cache.create", &a, &ret) == 0, "%s", mlcc_last_error());
    MLCCObject *cache = ret.v_handle;
    CHECK(mlcc_kv_cache_from_object(cache) != NULL);
    for (int i = 0; i < 3; i++)
        mlcc_object_release(&fn[i]->obj); /* the cache holds them */
    mlcc_object_release(&w->obj);

    mlcc_args_init(&a);
    mlcc_args_object(&a, cache);
    mlcc_args_int(&a, 5);
    CHECK_EQ_INT(call("mlcc.kv_cache.add_sequence", &a, &ret), 0);
    CHECK(call("mlcc.kv_cache.add_sequence", &a, &ret) != 0);
    CHECK_MSG(strstr(mlcc_last_error(), "mlcc.kv_cache.add_sequence") != NULL, "%s",
              mlcc_last_error());

    /* 13 tokens need 4 pages of 4: out of pages, reported as 1 */
    int64_t id = 5, len = 13;
    MLCCShape *ids = mlcc_shape_new(1, &id), *lens = mlcc_shape_new(1, &len);
    mlcc_args_init(&a);
    mlcc_args_object(&a, cache);
    mlcc_args_object(&a, &ids->obj);
    mlcc_args_object(&a, &lens->obj);
    CHECK_EQ_INT(call("mlcc.kv_cache.begin_forward", &a, &ret), 0);
    CHECK_EQ_INT(ret.v_int64, 1);
    lens->dims[0] = 9;
    CHECK_EQ_INT(call("mlcc.kv_cache.begin_forward", &a, &ret), 0);
    CHECK_EQ_INT(ret.v_int64, 0);

    /* attention dispatches to append + prefill with the layer's window */
    float buf[9 * 4 * 8];
    int64_t shq[3] = {9, 4, 8}, shk[3] = {9, 2, 8};
    DLTensor tq = {buf, MLCC_CPU, 3, MLCC_DTYPE_F32, shq, NULL, 0}, tk = tq;
    tk.shape = shk;
    mlcc_args_init(&a);
    mlcc_args_object(&a, cache);
    mlcc_args_int(&a, 1);
    mlcc_args_tensor(&a, &tq);
    mlcc_args_tensor(&a, &tk);
    mlcc_args_tensor(&a, &tk);
    mlcc_args_tensor(&a, &tq);
    CHECK_MSG(call("mlcc.kv_cache.attention", &a, &ret) == 0, "%s", mlcc_last_error());
    CHECK_EQ_INT(logs[0].calls, 1);
    CHECK_EQ_INT(logs[0].nargs, 5);
    CHECK_EQ_INT(logs[1].calls, 1);
    CHECK_EQ_INT(logs[1].nargs, 8);
    CHECK_EQ_INT(logs[1].window, 4);
    CHECK_EQ_INT(logs[1].rows, 9);
    CHECK_EQ_INT(logs[2].calls, 0);
    /* a q with the wrong token count is refused before any kernel runs */
    shq[0] = 8;
    CHECK(call("mlcc.kv_cache.attention", &a, &ret) != 0);
    CHECK_MSG(strstr(mlcc_last_error(), "expected [9, 4, 8]") != NULL, "%s", mlcc_last_error());
    CHECK_EQ_INT(logs[0].calls, 1);
    /* so is a combined q | k | v of the wrong width (attention_qkv: [9, (4 + 2 * 2) * 8] wanted) */
    int64_t shqkv[2] = {9, 60};
    DLTensor tqkv = {buf, MLCC_CPU, 2, MLCC_DTYPE_F32, shqkv, NULL, 0};
    shq[0] = 9;
    MLCCArgs a2;
    mlcc_args_init(&a2);
    mlcc_args_object(&a2, cache);
    mlcc_args_int(&a2, 1);
    mlcc_args_tensor(&a2, &tqkv);
    mlcc_args_tensor(&a2, &tq);
    mlcc_args_tensor(&a2, &tq);
    CHECK(call("mlcc.kv_cache.attention_qkv", &a2, &ret) != 0);
    CHECK_MSG(strstr(mlcc_last_error(), "qkv is") && strstr(mlcc_last_error(), "expected [9, 64] float32 (q | k | v)"), "%s",
              mlcc_last_error());
    CHECK_EQ_INT(logs[0].calls, 1);
    mlcc_args_init(&a);
    mlcc_args_object(&a, cache);
    CHECK_EQ_INT(call("mlcc.kv_cache.end_forward", &a, &ret), 0);

    /* a decode step goes to the decode kernel */
    lens->dims[0] = 1;
    mlcc_args_init(&a);
    mlcc_args_object(&a, cache);
    mlcc_args_object(&a, &ids->obj);
    mlcc_args_object(&a, &lens->obj);
    CHECK_EQ_INT(call("mlcc.kv_cache.begin_forward", &a, &ret), 0);
    shq[0] = 1, shk[0] = 1;
    mlcc_args_init(&a);
    mlcc_args_object(&a, cache);
    mlcc_args_int(&a, 0);
    mlcc_args_tensor(&a, &tq);
    mlcc_args_tensor(&a, &tk);
    mlcc_args_tensor(&a, &tk);
    mlcc_args_tensor(&a, &tq);
    CHECK_MSG(call("mlcc.kv_cache.attention", &a, &ret) == 0, "%s", mlcc_last_error());
    CHECK_EQ_INT(logs[2].calls, 1);
    CHECK_EQ_INT(logs[2].window, 0);
    CHECK(logs[2].splits >= 1);
    mlcc_args_init(&a);
    mlcc_args_object(&a, cache);
    CHECK_EQ_INT(call("mlcc.kv_cache.end_forward", &a, &ret), 0);

    mlcc_args_init(&a);
    mlcc_args_object(&a, cache);
    mlcc_args_int(&a, 5);
    CHECK_EQ_INT(call("mlcc.kv_cache.seq_length", &a, &ret), 0);
    CHECK_EQ_INT(ret.v_int64, 10);
    mlcc_args_int(&a, 3);
    CHECK_EQ_INT(call("mlcc.kv_cache.pop_n", &a, &ret), 0);
    mlcc_args_init(&a);
    mlcc_args_object(&a, cache);
    mlcc_args_int(&a, 5);
    mlcc_args_int(&a, 6);
    mlcc_args_int(&a, -1);
    CHECK_MSG(call("mlcc.kv_cache.fork_sequence", &a, &ret) == 0, "%s", mlcc_last_error());
    mlcc_args_init(&a);
    mlcc_args_object(&a, cache);
    CHECK_EQ_INT(call("mlcc.kv_cache.free_pages", &a, &ret), 0);
    CHECK_EQ_INT(ret.v_int64, 0); /* 2 pages for 7 tokens + the child's copy of the last */
    for (int64_t s = 5; s <= 6; s++) {
        mlcc_args_init(&a);
        mlcc_args_object(&a, cache);
        mlcc_args_int(&a, s);
        CHECK_EQ_INT(call("mlcc.kv_cache.remove_sequence", &a, &ret), 0);
    }
    mlcc_args_init(&a);
    mlcc_args_object(&a, cache);
    CHECK_EQ_INT(call("mlcc.kv_cache.free_pages", &a, &ret), 0);
    CHECK_EQ_INT(ret.v_int64, 3);
    /* a wrong object is named */
    mlcc_args_init(&a);
    mlcc_args_object(&a, &ids->obj);
    CHECK(call("mlcc.kv_cache.end_forward", &a, &ret) != 0);
    CHECK_MSG(strstr(mlcc_last_error(), "KVCache") != NULL, "%s", mlcc_last_error());
    mlcc_object_release(&ids->obj);
    mlcc_object_release(&lens->obj);
    mlcc_object_release(cache);
}

/* ---- the operation fuzzer ---- */

enum { MAX_SEQS = 12, MAX_TOKENS = 400 };

typedef struct shadow_seq {
    int64_t id;
    int64_t len;
    float tokens[MAX_TOKENS]; /* the value written for each token */
} shadow_seq;

static uint64_t rng_state;

static uint32_t rnd(uint32_t n) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 33) % n;
}

static shadow_seq shadow[MAX_SEQS];
static int nshadow;
static int64_t next_id = 1;
static float next_value = 1;

/* The K value of token pos of a sequence, read through the forward-independent page table:
 * a one-token forward is not needed; the fuzzer reads with a fork at full length instead. */
static int check_contents(MLCCKVCache *c) {
    int ok = 1;
    const float *pages0 = mlcc_kv_cache_pages(c, 0)->dl.data;
    const float *pages1 = mlcc_kv_cache_pages(c, 1)->dl.data;
    for (int i = 0; i < nshadow; i++) {
        shadow_seq *s = &shadow[i];
        ok &= mlcc_kv_cache_seq_length(c, s->id) == s->len;
        if (s->len == 0 || s->len >= MAX_TOKENS) continue;
        /* a one-token step exposes the page table; its own new token is not checked */
        int64_t one = 1;
        int rc = mlcc_kv_cache_begin_forward(c, &s->id, &one, 1);
        if (rc == MLCC_KV_OUT_OF_PAGES) continue;
        if (rc) return 0;
        const mlcc_kv_forward *f = mlcc_kv_cache_forward(c);
        int ps = 8;
        for (int64_t p = 0; p < s->len; p++) {
            int32_t page = f->page_indices[f->page_indptr[0] + p / ps];
            /* pages [P, 2, 1, 8, 1]: K of token p at page * 16 + p % 8, V 8 after it */
            float k = pages0[page * 16 + p % ps], v = pages1[page * 16 + 8 + p % ps];
            if (k != s->tokens[p] || v != -s->tokens[p]) ok = 0;
        }
        mlcc_kv_cache_end_forward(c);
        mlcc_kv_cache_pop_n(c, s->id, 1);
    }
    return ok;
}

static int find_shadow(int64_t id) {
    for (int i = 0; i < nshadow; i++)
        if (shadow[i].id == id) return i;
    return -1;
}

/* A forward step over a random subset; returns 0 when skipped for lack of pages. */
static void fuzz_forward(MLCCKVCache *c, int *exhausted) {
    int64_t ids[MAX_SEQS], lens[MAX_SEQS];
    int n = 0;
    int decode = rnd(2);
    for (int i = 0; i < nshadow; i++) {
        if (rnd(3) == 0) continue;
        int64_t add = decode ? 1 : 1 + rnd(40);
        if (shadow[i].len + add >= MAX_TOKENS) continue;
        ids[n] = shadow[i].id, lens[n] = add, n++;
    }
    if (n == 0) return;
    int64_t free_before = mlcc_kv_cache_free_pages(c);
    int rc = mlcc_kv_cache_begin_forward(c, ids, lens, n);
    if (rc == MLCC_KV_OUT_OF_PAGES) {
        (*exhausted)++;
        CHECK_EQ_INT(mlcc_kv_cache_free_pages(c), free_before);
        CHECK(mlcc_kv_cache_forward(c) == NULL);
        return;
    }
    CHECK_MSG(rc == 0, "%s", mlcc_last_error());
    if (rc) return;
    const mlcc_kv_forward *f = mlcc_kv_cache_forward(c);
    float *pages0 = mlcc_kv_cache_pages(c, 0)->dl.data,
          *pages1 = mlcc_kv_cache_pages(c, 1)->dl.data;
    for (int b = 0; b < n; b++) {
        shadow_seq *s = &shadow[find_shadow(ids[b])];
        CHECK_EQ_INT(f->qo_indptr[b + 1] - f->qo_indptr[b], lens[b]);
        CHECK_EQ_INT(f->last_page_len[b], (s->len + lens[b] - 1) % 8 + 1);
        CHECK_EQ_INT(f->page_indptr[b + 1] - f->page_indptr[b], (s->len + lens[b] + 7) / 8);
        for (int64_t t = 0; t < lens[b]; t++) {
            int64_t row = f->qo_indptr[b] + t, pos = s->len + t;
            CHECK_EQ_INT(f->positions[row], pos);
            CHECK_EQ_INT(f->token_seq[row], b);
            int32_t slot = f->append_slots[row];
            int32_t page = slot / 8;
            CHECK_EQ_INT(page, f->page_indices[f->page_indptr[b] + pos / 8]);
            /* the page written must not belong to any other sequence */
            for (int o = 0; o < n; o++)
                for (int32_t k = f->page_indptr[o]; k < f->page_indptr[o + 1] && o != b; k++)
                    CHECK(f->page_indices[k] != page);
            float value = next_value++;
            pages0[page * 16 + slot % 8] = value;
            pages1[page * 16 + 8 + slot % 8] = -value;
            s->tokens[pos] = value;
        }
        s->len += lens[b];
    }
    CHECK_EQ_INT(mlcc_kv_cache_end_forward(c), 0);
}

static void test_fuzz(uint64_t seed, int steps) {
    rng_state = seed;
    nshadow = 0;
    MLCCKVCache *c = make_cache(8, 48);
    int exhausted = 0, content_errors = 0;
    for (int step = 0; step < steps; step++) {
        int op = rnd(10);
        if (op == 0 && nshadow < MAX_SEQS) {
            shadow[nshadow].id = next_id;
            shadow[nshadow].len = 0;
            CHECK_EQ_INT(mlcc_kv_cache_add_sequence(c, next_id++), 0);
            nshadow++;
        } else if (op == 1 && nshadow > 0) {
            int i = (int)rnd((uint32_t)nshadow);
            CHECK_EQ_INT(mlcc_kv_cache_remove_sequence(c, shadow[i].id), 0);
            shadow[i] = shadow[--nshadow];
        } else if (op == 2 && nshadow > 0 && nshadow < MAX_SEQS) {
            shadow_seq *p = &shadow[rnd((uint32_t)nshadow)];
            int64_t pos = rnd(3) == 0 ? -1 : (int64_t)rnd((uint32_t)p->len + 1);
            int64_t free_before = mlcc_kv_cache_free_pages(c);
            int rc = mlcc_kv_cache_fork_sequence(c, p->id, next_id, pos);
            if (rc == MLCC_KV_OUT_OF_PAGES) {
                exhausted++;
                CHECK_EQ_INT(mlcc_kv_cache_free_pages(c), free_before);
            } else {
                CHECK_MSG(rc == 0, "%s", mlcc_last_error());
                shadow_seq *ch = &shadow[nshadow++];
                *ch = *p;
                ch->id = next_id;
                ch->len = pos < 0 ? p->len : pos;
            }
            next_id++;
        } else if (op == 3 && nshadow > 0) {
            shadow_seq *s = &shadow[rnd((uint32_t)nshadow)];
            int64_t n = rnd((uint32_t)s->len + 1);
            CHECK_EQ_INT(mlcc_kv_cache_pop_n(c, s->id, n), 0);
            s->len -= n;
            CHECK(mlcc_kv_cache_pop_n(c, s->id, s->len + 1) != 0);
        } else if (op >= 4) {
            fuzz_forward(c, &exhausted);
        }
        int rc = mlcc_kv_cache_check(c);
        CHECK_MSG(rc == 0, "step %d: %s", step, mlcc_last_error());
        if (step % 5 == 0 && !check_contents(c)) content_errors++;
        if (rc) break;
    }
    CHECK_EQ_INT(content_errors, 0);
    CHECK_MSG(exhausted > 0, "seed %llu never ran out of pages", (unsigned long long)seed);
    while (nshadow > 0)
        CHECK_EQ_INT(mlcc_kv_cache_remove_sequence(c, shadow[--nshadow].id), 0);
    CHECK_EQ_INT(mlcc_kv_cache_free_pages(c), mlcc_kv_cache_total_pages(c));
    CHECK_EQ_INT(mlcc_kv_cache_check(c), 0);
    mlcc_kv_cache_release(c);
}

/* The padded page_indices length of device steps (mlcc_kv_cache_page_bucket): at least the
 * pages, less than one bucket more, and the same for every count inside a bucket, so a decode
 * graph keyed by it serves a growing sequence for 8 pages early and a quarter of its length later. */
static void test_page_bucket(void) {
    CHECK_EQ_INT(mlcc_kv_cache_page_bucket(0, 1), 0);
    CHECK_EQ_INT(mlcc_kv_cache_page_bucket(1, 1), 8);
    CHECK_EQ_INT(mlcc_kv_cache_page_bucket(8, 1), 8);
    CHECK_EQ_INT(mlcc_kv_cache_page_bucket(9, 1), 16);
    CHECK_EQ_INT(mlcc_kv_cache_page_bucket(33, 1), 40); /* a 512-token prompt in pages of 16: 640 keys of room */
    CHECK_EQ_INT(mlcc_kv_cache_page_bucket(200, 1), 224); /* octave 128: steps of 32 */
    CHECK_EQ_INT(mlcc_kv_cache_page_bucket(2112, 64), 2560); /* 64 sequences: steps of 512 */
    CHECK_EQ_INT(mlcc_kv_cache_page_bucket(3, 4), 32);
    for (int64_t seqs = 1; seqs <= 64; seqs *= 4) {
        int64_t keys_changed = 0, last = -1;
        for (int64_t n = 1; n <= 5000; n++) {
            int64_t p = mlcc_kv_cache_page_bucket(n, seqs), octave = 1;
            while (octave * 2 <= n) octave *= 2;
            int64_t step = 8 * seqs > octave / 4 ? 8 * seqs : octave / 4;
            if (p < n || p - n >= step || p % step) {
                CHECK_MSG(0, "%lld pages of %lld sequences: bucket %lld (step %lld)", (long long)n, (long long)seqs,
                          (long long)p, (long long)step);
                break;
            }
            keys_changed += p != last, last = p;
        }
        /* from 1 to 5000 pages: a few dozen graph keys, not one per page */
        CHECK_MSG(keys_changed < 60, "%lld sequences: %lld keys over 5000 pages", (long long)seqs, (long long)keys_changed);
    }
}

int main(void) {
    test_page_bucket();
    test_forward_arrays();
    test_bad_configs();
    test_exhaustion();
    test_builtins();
    for (uint64_t seed = 1; seed <= 8; seed++)
        test_fuzz(seed * 7919, 1500);
    return test_finish();
}
