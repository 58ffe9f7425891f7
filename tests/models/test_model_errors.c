/* test_model_errors.c - bad model files give clear errors naming the file and the field or
 * tensor, found before anything is compiled: unknown model_type, missing or mistyped config
 * fields, an unsupported rope type, broken JSON, a missing tensor, a tensor of the wrong
 * shape, a truncated or corrupt safetensors file, a truncated or foreign GGUF file, GGUF
 * metadata whose sizes the tensors cannot hold (refused before the weights are allocated).
 * Each case is a copy of hf-tiny/llama (or gguf/q-llama-f32.gguf) with one thing broken. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loader/safetensors.h"
#include "models/model.h"
#include "support/alloc.h"
#include "support/error.h"
#include "support/file.h"
#include "test.h"

static char *work;  /* a scratch folder */
static char *llama; /* hf-tiny/llama */

static char *path2(const char *a, const char *b) {
    return mlcc_path_join(a, b);
}

/* A fresh case folder with config.json = the llama config edited by `edit`. */
static char *make_case(const char *name, void (*edit)(json_t *)) {
    char *dir = path2(work, name);
    mlcc_mkdirs(dir);
    char *src = path2(llama, "config.json"), *dst = path2(dir, "config.json");
    json_t *j = json_load_file(src, 0, NULL);
    if (edit) edit(j);
    json_dump_file(j, dst, JSON_INDENT(1));
    json_decref(j);
    free(src), free(dst);
    return dir;
}

/* Writes dir/model.safetensors: the llama weights, without `drop` and with `reshape`'s shape
 * replaced by `shape` (a smaller one, so its data still fits). */
static void write_weights(const char *dir, const char *drop, const char *reshape, const int64_t *shape) {
    mlcc_safetensors *st = safetensors_open(llama);
    size_t n = safetensors_count(st), k = 0;
    mlcc_st_write_tensor *ts = calloc(n, sizeof *ts);
    for (size_t i = 0; i < n; i++) {
        const mlcc_st_tensor *t = safetensors_at(st, i);
        if (drop && !strcmp(t->name, drop)) continue;
        ts[k] = (mlcc_st_write_tensor){t->name, t->dtype, t->ndim, t->shape, t->data};
        if (reshape && !strcmp(t->name, reshape)) ts[k].shape = shape;
        k++;
    }
    char *file = path2(dir, "model.safetensors");
    CHECK(safetensors_write(file, ts, k, NULL) == 0);
    free(file);
    free(ts);
    safetensors_close(st);
}

/* Copies the first `keep` bytes of src to dst (keep < 0: all), then overwrites `patch` at
 * `at` when given. */
static void copy_file(const char *src, const char *dst, long keep, long at, const char *patch) {
    size_t len;
    char *data = mlcc_read_file(src, &len);
    CHECK(data != NULL);
    if (!data) return;
    if (keep >= 0 && (size_t)keep < len) len = (size_t)keep;
    if (patch) memcpy(data + at, patch, strlen(patch));
    CHECK(mlcc_write_file_atomic(dst, data, len) == 0);
    free(data);
}

/* Opening path fails with a message holding every one of the given fragments. */
static void expect_error(const char *path, const char *a, const char *b) {
    mlcc_model_options opt = {.max_seq = 64};
    mlcc_model *m = mlcc_model_open(path, &opt);
    CHECK_MSG(m == NULL, "%s: opened although broken", path);
    mlcc_model_free(m);
    const char *err = mlcc_last_error();
    printf("error: %s\n", err);
    CHECK_MSG(strstr(err, a) != NULL, "%s: error '%s' does not mention '%s'", path, err, a);
    if (b) CHECK_MSG(strstr(err, b) != NULL, "%s: error '%s' does not mention '%s'", path, err, b);
}

static void set_mamba(json_t *j) {
    json_object_set_new(j, "model_type", json_string("mamba"));
}
static void drop_hidden(json_t *j) {
    json_object_del(j, "hidden_size");
}
static void heads_string(json_t *j) {
    json_object_set_new(j, "num_attention_heads", json_string("four"));
}
static void rope_yarn(json_t *j) {
    json_object_set_new(j, "rope_scaling", json_pack("{s:s,s:f}", "rope_type", "yarn", "factor", 2.0));
}
static void bad_kv_heads(json_t *j) {
    json_object_set_new(j, "num_key_value_heads", json_integer(3));
}

