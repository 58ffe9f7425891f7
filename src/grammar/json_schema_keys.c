/* json_schema_keys.c - the members of an object that its named properties do not cover, as
 * exact regular languages of keys (regex_dfa.c).
 *
 * JSON Schema gives an unnamed key the schemas of every patternProperties pattern it matches
 * (all of them together), or additionalProperties when it matches none. So the keys split
 * into regions, one per set S of patterns: the names matching exactly the patterns of S,
 * less the names the object already writes as named properties (or forbids). Each region is
 * a DFA (intersections and differences of the patterns' automata), written as GBNF with the
 * allOf of S's schemas as its value. With many patterns only the single-pattern regions are
 * written (keys matching several patterns are then never generated: a subset, still valid). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/json_schema.h"
#include "grammar/regex_dfa.h"
#include "support/alloc.h"
#include "support/error.h"

/* At most this many patterns get every combination; more get the single-pattern regions. */
#define ALL_REGIONS_UP_TO 4

static void pattern_ptr(mlcc_strbuf *sb, const char *ptr, const char *pattern) {
    sb_clear(sb);
    sb_append(sb, ptr);
    js_ptr_append(sb, "patternProperties");
    js_ptr_append(sb, pattern);
}

/* d and (or and-not) e into d; -1 with an error when the product grows too large. */
static int combine(rx_dfa **d, const rx_dfa *e, rx_op op) {
    rx_dfa *r = rx_dfa_product(*d, e, op);
    if (!r) return -1;
    rx_dfa_free(*d);
    *d = r;
    return 0;
}

/* The regions gathered so far: their union (disjoint languages, each tagged) and, by tag, what
 * follows a key of it (the closing quote, the colon and the value). */
typedef struct regions {
    rx_dfa *keys;
    MLCC_VEC(char *) tails; /* [0] unused */
} regions;

/* Adds a region and its schema; one whose schema allows no value is left out. */
static int add_region(jsg *j, regions *rs, rx_dfa *keys, json_t *schema, const char *ptr) {
    mlcc_strbuf value = STRBUF_INIT;
    j->unsat = 0;
    if (js_gen(j, schema, ptr, &value)) {
        sb_free(&value);
        if (!j->unsat) return -1;
        j->unsat = 0;
        return 0;
    }
    const char *w = j->opt.flexible_whitespace ? "ws" : "";
    mlcc_strbuf tail = STRBUF_INIT;
    sb_printf(&tail, "\"\\\"\" %s \":\" %s %s", w, w, value.data);
    sb_free(&value);
    if (!rs->tails.len) vec_push(&rs->tails, NULL);
    rx_dfa_set_tag(keys, (int)rs->tails.len);
    vec_push(&rs->tails, sb_detach(&tail));
    if (!rs->keys) {
        rs->keys = rx_dfa_product(keys, keys, RX_AND); /* a copy */
        return rs->keys ? 0 : -1;
    }
    return combine(&rs->keys, keys, RX_OR);
}

/* All regions as one deterministic automaton: a key walks one path, and the state where it
 * ends says which region (which value) it is. */
static void emit_regions(jsg *j, regions *rs, mlcc_strbuf *extra) {
    /* the cap on unbounded strings holds for keys too, so random walks end */
    int cap = j->opt.max_string_chars;
    rx_dfa *capped = NULL;
    if (cap > 0 && !rx_dfa_is_finite(rs->keys)) {
        rx_dfa *len = rx_dfa_length(0, rx_dfa_shortest(rs->keys) + cap);
        capped = rx_dfa_product(rs->keys, len, RX_AND); /* too large to cap: uncapped is as valid */
        rx_dfa_free(len);
    }
    const rx_dfa *d = capped ? capped : rs->keys;
    sb_append(extra, "\"\\\"\" ");
    rx_dfa_to_gbnf(d, 1, "r", j->counter, (const char *const *)rs->tails.data, &j->rules, extra);
    j->counter += (int)d->states.len;
    rx_dfa_free(capped);
}

