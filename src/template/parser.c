/* parser.c - recursive-descent parser for Jinja templates, following jinja2/parser.py: the
 * same precedence ladder (condexpr < or < and < not < compare < +,- < ~ < *,/,//,% < ** <
 * unary < postfix/filters/tests), the same statement tags and the same end-tag rules. */
#include "template/parser.h"

#include <stdlib.h>
#include <string.h>

#include "support/alloc.h"
#include "support/error.h"
#include "template/lexer.h"

typedef struct parser {
    mlcc_template *t;
    token_list toks;
    size_t pos;
    int depth;      /* expression/statement nesting */
    int loop_depth; /* for break/continue */
    stmt *macro;    /* the innermost macro being parsed */
    int expr_nest;  /* parse_expression calls in progress */
} parser;

static token *cur(parser *p) { return &p->toks.data[p->pos]; }
static token *peek(parser *p, size_t k) {
    size_t i = p->pos + k;
    return &p->toks.data[i < p->toks.len ? i : p->toks.len - 1];
}
static void advance(parser *p) {
    if (p->pos + 1 < p->toks.len) p->pos++;
}

static const char *describe(token *t) {
    switch (t->kind) {
    case TK_EOF: return "end of template";
    case TK_DATA: return "template data";
    case TK_VAR_BEGIN: return "'{{'";
    case TK_VAR_END: return "end of print statement";
    case TK_BLOCK_BEGIN: return "'{%'";
    case TK_BLOCK_END: return "end of statement block";
    case TK_NAME: return t->str;
    case TK_STRING: return "string";
    case TK_INT: return "integer";
    case TK_FLOAT: return "float";
    case TK_OP: return t->op;
    case TK_ERROR: return "invalid input";
    }
    return "token";
}

static int perr_at(parser *p, token *t, const char *fmt, ...) MLCC_PRINTF(3, 4);
static int perr_at(parser *p, token *t, const char *fmt, ...) {
    if (t->kind == TK_ERROR || cur(p)->kind == TK_ERROR)
        return mlcc_set_error("%s", t->kind == TK_ERROR ? t->str : cur(p)->str);
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return mlcc_set_error("%s:%d:%d: syntax error: %s", p->t->name, t->line, t->col, msg);
}

static int is_op(token *t, const char *op) { return t->kind == TK_OP && strcmp(t->op, op) == 0; }
static int is_name(token *t, const char *name) { return t->kind == TK_NAME && strcmp(t->str, name) == 0; }

static int expect_op(parser *p, const char *op) {
    if (!is_op(cur(p), op))
        return perr_at(p, cur(p), "expected '%s', got '%s'", op, describe(cur(p)));
    advance(p);
    return 0;
}

static int expect_block_end(parser *p) {
    if (cur(p)->kind != TK_BLOCK_END)
        return perr_at(p, cur(p), "expected end of statement block, got '%s'", describe(cur(p)));
    advance(p);
    return 0;
}

static expr *new_expr(parser *p, expr_kind kind, token *at) {
    expr *e = ARENA_NEW(&p->t->arena, expr);
    e->kind = kind;
    e->line = at->line;
    e->col = at->col;
    return e;
}

static stmt *new_stmt(parser *p, stmt_kind kind, token *at) {
    stmt *s = ARENA_NEW(&p->t->arena, stmt);
    s->kind = kind;
    s->line = at->line;
    s->col = at->col;
    return s;
}

static const char *dup_name(parser *p, token *t) { return arena_strdup(&p->t->arena, t->str); }

static expr *const_expr(parser *p, token *at, jv v) {
    expr *e = new_expr(p, E_CONST, at);
    /* Constants are shared by every render of the template, possibly on several threads at
     * once: make them immortal (no reference counting) with their length cached up front. */
    if (v.kind == JV_STR) {
        jv_str_ncp(v.u.s);
        v.u.s->rc = JV_IMMORTAL;
    }
    e->value = v;
    vec_push(&p->t->consts, v);
    return e;
}

/* A growable array of expression pointers built during parsing, copied into the arena. */
typedef MLCC_VEC(expr *) expr_vec;

static expr **freeze(parser *p, expr_vec *v) {
    expr **out = ARENA_ARRAY(&p->t->arena, expr *, v->len ? v->len : 1);
    if (v->len) memcpy(out, v->data, v->len * sizeof(expr *));
    vec_free(v);
    return out;
}

static expr *parse_expression(parser *p, int with_condexpr);
static expr *parse_unary(parser *p, int with_filter);
static expr *parse_primary(parser *p);
static expr *parse_postfix(parser *p, expr *node);
static expr *parse_filter(parser *p, expr *node, int start_inline);

static int enter(parser *p) {
    if (++p->depth > TEMPLATE_MAX_NESTING) {
        perr_at(p, cur(p), "expression or block nested more than %d levels deep", TEMPLATE_MAX_NESTING);
        return -1;
    }
    return 0;
}

/* Ends of a tuple: the tag end, ')' or an extra end name. */
static int is_tuple_end(parser *p, const char *const *extra) {
    token *t = cur(p);
    if (t->kind == TK_VAR_END || t->kind == TK_BLOCK_END || is_op(t, ")")) return 1;
    for (; extra && *extra; extra++)
        if (is_name(t, *extra)) return 1;
    return 0;
}

