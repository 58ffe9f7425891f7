/* regex_dfa.c - regexes to DFAs over code points, their products, and DFAs back to GBNF (see
 * regex_dfa.h).
 *
 * The regex is not parsed a second time: regex.c already turns it into GBNF that uses only
 * groups, alternation, character classes (code points, \u / \U escapes), quantifiers and the
 * empty literal, with JSON Schema's search semantics (.* around an unanchored pattern) spelled
 * out. That small regular subset of GBNF is read back here into a Thompson NFA, so both paths
 * agree on every escape, class and anchor. The NFA becomes a DFA by the subset construction,
 * over the elementary intervals cut by the edges' range bounds. */
#include "grammar/regex_dfa.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/gram_internal.h"
#include "support/alloc.h"
#include "support/error.h"
#include "support/hashmap.h"

#define MAX_CP 0x10FFFFu
#define NFA_MAX_STATES 200000

/* ---- the NFA ---- */

typedef MLCC_VEC(uint32_t) u32vec;
typedef MLCC_VEC(int32_t) i32vec;
typedef MLCC_VEC(i32vec) setvec;

typedef struct nfa_state {
    i32vec eps;
    u32vec ranges; /* pairs lo, hi of the one character edge */
    int32_t to;                /* its target, -1: none */
} nfa_state;

typedef struct nfa {
    MLCC_VEC(nfa_state) s;
    const char *g; /* the GBNF being read */
    size_t n, pos;
    const char *what;
} nfa;

typedef struct frag {
    int32_t start, end;
} frag;

static int32_t nfa_new(nfa *a) {
    nfa_state st = {{0}, {0}, -1};
    vec_push(&a->s, st);
    return (int32_t)a->s.len - 1;
}

static void nfa_eps(nfa *a, int32_t from, int32_t to) {
    vec_push(&a->s.data[from].eps, to);
}

static void nfa_free(nfa *a) {
    for (size_t i = 0; i < a->s.len; i++) {
        vec_free(&a->s.data[i].eps);
        vec_free(&a->s.data[i].ranges);
    }
    vec_free(&a->s);
}

static int nfa_err(nfa *a, const char *msg) {
    return mlcc_set_error("%s: %s", a->what, msg);
}

static int peek(const nfa *a) {
    return a->pos < a->n ? (unsigned char)a->g[a->pos] : -1;
}

static void skip_spaces(nfa *a) {
    while (peek(a) == ' ') a->pos++;
}

