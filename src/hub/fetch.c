/* fetch.c - one repo file into the cache's blobs (see fetch.h). */
#include "hub/fetch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "hub/cache.h"
#include "hub/http.h"
#include "hub/progress.h"
#include "hub/uri.h"
#include "support/alloc.h"
#include "support/error.h"
#include "support/file.h"
#include "support/log.h"
#include "support/sha256.h" /* the downloads' checksums; blob names when the hub gives no ETag */
#include "support/strbuf.h"

static int header_is(const char *value, const char *want) {
    return value && strcmp(value, want) == 0;
}

/* The message for a failure status, without the token question. */
static int status_error(const mlcc_hub_session *s, const char *url, const char *file,
                        const mlcc_http_response *r, const char *token_source) {
    const char *code = r->error_code;
    long st = r->status;
    if (header_is(code, "RepoNotFound") || (st == 404 && !file && !code))
        return mlcc_set_error("HF://%s: repository not found on %s (check the name; a private or "
                              "gated repository also needs HF_TOKEN)",
                              s->repo, s->endpoint);
    if (header_is(code, "RevisionNotFound"))
        return mlcc_set_error("HF://%s: revision '%s' not found", s->repo, s->revision);
    if (st == 404)
        return mlcc_set_error("HF://%s: file '%s' not found at revision %s", s->repo,
                              file ? file : "?", s->revision);
    if ((st == 401 || st == 403) && token_source)
        return mlcc_set_error("HF://%s: access denied (HTTP %ld) with the token in %s: it is not "
                              "valid, or its account has no access to this gated or private "
                              "model (request access on %s/%s)",
                              s->repo, st, token_source, s->endpoint, s->repo);
    if (st == 401 || st == 403)
        return mlcc_set_error("HF://%s: access denied (HTTP %ld): the model is gated or private; "
                              "request access on %s/%s, then set HF_TOKEN to an access token "
                              "(%s/settings/tokens)",
                              s->repo, st, s->endpoint, s->repo, s->endpoint);
    return mlcc_set_error("HF://%s: %s: HTTP %ld%s%s", s->repo, url, st,
                          r->error_message ? ": " : "", r->error_message ? r->error_message : "");
}

int mlcc_hub_http_error(const mlcc_hub_session *s, const char *url, const char *file,
                        const mlcc_http_response *r) {
    char *source = NULL, *token = mlcc_http_token(&source);
    status_error(s, url, file, r, source);
    free(token);
    free(source);
    return -1;
}

static char *file_url(const mlcc_hub_session *s, const char *name) {
    char *path = mlcc_http_escape_path(name);
    mlcc_strbuf sb = STRBUF_INIT;
    sb_printf(&sb, "%s/%s/resolve/%s/%s", s->endpoint, s->repo, s->commit, path);
    free(path);
    return sb_detach(&sb);
}