/* parse_tuple: "a, b" becomes a tuple; "a" stays an expression. simplified: primaries only. */
static expr *parse_tuple(parser *p, int simplified, int with_condexpr, const char *const *extra,
                         int explicit_parens) {
    token *start = cur(p);
    expr_vec items = {0};
    int is_tuple = 0;
    for (;;) {
        if (items.len && expect_op(p, ",") < 0) goto fail;
        if (is_tuple_end(p, extra)) break;
        expr *e = simplified ? parse_primary(p) : parse_expression(p, with_condexpr);
        if (!e) goto fail;
        vec_push(&items, e);
        if (is_op(cur(p), ",")) is_tuple = 1;
        else break;
    }
    if (!is_tuple) {
        if (items.len) {
            expr *e = items.data[0];
            vec_free(&items);
            return e;
        }
        if (!explicit_parens) {
            perr_at(p, cur(p), "expected an expression, got '%s'", describe(cur(p)));
            goto fail;
        }
    }
    expr *t = new_expr(p, E_TUPLE, start);
    t->n = items.len;
    t->items = freeze(p, &items);
    return t;
fail:
    vec_free(&items);
    return NULL;
}

static int parse_call_args(parser *p, call_args *out) {
    /* at '(' */
    token *open = cur(p);
    advance(p);
    expr_vec pos = {0}, kw = {0};
    MLCC_VEC(const char *) names = {0};
    int ok = 0;
    while (!is_op(cur(p), ")")) {
        if (pos.len + kw.len + (out->star ? 1 : 0) + (out->starstar ? 1 : 0)) {
            if (expect_op(p, ",") < 0) goto done;
            if (is_op(cur(p), ")")) break;
        }
        if (is_op(cur(p), "*") || is_op(cur(p), "**")) {
            int two = is_op(cur(p), "**");
            advance(p);
            expr *e = parse_expression(p, 1);
            if (!e) goto done;
            if (two) out->starstar = e;
            else out->star = e;
        } else if (cur(p)->kind == TK_NAME && is_op(peek(p, 1), "=")) {
            vec_push(&names, dup_name(p, cur(p)));
            advance(p);
            advance(p);
            expr *e = parse_expression(p, 1);
            if (!e) goto done;
            vec_push(&kw, e);
        } else {
            if (kw.len || out->star || out->starstar) {
                perr_at(p, cur(p), "positional argument after keyword argument");
                goto done;
            }
            expr *e = parse_expression(p, 1);
            if (!e) goto done;
            vec_push(&pos, e);
        }
    }
    if (expect_op(p, ")") < 0) goto done;
    (void)open;
    ok = 1;
done:
    out->npos = pos.len;
    out->pos = freeze(p, &pos);
    out->nkw = kw.len;
    out->kw = freeze(p, &kw);
    out->kwnames = ARENA_ARRAY(&p->t->arena, const char *, names.len ? names.len : 1);
    if (names.len) memcpy(out->kwnames, names.data, names.len * sizeof(char *));
    vec_free(&names);
    return ok ? 0 : -1;
}

static expr *parse_primary(parser *p) {
    token *t = cur(p);
    if (enter(p) < 0) return NULL;
    expr *e = NULL;
    if (t->kind == TK_NAME) {
        if (!strcmp(t->str, "true") || !strcmp(t->str, "True")) e = const_expr(p, t, jv_bool(1));
        else if (!strcmp(t->str, "false") || !strcmp(t->str, "False")) e = const_expr(p, t, jv_bool(0));
        else if (!strcmp(t->str, "none") || !strcmp(t->str, "None")) e = const_expr(p, t, jv_none());
        else {
            e = new_expr(p, E_NAME, t);
            e->name = dup_name(p, t);
            /* a macro accepts extra arguments / a caller only if its body uses these names */
            if (p->macro && !strcmp(t->str, "varargs")) p->macro->recursive |= MACRO_USES_VARARGS;
            if (p->macro && !strcmp(t->str, "kwargs")) p->macro->recursive |= MACRO_USES_KWARGS;
            if (p->macro && !strcmp(t->str, "caller")) p->macro->recursive |= MACRO_USES_CALLER;
        }
        advance(p);
    } else if (t->kind == TK_STRING) {
        mlcc_strbuf sb = STRBUF_INIT;
        while (cur(p)->kind == TK_STRING) {
            sb_append_n(&sb, cur(p)->str, cur(p)->len);
            advance(p);
        }
        e = const_expr(p, t, jv_str_take_sb(&sb));
    } else if (t->kind == TK_INT) {
        e = const_expr(p, t, jv_int(t->ival));
        advance(p);
    } else if (t->kind == TK_FLOAT) {
        e = const_expr(p, t, jv_float(t->fval));
        advance(p);
    } else if (is_op(t, "(")) {
        advance(p);
        e = parse_tuple(p, 0, 1, NULL, 1);
        if (e && expect_op(p, ")") < 0) e = NULL;
    } else if (is_op(t, "[")) {
        advance(p);
        expr_vec items = {0};
        while (!is_op(cur(p), "]")) {
            if (items.len && expect_op(p, ",") < 0) break;
            if (is_op(cur(p), "]")) break;
            expr *x = parse_expression(p, 1);
            if (!x) break;
            vec_push(&items, x);
        }
        if (is_op(cur(p), "]")) {
            advance(p);
            e = new_expr(p, E_LIST, t);
            e->n = items.len;
            e->items = freeze(p, &items);
        } else vec_free(&items);
    } else if (is_op(t, "{")) {
        advance(p);
        expr_vec items = {0};
        int bad = 0;
        while (!is_op(cur(p), "}")) {
            if (items.len && expect_op(p, ",") < 0) {
                bad = 1;
                break;
            }
            if (is_op(cur(p), "}")) break;
            expr *k = parse_expression(p, 1);
            if (!k || expect_op(p, ":") < 0) {
                bad = 1;
                break;
            }
            expr *v = parse_expression(p, 1);
            if (!v) {
                bad = 1;
                break;
            }
            vec_push(&items, k);
            vec_push(&items, v);
        }
        if (!bad && is_op(cur(p), "}")) {
            advance(p);
            e = new_expr(p, E_DICT, t);
            e->n = items.len;
            e->items = freeze(p, &items);
        } else vec_free(&items);
    } else {
        perr_at(p, t, "unexpected '%s'", describe(t));
    }
    p->depth--;
    return e;
}

