/* names.c - identifiers for generated source (see names.h). */
#include "codegen/names.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

void cg_names_init(cg_names *n, const char *const *reserved) {
    u64map_init(&n->ids);
    strmap_init(&n->used);
    for (int k = 0; reserved && reserved[k]; k++) strmap_upsert(&n->used, reserved[k], strlen(reserved[k]), NULL);
}

void cg_names_free(cg_names *n) {
    u64map_free(&n->ids);
    strmap_free(&n->used);
}

const char *cg_name(cg_names *n, const void *node, const char *base, cg_names_style style) {
    mlcc_u64map_entry *e = u64map_find(&n->ids, (uint64_t)(uintptr_t)node);
    if (e) return e->value.p;
    char clean[128];
    size_t k = 0;
    for (const char *p = base; *p && k < sizeof clean - 8; p++)
        clean[k++] = (isalnum((unsigned char)*p) || *p == '_') ? *p : '_';
    clean[k] = '\0';
    int prefix = k == 0 || isdigit((unsigned char)clean[0]);
    if (style == CG_NAMES_GLSL) { /* GLSL reserves names starting gl_ and containing "__" */
        for (char *p; (p = strstr(clean, "__"));) memmove(p, p + 1, strlen(p));
        k = strlen(clean);
        prefix = k == 0 || isdigit((unsigned char)clean[0]) || strncmp(clean, "gl_", 3) == 0 || clean[0] == '_';
    }
    if (prefix) {
        memmove(clean + 2, clean, k + 1);
        clean[0] = 'v';
        clean[1] = style == CG_NAMES_GLSL && clean[2] == '_' ? 'v' : '_';
    }
    char buf[160];
    snprintf(buf, sizeof buf, "%s", clean);
    for (int i = 1; strmap_find(&n->used, buf, strlen(buf)); i++) snprintf(buf, sizeof buf, "%s_%d", clean, i);
    mlcc_strmap_entry *ue = strmap_upsert(&n->used, buf, strlen(buf), NULL);
    u64map_set_p(&n->ids, node, ue->key);
    return ue->key;
}
