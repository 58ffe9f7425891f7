/* cmd_convert.c - `mlcc convert MODEL --quantization Q -o DIR`: reads a Hugging Face folder
 * (safetensors), quantizes its weights and writes mlcc's weight format (models/weight_store.h)
 * with the config, tokenizer and template files, so `mlcc chat DIR` runs it. */
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
            "  MODEL            a Hugging Face folder (config.json + safetensors) or HF://org/repo\n"
            "  --quantization   %s (docs/quantization.md)\n"
            "  -o DIR           the converted model: params_shard_*.bin + params.json (name, dtype,\n"
            "                   shape, offset, sha256), mlcc-config.json, config and tokenizer files\n"
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
    if (!model || !quant || !out) {
        print_usage(stderr);
        return 2;
    }
    if (!quant_scheme_find(quant)) {
        fprintf(stderr, "mlcc convert: %s\n", mlcc_last_error());
        return 2;
    }
    char *path = mlcc_hub_resolve(model);
    if (!path) {
        fprintf(stderr, "mlcc convert: %s\n", mlcc_last_error());
        return 1;
    }
    size_t len = strlen(path);
    if (len > 5 && !strcmp(path + len - 5, ".gguf")) {
        fprintf(stderr, "mlcc convert: %s: converting GGUF files is not supported yet (run the .gguf directly, or convert its "
                        "Hugging Face folder)\n", path);
        free(path);
        return 1;
    }
    mlcc_model_options opt = {.quantization = quant};
    mlcc_model *m = mlcc_model_load_uncompiled(path, &opt);
    int rc = m ? weight_store_write(m, path, out, &wopt) : -1;
    if (rc) fprintf(stderr, "mlcc convert: %s\n", mlcc_last_error());
    else if (!wopt.quiet) fprintf(stderr, "[mlcc] wrote %s (%s, %d tensors)\n", out, quant, m->params.n);
    mlcc_model_free(m);
    free(path);
    return rc ? 1 : 0;
}