static void test_config_errors(void) {
    char *d = make_case("unknown-type", set_mamba);
    expect_error(d, "model_type 'mamba'", "config.json");
    free(d);
    d = make_case("no-hidden", drop_hidden);
    expect_error(d, "missing field 'hidden_size'", "config.json");
    free(d);
    d = make_case("heads-string", heads_string);
    expect_error(d, "'num_attention_heads'", "config.json");
    free(d);
    d = make_case("rope-yarn", rope_yarn);
    expect_error(d, "rope_type 'yarn'", "config.json");
    free(d);
    d = make_case("kv-heads", bad_kv_heads);
    expect_error(d, "num_key_value_heads", "config.json");
    free(d);
    d = make_case("broken-json", NULL);
    char *cfg = path2(d, "config.json");
    copy_file(cfg, cfg, 40, -1, NULL);
    expect_error(d, "config.json", NULL);
    free(cfg), free(d);
    d = make_case("no-config", NULL);
    cfg = path2(d, "config.json");
    unlink(cfg);
    expect_error(d, "config.json", NULL);
    free(cfg), free(d);
}

static void test_weight_errors(void) {
    char *d = make_case("missing-tensor", NULL);
    write_weights(d, "model.layers.1.mlp.up_proj.weight", NULL, NULL);
    expect_error(d, "missing tensor 'model.layers.1.mlp.up_proj.weight'", "model.safetensors");
    free(d);
    d = make_case("wrong-shape", NULL);
    write_weights(d, NULL, "model.layers.0.self_attn.q_proj.weight", (int64_t[]){32, 64});
    expect_error(d, "'model.layers.0.self_attn.q_proj.weight' has shape [32, 64]", "model.safetensors");
    free(d);
    /* truncated: the header promises more data than the file holds */
    char *src = path2(llama, "model.safetensors");
    d = make_case("truncated", NULL);
    char *dst = path2(d, "model.safetensors");
    copy_file(src, dst, 5000, -1, NULL);
    expect_error(d, "model.safetensors", NULL);
    free(dst), free(d);
    /* corrupt header: JSON garbage right after the length */
    d = make_case("corrupt-header", NULL);
    dst = path2(d, "model.safetensors");
    copy_file(src, dst, -1, 8, "{\"x\": [}}}");
    expect_error(d, "model.safetensors", NULL);
    free(dst), free(d);
    /* no weights at all */
    d = make_case("no-weights", NULL);
    expect_error(d, d, NULL);
    free(d), free(src);
}

/* Where the u32 value of metadata `key` lies in GGUF file `path` (-1: not there as a u32). */
static long u32_value_at(const char *path, const char *key) {
    size_t len, klen = strlen(key);
    char *data = mlcc_read_file(path, &len);
    const char *k = data ? memmem(data, len, key, klen) : NULL;
    long at = -1;
    uint32_t type;
    if (k && (size_t)(k - data) + klen + 8 <= len) {
        memcpy(&type, k + klen, 4);
        if (type == 4) at = (long)(k - data) + (long)klen + 4; /* GGUF_TYPE_UINT32 */
    }
    free(data);
    return at;
}

static void test_gguf_errors(void) {
    char *src = test_data_path("gguf/q-llama-f32.gguf");
    /* The metadata's sizes are checked against the tensors before the weights' storage is
     * allocated (1.6 KB of metadata asked for any amount of memory, the tensors were checked
     * one by one as they were read into it): a feed_forward_length of 65793 (192's low bytes
     * set to 1) is refused naming the first tensor read whole that does not match ... */
    long at = u32_value_at(src, "llama.feed_forward_length");
    CHECK(at > 0);
    char *bad = path2(work, "big-ffn.gguf");
    copy_file(src, bad, -1, at, "\x01\x01\x01");
    expect_error(bad, "big-ffn.gguf: tensor 'blk.0.ffn_down.weight' has 2 dims (192, 64)", "implies [64, 65793]");
    free(bad);
    /* ... and sizes only combined projections take (4 KV heads: k and v are read into one
     * matrix with q) by the values the file's tensors hold */
    at = u32_value_at(src, "llama.attention.head_count_kv");
    CHECK(at > 0);
    bad = path2(work, "kv-heads.gguf");
    copy_file(src, bad, -1, at, "\x04");
    expect_error(bad, "kv-heads.gguf: the metadata's sizes", "weight values, but the file's tensors hold");
    free(bad);
    char *dst = path2(work, "truncated.gguf");
    copy_file(src, dst, 3000, -1, NULL);
    expect_error(dst, "truncated.gguf", NULL);
    free(dst);
    /* not GGUF at all */
    dst = path2(work, "not.gguf");
    copy_file(src, dst, -1, 0, "JUNK");
    expect_error(dst, "not.gguf", NULL);
    free(dst), free(src);
}

int main(void) {
    llama = test_data_path("hf-tiny/llama");
    char tmpl[] = "/tmp/mlcc-model-errors-XXXXXX";
    work = mkdtemp(tmpl) ? mlcc_xstrdup(tmpl) : NULL;
    CHECK(work != NULL);
    if (work) {
        test_config_errors();
        test_weight_errors();
        test_gguf_errors();
        char cmd[512];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", work);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", work);
    }
    free(work);
    free(llama);
    return test_finish();
}
