/* annotate.c - annotate / unannotate a loop or a block (see schedule.h), after TVM's
 * tir/schedule/primitive/annotate.cc: a key with an integer value that later passes and
 * codegen may read (unknown keys are kept and printed, never interpreted). Setting a key
 * again replaces its value. Annotations change no computation, so they are always legal. */
#include <stdio.h>
#include <string.h>

#include "schedule/state.h"
#include "support/error.h"
#include "support/hashmap.h"

/* A copy of the list with key set to value (value NULL: key removed); *n updated. */
static mlcc_annotation *with_annotation(const mlcc_annotation *list, int *n, const char *key, mlcc_expr *value) {
    mlcc_annotation *out = ir_alloc(sizeof(mlcc_annotation) * (size_t)(*n + 1));
    int k = 0, found = 0;
    for (int i = 0; i < *n; i++) {
        if (list[i].key == key) {
            found = 1;
            if (value) out[k++] = (mlcc_annotation){key, value};
        } else {
            out[k++] = list[i];
        }
    }
    if (!found && value) out[k++] = (mlcc_annotation){key, value};
    *n = k;
    return out;
}

static int valid_key(const char *key, const char *prim) {
    if (!key || !*key || strchr(key, '"') || strchr(key, '\n'))
        return mlcc_set_error("%s: the key must be a non-empty string without quotes or newlines", prim);
    return 0;
}

static int annotate_loop(mlcc_schedule *s, mlcc_expr *loop, const char *key, mlcc_expr *value, const char *prim) {
    if (valid_key(key, prim)) return -1;
    if (!loop || loop->kind != EXPR_VAR) return mlcc_set_error("%s: expected a loop var", prim);
    const char *rv = sch_loop_rv(s, loop, prim);
    sch_path p;
    if (!rv) return -1;
    if (sch_find_loop(s, loop, &p)) return mlcc_set_error("%s: loop '%s' is not in the function", prim, loop->var.name);
    mlcc_stmt *old = p.nodes[p.n - 1], *r = ir_alloc(sizeof *r);
    *r = *old;
    const char *k = mlcc_intern(key);
    r->for_.annotations = with_annotation(old->for_.annotations, &r->for_.nannotations, k, value);
    sch_commit(s, sch_path_replace(&p, r));
    char line[256];
    if (value) snprintf(line, sizeof line, "sch.annotate(%s, \"%s\", %lld)", rv, key, (long long)value->int_value);
    else snprintf(line, sizeof line, "sch.unannotate(%s, \"%s\")", rv, key);
    sch_record(s, line);
    return 0;
}

static int annotate_block(mlcc_schedule *s, const char *block, const char *key, mlcc_expr *value, const char *prim) {
    if (valid_key(key, prim)) return -1;
    sch_path p;
    if (!block || sch_find_block(s, block, &p))
        return mlcc_set_error("%s: no block named '%s'", prim, block ? block : "(null)");
    const char *rv = sch_block_rv(s, block);
    if (!rv) return -1;
    mlcc_stmt *old = p.nodes[p.n - 1];
    mlcc_block *b = ir_block_copy(old->realize.block);
    b->annotations = with_annotation(b->annotations, &b->nannotations, mlcc_intern(key), value);
    sch_commit(s, sch_path_replace(&p, ir_block_realize(old->realize.iter_values, old->realize.predicate, b)));
    char line[256];
    if (value) snprintf(line, sizeof line, "sch.annotate(%s, \"%s\", %lld)", rv, key, (long long)value->int_value);
    else snprintf(line, sizeof line, "sch.unannotate(%s, \"%s\")", rv, key);
    sch_record(s, line);
    return 0;
}

int sch_annotate_loop(mlcc_schedule *s, mlcc_expr *loop, const char *key, int64_t value) {
    return annotate_loop(s, loop, key, ir_int(value), "annotate");
}

int sch_annotate_block(mlcc_schedule *s, const char *block, const char *key, int64_t value) {
    return annotate_block(s, block, key, ir_int(value), "annotate");
}

int sch_unannotate_loop(mlcc_schedule *s, mlcc_expr *loop, const char *key) {
    return annotate_loop(s, loop, key, NULL, "unannotate");
}

int sch_unannotate_block(mlcc_schedule *s, const char *block, const char *key) {
    return annotate_block(s, block, key, NULL, "unannotate");
}
