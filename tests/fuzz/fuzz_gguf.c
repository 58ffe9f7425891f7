/* fuzz_gguf.c - the GGUF reader on arbitrary bytes: it must reject or accept them without
 * reading outside the buffer; accepted files are walked through every accessor. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "loader/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* a private copy exactly `size` long, so ASan sees any read past the end */
    uint8_t *copy = malloc(size ? size : 1);
    if (size) memcpy(copy, data, size);
    mlcc_gguf *g = mlcc_gguf_open_memory(copy, size, "fuzz.gguf");
    if (g) {
        volatile uint64_t sink = 0;
        for (uint64_t i = 0; i < g->n_kv; i++) {
            const mlcc_gguf_kv *kv = &g->kv[i];
            char key[64];
            size_t n = kv->key.len < sizeof key - 1 ? (size_t)kv->key.len : sizeof key - 1;
            memcpy(key, kv->key.data, n);
            key[n] = 0;
            int64_t iv;
            double fv;
            mlcc_gguf_str sv;
            int bv;
            mlcc_gguf_get_int(g, key, &iv);
            mlcc_gguf_get_float(g, key, &fv);
            mlcc_gguf_get_str(g, key, &sv);
            mlcc_gguf_get_bool(g, key, &bv);
            if (kv->type == MLCC_GGUF_ARRAY && kv->arr_type != MLCC_GGUF_ARRAY) {
                for (uint64_t k = 0; k < kv->arr_n && k < 64; k++) {
                    if (kv->arr_type == MLCC_GGUF_STRING) {
                        for (uint64_t c = 0; c < kv->arr_strings[k].len; c++)
                            sink += (uint8_t)kv->arr_strings[k].data[c];
                    } else {
                        sink += (uint64_t)mlcc_gguf_arr_int(kv, k);
                        sink += mlcc_gguf_arr_float(kv, k) > 0;
                    }
                }
            }
        }
        for (uint64_t i = 0; i < g->n_tensors; i++) {
            const mlcc_gguf_tensor *t = &g->tensors[i];
            const uint8_t *p = mlcc_gguf_tensor_data(g, t);
            if (t->n_bytes) sink += p[0] + p[t->n_bytes - 1];
        }
        (void)sink;
        mlcc_gguf_close(g);
    }
    free(copy);
    return 0;
}
