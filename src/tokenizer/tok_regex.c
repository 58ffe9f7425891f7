/* tok_regex.c - the regexes of tokenizer.json through PCRE2 (UTF + UCP, JIT), iterated the way
 * Hugging Face tokenizers iterates Oniguruma matches, and the split behaviours that turn a list
 * of matches into pieces. */
#include <string.h>

#include "support/error.h"
#include "tokenizer/tok_internal.h"

tok_regex *tok_regex_new(const char *pattern, size_t len, int literal) {
    int err;
    PCRE2_SIZE off;
    uint32_t opts = PCRE2_UTF | PCRE2_NO_UTF_CHECK | (literal ? PCRE2_LITERAL : PCRE2_UCP);
    char *rewritten = NULL;
    const char *src = pattern;
    size_t src_len = len;
    if (!literal) {
        rewritten = tok_regex_rewrite(pattern, len, &src_len);
        src = rewritten;
    }
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)src, src_len, opts, &err, &off, NULL);
    free(rewritten);
    if (!code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        mlcc_set_error("regex /%.*s/: %s at offset %zu", (int)(len > 200 ? 200 : len), pattern,
                       (const char *)msg, (size_t)off);
        return NULL;
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* falls back to the interpreter if it fails */
    tok_regex *re = mlcc_xcalloc(1, sizeof *re);
    re->code = code;
    return re;
}

void tok_regex_free(tok_regex *re) {
    if (!re) return;
    pcre2_code_free(re->code);
    free(re);
}

void tok_ctx_init(tok_ctx *c) {
    memset(c, 0, sizeof *c);
    c->md = pcre2_match_data_create(16, NULL);
    c->mctx = pcre2_match_context_create(NULL);
}

void tok_ctx_free(tok_ctx *c) {
    for (int i = 0; i < TOK_MAX_DEPTH; i++) {
        vec_free(&c->matches[i]);
        sb_free(&c->scratch[i]);
    }
    if (c->md) pcre2_match_data_free(c->md);
    if (c->mctx) pcre2_match_context_free(c->mctx);
    if (c->jit_stack) pcre2_jit_stack_free(c->jit_stack);
    memset(c, 0, sizeof *c);
}

/* One search from `from`; 1 = found, 0 = none, -1 = error. Retries with a larger JIT stack when
 * the default one is too small (long runs of one class). */
static int search(const tok_regex *re, tok_ctx *ctx, const char *s, size_t n, size_t from,
                  size_t *ms, size_t *me) {
    for (int attempt = 0;; attempt++) {
        int rc =
            pcre2_match(re->code, (PCRE2_SPTR)s, n, from, PCRE2_NO_UTF_CHECK, ctx->md, ctx->mctx);
        if (rc >= 0 || rc == PCRE2_ERROR_PARTIAL) {
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(ctx->md);
            *ms = ov[0];
            *me = ov[1];
            return 1;
        }
        if (rc == PCRE2_ERROR_NOMATCH) return 0;
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT && attempt < 3) {
            size_t size = (size_t)1 << (23 + attempt * 2); /* 8 MB, 32 MB, 128 MB */
            if (ctx->jit_stack) pcre2_jit_stack_free(ctx->jit_stack);
            ctx->jit_stack = pcre2_jit_stack_create(32 * 1024, size, NULL);
            pcre2_jit_stack_assign(ctx->mctx, NULL, ctx->jit_stack);
            continue;
        }
        if ((rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
             rc == PCRE2_ERROR_HEAPLIMIT) &&
            attempt < 3) {
            pcre2_set_match_limit(ctx->mctx, 0xFFFFFFFFu);
            pcre2_set_depth_limit(ctx->mctx, 0xFFFFFFFFu);
            continue;
        }
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(rc, msg, sizeof msg);
        return mlcc_set_error("regex match failed: %s", (const char *)msg);
    }
}

int tok_regex_find_all(const tok_regex *re, tok_ctx *ctx, const char *s, size_t n,
                       tok_matches *out) {
    size_t last_end = 0;
    int have_last = 0;
    size_t last_match_end = 0;
    while (last_end <= n) {
        size_t ms, me;
        int r = search(re, ctx, s, n, last_end, &ms, &me);
        if (r < 0) return -1;
        if (r == 0) break;
        if (ms == me && have_last && last_match_end == me) {
            /* no empty match right after the previous one: step one character */
            last_end += last_end < n ? (size_t)tok_utf8_seqlen((unsigned char)s[last_end]) : 1;
            continue;
        }
        last_end = me;
        last_match_end = me;
        have_last = 1;
        tok_match m = {ms, me};
        vec_push(out, m);
    }
    return 0;
}

