/* test_convert.c - the converted weight format (models/weight_store.h):
 *   - converting hf-tiny/llama-tied-mqa to q4f16_1 twice (shards of 16 KiB, so there are
 *     several) gives byte-identical shards and index: conversion is deterministic;
 *   - every tensor's recorded sha256 is the sha256 of its bytes in its shard (computed here);
 *   - the config and tokenizer-side files are copied; mlcc-config.json records the scheme;
 *   - opening the converted folder gives the logits of on-the-fly quantization exactly, and
 *     asking it for another scheme is an error;
 *   - a truncated shard and a flipped byte are errors naming the shard file; a wrong dtype,
 *     an impossible offset or a path as the file in params.json is an error naming params.json
 *     and the tensor; another format, a newer version or another index in mlcc-config.json is
 *     an error naming it and the field;
 *   - converting onto an existing folder without force is an error and leaves it intact; with
 *     force, if the new folder cannot be renamed into place (rename below fails on purpose),
 *     the existing one stays where it was, and if it cannot be put back either, the error names
 *     where it was kept; no scratch folder is left. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/model.h"
#include "models/weight_store.h"
#include "support/error.h"
#include "support/file.h"
#include "support/json.h"
#include "support/sha256.h"
#include "support/strbuf.h"
#include "test.h"

static const int32_t ids[8] = {1, 5, 9, 33, 2, 100, 7, 64};

/* rename(2) as libmlcc calls it, failing on purpose (EXDEV) for a move onto fail_into: only of
 * the converted scratch folder (".tmp-"), or of anything when fail_any_into is set */
static const char *fail_into;
static int fail_any_into;

int rename(const char *from, const char *to) {
    if (fail_into && strcmp(to, fail_into) == 0 && (fail_any_into || strstr(from, ".tmp-"))) {
        errno = EXDEV;
        return -1;
    }
    return renameat(AT_FDCWD, from, AT_FDCWD, to);
}

/* How many entries of dir have `part` in their names */
static int entries_named(const char *dir, const char *part) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += strstr(e->d_name, part) != NULL;
    if (d) closedir(d);
    return n;
}

static char *read_all(const char *dir, const char *name, size_t *len) {
    char *p = mlcc_path_join(dir, name), *d = mlcc_read_file(p, len);
    free(p);
    return d;
}

static int same_file(const char *a, const char *b, const char *name) {
    size_t la = 0, lb = 0;
    char *x = read_all(a, name, &la), *y = read_all(b, name, &lb);
    int same = x && y && la == lb && memcmp(x, y, la) == 0;
    free(x), free(y);
    return same;
}

static MLCCNDArray *logits_of(const char *path, const char *quant) {
    mlcc_model_options opt = {.max_seq = 16, .prefill_chunk = 8, .logit_rows = 8, .quantization = quant};
    mlcc_model *m = mlcc_model_open(path, &opt);
    CHECK_MSG(m != NULL, "%s: %s", path, mlcc_last_error());
    if (!m) return NULL;
    MLCCNDArray *l = NULL;
    CHECK_MSG(mlcc_model_prefill(m, ids, 8, &l) == 0, "%s", mlcc_last_error());
    mlcc_model_free(m);
    return l;
}

static int convert(const char *src, const char *out, int force) {
    mlcc_model_options opt = {.quantization = "q4f16_1"};
    mlcc_model *m = mlcc_model_load_uncompiled(src, &opt);
    CHECK_MSG(m != NULL, "%s", mlcc_last_error());
    if (!m) return -1;
    weight_store_options w = {.shard_bytes = 16384, .force = force, .quiet = 1};
    int rc = weight_store_write(m, src, out, &w);
    mlcc_model_free(m);
    return rc;
}

