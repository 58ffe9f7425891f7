/* lexer.h - splits a Jinja template source into tokens, applying Jinja2's whitespace control
 * exactly as its lexer does with trim_blocks and lstrip_blocks on (how transformers configures
 * it): `-` strips, `+` keeps, comments vanish, raw blocks become data. */
#ifndef MLCC_TEMPLATE_LEXER_H
#define MLCC_TEMPLATE_LEXER_H

#include <stddef.h>
#include <stdint.h>

typedef enum tok_kind {
    TK_EOF,
    TK_DATA,        /* text outside tags (str = processed text) */
    TK_VAR_BEGIN,   /* {{ */
    TK_VAR_END,     /* }} */
    TK_BLOCK_BEGIN, /* {% */
    TK_BLOCK_END,   /* %} */
    TK_NAME,
    TK_STRING, /* str = the unescaped value */
    TK_INT,
    TK_FLOAT,
    TK_OP,    /* op = the operator text, e.g. "==" */
    TK_ERROR, /* the lexer stopped here; str = its message (reported when the parser gets here) */
} tok_kind;

typedef struct token {
    tok_kind kind;
    int line, col;
    char *str; /* owned: DATA, STRING, NAME */
    size_t len;
    char op[4];
    int64_t ival;
    double fval;
} token;

typedef struct token_list {
    token *data;
    size_t len, cap;
} token_list;

/* Tokenizes src (already newline-normalized, see template_normalize_source). Like Jinja2's
 * lazy token stream, a lexing error does not stop here: the tokens before it are kept and a
 * TK_ERROR token carries "NAME:LINE:COL: message", so an earlier parse error wins. */
int lex_template(const char *src, size_t len, const char *name, token_list *out);
void token_list_free(token_list *toks);

/* Jinja2 preprocessing: \r\n and \r become \n, and one trailing newline is dropped
 * (keep_trailing_newline=False). Returns a malloc'ed copy. */
char *template_normalize_source(const char *src, size_t len, size_t *out_len);

/* 1-based line and column (in code points) of byte offset pos. */
void source_position(const char *src, size_t pos, int *line, int *col);

#endif
