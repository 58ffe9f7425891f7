/* gpu_kernel.c - kernel analysis shared by codegen_cuda and codegen_vulkan (see gpu_kernel.h). */
#include "codegen/gpu_kernel.h"

#include <stdlib.h>
#include <string.h>

#include "arith/analyzer.h"
#include "ir/functor.h"

const char *const gpu_thread_tags[6] = {"blockIdx.x", "blockIdx.y", "blockIdx.z",
                                        "threadIdx.x", "threadIdx.y", "threadIdx.z"};

int gpu_is_thread_tag(const char *tag, int *axis) {
    for (int i = 0; i < 6; i++)
        if (tag && strcmp(tag, gpu_thread_tags[i]) == 0) {
            if (axis) *axis = i;
            return 1;
        }
    return 0;
}

int gpu_is_global_scope(const mlcc_buffer *b) {
    return !b->scope || !*b->scope || strcmp(b->scope, "global") == 0;
}

int gpu_is_shared_scope(const mlcc_buffer *b) {
    return b->scope && strcmp(b->scope, "shared") == 0;
}

/* ---- the kernel's parameters and launch extents ---- */

static void note_buffer(gpu_kernel_info *k, mlcc_buffer *b);

static int collect_expr(ir_visitor *v, mlcc_expr *e) {
    gpu_kernel_info *k = v->ctx;
    if (e->kind == EXPR_VAR) {
        uint64_t key = (uint64_t)(uintptr_t)e;
        if (!u64map_find(&k->defined, key) && !u64map_find(&k->seen, key)) {
            u64map_upsert(&k->seen, key, NULL);
            vec_push(&k->scalars, e);
        }
    } else if (e->kind == EXPR_LOAD) {
        note_buffer(k, e->load.buffer);
    }
    return 1;
}

static int collect_stmt(ir_visitor *v, mlcc_stmt *s) {
    gpu_kernel_info *k = v->ctx;
    switch (s->kind) {
    case STMT_FOR: {
        u64map_upsert(&k->defined, (uint64_t)(uintptr_t)s->for_.var, NULL);
        int axis;
        if (s->for_.kind == FOR_THREAD_BINDING && gpu_is_thread_tag(s->for_.thread_tag, &axis)) {
            mlcc_expr *ext = arith_simplify_expr(s->for_.extent);
            int dup = 0;
            for (size_t i = 0; i < k->extents[axis].len; i++) dup |= arith_expr_equal(k->extents[axis].data[i], ext);
            if (!dup) vec_push(&k->extents[axis], ext);
        }
        break;
    }
    case STMT_ALLOCATE:
        u64map_upsert(&k->defined, (uint64_t)(uintptr_t)s->alloc.buffer, NULL);
        if (gpu_is_shared_scope(s->alloc.buffer)) k->uses_shared = 1;
        break;
    case STMT_STORE:
        note_buffer(k, s->store.buffer);
        u64map_upsert(&k->stored, (uint64_t)(uintptr_t)s->store.buffer, NULL);
        break;
    default: break;
    }
    return 1;
}

static void note_buffer(gpu_kernel_info *k, mlcc_buffer *b) {
    uint64_t key = (uint64_t)(uintptr_t)b;
    if (u64map_find(&k->defined, key) || u64map_find(&k->seen, key)) return;
    u64map_upsert(&k->seen, key, NULL);
    vec_push(&k->buffers, b);
    /* the flattened index reads the shape */
    ir_visitor v = {collect_expr, collect_stmt, k};
    for (int d = 0; d < b->ndim; d++) ir_visit_expr(&v, b->shape[d]);
}

void gpu_kernel_info_collect(gpu_kernel_info *k, mlcc_stmt *s) {
    u64map_init(&k->defined);
    u64map_init(&k->seen);
    u64map_init(&k->stored);
    ir_visitor v = {collect_expr, collect_stmt, k};
    ir_visit_stmt(&v, s);
}

void gpu_kernel_info_free(gpu_kernel_info *k) {
    vec_free(&k->buffers);
    vec_free(&k->scalars);
    for (int i = 0; i < 6; i++) vec_free(&k->extents[i]);
    u64map_free(&k->defined);
    u64map_free(&k->seen);
    u64map_free(&k->stored);
}

typedef struct var_probe {
    const mlcc_u64map *defined;
    int found;
} var_probe;

static int probe_var(ir_visitor *v, mlcc_expr *e) {
    var_probe *p = v->ctx;
    if (e->kind == EXPR_VAR && u64map_find(p->defined, (uint64_t)(uintptr_t)e)) p->found = 1;
    return !p->found;
}

int gpu_uses_defined_var(mlcc_expr *e, const mlcc_u64map *defined) {
    var_probe p = {defined, 0};
    ir_visitor v = {probe_var, NULL, &p};
    ir_visit_expr(&v, e);
    return p.found;
}

/* ---- barriers ---- */

static int probe_shared_load(ir_visitor *v, mlcc_expr *e) {
    int *found = v->ctx;
    if (e->kind == EXPR_LOAD && gpu_is_shared_scope(e->load.buffer)) *found |= GPU_SHARED_READS;
    return 1;
}

static int probe_shared_store(ir_visitor *v, mlcc_stmt *s) {
    int *found = v->ctx;
    if (s->kind == STMT_STORE && gpu_is_shared_scope(s->store.buffer)) *found |= GPU_SHARED_WRITES;
    return 1;
}

int gpu_shared_access(mlcc_stmt *s) {
    int found = 0;
    ir_visitor v = {probe_shared_load, probe_shared_store, &found};
    ir_visit_stmt(&v, s);
    return found;
}

int gpu_needs_barrier(int a, int b) {
    return ((a & GPU_SHARED_WRITES) && (b & GPU_SHARED_READS)) || ((a & GPU_SHARED_READS) && (b & GPU_SHARED_WRITES));
}

/* ---- the host side ---- */

typedef struct host_probe {
    const char *host_call;
    int ok;
} host_probe;

static int probe_host_expr(ir_visitor *v, mlcc_expr *e) {
    host_probe *p = v->ctx;
    if (e->kind == EXPR_LOAD || (e->kind == EXPR_CALL && !(p->host_call && strcmp(e->call.op, p->host_call) == 0)))
        p->ok = 0;
    return p->ok;
}

int gpu_host_condition(mlcc_expr *cond, const char *host_call) {
    host_probe p = {host_call, 1};
    ir_visitor v = {probe_host_expr, NULL, &p};
    ir_visit_expr(&v, cond);
    return p.ok;
}

void gpu_append_c_string(mlcc_strbuf *out, const char *s) {
    sb_append(out, "\"");
    int col = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') sb_printf(out, "\\%c", *p), col += 2;
        else if (*p == '\n') sb_append(out, "\\n\"\n    \""), col = 0;
        else if (*p < 32 || *p >= 127 || *p == '?') sb_printf(out, "\\%03o", *p), col += 4;
        else sb_append_char(out, (char)*p), col++;
        if (col >= 100) {
            sb_append(out, "\"\n    \"");
            col = 0;
        }
    }
    sb_append(out, "\"");
}
