/* pass.c - the pass manager (see pass.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/alloc.h"
#include "support/clock.h"
#include "support/error.h"
#include "transform/pass.h"

void pm_init(mlcc_pass_manager *pm) {
    memset(pm, 0, sizeof *pm);
}

void pm_free(mlcc_pass_manager *pm) {
    free(pm->passes);
    free(pm->print_after);
    free(pm->timings);
    memset(pm, 0, sizeof *pm);
}

void pm_add(mlcc_pass_manager *pm, const char *name, mlcc_pass_fn fn, void *ctx) {
    if (pm->npasses == pm->cap) {
        pm->cap = pm->cap ? pm->cap * 2 : 8;
        pm->passes = mlcc_xrealloc(pm->passes, sizeof(mlcc_pass) * (size_t)pm->cap);
    }
    mlcc_pass p = {name, fn, ctx};
    pm->passes[pm->npasses++] = p;
}

static const mlcc_pass builtin[] = {
    {"legalize", pass_legalize, NULL},
    {"canonicalize_bindings", pass_canonicalize_bindings, NULL},
    {"dead_code_elimination", pass_dead_code_elimination, NULL},
    {"annotate_op_pattern", pass_annotate_op_pattern, NULL},
    {"fuse_ops", pass_fuse_ops, NULL},
    {"fuse_tir", pass_fuse_tir, NULL},
    {"default_schedule", pass_default_schedule, NULL},
};

int pm_add_named(mlcc_pass_manager *pm, const char *name) {
    for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++)
        if (strcmp(builtin[i].name, name) == 0) {
            pm_add(pm, builtin[i].name, builtin[i].fn, NULL);
            return 0;
        }
    return mlcc_set_error("unknown pass '%s' (known: legalize, canonicalize_bindings, dead_code_elimination, "
                          "annotate_op_pattern, fuse_ops, fuse_tir, default_schedule)", name);
}

void pm_print_after(mlcc_pass_manager *pm, const char *name) {
    pm->print_after = mlcc_xrealloc(pm->print_after, sizeof(char *) * (size_t)(pm->nprint + 1));
    pm->print_after[pm->nprint++] = name;
}

void pm_set_print_sink(mlcc_pass_manager *pm, mlcc_strbuf *sink) {
    pm->print_sink = sink;
}

static int wants_print(const mlcc_pass_manager *pm, const char *name) {
    for (int i = 0; i < pm->nprint; i++)
        if (strcmp(pm->print_after[i], "*") == 0 || strcmp(pm->print_after[i], name) == 0) return 1;
    return 0;
}

mlcc_ir_module *pm_run(mlcc_pass_manager *pm, const mlcc_ir_module *m) {
    free(pm->timings);
    pm->timings = mlcc_xmalloc(sizeof(mlcc_pass_timing) * (size_t)(pm->npasses + 1));
    pm->ntimings = 0;
    const mlcc_ir_module *cur = m;
    for (int i = 0; i < pm->npasses; i++) {
        const mlcc_pass *p = &pm->passes[i];
        double t0 = mlcc_now_seconds();
        mlcc_ir_module *next = p->fn(cur, p->ctx);
        mlcc_pass_timing t = {p->name, mlcc_now_seconds() - t0};
        pm->timings[pm->ntimings++] = t;
        if (!next) {
            mlcc_prefix_error("pass '%s'", p->name);
            return NULL;
        }
        if (wants_print(pm, p->name)) {
            mlcc_strbuf text = STRBUF_INIT;
            sb_printf(&text, "# IR after %s\n", p->name);
            irmod_print(next, &text);
            if (pm->print_sink) sb_append(pm->print_sink, sb_cstr(&text));
            else fputs(sb_cstr(&text), stderr);
            sb_free(&text);
        }
        cur = next;
    }
    return (mlcc_ir_module *)cur;
}

void pm_format_timings(const mlcc_pass_manager *pm, mlcc_strbuf *out) {
    for (int i = 0; i < pm->ntimings; i++)
        sb_printf(out, "%-28s %9.3f ms\n", pm->timings[i].name, pm->timings[i].seconds * 1e3);
}
