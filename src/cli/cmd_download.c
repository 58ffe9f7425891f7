/* cmd_download.c - `mlcc download HF://org/repo[@rev][/file.gguf]`: fetch a model into the
 * cache (or find it there) and print its local path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "hub/hub.h"
#include "support/error.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: mlcc download [--quiet] HF://org/repo[@revision][/file.gguf]\n"
            "Downloads what the model needs (config, tokenizer, safetensors weights; or the one\n"
            "GGUF file named) into the cache and prints its local path. Downloads resume where\n"
            "they stopped. Environment: MLCC_HOME, MLCC_DOWNLOAD_POLICY (ON|OFF|REDO|READONLY),\n"
            "HF_ENDPOINT (a mirror), HF_TOKEN (gated or private models).\n");
}

int cmd_download(int argc, char **argv) {
    const char *model = NULL;
    mlcc_hub_options opt = {0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--quiet") == 0 || strcmp(argv[i], "-q") == 0) {
            opt.quiet = 1;
        } else if (argv[i][0] == '-' || model) {
            usage(stderr);
            return 2;
        } else {
            model = argv[i];
        }
    }
    if (!model || !mlcc_hub_is_uri(model)) {
        if (model) fprintf(stderr, "mlcc download: '%s' is not an HF:// reference\n", model);
        usage(stderr);
        return 2;
    }
    char *path = mlcc_hub_resolve_ex(model, &opt);
    if (!path) {
        fprintf(stderr, "mlcc download: %s\n", mlcc_last_error());
        return 1;
    }
    printf("%s\n", path);
    free(path);
    return 0;
}
