/* test_hub_parts.c - the hub's pure parts: HF:// parsing, path safety, which files a model needs,
 * index shards, the download policy, and the cache layout (refs, links into blobs, listing,
 * removal) built by hand in a temporary MLCC_HOME. Downloads themselves: tests/e2e/test_hub.sh. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hub/cache.h"
#include "hub/hub.h"
#include "hub/progress.h"
#include "hub/select.h"
#include "hub/uri.h"
#include "support/error.h"
#include "support/file.h"
#include "test.h"

static void check_uri(const char *s, const char *repo, const char *rev, const char *file) {
    mlcc_hub_uri u;
    int rc = mlcc_hub_uri_parse(s, &u);
    CHECK_MSG(rc == 0, "%s: %s", s, mlcc_last_error());
    if (rc != 0) return;
    CHECK_EQ_STR(u.repo, repo);
    CHECK_EQ_STR(u.revision, rev);
    if (file)
        CHECK_EQ_STR(u.file, file);
    else
        CHECK_MSG(u.file == NULL, "%s: file %s", s, u.file);
    mlcc_hub_uri_free(&u);
}

static void check_bad_uri(const char *s, const char *error) {
    mlcc_hub_uri u;
    CHECK_EQ_INT(mlcc_hub_uri_parse(s, &u), -1);
    CHECK_EQ_STR(mlcc_last_error(), error);
}

static void test_uri(void) {
    check_uri("HF://Qwen/Qwen2.5-0.5B-Instruct", "Qwen/Qwen2.5-0.5B-Instruct", "main", NULL);
    check_uri("hf://org/repo/", "org/repo", "main", NULL);
    check_uri("HF://org/repo@v1.0", "org/repo", "v1.0", NULL);
    check_uri("HF://org/repo/model-Q4_K_M.gguf", "org/repo", "main", "model-Q4_K_M.gguf");
    check_uri("Hf://org/repo@0123456789abcdef0123456789abcdef01234567/q8/m.GGUF", "org/repo",
              "0123456789abcdef0123456789abcdef01234567", "q8/m.GGUF");
    /* a folder named "sub-model-Q.." stays inside the snapshot (fuzz_hub_uri once refused it) */
    check_uri("hf://org/repo@v1.0/sub-model-Q../4_K_M.gguf", "org/repo", "v1.0", "sub-model-Q../4_K_M.gguf");
    CHECK(mlcc_hub_is_uri("hf://x/y"));
    CHECK(!mlcc_hub_is_uri("/models/hf://x"));
    CHECK(!mlcc_hub_is_uri("HF:/x/y"));
    check_bad_uri(
        "HF://gpt2",
        "HF://gpt2: 'gpt2' is not a repository id (expected HF://org/repo[@revision][/file.gguf])");
    check_bad_uri("HF://org/re--po", "HF://org/re--po: 'org/re--po' is not a repository id "
                                     "(expected HF://org/repo[@revision][/file.gguf])");
    check_bad_uri("HF://org/..", "HF://org/..: 'org/..' is not a repository id (expected "
                                 "HF://org/repo[@revision][/file.gguf])");
    check_bad_uri(
        "HF://org/repo@",
        "HF://org/repo@: '' is not a revision (a branch, tag or commit: letters, digits, - _ .)");
    check_bad_uri("HF://org/repo@a..b", "HF://org/repo@a..b: 'a..b' is not a revision (a branch, "
                                        "tag or commit: letters, digits, - _ .)");
    check_bad_uri("HF://org/repo/../x.gguf",
                  "HF://org/repo/../x.gguf: '../x.gguf' is not a .gguf file path (only one GGUF "
                  "file can be named after the repository: HF://org/repo[@revision][/file.gguf])");
    check_bad_uri(
        "HF://org/repo/pytorch_model.bin",
        "HF://org/repo/pytorch_model.bin: 'pytorch_model.bin' is not a .gguf file path (only one "
        "GGUF file can be named after the repository: HF://org/repo[@revision][/file.gguf])");
    check_bad_uri("/local/path",
                  "'/local/path' is not a hub reference (HF://org/repo[@revision][/file.gguf])");
}

