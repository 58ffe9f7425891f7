/* replay.c - parses a printed schedule trace and applies it to a schedule (see schedule.h).
 *
 * The accepted language is exactly what the primitives print, one instruction a line:
 *     [name {, name} =] sch.<primitive>(<arg> {, <arg>})
 * where an argument is a trace name (b0, l3), a string ("C"), an integer, or
 * factors=[<int>|None, ...].
 * Blank lines and lines starting with '#' are skipped. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schedule/state.h"
#include "support/error.h"
#include "support/hashmap.h"

#define MAX_ITEMS 64

typedef enum { ARG_NAME, ARG_STRING, ARG_FACTORS, ARG_INT } arg_kind;

typedef struct {
    arg_kind kind;
    char text[128];
    int64_t factors[MAX_ITEMS];
    int nfactors;
    int64_t ival;
} trace_arg;

typedef struct {
    char targets[MAX_ITEMS][64];
    int ntargets;
    char prim[64];
    trace_arg args[MAX_ITEMS];
    int nargs;
} trace_inst;

typedef struct {
    const char *p;
    int line;
} lexer;

static void skip_space(lexer *lx) {
    while (*lx->p == ' ' || *lx->p == '\t' || *lx->p == '\r') lx->p++;
}

static int expect(lexer *lx, char c) {
    skip_space(lx);
    if (*lx->p != c) return mlcc_set_error("trace line %d: expected '%c' at \"%.20s\"", lx->line, c, lx->p);
    lx->p++;
    return 0;
}

static int ident(lexer *lx, char *out, size_t cap) {
    skip_space(lx);
    size_t n = 0;
    if (!isalpha((unsigned char)*lx->p) && *lx->p != '_')
        return mlcc_set_error("trace line %d: expected a name at \"%.20s\"", lx->line, lx->p);
    while (isalnum((unsigned char)*lx->p) || *lx->p == '_') {
        if (n + 1 >= cap) return mlcc_set_error("trace line %d: name too long", lx->line);
        out[n++] = *lx->p++;
    }
    out[n] = 0;
    return 0;
}

static int parse_factors(lexer *lx, trace_arg *a) {
    if (expect(lx, '[')) return -1;
    a->kind = ARG_FACTORS;
    a->nfactors = 0;
    for (;;) {
        skip_space(lx);
        if (*lx->p == ']') break;
        if (a->nfactors == MAX_ITEMS) return mlcc_set_error("trace line %d: too many factors", lx->line);
        if (!strncmp(lx->p, "None", 4)) {
            a->factors[a->nfactors++] = SCH_INFER;
            lx->p += 4;
        } else {
            char *end;
            long long v = strtoll(lx->p, &end, 10);
            if (end == lx->p) return mlcc_set_error("trace line %d: expected a factor at \"%.20s\"", lx->line, lx->p);
            a->factors[a->nfactors++] = v;
            lx->p = end;
        }
        skip_space(lx);
        if (*lx->p == ',') lx->p++;
        else break;
    }
    return expect(lx, ']');
}

static int parse_arg(lexer *lx, trace_arg *a) {
    skip_space(lx);
    if (*lx->p == '"') {
        lx->p++;
        size_t n = 0;
        while (*lx->p && *lx->p != '"' && *lx->p != '\n') {
            if (n + 1 >= sizeof a->text) return mlcc_set_error("trace line %d: string too long", lx->line);
            a->text[n++] = *lx->p++;
        }
        a->text[n] = 0;
        a->kind = ARG_STRING;
        return expect(lx, '"');
    }
    if (*lx->p == '[') return parse_factors(lx, a);
    if (isdigit((unsigned char)*lx->p) || (*lx->p == '-' && isdigit((unsigned char)lx->p[1]))) {
        char *end;
        errno = 0;
        a->ival = strtoll(lx->p, &end, 10);
        if (errno) return mlcc_set_error("trace line %d: integer out of range at \"%.20s\"", lx->line, lx->p);
        lx->p = end;
        a->kind = ARG_INT;
        return 0;
    }
    char name[128];
    if (ident(lx, name, sizeof name)) return -1;
    skip_space(lx);
    if (*lx->p == '=') {
        lx->p++;
        if (strcmp(name, "factors") != 0)
            return mlcc_set_error("trace line %d: unknown keyword argument '%s'", lx->line, name);
        return parse_factors(lx, a);
    }
    a->kind = ARG_NAME;
    snprintf(a->text, sizeof a->text, "%s", name);
    return 0;
}

static int parse_line(lexer *lx, trace_inst *in) {
    memset(in, 0, sizeof *in);
    skip_space(lx);
    /* targets, if the line has an '=' before "sch." */
    if (strncmp(lx->p, "sch.", 4) != 0) {
        for (;;) {
            if (in->ntargets == MAX_ITEMS) return mlcc_set_error("trace line %d: too many results", lx->line);
            if (ident(lx, in->targets[in->ntargets++], sizeof in->targets[0])) return -1;
            skip_space(lx);
            if (*lx->p == ',') {
                lx->p++;
                continue;
            }
            if (expect(lx, '=')) return -1;
            break;
        }
        skip_space(lx);
    }
    if (strncmp(lx->p, "sch.", 4) != 0)
        return mlcc_set_error("trace line %d: expected \"sch.\" at \"%.20s\"", lx->line, lx->p);
    lx->p += 4;
    if (ident(lx, in->prim, sizeof in->prim) || expect(lx, '(')) return -1;
    skip_space(lx);
    while (*lx->p != ')') {
        if (in->nargs == MAX_ITEMS) return mlcc_set_error("trace line %d: too many arguments", lx->line);
        if (parse_arg(lx, &in->args[in->nargs++])) return -1;
        skip_space(lx);
        if (*lx->p == ',') lx->p++;
        else if (*lx->p != ')') return mlcc_set_error("trace line %d: expected ',' or ')' at \"%.20s\"", lx->line, lx->p);
        skip_space(lx);
    }
    lx->p++;
    skip_space(lx);
    if (*lx->p && *lx->p != '\n' && *lx->p != '#')
        return mlcc_set_error("trace line %d: unexpected text \"%.20s\"", lx->line, lx->p);
    return 0;
}

