/* cmd_random_model.c - `mlcc debug random-model`: writes a seeded random-weight model from a
 * Hugging Face config.json, so that any model shape can be run and measured (by mlcc or, as
 * GGUF, by llama.cpp) without downloading it.
 *   mlcc debug random-model --config CONFIG.json --out DIR|FILE.gguf [--format safetensors|gguf]
 *                           [--quantization f32|f16|bf16|q8_0|q4_0|q4_k|q5_k|q6_k] [--seed S]
 *   mlcc debug random-model --config CONFIG.json --dry-run     (prints the size, writes nothing) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "models/random_model.h"
#include "support/error.h"

static void usage(FILE *f) {
    fprintf(f, "usage: mlcc debug random-model --config CONFIG.json --out DIR|FILE.gguf [--format safetensors|gguf]\n"
               "                              [--quantization f32|f16|bf16|q8_0|q4_0|q4_k|q5_k|q6_k] [--seed S]\n"
               "       mlcc debug random-model --config CONFIG.json --dry-run\n"
               "\n"
               "Writes a model with seeded random weights and the shape of CONFIG.json (any model_type mlcc runs):\n"
               "a Hugging Face folder (config.json, model.safetensors, a byte-level tokenizer.json; f32, f16, bf16)\n"
               "or a GGUF file as llama.cpp writes them (llama, mistral, qwen2, qwen3, phi3; f32, f16, q8_0, q4_0, q4_k, q5_k, q6_k).\n"
               "The format defaults to gguf when --out ends in .gguf. The same seed gives the same weights in\n"
               "both forms. --dry-run prints the number of parameters and tensors and writes nothing.\n");
}

int cmd_debug_random_model(int argc, char **argv) {
    mlcc_random_model_spec s = {0};
    const char *format = NULL;
    int dry_run = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--config") && has) s.config = argv[++i];
        else if (!strcmp(a, "--out") && has) s.out = argv[++i];
        else if (!strcmp(a, "--format") && has) format = argv[++i];
        else if (!strcmp(a, "--dry-run")) dry_run = 1;
        else if (!strcmp(a, "--quantization") && has) s.quantization = argv[++i];
        else if (!strcmp(a, "--seed") && has) {
            char *end;
            s.seed = strtoull(argv[++i], &end, 10);
            if (*end || !*argv[i]) {
                fprintf(stderr, "mlcc debug random-model: --seed '%s' is not a number\n", argv[i]);
                return 2;
            }
        } else {
            fprintf(stderr, "mlcc debug random-model: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (s.config && dry_run) {
        int64_t params;
        int tensors;
        if (mlcc_random_model_describe(s.config, &params, &tensors)) {
            fprintf(stderr, "mlcc debug random-model: %s\n", mlcc_last_error());
            return 1;
        }
        printf("%lld parameters in %d tensors (%.2f GB as float32, %.2f GB as f16)\n", (long long)params, tensors, params * 4 / 1e9,
               params * 2 / 1e9);
        return 0;
    }
    if (!s.config || !s.out) {
        usage(stderr);
        return 2;
    }
    size_t len = strlen(s.out);
    int gguf_name = len > 5 && !strcmp(s.out + len - 5, ".gguf");
    if (!format) format = gguf_name ? "gguf" : "safetensors";
    if (!strcmp(format, "gguf")) s.format = RANDOM_MODEL_GGUF;
    else if (!strcmp(format, "safetensors")) s.format = RANDOM_MODEL_SAFETENSORS;
    else {
        fprintf(stderr, "mlcc debug random-model: --format '%s': safetensors or gguf\n", format);
        return 2;
    }
    if (mlcc_random_model_write(&s)) {
        fprintf(stderr, "mlcc debug random-model: %s\n", mlcc_last_error());
        return 1;
    }
    return 0;
}