static void test_safe_relpath(void) {
    CHECK(mlcc_hub_safe_relpath("model.safetensors"));
    CHECK(mlcc_hub_safe_relpath("sub/dir/x.gguf"));
    CHECK(mlcc_hub_safe_relpath("..x/y..")); /* dots inside names are fine */
    const char *bad[] = {"",    "/etc/passwd", "../x", "a/../b", "a//b", "a/",
                         "./a", "a/.",         "a\\b", "a\nb",   ".."};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_MSG(!mlcc_hub_safe_relpath(bad[i]), "'%s' accepted", bad[i]);
    CHECK(mlcc_hub_is_commit("0123456789abcdef0123456789abcdef01234567"));
    CHECK(!mlcc_hub_is_commit("0123456789ABCDEF0123456789abcdef01234567"));
    CHECK(!mlcc_hub_is_commit("main"));
}

static char *join_names(const mlcc_hub_names *v) {
    static char buf[1024];
    buf[0] = '\0';
    for (size_t i = 0; i < v->len; i++) {
        if (i) strcat(buf, " ");
        strcat(buf, v->data[i]);
    }
    return buf;
}

static void test_select(void) {
    char *full[] = {"README.md",
                    "config.json",
                    "generation_config.json",
                    "model.safetensors",
                    "pytorch_model.bin",
                    "tokenizer.json",
                    "tokenizer_config.json",
                    "special_tokens_map.json",
                    "onnx/model.onnx",
                    "chat_template.jinja"};
    mlcc_hub_names v = {0};
    CHECK_EQ_INT(mlcc_hub_select_files("o/r", full, 10, &v), 0);
    CHECK_EQ_STR(join_names(&v), "config.json generation_config.json tokenizer.json "
                                 "tokenizer_config.json special_tokens_map.json "
                                 "chat_template.jinja model.safetensors");
    mlcc_hub_names_free(&v);

    char *sharded[] = {"config.json", "tokenizer.model", "model.safetensors.index.json",
                       "model-00001-of-00002.safetensors", "model.safetensors"};
    CHECK_EQ_INT(mlcc_hub_select_files("o/r", sharded, 5, &v), 0);
    CHECK_EQ_STR(join_names(&v), "config.json tokenizer.model model.safetensors.index.json");
    mlcc_hub_names_free(&v);

    char *gguf_only[] = {"README.md", "a-q4_0.gguf", "a-f16.gguf"};
    CHECK_EQ_INT(mlcc_hub_select_files("o/r", gguf_only, 3, &v), -1);
    CHECK_EQ_STR(mlcc_last_error(), "HF://o/r has no config.json; it has GGUF files (a-q4_0.gguf, "
                                    "a-f16.gguf): name one, as in HF://o/r/a-q4_0.gguf");
    char *no_weights[] = {"config.json", "tokenizer.json", "pytorch_model.bin"};
    CHECK_EQ_INT(mlcc_hub_select_files("o/r", no_weights, 3, &v), -1);
    CHECK_EQ_STR(mlcc_last_error(),
                 "HF://o/r has no safetensors weights (model.safetensors or "
                 "model.safetensors.index.json): it is not a model mlcc can load");
    char *no_tok[] = {"config.json", "model.safetensors"};
    CHECK_EQ_INT(mlcc_hub_select_files("o/r", no_tok, 2, &v), -1);
    CHECK_EQ_STR(mlcc_last_error(),
                 "HF://o/r has no tokenizer.json or tokenizer.model: it is not a "
                 "model mlcc can load");
    CHECK_EQ_INT(v.len, 0);
}

