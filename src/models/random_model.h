/* random_model.h - a model of any supported architecture with seeded random weights, from a
 * Hugging Face config.json, written as a Hugging Face folder (config.json, model.safetensors,
 * a byte-level tokenizer.json) or as one GGUF file with llama.cpp's conventions (tensor names,
 * q/k rows permuted for llama, `<arch>.*` metadata, a byte-level gpt2 vocabulary, F32 / F16 /
 * Q8_0 / Q4_0 weights quantized as ggml's reference quantizers do, norms in F32). Every tensor's
 * values depend only on the seed and its name, so the two forms hold the same model. */
#ifndef MLCC_MODELS_RANDOM_MODEL_H
#define MLCC_MODELS_RANDOM_MODEL_H

#include <stdint.h>

typedef enum { RANDOM_MODEL_SAFETENSORS, RANDOM_MODEL_GGUF } random_model_format;

typedef struct mlcc_random_model_spec {
    const char *config;         /* a config.json */
    const char *out;            /* the folder (safetensors) or the .gguf file */
    random_model_format format;
    const char *quantization;   /* "f32", "f16", "bf16" (safetensors only), "q8_0", "q4_0", "q4_k" (matrices Q4_K,
                                 * the output and, as llama.cpp's Q4_K_M, some layers' attn_v and
                                 * ffn_down Q6_K), "q5_k" (the same with Q5_K), "q6_k" (GGUF only);
                                 * NULL: f32 */
    uint64_t seed;
    int dequantized;            /* GGUF: store each tensor as F32 holding the values its quantized form stands
                                 * for (a reference for the quantized file) */
} mlcc_random_model_spec;

/* 0, or -1 + error naming the config field, the unsupported combination or the file. */
int mlcc_random_model_write(const mlcc_random_model_spec *spec);

/* The size of the model a config describes, without writing anything: its parameters and
 * tensors. 0, or -1 + error naming the config field. */
int mlcc_random_model_describe(const char *config, int64_t *params, int *tensors);

/* Fills x[n] with the values of the tensor `name` (what the writer stores before rounding):
 * norm weights near 1 (near 0 where the architecture adds 1), others uniform with standard
 * deviation `std`. */
void random_model_tensor_values(uint64_t seed, const char *name, int norm_plus_one, double std, float *x, int64_t n);

#endif
