/* fuzz_gguf_export.c - writing a GGUF vocabulary as tokenizer.json (tokenizer/gguf_export.h)
 * on arbitrary bytes: files the reader accepts are exported or rejected with an error, without
 * reading out of bounds or leaking; an exported tokenizer.json is loaded back. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "loader/gguf.h"
#include "tokenizer/gguf_export.h"
#include "tokenizer/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *copy = malloc(size ? size : 1); /* exactly `size` long, so ASan sees reads past the end */
    if (size) memcpy(copy, data, size);
    mlcc_gguf *g = mlcc_gguf_open_memory(copy, size, "fuzz.gguf");
    if (g) {
        json_t *tok = NULL, *cfg = NULL;
        if (tok_gguf_export_open(g, &tok, &cfg) == 0) {
            char *text = json_dumps(tok, JSON_COMPACT);
            mlcc_tokenizer *t = text ? mlcc_tokenizer_from_json(text, strlen(text), "fuzz tokenizer.json") : NULL;
            mlcc_tokenizer_free(t);
            free(text);
        }
        json_decref(tok);
        json_decref(cfg);
        mlcc_gguf_close(g);
    }
    free(copy);
    return 0;
}