static int hexval(int c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* One code point of a class or literal: plain ASCII, \uXXXX, \UXXXXXXXX, \\ or \". */
static int read_cp(nfa *a, uint32_t *cp) {
    int c = peek(a);
    if (c < 0) return nfa_err(a, "unexpected end of the pattern's grammar");
    a->pos++;
    if (c != '\\') {
        if (c >= 0x80) return nfa_err(a, "unexpected byte in the pattern's grammar");
        *cp = (uint32_t)c;
        return 0;
    }
    c = peek(a);
    a->pos++;
    int digits = c == 'u' ? 4 : c == 'U' ? 8 : 0;
    if (!digits) {
        if (c != '\\' && c != '"') return nfa_err(a, "unexpected escape in the pattern's grammar");
        *cp = (uint32_t)c;
        return 0;
    }
    uint32_t v = 0;
    for (int i = 0; i < digits; i++) {
        int d = hexval(peek(a));
        if (d < 0) return nfa_err(a, "bad escape in the pattern's grammar");
        v = v * 16 + (uint32_t)d;
        a->pos++;
    }
    *cp = v;
    return 0;
}

static int cmp_u32_pair(const void *x, const void *y) {
    const uint32_t *p = x, *q = y;
    return p[0] < q[0] ? -1 : p[0] > q[0];
}

/* Sorted, merged pairs; negated when neg. */
static void normalize_ranges(uint32_t *r, size_t *npairs, int neg, u32vec *out) {
    size_t n = *npairs, k = 0;
    qsort(r, n, 2 * sizeof(uint32_t), cmp_u32_pair);
    for (size_t i = 0; i < n; i++) {
        if (k && r[2 * i] <= r[2 * (k - 1) + 1] + 1) {
            if (r[2 * i + 1] > r[2 * (k - 1) + 1]) r[2 * (k - 1) + 1] = r[2 * i + 1];
        } else {
            r[2 * k] = r[2 * i];
            r[2 * k + 1] = r[2 * i + 1];
            k++;
        }
    }
    *npairs = k;
    out->len = 0;
    if (!neg) {
        for (size_t i = 0; i < 2 * k; i++) vec_push(out, r[i]);
        return;
    }
    uint32_t next = 0;
    for (size_t i = 0; i < k; i++) {
        if (r[2 * i] > next) {
            vec_push(out, next);
            vec_push(out, r[2 * i] - 1);
        }
        next = r[2 * i + 1] + 1;
    }
    if (next <= MAX_CP) {
        vec_push(out, next);
        vec_push(out, MAX_CP);
    }
}

static int parse_alt(nfa *a, frag *f);

static int char_frag(nfa *a, u32vec *ranges, frag *f) {
    f->start = nfa_new(a);
    f->end = nfa_new(a);
    nfa_state *s = &a->s.data[f->start];
    s->to = f->end;
    s->ranges = *ranges; /* ownership moves */
    memset(ranges, 0, sizeof *ranges);
    return 0;
}

static int parse_class(nfa *a, frag *f) {
    a->pos++; /* [ */
    int neg = 0;
    if (peek(a) == '^') {
        neg = 1;
        a->pos++;
    }
    u32vec raw = {0};
    while (peek(a) != ']') {
        uint32_t lo, hi;
        if (read_cp(a, &lo)) goto fail;
        hi = lo;
        if (peek(a) == '-') {
            a->pos++;
            if (read_cp(a, &hi)) goto fail;
        }
        vec_push(&raw, lo);
        vec_push(&raw, hi);
    }
    a->pos++;
    size_t np = raw.len / 2;
    u32vec norm = {0};
    if (np) normalize_ranges(raw.data, &np, neg, &norm);
    else if (neg) {
        vec_push(&norm, 0);
        vec_push(&norm, MAX_CP);
    }
    vec_free(&raw);
    return char_frag(a, &norm, f);
fail:
    vec_free(&raw);
    return -1;
}

static int parse_literal(nfa *a, frag *f) {
    a->pos++; /* " */
    f->start = f->end = nfa_new(a);
    while (peek(a) != '"') {
        uint32_t cp;
        if (read_cp(a, &cp)) return -1;
        u32vec r = {0};
        vec_push(&r, cp);
        vec_push(&r, cp);
        frag c;
        char_frag(a, &r, &c);
        nfa_eps(a, f->end, c.start);
        f->end = c.end;
    }
    a->pos++;
    return 0;
}

static int parse_atom(nfa *a, frag *f) {
    if (a->s.len > NFA_MAX_STATES) return nfa_err(a, "pattern too large to combine with other patterns or names");
    int c = peek(a);
    if (c == '(') {
        a->pos++;
        if (parse_alt(a, f)) return -1;
        skip_spaces(a);
        if (peek(a) != ')') return nfa_err(a, "missing ')' in the pattern's grammar");
        a->pos++;
        return 0;
    }
    if (c == '[') return parse_class(a, f);
    if (c == '"') return parse_literal(a, f);
    return nfa_err(a, "unexpected text in the pattern's grammar");
}

static long read_count(nfa *a) {
    long v = 0;
    while (peek(a) >= '0' && peek(a) <= '9') v = v * 10 + (peek(a) - '0'), a->pos++;
    return v;
}

/* x* around the fragment x. */
static frag star(nfa *a, frag x) {
    frag f = {nfa_new(a), nfa_new(a)};
    nfa_eps(a, f.start, x.start);
    nfa_eps(a, f.start, f.end);
    nfa_eps(a, x.end, x.start);
    nfa_eps(a, x.end, f.end);
    return f;
}

/* An atom and its quantifier; repeated atoms are parsed again for each copy. */
static int parse_item(nfa *a, frag *f) {
    size_t at = a->pos;
    frag x = {0, 0};
    if (parse_atom(a, &x)) return -1;
    int c = peek(a);
    long lo = 1, hi = 1;
    if (c == '?' || c == '*' || c == '+') {
        a->pos++;
        lo = c == '+';
        hi = c == '?' ? 1 : -1;
    } else if (c == '{') {
        a->pos++;
        lo = hi = read_count(a);
        if (peek(a) == ',') {
            a->pos++;
            hi = peek(a) == '}' ? -1 : read_count(a);
        }
        if (peek(a) != '}') return nfa_err(a, "bad repetition in the pattern's grammar");
        a->pos++;
    } else {
        *f = x;
        return 0;
    }
    size_t end = a->pos;
    /* lo copies, then hi - lo optional ones (or one starred) */
    f->start = f->end = nfa_new(a);
    long copies = hi < 0 ? lo + 1 : hi;
    for (long k = 0; k < copies; k++) {
        frag y = x;
        if (k > 0) {
            a->pos = at;
            if (parse_atom(a, &y)) return -1;
        }
        if (k >= lo) {
            if (hi < 0)
                y = star(a, y);
            else
                nfa_eps(a, y.start, y.end); /* optional */
        }
        nfa_eps(a, f->end, y.start);
        f->end = y.end;
    }
    a->pos = end;
    return 0;
}

static int parse_seq(nfa *a, frag *f) {
    f->start = f->end = nfa_new(a);
    for (;;) {
        skip_spaces(a);
        int c = peek(a);
        if (c < 0 || c == '|' || c == ')') return 0;
        frag x = {0, 0};
        if (parse_item(a, &x)) return -1;
        nfa_eps(a, f->end, x.start);
        f->end = x.end;
    }
}

static int parse_alt(nfa *a, frag *f) {
    f->start = nfa_new(a);
    f->end = nfa_new(a);
    for (;;) {
        frag x = {0, 0};
        if (parse_seq(a, &x)) return -1;
        nfa_eps(a, f->start, x.start);
        nfa_eps(a, x.end, f->end);
        if (peek(a) != '|') return 0;
        a->pos++;
    }
}

/* ---- DFA building blocks ---- */

static void dfa_add_state(rx_dfa *d, int accept) {
    rx_state st = {accept, {0}};
    vec_push(&d->states, st);
}

static void dfa_add_edge(rx_dfa *d, int32_t q, uint32_t lo, uint32_t hi, int32_t to) {
    rx_state *s = &d->states.data[q];
    if (s->edges.len && vec_last(&s->edges).to == to && vec_last(&s->edges).hi + 1 == lo) {
        vec_last(&s->edges).hi = hi;
        return;
    }
    rx_edge e = {lo, hi, to};
    vec_push(&s->edges, e);
}

void rx_dfa_free(rx_dfa *d) {
    if (!d) return;
    for (size_t i = 0; i < d->states.len; i++) vec_free(&d->states.data[i].edges);
    vec_free(&d->states);
    free(d);
}

/* Drops the states that cannot reach an accepting one (and the edges into them), renumbering
 * the rest with the start first; the empty language leaves no state. */
static void dfa_trim(rx_dfa *d) {
    size_t n = d->states.len;
    if (!n) return;
    char *live = mlcc_xmalloc(n);
    for (size_t i = 0; i < n; i++) live[i] = (char)(d->states.data[i].accept != 0);
    for (int changed = 1; changed;) { /* fixed point: a state with an edge into a live one is live */
        changed = 0;
        for (size_t i = 0; i < n; i++) {
            if (live[i]) continue;
            rx_state *s = &d->states.data[i];
            for (size_t k = 0; k < s->edges.len; k++)
                if (live[s->edges.data[k].to]) {
                    live[i] = 1;
                    changed = 1;
                    break;
                }
        }
    }
    int32_t *map = mlcc_xmalloc(n * sizeof(int32_t));
    int32_t m = 0;
    for (size_t i = 0; i < n; i++) map[i] = live[i] && live[0] ? m++ : -1;
    rx_dfa out = {{0}};
    for (size_t i = 0; i < n; i++) {
        rx_state *s = &d->states.data[i];
        if (map[i] >= 0) {
            rx_state t = {s->accept, {0}};
            for (size_t k = 0; k < s->edges.len; k++) {
                rx_edge e = s->edges.data[k];
                if (map[e.to] < 0) continue;
                e.to = map[e.to];
                vec_push(&t.edges, e);
            }
            vec_push(&out.states, t);
        }
        vec_free(&s->edges);
    }
    vec_free(&d->states);
    d->states = out.states;
    free(live);
    free(map);
}

static int cmp_i32(const void *x, const void *y) {
    int32_t a = *(const int32_t *)x, b = *(const int32_t *)y;
    return a < b ? -1 : a > b;
}
static int cmp_u32(const void *x, const void *y) {
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return a < b ? -1 : a > b;
}

/* The epsilon closure of set (in place: sorted, unique). */
static void closure(const nfa *a, i32vec *set, char *seen) {
    i32vec work = {0};
    for (size_t i = 0; i < set->len; i++) {
        seen[set->data[i]] = 1;
        vec_push(&work, set->data[i]);
    }
    while (work.len) {
        int32_t q = vec_pop(&work);
        const nfa_state *s = &a->s.data[q];
        for (size_t i = 0; i < s->eps.len; i++)
            if (!seen[s->eps.data[i]]) {
                seen[s->eps.data[i]] = 1;
                vec_push(set, s->eps.data[i]);
                vec_push(&work, s->eps.data[i]);
            }
    }
    vec_free(&work);
    for (size_t i = 0; i < set->len; i++) seen[set->data[i]] = 0;
    qsort(set->data, set->len, sizeof(int32_t), cmp_i32);
}

/* The state of DFA d for the NFA state set (sorted), made (and queued) when new. */
static int32_t subset_state(rx_dfa *d, mlcc_strmap *index, setvec *sets, const i32vec *set, int32_t accept_q) {
    int inserted;
    mlcc_strmap_entry *e = strmap_upsert(index, (const char *)set->data, set->len * sizeof(int32_t), &inserted);
    if (inserted) {
        int acc = 0;
        for (size_t i = 0; i < set->len; i++) acc |= set->data[i] == accept_q;
        e->value.i = (int64_t)d->states.len;
        dfa_add_state(d, acc);
        i32vec copy = {0};
        for (size_t i = 0; i < set->len; i++) vec_push(&copy, set->data[i]);
        vec_push(sets, copy);
    }
    return (int32_t)e->value.i;
}

static rx_dfa *subset_construction(const nfa *a, int32_t start, int32_t accept, const char *what) {
    rx_dfa *d = mlcc_xmalloc(sizeof *d);
    memset(d, 0, sizeof *d);
    mlcc_strmap index;
    strmap_init(&index);
    setvec sets = {0};
    char *seen = mlcc_xmalloc(a->s.len);
    memset(seen, 0, a->s.len);
    i32vec set = {0};
    vec_push(&set, start);
    closure(a, &set, seen);
    subset_state(d, &index, &sets, &set, accept);
    u32vec bounds = {0};
    int failed = 0;
    for (size_t q = 0; q < d->states.len && !failed; q++) {
        /* the elementary intervals of this state's outgoing ranges */
        bounds.len = 0;
        i32vec cur = sets.data[q];
        for (size_t i = 0; i < cur.len; i++) {
            const nfa_state *s = &a->s.data[cur.data[i]];
            if (s->to < 0) continue;
            for (size_t k = 0; k < s->ranges.len; k += 2) {
                vec_push(&bounds, s->ranges.data[k]);
                vec_push(&bounds, s->ranges.data[k + 1] + 1);
            }
        }
        if (!bounds.len) continue;
        qsort(bounds.data, bounds.len, sizeof(uint32_t), cmp_u32);
        for (size_t b = 0; b + 1 < bounds.len; b++) {
            uint32_t lo = bounds.data[b], hi = bounds.data[b + 1] - 1;
            if (bounds.data[b + 1] == lo) continue;
            set.len = 0;
            for (size_t i = 0; i < cur.len; i++) {
                const nfa_state *s = &a->s.data[cur.data[i]];
                if (s->to < 0) continue;
                for (size_t k = 0; k < s->ranges.len; k += 2)
                    if (lo >= s->ranges.data[k] && lo <= s->ranges.data[k + 1]) {
                        vec_push(&set, s->to);
                        break;
                    }
            }
            if (!set.len) continue;
            /* the targets may repeat: closure() dedups through `seen` only for new ones */
            qsort(set.data, set.len, sizeof(int32_t), cmp_i32);
            size_t w = 0;
            for (size_t i = 0; i < set.len; i++)
                if (!w || set.data[w - 1] != set.data[i]) set.data[w++] = set.data[i];
            set.len = w;
            closure(a, &set, seen);
            int32_t to = subset_state(d, &index, &sets, &set, accept);
            if (d->states.len > RX_DFA_MAX_STATES) {
                failed = 1;
                break;
            }
            dfa_add_edge(d, (int32_t)q, lo, hi, to);
        }
    }
    for (size_t i = 0; i < sets.len; i++) vec_free(&sets.data[i]);
    vec_free(&sets);
    vec_free(&set);
    vec_free(&bounds);
    free(seen);
    strmap_free(&index);
    if (failed) {
        rx_dfa_free(d);
        mlcc_set_error("%s: the pattern's automaton has more than %d states (too complex)", what, RX_DFA_MAX_STATES);
        return NULL;
    }
    dfa_trim(d);
    return d;
}

rx_dfa *rx_dfa_from_regex(const char *re, size_t len, int wide, const char *what) {
    mlcc_strbuf g = STRBUF_INIT;
    if (wide ? gram_regex_to_gbnf_wide(re, len, &g, what) : gram_regex_to_gbnf(re, len, 0, 0, &g, what)) {
        sb_free(&g);
        return NULL;
    }
    nfa a = {{0}, g.data, g.len, 0, what ? what : "regex"};
    frag f;
    rx_dfa *d = NULL;
    if (!parse_alt(&a, &f)) {
        if (a.pos != a.n)
            nfa_err(&a, "unexpected text in the pattern's grammar");
        else
            d = subset_construction(&a, f.start, f.end, a.what);
    }
    nfa_free(&a);
    sb_free(&g);
    return d;
}

static int utf8_next(const unsigned char *s, size_t n, size_t *i, uint32_t *cp) {
    unsigned c = s[*i];
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (!len || *i + (size_t)len > n) return -1;
    uint32_t v = len == 1 ? c : len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
    for (int k = 1; k < len; k++) {
        if ((s[*i + k] & 0xC0) != 0x80) return -1;
        v = (v << 6) | (s[*i + k] & 0x3F);
    }
    *i += (size_t)len;
    *cp = v;
    return 0;
}

static int32_t edge_target(const rx_state *s, uint32_t cp) {
    size_t lo = 0, hi = s->edges.len;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const rx_edge *e = &s->edges.data[mid];
        if (cp < e->lo)
            hi = mid;
        else if (cp > e->hi)
            lo = mid + 1;
        else
            return e->to;
    }
    return -1;
}

