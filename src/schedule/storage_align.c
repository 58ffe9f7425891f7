/* storage_align.c - storage_align (see schedule.h), after TVM's
 * tir/schedule/primitive/block_annotate.cc.
 *
 * TVM records the request as a block annotation that a later pass turns into buffer strides;
 * here the buffer itself carries it (mlcc_buffer.align): the primitive replaces the buffer by a
 * copy whose dimension `axis` has its stride padded to the next factor * k + offset, everywhere
 * in the function, and codegen lays it out so (ir_buffer_offset / ir_buffer_elems). Padding
 * changes where elements live, not their values, so the primitive is legal for a buffer the
 * function allocates; a parameter's layout belongs to the caller and is refused, and so is a
 * buffer whose address a tensorized intrinsic call already takes with the compact strides
 * (tensorize after storage_align instead: it passes the padded leading dimension). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/functor.h"
#include "schedule/state.h"
#include "support/error.h"

#define PRIM "storage_align"

/* Is buf allocated by the function or by one of its blocks? */
static int is_allocated(mlcc_schedule *s, const mlcc_buffer *buf) {
    for (int i = 0; i < s->func->nalloc; i++)
        if (s->func->alloc_buffers[i] == buf) return 1;
    mlcc_stmt **rs;
    int nr = sch_collect_realizes(s->func->body, 0, &rs);
    for (int r = 0; r < nr; r++)
        for (int i = 0; i < rs[r]->realize.block->nalloc; i++)
            if (rs[r]->realize.block->alloc_buffers[i] == buf) return 1;
    return 0;
}

typedef struct {
    const mlcc_buffer *buf;
    int found;
} address_finder;

static int find_address_of(ir_visitor *v, mlcc_expr *e) {
    address_finder *f = v->ctx;
    if (e->kind == EXPR_CALL && !strcmp(e->call.op, "address_of") && e->call.nargs == 1 &&
        e->call.args[0]->kind == EXPR_LOAD && e->call.args[0]->load.buffer == f->buf)
        f->found = 1;
    return !f->found;
}

/* Is buf's address passed to a call (a tensorized intrinsic, whose strides are fixed)? */
static int address_taken(mlcc_schedule *s, const mlcc_buffer *buf) {
    address_finder f = {buf, 0};
    ir_visitor v = {find_address_of, NULL, &f};
    ir_visit_stmt(&v, s->func->body);
    return f.found;
}

int sch_storage_align(mlcc_schedule *s, const char *block, int index, int axis, int64_t factor, int64_t offset) {
    sch_path p;
    if (!block || sch_find_block(s, block, &p)) return mlcc_set_error("%s: no block named '%s'", PRIM, block ? block : "(null)");
    const mlcc_block *b = p.nodes[p.n - 1]->realize.block;
    if (index < 0 || index >= b->nwrites)
        return mlcc_set_error("%s: block '%s' has %d write region(s); index %d is out of range", PRIM, block, b->nwrites, index);
    mlcc_buffer *x = b->writes[index].buffer;
    if (axis < 0 || axis >= x->ndim)
        return mlcc_set_error("%s: axis %d is out of range for the %d dimensions of '%s' (block '%s')", PRIM, axis,
                              x->ndim, x->name, block);
    if (factor <= 0 || factor > (1 << 20) || offset < 0 || offset >= factor)
        return mlcc_set_error("%s: factor %lld and offset %lld of '%s' (block '%s') need 0 < factor <= 2^20 and "
                              "0 <= offset < factor", PRIM, (long long)factor, (long long)offset, x->name, block);
    if (sch_is_param_buffer(s, x))
        return mlcc_set_error("%s: '%s' (written by block '%s') is a parameter of the function: its layout is the "
                              "caller's", PRIM, x->name, block);
    if (!is_allocated(s, x))
        return mlcc_set_error("%s: '%s' (written by block '%s') is not allocated by the function", PRIM, x->name, block);
    if (address_taken(s, x))
        return mlcc_set_error("%s: '%s' (written by block '%s') is passed to an intrinsic call whose strides are fixed "
                              "already (align before tensorize)", PRIM, x->name, block);
    const char *brv = sch_block_rv(s, block);
    mlcc_buffer *nx = ir_buffer_align(x, axis, factor, offset);
    mlcc_prim_func *f = s->func;
    mlcc_buffer **allocs = ir_alloc(sizeof(mlcc_buffer *) * (size_t)(f->nalloc + 1));
    for (int i = 0; i < f->nalloc; i++) allocs[i] = f->alloc_buffers[i] == x ? nx : f->alloc_buffers[i];
    f->alloc_buffers = allocs;
    sch_commit(s, stmt_replace_buffers(f->body, &x, &nx, 1));
    char line[300];
    snprintf(line, sizeof line, "sch.storage_align(%s, %d, %d, %lld, %lld)", brv, index, axis, (long long)factor,
             (long long)offset);
    sch_record(s, line);
    return 0;
}
