/* awq.c - AutoAWQ checkpoints: config and exact repacking (see awq.h). */
#include "quant/awq.h"

#include <string.h>
#include <strings.h>

#include "mlcc/mlcc_runtime.h"
#include "support/error.h"

/* The nibble of a word that holds output column 8c + t (the inverse of AWQ_ORDER). */
static const int awq_reverse_order[8] = {0, 4, 1, 5, 2, 6, 3, 7};

static int int_field(json_t *qc, const char *file, const char *key, const char *alt, json_int_t *out) {
    json_t *v = json_object_get(qc, key);
    if (!v && alt) v = json_object_get(qc, alt);
    if (!v) return mlcc_set_error("%s: quantization_config.%s is missing", file, key);
    if (!json_is_integer(v)) return mlcc_set_error("%s: quantization_config.%s must be an integer", file, key);
    *out = json_integer_value(v);
    return 0;
}

int awq_config_parse(json_t *qc, const char *file, int *group_size) {
    *group_size = 0;
    if (!qc || json_is_null(qc)) return 0;
    if (!json_is_object(qc)) return mlcc_set_error("%s: quantization_config must be an object", file);
    json_t *method = json_object_get(qc, "quant_method");
    const char *m = json_string_value(method);
    if (!m) return mlcc_set_error("%s: quantization_config.quant_method is missing or not a string", file);
    if (strcasecmp(m, "awq") != 0)
        return mlcc_set_error("%s: quantization_config.quant_method '%s' is not supported (AWQ checkpoints are; or "
                              "convert the float checkpoint)", file, m);
    json_int_t bits, group;
    if (int_field(qc, file, "bits", "w_bit", &bits) || int_field(qc, file, "group_size", "q_group_size", &group)) return -1;
    if (bits != 4) return mlcc_set_error("%s: quantization_config.bits is %lld: only 4-bit AWQ checkpoints are supported", file, (long long)bits);
    if (group != 32 && group != 64 && group != 128)
        return mlcc_set_error("%s: quantization_config.group_size is %lld: AWQ groups of 32, 64 or 128 are supported", file,
                              (long long)group);
    json_t *zp = json_object_get(qc, "zero_point");
    if (zp && !json_is_true(zp))
        return mlcc_set_error("%s: quantization_config.zero_point must be true (symmetric AWQ is not supported)", file);
    json_t *ver = json_object_get(qc, "version");
    if (ver && (!json_is_string(ver) || strcasecmp(json_string_value(ver), "gemm") != 0))
        return mlcc_set_error("%s: quantization_config.version '%s': only AutoAWQ's \"gemm\" packing is supported", file,
                              json_is_string(ver) ? json_string_value(ver) : "(not a string)");
    *group_size = (int)group;
    return 0;
}

static uint32_t word_at(const uint8_t *p, int64_t i) {
    p += 4 * i;
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int awq_code(const uint8_t *packed, int64_t cols, int64_t j, int64_t o) {
    return (int)(word_at(packed, j * cols + o / 8) >> (4 * awq_reverse_order[o % 8])) & 15;
}

void awq_repack(const uint8_t *qweight, const uint8_t *qzeros, const uint8_t *scales, int64_t in, int64_t out, int group,
                uint32_t *q_weight, uint16_t *q_scale) {
    int64_t cols = out / 8, words = in / 8, groups = in / group;
    memset(q_weight, 0, sizeof(uint32_t) * (size_t)(out * words));
    for (int64_t j = 0; j < in; j++)
        for (int64_t c = 0; c < cols; c++) { /* one AWQ word: 8 output columns of input j */
            uint32_t w = word_at(qweight, j * cols + c);
            for (int t = 0; t < 8; t++)
                q_weight[(8 * c + t) * words + j / 8] |= ((w >> (4 * awq_reverse_order[t])) & 15u) << (4 * (int)(j % 8));
        }
    for (int64_t g = 0; g < groups; g++)
        for (int64_t o = 0; o < out; o++) {
            const uint8_t *s = scales + 2 * (g * out + o);
            q_scale[o * 2 * groups + 2 * g] = (uint16_t)(s[0] | s[1] << 8);
            q_scale[o * 2 * groups + 2 * g + 1] = mlcc_f32_to_f16((float)awq_code(qzeros, cols, g, o));
        }
}
