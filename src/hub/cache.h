/* cache.h - the on-disk layout of downloaded repos, like huggingface_hub's:
 *   MLCC_HOME/hub/models--ORG--REPO/
 *     blobs/ETAG                  file contents, named by the hub's ETag (sha256 for LFS files)
 *     blobs/ETAG.incomplete       a download in progress (resumed from its size)
 *     snapshots/COMMIT/PATH       symlinks into blobs/, the folder a model loads from
 *     refs/REVISION               the commit a branch or tag pointed at when downloaded
 *     manifests/COMMIT.json       the files a complete model download consists of
 * A link appears only after its blob is complete and verified, and a manifest or ref only
 * after every file it names, so whatever is visible is whole. */
#ifndef MLCC_HUB_CACHE_H
#define MLCC_HUB_CACHE_H

/* MLCC_HOME/hub/models--org--repo */
char *mlcc_hub_repo_dir(const char *repo);
/* The commit a revision resolves to in the cache (a commit id resolves to itself), or NULL. */
char *mlcc_hub_read_ref(const char *repo_dir, const char *revision);
int mlcc_hub_write_ref(const char *repo_dir, const char *revision, const char *commit);
/* repo_dir/snapshots/commit[/file] */
char *mlcc_hub_snapshot_path(const char *repo_dir, const char *commit, const char *file);
/* repo_dir/blobs/etag[suffix] */
char *mlcc_hub_blob_path(const char *repo_dir, const char *etag, const char *suffix);
/* Points snapshots/commit/file at blobs/etag (relative link, replaced atomically). */
int mlcc_hub_link_blob(const char *repo_dir, const char *commit, const char *file,
                       const char *etag);
char *mlcc_hub_manifest_path(const char *repo_dir, const char *commit);

#endif