/* W/"abc" -> abc; NULL unless what is left can name a file. */
static char *clean_etag(const char *raw) {
    if (!raw) return NULL;
    if (strncmp(raw, "W/", 2) == 0) raw += 2;
    size_t n = strlen(raw);
    if (n >= 2 && raw[0] == '"' && raw[n - 1] == '"') {
        raw++;
        n -= 2;
    }
    if (n == 0 || n > 128 || raw[0] == '.') return NULL;
    for (size_t i = 0; i < n; i++) {
        char c = raw[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return NULL;
    }
    return mlcc_xstrndup(raw, n);
}

static int is_sha256_hex(const char *s) {
    if (!s || strlen(s) != 64) return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return 0;
    return 1;
}

int mlcc_hub_file_meta(const mlcc_hub_session *s, const char *name, mlcc_hub_file *f) {
    memset(f, 0, sizeof *f);
    f->size = -1;
    char *url = file_url(s, name);
    mlcc_http_request req = {.url = url, .head = 1};
    mlcc_http_response r;
    int rc = 0, transport = mlcc_http_perform(&req, &r);
    /* A renamed repo answers with a redirect on the hub itself (a relative Location): follow
     * it. An absolute one goes to the storage host, and its headers are the metadata. */
    for (int hops = 0; transport == 0 && r.status >= 300 && r.status < 400 && r.location &&
                       r.location[0] == '/' && hops < 5;
         hops++) {
        mlcc_strbuf next = STRBUF_INIT;
        sb_printf(&next, "%s%s", s->endpoint, r.location);
        mlcc_http_response_free(&r);
        free(url);
        url = sb_detach(&next);
        req.url = url;
        transport = mlcc_http_perform(&req, &r);
    }
    if (transport != 0) {
        rc = mlcc_set_error("HF://%s/%s: %s: %s", s->repo, name, url, r.transport_error);
    } else if (r.status >= 400 || r.status < 200) {
        rc = mlcc_hub_http_error(s, url, name, &r);
    } else {
        f->name = mlcc_xstrdup(name);
        char *linked = clean_etag(r.linked_etag);
        f->etag = linked ? linked : clean_etag(r.etag);
        if (linked && is_sha256_hex(linked)) f->sha256 = mlcc_xstrdup(linked);
        if (r.linked_size >= 0)
            f->size = r.linked_size;
        else if (r.status == 200)
            f->size = r.content_length;
        if (!f->etag) { /* no usable ETag: a name unique to this file at this commit */
            mlcc_strbuf key = STRBUF_INIT;
            sb_printf(&key, "%s/%s", s->commit, name);
            char hex[65];
            sha256_hex(key.data, key.len, hex);
            sb_free(&key);
            f->etag = mlcc_xstrdup(hex);
        }
    }
    mlcc_http_response_free(&r);
    free(url);
    return rc;
}

void mlcc_hub_file_free(mlcc_hub_file *f) {
    free(f->name);
    free(f->etag);
    free(f->sha256);
    memset(f, 0, sizeof *f);
}

/* ---- the download ---- */

typedef struct blob_writer {
    int fd;
    const char *path; /* the .incomplete file */
    int64_t have;     /* bytes in the file */
    int64_t expect;   /* -1 unknown */
    int started;      /* this attempt's first body byte seen */
    int write_errno;  /* a failed write (disk full...) */
    int too_long, bad_range;
    mlcc_sha256 sha; /* libcrypto underneath: GB/s, so checking never slows a download */
    mlcc_progress *progress;
} blob_writer;

static int restart_from_zero(blob_writer *w) {
    if (ftruncate(w->fd, 0) != 0 || lseek(w->fd, 0, SEEK_SET) != 0) {
        w->write_errno = errno;
        return -1;
    }
    w->have = 0;
    sha256_restart(&w->sha);
    return 0;
}

static int write_body(void *ctx, const mlcc_http_response *resp, const void *data, size_t len) {
    blob_writer *w = ctx;
    if (!w->started) {
        w->started = 1;
        /* A server that ignores Range sends the whole file again: start over. */
        if (w->have > 0 && resp->status == 200 && restart_from_zero(w) != 0) return -1;
        if (resp->status == 206 && resp->range_start != w->have) {
            w->bad_range = 1;
            return -1;
        }
    }
    if (w->expect >= 0 && w->have + (int64_t)len > w->expect) {
        w->too_long = 1;
        return -1;
    }
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t n = write(w->fd, p, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            w->write_errno = errno;
            return -1;
        }
        p += n;
        left -= (size_t)n;
    }
    sha256_update(&w->sha, data, len);
    w->have += (int64_t)len;
    mlcc_progress_update(w->progress, w->have);
    return 0;
}

/* Hashes what an earlier run left in the partial file, so the final sha256 covers it all. */
static int hash_existing(blob_writer *w) {
    sha256_restart(&w->sha);
    if (lseek(w->fd, 0, SEEK_SET) != 0) return mlcc_set_error("%s: %s", w->path, strerror(errno));
    char *buf = mlcc_xmalloc(1 << 20);
    int64_t left = w->have;
    int rc = 0;
    while (left > 0) {
        ssize_t n = read(w->fd, buf, left < (1 << 20) ? (size_t)left : (size_t)1 << 20);
        if (n <= 0) {
            rc = mlcc_set_error("reading %s: %s", w->path, n < 0 ? strerror(errno) : "short file");
            break;
        }
        sha256_update(&w->sha, buf, (size_t)n);
        left -= n;
    }
    free(buf);
    if (rc == 0 && lseek(w->fd, w->have, SEEK_SET) != w->have)
        rc = mlcc_set_error("%s: %s", w->path, strerror(errno));
    return rc;
}

static int is_disk_full(int e) {
    return e == ENOSPC || e == EDQUOT || e == EFBIG;
}

