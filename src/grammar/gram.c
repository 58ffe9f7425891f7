/* gram.c - building the byte-level grammar (see gram_internal.h): named and helper rules, byte
 * sets, code point classes lowered to UTF-8 byte sequences, repetition lowered to right-
 * recursive helper rules, and the checks the automaton relies on (no left recursion). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/gram_internal.h"
#include "support/alloc.h"
#include "support/error.h"
#include "support/utf8.h"

void gram_builder_init(gram_builder *b) {
    memset(b, 0, sizeof *b);
    b->g = mlcc_xcalloc(1, sizeof *b->g);
    b->g->root = -1;
    pthread_mutex_init(&b->g->cache_lock, NULL);
    b->g->refs = 1;
    strmap_init(&b->rule_by_name);
    strmap_init(&b->set_index);
    strmap_init(&b->helper_by_body);
}

mlcc_grammar *gram_builder_finish(gram_builder *b, int keep) {
    strmap_free(&b->rule_by_name);
    strmap_free(&b->set_index);
    strmap_free(&b->helper_by_body);
    vec_free(&b->defined);
    mlcc_grammar *g = b->g;
    b->g = NULL;
    if (!keep) {
        mlcc_grammar_free(g);
        return NULL;
    }
    return g;
}

mlcc_grammar *mlcc_grammar_retain(mlcc_grammar *g) {
    if (g) __atomic_add_fetch(&g->refs, 1, __ATOMIC_RELAXED);
    return g;
}

void mlcc_grammar_free(mlcc_grammar *g) {
    if (!g || __atomic_sub_fetch(&g->refs, 1, __ATOMIC_ACQ_REL) > 0) return;
    for (size_t i = 0; i < g->rules.len; i++) free(g->rules.data[i].name);
    for (size_t i = 0; i < g->caches.len; i++) gram_cache_free(g->caches.data[i]);
    vec_free(&g->caches);
    vec_free(&g->rules);
    vec_free(&g->alt_start);
    vec_free(&g->elems);
    vec_free(&g->sets);
    pthread_mutex_destroy(&g->cache_lock);
    free(g);
}

static int32_t new_rule(gram_builder *b, const char *name, size_t len) {
    gram_rule r = {0};
    r.name = mlcc_xmalloc(len + 1);
    memcpy(r.name, name, len);
    r.name[len] = 0;
    r.first_alt = 0;
    r.nalts = 0;
    r.rep_x = -1;
    r.rep_k = 0;
    vec_push(&b->g->rules, r);
    vec_push(&b->defined, 0);
    return (int32_t)b->g->rules.len - 1;
}

int32_t gram_rule_ref(gram_builder *b, const char *name, size_t len) {
    int inserted;
    mlcc_strmap_entry *e = strmap_upsert(&b->rule_by_name, name, len, &inserted);
    if (inserted) e->value.i = new_rule(b, name, len);
    return (int32_t)e->value.i;
}

int gram_define(gram_builder *b, int32_t r, const gram_alts *alts) {
    mlcc_grammar *g = b->g;
    if (b->defined.data[r]) return mlcc_set_error("rule '%s' is defined twice", g->rules.data[r].name);
    b->defined.data[r] = 1;
    g->rules.data[r].first_alt = (int32_t)g->alt_start.len;
    int32_t n = 0;
    size_t i = 0;
    while (i < alts->len) {
        vec_push(&g->alt_start, (int32_t)g->elems.len);
        while (i < alts->len && alts->data[i] != GRAM_END) vec_push(&g->elems, alts->data[i++]);
        vec_push(&g->elems, GRAM_END);
        i++; /* the separator */
        n++;
    }
    g->rules.data[r].nalts = n;
    return 0;
}

int32_t gram_helper(gram_builder *b, const gram_alts *alts) {
    int inserted;
    mlcc_strmap_entry *e = strmap_upsert(&b->helper_by_body, (const char *)alts->data, alts->len * sizeof(int32_t), &inserted);
    if (!inserted) return (int32_t)e->value.i;
    char name[32];
    int n = snprintf(name, sizeof name, "%%h%d", b->nhelpers++);
    int32_t r = new_rule(b, name, (size_t)n);
    e->value.i = r;
    gram_define(b, r, alts);
    return r;
}

