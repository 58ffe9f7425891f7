/* hub.h - Hugging Face models by reference: HF://org/repo[@revision][/file.gguf].
 *
 * mlcc_hub_resolve() turns a model argument into a local path, downloading what the model
 * needs into the cache under MLCC_HOME (docs/hub.md describes the layout) and reusing it
 * offline later. Environment: MLCC_HOME, MLCC_DOWNLOAD_POLICY (ON, OFF, REDO, READONLY),
 * HF_ENDPOINT (a mirror), HF_TOKEN (gated and private models; else the token file of
 * `huggingface-cli login`), MLCC_HUB_TIMEOUT (seconds of silence before a connection counts as
 * stalled, default 30), MLCC_HUB_RETRIES (default 3). */
#ifndef MLCC_HUB_HUB_H
#define MLCC_HUB_HUB_H

#include <stddef.h>
#include <stdint.h>

typedef enum mlcc_download_policy {
    MLCC_DOWNLOAD_ON,      /* use the cache; download what is missing (default) */
    MLCC_DOWNLOAD_OFF,     /* never use the network; the cache must have it */
    MLCC_DOWNLOAD_REDO,    /* download again even what the cache has */
    MLCC_DOWNLOAD_READONLY /* like OFF, and nothing under MLCC_HOME is written */
} mlcc_download_policy;

/* MLCC_DOWNLOAD_POLICY (case-insensitive; unset: OFF if HF_HUB_OFFLINE=1, else ON); -1 with an
 * error for another value. */
int mlcc_download_policy_get(mlcc_download_policy *out);
const char *mlcc_download_policy_name(mlcc_download_policy p);

typedef struct mlcc_hub_options {
    int quiet; /* no progress output */
} mlcc_hub_options;

/* Does s start with HF:// (any case)? */
int mlcc_hub_is_uri(const char *s);

/* A local path for a model argument: HF://org/repo[@rev] gives the snapshot folder (config,
 * tokenizer, safetensors), HF://org/repo[@rev]/file.gguf the file; anything else comes back
 * unchanged. malloc'ed; NULL with mlcc_set_error() on failure. */
char *mlcc_hub_resolve(const char *model);
char *mlcc_hub_resolve_ex(const char *model, const mlcc_hub_options *opt);

/* One snapshot in the cache. */
typedef struct mlcc_hub_cached {
    char *repo;   /* "org/repo" */
    char *commit; /* the snapshot's commit */
    char *refs;   /* branches/tags that point at it, comma-separated ("" when none) */
    char *path;   /* the snapshot folder */
    int files;
    int64_t bytes;
} mlcc_hub_cached;

/* Every cached snapshot, sorted by repo then commit. */
int mlcc_hub_cache_list(mlcc_hub_cached **out, size_t *count);
void mlcc_hub_cache_list_free(mlcc_hub_cached *list, size_t count);
/* Removes one repo ("org/repo" or "HF://org/repo") from the cache; -1 if it is not there. */
int mlcc_hub_cache_remove(const char *repo);
/* Files under a folder (links to files counted as their targets) and their bytes. */
void mlcc_hub_disk_usage(const char *path, int *files, int64_t *bytes);
/* MLCC_HOME/hub (malloc'ed). */
char *mlcc_hub_cache_dir(void);

#endif