static expr *parse_subscribed(parser *p) {
    token *start = cur(p);
    expr *parts[3] = {NULL, NULL, NULL};
    if (is_op(cur(p), ":")) {
        advance(p);
    } else {
        expr *node = parse_expression(p, 1);
        if (!node) return NULL;
        if (!is_op(cur(p), ":")) return node;
        advance(p);
        parts[0] = node;
    }
    if (!is_op(cur(p), ":") && !is_op(cur(p), "]") && !is_op(cur(p), ",")) {
        if (!(parts[1] = parse_expression(p, 1))) return NULL;
    }
    if (is_op(cur(p), ":")) {
        advance(p);
        if (!is_op(cur(p), "]") && !is_op(cur(p), ",")) {
            if (!(parts[2] = parse_expression(p, 1))) return NULL;
        }
    }
    expr *s = new_expr(p, E_SLICE, start);
    s->items = ARENA_ARRAY(&p->t->arena, expr *, 3);
    memcpy(s->items, parts, sizeof parts);
    s->n = 3;
    return s;
}

static expr *parse_subscript(parser *p, expr *node) {
    token *t = cur(p);
    if (is_op(t, ".")) {
        advance(p);
        token *a = cur(p);
        if (a->kind == TK_NAME) {
            expr *e = new_expr(p, E_ATTR, t);
            e->a = node;
            e->name = dup_name(p, a);
            advance(p);
            return e;
        }
        if (a->kind == TK_INT) {
            expr *e = new_expr(p, E_ITEM, t);
            e->a = node;
            e->b = const_expr(p, a, jv_int(a->ival));
            advance(p);
            return e;
        }
        perr_at(p, a, "expected name or number after '.'");
        return NULL;
    }
    /* '[' */
    advance(p);
    expr_vec args = {0};
    while (!is_op(cur(p), "]")) {
        if (args.len && expect_op(p, ",") < 0) {
            vec_free(&args);
            return NULL;
        }
        expr *x = parse_subscribed(p);
        if (!x) {
            vec_free(&args);
            return NULL;
        }
        vec_push(&args, x);
    }
    if (expect_op(p, "]") < 0) {
        vec_free(&args);
        return NULL;
    }
    if (args.len > 1)
        for (size_t i = 0; i < args.len; i++)
            if (args.data[i]->kind == E_SLICE) {
                /* Jinja2 compiles this to invalid Python and fails the same way */
                perr_at(p, t, "a slice cannot be part of a tuple subscript");
                vec_free(&args);
                return NULL;
            }
    expr *arg;
    if (args.len == 1) {
        arg = args.data[0];
        vec_free(&args);
    } else {
        arg = new_expr(p, E_TUPLE, t);
        arg->n = args.len;
        arg->items = freeze(p, &args);
    }
    if (arg->kind == E_SLICE) {
        arg->a = node;
        return arg;
    }
    expr *e = new_expr(p, E_ITEM, t);
    e->a = node;
    e->b = arg;
    return e;
}

static expr *parse_postfix(parser *p, expr *node) {
    while (node) {
        token *t = cur(p);
        if (is_op(t, ".") || is_op(t, "[")) node = parse_subscript(p, node);
        else if (is_op(t, "(")) {
            expr *c = new_expr(p, E_CALL, t);
            /* a failed call points at what was called */
            c->line = node->line;
            c->col = node->col;
            c->a = node;
            if (parse_call_args(p, &c->args) < 0) return NULL;
            node = c;
        } else break;
    }
    return node;
}

/* A dotted filter/test name. */
static const char *parse_dotted_name(parser *p) {
    if (cur(p)->kind != TK_NAME) {
        perr_at(p, cur(p), "expected a filter or test name, got '%s'", describe(cur(p)));
        return NULL;
    }
    mlcc_strbuf sb = STRBUF_INIT;
    sb_append(&sb, cur(p)->str);
    advance(p);
    while (is_op(cur(p), ".") && peek(p, 1)->kind == TK_NAME) {
        advance(p);
        sb_append_char(&sb, '.');
        sb_append(&sb, cur(p)->str);
        advance(p);
    }
    const char *name = arena_strdup(&p->t->arena, sb_cstr(&sb));
    sb_free(&sb);
    return name;
}

