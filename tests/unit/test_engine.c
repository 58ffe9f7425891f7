/* test_engine.c - the first-form engine with the real Llama-3 tokenizer and a scripted model
 * double: after the marker token the model predicts a fixed reply (greedy picks it), so the
 * test knows the exact text. Checks: streamed text equals the reply decoded in one piece and
 * every piece is complete UTF-8 (the reply has characters split across byte tokens); EOS,
 * max_tokens, stop strings across token boundaries and extra stop ids; chunked prefill feeds the
 * model exactly the prompt; a follow-up prompt reuses the cached prefix; cancellation from the
 * stream callback stops generation and the next request starts clean; bad requests are errors. */
#include "engine/engine.h"
#include "support/error.h"
#include "test.h"

enum { MARKER = 128006, EOS = 128009 };


typedef struct fake_model {
    int32_t seq[4096];
    int len;
    const int32_t *reply;
    int nreply;
    int max_chunk_seen;
    int resets, forwards;
} fake_model;

static int fake_reset(void *impl) {
    fake_model *m = impl;
    m->len = 0;
    m->resets++;
    return 0;
}

static int fake_pop(void *impl, int n) {
    fake_model *m = impl;
    if (n > m->len) return mlcc_set_error("pop %d of %d", n, m->len);
    m->len -= n;
    return 0;
}

static int fake_forward(void *impl, const int32_t *tokens, int n, float *logits) {
    fake_model *m = impl;
    if (m->len + n > 4096) return mlcc_set_error("fake model full");
    memcpy(m->seq + m->len, tokens, sizeof(int32_t) * (size_t)n);
    m->len += n;
    if (n > m->max_chunk_seen) m->max_chunk_seen = n;
    m->forwards++;
    int since = 0;
    while (since < m->len && m->seq[m->len - 1 - since] != MARKER) since++;
    for (int i = 0; i < 128256; i++) logits[i] = 0;
    int32_t next = since < m->nreply ? m->reply[since] : EOS;
    logits[next] = 10;
    return 0;
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
    fake_model fm = {.reply = reply, .nreply = (int)nreply};
    mlcc_model_runner runner = {&fm, 128256, 4, 4096, fake_reset, fake_pop, fake_forward};
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
    CHECK(memcmp(fm.seq, prompt, sizeof prompt) == 0);
    CHECK(memcmp(fm.seq + 11, reply, sizeof(int32_t) * nreply) == 0);
    CHECK_EQ_INT(fm.len, 11 + (int)nreply + 1); /* prompt, reply, EOS */

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
    CHECK_EQ_INT(r.reused_tokens, 11 + (int)nreply + 1);
    char *three = mlcc_tokenizer_decode(tok, reply, 3, 1, NULL);
    CHECK_EQ_STR(sb_cstr(&c.text), three);
    free(three);
    CHECK(memcmp(fm.seq, prompt2, sizeof(int32_t) * n2) == 0);

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

    /* 5. cancellation from the stream callback; the next request starts from a clean cache */
    sb_clear(&c.text);
    c.cancel_after_first = e;
    CHECK(mlcc_engine_generate(e, prompt, 11, &cfg, on_text, &c, &r) == 0);
    CHECK_EQ_STR(r.finish_reason, "cancelled");
    CHECK(r.completion_tokens < (int)nreply);
    c.cancel_after_first = NULL;
    int resets = fm.resets;
    sb_clear(&c.text);
    CHECK(mlcc_engine_generate(e, prompt, 11, &cfg, on_text, &c, &r) == 0);
    CHECK_EQ_INT(fm.resets, resets + 1);
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
    free(reply);
    mlcc_tokenizer_free(tok);
    return test_finish();
}
