/* cmd_convert.c - `mlcc convert MODEL --quantization Q -o DIR`: reads a Hugging Face folder
 * (safetensors) or a GGUF file, quantizes its weights (or keeps a GGUF file's as stored) and
 * writes mlcc's weight format (models/weight_store.h) with the config, tokenizer and template
 * files, so `mlcc chat DIR` runs it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "hub/hub.h"
#include "models/model.h"
#include "models/weight_store.h"
#include "quant/scheme.h"
#include "support/error.h"

static void print_usage(FILE *out) {
    fprintf(out,
            "usage: mlcc convert MODEL --quantization Q -o DIR [--shard-size MB] [--force] [--quiet]\n"
            "  MODEL            a Hugging Face folder (config.json + safetensors), a GGUF file, or\n"
            "                   HF://org/repo[/file.gguf]\n"
            "  --quantization   %s (docs/quantization.md);\n"
            "                   for a GGUF file also native (the default there): the weights as stored,\n"
            "                   on the scheme `mlcc chat FILE.gguf` runs them (ggml_q4_0, ggml_mixed, q0f16...)\n"
            "  -o DIR           the converted model: params_shard_*.bin + params.json (name, dtype,\n"
            "                   shape, offset, sha256), mlcc-config.json, config and tokenizer files\n"
            "                   (from a GGUF file: config.json, tokenizer.json, tokenizer_config.json\n"
            "                   with the chat template, made from its metadata)\n"
            "  --shard-size MB  most megabytes per shard (default 512)\n"
            "  --force          replace DIR when it exists\n",
            quant_scheme_names());
}

int cmd_convert(int argc, char **argv) {
    const char *model = NULL, *quant = NULL, *out = NULL;
    weight_store_options wopt = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_value = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            print_usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--quantization") && has_value) quant = argv[++i];
        else if (!strcmp(a, "-o") && has_value) out = argv[++i];
        else if (!strcmp(a, "--shard-size") && has_value) wopt.shard_bytes = (int64_t)(atof(argv[++i]) * 1048576.0);
        else if (!strcmp(a, "--force")) wopt.force = 1;
        else if (!strcmp(a, "--quiet")) wopt.quiet = 1;
        else if (a[0] == '-' || model) {
            fprintf(stderr, "mlcc convert: unexpected argument %s\n", a);
            print_usage(stderr);
            return 2;
        } else model = a;
    }
    if (!model || !out) {
        print_usage(stderr);
        return 2;
    }
    int native = quant && !strcmp(quant, "native");
    if (quant && !native && !quant_scheme_find(quant)) {
        fprintf(stderr, "mlcc convert: %s\n", mlcc_last_error());
        return 2;
    }
    char *path = mlcc_hub_resolve(model);
    if (!path) {
        fprintf(stderr, "mlcc convert: %s\n", mlcc_last_error());
        return 1;
    }
    size_t len = strlen(path);
    int gguf = len > 5 && !strcmp(path + len - 5, ".gguf");
    if (!gguf && (!quant || native)) {
        fprintf(stderr, "mlcc convert: %s: give --quantization (native is for GGUF files)\n", path);
        free(path);
        return 2;
    }
    /* native: the scheme `mlcc chat FILE.gguf` runs the file on (its own blocks or floats) */
    mlcc_model_options opt = {.quantization = native ? NULL : quant, .quiet = wopt.quiet};
    mlcc_model *m = mlcc_model_load_uncompiled(path, &opt);
    int rc = m ? weight_store_write(m, path, out, &wopt) : -1;
    if (rc) fprintf(stderr, "mlcc convert: %s\n", mlcc_last_error());
    else if (!wopt.quiet) fprintf(stderr, "[mlcc] wrote %s (%s, %d tensors)\n", out, m->quant->name, m->params.n);
    mlcc_model_free(m);
    free(path);
    return rc ? 1 : 0;
}
