/* cmd_tokenize.c - `mlcc tokenize`: JSON Lines in, JSON Lines out. Each input line is a JSON
 * string (encode: prints the array of ids) or, with --decode, a JSON array of ids (prints the
 * decoded JSON string). --bench FILE measures encode throughput instead (one call per line of
 * FILE, or one call for all of it with --whole). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "support/error.h"
#include "support/file.h"
#include "support/strbuf.h"
#include "tokenizer/tokenizer.h"

static void usage(FILE *f) {
    fprintf(
        f, "usage: mlcc tokenize --tokenizer PATH [--add-special-tokens] [--decode] "
           "[--skip-special-tokens]\n"
           "       mlcc tokenize --tokenizer PATH --bench TEXTFILE [--repeat N] [--whole]\n"
           "\n"
           "Reads JSON Lines on stdin: a JSON string per line (or, with --decode, a JSON array of\n"
           "ids) and writes one JSON line per input: the ids (or the decoded string).\n"
           "PATH is a tokenizer.json, a model directory holding one, or a .gguf file.\n");
}

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Encodes the text once per line (each line one call, as documents and prompts arrive), or with
 * whole as a single call; best of `repeat`. */
static int encode_all(mlcc_tokenizer *tok, const char *text, size_t len, int whole, size_t *count) {
    *count = 0;
    for (size_t i = 0; i < len;) {
        const char *nl = whole ? NULL : memchr(text + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - text) + 1 : len;
        int32_t *ids;
        size_t n;
        if (mlcc_tokenizer_encode(tok, text + i, end - i, 0, &ids, &n)) return -1;
        *count += n;
        free(ids);
        i = end;
    }
    return 0;
}

static int bench(mlcc_tokenizer *tok, const char *file, int repeat, int whole) {
    size_t len;
    char *text = mlcc_read_file(file, &len);
    if (!text) {
        fprintf(stderr, "mlcc tokenize: %s\n", mlcc_last_error());
        return 1;
    }
    double best = 1e30, best_cpu = 1e30;
    size_t count = 0;
    for (int r = 0; r < repeat; r++) {
        double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
        if (encode_all(tok, text, len, whole, &count)) {
            fprintf(stderr, "mlcc tokenize: %s\n", mlcc_last_error());
            free(text);
            return 1;
        }
        double t = clock_s(CLOCK_MONOTONIC) - t0, c = clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
        if (t < best) best = t;
        if (c < best_cpu) best_cpu = c;
    }
    /* wall time and this thread's CPU time (the figure that a busy machine disturbs least) */
    printf("{\"bytes\": %zu, \"tokens\": %zu, \"seconds\": %.6f, \"mb_per_s\": %.2f, "
           "\"cpu_seconds\": %.6f, "
           "\"cpu_mb_per_s\": %.2f}\n",
           len, count, best, len / best / 1e6, best_cpu, len / best_cpu / 1e6);
    free(text);
    return 0;
}

int cmd_tokenize(int argc, char **argv) {
    const char *path = NULL, *bench_file = NULL;
    int add_special = 0, decode = 0, skip_special = 0, repeat = 3, whole = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tokenizer") && i + 1 < argc)
            path = argv[++i];
        else if (!strcmp(argv[i], "--add-special-tokens"))
            add_special = 1;
        else if (!strcmp(argv[i], "--decode"))
            decode = 1;
        else if (!strcmp(argv[i], "--skip-special-tokens"))
            skip_special = 1;
        else if (!strcmp(argv[i], "--bench") && i + 1 < argc)
            bench_file = argv[++i];
        else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--whole"))
            whole = 1;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "mlcc tokenize: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!path) {
        usage(stderr);
        return 2;
    }
    mlcc_tokenizer *tok = mlcc_tokenizer_load(path);
    if (!tok) {
        fprintf(stderr, "mlcc tokenize: %s\n", mlcc_last_error());
        return 1;
    }
    if (bench_file) {
        int rc = bench(tok, bench_file, repeat < 1 ? 1 : repeat, whole);
        mlcc_tokenizer_free(tok);
        return rc;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    long lineno = 0;
    int rc = 0;
    mlcc_strbuf out = STRBUF_INIT;
    while ((got = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
            got--;
        if (got == 0) continue;
        json_error_t err;
        json_t *j = json_loadb(line, (size_t)got, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
        if (!j) {
            fprintf(stderr, "mlcc tokenize: stdin:%ld:%d: %s\n", lineno, err.column, err.text);
            rc = 1;
            break;
        }
        sb_clear(&out);
        if (!decode) {
            if (!json_is_string(j)) {
                fprintf(stderr, "mlcc tokenize: stdin:%ld: expected a JSON string\n", lineno);
                json_decref(j);
                rc = 1;
                break;
            }
            int32_t *ids;
            size_t n;
            if (mlcc_tokenizer_encode(tok, json_string_value(j), json_string_length(j), add_special,
                                      &ids, &n)) {
                fprintf(stderr, "mlcc tokenize: stdin:%ld: %s\n", lineno, mlcc_last_error());
                json_decref(j);
                rc = 1;
                break;
            }
            sb_append_char(&out, '[');
            for (size_t k = 0; k < n; k++)
                sb_printf(&out, k ? ",%d" : "%d", ids[k]);
            sb_append(&out, "]\n");
            free(ids);
        } else {
            size_t n = json_array_size(j);
            int32_t *ids = malloc((n + 1) * sizeof *ids);
            int ok = json_is_array(j) && ids;
            for (size_t k = 0; ok && k < n; k++) {
                json_t *v = json_array_get(j, k);
                if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                    json_integer_value(v) > INT32_MAX)
                    ok = 0;
                else
                    ids[k] = (int32_t)json_integer_value(v);
            }
            if (!ok) {
                fprintf(stderr, "mlcc tokenize: stdin:%ld: expected a JSON array of token ids\n",
                        lineno);
                free(ids);
                json_decref(j);
                rc = 1;
                break;
            }
            size_t len;
            char *s = mlcc_tokenizer_decode(tok, ids, n, skip_special, &len);
            free(ids);
            json_t *str = s ? json_stringn(s, len) : NULL;
            char *dump = str ? json_dumps(str, JSON_ENCODE_ANY) : NULL;
            if (!dump) {
                fprintf(stderr, "mlcc tokenize: stdin:%ld: %s\n", lineno,
                        s ? "decoded text is not valid UTF-8" : mlcc_last_error());
                free(s);
                json_decref(str);
                json_decref(j);
                rc = 1;
                break;
            }
            sb_append(&out, dump);
            sb_append_char(&out, '\n');
            free(dump);
            free(s);
            json_decref(str);
        }
        json_decref(j);
        fwrite(out.data, 1, out.len, stdout);
    }
    sb_free(&out);
    free(line);
    mlcc_tokenizer_free(tok);
    return rc;
}