rx_dfa *rx_dfa_from_strings(const char *const *strs, size_t n) {
    rx_dfa *d = mlcc_xmalloc(sizeof *d);
    memset(d, 0, sizeof *d);
    dfa_add_state(d, 0);
    for (size_t i = 0; i < n; i++) {
        const unsigned char *s = (const unsigned char *)strs[i];
        size_t len = strlen(strs[i]), k = 0;
        int32_t q = 0;
        while (k < len) {
            uint32_t cp;
            if (utf8_next(s, len, &k, &cp)) break; /* not UTF-8: no JSON string has it */
            int32_t to = edge_target(&d->states.data[q], cp);
            if (to < 0) {
                to = (int32_t)d->states.len;
                dfa_add_state(d, 0);
                /* keep the edges sorted */
                rx_state *st = &d->states.data[q];
                rx_edge e = {cp, cp, to};
                vec_push(&st->edges, e);
                for (size_t j = st->edges.len - 1; j > 0 && st->edges.data[j - 1].lo > cp; j--) {
                    rx_edge t = st->edges.data[j - 1];
                    st->edges.data[j - 1] = st->edges.data[j];
                    st->edges.data[j] = t;
                }
            }
            q = to;
        }
        if (k == len) d->states.data[q].accept = 1;
    }
    dfa_trim(d);
    return d;
}