int js_key_regions(jsg *j, json_t *pprops, json_t *other, const char *const *taken, size_t ntaken, const rx_dfa *allowed,
                   const char *ptr, mlcc_strbuf *extra) {
    size_t n = json_object_size(pprops), i = 0;
    /* each pattern's keys: narrow where a key must match it, wide where it must not */
    rx_dfa **pd = mlcc_xmalloc((n ? n : 1) * sizeof *pd), **pw = mlcc_xmalloc((n ? n : 1) * sizeof *pw);
    json_t **ps = mlcc_xmalloc((n ? n : 1) * sizeof *ps);
    const char **pk = mlcc_xmalloc((n ? n : 1) * sizeof *pk);
    mlcc_strbuf pp = STRBUF_INIT;
    rx_dfa *names = rx_dfa_from_strings(taken, ntaken), *region = NULL;
    if (allowed) { /* keys propertyNames rules out count as taken */
        rx_dfa *out = rx_dfa_complement(allowed), *both = out ? rx_dfa_product(names, out, RX_OR) : NULL;
        rx_dfa_free(out);
        rx_dfa_free(names);
        names = both;
    }
    int rc = names ? 0 : -1;
    if (rc) n = 0;
    const char *key;
    json_t *v;
    if (!rc) json_object_foreach(pprops, key, v) {
        pattern_ptr(&pp, ptr, key);
        pk[i] = key;
        ps[i] = v;
        pd[i] = rx_dfa_from_regex(key, strlen(key), 0, pp.data);
        pw[i] = pd[i] ? rx_dfa_from_regex(key, strlen(key), 1, pp.data) : NULL;
        if (!pd[i] || !pw[i]) {
            rx_dfa_free(pd[i]);
            rx_dfa_free(pw[i]);
            rc = -1;
            n = i;
            break;
        }
        i++;
    }
    regions rs = {0};
    int all = n <= ALL_REGIONS_UP_TO;
    /* every non-empty subset of the patterns, or each single one */
    size_t nsets = all ? ((size_t)1 << n) - 1 : n;
    for (size_t t = 0; !rc && t < nsets; t++) {
        size_t set = all ? t + 1 : (size_t)1 << t;
        size_t first = 0;
        while (!(set >> first & 1)) first++;
        region = rx_dfa_product(pd[first], names, RX_AND_NOT);
        json_t *schema = json_incref(ps[first]);
        int err = 0;
        for (size_t k = 0; region && k < n && !err; k++) {
            if (k == first) continue;
            if (combine(&region, set >> k & 1 ? pd[k] : pw[k], set >> k & 1 ? RX_AND : RX_AND_NOT)) {
                rx_dfa_free(region);
                region = NULL;
                break;
            }
        }
        if (!region) {
            json_decref(schema);
            rc = -1;
            break;
        }
        if (rx_dfa_is_empty(region)) {
            json_decref(schema);
            rx_dfa_free(region);
            region = NULL;
            continue;
        }
        for (size_t k = first + 1; k < n && schema; k++) {
            if (!(set >> k & 1)) continue;
            json_t *m = js_merge(j, schema, ps[k], ptr, &err);
            json_decref(schema);
            schema = m;
        }
        if (!schema) {
            rc = -1;
        } else {
            pattern_ptr(&pp, ptr, pk[first]);
            rc = add_region(j, &rs, region, schema, pp.data);
            json_decref(schema);
        }
        rx_dfa_free(region);
        region = NULL;
    }
    if (!rc && other) { /* keys matching no pattern: additionalProperties */
        region = rx_dfa_complement(names);
        for (size_t k = 0; region && k < n; k++)
            if (combine(&region, pw[k], RX_AND_NOT)) {
                rx_dfa_free(region);
                region = NULL;
            }
        if (!region)
            rc = -1;
        else if (!rx_dfa_is_empty(region)) {
            mlcc_strbuf ap = STRBUF_INIT;
            sb_printf(&ap, "%s/additionalProperties", ptr);
            rc = add_region(j, &rs, region, other, ap.data);
            sb_free(&ap);
        }
        rx_dfa_free(region);
    }
    if (!rc && rs.keys && !rx_dfa_is_empty(rs.keys)) emit_regions(j, &rs, extra);
    rx_dfa_free(rs.keys);
    for (size_t k = 0; k < rs.tails.len; k++) free(rs.tails.data[k]);
    vec_free(&rs.tails);
    if (rc && !strstr(mlcc_last_error(), "JSON schema at")) {
        /* automaton errors name no place in the schema */
        mlcc_strbuf msg = STRBUF_INIT;
        sb_append(&msg, mlcc_last_error());
        js_err(ptr, "patternProperties: %s", msg.data);
        sb_free(&msg);
    }
    for (size_t k = 0; k < n; k++) {
        rx_dfa_free(pd[k]);
        rx_dfa_free(pw[k]);
    }
    free(pd);
    free(pw);
    free(ps);
    free(pk);
    rx_dfa_free(names);
    sb_free(&pp);
    return rc;
}