static expr *parse_filter(parser *p, expr *node, int start_inline) {
    while (is_op(cur(p), "|") || start_inline) {
        token *t = cur(p);
        if (!start_inline) advance(p);
        start_inline = 0;
        const char *name = parse_dotted_name(p);
        if (!name) return NULL;
        expr *f = new_expr(p, E_FILTER, t);
        f->a = node;
        f->name = name;
        if (is_op(cur(p), "(") && parse_call_args(p, &f->args) < 0) return NULL;
        node = f;
    }
    return node;
}

static expr *parse_test(parser *p, expr *node) {
    token *t = cur(p);
    advance(p); /* is */
    int negated = 0;
    if (is_name(cur(p), "not")) {
        negated = 1;
        advance(p);
    }
    const char *name = parse_dotted_name(p);
    if (!name) return NULL;
    expr *e = new_expr(p, E_TEST, t);
    e->a = node;
    e->name = name;
    e->negated = negated;
    token *c = cur(p);
    if (is_op(c, "(")) {
        if (parse_call_args(p, &e->args) < 0) return NULL;
    } else if ((c->kind == TK_NAME || c->kind == TK_STRING || c->kind == TK_INT || c->kind == TK_FLOAT ||
                is_op(c, "[") || is_op(c, "{")) &&
               !is_name(c, "else") && !is_name(c, "or") && !is_name(c, "and")) {
        if (is_name(c, "is")) {
            perr_at(p, c, "you cannot chain multiple tests with 'is'");
            return NULL;
        }
        expr *arg = parse_postfix(p, parse_primary(p));
        if (!arg) return NULL;
        e->args.pos = ARENA_ARRAY(&p->t->arena, expr *, 1);
        e->args.pos[0] = arg;
        e->args.npos = 1;
    }
    return e;
}

static expr *parse_filter_expr(parser *p, expr *node) {
    while (node) {
        token *t = cur(p);
        if (is_op(t, "|")) node = parse_filter(p, node, 0);
        else if (is_name(t, "is")) node = parse_test(p, node);
        else if (is_op(t, "(")) {
            expr *c = new_expr(p, E_CALL, t);
            c->a = node;
            if (parse_call_args(p, &c->args) < 0) return NULL;
            node = c;
        } else break;
    }
    return node;
}

static expr *parse_unary(parser *p, int with_filter) {
    token *t = cur(p);
    if (enter(p) < 0) return NULL;
    expr *node;
    if (is_op(t, "-") || is_op(t, "+")) {
        advance(p);
        expr *x = parse_unary(p, 0);
        node = NULL;
        if (x) {
            node = new_expr(p, is_op(t, "-") ? E_NEG : E_POS, t);
            node->a = x;
        }
    } else {
        node = parse_primary(p);
    }
    node = parse_postfix(p, node);
    if (with_filter) node = parse_filter_expr(p, node);
    p->depth--;
    return node;
}

static expr *binop_node(parser *p, token *t, int op, expr *l, expr *r) {
    expr *e = new_expr(p, E_BINOP, t);
    e->op = op;
    e->a = l;
    e->b = r;
    return e;
}

static expr *parse_pow(parser *p) {
    expr *l = parse_unary(p, 1);
    while (l && is_op(cur(p), "**")) {
        token *t = cur(p);
        advance(p);
        expr *r = parse_unary(p, 1);
        l = r ? binop_node(p, t, OP_POW, l, r) : NULL;
    }
    return l;
}

static expr *parse_math2(parser *p) {
    expr *l = parse_pow(p);
    for (;;) {
        token *t = cur(p);
        int op = is_op(t, "*") ? OP_MUL : is_op(t, "/") ? OP_DIV : is_op(t, "//") ? OP_FLOORDIV
                                                         : is_op(t, "%") ? OP_MOD : -1;
        if (!l || op < 0) return l;
        advance(p);
        expr *r = parse_pow(p);
        l = r ? binop_node(p, t, op, l, r) : NULL;
    }
}

static expr *parse_concat(parser *p) {
    token *t = cur(p);
    expr *first = parse_math2(p);
    if (!first || !is_op(cur(p), "~")) return first;
    expr_vec items = {0};
    vec_push(&items, first);
    while (is_op(cur(p), "~")) {
        advance(p);
        expr *x = parse_math2(p);
        if (!x) {
            vec_free(&items);
            return NULL;
        }
        vec_push(&items, x);
    }
    expr *e = new_expr(p, E_CONCAT, t);
    e->n = items.len;
    e->items = freeze(p, &items);
    return e;
}

static expr *parse_math1(parser *p) {
    expr *l = parse_concat(p);
    for (;;) {
        token *t = cur(p);
        int op = is_op(t, "+") ? OP_ADD : is_op(t, "-") ? OP_SUB : -1;
        if (!l || op < 0) return l;
        advance(p);
        expr *r = parse_concat(p);
        l = r ? binop_node(p, t, op, l, r) : NULL;
    }
}

