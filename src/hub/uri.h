/* uri.h - model references of the form HF://org/repo[@revision][/file.gguf], and the check that
 * a path taken from the network (a sibling name, a shard in an index) stays inside its folder. */
#ifndef MLCC_HUB_URI_H
#define MLCC_HUB_URI_H

#include "hub/hub.h" /* mlcc_hub_is_uri */

typedef struct mlcc_hub_uri {
    char *repo;     /* "org/repo" */
    char *revision; /* a branch, tag or commit; "main" when the reference names none */
    char *file;     /* a .gguf path inside the repo, or NULL for the whole model */
} mlcc_hub_uri;

/* Parses a reference; -1 with an error that shows the expected form. */
int mlcc_hub_uri_parse(const char *s, mlcc_hub_uri *out);
void mlcc_hub_uri_free(mlcc_hub_uri *u);
/* Is "org/repo" a valid repo id (the characters the hub allows, no "--" or "..")? */
int mlcc_hub_valid_repo_id(const char *repo);
/* A relative path that cannot leave its folder: no leading '/', no "", "." or ".." segment,
 * no backslash or control character. */
int mlcc_hub_safe_relpath(const char *path);
/* A 40-digit lowercase hex commit id? */
int mlcc_hub_is_commit(const char *s);

#endif