rx_dfa *rx_dfa_length(long long min, long long max) {
    rx_dfa *d = mlcc_xmalloc(sizeof *d);
    memset(d, 0, sizeof *d);
    if (min < 0) min = 0;
    if (max >= 0 && max < min) return d;
    long long last = max >= 0 ? max : min;
    for (long long i = 0; i <= last; i++) dfa_add_state(d, i >= min);
    for (long long i = 0; i < last; i++) dfa_add_edge(d, (int32_t)i, 0, MAX_CP, (int32_t)i + 1);
    if (max < 0) dfa_add_edge(d, (int32_t)last, 0, MAX_CP, (int32_t)last);
    return d;
}

/* ---- products ---- */

static int32_t pair_state(rx_dfa *d, mlcc_strmap *index, i32vec *pairs, int32_t x, int32_t y, int accept) {
    int32_t key[2] = {x, y};
    int inserted;
    mlcc_strmap_entry *e = strmap_upsert(index, (const char *)key, sizeof key, &inserted);
    if (inserted) {
        e->value.i = (int64_t)d->states.len;
        dfa_add_state(d, accept);
        vec_push(pairs, x);
        vec_push(pairs, y);
    }
    return (int32_t)e->value.i;
}

/* A state's accept value: 0, or the tag it carries (1 unless set). */
static int accepts(const rx_dfa *d, int32_t q) {
    return q >= 0 ? d->states.data[q].accept : 0;
}