static expr *parse_compare(parser *p) {
    token *start = cur(p);
    expr *first = parse_math1(p);
    if (!first) return NULL;
    expr_vec items = {0};
    MLCC_VEC(int) ops = {0};
    vec_push(&items, first);
    for (;;) {
        token *t = cur(p);
        int op = -1;
        if (is_op(t, "==")) op = CMP_EQ;
        else if (is_op(t, "!=")) op = CMP_NE;
        else if (is_op(t, "<")) op = CMP_LT;
        else if (is_op(t, "<=")) op = CMP_LE;
        else if (is_op(t, ">")) op = CMP_GT;
        else if (is_op(t, ">=")) op = CMP_GE;
        else if (is_name(t, "in")) op = CMP_IN;
        else if (is_name(t, "not") && is_name(peek(p, 1), "in")) {
            op = CMP_NOTIN;
            advance(p);
        }
        if (op < 0) break;
        advance(p);
        expr *x = parse_math1(p);
        if (!x) {
            vec_free(&items);
            vec_free(&ops);
            return NULL;
        }
        vec_push(&items, x);
        vec_push(&ops, op);
    }
    if (items.len == 1) {
        vec_free(&items);
        return first;
    }
    expr *e = new_expr(p, E_CMP, start);
    e->n = items.len;
    e->items = freeze(p, &items);
    e->ops = ARENA_ARRAY(&p->t->arena, int, ops.len);
    memcpy(e->ops, ops.data, ops.len * sizeof(int));
    vec_free(&ops);
    return e;
}

static expr *parse_not(parser *p) {
    token *t = cur(p);
    if (is_name(t, "not")) {
        advance(p);
        if (enter(p) < 0) return NULL;
        expr *x = parse_not(p);
        p->depth--;
        if (!x) return NULL;
        expr *e = new_expr(p, E_NOT, t);
        e->a = x;
        return e;
    }
    return parse_compare(p);
}

static expr *parse_and(parser *p) {
    expr *l = parse_not(p);
    while (l && is_name(cur(p), "and")) {
        token *t = cur(p);
        advance(p);
        expr *r = parse_not(p);
        if (!r) return NULL;
        expr *e = new_expr(p, E_AND, t);
        e->a = l;
        e->b = r;
        l = e;
    }
    return l;
}

static expr *parse_or(parser *p) {
    expr *l = parse_and(p);
    while (l && is_name(cur(p), "or")) {
        token *t = cur(p);
        advance(p);
        expr *r = parse_and(p);
        if (!r) return NULL;
        expr *e = new_expr(p, E_OR, t);
        e->a = l;
        e->b = r;
        l = e;
    }
    return l;
}

static expr *parse_condexpr(parser *p) {
    expr *e1 = parse_or(p);
    while (e1 && is_name(cur(p), "if")) {
        token *t = cur(p);
        advance(p);
        expr *e2 = parse_or(p);
        if (!e2) return NULL;
        expr *e3 = NULL;
        if (is_name(cur(p), "else")) {
            advance(p);
            if (enter(p) < 0) return NULL;
            e3 = parse_condexpr(p);
            p->depth--;
            if (!e3) return NULL;
        }
        expr *c = new_expr(p, E_COND, t);
        c->a = e2;
        c->b = e1;
        c->c = e3;
        e1 = c;
    }
    return e1;
}

/* Whether e's tree is deeper than limit (looking no deeper than that). Operator chains such as
 * 1 + 1 + ... + 1 are parsed in a loop, so the parser's own nesting limit does not bound them;
 * evaluation recurses over the tree, so its depth must be bounded too. */
static int deeper_than(const expr *e, int limit) {
    if (!e) return 0;
    if (limit <= 0) return 1;
    if (deeper_than(e->a, limit - 1) || deeper_than(e->b, limit - 1) || deeper_than(e->c, limit - 1)) return 1;
    for (size_t i = 0; i < e->n; i++)
        if (deeper_than(e->items[i], limit - 1)) return 1;
    for (size_t i = 0; i < e->args.npos; i++)
        if (deeper_than(e->args.pos[i], limit - 1)) return 1;
    for (size_t i = 0; i < e->args.nkw; i++)
        if (deeper_than(e->args.kw[i], limit - 1)) return 1;
    return deeper_than(e->args.star, limit - 1) || deeper_than(e->args.starstar, limit - 1);
}

static expr *parse_expression(parser *p, int with_condexpr) {
    token *start = cur(p);
    if (enter(p) < 0) return NULL;
    p->expr_nest++;
    expr *e = with_condexpr ? parse_condexpr(p) : parse_or(p);
    p->expr_nest--;
    p->depth--;
    if (e && p->expr_nest == 0 && deeper_than(e, TEMPLATE_MAX_EXPR_DEPTH)) {
        perr_at(p, start, "expression nested more than %d levels deep", TEMPLATE_MAX_EXPR_DEPTH);
        return NULL;
    }
    return e;
}

/* ---- statements ---- */

static int subparse(parser *p, stmt_list *out, const char *const *end_tags);

static int check_assign_target(parser *p, expr *e, token *at) {
    if (e->kind == E_NAME) {
        if (!strcmp(e->name, "true") || !strcmp(e->name, "false") || !strcmp(e->name, "none"))
            return perr_at(p, at, "cannot assign to '%s'", e->name);
        return 0;
    }
    if (e->kind == E_TUPLE) {
        for (size_t i = 0; i < e->n; i++)
            if (check_assign_target(p, e->items[i], at) < 0) return -1;
        return 0;
    }
    return perr_at(p, at, "can't assign to this expression");
}

