/* fetch.h - one repo file from the hub into the cache: its metadata (a HEAD request that does
 * not follow the redirect to the storage host, so the hub's X-Linked-Etag/-Size are seen), the
 * download into blobs/ETAG.incomplete (resumed with Range, retried when the connection breaks,
 * locked against a second mlcc fetching the same blob), the size and sha256 checks, and the
 * rename that makes the blob visible. */
#ifndef MLCC_HUB_FETCH_H
#define MLCC_HUB_FETCH_H

#include <stdint.h>

#include "hub/hub.h"

struct mlcc_http_response;

/* What one resolve works on. */
typedef struct mlcc_hub_session {
    const char *repo, *revision; /* as the user named them */
    const char *commit;          /* what the revision resolved to */
    const char *endpoint;        /* HF_ENDPOINT or https://huggingface.co */
    const char *repo_dir;        /* the repo's folder in the cache */
    mlcc_download_policy policy;
    int quiet;
} mlcc_hub_session;

typedef struct mlcc_hub_file {
    char *name;   /* path in the repo */
    char *etag;   /* the blob's name in the cache */
    char *sha256; /* expected content hash (64 hex digits), or NULL when the hub gives none */
    int64_t size; /* expected size, or -1 */
} mlcc_hub_file;

/* Asks the hub for a file's ETag, size and sha256 at s->commit. */
int mlcc_hub_file_meta(const mlcc_hub_session *s, const char *name, mlcc_hub_file *f);
/* Makes blobs/ETAG whole and verified: nothing to do when it is there (policy REDO aside),
 * else downloads or resumes it. */
int mlcc_hub_fetch_blob(const mlcc_hub_session *s, const mlcc_hub_file *f);
void mlcc_hub_file_free(mlcc_hub_file *f);

/* Records the error for an HTTP failure status: gated/private (401/403), not found (404:
 * repository, revision or file), anything else with the hub's X-Error-Message. file may be
 * NULL (an API request). Returns -1. */
int mlcc_hub_http_error(const mlcc_hub_session *s, const char *url, const char *file,
                        const struct mlcc_http_response *r);

#endif
