/* cache.c - the cache layout, download policy, listing and removal (see cache.h, hub.h). */
#include "hub/cache.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hub/hub.h"
#include "hub/uri.h"
#include "support/alloc.h"
#include "support/error.h"
#include "support/file.h"
#include "support/strbuf.h"
#include "support/vec.h"

static const char *policy_names[] = {"ON", "OFF", "REDO", "READONLY"};

int mlcc_download_policy_get(mlcc_download_policy *out) {
    const char *env = getenv("MLCC_DOWNLOAD_POLICY");
    *out = MLCC_DOWNLOAD_ON;
    if (!env || !*env) {
        /* huggingface_hub's offline switch means the same as OFF */
        const char *hf = getenv("HF_HUB_OFFLINE");
        if (hf && (strcmp(hf, "1") == 0 || strcasecmp(hf, "true") == 0 ||
                   strcasecmp(hf, "yes") == 0 || strcasecmp(hf, "on") == 0))
            *out = MLCC_DOWNLOAD_OFF;
        return 0;
    }
    for (int i = 0; i < 4; i++)
        if (strcasecmp(env, policy_names[i]) == 0) {
            *out = (mlcc_download_policy)i;
            return 0;
        }
    return mlcc_set_error("MLCC_DOWNLOAD_POLICY=%s: expected ON, OFF, REDO or READONLY", env);
}

const char *mlcc_download_policy_name(mlcc_download_policy p) {
    return policy_names[p];
}

char *mlcc_hub_cache_dir(void) {
    char *home = mlcc_home_dir();
    char *dir = mlcc_path_join(home, "hub");
    free(home);
    return dir;
}

char *mlcc_hub_repo_dir(const char *repo) {
    char *root = mlcc_hub_cache_dir();
    mlcc_strbuf sb = STRBUF_INIT;
    sb_printf(&sb, "%s/models--", root);
    for (const char *p = repo; *p; p++) {
        if (*p == '/')
            sb_append(&sb, "--");
        else
            sb_append_char(&sb, *p);
    }
    free(root);
    return sb_detach(&sb);
}

char *mlcc_hub_snapshot_path(const char *repo_dir, const char *commit, const char *file) {
    mlcc_strbuf sb = STRBUF_INIT;
    sb_printf(&sb, "%s/snapshots/%s", repo_dir, commit);
    if (file) sb_printf(&sb, "/%s", file);
    return sb_detach(&sb);
}

char *mlcc_hub_blob_path(const char *repo_dir, const char *etag, const char *suffix) {
    mlcc_strbuf sb = STRBUF_INIT;
    sb_printf(&sb, "%s/blobs/%s%s", repo_dir, etag, suffix ? suffix : "");
    return sb_detach(&sb);
}

char *mlcc_hub_manifest_path(const char *repo_dir, const char *commit) {
    mlcc_strbuf sb = STRBUF_INIT;
    sb_printf(&sb, "%s/manifests/%s.json", repo_dir, commit);
    return sb_detach(&sb);
}

char *mlcc_hub_read_ref(const char *repo_dir, const char *revision) {
    if (mlcc_hub_is_commit(revision)) return mlcc_xstrdup(revision);
    mlcc_strbuf sb = STRBUF_INIT;
    sb_printf(&sb, "%s/refs/%s", repo_dir, revision);
    char *text = mlcc_read_file(sb_cstr(&sb), NULL);
    sb_free(&sb);
    if (!text) {
        mlcc_clear_error();
        return NULL;
    }
    size_t n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' '))
        text[--n] = '\0';
    if (!mlcc_hub_is_commit(text)) {
        free(text);
        return NULL;
    }
    return text;
}

int mlcc_hub_write_ref(const char *repo_dir, const char *revision, const char *commit) {
    if (mlcc_hub_is_commit(revision)) return 0;
    char *refs = mlcc_path_join(repo_dir, "refs");
    char *path = mlcc_path_join(refs, revision);
    int rc = mlcc_mkdirs(refs);
    if (rc == 0) rc = mlcc_write_file_atomic(path, commit, strlen(commit));
    free(refs);
    free(path);
    return rc;
}

int mlcc_hub_link_blob(const char *repo_dir, const char *commit, const char *file,
                       const char *etag) {
    char *link = mlcc_hub_snapshot_path(repo_dir, commit, file);
    /* snapshots/COMMIT/a/b/file -> ../../../blobs/ETAG: one ".." per folder below repo_dir */
    mlcc_strbuf target = STRBUF_INIT;
    sb_append(&target, "../../");
    for (const char *p = file; *p; p++)
        if (*p == '/') sb_append(&target, "../");
    sb_printf(&target, "blobs/%s", etag);
    char *dir = mlcc_xstrdup(link);
    *strrchr(dir, '/') = '\0';
    mlcc_strbuf tmp = STRBUF_INIT;
    sb_printf(&tmp, "%s.tmp.%ld", link, (long)getpid());
    int rc = mlcc_mkdirs(dir);
    if (rc == 0) {
        unlink(sb_cstr(&tmp));
        if (symlink(sb_cstr(&target), sb_cstr(&tmp)) != 0 || rename(sb_cstr(&tmp), link) != 0) {
            rc = mlcc_set_error("linking %s to %s: %s", link, sb_cstr(&target), strerror(errno));
            unlink(sb_cstr(&tmp));
        }
    }
    sb_free(&tmp);
    sb_free(&target);
    free(dir);
    free(link);
    return rc;
}