static expr *parse_assign_target(parser *p, int with_namespace, const char *const *extra) {
    token *t = cur(p);
    if (with_namespace && t->kind == TK_NAME && is_op(peek(p, 1), ".") && peek(p, 2)->kind == TK_NAME) {
        expr *base = new_expr(p, E_NAME, t);
        base->name = dup_name(p, t);
        advance(p);
        advance(p);
        expr *e = new_expr(p, E_ATTR, t);
        e->a = base;
        e->name = dup_name(p, cur(p));
        advance(p);
        return e;
    }
    expr *e = parse_tuple(p, 1, 1, extra, 0);
    if (!e || check_assign_target(p, e, t) < 0) return NULL;
    return e;
}

static int parse_body(parser *p, stmt_list *out, const char *const *end_tags) {
    if (enter(p) < 0) return -1;
    int rc = subparse(p, out, end_tags);
    p->depth--;
    return rc;
}

/* After subparse stopped at "{% tag": consumes the tag name. */
static const char *take_end_tag(parser *p) {
    const char *name = cur(p)->str;
    advance(p);
    return name;
}

static stmt *parse_if(parser *p, token *at) {
    static const char *const ends[] = {"elif", "else", "endif", NULL};
    stmt *s = new_stmt(p, S_IF, at);
    if (!(s->e = parse_tuple(p, 0, 0, NULL, 0)) || expect_block_end(p) < 0) return NULL;
    if (parse_body(p, &s->body, ends) < 0) return NULL;
    token *tag = cur(p);
    const char *end = take_end_tag(p);
    if (!strcmp(end, "elif")) {
        stmt *elif = parse_if(p, tag);
        if (!elif) return NULL;
        s->else_body.items = ARENA_ARRAY(&p->t->arena, stmt *, 1);
        s->else_body.items[0] = elif;
        s->else_body.n = 1;
        return s;
    }
    if (!strcmp(end, "else")) {
        static const char *const endif[] = {"endif", NULL};
        if (expect_block_end(p) < 0 || parse_body(p, &s->else_body, endif) < 0) return NULL;
        take_end_tag(p);
    }
    if (expect_block_end(p) < 0) return NULL;
    return s;
}

static stmt *parse_for(parser *p, token *at) {
    static const char *const in_end[] = {"in", NULL};
    static const char *const rec_end[] = {"recursive", NULL};
    static const char *const ends[] = {"endfor", "else", NULL};
    stmt *s = new_stmt(p, S_FOR, at);
    if (!(s->target = parse_assign_target(p, 0, in_end))) return NULL;
    if (!is_name(cur(p), "in")) {
        perr_at(p, cur(p), "expected 'in', got '%s'", describe(cur(p)));
        return NULL;
    }
    advance(p);
    if (!(s->e = parse_tuple(p, 0, 0, rec_end, 0))) return NULL;
    if (is_name(cur(p), "if")) {
        advance(p);
        if (!(s->cond = parse_expression(p, 1))) return NULL;
    }
    if (is_name(cur(p), "recursive")) {
        advance(p);
        s->recursive = 1;
    }
    if (expect_block_end(p) < 0) return NULL;
    p->loop_depth++;
    int rc = parse_body(p, &s->body, ends);
    p->loop_depth--;
    if (rc < 0) return NULL;
    if (!strcmp(take_end_tag(p), "else")) {
        static const char *const endfor[] = {"endfor", NULL};
        if (expect_block_end(p) < 0 || parse_body(p, &s->else_body, endfor) < 0) return NULL;
        take_end_tag(p);
    }
    if (expect_block_end(p) < 0) return NULL;
    return s;
}

static stmt *parse_set(parser *p, token *at) {
    token *t = cur(p);
    expr *target = parse_assign_target(p, 1, NULL);
    if (!target) return NULL;
    if (is_op(cur(p), "=")) {
        advance(p);
        stmt *s = new_stmt(p, S_SET, at);
        s->target = target;
        if (!(s->e = parse_tuple(p, 0, 1, NULL, 0)) || expect_block_end(p) < 0) return NULL;
        return s;
    }
    (void)t;
    stmt *s = new_stmt(p, S_SETBLOCK, at);
    s->target = target;
    if (is_op(cur(p), "|") && !(s->e = parse_filter(p, NULL, 0))) return NULL;
    if (s->e && deeper_than(s->e, TEMPLATE_MAX_EXPR_DEPTH)) {
        perr_at(p, at, "expression nested more than %d levels deep", TEMPLATE_MAX_EXPR_DEPTH);
        return NULL;
    }
    static const char *const ends[] = {"endset", NULL};
    if (expect_block_end(p) < 0 || parse_body(p, &s->body, ends) < 0) return NULL;
    take_end_tag(p);
    if (expect_block_end(p) < 0) return NULL;
    return s;
}

