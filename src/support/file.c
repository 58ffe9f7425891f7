/* file.c - whole-file reads, atomic writes, directories, paths (see file.h). */
#include "support/file.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support/alloc.h"
#include "support/error.h"

char *mlcc_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        mlcc_set_error("%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = mlcc_xmalloc(cap);
    for (;;) {
        if (n + 1 >= cap) buf = mlcc_xrealloc(buf, cap *= 2);
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        mlcc_set_error("%s: read error", path);
        return NULL;
    }
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

int mlcc_write_file_atomic(const char *path, const void *data, size_t len) {
    size_t plen = strlen(path);
    char *tmp = mlcc_xmalloc(plen + 32);
    snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        mlcc_set_error("%s: %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            mlcc_set_error("writing %s: %s", path, strerror(errno));
            close(fd);
            unlink(tmp);
            free(tmp);
            return -1;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        mlcc_set_error("writing %s: %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        mlcc_set_error("renaming %s to %s: %s", tmp, path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}

int mlcc_mkdirs(const char *path) {
    char *p = mlcc_xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            mlcc_set_error("mkdir %s: %s", p, strerror(errno));
            free(p);
            return -1;
        }
        *s = '/';
    }
    int rc = 0;
    if (mkdir(p, 0755) != 0 && errno != EEXIST) rc = mlcc_set_error("mkdir %s: %s", p, strerror(errno));
    free(p);
    return rc;
}

/* nftw hands a folder over after its contents (FTW_DEPTH); an unreadable one (FTW_DNR) too, and
 * rmdir then says why it stays. A failure returns errno, which nftw passes back as its result:
 * errno itself may not survive nftw closing its folders on the way out. */
static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)st, (void)ftw;
    if ((type == FTW_DP || type == FTW_DNR ? rmdir(path) : unlink(path)) == 0) return 0;
    int e = errno;
    mlcc_set_error("removing %s: %s", path, strerror(e));
    return e;
}

int mlcc_remove_tree(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0 && errno == ENOENT) return 0;
    int rc = nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (rc == 0) return 0;
    if (rc < 0) { /* nftw's own failure, e.g. a folder it could not open */
        rc = errno;
        mlcc_set_error("removing %s: %s", path, strerror(rc));
    }
    errno = rc;
    return -1;
}

void mlcc_remove_tree_quietly(const char *path) {
    char *why = mlcc_xstrdup(mlcc_last_error());
    mlcc_remove_tree(path);
    mlcc_set_error("%s", why);
    free(why);
}

int mlcc_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

int mlcc_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

char *mlcc_path_join(const char *a, const char *b) {
    if (b[0] == '/' || a[0] == '\0') return mlcc_xstrdup(b);
    size_t la = strlen(a), lb = strlen(b);
    int slash = a[la - 1] != '/';
    char *out = mlcc_xmalloc(la + lb + 2);
    memcpy(out, a, la);
    if (slash) out[la] = '/';
    memcpy(out + la + slash, b, lb + 1);
    return out;
}

char *mlcc_home_dir(void) {
    const char *env = getenv("MLCC_HOME");
    if (env && *env) return mlcc_xstrdup(env);
    env = getenv("XDG_CACHE_HOME");
    if (env && *env) return mlcc_path_join(env, "mlcc");
    env = getenv("HOME");
    char *cache = mlcc_path_join(env && *env ? env : "/tmp", ".cache");
    char *out = mlcc_path_join(cache, "mlcc");
    free(cache);
    return out;
}
