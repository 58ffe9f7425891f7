/* resolve.c - HF://org/repo[@rev][/file.gguf] to a local path (see hub.h): the cache when it
 * holds the model (the network is not touched), else the hub's API for the commit and file
 * list, then each needed file through fetch.c, then the manifest and the ref, in that order,
 * so a ref or manifest on disk always means a whole snapshot. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "hub/cache.h"
#include "hub/fetch.h"
#include "hub/http.h"
#include "hub/hub.h"
#include "hub/progress.h"
#include "hub/select.h"
#include "hub/uri.h"
#include "support/alloc.h"
#include "support/error.h"
#include "support/file.h"
#include "support/json.h"
#include "support/log.h"
#include "support/strbuf.h"

/* Does the cache hold everything this reference needs at this commit? */
static int snapshot_complete(const char *repo_dir, const char *commit, const char *gguf) {
    struct stat st;
    if (gguf) {
        char *path = mlcc_hub_snapshot_path(repo_dir, commit, gguf);
        int ok = stat(path, &st) == 0 && S_ISREG(st.st_mode);
        free(path);
        return ok;
    }
    char *manifest = mlcc_hub_manifest_path(repo_dir, commit);
    json_t *root = mlcc_file_exists(manifest) ? mlcc_json_load_file(manifest) : NULL;
    free(manifest);
    if (!root) {
        mlcc_clear_error();
        return 0;
    }
    json_t *files = json_object_get(root, "files"), *f;
    size_t i;
    int ok = json_array_size(files) > 0;
    json_array_foreach(files, i, f) {
        const char *name = json_string_value(json_object_get(f, "name"));
        json_t *size = json_object_get(f, "size");
        if (!name || !mlcc_hub_safe_relpath(name)) {
            ok = 0;
            break;
        }
        char *path = mlcc_hub_snapshot_path(repo_dir, commit, name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
            (json_is_integer(size) && json_integer_value(size) != st.st_size))
            ok = 0;
        free(path);
        if (!ok) break;
    }
    json_decref(root);
    return ok;
}

static char *result_path(const char *repo_dir, const char *commit, const char *gguf) {
    return mlcc_hub_snapshot_path(repo_dir, commit, gguf);
}

/* The API's answer: the commit a revision points at, and the repo's file names. */
static int fetch_repo_info(mlcc_hub_session *s, char **commit, mlcc_hub_names *files) {
    mlcc_strbuf url = STRBUF_INIT;
    sb_printf(&url, "%s/api/models/%s/revision/%s", s->endpoint, s->repo, s->revision);
    mlcc_http_request req = {.url = sb_cstr(&url)};
    mlcc_http_response r;
    int rc = 0;
    if (mlcc_http_perform(&req, &r) != 0) {
        if (r.offline)
            rc =
                mlcc_set_error("cannot reach %s (%s): are you offline? HF://%s is not in the cache "
                               "either (looked in %s)",
                               s->endpoint, r.transport_error, s->repo, s->repo_dir);
        else
            rc = mlcc_set_error("HF://%s: %s: %s", s->repo, sb_cstr(&url), r.transport_error);
        goto done;
    }
    if (r.status != 200) {
        rc = mlcc_hub_http_error(s, sb_cstr(&url), NULL, &r);
        goto done;
    }
    json_t *root = mlcc_json_loads(r.body, r.body_len, sb_cstr(&url));
    if (!root) {
        rc = -1;
        goto done;
    }
    const char *sha = json_string_value(json_object_get(root, "sha"));
    json_t *siblings = json_object_get(root, "siblings"), *sib;
    if (!sha || !mlcc_hub_is_commit(sha)) {
        rc = mlcc_set_error("%s: the answer has no commit id (\"sha\")", sb_cstr(&url));
    } else if (!json_is_array(siblings)) {
        rc = mlcc_set_error("%s: the answer has no file list (\"siblings\")", sb_cstr(&url));
    } else {
        *commit = mlcc_xstrdup(sha);
        size_t i;
        json_array_foreach(siblings, i, sib) {
            const char *name = json_string_value(json_object_get(sib, "rfilename"));
            if (name && mlcc_hub_safe_relpath(name)) vec_push(files, mlcc_xstrdup(name));
        }
    }
    json_decref(root);
done:
    mlcc_http_response_free(&r);
    sb_free(&url);
    return rc;
}

/* Makes snapshots/COMMIT/name a link to its verified blob; records its size in *size. */
static int fetch_one(const mlcc_hub_session *s, const char *name, int64_t *size) {
    mlcc_hub_file f;
    if (mlcc_hub_file_meta(s, name, &f) != 0) return -1;
    int rc = mlcc_hub_fetch_blob(s, &f);
    if (rc == 0) rc = mlcc_hub_link_blob(s->repo_dir, s->commit, name, f.etag);
    if (rc == 0) {
        struct stat st;
        char *path = mlcc_hub_snapshot_path(s->repo_dir, s->commit, name);
        *size = stat(path, &st) == 0 ? st.st_size : -1;
        free(path);
    }
    mlcc_hub_file_free(&f);
    return rc;
}