static int parse_signature(parser *p, stmt *s) {
    if (expect_op(p, "(") < 0) return -1;
    MLCC_VEC(const char *) names = {0};
    expr_vec defs = {0};
    int ok = 0;
    while (!is_op(cur(p), ")")) {
        if (names.len && expect_op(p, ",") < 0) goto done;
        if (cur(p)->kind != TK_NAME) {
            perr_at(p, cur(p), "expected a parameter name, got '%s'", describe(cur(p)));
            goto done;
        }
        vec_push(&names, dup_name(p, cur(p)));
        advance(p);
        expr *d = NULL;
        if (is_op(cur(p), "=")) {
            advance(p);
            if (!(d = parse_expression(p, 1))) goto done;
        } else if (defs.len && defs.data[defs.len - 1]) {
            perr_at(p, cur(p), "non-default argument follows default argument");
            goto done;
        }
        vec_push(&defs, d);
    }
    advance(p);
    ok = 1;
done:
    s->nparams = names.len;
    s->params = ARENA_ARRAY(&p->t->arena, const char *, names.len ? names.len : 1);
    if (names.len) memcpy(s->params, names.data, names.len * sizeof(char *));
    s->defaults = freeze(p, &defs);
    vec_free(&names);
    return ok ? 0 : -1;
}

static stmt *parse_macro(parser *p, token *at) {
    stmt *s = new_stmt(p, S_MACRO, at);
    if (cur(p)->kind != TK_NAME) {
        perr_at(p, cur(p), "expected a macro name");
        return NULL;
    }
    s->name = dup_name(p, cur(p));
    advance(p);
    if (parse_signature(p, s) < 0 || expect_block_end(p) < 0) return NULL;
    static const char *const ends[] = {"endmacro", NULL};
    int saved = p->loop_depth;
    stmt *saved_macro = p->macro;
    p->loop_depth = 0;
    p->macro = s;
    int rc = parse_body(p, &s->body, ends);
    p->loop_depth = saved;
    p->macro = saved_macro;
    if (rc < 0) return NULL;
    take_end_tag(p);
    if (expect_block_end(p) < 0) return NULL;
    return s;
}

static stmt *parse_call_block(parser *p, token *at) {
    stmt *s = new_stmt(p, S_CALLBLOCK, at);
    s->name = "caller";
    if (is_op(cur(p), "(")) {
        if (parse_signature(p, s) < 0) return NULL;
    } else {
        s->params = ARENA_ARRAY(&p->t->arena, const char *, 1);
        s->defaults = ARENA_ARRAY(&p->t->arena, expr *, 1);
    }
    token *t = cur(p);
    if (!(s->e = parse_expression(p, 1))) return NULL;
    if (s->e->kind != E_CALL) {
        perr_at(p, t, "expected a call expression after 'call'");
        return NULL;
    }
    if (expect_block_end(p) < 0) return NULL;
    static const char *const ends[] = {"endcall", NULL};
    int saved = p->loop_depth;
    p->loop_depth = 0;
    int rc = parse_body(p, &s->body, ends);
    p->loop_depth = saved;
    if (rc < 0) return NULL;
    take_end_tag(p);
    if (expect_block_end(p) < 0) return NULL;
    return s;
}

static stmt *parse_with(parser *p, token *at) {
    stmt *s = new_stmt(p, S_WITH, at);
    expr_vec targets = {0}, values = {0};
    while (cur(p)->kind != TK_BLOCK_END) {
        if (targets.len && expect_op(p, ",") < 0) goto fail;
        expr *t = parse_assign_target(p, 0, NULL);
        if (!t || expect_op(p, "=") < 0) goto fail;
        expr *v = parse_expression(p, 1);
        if (!v) goto fail;
        vec_push(&targets, t);
        vec_push(&values, v);
    }
    advance(p);
    s->nwith = targets.len;
    s->targets = freeze(p, &targets);
    s->values = freeze(p, &values);
    static const char *const ends[] = {"endwith", NULL};
    if (parse_body(p, &s->body, ends) < 0) return NULL;
    take_end_tag(p);
    if (expect_block_end(p) < 0) return NULL;
    return s;
fail:
    vec_free(&targets);
    vec_free(&values);
    return NULL;
}

/* {% block name %}, {% generation %}, {% autoescape x %}: the body renders in place. */
static stmt *parse_passthrough(parser *p, token *at, const char *end_tag) {
    stmt *s = new_stmt(p, S_BLOCK, at);
    while (cur(p)->kind != TK_BLOCK_END && cur(p)->kind != TK_EOF && cur(p)->kind != TK_ERROR) advance(p);
    if (expect_block_end(p) < 0) return NULL;
    const char *ends[] = {end_tag, NULL};
    if (parse_body(p, &s->body, ends) < 0) return NULL;
    take_end_tag(p);
    while (cur(p)->kind == TK_NAME) advance(p); /* {% endblock name %} */
    if (expect_block_end(p) < 0) return NULL;
    return s;
}

