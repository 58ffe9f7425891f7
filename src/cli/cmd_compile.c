/* cmd_compile.c - `mlcc compile MODEL -o LIB`: builds a model's library ahead of time (the same
 * library `mlcc chat` would compile through the cache), written atomically to LIB. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "hub/hub.h"
#include "models/model.h"
#include "support/error.h"
#include "support/file.h"

static void usage(FILE *out) {
    fprintf(out, "usage: mlcc compile MODEL -o LIB [--max-seq N] [--quantization Q] [--print-after PASS]\n"
                 "MODEL: a Hugging Face folder, a GGUF file or HF://org/repo. --print-after prints the module\n"
                 "after a pass (legalize, canonicalize_bindings, annotate_op_pattern, fuse_ops, fuse_tir,\n"
                 "default_schedule, dead_code_elimination, or *) to stderr. --quantization stores the weights\n"
                 "in scheme Q (q4f16_1, ...; docs/quantization.md). Inspect the result with `mlcc show --kernels LIB`.\n");
}

int cmd_compile(int argc, char **argv) {
    const char *model = NULL, *out = NULL, *quant = NULL;
    int64_t max_seq = 2048;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if ((strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0) && i + 1 < argc) out = argv[++i];
        else if (strcmp(argv[i], "--max-seq") == 0 && i + 1 < argc) max_seq = atoll(argv[++i]);
        else if (strcmp(argv[i], "--quantization") == 0 && i + 1 < argc) quant = argv[++i];
        else if (strcmp(argv[i], "--print-after") == 0 && i + 1 < argc) setenv("MLCC_PRINT_AFTER", argv[++i], 1);
        else if (argv[i][0] == '-') {
            fprintf(stderr, "mlcc compile: unknown option %s\n", argv[i]);
            usage(stderr);
            return 2;
        } else model = argv[i];
    }
    if (!model || !out) {
        usage(stderr);
        return 2;
    }
    char *path = mlcc_hub_resolve(model);
    if (!path) {
        fprintf(stderr, "mlcc compile: %s\n", mlcc_last_error());
        return 1;
    }
    mlcc_model_options opt = {.max_seq = max_seq, .quantization = quant};
    mlcc_model *m = mlcc_model_open(path, &opt);
    int rc = 1;
    if (!m) {
        fprintf(stderr, "mlcc compile: %s\n", mlcc_last_error());
    } else {
        size_t len;
        char *bytes = mlcc_read_file(mlcc_vm_library_path(m->vm), &len);
        if (bytes && mlcc_write_file_atomic(out, bytes, len) == 0) {
            fprintf(stderr, "[mlcc] wrote %s (%zu bytes; model_type %s, context %lld)\n", out, len, m->cfg.model_type,
                    (long long)m->max_seq);
            rc = 0;
        } else {
            fprintf(stderr, "mlcc compile: %s\n", mlcc_last_error());
        }
        free(bytes);
        mlcc_model_free(m);
    }
    free(path);
    return rc;
}