int32_t gram_set_elem(gram_builder *b, const gram_byteset *s) {
    int inserted;
    mlcc_strmap_entry *e = strmap_upsert(&b->set_index, (const char *)s->w, sizeof s->w, &inserted);
    if (inserted) {
        e->value.i = (int64_t)b->g->sets.len;
        vec_push(&b->g->sets, *s);
    }
    return GRAM_SET(e->value.i);
}

static int32_t byte_range_elem(gram_builder *b, unsigned lo, unsigned hi) {
    gram_byteset s;
    memset(&s, 0, sizeof s);
    for (unsigned c = lo; c <= hi; c++) gram_byteset_add(&s, c);
    return gram_set_elem(b, &s);
}

void gram_append_literal(gram_builder *b, const char *s, size_t n, gram_seq *out) {
    for (size_t i = 0; i < n; i++) vec_push(out, byte_range_elem(b, (unsigned char)s[i], (unsigned char)s[i]));
}

/* Splits [lo, hi] (no surrogates, same UTF-8 length after the first splits) into pieces whose
 * encodings are products of byte ranges, as Rust regex-syntax's Utf8Sequences does; each piece
 * becomes an alternative (separator GRAM_END) in out. */
static void utf8_split(gram_builder *b, uint32_t lo, uint32_t hi, gram_alts *out) {
    static const uint32_t bounds[] = {0x7F, 0x7FF, 0xFFFF};
    for (int i = 0; i < 3; i++)
        if (lo <= bounds[i] && hi > bounds[i]) {
            utf8_split(b, lo, bounds[i], out);
            utf8_split(b, bounds[i] + 1, hi, out);
            return;
        }
    if (hi < 0x80) {
        vec_push(out, byte_range_elem(b, lo, hi));
        vec_push(out, GRAM_END);
        return;
    }
    for (int i = 1; i < 4; i++) {
        uint32_t m = (1u << (6 * i)) - 1;
        if ((lo & ~m) != (hi & ~m)) {
            if ((lo & m) != 0) {
                utf8_split(b, lo, lo | m, out);
                utf8_split(b, (lo | m) + 1, hi, out);
                return;
            }
            if ((hi & m) != m) {
                utf8_split(b, lo, (hi & ~m) - 1, out);
                utf8_split(b, hi & ~m, hi, out);
                return;
            }
        }
    }
    unsigned char a[4], z[4];
    int n = mlcc_utf8_encode(lo, (char *)a);
    mlcc_utf8_encode(hi, (char *)z);
    for (int i = 0; i < n; i++) vec_push(out, byte_range_elem(b, a[i], z[i]));
    vec_push(out, GRAM_END);
}

void gram_append_cp_class(gram_builder *b, const uint32_t *ranges, size_t nranges, gram_seq *out) {
    int ascii = 1;
    for (size_t i = 0; i < nranges; i++)
        if (ranges[2 * i + 1] >= 0x80) ascii = 0;
    if (ascii) {
        gram_byteset s;
        memset(&s, 0, sizeof s);
        for (size_t i = 0; i < nranges; i++)
            for (uint32_t c = ranges[2 * i]; c <= ranges[2 * i + 1]; c++) gram_byteset_add(&s, c);
        vec_push(out, gram_set_elem(b, &s));
        return;
    }
    gram_alts alts = {0};
    gram_byteset ascii_set;
    memset(&ascii_set, 0, sizeof ascii_set);
    int have_ascii = 0;
    for (size_t i = 0; i < nranges; i++) {
        uint32_t lo = ranges[2 * i], hi = ranges[2 * i + 1];
        if (hi > 0x10FFFF) hi = 0x10FFFF;
        for (; lo < 0x80 && lo <= hi; lo++) {
            gram_byteset_add(&ascii_set, lo);
            have_ascii = 1;
        }
        if (lo > hi) continue;
        /* surrogates are not characters */
        if (lo <= 0xDFFF && hi >= 0xD800) {
            if (lo < 0xD800) utf8_split(b, lo, 0xD7FF, &alts);
            if (hi > 0xDFFF) utf8_split(b, 0xE000, hi, &alts);
        } else
            utf8_split(b, lo, hi, &alts);
    }
    if (have_ascii) {
        vec_push(&alts, gram_set_elem(b, &ascii_set));
        vec_push(&alts, GRAM_END);
    }
    /* (an empty class gives a rule without alternatives: it matches nothing) */
    vec_push(out, gram_helper(b, &alts));
    vec_free(&alts);
}

