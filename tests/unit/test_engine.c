/* test_engine.c - the first-form engine with the real Llama-3 tokenizer and a scripted model
 * double: after the marker token the model predicts a fixed reply (greedy picks it), so the
 * test knows the exact text. Checks: streamed text equals the reply decoded in one piece and
 * every piece is complete UTF-8 (the reply has characters split across byte tokens); EOS,
 * max_tokens, stop strings across token boundaries and extra stop ids; chunked prefill feeds the
 * model exactly the prompt; a follow-up prompt reuses the cached prefix; cancellation from the
 * stream callback stops generation and frees its pages; bad requests are errors; many requests
 * at once are batched; a small page pool forces preemption and recomputation with the same
 * output; aborts and resets leave no page in use. */
#include <time.h>

#include "engine/engine.h"
#include "support/error.h"
#include "engine_collect.h"
#include "test.h"

enum { MARKER = 128006, EOS = 128009, VOCAB = 128256, PAGE = 4, MAX_SEQS = 64, SEQ_CAP = 4096 };

/* A paged model double: sequences of tokens in pages of PAGE tokens out of a fixed pool.
 * After the marker token it predicts the reply, token by token (greedy picks it). */
typedef struct fake_seq {
    int64_t id;
    int used;
    int32_t tokens[SEQ_CAP];
    int len;
} fake_seq;

typedef struct fake_model {
    fake_seq seqs[MAX_SEQS];
    int64_t total_pages;
    const int32_t *reply;
    int nreply;
    int max_chunk_seen, max_batch_seen, steps, greedy_steps, sample_steps;
} fake_model;

static fake_seq *find(fake_model *m, int64_t id) {
    for (int i = 0; i < MAX_SEQS; i++)
        if (m->seqs[i].used && m->seqs[i].id == id) return &m->seqs[i];
    return NULL;
}

static int64_t pages_of(int len) {
    return (len + PAGE - 1) / PAGE;
}

static int64_t fake_free_pages(void *impl) {
    fake_model *m = impl;
    int64_t used = 0;
    for (int i = 0; i < MAX_SEQS; i++)
        if (m->seqs[i].used) used += pages_of(m->seqs[i].len);
    return m->total_pages - used;
}

static int64_t fake_total_pages(void *impl) {
    return ((fake_model *)impl)->total_pages;
}

static int fake_add(void *impl, int64_t id) {
    fake_model *m = impl;
    if (find(m, id)) return mlcc_set_error("sequence %lld exists", (long long)id);
    for (int i = 0; i < MAX_SEQS; i++)
        if (!m->seqs[i].used) {
            m->seqs[i].used = 1, m->seqs[i].id = id, m->seqs[i].len = 0;
            return 0;
        }
    return mlcc_set_error("fake model: too many sequences");
}

static int fake_remove(void *impl, int64_t id) {
    fake_seq *s = find(impl, id);
    if (!s) return mlcc_set_error("no sequence %lld", (long long)id);
    s->used = 0;
    return 0;
}

static int fake_fork(void *impl, int64_t parent, int64_t child, int64_t pos) {
    fake_model *m = impl;
    fake_seq *p = find(m, parent);
    if (!p || pos < 0 || pos > p->len) return mlcc_set_error("bad fork");
    if (fake_free_pages(m) < pages_of((int)pos)) return -2; /* the double copies instead of sharing */
    if (fake_add(m, child)) return -1;
    fake_seq *c = find(m, child);
    memcpy(c->tokens, p->tokens, sizeof(int32_t) * (size_t)pos);
    c->len = (int)pos;
    return 0;
}

static int fake_pop(void *impl, int64_t id, int64_t n) {
    fake_seq *s = find(impl, id);
    if (!s || n > s->len) return mlcc_set_error("bad pop");
    s->len -= (int)n;
    return 0;
}

