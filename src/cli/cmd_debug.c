/* cmd_debug.c - `mlcc debug`: run a model on given token ids, for checking it against a
 * reference implementation.
 *   mlcc debug logits --model PATH --tokens 1,2,3 [--decode] [--device cpu] --out FILE.safetensors
 *       writes the F32 tensor `logits` [T, vocab]: row i = the logits after token i; the whole
 *       sequence through batch_prefill, or with --decode token by token through batch_decode
 *       and the KV cache;
 *   mlcc debug generate --model PATH --tokens 1,2,3 --max-tokens N [--stop-at-eos]
 *       prints the N greedy ids as a JSON array (prefill, then decode steps).
 * PATH is a Hugging Face model folder or a .gguf file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "loader/safetensors.h"
#include "models/model.h"
#include "runtime/cuda.h"
#include "support/alloc.h"
#include "support/error.h"

static void usage(FILE *f) {
    fprintf(f, "usage: mlcc debug logits --model PATH --tokens ID,ID,... [--decode] [--device cpu|cuda|cuda:N|vulkan|vulkan:N|auto] --out FILE.safetensors\n"
               "       mlcc debug generate --model PATH --tokens ID,ID,... --max-tokens N [--stop-at-eos] [--device cpu|cuda|cuda:N|vulkan|vulkan:N|auto]\n"
               "       mlcc debug random-model --config CONFIG.json --out DIR|FILE.gguf [...] (see its --help)\n"
               "\n"
               "PATH is a Hugging Face model folder (config.json + safetensors) or a .gguf file.\n"
               "logits writes the float32 tensor `logits` [T, vocab] (row i: after token i);\n"
               "--decode feeds the tokens one at a time through decode and the KV cache.\n"
               "generate prints the greedy continuation as a JSON array of ids.\n");
}

/* "1,2,3" -> ids; -1 + error on anything else. */
static int parse_tokens(const char *s, int32_t **out, int64_t *n) {
    int64_t cap = 16, len = 0;
    int32_t *ids = mlcc_xmalloc(sizeof(int32_t) * (size_t)cap);
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > INT32_MAX || (*end && *end != ',')) {
            free(ids);
            return mlcc_set_error("--tokens: '%s' is not a comma-separated list of token ids (at '%s')", s, p);
        }
        if (len == cap) ids = mlcc_xrealloc(ids, sizeof(int32_t) * (size_t)(cap *= 2));
        ids[len++] = (int32_t)v;
        p = *end ? end + 1 : end;
    }
    if (len == 0) {
        free(ids);
        return mlcc_set_error("--tokens: no token ids given");
    }
    *out = ids, *n = len;
    return 0;
}

/* The sequence bound the model is compiled for: a power of two >= need (at least 128), so
 * nearby requests share one compiled library in the JIT cache. */
static int64_t seq_bound(int64_t need) {
    int64_t b = 128;
    while (b < need) b *= 2;
    return b;
}

/* Logits after each token, the tokens fed one at a time through decode and the KV cache. */
static int decode_logits(mlcc_model *m, const int32_t *ids, int64_t n, MLCCNDArray **logits) {
    mlcc_model_kv kv;
    if (mlcc_model_kv_init(m, &kv)) return -1;
    MLCCNDArray *out = mlcc_ndarray_empty(2, (int64_t[]){n, m->cfg.vocab}, MLCC_DTYPE_F32, MLCC_CPU);
    int rc = 0;
    for (int64_t i = 0; i < n && rc == 0; i++) rc = mlcc_model_forward(m, &kv, &ids[i], 1, (float *)out->dl.data + i * m->cfg.vocab);
    mlcc_model_kv_free(&kv);
    if (rc) mlcc_ndarray_release(out);
    else *logits = out;
    return rc;
}

static int is_eos(const mlcc_model *m, int32_t id) {
    for (int i = 0; i < m->cfg.n_eos; i++)
        if (m->cfg.eos_ids[i] == id) return 1;
    return 0;
}

static int write_logits(const char *out, const MLCCNDArray *logits) {
    mlcc_st_write_tensor t = {"logits", ST_F32, 2, logits->dl.shape, logits->dl.data};
    return safetensors_write(out, &t, 1, NULL);
}

int cmd_debug(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "random-model")) return cmd_debug_random_model(argc - 1, argv + 1);
    const char *what = argv[1], *model = NULL, *tokens = NULL, *out = NULL;
    long max_tokens = -1;
    int decode = 0, stop_at_eos = 0;
    const char *device = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc) model = argv[++i];
        else if (!strcmp(argv[i], "--tokens") && i + 1 < argc) tokens = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--decode")) decode = 1;
        else if (!strcmp(argv[i], "--stop-at-eos")) stop_at_eos = 1;
        else if (!strcmp(argv[i], "--device") && i + 1 < argc) {
            device = argv[++i];
            if (!strcmp(device, "auto")) device = mlcc_cuda_available() ? "cuda" : "cpu";
        }
        else if (!strcmp(argv[i], "--max-tokens") && i + 1 < argc) {
            char *end;
            max_tokens = strtol(argv[++i], &end, 10);
            if (*end || max_tokens < 0 || max_tokens > 1 << 20) {
                fprintf(stderr, "mlcc debug: --max-tokens '%s' is not a token count\n", argv[i]);
                return 2;
            }
        } else {
            fprintf(stderr, "mlcc debug: unknown or incomplete option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    int logits_mode = !strcmp(what, "logits"), generate_mode = !strcmp(what, "generate");
    if ((!logits_mode && !generate_mode) || !model || !tokens || (logits_mode && !out) || (generate_mode && max_tokens < 0)) {
        usage(stderr);
        return 2;
    }
    int32_t *ids = NULL;
    int64_t n = 0;
    if (parse_tokens(tokens, &ids, &n)) {
        fprintf(stderr, "mlcc debug: %s\n", mlcc_last_error());
        return 2;
    }
    /* the whole prompt's logits come from prefill steps of up to 256 rows */
    int64_t bound = seq_bound(n + (generate_mode ? max_tokens : 0));
    mlcc_model_options opt = {.max_seq = bound, .logit_rows = logits_mode && !decode ? 256 : 0, .device = device};
    mlcc_model *m = mlcc_model_open(model, &opt);
    int rc = m ? 0 : -1;
    if (m && logits_mode) {
        MLCCNDArray *logits;
        rc = decode ? decode_logits(m, ids, n, &logits) : mlcc_model_prefill(m, ids, n, &logits);
        if (rc == 0) {
            rc = write_logits(out, logits);
            mlcc_ndarray_release(logits);
        }
    } else if (m) {
        int32_t *gen = mlcc_xmalloc(sizeof(int32_t) * (size_t)(max_tokens + 1));
        rc = mlcc_model_greedy(m, ids, n, (int)max_tokens, gen);
        if (rc == 0) {
            putchar('[');
            for (long i = 0; i < max_tokens; i++) {
                printf("%s%d", i ? ", " : "", gen[i]);
                if (stop_at_eos && is_eos(m, gen[i])) break;
            }
            printf("]\n");
        }
        free(gen);
    }
    if (rc) fprintf(stderr, "mlcc debug %s: %s\n", what, mlcc_last_error());
    mlcc_model_free(m);
    free(ids);
    return rc ? 1 : 0;
}
