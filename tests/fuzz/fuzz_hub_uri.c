/* fuzz_hub_uri.c - HF:// references and repo paths from anywhere: a reference must either be
 * refused with a message or parse into a valid repo id, a revision that is a plain name, and a
 * .gguf path that cannot leave the snapshot folder; the cache folder named after the repo must
 * stay directly under MLCC_HOME/hub. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hub/cache.h"
#include "hub/uri.h"
#include "support/alloc.h"
#include "support/error.h"

/* Could path, joined under a folder, name something outside it: absolute, or a component that
 * is empty, "." or ".."? Checked here apart from mlcc_hub_safe_relpath, by components: a
 * substring test for "../" also refused names such as "model-Q../x.gguf" (a folder
 * "model-Q.."), which stay inside. */
static int leaves_folder(const char *path) {
    if (path[0] == '/') return 1;
    for (const char *seg = path;;) {
        size_t len = strcspn(seg, "/");
        if (len == 0 || (len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.')) return 1;
        if (!seg[len]) return 0;
        seg += len + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = mlcc_xstrndup((const char *)data, size);
    (void)mlcc_hub_safe_relpath(s);
    (void)mlcc_hub_is_commit(s);
    mlcc_hub_uri u;
    mlcc_clear_error();
    if (mlcc_hub_uri_parse(s, &u) != 0) {
        if (mlcc_last_error()[0] == '\0') __builtin_trap(); /* a refusal must say why */
    } else {
        if (!mlcc_hub_valid_repo_id(u.repo) || !u.revision[0]) __builtin_trap();
        if (strchr(u.revision, '/') || strstr(u.revision, "..")) __builtin_trap();
        if (u.file && (!mlcc_hub_safe_relpath(u.file) || leaves_folder(u.file))) __builtin_trap();
        setenv("MLCC_HOME", "/nonexistent-mlcc-home", 1);
        char *dir = mlcc_hub_repo_dir(u.repo);
        const char *name = dir + strlen("/nonexistent-mlcc-home/hub/");
        if (strncmp(name, "models--", 8) != 0 || strchr(name, '/')) __builtin_trap();
        free(dir);
        mlcc_hub_uri_free(&u);
    }
    free(s);
    return 0;
}