static int fake_step(void *impl, const int64_t *ids, const int64_t *lens, int nseq, const int32_t *tokens, float *logits) {
    fake_model *m = impl;
    int64_t need = 0;
    for (int i = 0; i < nseq; i++) {
        fake_seq *s = find(m, ids[i]);
        if (!s) return mlcc_set_error("step: no sequence %lld", (long long)ids[i]);
        if (s->len + lens[i] > SEQ_CAP) return mlcc_set_error("fake model full");
        need += pages_of(s->len + (int)lens[i]) - pages_of(s->len);
    }
    if (need > fake_free_pages(m)) return -2;
    int total = 0;
    for (int i = 0; i < nseq; i++) {
        fake_seq *s = find(m, ids[i]);
        memcpy(s->tokens + s->len, tokens, sizeof(int32_t) * (size_t)lens[i]);
        tokens += lens[i];
        s->len += (int)lens[i];
        total += (int)lens[i];
        int since = 0;
        while (since < s->len && s->tokens[s->len - 1 - since] != MARKER) since++;
        float *row = logits + (size_t)i * VOCAB;
        for (int v = 0; v < VOCAB; v++) row[v] = 0;
        row[since < m->nreply ? m->reply[since] : EOS] = 10;
    }
    if (total > m->max_chunk_seen) m->max_chunk_seen = total;
    if (nseq > m->max_batch_seen) m->max_batch_seen = nseq;
    m->steps++;
    return 0;
}

/* A runner's step_greedy (as a GPU model offers it): the fake step's rows reduced to their
 * arg-max and its log-softmax. */
static int fake_step_greedy(void *impl, const int64_t *ids, const int64_t *lens, int nseq, const int32_t *tokens, int32_t *out,
                            double *logprobs) {
    static float rows[MAX_SEQS * VOCAB];
    int rc = fake_step(impl, ids, lens, nseq, tokens, rows);
    if (rc) return rc;
    for (int i = 0; i < nseq; i++) {
        const float *row = rows + (size_t)i * VOCAB;
        int best = 0;
        for (int v = 1; v < VOCAB; v++)
            if (row[v] > row[best]) best = v;
        out[i] = best;
        logprobs[i] = mlcc_log_softmax_at(row, VOCAB, best);
    }
    ((fake_model *)impl)->greedy_steps++;
    return 0;
}

/* A runner's step_sample (as a CUDA model offers it), done by the host sampler with the given
 * uniform: the penalty lists are turned back into a prompt (each id once) and an output (each id
 * as often as it occurred there), which gives mlcc_sample the same penalties. */
static int fake_step_sample(void *impl, const int64_t *ids, const int64_t *lens, int nseq, const int32_t *tokens,
                            const mlcc_sample_request *rows_in, int32_t *out, double *logprobs, int *drew) {
    static float rows[MAX_SEQS * VOCAB];
    int rc = fake_step(impl, ids, lens, nseq, tokens, rows);
    if (rc) return rc;
    mlcc_sampler *scratch = mlcc_sampler_new(0);
    for (int i = 0; i < nseq; i++) {
        const mlcc_sample_request *q = &rows_in[i];
        int32_t prompt[SEQ_CAP], output[SEQ_CAP];
        size_t np = 0, no = 0;
        for (int k = 0; k < q->npen; k++) {
            prompt[np++] = q->pen_ids[k];
            for (int c = 0; c < q->pen_counts[k] && no < SEQ_CAP; c++) output[no++] = q->pen_ids[k];
        }
        out[i] = mlcc_sample_with_uniform(scratch, rows + (size_t)i * VOCAB, VOCAB, q->params, prompt, np, output, no,
                                          q->uniform, &drew[i], &logprobs[i]);
    }
    mlcc_sampler_free(scratch);
    ((fake_model *)impl)->sample_steps++;
    return 0;
}

/* A sequence holding exactly these tokens, or NULL. */
static fake_seq *holding(fake_model *m, const int32_t *tokens, int n) {
    for (int i = 0; i < MAX_SEQS; i++)
        if (m->seqs[i].used && m->seqs[i].len == n && memcmp(m->seqs[i].tokens, tokens, sizeof(int32_t) * (size_t)n) == 0)
            return &m->seqs[i];
    return NULL;
}

static mlcc_model_runner fake_runner(fake_model *fm, int chunk, int batch) {
    return (mlcc_model_runner){fm,       VOCAB,       chunk,    SEQ_CAP,    batch,          fake_add,
                               fake_remove, fake_fork, fake_pop, fake_step, fake_free_pages, fake_total_pages, NULL, NULL};
}

typedef struct collected {
    mlcc_strbuf text;
    int pieces, bad_utf8;
    mlcc_engine *cancel_after_first;
} collected;