static void test_index_shards(const char *dir) {
    char *files[] = {"s1.safetensors", "s2.safetensors", "model.safetensors.index.json"};
    char *path = mlcc_path_join(dir, "index.json");
    const char *good = "{\"weight_map\": {\"a\": \"s1.safetensors\", \"b\": \"s2.safetensors\", "
                       "\"c\": \"s1.safetensors\"}}";
    mlcc_write_file_atomic(path, good, strlen(good));
    mlcc_hub_names v = {0};
    CHECK_EQ_INT(mlcc_hub_index_shards(path, files, 3, &v), 0);
    CHECK_EQ_STR(join_names(&v), "s1.safetensors s2.safetensors");
    mlcc_hub_names_free(&v);

    const char *escape = "{\"weight_map\": {\"a\": \"../../evil.so\"}}";
    mlcc_write_file_atomic(path, escape, strlen(escape));
    CHECK_EQ_INT(mlcc_hub_index_shards(path, files, 3, &v), -1);
    CHECK(strstr(mlcc_last_error(), "weight_map[\"a\"] is not a file name in the repo") != NULL);
    const char *absent = "{\"weight_map\": {\"a\": \"s3.safetensors\"}}";
    mlcc_write_file_atomic(path, absent, strlen(absent));
    CHECK_EQ_INT(mlcc_hub_index_shards(path, files, 3, &v), -1);
    CHECK(strstr(mlcc_last_error(), "names s3.safetensors, which the repo does not have") != NULL);
    const char *no_map = "{\"metadata\": {}}";
    mlcc_write_file_atomic(path, no_map, strlen(no_map));
    CHECK_EQ_INT(mlcc_hub_index_shards(path, files, 3, &v), -1);
    CHECK(strstr(mlcc_last_error(), "no \"weight_map\" object") != NULL);
    mlcc_write_file_atomic(path, "{", 1);
    CHECK_EQ_INT(mlcc_hub_index_shards(path, files, 3, &v), -1);
    CHECK(strstr(mlcc_last_error(), "index.json:1:") != NULL);
    CHECK_EQ_INT(v.len, 0);
    free(path);
}

static void test_policy(void) {
    mlcc_download_policy p;
    unsetenv("MLCC_DOWNLOAD_POLICY");
    CHECK_EQ_INT(mlcc_download_policy_get(&p), 0);
    CHECK_EQ_INT(p, MLCC_DOWNLOAD_ON);
    setenv("MLCC_DOWNLOAD_POLICY", "redo", 1);
    CHECK_EQ_INT(mlcc_download_policy_get(&p), 0);
    CHECK_EQ_INT(p, MLCC_DOWNLOAD_REDO);
    setenv("MLCC_DOWNLOAD_POLICY", "ReadOnly", 1);
    CHECK_EQ_INT(mlcc_download_policy_get(&p), 0);
    CHECK_EQ_STR(mlcc_download_policy_name(p), "READONLY");
    unsetenv("MLCC_DOWNLOAD_POLICY");
    setenv("HF_HUB_OFFLINE", "1", 1); /* huggingface_hub's switch, when ours is unset */
    CHECK_EQ_INT(mlcc_download_policy_get(&p), 0);
    CHECK_EQ_INT(p, MLCC_DOWNLOAD_OFF);
    setenv("MLCC_DOWNLOAD_POLICY", "on", 1);
    CHECK_EQ_INT(mlcc_download_policy_get(&p), 0);
    CHECK_EQ_INT(p, MLCC_DOWNLOAD_ON);
    unsetenv("HF_HUB_OFFLINE");
    setenv("MLCC_DOWNLOAD_POLICY", "yes", 1);
    CHECK_EQ_INT(mlcc_download_policy_get(&p), -1);
    CHECK_EQ_STR(mlcc_last_error(), "MLCC_DOWNLOAD_POLICY=yes: expected ON, OFF, REDO or READONLY");
    unsetenv("MLCC_DOWNLOAD_POLICY");
}

