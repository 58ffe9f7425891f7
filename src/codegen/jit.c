/* jit.c - system-compiler JIT with an on-disk cache (see jit.h). */
#include "codegen/jit.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "codegen/codegen_c.h"
#include "support/alloc.h"
#include "support/error.h"
#include "support/file.h"
#include "support/log.h"
#include "support/sha256.h"
#include "support/strbuf.h"

#ifndef MLCC_C_COMPILER
#define MLCC_C_COMPILER "cc"
#endif

struct mlcc_jit_module {
    MLCCModule *module;
    char *path;
    int remove_on_free; /* a private (uncached) object */
};

static const char *const compile_flags[] = {"-O2", "-std=gnu11", "-fPIC", "-shared", "-fopenmp",
                                            "-march=native", "-fno-math-errno", "-Wl,-Bsymbolic", NULL};

static atomic_long stat_compiles, stat_hits;

mlcc_jit_stats mlcc_jit_get_stats(void) {
    mlcc_jit_stats s = {atomic_load(&stat_compiles), atomic_load(&stat_hits)};
    return s;
}

static const char *compiler_path(void) {
    const char *cc = getenv("MLCC_CC");
    return cc && *cc ? cc : MLCC_C_COMPILER;
}

/* Runs argv, with stdout+stderr into *output (malloc'ed). Returns the exit status or -1. */
static int run_command(char *const argv[], char **output) {
    char log_path[] = "/tmp/mlcc-cc-XXXXXX";
    int log_fd = mkstemp(log_path);
    if (log_fd < 0) return mlcc_set_error("jit: cannot create a temporary file: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
        close(log_fd);
        unlink(log_path);
        return mlcc_set_error("jit: fork failed: %s", strerror(errno));
    }
    if (pid == 0) {
        dup2(log_fd, 1);
        dup2(log_fd, 2);
        execvp(argv[0], argv);
        fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(log_fd);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) break;
    *output = mlcc_read_file(log_path, NULL);
    unlink(log_path);
    if (!*output) *output = mlcc_xstrdup("");
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static char *banner_value;

static void init_banner(void) {
    char *out = NULL;
    char *argv[] = {(char *)compiler_path(), "--version", NULL};
    if (run_command(argv, &out) != 0) {
        free(out);
        out = mlcc_xstrdup("unknown-compiler");
    }
    char *nl = strchr(out, '\n');
    if (nl) *nl = '\0';
    banner_value = out;
}

/* The compiler's version banner, once per process (part of the cache key). */
static const char *compiler_banner(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, init_banner);
    return banner_value;
}

static int compile_to(const char *src_path, const char *so_path) {
    char *argv[32];
    int k = 0;
    argv[k++] = (char *)compiler_path();
    for (int i = 0; compile_flags[i]; i++) argv[k++] = (char *)compile_flags[i];
    argv[k++] = "-o";
    argv[k++] = (char *)so_path;
    argv[k++] = (char *)src_path;
    argv[k++] = "-lm";
    argv[k] = NULL;
    char *output = NULL;
    atomic_fetch_add(&stat_compiles, 1);
    LOG_INFO("jit: compiling %s", src_path);
    int rc = run_command(argv, &output);
    if (rc != 0) {
        if (strlen(output) > 3000) output[3000] = '\0';
        mlcc_set_error("jit: %s failed on %s (exit %d):\n%s", argv[0], src_path, rc, output);
        free(output);
        return -1;
    }
    free(output);
    return 0;
}

static mlcc_jit_module *load_object(const char *path, int remove_on_free) {
    MLCCModule *mod = mlcc_module_load(path);
    if (!mod) return NULL;
    mlcc_jit_module *m = mlcc_xcalloc(1, sizeof *m);
    m->module = mod;
    m->path = mlcc_xstrdup(path);
    m->remove_on_free = remove_on_free;
    return m;
}

mlcc_jit_policy mlcc_jit_policy_get(void) {
    const char *p = getenv("MLCC_JIT_POLICY");
    if (!p || !*p || strcmp(p, "ON") == 0) return MLCC_JIT_POLICY_ON;
    if (strcmp(p, "OFF") == 0) return MLCC_JIT_POLICY_OFF;
    if (strcmp(p, "REDO") == 0) return MLCC_JIT_POLICY_REDO;
    if (strcmp(p, "READONLY") == 0) return MLCC_JIT_POLICY_READONLY;
    LOG_WARN("MLCC_JIT_POLICY=%s is not one of ON, OFF, REDO, READONLY; using ON", p);
    return MLCC_JIT_POLICY_ON;
}

/* Compiles into a private temporary directory (for OFF, or READONLY with a cache miss). */
static mlcc_jit_module *compile_private(const char *source, size_t len) {
    char dir[] = "/tmp/mlcc-jit-XXXXXX";
    if (!mkdtemp(dir)) {
        mlcc_set_error("jit: cannot create a temporary directory: %s", strerror(errno));
        return NULL;
    }
    char *src = mlcc_path_join(dir, "kernels.c"), *so = mlcc_path_join(dir, "kernels.so");
    mlcc_jit_module *m = NULL;
    if (mlcc_write_file_atomic(src, source, len) == 0 && compile_to(src, so) == 0) m = load_object(so, 1);
    unlink(src);
    if (!m) unlink(so);
    free(src);
    free(so);
    if (!m) rmdir(dir);
    return m;
}