/* The accept value of a pair: the left side's tag where it accepts, else (or) the right's. */
static int combine(int x, int y, rx_op op) {
    return op == RX_AND ? (x && y ? x : 0) : op == RX_AND_NOT ? (x && !y ? x : 0) : x ? x : y;
}

void rx_dfa_set_tag(rx_dfa *d, int tag) {
    for (size_t q = 0; q < d->states.len; q++)
        if (d->states.data[q].accept) d->states.data[q].accept = tag;
}

rx_dfa *rx_dfa_product(const rx_dfa *a, const rx_dfa *b, rx_op op) {
    rx_dfa *d = mlcc_xmalloc(sizeof *d);
    memset(d, 0, sizeof *d);
    int32_t sa = a->states.len ? 0 : -1, sb = b->states.len ? 0 : -1;
    if ((op != RX_OR && sa < 0) || (op == RX_AND && sb < 0) || (sa < 0 && sb < 0)) return d;
    mlcc_strmap index;
    strmap_init(&index);
    i32vec pairs = {0};
    u32vec bounds = {0};
    pair_state(d, &index, &pairs, sa, sb, combine(accepts(a, sa), accepts(b, sb), op));
    int failed = 0;
    for (size_t q = 0; q < d->states.len && !failed; q++) {
        int32_t x = pairs.data[2 * q], y = pairs.data[2 * q + 1];
        const rx_state *xs = x >= 0 ? &a->states.data[x] : NULL, *ys = y >= 0 ? &b->states.data[y] : NULL;
        bounds.len = 0;
        for (int side = 0; side < 2; side++) {
            const rx_state *s = side ? ys : xs;
            if (!s) continue;
            for (size_t k = 0; k < s->edges.len; k++) {
                vec_push(&bounds, s->edges.data[k].lo);
                vec_push(&bounds, s->edges.data[k].hi + 1);
            }
        }
        if (!bounds.len) continue;
        qsort(bounds.data, bounds.len, sizeof(uint32_t), cmp_u32);
        for (size_t k = 0; k + 1 < bounds.len; k++) {
            uint32_t lo = bounds.data[k];
            if (bounds.data[k + 1] == lo) continue;
            int32_t tx = xs ? edge_target(xs, lo) : -1, ty = ys ? edge_target(ys, lo) : -1;
            if (tx < 0 && (op != RX_OR || ty < 0)) continue;
            if (op == RX_AND && ty < 0) continue;
            int32_t to = pair_state(d, &index, &pairs, tx, ty, combine(accepts(a, tx), accepts(b, ty), op));
            if (d->states.len > RX_DFA_MAX_STATES) {
                failed = 1;
                break;
            }
            dfa_add_edge(d, (int32_t)q, lo, bounds.data[k + 1] - 1, to);
        }
    }
    vec_free(&pairs);
    vec_free(&bounds);
    strmap_free(&index);
    if (failed) {
        rx_dfa_free(d);
        mlcc_set_error("combining patterns and names gives an automaton of more than %d states (too complex)", RX_DFA_MAX_STATES);
        return NULL;
    }
    dfa_trim(d);
    return d;
}