/* A cache made by hand: refs, blobs, links (nested too), then list, resolve offline, remove. */
static void test_cache(const char *home) {
    setenv("MLCC_HOME", home, 1);
    setenv("HF_ENDPOINT", "http://127.0.0.1:9", 1); /* never reached: everything is cached */
    const char *commit = "0123456789abcdef0123456789abcdef01234567";
    char *repo_dir = mlcc_hub_repo_dir("org/Model-1");
    char expect_dir[4096];
    snprintf(expect_dir, sizeof expect_dir, "%s/hub/models--org--Model-1", home);
    CHECK_EQ_STR(repo_dir, expect_dir);
    CHECK(mlcc_hub_read_ref(repo_dir, "main") == NULL);
    CHECK_EQ_INT(mlcc_hub_write_ref(repo_dir, "main", commit), 0);
    char *ref = mlcc_hub_read_ref(repo_dir, "main");
    CHECK_EQ_STR(ref, commit);
    free(ref);

    char *blobs = mlcc_path_join(repo_dir, "blobs");
    mlcc_mkdirs(blobs);
    char *b1 = mlcc_hub_blob_path(repo_dir, "aaaa", NULL),
         *b2 = mlcc_hub_blob_path(repo_dir, "bbbb", NULL);
    mlcc_write_file_atomic(b1, "0123456789", 10);
    mlcc_write_file_atomic(b2, "abc", 3);
    CHECK_EQ_INT(mlcc_hub_link_blob(repo_dir, commit, "q/m.gguf", "aaaa"), 0);
    CHECK_EQ_INT(mlcc_hub_link_blob(repo_dir, commit, "x.gguf", "bbbb"), 0);
    CHECK_EQ_INT(mlcc_hub_link_blob(repo_dir, commit, "x.gguf", "bbbb"), 0); /* replaced */
    char *link = mlcc_hub_snapshot_path(repo_dir, commit, "q/m.gguf");
    char target[256] = "";
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n > 0) target[n] = '\0';
    CHECK_EQ_STR(target, "../../../blobs/aaaa");
    size_t len = 0;
    char *text = mlcc_read_file(link, &len);
    CHECK_EQ_STR(text, "0123456789");
    free(text);

    /* resolving with everything cached needs no network, whatever HF_ENDPOINT says */
    char *path = mlcc_hub_resolve("HF://org/Model-1/q/m.gguf");
    CHECK_EQ_STR(path, link);
    free(path);
    path = mlcc_hub_resolve("/some/local/dir");
    CHECK_EQ_STR(path, "/some/local/dir");
    free(path);

    mlcc_hub_cached *items;
    size_t count;
    CHECK_EQ_INT(mlcc_hub_cache_list(&items, &count), 0);
    CHECK_EQ_INT(count, 1);
    if (count == 1) {
        CHECK_EQ_STR(items[0].repo, "org/Model-1");
        CHECK_EQ_STR(items[0].commit, commit);
        CHECK_EQ_STR(items[0].refs, "main");
        CHECK_EQ_INT(items[0].files, 2);
        CHECK_EQ_INT(items[0].bytes, 13);
    }
    mlcc_hub_cache_list_free(items, count);

    CHECK_EQ_INT(mlcc_hub_cache_remove("org/Other"), -1);
    CHECK_EQ_INT(mlcc_hub_cache_remove("org/../x"), -1);
    CHECK_EQ_STR(mlcc_last_error(), "'org/../x' is not a repository id (expected org/repo)");
    CHECK_EQ_INT(mlcc_hub_cache_remove("HF://org/Model-1"), 0);
    CHECK(!mlcc_file_exists(repo_dir));
    CHECK_EQ_INT(mlcc_hub_cache_list(&items, &count), 0);
    CHECK_EQ_INT(count, 0);
    mlcc_hub_cache_list_free(items, count);
    free(link);
    free(b1);
    free(b2);
    free(blobs);
    free(repo_dir);
}

static void test_format(void) {
    char buf[32];
    mlcc_format_bytes(0, buf, sizeof buf);
    CHECK_EQ_STR(buf, "0 B");
    mlcc_format_bytes(1023, buf, sizeof buf);
    CHECK_EQ_STR(buf, "1023 B");
    mlcc_format_bytes(4115672, buf, sizeof buf);
    CHECK_EQ_STR(buf, "3.9 MiB");
    mlcc_format_bytes((int64_t)5 << 30, buf, sizeof buf);
    CHECK_EQ_STR(buf, "5.0 GiB");
}

int main(void) {
    char dir[] = "/tmp/mlcc-test-hub-XXXXXX";
    if (!mkdtemp(dir)) TEST_SKIP("cannot make a temporary folder");
    test_uri();
    test_safe_relpath();
    test_select();
    test_index_shards(dir);
    test_policy();
    char *home = mlcc_path_join(dir, "home");
    test_cache(home);
    free(home);
    test_format();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "note: could not remove %s\n", dir);
    return test_finish();
}