static stmt *parse_statement(parser *p) {
    token *at = cur(p);
    advance(p); /* {% */
    token *t = cur(p);
    if (t->kind != TK_NAME) {
        perr_at(p, t, "tag name expected");
        return NULL;
    }
    const char *name = t->str;
    advance(p);
    if (!strcmp(name, "if")) return parse_if(p, at);
    if (!strcmp(name, "for")) return parse_for(p, at);
    if (!strcmp(name, "set")) return parse_set(p, at);
    if (!strcmp(name, "macro")) return parse_macro(p, at);
    if (!strcmp(name, "call")) return parse_call_block(p, at);
    if (!strcmp(name, "with")) return parse_with(p, at);
    if (!strcmp(name, "filter")) {
        stmt *s = new_stmt(p, S_FILTERBLOCK, at);
        if (!(s->e = parse_filter(p, NULL, 1)) || expect_block_end(p) < 0) return NULL;
        if (deeper_than(s->e, TEMPLATE_MAX_EXPR_DEPTH)) {
            perr_at(p, at, "expression nested more than %d levels deep", TEMPLATE_MAX_EXPR_DEPTH);
            return NULL;
        }
        static const char *const ends[] = {"endfilter", NULL};
        if (parse_body(p, &s->body, ends) < 0) return NULL;
        take_end_tag(p);
        return expect_block_end(p) < 0 ? NULL : s;
    }
    if (!strcmp(name, "break") || !strcmp(name, "continue")) {
        if (p->loop_depth == 0) {
            perr_at(p, t, "'%s' outside of a loop", name);
            return NULL;
        }
        stmt *s = new_stmt(p, name[0] == 'b' ? S_BREAK : S_CONTINUE, at);
        return expect_block_end(p) < 0 ? NULL : s;
    }
    if (!strcmp(name, "print")) {
        stmt *s = new_stmt(p, S_OUTPUT, at);
        if (!(s->e = parse_tuple(p, 0, 1, NULL, 0)) || expect_block_end(p) < 0) return NULL;
        return s;
    }
    if (!strcmp(name, "block")) return parse_passthrough(p, at, "endblock");
    if (!strcmp(name, "generation")) return parse_passthrough(p, at, "endgeneration");
    if (!strcmp(name, "autoescape")) return parse_passthrough(p, at, "endautoescape");
    if (!strcmp(name, "extends") || !strcmp(name, "include") || !strcmp(name, "import") ||
        !strcmp(name, "from")) {
        perr_at(p, t, "'%s' is not supported in chat templates (there is no template loader)", name);
        return NULL;
    }
    perr_at(p, t, "encountered unknown tag '%s'", name);
    return NULL;
}

static int subparse(parser *p, stmt_list *out, const char *const *end_tags) {
    MLCC_VEC(stmt *) body = {0};
    int rc = -1;
    for (;;) {
        token *t = cur(p);
        if (t->kind == TK_EOF) {
            if (end_tags) {
                mlcc_strbuf sb = STRBUF_INIT;
                for (const char *const *e = end_tags; *e; e++)
                    sb_printf(&sb, "%s'%s'", e == end_tags ? "" : " or ", *e);
                perr_at(p, t, "unexpected end of template; expected %s", sb_cstr(&sb));
                sb_free(&sb);
                goto done;
            }
            rc = 0;
            goto done;
        }
        if (t->kind == TK_DATA) {
            stmt *s = new_stmt(p, S_DATA, t);
            s->text = arena_strndup(&p->t->arena, t->str, t->len);
            s->len = t->len;
            vec_push(&body, s);
            advance(p);
        } else if (t->kind == TK_VAR_BEGIN) {
            advance(p);
            stmt *s = new_stmt(p, S_OUTPUT, t);
            if (!(s->e = parse_tuple(p, 0, 1, NULL, 0))) goto done;
            if (cur(p)->kind != TK_VAR_END) {
                perr_at(p, cur(p), "expected end of print statement, got '%s'", describe(cur(p)));
                goto done;
            }
            advance(p);
            vec_push(&body, s);
        } else if (t->kind == TK_BLOCK_BEGIN) {
            token *n = peek(p, 1);
            if (end_tags && n->kind == TK_NAME) {
                for (const char *const *e = end_tags; *e; e++)
                    if (!strcmp(n->str, *e)) {
                        advance(p); /* leave the tag name for the caller */
                        rc = 0;
                        goto done;
                    }
            }
            if (n->kind == TK_NAME && (!strncmp(n->str, "end", 3) || !strcmp(n->str, "else") ||
                                       !strcmp(n->str, "elif"))) {
                if (end_tags) {
                    mlcc_strbuf sb = STRBUF_INIT;
                    for (const char *const *e = end_tags; *e; e++)
                        sb_printf(&sb, "%s'%s'", e == end_tags ? "" : " or ", *e);
                    perr_at(p, n, "unexpected '%s'; expected %s", n->str, sb_cstr(&sb));
                    sb_free(&sb);
                } else {
                    perr_at(p, n, "unexpected '%s' (no block is open)", n->str);
                }
                goto done;
            }
            stmt *s = parse_statement(p);
            if (!s) goto done;
            vec_push(&body, s);
        } else {
            perr_at(p, t, "unexpected '%s'", describe(t));
            goto done;
        }
    }
done:
    out->n = body.len;
    out->items = ARENA_ARRAY(&p->t->arena, stmt *, body.len ? body.len : 1);
    if (body.len) memcpy(out->items, body.data, body.len * sizeof(stmt *));
    vec_free(&body);
    return rc;
}

int template_parse_body(mlcc_template *t) {
    parser p = {t, {0}, 0, 0, 0, NULL, 0};
    lex_template(t->src, t->len, t->name, &p.toks);
    int rc = subparse(&p, &t->body, NULL);
    token_list_free(&p.toks);
    if (rc == 0) template_fold_constants(t);
    return rc;
}
