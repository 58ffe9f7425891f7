/* fuzz_hub_index.c - a Hugging Face model.safetensors.index.json (hub/select.h,
 * mlcc_hub_index_shards) on arbitrary bytes, against a fixed repo file list: the shards it
 * accepts must be distinct files of that list and safe relative paths (they become download
 * targets under the snapshot folder); anything else is refused with an error. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hub/select.h"
#include "hub/uri.h"
#include "native_build.h" /* test_remove_dir */
#include "support/error.h"
#include "support/file.h"
#include "fuzz_file.h"

static char dir[] = "/tmp/mlcc-fuzz-hub-index-XXXXXX";
static char *index_path;

static char *const repo_files[] = {"config.json", "model.safetensors.index.json", "model-00001-of-00002.safetensors",
                                   "model-00002-of-00002.safetensors", "sub/dir/shard.safetensors", "../escape.safetensors"};
enum { N_FILES = sizeof repo_files / sizeof repo_files[0] };

static void remove_dir(void) {
    test_remove_dir(dir);
}

static int listed(const char *name) {
    for (size_t i = 0; i < N_FILES; i++)
        if (!strcmp(repo_files[i], name)) return 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!index_path) {
        if (!mkdtemp(dir)) abort();
        atexit(remove_dir);
        index_path = mlcc_path_join(dir, "model.safetensors.index.json");
    }
    fuzz_write_input(index_path, data, size);
    mlcc_hub_names v = {0};
    if (mlcc_hub_index_shards(index_path, repo_files, N_FILES, &v) == 0) {
        for (size_t i = 0; i < v.len; i++) {
            if (!listed(v.data[i]) || !mlcc_hub_safe_relpath(v.data[i])) {
                fprintf(stderr, "fuzz_hub_index: accepted shard '%s'\n", v.data[i]);
                abort();
            }
            for (size_t k = 0; k < i; k++)
                if (!strcmp(v.data[i], v.data[k])) abort(); /* listed twice: fetched twice */
        }
    }
    mlcc_hub_names_free(&v);
    mlcc_clear_error();
    return 0;
}