/* ---- listing ---- */

/* Files under a folder and their sizes. A link to a file counts as the file (snapshot links
 * into blobs/); links to folders are not followed, so a loop cannot trap the walk. */
static void measure_tree(const char *dir, int *files, int64_t *bytes) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char *p = mlcc_path_join(dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0) {
            if (S_ISDIR(st.st_mode))
                measure_tree(p, files, bytes);
            else if (S_ISLNK(st.st_mode) && stat(p, &st) != 0)
                st.st_mode = 0;
            if (S_ISREG(st.st_mode)) {
                (*files)++;
                *bytes += st.st_size;
            }
        }
        free(p);
    }
    closedir(d);
}

void mlcc_hub_disk_usage(const char *path, int *files, int64_t *bytes) {
    *files = 0;
    *bytes = 0;
    struct stat st;
    if (stat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode))
        measure_tree(path, files, bytes);
    else if (S_ISREG(st.st_mode)) {
        *files = 1;
        *bytes = st.st_size;
    }
}

typedef MLCC_VEC(char *) name_vec;

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted entry names of a folder (none when it does not exist). */
static void list_dir(const char *dir, name_vec *out) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') vec_push(out, mlcc_xstrdup(e->d_name));
    closedir(d);
    if (out->len > 1) qsort(out->data, out->len, sizeof(char *), compare_names);
}

static void free_names(name_vec *v) {
    for (size_t i = 0; i < v->len; i++)
        free(v->data[i]);
    vec_free(v);
}

/* refs/ entries that hold this commit, comma-separated. */
static char *refs_of(const char *repo_dir, const char *commit) {
    char *refs_dir = mlcc_path_join(repo_dir, "refs");
    name_vec names = {0};
    list_dir(refs_dir, &names);
    mlcc_strbuf sb = STRBUF_INIT;
    sb_append(&sb, "");
    for (size_t i = 0; i < names.len; i++) {
        char *c = mlcc_hub_read_ref(repo_dir, names.data[i]);
        if (c && strcmp(c, commit) == 0) sb_printf(&sb, "%s%s", sb.len ? "," : "", names.data[i]);
        free(c);
    }
    free_names(&names);
    free(refs_dir);
    return sb_detach(&sb);
}

int mlcc_hub_cache_list(mlcc_hub_cached **out, size_t *count) {
    MLCC_VEC(mlcc_hub_cached) list = {0};
    char *root = mlcc_hub_cache_dir();
    name_vec repos = {0};
    list_dir(root, &repos);
    for (size_t i = 0; i < repos.len; i++) {
        const char *name = repos.data[i];
        if (strncmp(name, "models--", 8) != 0 || !strstr(name + 8, "--")) continue;
        char *repo = mlcc_xstrdup(name + 8);
        char *sep = strstr(repo, "--");
        memmove(sep + 1, sep + 2, strlen(sep + 2) + 1);
        *sep = '/';
        char *repo_dir = mlcc_path_join(root, name);
        char *snap_dir = mlcc_path_join(repo_dir, "snapshots");
        name_vec commits = {0};
        list_dir(snap_dir, &commits);
        for (size_t j = 0; j < commits.len; j++) {
            mlcc_hub_cached c = {0};
            c.repo = mlcc_xstrdup(repo);
            c.commit = mlcc_xstrdup(commits.data[j]);
            c.refs = refs_of(repo_dir, c.commit);
            c.path = mlcc_path_join(snap_dir, c.commit);
            measure_tree(c.path, &c.files, &c.bytes);
            vec_push(&list, c);
        }
        free_names(&commits);
        free(snap_dir);
        free(repo_dir);
        free(repo);
    }
    free_names(&repos);
    free(root);
    *out = list.data;
    *count = list.len;
    return 0;
}

void mlcc_hub_cache_list_free(mlcc_hub_cached *list, size_t count) {
    for (size_t i = 0; i < count; i++) {
        free(list[i].repo);
        free(list[i].commit);
        free(list[i].refs);
        free(list[i].path);
    }
    free(list);
}

int mlcc_hub_cache_remove(const char *repo) {
    if (mlcc_hub_is_uri(repo)) repo += 5;
    if (!mlcc_hub_valid_repo_id(repo))
        return mlcc_set_error("'%s' is not a repository id (expected org/repo)", repo);
    mlcc_download_policy policy;
    if (mlcc_download_policy_get(&policy) != 0) return -1;
    if (policy == MLCC_DOWNLOAD_READONLY)
        return mlcc_set_error("MLCC_DOWNLOAD_POLICY=READONLY: the cache is not changed");
    char *dir = mlcc_hub_repo_dir(repo);
    int rc = 0;
    if (!mlcc_is_dir(dir))
        rc = mlcc_set_error("%s is not in the cache (no %s)", repo, dir);
    else if (mlcc_remove_tree(dir) != 0) /* its error names the entry that stayed */
        rc = -1;
    free(dir);
    return rc;
}