/* ---- execution ---- */

typedef struct {
    mlcc_strmap loops;  /* trace name -> loop var */
    mlcc_strmap blocks; /* trace name -> block name */
    int line;
} replay_env;

static mlcc_expr *arg_loop(replay_env *env, const trace_arg *a) {
    mlcc_expr *v = a->kind == ARG_NAME ? strmap_get_p(&env->loops, a->text) : NULL;
    if (!v) mlcc_set_error("trace line %d: '%s' is not a loop", env->line, a->text);
    return v;
}

static const char *arg_block(replay_env *env, const trace_arg *a) {
    const char *b = a->kind == ARG_NAME ? strmap_get_p(&env->blocks, a->text) : NULL;
    if (!b) mlcc_set_error("trace line %d: '%s' is not a block", env->line, a->text);
    return b;
}

static int want(replay_env *env, const trace_inst *in, int nargs, int ntargets) {
    if (nargs >= 0 && in->nargs != nargs)
        return mlcc_set_error("trace line %d: %s takes %d argument(s), got %d", env->line, in->prim, nargs, in->nargs);
    if (ntargets >= 0 && in->ntargets != ntargets)
        return mlcc_set_error("trace line %d: %s gives %d result(s), the line names %d", env->line, in->prim, ntargets,
                              in->ntargets);
    return 0;
}

