/* utf8.h - encoding a code point as UTF-8 (the tokenizer and the grammar layer both need it). */
#ifndef MLCC_SUPPORT_UTF8_H
#define MLCC_SUPPORT_UTF8_H

#include <stdint.h>

/* Writes cp (< 0x110000) into out; returns the number of bytes, 1 to 4. */
int mlcc_utf8_encode(uint32_t cp, char out[4]);

#endif