static int disk_full_error(const char *path, int e) {
    return mlcc_set_error("disk full while writing %s (%s): free some space and run again; the "
                          "partial download is kept and will resume",
                          path, strerror(e));
}

static int check_free_space(const char *dir, int64_t need, const char *label) {
    struct statvfs vfs;
    if (need <= 0 || statvfs(dir, &vfs) != 0) return 0;
    int64_t avail = (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize;
    if (avail >= need) return 0;
    char n[32], a[32];
    mlcc_format_bytes(need, n, sizeof n);
    mlcc_format_bytes(avail, a, sizeof a);
    return mlcc_set_error("not enough disk space for %s in %s: it needs %s more, %s free", label,
                          dir, n, a);
}

static long retries_allowed(void) {
    const char *v = getenv("MLCC_HUB_RETRIES");
    if (!v || !*v) return 3;
    long x = strtol(v, NULL, 10);
    return x < 0 ? 0 : x;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Opens and locks the partial file. Returns 1 when, by the time the lock came, another process
 * had finished the blob (fd closed), 0 with *fd locked, -1 on error. */
static int open_partial(const char *partial, const char *blob, int redo, int quiet, int *fd) {
    for (int tries = 0; tries < 10; tries++) {
        if (!redo && mlcc_file_exists(blob)) return 1;
        *fd = open(partial, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (*fd < 0) return mlcc_set_error("%s: %s", partial, strerror(errno));
        if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
            if (!quiet) fprintf(stderr, "mlcc: waiting for another download of %s\n", blob);
            if (flock(*fd, LOCK_EX) != 0) {
                close(*fd);
                return mlcc_set_error("locking %s: %s", partial, strerror(errno));
            }
        }
        /* The file we locked must still be the partial file (the other process may have
         * renamed it into the blob while we waited). */
        struct stat a, b;
        if (fstat(*fd, &a) == 0 && stat(partial, &b) == 0 && a.st_ino == b.st_ino &&
            a.st_dev == b.st_dev)
            return 0;
        close(*fd);
    }
    return mlcc_set_error("%s keeps changing under another process", partial);
}

/* The transfer loop: attempts until the file is whole, an error is final, or the retries are
 * spent. An attempt that brought new bytes does not count against the retries. */
static int transfer(const mlcc_hub_session *s, const mlcc_hub_file *f, blob_writer *w,
                    const char *label) {
    char *url = file_url(s, f->name);
    long retries = retries_allowed(), failures = 0;
    int rc = -1;
    for (int attempt = 0; attempt < 1000; attempt++) {
        int64_t before = w->have;
        w->started = 0;
        mlcc_http_request req = {
            .url = url, .range_from = w->have, .sink = write_body, .sink_ctx = w};
        mlcc_http_response r;
        int prc = mlcc_http_perform(&req, &r);
        int transient = 0;
        if (w->write_errno) {
            if (is_disk_full(w->write_errno))
                disk_full_error(w->path, w->write_errno);
            else
                mlcc_set_error("writing %s: %s", w->path, strerror(w->write_errno));
        } else if (w->too_long) {
            mlcc_set_error("%s: the server sent more than the %lld bytes the hub announced", label,
                           (long long)w->expect);
        } else if (w->bad_range) {
            mlcc_set_error("%s: asked to resume at byte %lld, the server answered from byte %lld",
                           label, (long long)before, (long long)r.range_start);
        } else if (prc != 0) {
            mlcc_set_error("%s: %s: %s", label, url, r.transport_error);
            transient = 1;
        } else if (r.status == 416 && f->size >= 0 && w->have == f->size) {
            rc = 0; /* asked for bytes past the end of a file we already have whole */
        } else if (r.status == 416 && w->have > 0) {
            /* the partial file cannot be the start of this file: start over */
            mlcc_set_error("%s: the server cannot resume at byte %lld", label, (long long)w->have);
            if (restart_from_zero(w) == 0) transient = 1;
        } else if (r.status >= 500 || r.status == 429 || r.status == 408) {
            mlcc_set_error("%s: %s: HTTP %ld", label, url, r.status);
            transient = 1;
        } else if (r.status < 200 || r.status >= 300) {
            mlcc_hub_http_error(s, url, f->name, &r);
        } else {
            rc = 0; /* a whole response; the caller checks its size against the hub's */
        }
        mlcc_http_response_free(&r);
        if (rc == 0 || !transient) break;
        if (w->have > before)
            failures = 0;
        else if (++failures > retries)
            break;
        LOG_INFO("%s; retrying from byte %lld", mlcc_last_error(), (long long)w->have);
        if (w->have == before) sleep_ms(500L << (failures < 5 ? failures - 1 : 4)); /* <= 8 s */
    }
    free(url);
    return rc;
}

int mlcc_hub_fetch_blob(const mlcc_hub_session *s, const mlcc_hub_file *f) {
    char *blob = mlcc_hub_blob_path(s->repo_dir, f->etag, NULL);
    char *partial = mlcc_hub_blob_path(s->repo_dir, f->etag, ".incomplete");
    char *blobs_dir = mlcc_path_join(s->repo_dir, "blobs");
    mlcc_strbuf label = STRBUF_INIT;
    sb_printf(&label, "%s/%s", s->repo, f->name);
    int redo = s->policy == MLCC_DOWNLOAD_REDO, fd = -1, rc, progress_started = 0;
    mlcc_progress progress;
    blob_writer w = {0};
    struct stat st;
    if (!redo && stat(blob, &st) == 0 && (f->size < 0 || st.st_size == f->size)) {
        rc = 0; /* already whole */
        goto done;
    }
    if ((rc = mlcc_mkdirs(blobs_dir)) != 0) goto done;
    rc = open_partial(partial, blob, redo, s->quiet, &fd);
    if (rc != 0) {
        if (rc == 1) rc = 0;
        fd = -1;
        goto done;
    }
    w = (blob_writer){.fd = fd, .path = partial, .expect = f->size};
    sha256_init(&w.sha);
    if (fstat(fd, &st) != 0) {
        rc = mlcc_set_error("%s: %s", partial, strerror(errno));
        goto done;
    }
    w.have = st.st_size;
    if (redo || (f->size >= 0 && w.have > f->size)) {
        if (restart_from_zero(&w) != 0) {
            rc = mlcc_set_error("%s: %s", partial, strerror(w.write_errno));
            goto done;
        }
    }
    if ((rc = hash_existing(&w)) != 0) goto done;
    if ((rc = check_free_space(blobs_dir, f->size - w.have, sb_cstr(&label))) != 0) goto done;
    w.progress = &progress;
    mlcc_progress_begin(&progress, "downloading", sb_cstr(&label), f->size, w.have, s->quiet);
    progress_started = 1;
    rc = transfer(s, f, &w, sb_cstr(&label));
    if (rc != 0) {
        /* keep the bytes for a resume, unless they cannot be part of the file */
        if (w.too_long || w.bad_range)
            unlink(partial);
        else if (w.have > 0 && !w.write_errno) {
            char *why = mlcc_xstrdup(mlcc_last_error());
            mlcc_set_error("%s (the partial download, %lld bytes, is kept in %s; run again to "
                           "resume)",
                           why, (long long)w.have, partial);
            free(why);
        }
        goto done;
    }
    unsigned char digest[32];
    sha256_final(&w.sha, digest);
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    if (f->size >= 0 && w.have != f->size) {
        unlink(partial);
        rc = mlcc_set_error("%s: size mismatch: expected %lld bytes, got %lld; the download was "
                            "discarded",
                            sb_cstr(&label), (long long)f->size, (long long)w.have);
        goto done;
    }
    if (f->sha256 && strcmp(hex, f->sha256) != 0) {
        unlink(partial);
        rc = mlcc_set_error("%s: sha256 mismatch: expected %s, got %s; the download was "
                            "discarded",
                            sb_cstr(&label), f->sha256, hex);
        goto done;
    }
    if (fsync(fd) != 0) {
        rc = is_disk_full(errno) ? disk_full_error(partial, errno)
                                 : mlcc_set_error("%s: %s", partial, strerror(errno));
        goto done;
    }
    if (rename(partial, blob) != 0)
        rc = mlcc_set_error("renaming %s to %s: %s", partial, blob, strerror(errno));
done:
    if (progress_started) mlcc_progress_end(&progress, rc == 0); /* "done" only once verified */
    sha256_discard(&w.sha);
    if (fd >= 0) close(fd);
    sb_free(&label);
    free(blobs_dir);
    free(partial);
    free(blob);
    return rc;
}
