/* parser.h - builds the statement tree of a template from its tokens (Jinja2's parser.py
 * grammar, with the loopcontrols extension and transformers' {% generation %} block). */
#ifndef MLCC_TEMPLATE_PARSER_H
#define MLCC_TEMPLATE_PARSER_H

#include "support/arena.h"
#include "support/vec.h"
#include "template/ast.h"
#include "template/template.h"

/* How deep expressions and statements may nest (a syntax error beyond, never a crash). */
#define TEMPLATE_MAX_NESTING 200
/* How deep an expression tree may be, operator chains included. */
#define TEMPLATE_MAX_EXPR_DEPTH 400

struct mlcc_template {
    char *name;
    char *src; /* normalized source */
    size_t len;
    mlcc_arena arena;
    stmt_list body;
    MLCC_VEC(jv) consts; /* constants to release with the template */
};

/* Parses t->src into t->body. -1 with an error on failure. */
int template_parse_body(mlcc_template *t);

/* Jinja2's optimizer (fold.c): folds constant expressions of the parsed template. */
void template_fold_constants(mlcc_template *t);
/* Evaluates e as Jinja2's as_const() would, with no context (eval.c): 0 and the value, or -1
 * when e is not constant or fails ("Impossible"). */
int template_eval_const(const mlcc_template *t, const expr *e, jv *out);

#endif
