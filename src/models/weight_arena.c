/* weight_arena.c - one allocation for all the weights of a model that runs on the CPU.
 *
 * A decode step streams every weight once. The CPU allocator (runtime/device.c) asks for
 * transparent huge pages only for the whole 2 MiB pages of each allocation: the tail of every
 * tensor and every tensor below 2 MiB (the 4-bit scales, the norms) stay in 4 KiB pages, about a
 * quarter of the bytes a 4-bit token reads, and each of those pages costs a TLB miss a step. Here
 * the loaders place the weights back to back (64-byte aligned) in one storage, which gets huge
 * pages all through but for its last one. The arena is only an allocation: each weight is an
 * array of its own that holds a reference to the storage, so the storage lives until the last
 * weight is released. Weights that go to a GPU keep their own host arrays (they are copies that
 * die after the upload). */
#include <stdlib.h>

#include "models/model.h"
#include "support/alloc.h"
#include "support/log.h"

enum { ARENA_ALIGNMENT = 64 };

static size_t param_nbytes(const model_param *p) {
    DLDataType t = {p->dtype.code, p->dtype.bits, p->dtype.lanes};
    size_t n = 0;
    return mlcc_shape_nbytes(p->ndim, p->shape, t, &n) == 0 ? n : 0;
}

void model_weight_arena_begin(mlcc_model *m) {
    m->weight_arena = NULL, m->weight_offsets = NULL;
    if (m->device.device_type != kDLCPU || m->params.n == 0) return;
    size_t *offsets = mlcc_xcalloc((size_t)m->params.n, sizeof *offsets), total = 0;
    for (int i = 0; i < m->params.n; i++) {
        offsets[i] = total;
        total += (param_nbytes(&m->params.items[i]) + ARENA_ALIGNMENT - 1) / ARENA_ALIGNMENT * ARENA_ALIGNMENT;
    }
    MLCCStorage *s = total ? mlcc_storage_alloc(total, MLCC_CPU) : NULL;
    if (!s) { /* no arena: each weight gets an allocation of its own, as before */
        if (total) LOG_WARN("weights: one allocation of %zu bytes failed (%s); allocating them one by one", total, mlcc_last_error());
        free(offsets);
        return;
    }
    m->weight_arena = s, m->weight_offsets = offsets;
}

MLCCNDArray *model_new_weight(mlcc_model *m, int i) {
    const model_param *p = &m->params.items[i];
    DLDataType t = {p->dtype.code, p->dtype.bits, p->dtype.lanes};
    if (m->weight_arena) return mlcc_storage_alloc_tensor(m->weight_arena, m->weight_offsets[i], p->ndim, p->shape, t);
    return mlcc_ndarray_empty(p->ndim, p->shape, t, MLCC_CPU);
}

void model_weight_arena_end(mlcc_model *m) {
    mlcc_storage_release(m->weight_arena); /* the weights placed in it hold it now */
    free(m->weight_offsets);
    m->weight_arena = NULL, m->weight_offsets = NULL;
}