/* Copies the converted folder and damages one shard: truncate (cut) or flip a byte. */
static void check_damage(const char *good, const char *bad, int cut) {
    char cmd[2200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s'", bad, good, bad);
    CHECK(system(cmd) == 0);
    char *shard = mlcc_path_join(bad, "params_shard_1.bin");
    size_t len = 0;
    char *data = mlcc_read_file(shard, &len);
    CHECK(data && len > 100);
    if (data && len > 100) {
        if (!cut) data[len / 2] ^= 0x40;
        mlcc_write_file_atomic(shard, data, cut ? len - 100 : len);
    }
    free(data);
    mlcc_model_options opt = {.max_seq = 16, .prefill_chunk = 8};
    mlcc_model *m = mlcc_model_open(bad, &opt);
    CHECK_MSG(m == NULL, "a %s shard opened", cut ? "truncated" : "damaged");
    const char *err = mlcc_last_error();
    CHECK_MSG(strstr(err, "params_shard_1.bin") && strstr(err, cut ? "truncated" : "sha256 mismatch"), "error: %s", err);
    mlcc_model_free(m);
    free(shard);
}

/* An index entry of another dtype, with an offset past any file or a file outside the folder is
 * an error naming params.json and the tensor; a header (mlcc-config.json) of another format, a
 * newer version or another index is an error naming that file and the field. */
static void check_bad_index(const char *good, const char *bad) {
    static const char *const edits[][4] = {
        {"params.json", "\"uint32\"", "\"float32\"", "params.json: tensor '"},
        {"params.json", "\"offset\": 0", "\"offset\": 9223372036854775800", "params.json: tensor '"},
        {"params.json", "\"file\": \"params_shard_", "\"file\": \"../params_shard_", "is not a file name in the folder"},
        {"mlcc-config.json", "\"version\": 1", "\"version\": 2", "mlcc-config.json: format version 2 is newer"},
        {"mlcc-config.json", "\"index\": \"params.json\"", "\"index\": \"other.json\"", "field 'index' names 'other.json'"},
        {"mlcc-config.json", "\"mlcc-weights\"", "\"weights\"", "mlcc-config.json: field 'format'"},
    };
    for (size_t e = 0; e < sizeof edits / sizeof edits[0]; e++) {
        const char *file = edits[e][0], *from = edits[e][1], *to = edits[e][2], *want = edits[e][3];
        char cmd[2200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s'", bad, good, bad);
        CHECK(system(cmd) == 0);
        size_t len = 0;
        char *text = read_all(bad, file, &len), *at = text ? strstr(text, from) : NULL;
        CHECK_MSG(at != NULL, "%s has no %s", file, from);
        if (!at) {
            free(text);
            continue;
        }
        mlcc_strbuf out = STRBUF_INIT;
        sb_append_n(&out, text, (size_t)(at - text));
        sb_append(&out, to);
        sb_append(&out, at + strlen(from));
        char *path = mlcc_path_join(bad, file);
        mlcc_write_file_atomic(path, sb_cstr(&out), out.len);
        mlcc_model_options opt = {.max_seq = 16, .prefill_chunk = 8};
        mlcc_model *m = mlcc_model_open(bad, &opt);
        CHECK_MSG(m == NULL, "edit %zu (%s): opened", e, to);
        CHECK_MSG(strstr(mlcc_last_error(), want), "edit %zu: %s (want %s)", e, mlcc_last_error(), want);
        mlcc_model_free(m);
        free(path), free(text);
        sb_free(&out);
    }
}

int main(void) {
    char *src = test_data_path("hf-tiny/llama-tied-mqa");
    char base[] = "/tmp/mlcc-convert-XXXXXX";
    CHECK(mkdtemp(base) != NULL);
    char *a = mlcc_path_join(base, "a"), *b = mlcc_path_join(base, "b"), *bad = mlcc_path_join(base, "bad");
    CHECK_MSG(convert(src, a, 0) == 0, "%s", mlcc_last_error());
    CHECK_MSG(convert(src, b, 0) == 0, "%s", mlcc_last_error());
    CHECK(same_file(a, b, "params.json"));
    CHECK(same_file(a, b, "config.json") && same_file(src, a, "config.json"));
    char *tok = mlcc_path_join(src, "tokenizer.json");
    CHECK(same_file(src, a, "tokenizer.json") || !mlcc_file_exists(tok));
    free(tok);
    char *index = mlcc_path_join(a, "params.json");
    json_t *j = mlcc_json_load_file(index);
    json_t *tensors = json_object_get(j, "tensors"), *t;
    CHECK(json_array_size(tensors) > 10);
    size_t i;
    int shards = 0, bad_sum = 0;
    json_array_foreach(tensors, i, t) {
        const char *file = json_string_value(json_object_get(t, "file"));
        if (!file) continue;
        int k = atoi(file + strlen("params_shard_"));
        if (k + 1 > shards) shards = k + 1;
        size_t len = 0;
        char *data = read_all(a, file, &len);
        int64_t off = json_integer_value(json_object_get(t, "offset")), n = json_integer_value(json_object_get(t, "nbytes"));
        char hex[65] = "";
        if (data && off + n <= (int64_t)len) sha256_hex(data + off, (size_t)n, hex);
        bad_sum += strcmp(hex, json_string_value(json_object_get(t, "sha256"))) != 0;
        free(data);
    }
    json_decref(j);
    free(index);
    CHECK_MSG(shards >= 2, "%d shards", shards);
    CHECK_EQ_INT(bad_sum, 0);
    for (int k = 0; k < shards; k++) {
        char name[64];
        snprintf(name, sizeof name, "params_shard_%d.bin", k);
        CHECK_MSG(same_file(a, b, name), "%s differs between two conversions", name);
    }
    char scheme[32] = "";
    CHECK(weight_store_is_converted(a) && weight_store_scheme(a, scheme, sizeof scheme) == 0);
    CHECK_EQ_STR(scheme, "q4f16_1");

    MLCCNDArray *fly = logits_of(src, "q4f16_1"), *conv = logits_of(a, NULL);
    if (fly && conv) {
        int64_t n = fly->dl.shape[0] * fly->dl.shape[1];
        CHECK(conv->dl.shape[0] == fly->dl.shape[0] && memcmp(fly->dl.data, conv->dl.data, sizeof(float) * (size_t)n) == 0);
    }
    mlcc_ndarray_release(fly), mlcc_ndarray_release(conv);
    mlcc_model_options other = {.max_seq = 16, .quantization = "q8f16_1"};
    mlcc_model *m = mlcc_model_open(a, &other);
    CHECK(m == NULL && strstr(mlcc_last_error(), "converted with quantization q4f16_1"));
    mlcc_model_free(m);

    check_damage(a, bad, 1);
    check_damage(a, bad, 0);
    check_bad_index(a, bad);
    CHECK(convert(src, a, 0) != 0 && strstr(mlcc_last_error(), "already exists"));
    CHECK(weight_store_is_converted(a));
    CHECK_MSG(convert(src, a, 1) == 0, "%s", mlcc_last_error());
    CHECK(same_file(a, b, "params.json"));

    /* replacing when the new folder cannot be moved into place: the old one is put back */
    char *marker = mlcc_path_join(a, "keep.txt");
    CHECK(mlcc_write_file_atomic(marker, "mine", 4) == 0);
    fail_into = a;
    CHECK_MSG(convert(src, a, 1) != 0 && strstr(mlcc_last_error(), "cannot rename into place"), "%s", mlcc_last_error());
    CHECK_MSG(mlcc_file_exists(marker) && weight_store_is_converted(a), "the existing folder is gone: %s", mlcc_last_error());
    CHECK_EQ_INT(entries_named(base, ".old-") + entries_named(base, ".tmp-"), 0);
    /* ... and when it cannot be put back either, it is kept aside and the error says where */
    fail_any_into = 1;
    CHECK(convert(src, a, 1) != 0);
    const char *err = mlcc_last_error(), *kept = strstr(err, "the previous folder is kept as ");
    CHECK_MSG(kept && !mlcc_file_exists(a), "%s", err);
    fail_into = NULL, fail_any_into = 0;
    if (kept) {
        char *aside = strdup(kept + strlen("the previous folder is kept as "));
        char *aside_marker = mlcc_path_join(aside, "keep.txt");
        CHECK_MSG(mlcc_file_exists(aside_marker), "%s has not the previous folder", aside);
        CHECK(rename(aside, a) == 0);
        free(aside_marker), free(aside);
    }
    CHECK_EQ_INT(entries_named(base, ".tmp-"), 0);
    CHECK(mlcc_file_exists(marker));
    free(marker);

    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    CHECK(system(cmd) == 0);
    free(a), free(b), free(bad), free(src);
    return test_finish();
}