rx_dfa *rx_dfa_complement(const rx_dfa *a) {
    rx_dfa *all = rx_dfa_length(0, -1);
    rx_dfa *d = rx_dfa_product(all, a, RX_AND_NOT);
    rx_dfa_free(all);
    return d;
}

int rx_dfa_matches(const rx_dfa *d, const char *text, size_t len) {
    if (!d->states.len) return 0;
    int32_t q = 0;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        if (utf8_next((const unsigned char *)text, len, &i, &cp)) return 0;
        q = edge_target(&d->states.data[q], cp);
        if (q < 0) return 0;
    }
    return d->states.data[q].accept;
}

long long rx_dfa_shortest(const rx_dfa *d) {
    size_t n = d->states.len;
    if (!n) return -1;
    long long *dist = mlcc_xmalloc(n * sizeof(long long));
    int32_t *queue = mlcc_xmalloc(n * sizeof(int32_t));
    for (size_t i = 0; i < n; i++) dist[i] = -1;
    size_t head = 0, tail = 0;
    dist[0] = 0;
    queue[tail++] = 0;
    long long best = -1;
    while (head < tail) {
        int32_t q = queue[head++];
        if (d->states.data[q].accept) {
            best = dist[q];
            break;
        }
        const rx_state *s = &d->states.data[q];
        for (size_t k = 0; k < s->edges.len; k++)
            if (dist[s->edges.data[k].to] < 0) {
                dist[s->edges.data[k].to] = dist[q] + 1;
                queue[tail++] = s->edges.data[k].to;
            }
    }
    free(dist);
    free(queue);
    return best;
}

