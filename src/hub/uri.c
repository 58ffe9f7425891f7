/* uri.c - parsing HF://org/repo[@revision][/file.gguf] (see uri.h). */
#include "hub/uri.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "support/alloc.h"
#include "support/error.h"

#define URI_FORM "HF://org/repo[@revision][/file.gguf]"

int mlcc_hub_is_uri(const char *s) {
    return s && strncasecmp(s, "hf://", 5) == 0;
}

static int name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

/* One half of a repo id: the hub's rules (letters, digits, - _ .; no leading or trailing - or .,
 * no "--" or ".."), which also keep "models--org--repo" folder names unambiguous. */
static int valid_name(const char *s, size_t n) {
    if (n == 0 || n > 96) return 0;
    for (size_t i = 0; i < n; i++) {
        if (!name_char(s[i])) return 0;
        if (i > 0 && (s[i] == '-' || s[i] == '.') && s[i - 1] == s[i]) return 0;
    }
    return s[0] != '-' && s[0] != '.' && s[n - 1] != '-' && s[n - 1] != '.';
}

int mlcc_hub_valid_repo_id(const char *repo) {
    const char *slash = strchr(repo, '/');
    if (!slash) return 0;
    return valid_name(repo, (size_t)(slash - repo)) && valid_name(slash + 1, strlen(slash + 1));
}

int mlcc_hub_safe_relpath(const char *path) {
    size_t n = strlen(path);
    if (n == 0 || n > 1024 || path[0] == '/') return 0;
    const char *seg = path;
    for (size_t i = 0; i <= n; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c == '/' || c == '\0') {
            size_t len = (size_t)(path + i - seg);
            if (len == 0 || (len == 1 && seg[0] == '.') ||
                (len == 2 && seg[0] == '.' && seg[1] == '.'))
                return 0;
            seg = path + i + 1;
        } else if (c < 0x20 || c == 0x7f || c == '\\') {
            return 0;
        }
    }
    return 1;
}

int mlcc_hub_is_commit(const char *s) {
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f'))) return 0;
    return n == 40;
}

static int valid_revision(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 128 || strstr(s, "..") || s[0] == '.') return 0;
    for (size_t i = 0; i < n; i++)
        if (!name_char(s[i])) return 0;
    return 1;
}

static int has_gguf_suffix(const char *s) {
    size_t n = strlen(s);
    return n > 5 && strcasecmp(s + n - 5, ".gguf") == 0;
}

int mlcc_hub_uri_parse(const char *s, mlcc_hub_uri *out) {
    memset(out, 0, sizeof *out);
    if (!mlcc_hub_is_uri(s)) return mlcc_set_error("'%s' is not a hub reference (" URI_FORM ")", s);
    const char *p = s + 5;
    /* org/repo[@rev] ends at the second '/' */
    const char *slash1 = strchr(p, '/');
    const char *slash2 = slash1 ? strchr(slash1 + 1, '/') : NULL;
    size_t head_len = slash2 ? (size_t)(slash2 - p) : strlen(p);
    char *head = mlcc_xstrndup(p, head_len);
    char *at = strchr(head, '@');
    if (at) *at = '\0';
    out->repo = mlcc_xstrdup(head);
    out->revision = mlcc_xstrdup(at ? at + 1 : "main");
    free(head);
    if (slash2 && slash2[1]) out->file = mlcc_xstrdup(slash2 + 1);
    if (!mlcc_hub_valid_repo_id(out->repo)) {
        mlcc_set_error("%s: '%s' is not a repository id (expected " URI_FORM ")", s, out->repo);
        goto fail;
    }
    if (!valid_revision(out->revision)) {
        mlcc_set_error(
            "%s: '%s' is not a revision (a branch, tag or commit: letters, digits, - _ .)", s,
            out->revision);
        goto fail;
    }
    if (out->file && (!mlcc_hub_safe_relpath(out->file) || !has_gguf_suffix(out->file))) {
        mlcc_set_error("%s: '%s' is not a .gguf file path (only one GGUF file can be named after "
                       "the repository: " URI_FORM ")",
                       s, out->file);
        goto fail;
    }
    return 0;
fail:
    mlcc_hub_uri_free(out);
    return -1;
}

void mlcc_hub_uri_free(mlcc_hub_uri *u) {
    free(u->repo);
    free(u->revision);
    free(u->file);
    memset(u, 0, sizeof *u);
}
