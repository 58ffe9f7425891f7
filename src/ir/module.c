/* module.c - IRModule: named graph functions and PrimFuncs (see module.h). */
#include <stdio.h>
#include <string.h>

#include "ir/module.h"
#include "support/error.h"
#include "support/hashmap.h"

mlcc_ir_module *irmod_new(void) {
    mlcc_ir_module *m = ir_alloc(sizeof *m);
    memset(m, 0, sizeof *m);
    return m;
}

mlcc_ir_module *irmod_copy(const mlcc_ir_module *m) {
    mlcc_ir_module *c = irmod_new();
    c->cap = m->n + 4;
    c->entries = ir_alloc(sizeof(irmod_entry) * (size_t)c->cap);
    if (m->n) memcpy(c->entries, m->entries, sizeof(irmod_entry) * (size_t)m->n);
    c->n = m->n;
    c->attrs = m->attrs;
    return c;
}

static int find(const mlcc_ir_module *m, const char *name) {
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->entries[i].name, name) == 0) return i;
    return -1;
}

static irmod_entry *append(mlcc_ir_module *m, const char *name) {
    if (m->n == m->cap) {
        int cap = m->cap ? m->cap * 2 : 8;
        irmod_entry *grown = ir_alloc(sizeof(irmod_entry) * (size_t)cap);
        if (m->n) memcpy(grown, m->entries, sizeof(irmod_entry) * (size_t)m->n);
        m->entries = grown;
        m->cap = cap;
    }
    irmod_entry *e = &m->entries[m->n++];
    memset(e, 0, sizeof *e);
    e->name = mlcc_intern(name);
    return e;
}

int irmod_add_graph(mlcc_ir_module *m, const char *name, rx_expr *func) {
    if (find(m, name) >= 0) return mlcc_set_error("IRModule: function '%s' already defined", name);
    irmod_entry *e = append(m, name);
    e->kind = IRMOD_GRAPH;
    e->graph = func;
    return 0;
}

int irmod_add_prim(mlcc_ir_module *m, const char *name, mlcc_prim_func *f) {
    if (find(m, name) >= 0) return mlcc_set_error("IRModule: function '%s' already defined", name);
    irmod_entry *e = append(m, name);
    e->kind = IRMOD_PRIM;
    e->prim = f;
    return 0;
}

void irmod_set_graph(mlcc_ir_module *m, const char *name, rx_expr *func) {
    int i = find(m, name);
    irmod_entry *e = i >= 0 ? &m->entries[i] : append(m, name);
    e->kind = IRMOD_GRAPH;
    e->graph = func;
    e->prim = NULL;
}

void irmod_set_prim(mlcc_ir_module *m, const char *name, mlcc_prim_func *f) {
    int i = find(m, name);
    irmod_entry *e = i >= 0 ? &m->entries[i] : append(m, name);
    e->kind = IRMOD_PRIM;
    e->prim = f;
    e->graph = NULL;
}

int irmod_remove(mlcc_ir_module *m, const char *name) {
    int i = find(m, name);
    if (i < 0) return -1;
    memmove(&m->entries[i], &m->entries[i + 1], sizeof(irmod_entry) * (size_t)(m->n - i - 1));
    m->n--;
    return 0;
}

const irmod_entry *irmod_lookup(const mlcc_ir_module *m, const char *name) {
    int i = find(m, name);
    return i >= 0 ? &m->entries[i] : NULL;
}

rx_expr *irmod_get_graph(const mlcc_ir_module *m, const char *name) {
    const irmod_entry *e = irmod_lookup(m, name);
    return e && e->kind == IRMOD_GRAPH ? e->graph : NULL;
}

mlcc_prim_func *irmod_get_prim(const mlcc_ir_module *m, const char *name) {
    const irmod_entry *e = irmod_lookup(m, name);
    return e && e->kind == IRMOD_PRIM ? e->prim : NULL;
}

const char *irmod_unique_name(const mlcc_ir_module *m, const char *base) {
    if (find(m, base) < 0) return mlcc_intern(base);
    char buf[256];
    for (int i = 1;; i++) {
        snprintf(buf, sizeof buf, "%s%d", base, i);
        if (find(m, buf) < 0) return mlcc_intern(buf);
    }
}

rx_sinfo *irmod_global_sinfo(const mlcc_ir_module *m, const char *name) {
    const irmod_entry *e = irmod_lookup(m, name);
    if (!e) {
        mlcc_set_error("IRModule: no function named '%s'", name);
        return NULL;
    }
    if (e->kind == IRMOD_GRAPH) return e->graph->sinfo;
    return rx_sinfo_func(NULL, -1, rx_sinfo_object());
}
