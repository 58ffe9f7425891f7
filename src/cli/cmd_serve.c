/* cmd_serve.c - `mlcc serve MODEL`: the OpenAI-compatible HTTP server (serve/http.h) over the
 * C API (mlcc.h). Options map onto the engine's JSON options and the server's limits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/commands.h"
#include "mlcc/mlcc.h"
#include "serve/http.h"
#include "support/error.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: mlcc serve MODEL [--host ADDR] [--port N] [--api-key KEY] [--model-id NAME]\n"
            "                        [--max-seq N] [--max-batch N] [--threads N] [--mode interactive|local|server]\n"
            "                        [--max-waiting N] [--max-body BYTES] [--max-headers BYTES]\n"
            "                        [--timeout SECONDS] [--grace SECONDS] [--cors]\n"
            "\n"
            "MODEL: a Hugging Face model folder, a GGUF file, or HF://org/repo[/file.gguf].\n"
            "Endpoints: POST /v1/chat/completions, POST /v1/completions (\"stream\": true for SSE),\n"
            "GET /v1/models, GET /health, GET /metrics (Prometheus).\n"
            "  --host ADDR        listen address (default 127.0.0.1)\n"
            "  --port N           port (default 8000; 0 picks a free one, printed at start)\n"
            "  --api-key KEY      require 'Authorization: Bearer KEY' on /v1 (default: the\n"
            "                     MLCC_API_KEY environment variable, else none)\n"
            "  --model-id NAME    the name clients use in \"model\" (default: the folder/file name)\n"
            "  --mode M           interactive (batch 1) | local (batch 4) | server (default: batch and\n"
            "                     KV cache as large as memory allows); printed at start\n"
            "  --max-seq N        context window, prompt + output (default: the mode's, 2048)\n"
            "  --max-batch N      most sequences decoded together (default: the mode's)\n"
            "  --threads N        CPU threads for the model\n"
            "  --max-waiting N    queued requests before new ones get 429 (default 256)\n"
            "  --max-body BYTES   request body limit (default 8 MiB; 413 above)\n"
            "  --max-headers BYTES request header limit (default 64 KiB)\n"
            "  --timeout SECONDS  idle connection timeout (default 600)\n"
            "  --grace SECONDS    on SIGINT/SIGTERM, time open requests get to finish (default 10)\n"
            "  --cors             allow cross-origin requests from any origin\n");
}

static int parse_int(const char *opt, const char *s, long lo, long hi, long *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "mlcc serve: %s: '%s' is not an integer from %ld to %ld\n", opt, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int cmd_serve(int argc, char **argv) {
    serve_http_options http;
    serve_http_defaults(&http);
    http.api_key = getenv("MLCC_API_KEY");
    if (http.api_key && !*http.api_key) http.api_key = NULL;
    const char *model = NULL, *model_id = NULL, *mode = "server";
    long max_seq = 0, max_batch = 0, threads = 0, max_waiting = 256, v;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--cors") == 0) {
            http.cors = 1;
            continue;
        }
        if (a[0] != '-') {
            if (model) {
                fprintf(stderr, "mlcc serve: one model only ('%s' and '%s')\n", model, a);
                return 2;
            }
            model = a;
            continue;
        }
        if (!val) {
            fprintf(stderr, "mlcc serve: unknown option %s or missing value\n", a);
            usage(stderr);
            return 2;
        }
        i++;
        int bad = 0;
        if (strcmp(a, "--host") == 0) http.host = val;
        else if (strcmp(a, "--port") == 0) bad = parse_int(a, val, 0, 65535, &v), http.port = (int)v;
        else if (strcmp(a, "--api-key") == 0) http.api_key = *val ? val : NULL;
        else if (strcmp(a, "--model-id") == 0) model_id = val;
        else if (strcmp(a, "--max-seq") == 0) bad = parse_int(a, val, 8, 1 << 24, &max_seq);
        else if (strcmp(a, "--max-batch") == 0) bad = parse_int(a, val, 1, 1024, &max_batch);
        else if (strcmp(a, "--threads") == 0) bad = parse_int(a, val, 1, 1024, &threads);
        else if (strcmp(a, "--max-waiting") == 0) bad = parse_int(a, val, 0, 1000000, &max_waiting);
        else if (strcmp(a, "--max-body") == 0) bad = parse_int(a, val, 64, 1L << 30, &v), http.max_body = (size_t)v;
        else if (strcmp(a, "--max-headers") == 0) bad = parse_int(a, val, 256, 1L << 24, &v), http.max_headers = (size_t)v;
        else if (strcmp(a, "--timeout") == 0) bad = parse_int(a, val, 1, 86400, &v), http.timeout_s = (int)v;
        else if (strcmp(a, "--grace") == 0) bad = parse_int(a, val, 0, 3600, &v), http.grace_s = (int)v;
        else if (strcmp(a, "--mode") == 0) {
            mode = val;
            if (strcmp(mode, "interactive") && strcmp(mode, "local") && strcmp(mode, "server")) {
                fprintf(stderr, "mlcc serve: --mode: '%s' is not interactive, local or server\n", mode);
                return 2;
            }
        } else {
            fprintf(stderr, "mlcc serve: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
        if (bad) return 2;
    }
    if (!model) {
        fprintf(stderr, "mlcc serve: which model? (a folder, a .gguf file or HF://org/repo)\n");
        usage(stderr);
        return 2;
    }
    json_t *opt = json_pack("{s:s,s:I}", "mode", mode, "max_waiting", (json_int_t)max_waiting);
    if (max_seq) json_object_set_new(opt, "max_seq", json_integer(max_seq));
    if (max_batch) json_object_set_new(opt, "max_batch", json_integer(max_batch));
    if (threads) json_object_set_new(opt, "threads", json_integer(threads));
    if (model_id) json_object_set_new(opt, "model_id", json_string(model_id));
    char *opt_text = json_dumps(opt, JSON_COMPACT);
    json_decref(opt);
    char *err = NULL;
    mlcc_llm *llm = mlcc_llm_create(model, opt_text, &err);
    free(opt_text);
    if (!llm) {
        fprintf(stderr, "mlcc serve: %s\n", err ? err : "cannot load the model");
        mlcc_llm_free_string(err);
        return 1;
    }
    int rc = serve_http_run(llm, &http);
    if (rc != 0) fprintf(stderr, "mlcc serve: %s\n", mlcc_last_error());
    mlcc_llm_destroy(llm);
    return rc ? 1 : 0;
}
