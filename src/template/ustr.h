/* ustr.h - Python str semantics over UTF-8 bytes: code points, whitespace, case mapping,
 * strip/split/splitlines, as CPython defines them (str.isspace, str.upper, ...). Strings handed
 * in are valid UTF-8 (the template source is checked, JSON input is checked by jansson). */
#ifndef MLCC_TEMPLATE_USTR_H
#define MLCC_TEMPLATE_USTR_H

#include <stddef.h>
#include <stdint.h>

#include "support/strbuf.h"

/* Decodes the code point at s[i]; returns its byte length (1 for a stray byte). */
size_t u8_decode(const char *s, size_t len, size_t i, uint32_t *cp);
void u8_append(mlcc_strbuf *sb, uint32_t cp);
size_t u8_count(const char *s, size_t len);
/* Byte offset of code point index `cpi` (clamped to len). */
size_t u8_offset(const char *s, size_t len, size_t cpi);
/* 1 when s is valid UTF-8 (no surrogates, no overlongs). */
int u8_valid(const char *s, size_t len);

int py_isspace(uint32_t cp);
int py_islinebreak(uint32_t cp);
int py_isalnum(uint32_t cp);
int py_isalpha(uint32_t cp);
int py_isdigit(uint32_t cp);
int py_iscased(uint32_t cp);
int py_islower_cp(uint32_t cp);
int py_isupper_cp(uint32_t cp);

typedef enum { CASE_UPPER, CASE_LOWER, CASE_TITLE, CASE_CAPITALIZE, CASE_SWAP } py_case_op;
/* str.upper / lower / title / capitalize / swapcase. */
void py_case(mlcc_strbuf *sb, const char *s, size_t len, py_case_op op);

/* str.strip / lstrip / rstrip: chars == NULL strips whitespace. Returns [*start, *end). */
void py_strip(const char *s, size_t len, const char *chars, size_t chars_len, int left, int right,
              size_t *start, size_t *end);

#endif