static int valid_utf8(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        int len = s[i] < 0x80 ? 1 : (s[i] >> 5) == 6 ? 2 : (s[i] >> 4) == 14 ? 3 : (s[i] >> 3) == 30 ? 4 : 0;
        if (!len || i + (size_t)len > n) return 0;
        for (int k = 1; k < len; k++)
            if ((s[i + k] & 0xc0) != 0x80) return 0;
        i += (size_t)len;
    }
    return 1;
}

static void on_text(void *ctx, const char *text, size_t len) {
    collected *c = ctx;
    sb_append_n(&c->text, text, len);
    c->pieces++;
    if (!valid_utf8((const unsigned char *)text, len)) c->bad_utf8++;
    if (c->cancel_after_first) mlcc_engine_cancel(c->cancel_after_first);
}

/* ---- many requests at once ---- */

/* Waits (bounded) until the engine has nothing in flight (its counters are published after
 * the step that sent a request's last event). */
static void wait_quiet(mlcc_engine *e, mlcc_engine_stats *st) {
    for (int tries = 0; tries < 2000; tries++) {
        mlcc_engine_get_stats(e, st);
        if (st->running + st->waiting == 0) return;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

/* Waits (bounded) until the engine has nothing in flight and no cached prefixes. */
static void wait_idle(mlcc_engine *e, mlcc_engine_stats *st) {
    for (int tries = 0; tries < 2000; tries++) {
        mlcc_engine_get_stats(e, st);
        if (st->running + st->waiting + st->cached_prefixes == 0) return;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

/* Prompts that differ only before the marker, so each request gets the whole reply. */
static void make_prompt(int32_t *p, int k) {
    int32_t base[11] = {128000, 9906, 11, 1268, 527, 499, 30, 2650, 1234, 555, MARKER};
    memcpy(p, base, sizeof base);
    p[1] = 9000 + k;
}

/* Eight requests submitted at once on a batch of 4: every one gets the whole reply; decode
 * steps batch several; after a reset no page is in use. */
static void test_batching(mlcc_tokenizer *tok, const int32_t *reply, size_t nreply, const char *reply_text) {
    static fake_model fm;
    memset(&fm, 0, sizeof fm);
    fm.reply = reply, fm.nreply = (int)nreply, fm.total_pages = 1000;
    mlcc_model_runner runner = fake_runner(&fm, 16, 4);
    int32_t eos = EOS;
    mlcc_engine *e = mlcc_engine_new(&runner, tok, &eos, 1);
    mlcc_gen_config cfg = mlcc_gen_defaults();
    cfg.sampling.temperature = 0;
    cfg.top_logprobs = 3;
    enum { N = 8 };
    test_request_out a[N];
    memset(a, 0, sizeof a);
    int32_t prompts[N][11];
    for (int i = 0; i < N; i++) {
        make_prompt(prompts[i], i);
        CHECK(mlcc_engine_submit(e, prompts[i], 11, &cfg, test_collect_event, &a[i]) > 0);
    }
    test_wait_requests(a, N);
    for (int i = 0; i < N; i++) {
        CHECK_EQ_STR(a[i].finish, "stop");
        CHECK_EQ_STR(sb_cstr(&a[i].text), reply_text);
        CHECK_EQ_INT(a[i].tokens, (int)nreply);
    }
    mlcc_engine_stats st;
    mlcc_engine_get_stats(e, &st);
    CHECK_MSG(st.max_decode_batch >= 2, "decode steps never batched (largest %d)", st.max_decode_batch);
    CHECK(fm.max_batch_seen <= 4);
    CHECK(fm.max_chunk_seen <= 16);
    mlcc_engine_reset(e);
    wait_idle(e, &st);
    CHECK_EQ_INT(st.cached_prefixes, 0);
    CHECK_EQ_INT(fake_free_pages(&fm), fm.total_pages);

    /* an abort in flight: its pages go back, the others finish */
    for (int i = 0; i < N; i++) sb_free(&a[i].text);
    memset(a, 0, sizeof a);
    int64_t ids[3];
    for (int i = 0; i < 3; i++) ids[i] = mlcc_engine_submit(e, prompts[i], 11, &cfg, test_collect_event, &a[i]);
    mlcc_engine_abort(e, ids[1]);
    test_wait_requests(a, 3);
    CHECK_EQ_STR(a[1].finish, "cancelled");
    CHECK_EQ_STR(sb_cstr(&a[0].text), reply_text);
    CHECK_EQ_STR(sb_cstr(&a[2].text), reply_text);
    mlcc_engine_reset(e);
    wait_idle(e, &st);
    CHECK_EQ_INT(fake_free_pages(&fm), fm.total_pages);
    for (int i = 0; i < N; i++) sb_free(&a[i].text);
    mlcc_engine_free(e);
}

/* A runner that offers step_greedy: greedy requests without logits processors take it (the
 * same reply), a sampled one and one asking for alternatives take the logits. */
static void test_greedy_steps(mlcc_tokenizer *tok, const int32_t *reply, size_t nreply, const char *reply_text) {
    static fake_model fm;
    memset(&fm, 0, sizeof fm);
    fm.reply = reply, fm.nreply = (int)nreply, fm.total_pages = 1000;
    mlcc_model_runner runner = fake_runner(&fm, 16, 4);
    runner.step_greedy = fake_step_greedy;
    int32_t eos = EOS;
    mlcc_engine *e = mlcc_engine_new(&runner, tok, &eos, 1);
    int32_t prompt[11];
    make_prompt(prompt, 0);
    mlcc_gen_config cfg = mlcc_gen_defaults();
    cfg.sampling.temperature = 0;
    mlcc_gen_result r;
    collected c = {STRBUF_INIT, 0, 0, NULL};
    CHECK(mlcc_engine_generate(e, prompt, 11, &cfg, on_text, &c, &r) == 0);
    CHECK_EQ_STR(sb_cstr(&c.text), reply_text);
    CHECK_EQ_INT(r.completion_tokens, (int)nreply);
    CHECK_EQ_INT(fm.greedy_steps, fm.steps); /* every step, prefill included */
    int before = fm.greedy_steps;
    cfg.top_logprobs = 2; /* alternatives need the row */
    sb_clear(&c.text);
    CHECK(mlcc_engine_generate(e, prompt, 11, &cfg, on_text, &c, &r) == 0);
    CHECK_EQ_STR(sb_cstr(&c.text), reply_text);
    CHECK_EQ_INT(fm.greedy_steps, before);
    cfg.top_logprobs = 0;
    cfg.sampling.temperature = 0.5f; /* the reply's logits are 10 above the rest: still the reply, mostly */
    cfg.max_tokens = 2;
    CHECK(mlcc_engine_generate(e, prompt, 11, &cfg, on_text, &c, &r) == 0);
    CHECK_EQ_INT(fm.greedy_steps, before);
    sb_free(&c.text);
    mlcc_engine_free(e);
}

/* Seeded sampling through step_sample (the runner picks the token with the request's next
 * uniform) gives the same text as the host sampler over the copied rows: temperature, top-k,
 * top-p, min-p, penalties over prompt and output, logit bias, and greedy with penalties; every
 * step goes through step_sample unless the request wants top_logprobs. */
static void test_sample_steps(mlcc_tokenizer *tok, const int32_t *reply, size_t nreply) {
    static fake_model host_fm, dev_fm;
    memset(&host_fm, 0, sizeof host_fm);
    memset(&dev_fm, 0, sizeof dev_fm);
    host_fm.reply = dev_fm.reply = reply, host_fm.nreply = dev_fm.nreply = (int)nreply;
    host_fm.total_pages = dev_fm.total_pages = 1000;
    mlcc_model_runner host_runner = fake_runner(&host_fm, 16, 4), dev_runner = fake_runner(&dev_fm, 16, 4);
    dev_runner.step_sample = fake_step_sample;
    int32_t eos = EOS;
    mlcc_engine *host = mlcc_engine_new(&host_runner, tok, &eos, 1), *dev = mlcc_engine_new(&dev_runner, tok, &eos, 1);
    int32_t prompt[11];
    make_prompt(prompt, 0);
    int32_t bias_ids[] = {reply[1], 5, reply[1]};
    float bias_values[] = {-3, 8, 1.5f};
    for (int k = 0; k < 6; k++) {
        mlcc_gen_config cfg = mlcc_gen_defaults();
        cfg.seed = 1000 + (uint64_t)k, cfg.has_seed = 1, cfg.max_tokens = 12, cfg.ignore_eos = 1;
        mlcc_sampling_params *p = &cfg.sampling;
        if (k == 1) p->temperature = 0.7f, p->top_k = 40, p->top_p = 0.9f;
        if (k == 2) p->temperature = 1.3f, p->min_p = 0.05f, p->repetition_penalty = 1.3f;
        if (k == 3) p->presence_penalty = 0.5f, p->frequency_penalty = 0.7f, p->bias_ids = bias_ids, p->bias_values = bias_values,
            p->nbias = 3;
        if (k == 4) p->temperature = 0, p->repetition_penalty = 2.0f, p->frequency_penalty = -1.0f; /* greedy with processors */
        if (k == 5) p->top_k = 100000, p->top_p = 0.5f, p->repetition_penalty = 0.8f;
        collected a = {STRBUF_INIT, 0, 0, NULL}, b = {STRBUF_INIT, 0, 0, NULL};
        mlcc_gen_result ra, rb;
        int steps = dev_fm.steps, sampled = dev_fm.sample_steps;
        CHECK(mlcc_engine_generate(host, prompt, 11, &cfg, on_text, &a, &ra) == 0);
        CHECK(mlcc_engine_generate(dev, prompt, 11, &cfg, on_text, &b, &rb) == 0);
        CHECK_MSG(strcmp(sb_cstr(&a.text), sb_cstr(&b.text)) == 0, "config %d: host '%s', step_sample '%s'", k, sb_cstr(&a.text),
                  sb_cstr(&b.text));
        CHECK_EQ_INT(rb.completion_tokens, ra.completion_tokens);
        CHECK_EQ_INT(dev_fm.sample_steps - sampled, dev_fm.steps - steps);
        CHECK(dev_fm.steps > steps);
        sb_free(&a.text);
        sb_free(&b.text);
    }
    /* alternatives to report need the row: no step_sample */
    mlcc_gen_config cfg = mlcc_gen_defaults();
    cfg.top_logprobs = 2, cfg.max_tokens = 2;
    collected c = {STRBUF_INIT, 0, 0, NULL};
    mlcc_gen_result r;
    int sampled = dev_fm.sample_steps;
    CHECK(mlcc_engine_generate(dev, prompt, 11, &cfg, on_text, &c, &r) == 0);
    CHECK_EQ_INT(dev_fm.sample_steps, sampled);
    sb_free(&c.text);
    mlcc_engine_free(host);
    mlcc_engine_free(dev);
}

/* A pool too small for all of them at once: requests are preempted and recomputed, and still
 * produce exactly the reply; no page is left in use. */
static void test_preemption(mlcc_tokenizer *tok, const int32_t *reply, size_t nreply, const char *reply_text) {
    static fake_model fm;
    memset(&fm, 0, sizeof fm);
    int per_request = (int)pages_of(11 + (int)nreply);
    fm.reply = reply, fm.nreply = (int)nreply, fm.total_pages = 2 * per_request + 2;
    mlcc_model_runner runner = fake_runner(&fm, 16, 4);
    int32_t eos = EOS;
    mlcc_engine *e = mlcc_engine_new(&runner, tok, &eos, 1);
    mlcc_gen_config cfg = mlcc_gen_defaults();
    cfg.sampling.temperature = 0;
    enum { N = 4 };
    test_request_out a[N];
    memset(a, 0, sizeof a);
    int32_t prompts[N][11];
    for (int i = 0; i < N; i++) {
        make_prompt(prompts[i], i);
        CHECK(mlcc_engine_submit(e, prompts[i], 11, &cfg, test_collect_event, &a[i]) > 0);
    }
    test_wait_requests(a, N);
    int preempted = 0;
    for (int i = 0; i < N; i++) {
        CHECK_EQ_STR(a[i].finish, "stop");
        CHECK_EQ_STR(sb_cstr(&a[i].text), reply_text);
        preempted += a[i].result.preemptions;
    }
    mlcc_engine_stats st;
    mlcc_engine_get_stats(e, &st);
    CHECK_MSG(st.preemptions > 0 && preempted > 0, "no request was preempted (%lld)", (long long)st.preemptions);
    mlcc_engine_reset(e);
    wait_idle(e, &st);
    CHECK_EQ_INT(fake_free_pages(&fm), fm.total_pages);

    /* one request longer than the whole pool: a clear error, nothing left behind */
    for (int i = 0; i < N; i++) sb_free(&a[i].text);
    memset(a, 0, sizeof a);
    int32_t longp[64];
    for (int i = 0; i < 64; i++) longp[i] = 1000 + i;
    longp[63] = MARKER;
    fm.total_pages = 8;
    CHECK(mlcc_engine_submit(e, longp, 64, &cfg, test_collect_event, &a[0]) > 0);
    test_wait_requests(a, 1);
    CHECK_EQ_STR(a[0].finish, "error");
    CHECK_MSG(strstr(a[0].result.error, "KV cache") != NULL, "%s", a[0].result.error);
    wait_idle(e, &st);
    CHECK_EQ_INT(fake_free_pages(&fm), fm.total_pages);
    sb_free(&a[0].text);
    mlcc_engine_free(e);
}

int main(void) {
    char *path = test_data_path("models/tm-llama3/tokenizer.json");
    mlcc_tokenizer *tok = mlcc_tokenizer_load(path);
    free(path);
    CHECK_MSG(tok != NULL, "%s", mlcc_last_error());
    if (!tok) return test_finish();

    const char *reply_text = "Héllo, wörld 🦙! The answer is 42. STOP here and more text.";
    int32_t *reply;
    size_t nreply;
    CHECK(mlcc_tokenizer_encode(tok, reply_text, strlen(reply_text), 0, &reply, &nreply) == 0);
    static fake_model fm;
    fm.reply = reply, fm.nreply = (int)nreply, fm.total_pages = 1000;
    mlcc_model_runner runner = fake_runner(&fm, 4, 1);
    int32_t eos = EOS;
    mlcc_engine *e = mlcc_engine_new(&runner, tok, &eos, 1);

    int32_t prompt[11] = {128000, 9906, 11, 1268, 527, 499, 30, 2650, 1234, 555, MARKER};
    mlcc_gen_config cfg = mlcc_gen_defaults();
    cfg.sampling.temperature = 0;
    mlcc_gen_result r;

    /* 1. the whole reply, then EOS */
    collected c = {STRBUF_INIT, 0, 0, NULL};
    CHECK(mlcc_engine_generate(e, prompt, 11, &cfg, on_text, &c, &r) == 0);
    CHECK_EQ_STR(r.finish_reason, "stop");
    CHECK_EQ_STR(sb_cstr(&c.text), reply_text);
    CHECK_EQ_INT(r.completion_tokens, (int)nreply);
    CHECK_EQ_INT(c.bad_utf8, 0);
    CHECK(c.pieces > 5);
    CHECK_EQ_INT(fm.max_chunk_seen, 4); /* prefill went in chunks of at most 4 */
    /* the finished sequence stays cached: the prompt and the reply (EOS ended it unseen) */
    int32_t whole[128];
    memcpy(whole, prompt, sizeof prompt);
    memcpy(whole + 11, reply, sizeof(int32_t) * nreply);
    CHECK(holding(&fm, whole, 11 + (int)nreply) != NULL);

    /* 2. a follow-up turn reuses the cached conversation */
    int32_t prompt2[64];
    size_t n2 = 0;
    for (int i = 0; i < 11; i++) prompt2[n2++] = prompt[i];
    for (size_t i = 0; i < nreply; i++) prompt2[n2++] = reply[i];
    prompt2[n2++] = EOS;
    prompt2[n2++] = 3923;
    prompt2[n2++] = MARKER;
    sb_clear(&c.text);
    cfg.max_tokens = 3;
    CHECK(mlcc_engine_generate(e, prompt2, n2, &cfg, on_text, &c, &r) == 0);
    CHECK_EQ_STR(r.finish_reason, "length");
    CHECK_EQ_INT(r.completion_tokens, 3);
    CHECK_EQ_INT(r.reused_tokens, 11 + (int)nreply);
    char *three = mlcc_tokenizer_decode(tok, reply, 3, 1, NULL);
    CHECK_EQ_STR(sb_cstr(&c.text), three);
    free(three);
    memcpy(whole, prompt2, sizeof(int32_t) * n2);
    memcpy(whole + n2, reply, sizeof(int32_t) * 3);
    CHECK(holding(&fm, whole, (int)n2 + 3 - 1) != NULL); /* the last token was sampled, not fed */

    /* 3. a stop string that spans tokens: text before it, nothing of it */
    const char *stops[] = {"STOP", "zzz"};
    cfg.max_tokens = 0;
    cfg.stop = stops;
    cfg.nstop = 2;
    sb_clear(&c.text);
    CHECK(mlcc_engine_generate(e, prompt, 11, &cfg, on_text, &c, &r) == 0);
    CHECK_EQ_STR(r.finish_reason, "stop");
    CHECK_EQ_STR(sb_cstr(&c.text), "Héllo, wörld 🦙! The answer is 42. ");
    CHECK(r.reused_tokens >= 10);

    /* 4. an extra stop id */
    cfg.stop = NULL;
    cfg.nstop = 0;
    int32_t stop_id = reply[2];
    cfg.stop_ids = &stop_id;
    cfg.nstop_ids = 1;
    sb_clear(&c.text);
    CHECK(mlcc_engine_generate(e, prompt, 11, &cfg, on_text, &c, &r) == 0);
    CHECK_EQ_STR(r.finish_reason, "stop");
    CHECK_EQ_INT(r.completion_tokens, 2);
    cfg.nstop_ids = 0;

    /* 5. cancellation from the stream callback frees the request's pages at once; the next
     *    request runs normally */
    sb_clear(&c.text);
    c.cancel_after_first = e;
    CHECK(mlcc_engine_generate(e, prompt, 11, &cfg, on_text, &c, &r) == 0);
    CHECK_EQ_STR(r.finish_reason, "cancelled");
    CHECK(r.completion_tokens < (int)nreply);
    c.cancel_after_first = NULL;
    mlcc_engine_stats st;
    wait_quiet(e, &st);
    CHECK_EQ_INT(st.running + st.waiting, 0);
    int64_t cached_pages = 0;
    for (int i = 0; i < MAX_SEQS; i++)
        if (fm.seqs[i].used) cached_pages += pages_of(fm.seqs[i].len);
    int live_seqs = 0;
    for (int i = 0; i < MAX_SEQS; i++) live_seqs += fm.seqs[i].used;
    CHECK_EQ_INT(live_seqs, st.cached_prefixes); /* no sequence of the cancelled request is left */
    CHECK_EQ_INT(fake_free_pages(&fm), fm.total_pages - cached_pages);
    sb_clear(&c.text);
    CHECK(mlcc_engine_generate(e, prompt, 11, &cfg, on_text, &c, &r) == 0);
    CHECK_EQ_STR(sb_cstr(&c.text), reply_text);

    /* 6. bad requests */
    CHECK(mlcc_engine_generate(e, prompt, 0, &cfg, on_text, &c, &r) != 0);
    int32_t bad = 200000;
    CHECK(mlcc_engine_generate(e, &bad, 1, &cfg, on_text, &c, &r) != 0);
    CHECK_MSG(strstr(mlcc_last_error(), "vocabulary") != NULL, "%s", mlcc_last_error());
    cfg.sampling.top_p = 0;
    CHECK(mlcc_engine_generate(e, prompt, 11, &cfg, on_text, &c, &r) != 0);
    CHECK_MSG(strstr(mlcc_last_error(), "top_p") != NULL, "%s", mlcc_last_error());

    /* 7. seeded sampling is reproducible */
    cfg = mlcc_gen_defaults();
    cfg.sampling.temperature = 1.0f;
    cfg.has_seed = 1;
    cfg.seed = 7;
    cfg.max_tokens = 8;
    mlcc_strbuf first = STRBUF_INIT;
    sb_clear(&c.text);
    CHECK(mlcc_engine_generate(e, prompt, 11, &cfg, on_text, &c, &r) == 0);
    sb_append(&first, sb_cstr(&c.text));
    sb_clear(&c.text);
    CHECK(mlcc_engine_generate(e, prompt, 11, &cfg, on_text, &c, &r) == 0);
    CHECK_EQ_STR(sb_cstr(&c.text), sb_cstr(&first));
    sb_free(&first);

    sb_free(&c.text);
    mlcc_engine_free(e);

    test_batching(tok, reply, nreply, reply_text);
    test_greedy_steps(tok, reply, nreply, reply_text);
    test_sample_steps(tok, reply, nreply);
    test_preemption(tok, reply, nreply, reply_text);
    free(reply);
    mlcc_tokenizer_free(tok);
    return test_finish();
}