int32_t gram_seq_elem(gram_builder *b, const gram_seq *seq) {
    if (seq->len == 1) return seq->data[0];
    gram_alts alts = {0};
    for (size_t i = 0; i < seq->len; i++) vec_push(&alts, seq->data[i]);
    vec_push(&alts, GRAM_END);
    int32_t r = gram_helper(b, &alts);
    vec_free(&alts);
    return r;
}

/* x* as a rule: R ::= x R | "" (R in tail position, so the automaton's stack does not grow). */
static int32_t star(gram_builder *b, int32_t x) {
    char key[32];
    int n = snprintf(key, sizeof key, "*%d", (int)x);
    int inserted;
    mlcc_strmap_entry *e = strmap_upsert(&b->helper_by_body, key, (size_t)n, &inserted);
    if (!inserted) return (int32_t)e->value.i;
    char name[32];
    n = snprintf(name, sizeof name, "%%s%d", b->nhelpers++);
    int32_t r = new_rule(b, name, (size_t)n);
    e->value.i = r;
    int32_t body[] = {x, r, GRAM_END, GRAM_END};
    gram_alts alts = {body, 4, 4};
    gram_define(b, r, &alts);
    b->g->rules.data[r].rep_x = x, b->g->rules.data[r].rep_k = -1; /* marks x* (simplify_repeat) */
    return r;
}

/* x itself, or the rule x only calls: a group `( y )` is a helper G ::= y. */
static int32_t look_through(const mlcc_grammar *g, int32_t x) {
    for (int hops = 0; x >= 0 && hops < 64 && gram_alt_count(g, x) == 1; hops++) {
        int32_t p = gram_alt_pos(g, x, 0), y = g->elems.data[p];
        if (y < 0 || g->elems.data[p + 1] != GRAM_END) break;
        x = y;
    }
    return x;
}

/* Repetitions of repetitions, as one: (y*)* (y*)+ (y*)? (y?)* (y?)+ are y*, (y?)? is y?,
 * (y+){m,} is y{m,} and (y+)? is y*. The same language; why: the automaton keeps a frame per
 * level of a nested repetition whose body can be empty, so `"a"?` under n `+` had ~2^n
 * distinct stacks (a mask for 16 levels took 18 s, found by fuzz_grammar; a request's
 * response_format pattern reaches it). -2 when x{min,max} is none of these. */
static int32_t simplify_repeat(gram_builder *b, int32_t x, int min, int max) {
    const mlcc_grammar *g = b->g;
    if (!(max < 0 || (min == 0 && max == 1))) return -2;
    int32_t y = look_through(g, x);
    if (y < 0) return -2;
    const gram_rule *r = &g->rules.data[y];
    if (r->rep_k == -1 || (r->rep_k == 1 && max < 0)) /* y* or, unbounded, y? */
        return r->rep_k == -1 ? y : gram_repeat(b, r->rep_x, 0, -1);
    if (r->rep_k == 1) return y; /* (y?)? */
    if (gram_alt_count(g, y) != 1) return -2;
    /* y+ is the sequence [z, z*] (gram_repeat) */
    int32_t p = gram_alt_pos(g, y, 0), z = g->elems.data[p], s = z >= 0 ? g->elems.data[p + 1] : -1;
    if (s < 0 || g->elems.data[p + 2] != GRAM_END || g->rules.data[s].rep_k != -1 || g->rules.data[s].rep_x != z) return -2;
    return gram_repeat(b, z, max < 0 ? min : 0, -1);
}