int rx_dfa_is_finite(const rx_dfa *d) {
    /* Kahn's algorithm: every state gets removed iff there is no cycle (all states of a
     * trimmed DFA are reachable and live, so any cycle makes the language infinite) */
    size_t n = d->states.len, done = 0, tail = 0;
    if (!n) return 1;
    int32_t *indeg = mlcc_xmalloc(n * sizeof(int32_t)), *queue = mlcc_xmalloc(n * sizeof(int32_t));
    memset(indeg, 0, n * sizeof(int32_t));
    for (size_t q = 0; q < n; q++)
        for (size_t k = 0; k < d->states.data[q].edges.len; k++) indeg[d->states.data[q].edges.data[k].to]++;
    for (size_t q = 0; q < n; q++)
        if (!indeg[q]) queue[tail++] = (int32_t)q;
    while (done < tail) {
        const rx_state *s = &d->states.data[queue[done++]];
        for (size_t k = 0; k < s->edges.len; k++)
            if (--indeg[s->edges.data[k].to] == 0) queue[tail++] = s->edges.data[k].to;
    }
    free(indeg);
    free(queue);
    return done == n;
}

/* ---- back to GBNF ---- */

void rx_dfa_to_gbnf(const rx_dfa *d, int json_string, const char *rule_prefix, int first_rule, const char *const *accept_text,
                    mlcc_strbuf *rules, mlcc_strbuf *out) {
    u32vec set = {0};
    for (size_t q = 0; q < d->states.len; q++) {
        const rx_state *s = &d->states.data[q];
        sb_printf(rules, "%s%d ::=", rule_prefix, first_rule + (int)q);
        int alts = 0;
        /* one alternative per target: the union of the ranges leading there */
        for (size_t k = 0; k < s->edges.len; k++) {
            int32_t to = s->edges.data[k].to;
            int done = 0;
            for (size_t j = 0; j < k && !done; j++) done = s->edges.data[j].to == to;
            if (done) continue;
            set.len = 0;
            for (size_t j = k; j < s->edges.len; j++)
                if (s->edges.data[j].to == to) {
                    vec_push(&set, s->edges.data[j].lo);
                    vec_push(&set, s->edges.data[j].hi);
                }
            sb_append(rules, alts++ ? " | " : " ");
            gram_cp_set_to_gbnf(set.data, set.len / 2, json_string, rules);
            sb_printf(rules, " %s%d", rule_prefix, first_rule + (int)to);
        }
        if (s->accept) {
            sb_append(rules, alts++ ? " | " : " ");
            sb_append(rules, accept_text ? accept_text[s->accept] : "\"\"");
        }
        sb_append(rules, "\n");
    }
    vec_free(&set);
    sb_printf(out, "%s%d", rule_prefix, first_rule);
}
