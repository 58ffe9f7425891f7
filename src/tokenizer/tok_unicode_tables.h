/* tok_unicode_tables.h - generated character tables (see tok_unicode_tables.c). */
#ifndef MLCC_TOKENIZER_TOK_UNICODE_TABLES_H
#define MLCC_TOKENIZER_TOK_UNICODE_TABLES_H
#include <stddef.h>
#include <stdint.h>
typedef struct tok_range {
    uint32_t lo, hi;
} tok_range;
typedef struct tok_lower {
    uint32_t cp;
    uint32_t to[3];
} tok_lower;
extern const tok_range TOK_BERT_OTHER[24];
extern const tok_range TOK_BERT_MN[279];
extern const tok_range TOK_COMBINING_MARK[250];
extern const tok_range TOK_PUNCTUATION[156];
extern const tok_range TOK_NUMERIC[146];
extern const tok_range TOK_REGEX_WORD[796];
extern const tok_range TOK_ONIG_W[797];
extern const tok_range TOK_ONIG_S[10];
extern const tok_range TOK_ONIG_D[71];
extern const tok_lower TOK_LOWERCASE[1488];
#define TOK_TABLE_LEN(t) (sizeof(t) / sizeof((t)[0]))
#endif