int tok_parse_behavior(const char *s, enum tok_split_behavior *out) {
    static const struct {
        const char *name;
        enum tok_split_behavior b;
    } names[] = {{"Removed", TOK_SPLIT_REMOVED},
                 {"Isolated", TOK_SPLIT_ISOLATED},
                 {"MergedWithPrevious", TOK_SPLIT_MERGED_PREV},
                 {"MergedWithNext", TOK_SPLIT_MERGED_NEXT},
                 {"Contiguous", TOK_SPLIT_CONTIGUOUS}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i].name) == 0) {
            *out = names[i].b;
            return 0;
        }
    return -1;
}

/* Emits s[a..b) unless empty; only a piece at offset 0 keeps AT_START. */
static int put(const char *s, size_t a, size_t b, unsigned flags, tok_emit_fn emit, void *arg) {
    if (b == a) return 0;
    return emit(arg, s + a, b - a, a == 0 ? flags : (flags & ~TOK_PIECE_AT_START));
}

int tok_split_by_matches(const char *s, size_t n, const tok_matches *m, int invert,
                         enum tok_split_behavior b, unsigned flags, tok_emit_fn emit, void *arg) {
    /* Walk the segments (stretches between matches, and the matches) covering s, applying the
     * behaviour with one pending piece instead of building the lists tokenizers builds. */
    size_t mi = 0, pos = 0;
    int have_pending = 0, prev_match = 0, first = 1;
    size_t pa = 0, pb = 0; /* the pending piece */
    while (pos < n || (mi < m->len && m->data[mi].start == pos && m->data[mi].end == pos)) {
        size_t a, e;
        int is_match;
        if (mi < m->len && m->data[mi].start == pos) {
            a = pos;
            e = m->data[mi].end;
            is_match = 1;
            mi++;
        } else {
            a = pos;
            e = mi < m->len ? m->data[mi].start : n;
            is_match = 0;
        }
        pos = e;
        if (invert) is_match = !is_match;
        /* is the next segment a match? (for MergedWithNext) */
        int next_exists = pos < n || (mi < m->len && m->data[mi].start == pos);
        int next_match = next_exists && ((mi < m->len && m->data[mi].start == pos) != invert);
        int rc = 0;
        switch (b) {
        case TOK_SPLIT_ISOLATED:
            rc = put(s, a, e, flags, emit, arg);
            break;
        case TOK_SPLIT_REMOVED:
            if (!is_match) rc = put(s, a, e, flags, emit, arg);
            break;
        case TOK_SPLIT_MERGED_PREV:
            if (is_match && !prev_match && !first)
                pb = e; /* joins the piece before it */
            else {
                if (have_pending) rc = put(s, pa, pb, flags, emit, arg);
                pa = a;
                pb = e;
                have_pending = 1;
            }
            break;
        case TOK_SPLIT_MERGED_NEXT:
            if (is_match && next_exists && !next_match) {
                if (!have_pending) {
                    pa = a;
                    have_pending = 1;
                } /* joins the piece after it */
            } else {
                rc = put(s, have_pending ? pa : a, e, flags, emit, arg);
                have_pending = 0;
            }
            break;
        case TOK_SPLIT_CONTIGUOUS:
            if (is_match == prev_match && !first)
                pb = e;
            else {
                if (have_pending) rc = put(s, pa, pb, flags, emit, arg);
                pa = a;
                pb = e;
                have_pending = 1;
            }
            break;
        }
        if (rc) return rc;
        prev_match = is_match;
        first = 0;
        if (e == a && pos >= n) break; /* an empty match at the very end */
    }
    if (have_pending &&
        (b == TOK_SPLIT_MERGED_PREV || b == TOK_SPLIT_CONTIGUOUS || b == TOK_SPLIT_MERGED_NEXT))
        return put(s, pa, b == TOK_SPLIT_MERGED_NEXT ? n : pb, flags, emit, arg);
    return 0;
}
