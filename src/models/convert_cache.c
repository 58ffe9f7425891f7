/* convert_cache.c - where weights converted on the fly are cached (see convert_cache.h). */
#include "models/convert_cache.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "codegen/jit.h"
#include "models/fuse_proj.h"
#include "models/model.h"
#include "models/weight_store.h"
#include "support/alloc.h"
#include "support/error.h"
#include "support/file.h"
#include "support/log.h"
#include "support/sha256.h"
#include "support/strbuf.h"

/* Bump when the converted layout of any weight changes (a graph builder's parameter list, a
 * scheme's packing, the GGUF permutations), so stale conversions are never read. */
enum { CONVERT_CACHE_VERSION = 1 };

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "name size mtime\n" of one file into the key (stat follows the hub's symlinks to blobs). */
static int add_file(mlcc_strbuf *key, const char *path, const char *name) {
    struct stat st;
    if (stat(path, &st)) return mlcc_set_error("%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return 0;
    sb_printf(key, "%s %lld %lld.%09ld\n", name, (long long)st.st_size, (long long)st.st_mtim.tv_sec,
              (long)st.st_mtim.tv_nsec);
    return 0;
}

/* Every file of a folder, in name order (readdir's order is the file system's). */
static int add_folder(mlcc_strbuf *key, const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return mlcc_set_error("%s: %s", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) names = mlcc_xrealloc(names, (cap = cap ? 2 * cap : 32) * sizeof *names);
        names[n++] = mlcc_xstrdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, by_name);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char *path = mlcc_path_join(dir, names[i]);
        if (rc == 0) rc = add_file(key, path, names[i]);
        free(path);
        free(names[i]);
    }
    free(names);
    return rc;
}

char *convert_cache_dir(const char *source, const mlcc_quant_scheme *scheme) {
    char real[PATH_MAX];
    if (!realpath(source, real)) return mlcc_set_error("%s: %s", source, strerror(errno)), NULL;
    mlcc_strbuf key = STRBUF_INIT;
    sb_printf(&key, "mlcc converted weights v%d\n%s\n%s\n", CONVERT_CACHE_VERSION, scheme->name, real);
    /* combined projections are other parameters than separate ones: a cache of each */
    if (fuse_proj_enabled()) sb_append(&key, "combined projections\n");
    int rc = mlcc_is_dir(real) ? add_folder(&key, real) : add_file(&key, real, real);
    char hex[65];
    sha256_hex(sb_cstr(&key), key.len, hex);
    sb_free(&key);
    if (rc) return NULL;
    char *home = mlcc_home_dir(), *cache = mlcc_path_join(home, "cache/converted"), *dir = mlcc_path_join(cache, hex);
    free(home);
    free(cache);
    return dir;
}

/* Does loading `path` as m->quant convert weights (rather than read them as stored, or
 * repack them exactly)? */
static int converts(const mlcc_model *m, const char *path, int is_gguf) {
    if (m->quant && m->quant->group_zero && m->cfg.awq_group_size) return 0; /* an AWQ checkpoint's own codes */
    return m->quant && m->quant->bits > 0 && !(is_gguf && model_gguf_native_scheme(path) == m->quant);
}

static int read_cached(mlcc_model *m, const char *dir) {
    if (weight_store_load(m, dir) == 0) {
        LOG_INFO("weights: %s, converted earlier, from %s", m->quant->name, dir);
        return 0;
    }
    LOG_WARN("the cached conversion %s cannot be used (%s): converting again", dir, mlcc_last_error());
    model_release_weights(m);
    return -1;
}

int convert_cache_load_weights(mlcc_model *m, const char *path, int is_gguf) {
    mlcc_jit_policy policy = mlcc_jit_policy_get();
    char *dir = NULL;
    if (policy != MLCC_JIT_POLICY_OFF && converts(m, path, is_gguf) && !(dir = convert_cache_dir(path, m->quant)))
        LOG_WARN("no cache for converted weights: %s", mlcc_last_error());
    if (dir && policy != MLCC_JIT_POLICY_REDO && weight_store_is_converted(dir) && read_cached(m, dir) == 0) {
        free(dir);
        return 0;
    }
    int rc = model_load_weights(m, path, is_gguf);
    if (rc == 0 && dir && policy != MLCC_JIT_POLICY_READONLY) {
        weight_store_options opt = {.force = 1};
        if (weight_store_write(m, path, dir, &opt))
            LOG_WARN("cannot cache the converted weights in %s: %s", dir, mlcc_last_error());
    }
    free(dir);
    return rc;
}
