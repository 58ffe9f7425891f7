/* fuzz_safetensors.c - the safetensors header parser on arbitrary bytes: it must either refuse
 * the input with a message or hand out tensors whose every byte lies inside the input (each one
 * is read end to end here, so ASan catches a pointer that strays). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "loader/safetensors.h"
#include "mlcc/mlcc_runtime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mlcc_safetensors *st = safetensors_open_memory(data, size, "fuzz-input");
    if (!st) {
        if (mlcc_last_error()[0] == '\0') __builtin_trap(); /* a refusal must say why */
        return 0;
    }
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < safetensors_count(st); i++) {
        const mlcc_st_tensor *t = safetensors_at(st, i);
        const uint8_t *p = t->data;
        if (p < data || p + t->nbytes > data + size) __builtin_trap();
        for (size_t k = 0; k < t->nbytes; k++) sink ^= p[k];
        if (safetensors_find(st, t->name) != t) __builtin_trap();
        int64_t numel;
        if (mlcc_shape_numel(t->ndim, t->shape, &numel) != 0)
            __builtin_trap(); /* accepted shapes are sane */
        if ((size_t)numel * safetensors_dtype_size(t->dtype) != t->nbytes) __builtin_trap();
        if (t->nbytes <= 4096 &&
            (t->dtype == ST_F16 || t->dtype == ST_BF16 || t->dtype == ST_F32)) {
            float buf[2048];
            safetensors_read_f32(t, buf);
        }
    }
    for (size_t i = 0; i < safetensors_metadata_count(st); i++) {
        const char *k, *v;
        safetensors_metadata_at(st, i, &k, &v);
        sink ^= (uint8_t)(strlen(k) + strlen(v));
    }
    (void)sink;
    safetensors_close(st);
    return 0;
}