static int run_inst(mlcc_schedule *s, replay_env *env, const trace_inst *in) {
    const char *p = in->prim;
    if (!strcmp(p, "get_block")) {
        if (want(env, in, 1, 1)) return -1;
        if (in->args[0].kind != ARG_STRING) return mlcc_set_error("trace line %d: get_block needs a name", env->line);
        const char *b = sch_get_block(s, in->args[0].text);
        if (!b) return -1;
        strmap_set_p(&env->blocks, in->targets[0], (void *)b);
        return 0;
    }
    if (!strcmp(p, "get_loops")) {
        const char *b;
        if (want(env, in, 1, -1) || !(b = arg_block(env, &in->args[0]))) return -1;
        mlcc_expr **loops;
        int n = sch_get_loops(s, b, &loops);
        if (n < 0) return -1;
        if (want(env, in, 1, n)) return -1;
        for (int i = 0; i < n; i++) strmap_set_p(&env->loops, in->targets[i], loops[i]);
        return 0;
    }
    if (!strcmp(p, "split")) {
        mlcc_expr *l;
        if (want(env, in, 2, -1) || !(l = arg_loop(env, &in->args[0]))) return -1;
        if (in->args[1].kind != ARG_FACTORS) return mlcc_set_error("trace line %d: split needs factors=[...]", env->line);
        int n = in->args[1].nfactors;
        if (want(env, in, 2, n)) return -1;
        mlcc_expr *out[MAX_ITEMS];
        if (sch_split(s, l, in->args[1].factors, n, out)) return -1;
        for (int i = 0; i < n; i++) strmap_set_p(&env->loops, in->targets[i], out[i]);
        return 0;
    }
    if (!strcmp(p, "fuse") || !strcmp(p, "reorder")) {
        int is_fuse = p[0] == 'f';
        if (want(env, in, -1, is_fuse ? 1 : 0)) return -1;
        mlcc_expr *loops[MAX_ITEMS];
        for (int i = 0; i < in->nargs; i++)
            if (!(loops[i] = arg_loop(env, &in->args[i]))) return -1;
        if (!is_fuse) return sch_reorder(s, loops, in->nargs);
        mlcc_expr *f = sch_fuse(s, loops, in->nargs);
        if (!f) return -1;
        strmap_set_p(&env->loops, in->targets[0], f);
        return 0;
    }
    if (!strcmp(p, "parallel") || !strcmp(p, "vectorize") || !strcmp(p, "unroll")) {
        mlcc_expr *l;
        if (want(env, in, 1, 0) || !(l = arg_loop(env, &in->args[0]))) return -1;
        return p[0] == 'p' ? sch_parallel(s, l) : p[0] == 'v' ? sch_vectorize(s, l) : sch_unroll(s, l);
    }
    if (!strcmp(p, "bind")) {
        mlcc_expr *l;
        if (want(env, in, 2, 0) || !(l = arg_loop(env, &in->args[0]))) return -1;
        if (in->args[1].kind != ARG_STRING) return mlcc_set_error("trace line %d: bind needs a thread axis", env->line);
        return sch_bind(s, l, in->args[1].text);
    }
    if (!strcmp(p, "compute_inline") || !strcmp(p, "reverse_compute_inline")) {
        const char *b;
        if (want(env, in, 1, 0) || !(b = arg_block(env, &in->args[0]))) return -1;
        return p[0] == 'c' ? sch_compute_inline(s, b) : sch_reverse_compute_inline(s, b);
    }
    if (!strcmp(p, "compute_at") || !strcmp(p, "reverse_compute_at")) {
        const char *b;
        mlcc_expr *l;
        if (want(env, in, 2, 0) || !(b = arg_block(env, &in->args[0])) || !(l = arg_loop(env, &in->args[1]))) return -1;
        return p[0] == 'c' ? sch_compute_at(s, b, l) : sch_reverse_compute_at(s, b, l);
    }
    if (!strcmp(p, "cache_read") || !strcmp(p, "cache_write")) {
        const char *b;
        if (want(env, in, 3, 1) || !(b = arg_block(env, &in->args[0]))) return -1;
        if (in->args[1].kind != ARG_INT || in->args[2].kind != ARG_STRING || in->args[1].ival < 0 ||
            in->args[1].ival > 1000000)
            return mlcc_set_error("trace line %d: %s needs a block, a buffer index and a scope string", env->line, p);
        int idx = (int)in->args[1].ival;
        const char *c = p[6] == 'r' ? sch_cache_read(s, b, idx, in->args[2].text) : sch_cache_write(s, b, idx, in->args[2].text);
        if (!c) return -1;
        strmap_set_p(&env->blocks, in->targets[0], (void *)c);
        return 0;
    }
    if (!strcmp(p, "rfactor")) {
        mlcc_expr *l;
        if (want(env, in, 2, 1) || !(l = arg_loop(env, &in->args[0]))) return -1;
        if (in->args[1].kind != ARG_INT || in->args[1].ival < 0 || in->args[1].ival > 64)
            return mlcc_set_error("trace line %d: rfactor needs a loop and a factor axis (0..64)", env->line);
        const char *b = sch_rfactor(s, l, (int)in->args[1].ival);
        if (!b) return -1;
        strmap_set_p(&env->blocks, in->targets[0], (void *)b);
        return 0;
    }
    if (!strcmp(p, "storage_align")) {
        const char *b;
        if (want(env, in, 5, 0) || !(b = arg_block(env, &in->args[0]))) return -1;
        for (int i = 1; i < 5; i++)
            if (in->args[i].kind != ARG_INT || in->args[i].ival < INT32_MIN || in->args[i].ival > INT32_MAX)
                return mlcc_set_error("trace line %d: storage_align needs a block and four integers", env->line);
        return sch_storage_align(s, b, (int)in->args[1].ival, (int)in->args[2].ival, in->args[3].ival, in->args[4].ival);
    }
    if (!strcmp(p, "decompose_reduction")) {
        const char *b;
        mlcc_expr *l;
        if (want(env, in, 2, 1) || !(b = arg_block(env, &in->args[0])) || !(l = arg_loop(env, &in->args[1]))) return -1;
        const char *init = sch_decompose_reduction(s, b, l);
        if (!init) return -1;
        strmap_set_p(&env->blocks, in->targets[0], (void *)init);
        return 0;
    }
    if (!strcmp(p, "annotate") || !strcmp(p, "unannotate")) {
        int set = p[0] == 'a';
        if (want(env, in, set ? 3 : 2, 0)) return -1;
        if (in->args[0].kind != ARG_NAME || in->args[1].kind != ARG_STRING || (set && in->args[2].kind != ARG_INT))
            return mlcc_set_error("trace line %d: %s needs a loop or block, a key string%s", env->line, p,
                                  set ? " and an integer" : "");
        mlcc_expr *l = strmap_get_p(&env->loops, in->args[0].text);
        const char *b = l ? NULL : strmap_get_p(&env->blocks, in->args[0].text);
        if (!l && !b) return mlcc_set_error("trace line %d: '%s' is not a loop or block", env->line, in->args[0].text);
        if (set)
            return l ? sch_annotate_loop(s, l, in->args[1].text, in->args[2].ival)
                     : sch_annotate_block(s, b, in->args[1].text, in->args[2].ival);
        return l ? sch_unannotate_loop(s, l, in->args[1].text) : sch_unannotate_block(s, b, in->args[1].text);
    }
    if (!strcmp(p, "blockize")) {
        mlcc_expr *l;
        if (want(env, in, 1, 1) || !(l = arg_loop(env, &in->args[0]))) return -1;
        const char *b = sch_blockize(s, l);
        if (!b) return -1;
        strmap_set_p(&env->blocks, in->targets[0], (void *)b);
        return 0;
    }
    if (!strcmp(p, "tensorize")) {
        mlcc_expr *l;
        if (want(env, in, 2, 0) || !(l = arg_loop(env, &in->args[0]))) return -1;
        if (in->args[1].kind != ARG_STRING) return mlcc_set_error("trace line %d: tensorize needs an intrinsic name", env->line);
        return sch_tensorize(s, l, in->args[1].text);
    }
    return mlcc_set_error("trace line %d: unknown primitive '%s'", env->line, p);
}

int sch_replay(mlcc_schedule *s, const char *text) {
    replay_env env;
    strmap_init(&env.loops);
    strmap_init(&env.blocks);
    int rc = 0;
    lexer lx = {text, 0};
    trace_inst *in = mlcc_xmalloc(sizeof *in);
    while (rc == 0 && *lx.p) {
        lx.line++;
        env.line = lx.line;
        const char *eol = strchr(lx.p, '\n');
        skip_space(&lx);
        if (*lx.p != '\n' && *lx.p != '#' && *lx.p) {
            rc = parse_line(&lx, in);
            if (rc == 0) {
                rc = run_inst(s, &env, in);
                if (rc) mlcc_prefix_error("replay line %d", lx.line);
            }
        }
        if (!eol) break;
        lx.p = eol + 1;
    }
    free(in);
    strmap_free(&env.loops);
    strmap_free(&env.blocks);
    return rc;
}
