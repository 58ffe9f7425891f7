/* decode_graph.c - decode steps of a CUDA model captured once and replayed as CUDA graphs
 * (issue 17: "decode steps captured as CUDA graphs per batch-size bucket").
 *
 * A graph bakes in every pointer and every shape value the generated host wrappers pass to
 * their kernels, so:
 *  - inputs move before the graph into fixed device buffers: the token ids into a buffer of
 *    max_batch ids owned here, the KV cache's step arrays uploaded by
 *    mlcc_kv_cache_upload_steps (its positions builtin copies from them on the device);
 *  - a graph is keyed by what the wrappers bake in: the batch size n, the page_indices length
 *    (the step's pages, padded: mlcc_kv_cache_step_pages) and the KV cache's device epoch
 *    (where its step arrays live; new for another cache or when they grow). A key is captured
 *    the second step in a row it comes (the first runs the ordinary way), so batches that
 *    change every step never pay for captures; the last MAX_GRAPHS are kept (at batch 1 a
 *    sequence needs a new key every 8 pages, 128 tokens, early on, and after a growth of a
 *    quarter later: one ordinary step and one capture each);
 *  - the memory the captured step allocates stays the graph's (the allocator's capture pool),
 *    and so does its output, the logits object, returned again by every replay.
 * A capture that fails (some call in the step cannot be captured) turns graphs off for the
 * model with a warning, and the step runs the ordinary way. */
#include "models/decode_graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/cuda.h"
#include "runtime/device.h"
#include "support/alloc.h"
#include "support/error.h"
#include "support/log.h"

enum { MAX_GRAPHS = 6 };

typedef struct graph_entry {
    int64_t n, num_pages;
    uint64_t epoch;
    uint64_t last_used;
    mlcc_cuda_graph *graph;
    MLCCObject *out; /* the captured step's logits (one reference) */
} graph_entry;

struct decode_graphs {
    int off;
    /* the key of the last step that ran without a graph: a key is captured the second step
     * in a row it comes (a batch whose size or pages change every step, as continuous batching
     * gives, would pay a capture per step: measured at batch 64, 38.7 ms steps against 22.6) */
    int64_t seen_n, seen_pages;
    uint64_t seen_epoch;
    int64_t capacity;
    MLCCNDArray *ids; /* int32 [capacity] on the device */
    graph_entry entries[MAX_GRAPHS];
    int count;
    uint64_t clock;
    long captures, replays;
};

static void entry_clear(graph_entry *e) {
    mlcc_object_release(e->out);
    mlcc_cuda_graph_free(e->graph);
    memset(e, 0, sizeof *e);
}

void decode_graphs_free(decode_graphs *gs) {
    if (!gs) return;
    for (int i = 0; i < gs->count; i++) entry_clear(&gs->entries[i]);
    mlcc_ndarray_release(gs->ids);
    LOG_INFO("cuda graphs: %ld captures, %ld replays", gs->captures, gs->replays);
    free(gs);
}

static graph_entry *find(decode_graphs *gs, int64_t n, int64_t num_pages, uint64_t epoch) {
    for (int i = 0; i < gs->count; i++) {
        graph_entry *e = &gs->entries[i];
        if (e->n == n && e->num_pages == num_pages && e->epoch == epoch) return e;
    }
    return NULL;
}

/* A free slot, evicting the least recently used graph when all are taken. */
static graph_entry *take_slot(decode_graphs *gs) {
    if (gs->count < MAX_GRAPHS) return &gs->entries[gs->count++];
    graph_entry *old = &gs->entries[0];
    for (int i = 1; i < gs->count; i++)
        if (gs->entries[i].last_used < old->last_used) old = &gs->entries[i];
    entry_clear(old);
    return old;
}

static int turn_off(decode_graphs *gs, const char *why) {
    LOG_WARN("cuda graphs off for this model: %s", why);
    gs->off = 1;
    return 0;
}

static int capture(decode_graphs *gs, DLDevice dev, int64_t n, decode_graph_body body, void *ctx, graph_entry **out) {
    MLCCNDArray *ids = mlcc_ndarray_view(gs->ids, 0, 1, &n, MLCC_DTYPE_I32);
    if (!ids) return -1;
    if (mlcc_cuda_capture_begin(dev.device_id) != 0) {
        mlcc_ndarray_release(ids);
        return turn_off(gs, mlcc_last_error());
    }
    MLCCObject *logits = NULL;
    int rc = body(ctx, ids, &logits);
    mlcc_ndarray_release(ids);
    char why[1024] = "";
    if (rc) snprintf(why, sizeof why, "%s", mlcc_last_error());
    mlcc_cuda_graph *g = mlcc_cuda_capture_end(rc == 0);
    if (!g) {
        mlcc_object_release(logits);
        return turn_off(gs, rc ? why : mlcc_last_error());
    }
    graph_entry *e = take_slot(gs);
    e->graph = g, e->out = logits, e->n = n;
    gs->captures++;
    *out = e;
    return 1;
}

int decode_graph_step(decode_graphs **gsp, DLDevice dev, MLCCKVCache *kv, const int32_t *tokens, int64_t n,
                      int64_t max_batch, decode_graph_body body, void *ctx, MLCCObject **out) {
    if (dev.device_type != kDLCUDA || !mlcc_cuda_graphs_enabled()) return 0;
    decode_graphs *gs = *gsp;
    if (!gs) {
        gs = *gsp = mlcc_xcalloc(1, sizeof *gs);
        gs->capacity = max_batch > 0 ? max_batch : 1;
        gs->ids = mlcc_ndarray_empty(1, &gs->capacity, MLCC_DTYPE_I32, dev); /* outside any capture: ours */
        if (!gs->ids) return turn_off(gs, mlcc_last_error());
    }
    const mlcc_kv_forward *f = mlcc_kv_cache_forward(kv);
    if (gs->off || n > gs->capacity || !f) return 0;
    /* inputs first: the copies wait for the stream, which a capture forbids */
    if (mlcc_kv_cache_upload_steps(kv) != 0) return -1;
    uint64_t epoch = mlcc_kv_cache_device_epoch(kv);
    int64_t pages = mlcc_kv_cache_step_pages(kv);
    graph_entry *e = find(gs, n, pages, epoch);
    if (!e && !(gs->seen_n == n && gs->seen_pages == pages && gs->seen_epoch == epoch)) {
        gs->seen_n = n, gs->seen_pages = pages, gs->seen_epoch = epoch;
        return 0; /* first sight of this key: the ordinary way (the step arrays are up already) */
    }
    const MLCCDeviceAPI *api = mlcc_copy_api(MLCC_CPU, dev);
    if (!api || api->copy(tokens, MLCC_CPU, gs->ids->dl.data, dev, sizeof(int32_t) * (size_t)n, NULL) != 0) return -1;
    if (!e) {
        int rc = capture(gs, dev, n, body, ctx, &e);
        if (rc <= 0) return rc;
        e->num_pages = pages, e->epoch = epoch;
    } else {
        gs->replays++;
    }
    e->last_used = ++gs->clock;
    if (mlcc_cuda_graph_launch(e->graph) != 0) return -1;
    mlcc_object_retain(e->out);
    *out = e->out;
    return 1;
}