static int write_manifest(const mlcc_hub_session *s, const mlcc_hub_names *names,
                          const int64_t *sizes) {
    json_t *root = json_object(), *files = json_array();
    json_object_set_new(root, "repo", json_string(s->repo));
    json_object_set_new(root, "commit", json_string(s->commit));
    for (size_t i = 0; i < names->len; i++) {
        json_t *f = json_object();
        json_object_set_new(f, "name", json_string(names->data[i]));
        json_object_set_new(f, "size", json_integer(sizes[i]));
        json_array_append_new(files, f);
    }
    json_object_set_new(root, "files", files);
    char *text = json_dumps(root, JSON_INDENT(1));
    json_decref(root);
    char *path = mlcc_hub_manifest_path(s->repo_dir, s->commit);
    char *dir = mlcc_path_join(s->repo_dir, "manifests");
    int rc = mlcc_mkdirs(dir);
    if (rc == 0) rc = mlcc_write_file_atomic(path, text, strlen(text));
    free(dir);
    free(path);
    free(text);
    return rc;
}

/* Downloads what the reference needs at s->commit. */
static int download(mlcc_hub_session *s, const char *gguf, mlcc_hub_names *repo_files) {
    if (gguf) {
        int found = 0;
        for (size_t i = 0; i < repo_files->len && !found; i++)
            found = strcmp(repo_files->data[i], gguf) == 0;
        if (!found)
            return mlcc_set_error("HF://%s: file '%s' not found at revision %s", s->repo, gguf,
                                  s->revision);
        int64_t size;
        return fetch_one(s, gguf, &size);
    }
    mlcc_hub_names names = {0};
    int rc = mlcc_hub_select_files(s->repo, repo_files->data, repo_files->len, &names);
    MLCC_VEC(int64_t) sizes = {0};
    for (size_t i = 0; rc == 0 && i < names.len; i++) {
        int64_t size = -1;
        rc = fetch_one(s, names.data[i], &size);
        vec_push(&sizes, size);
        if (rc == 0 && strcmp(names.data[i], "model.safetensors.index.json") == 0) {
            char *index = mlcc_hub_snapshot_path(s->repo_dir, s->commit, names.data[i]);
            rc = mlcc_hub_index_shards(index, repo_files->data, repo_files->len, &names);
            free(index);
        }
    }
    if (rc == 0) rc = write_manifest(s, &names, sizes.data);
    vec_free(&sizes);
    mlcc_hub_names_free(&names);
    return rc;
}

static char *resolve_uri(const char *model, const mlcc_hub_options *opt) {
    mlcc_hub_uri uri;
    if (mlcc_hub_uri_parse(model, &uri) != 0) return NULL;
    mlcc_hub_session s = {.repo = uri.repo, .revision = uri.revision, .quiet = opt && opt->quiet};
    char *repo_dir = mlcc_hub_repo_dir(uri.repo), *endpoint = mlcc_http_endpoint();
    char *commit = NULL, *out = NULL;
    mlcc_hub_names files = {0};
    s.repo_dir = repo_dir;
    s.endpoint = endpoint;
    if (mlcc_download_policy_get(&s.policy) != 0) goto done;
    if (s.policy != MLCC_DOWNLOAD_REDO) {
        commit = mlcc_hub_read_ref(repo_dir, uri.revision);
        if (commit && snapshot_complete(repo_dir, commit, uri.file)) {
            LOG_INFO("HF://%s@%s: using the cached snapshot %s", uri.repo, uri.revision, commit);
            out = result_path(repo_dir, commit, uri.file);
            goto done;
        }
        if (s.policy == MLCC_DOWNLOAD_OFF || s.policy == MLCC_DOWNLOAD_READONLY) {
            mlcc_set_error("%s is not in the cache (looked in %s) and MLCC_DOWNLOAD_POLICY=%s "
                           "forbids downloading it",
                           model, repo_dir, mlcc_download_policy_name(s.policy));
            goto done;
        }
        free(commit);
        commit = NULL;
    }
    if (fetch_repo_info(&s, &commit, &files) != 0) goto done;
    s.commit = commit;
    if (download(&s, uri.file, &files) != 0) goto done;
    if (mlcc_hub_write_ref(repo_dir, uri.revision, commit) != 0) goto done;
    out = result_path(repo_dir, commit, uri.file);
done:
    mlcc_hub_names_free(&files);
    free(commit);
    free(endpoint);
    free(repo_dir);
    mlcc_hub_uri_free(&uri);
    return out;
}

char *mlcc_hub_resolve_ex(const char *model, const mlcc_hub_options *opt) {
    if (!mlcc_hub_is_uri(model)) return mlcc_xstrdup(model);
    return resolve_uri(model, opt);
}

char *mlcc_hub_resolve(const char *model) {
    return mlcc_hub_resolve_ex(model, NULL);
}
