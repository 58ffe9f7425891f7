/* test_convert_cache.c - weights quantized on the fly are cached (models/convert_cache.h):
 *   - opening a checkpoint with --quantization q4f16_1 writes a converted folder under
 *     MLCC_HOME/cache/converted; a second open gives bitwise the same logits and reads that
 *     folder, not the checkpoint (proved by overwriting the checkpoint's weights with garbage
 *     while keeping their size and modification time: the key cannot see it, the logits stay);
 *   - a new modification time is a new key: the checkpoint is converted again;
 *   - a damaged cache entry is converted again (a warning), with the same logits;
 *   - MLCC_JIT_POLICY=OFF writes nothing; READONLY reads but never writes;
 *   - q0f32 (nothing to convert) and `mlcc convert` (mlcc_model_load_uncompiled) write nothing. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "models/convert_cache.h"
#include "models/model.h"
#include "support/error.h"
#include "support/file.h"
#include "test.h"

static const int32_t ids[6] = {1, 5, 9, 33, 2, 100};

static MLCCNDArray *logits_of(const char *path, const char *quant) {
    mlcc_model_options opt = {.max_seq = 16, .prefill_chunk = 8, .logit_rows = 8, .quantization = quant};
    mlcc_model *m = mlcc_model_open(path, &opt);
    CHECK_MSG(m != NULL, "%s: %s", path, mlcc_last_error());
    if (!m) return NULL;
    MLCCNDArray *l = NULL;
    CHECK_MSG(mlcc_model_prefill(m, ids, 6, &l) == 0, "%s", mlcc_last_error());
    mlcc_model_free(m);
    return l;
}

static int same_logits(const MLCCNDArray *a, const MLCCNDArray *b) {
    if (!a || !b || a->dl.shape[0] != b->dl.shape[0] || a->dl.shape[1] != b->dl.shape[1]) return 0;
    return memcmp(a->dl.data, b->dl.data, sizeof(float) * (size_t)(a->dl.shape[0] * a->dl.shape[1])) == 0;
}

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += e->d_name[0] != '.';
    if (d) closedir(d);
    return n;
}

static int copy_file(const char *from, const char *to) {
    size_t len = 0;
    char *data = mlcc_read_file(from, &len);
    int rc = data ? mlcc_write_file_atomic(to, data, len) : -1;
    free(data);
    return rc;
}

/* Overwrites a file's bytes (same size) and puts its modification time back. */
static void scramble_keeping_mtime(const char *path) {
    struct stat st;
    CHECK(stat(path, &st) == 0);
    size_t len = 0;
    char *data = mlcc_read_file(path, &len);
    CHECK(data != NULL);
    for (size_t i = 0; data && i < len; i++) data[i] = (char)(0x5a ^ (i * 131));
    FILE *f = fopen(path, "r+b");
    CHECK(f && fwrite(data, 1, len, f) == len);
    if (f) fclose(f);
    free(data);
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    CHECK(utimensat(AT_FDCWD, path, times, 0) == 0);
}

int main(void) {
    char *fixture = test_data_path("hf-tiny/llama-tied-mqa"); /* (a skip comes before the folder is made) */
    char base[] = "/tmp/mlcc-convert-cache-XXXXXX";
    CHECK(mkdtemp(base) != NULL);
    char *home = mlcc_path_join(base, "home"), *src = mlcc_path_join(base, "model");
    char *cache = mlcc_path_join(home, "cache/converted");
    setenv("MLCC_HOME", home, 1);
    unsetenv("MLCC_JIT_POLICY");
    /* a private copy of the checkpoint, whose files the test may change */
    CHECK(mlcc_mkdirs(src) == 0);
    const char *files[] = {"config.json", "model.safetensors"};
    for (int i = 0; i < 2; i++) {
        char *from = mlcc_path_join(fixture, files[i]), *to = mlcc_path_join(src, files[i]);
        CHECK_MSG(copy_file(from, to) == 0, "%s", mlcc_last_error());
        free(from), free(to);
    }
    char *weights = mlcc_path_join(src, "model.safetensors");
    char *weights_copy = mlcc_path_join(base, "model.safetensors.orig");
    CHECK(copy_file(weights, weights_copy) == 0);

    MLCCNDArray *f32 = logits_of(src, NULL);
    CHECK_EQ_INT(count_entries(cache), 0);

    MLCCNDArray *first = logits_of(src, "q4f16_1");
    CHECK_EQ_INT(count_entries(cache), 1);
    char *entry = convert_cache_dir(src, quant_scheme_find("q4f16_1"));
    CHECK(entry && mlcc_is_dir(entry));
    CHECK(f32 && first && !same_logits(f32, first)); /* 4 bits do change the logits */

    /* the second open reads the cache: garbage weights with the same size and time are unseen */
    scramble_keeping_mtime(weights);
    MLCCNDArray *second = logits_of(src, "q4f16_1");
    CHECK_MSG(same_logits(first, second), "the second open did not read the cached conversion");
    CHECK_EQ_INT(count_entries(cache), 1);

    /* the real weights again, with a new time: a new key, converted again, same logits */
    CHECK(copy_file(weights_copy, weights) == 0);
    MLCCNDArray *third = logits_of(src, "q4f16_1");
    CHECK(same_logits(first, third));
    CHECK_EQ_INT(count_entries(cache), 2);

    /* a damaged entry (a shard cut short) is converted again */
    char *entry2 = convert_cache_dir(src, quant_scheme_find("q4f16_1"));
    char *shard = entry2 ? mlcc_path_join(entry2, "params_shard_0.bin") : NULL;
    CHECK(shard && truncate(shard, 100) == 0);
    MLCCNDArray *fourth = logits_of(src, "q4f16_1");
    CHECK(same_logits(first, fourth));
    struct stat st;
    CHECK(shard && stat(shard, &st) == 0 && st.st_size > 100);

    /* OFF and READONLY never write; q8f16_1 is another scheme, hence another entry */
    setenv("MLCC_JIT_POLICY", "OFF", 1);
    MLCCNDArray *off = logits_of(src, "q8f16_1");
    CHECK_EQ_INT(count_entries(cache), 2);
    setenv("MLCC_JIT_POLICY", "READONLY", 1);
    MLCCNDArray *ro = logits_of(src, "q8f16_1");
    CHECK_EQ_INT(count_entries(cache), 2);
    CHECK(same_logits(off, ro));
    unsetenv("MLCC_JIT_POLICY");
    MLCCNDArray *q8 = logits_of(src, "q8f16_1");
    CHECK_EQ_INT(count_entries(cache), 3);
    CHECK(same_logits(off, q8));

    /* `mlcc convert` loads through mlcc_model_load_uncompiled: no cache entry */
    mlcc_model_options opt = {.quantization = "q4f32_1"};
    mlcc_model *m = mlcc_model_load_uncompiled(src, &opt);
    CHECK_MSG(m != NULL, "%s", mlcc_last_error());
    mlcc_model_free(m);
    CHECK_EQ_INT(count_entries(cache), 3);

    MLCCNDArray *all[] = {f32, first, second, third, fourth, off, ro, q8};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) mlcc_ndarray_release(all[i]);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    CHECK(system(cmd) == 0);
    free(home), free(src), free(cache), free(fixture), free(weights), free(weights_copy);
    free(entry), free(entry2), free(shard);
    return test_finish();
}