mlcc_jit_module *mlcc_jit_compile_source(const char *source) {
    size_t len = strlen(source);
    mlcc_jit_policy policy = mlcc_jit_policy_get();
    if (policy == MLCC_JIT_POLICY_OFF) return compile_private(source, len);

    mlcc_sha256 ctx;
    unsigned char digest[32];
    sha256_init(&ctx);
    sha256_update(&ctx, source, len + 1);
    const char *cc = compiler_path(), *banner = compiler_banner();
    sha256_update(&ctx, cc, strlen(cc) + 1);
    sha256_update(&ctx, banner, strlen(banner) + 1);
    for (int i = 0; compile_flags[i]; i++) sha256_update(&ctx, compile_flags[i], strlen(compile_flags[i]) + 1);
    sha256_final(&ctx, digest);
    char key[65];
    for (int i = 0; i < 32; i++) snprintf(key + 2 * i, 3, "%02x", digest[i]);

    char *home = mlcc_home_dir();
    char *dir = mlcc_path_join(home, "cache/kernels");
    free(home);
    char name[96];
    snprintf(name, sizeof name, "%s.so", key);
    char *so = mlcc_path_join(dir, name);
    mlcc_jit_module *m = NULL;
    if (policy != MLCC_JIT_POLICY_REDO && mlcc_file_exists(so)) {
        m = load_object(so, 0);
        if (m) atomic_fetch_add(&stat_hits, 1);
    }
    if (!m && policy == MLCC_JIT_POLICY_READONLY) m = compile_private(source, len);
    if (!m && policy != MLCC_JIT_POLICY_READONLY) {
        if (mlcc_mkdirs(dir) == 0) {
            /* Compile under a private name, then rename: readers never see a partial object. */
            char tmp_name[128];
            snprintf(tmp_name, sizeof tmp_name, "%s.%ld.%lx", key, (long)getpid(), (unsigned long)pthread_self());
            char *tmp_base = mlcc_path_join(dir, tmp_name);
            size_t tlen = strlen(tmp_base) + 8;
            char *tmp_src = mlcc_xmalloc(tlen), *tmp_so = mlcc_xmalloc(tlen);
            snprintf(tmp_src, tlen, "%s.c", tmp_base);
            snprintf(tmp_so, tlen, "%s.so", tmp_base);
            if (mlcc_write_file_atomic(tmp_src, source, len) == 0 && compile_to(tmp_src, tmp_so) == 0) {
                if (rename(tmp_so, so) != 0) mlcc_set_error("jit: rename %s: %s", so, strerror(errno));
                else m = load_object(so, 0);
            }
            /* keep the source beside the object, for `mlcc show` and debugging */
            char *src_keep = mlcc_xstrdup(so);
            strcpy(src_keep + strlen(src_keep) - 3, ".c");
            if (m) rename(tmp_src, src_keep);
            else unlink(tmp_src);
            unlink(tmp_so);
            free(src_keep);
            free(tmp_base);
            free(tmp_src);
            free(tmp_so);
        }
    }
    free(dir);
    free(so);
    return m;
}

int mlcc_jit_compile_to_file(const char *source, const char *out_path) {
    size_t plen = strlen(out_path) + 48;
    char *tmp_src = mlcc_xmalloc(plen), *tmp_so = mlcc_xmalloc(plen);
    snprintf(tmp_src, plen, "%s.%ld.tmp.c", out_path, (long)getpid());
    snprintf(tmp_so, plen, "%s.%ld.tmp.so", out_path, (long)getpid());
    int rc = mlcc_write_file_atomic(tmp_src, source, strlen(source));
    if (rc == 0) rc = compile_to(tmp_src, tmp_so);
    if (rc == 0 && rename(tmp_so, out_path) != 0)
        rc = mlcc_set_error("jit: rename to %s: %s", out_path, strerror(errno));
    unlink(tmp_src);
    unlink(tmp_so);
    free(tmp_src);
    free(tmp_so);
    return rc;
}

mlcc_jit_module *mlcc_jit_build(mlcc_prim_func **funcs, int nfuncs) {
    mlcc_strbuf src = STRBUF_INIT;
    if (codegen_c(funcs, nfuncs, &src) != 0) {
        sb_free(&src);
        return NULL;
    }
    mlcc_jit_module *m = mlcc_jit_compile_source(sb_cstr(&src));
    sb_free(&src);
    return m;
}

MLCCPackedCFunc mlcc_jit_get_function(mlcc_jit_module *m, const char *name) {
    MLCCFunction *f = mlcc_module_get_function(m->module, name);
    if (!f) return NULL;
    /* The function object only keeps the module alive; the jit module does that already. */
    MLCCPackedCFunc fn = f->fn;
    mlcc_object_release(&f->obj);
    return fn;
}

MLCCModule *mlcc_jit_module_handle(mlcc_jit_module *m) {
    return m->module;
}

const char *mlcc_jit_module_path(const mlcc_jit_module *m) {
    return m->path;
}

void mlcc_jit_free(mlcc_jit_module *m) {
    if (!m) return;
    mlcc_module_release(m->module);
    if (m->remove_on_free) {
        unlink(m->path);
        char *dir = mlcc_xstrdup(m->path);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = '\0';
        rmdir(dir);
        free(dir);
    }
    free(m->path);
    free(m);
}