int32_t gram_repeat(gram_builder *b, int32_t x, int min, int max) {
    int32_t simpler = simplify_repeat(b, x, min, max);
    if (simpler != -2) return simpler;
    gram_seq seq = {0};
    for (int i = 0; i < min; i++) vec_push(&seq, x);
    if (max < 0)
        vec_push(&seq, star(b, x));
    else if (max > min) {
        /* O_1 ::= x | "" ; O_k ::= x O_{k-1} | "" */
        int32_t prev = -1;
        for (int k = 1; k <= max - min; k++) {
            gram_alts alts = {0};
            vec_push(&alts, x);
            if (prev >= 0) vec_push(&alts, prev);
            vec_push(&alts, GRAM_END);
            vec_push(&alts, GRAM_END);
            prev = gram_helper(b, &alts);
            b->g->rules.data[prev].rep_x = x;
            b->g->rules.data[prev].rep_k = k;
            vec_free(&alts);
        }
        vec_push(&seq, prev);
    }
    int32_t r;
    if (seq.len == 0) {
        int32_t body[] = {GRAM_END};
        gram_alts alts = {body, 1, 1};
        r = gram_helper(b, &alts);
    } else
        r = gram_seq_elem(b, &seq);
    vec_free(&seq);
    return r;
}

/* ---- checks ---- */

static void compute_nullable(const mlcc_grammar *g, unsigned char *nullable) {
    int changed = 1;
    while (changed) {
        changed = 0;
        for (size_t r = 0; r < g->rules.len; r++) {
            if (nullable[r]) continue;
            for (int32_t a = 0; a < gram_alt_count(g, (int32_t)r) && !nullable[r]; a++) {
                const int32_t *e = g->elems.data + gram_alt_pos(g, (int32_t)r, a);
                while (*e >= 0 && nullable[*e]) e++;
                if (*e == GRAM_END) {
                    nullable[r] = 1;
                    changed = 1;
                }
            }
        }
    }
}

/* The "left-call" graph: A -> B when an alternative of A calls B after only nullable
 * elements, so the automaton pushes B without reading a byte. A cycle there loops forever only
 * if one of its calls is not in tail position (a tail call reuses the caller's parent, so the
 * stack does not grow): such a cycle is left recursion. Found with Tarjan's SCCs. */
typedef struct lc_edge {
    int32_t to;
    int tail;
} lc_edge;

typedef struct tarjan {
    const mlcc_grammar *g;
    MLCC_VEC(lc_edge) edges;
    int32_t *first; /* per rule: edges[first[r], first[r+1]) */
    int32_t *index, *low, *comp;
    unsigned char *on_stack;
    MLCC_VEC(int32_t) stack;
    int32_t counter, ncomp;
} tarjan;

static void strongconnect(tarjan *t, int32_t v) {
    t->index[v] = t->low[v] = t->counter++;
    vec_push(&t->stack, v);
    t->on_stack[v] = 1;
    for (int32_t k = t->first[v]; k < t->first[v + 1]; k++) {
        int32_t w = t->edges.data[k].to;
        if (t->index[w] < 0) {
            strongconnect(t, w);
            if (t->low[w] < t->low[v]) t->low[v] = t->low[w];
        } else if (t->on_stack[w] && t->index[w] < t->low[v])
            t->low[v] = t->index[w];
    }
    if (t->low[v] == t->index[v]) {
        int32_t w;
        do {
            w = vec_pop(&t->stack);
            t->on_stack[w] = 0;
            t->comp[w] = t->ncomp;
        } while (w != v);
        t->ncomp++;
    }
}

static int find_left_cycle(const mlcc_grammar *g, const unsigned char *nullable, int32_t *bad) {
    size_t n = g->rules.len;
    tarjan t;
    memset(&t, 0, sizeof t);
    t.g = g;
    t.first = mlcc_xmalloc(sizeof(int32_t) * (n + 1));
    for (size_t r = 0; r < n; r++) {
        t.first[r] = (int32_t)t.edges.len;
        for (int32_t a = 0; a < gram_alt_count(g, (int32_t)r); a++) {
            const int32_t *e = g->elems.data + gram_alt_pos(g, (int32_t)r, a);
            for (; *e >= 0; e++) {
                lc_edge ed = {*e, e[1] == GRAM_END};
                vec_push(&t.edges, ed);
                if (!nullable[*e]) break;
            }
        }
    }
    t.first[n] = (int32_t)t.edges.len;
    t.index = mlcc_xmalloc(sizeof(int32_t) * (n ? n : 1));
    t.low = mlcc_xmalloc(sizeof(int32_t) * (n ? n : 1));
    t.comp = mlcc_xmalloc(sizeof(int32_t) * (n ? n : 1));
    t.on_stack = mlcc_xcalloc(n ? n : 1, 1);
    for (size_t r = 0; r < n; r++) t.index[r] = -1;
    for (size_t r = 0; r < n; r++)
        if (t.index[r] < 0) strongconnect(&t, (int32_t)r);
    int found = 0;
    for (size_t r = 0; r < n && !found; r++)
        for (int32_t k = t.first[r]; k < t.first[r + 1]; k++)
            if (!t.edges.data[k].tail && t.comp[t.edges.data[k].to] == t.comp[r]) {
                *bad = (int32_t)r;
                found = 1;
                break;
            }
    vec_free(&t.edges);
    vec_free(&t.stack);
    free(t.first);
    free(t.index);
    free(t.low);
    free(t.comp);
    free(t.on_stack);
    return found;
}

