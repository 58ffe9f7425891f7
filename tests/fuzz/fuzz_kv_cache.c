/* fuzz_kv_cache.c - the paged KV cache under arbitrary operation sequences read from the input:
 * add, remove, fork (any position), pop_n (any count), begin_forward over any ids and lengths
 * (duplicates, unknown ids, zero or huge lengths), end_forward and attention out of order. Every
 * call must either succeed or refuse with a message; after each one the page accounting must
 * be exact, and the step arrays must stay inside the pool; at the end, removing every
 * sequence must return every page. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "runtime/kv_cache.h"
#include "support/error.h"

typedef struct reader {
    const uint8_t *p;
    size_t n;
} reader;

static int next(reader *r) {
    if (r->n == 0) return -1;
    r->n--;
    return *r->p++;
}

static int64_t next_small(reader *r) {
    int b = next(r);
    if (b < 0) return 0;
    if (b == 255) return INT64_MAX; /* absurd values too */
    if (b == 254) return -1;
    return b % 64;
}

static void check_step(MLCCKVCache *c, int ps) {
    const mlcc_kv_forward *f = mlcc_kv_cache_forward(c);
    if (!f) return;
    for (int b = 0; b < f->num_seqs; b++) {
        if (f->last_page_len[b] < 1 || f->last_page_len[b] > ps) __builtin_trap();
        if (f->page_indptr[b + 1] <= f->page_indptr[b]) __builtin_trap();
        for (int32_t t = f->qo_indptr[b]; t < f->qo_indptr[b + 1]; t++) {
            int32_t page = f->append_slots[t] / ps;
            int32_t slot_in_seq = f->page_indptr[b] + f->positions[t] / ps;
            if (slot_in_seq >= f->page_indptr[b + 1]) __builtin_trap();
            if (f->page_indices[slot_in_seq] != page) __builtin_trap();
        }
    }
    for (int64_t i = 0; i < f->num_pages; i++)
        if (f->page_indices[i] < 0 || f->page_indices[i] >= mlcc_kv_cache_total_pages(c))
            __builtin_trap();
}

/* Records a sequence id to remove at the end. Ids lie in -1..31 and come back after a remove,
 * so the list keeps each once: counting successes instead filled it after 64 adds, and the
 * next success was then checked as a refusal. */
static void track(int64_t *seen, int *nseen, int64_t id) {
    for (int i = 0; i < *nseen; i++)
        if (seen[i] == id) return;
    seen[(*nseen)++] = id;
}

static void expect(int rc) {
    if (rc != 0 && mlcc_last_error()[0] == '\0') __builtin_trap(); /* a refusal must say why */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    reader r = {data, size};
    int ps = 1 + (next(&r) & 7);
    mlcc_kv_cache_config cfg = {0};
    cfg.num_layers = 1 + (next(&r) & 1);
    cfg.num_qo_heads = 2;
    cfg.num_kv_heads = 1;
    cfg.head_dim = 2;
    cfg.page_size = ps;
    cfg.num_pages = 1 + (next(&r) & 31);
    cfg.dtype = MLCC_DTYPE_F32;
    cfg.device = MLCC_CPU;
    MLCCKVCache *c = mlcc_kv_cache_new(&cfg);
    if (!c) __builtin_trap();
    int64_t seen[64]; /* distinct ids: next_small() % 16 lies in -1..15, forks in 15..31 */
    int nseen = 0;
    for (int op; (op = next(&r)) >= 0;) {
        int64_t id = next_small(&r) % 16;
        mlcc_clear_error();
        switch (op % 8) {
        case 0:
            if (mlcc_kv_cache_add_sequence(c, id) == 0)
                track(seen, &nseen, id);
            else
                expect(-1);
            break;
        case 1:
            expect(mlcc_kv_cache_remove_sequence(c, id));
            break;
        case 2: {
            int64_t child = 16 + next_small(&r) % 16, pos = next_small(&r);
            if (pos == 63) pos = -1;
            if (mlcc_kv_cache_fork_sequence(c, id, child, pos) == 0)
                track(seen, &nseen, child);
            else
                expect(-1);
            break;
        }
        case 3:
            expect(mlcc_kv_cache_pop_n(c, id, next_small(&r)));
            break;
        case 4:
        case 5: {
            int n = 1 + (next(&r) & 3);
            int64_t ids[4], lens[4];
            for (int i = 0; i < n; i++) {
                ids[i] = i == 0 ? id : 16 * (next(&r) & 1) + next_small(&r) % 16;
                lens[i] = next_small(&r);
            }
            int rc = mlcc_kv_cache_begin_forward(c, ids, lens, n);
            if (rc != 0 && mlcc_kv_cache_forward(c) != NULL && rc == MLCC_KV_OUT_OF_PAGES)
                __builtin_trap(); /* a refused step leaves no step open */
            expect(rc);
            break;
        }
        case 6:
            expect(mlcc_kv_cache_end_forward(c));
            break;
        case 7:
            expect(mlcc_kv_cache_attention(c, (int)id, NULL, NULL, NULL, NULL));
            break;
        }
        check_step(c, ps);
        if (mlcc_kv_cache_check(c) != 0) __builtin_trap();
    }
    mlcc_kv_cache_end_forward(c);
    for (int i = 0; i < nseen; i++)
        mlcc_kv_cache_remove_sequence(c, seen[i]);
    if (mlcc_kv_cache_num_sequences(c) != 0) __builtin_trap();
    if (mlcc_kv_cache_free_pages(c) != mlcc_kv_cache_total_pages(c)) __builtin_trap();
    mlcc_kv_cache_release(c);
    return 0;
}