int gram_check(gram_builder *b, const char *what) {
    mlcc_grammar *g = b->g;
    for (size_t r = 0; r < g->rules.len; r++)
        if (!b->defined.data[r]) return mlcc_set_error("%s: rule '%s' is used but not defined", what, g->rules.data[r].name);
    mlcc_strmap_entry *e = strmap_find(&b->rule_by_name, "root", 4);
    if (!e) return mlcc_set_error("%s: no rule named 'root'", what);
    g->root = (int32_t)e->value.i;
    unsigned char *nullable = mlcc_xcalloc(g->rules.len ? g->rules.len : 1, 1);
    compute_nullable(g, nullable);
    for (size_t r = 0; r < g->rules.len; r++) g->rules.data[r].nullable = nullable[r];
    int32_t bad = -1;
    int cyc = find_left_cycle(g, nullable, &bad);
    free(nullable);
    if (cyc) return mlcc_set_error("%s: rule '%s' is left-recursive (the automaton needs right recursion)", what, g->rules.data[bad].name);
    return 0;
}

/* ---- dump ---- */

static void dump_set(mlcc_strbuf *sb, const gram_byteset *s) {
    int count = 0;
    for (unsigned c = 0; c < 256; c++) count += gram_byteset_has(s, c);
    if (count == 1) {
        for (unsigned c = 0; c < 256; c++)
            if (gram_byteset_has(s, c)) {
                if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\')
                    sb_printf(sb, "\"%c\"", (char)c);
                else
                    sb_printf(sb, "\"\\x%02X\"", c);
            }
        return;
    }
    sb_append(sb, "[");
    for (unsigned c = 0; c < 256;) {
        if (!gram_byteset_has(s, c)) {
            c++;
            continue;
        }
        unsigned d = c;
        while (d + 1 < 256 && gram_byteset_has(s, d + 1)) d++;
        for (int k = 0; k < 2; k++) {
            unsigned x = k ? d : c;
            if (k && d == c) break;
            if (k) sb_append(sb, "-");
            if (x >= 0x20 && x < 0x7F && x != ']' && x != '\\' && x != '-' && x != '^')
                sb_printf(sb, "%c", (char)x);
            else
                sb_printf(sb, "\\x%02X", x);
        }
        c = d + 1;
    }
    sb_append(sb, "]");
}

char *mlcc_grammar_dump(const mlcc_grammar *g) {
    mlcc_strbuf sb = STRBUF_INIT;
    for (size_t r = 0; r < g->rules.len; r++) {
        sb_printf(&sb, "%s ::=", g->rules.data[r].name);
        for (int32_t a = 0; a < gram_alt_count(g, (int32_t)r); a++) {
            if (a) sb_append(&sb, " |");
            const int32_t *e = g->elems.data + gram_alt_pos(g, (int32_t)r, a);
            if (*e == GRAM_END) sb_append(&sb, " \"\"");
            for (; *e != GRAM_END; e++) {
                sb_append(&sb, " ");
                if (*e >= 0)
                    sb_append(&sb, g->rules.data[*e].name);
                else
                    dump_set(&sb, &g->sets.data[GRAM_SET_INDEX(*e)]);
            }
        }
        sb_append(&sb, "\n");
    }
    return sb.data ? sb_detach(&sb) : mlcc_xstrdup("");
}
