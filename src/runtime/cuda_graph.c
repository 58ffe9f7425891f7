/* cuda_graph.c - CUDA graphs: a piece of work (a decode step) captured once from the device's
 * stream and replayed with one launch (see cuda.h).
 *
 * Why: a batch-1 decode step is ~20 kernels per layer through the VM; on the H100 the GPU sat
 * idle ~1.7 us between consecutive kernels waiting for the next launch, and the host's work
 * between steps (the VM, the wrappers) was not overlapped. A replayed graph launches the whole
 * step at once.
 *
 * What a capture needs: the device's own stream (capture is impossible on the legacy default
 * stream), no synchronizing call while it runs (host-to-device copies from pageable memory
 * wait for the stream: the callers upload the step's inputs before), and the memory the
 * captured kernels touch kept for the graph's life: the allocator's capture pool
 * (cuda_device.c). The capture runs in relaxed mode, so a cache miss may still cuMemAlloc. */
#include <stdlib.h>
#include <string.h>

#include "runtime/cuda.h"
#include "runtime/cuda_api.h"
#include "support/alloc.h"
#include "support/error.h"

struct mlcc_cuda_graph {
    int device_id;
    CUgraph graph;
    CUgraphExec exec;
    mlcc_cuda_pool *pool;
};

typedef struct capture {
    int device_id;
    void *stream;
    mlcc_cuda_pool *pool;
} capture;

static _Thread_local capture current;
static long captures, launches; /* process-wide counts, for tests */

void mlcc_cuda_graph_counts(long *captured, long *launched) {
    *captured = __atomic_load_n(&captures, __ATOMIC_RELAXED);
    *launched = __atomic_load_n(&launches, __ATOMIC_RELAXED);
}

int mlcc_cuda_graphs_enabled(void) {
    const char *v = getenv("MLCC_CUDA_GRAPHS");
    if (v && strcmp(v, "0") == 0) return 0;
    return !mlcc_cuda_profiling(); /* the profiler's events would be captured too */
}

int mlcc_cuda_capture_begin(int device_id) {
    if (current.pool) return mlcc_set_error("cuda graph: a capture is already under way on this thread");
    if (mlcc_cuda_use_own_stream(device_id) != 0) return -1;
    void *stream = NULL;
    if (mlcc_cuda_enter(device_id, &stream) != 0) return -1;
    mlcc_cuda_pool *pool = mlcc_cuda_pool_begin(device_id);
    if (!pool) return -1;
    CUresult r = mlcc_cuda_driver_api()->cuStreamBeginCapture(stream, CU_STREAM_CAPTURE_MODE_RELAXED);
    if (r != 0) {
        mlcc_cuda_pool_free(pool);
        return mlcc_cuda_fail("cuStreamBeginCapture", r);
    }
    current.device_id = device_id, current.stream = stream, current.pool = pool;
    return 0;
}

mlcc_cuda_graph *mlcc_cuda_capture_end(int keep) {
    if (!current.pool) return mlcc_set_error("cuda graph: no capture is under way"), NULL;
    capture c = current;
    memset(&current, 0, sizeof current);
    const mlcc_cuda_driver *cu = mlcc_cuda_driver_api();
    mlcc_cuda_enter(c.device_id, NULL);
    CUgraph graph = NULL;
    CUresult r = cu->cuStreamEndCapture(c.stream, &graph);
    mlcc_cuda_pool_end(c.pool);
    CUgraphExec exec = NULL;
    const char *failed = r != 0 ? "cuStreamEndCapture" : NULL;
    if (r == 0 && keep && (r = cu->cuGraphInstantiateWithFlags(&exec, graph, 0)) != 0) failed = "cuGraphInstantiate";
    if (failed || !keep) {
        if (graph) cu->cuGraphDestroy(graph);
        /* the captured work never ran: its blocks hold nothing anyone waits for */
        mlcc_cuda_pool_free(c.pool);
        if (failed) mlcc_cuda_fail(failed, r); /* (!keep: the caller's error stands) */
        return NULL;
    }
    mlcc_cuda_graph *g = mlcc_xcalloc(1, sizeof *g);
    g->device_id = c.device_id, g->graph = graph, g->exec = exec, g->pool = c.pool;
    __atomic_add_fetch(&captures, 1, __ATOMIC_RELAXED);
    return g;
}

int mlcc_cuda_graph_launch(mlcc_cuda_graph *g) {
    void *stream = NULL;
    if (mlcc_cuda_enter(g->device_id, &stream) != 0) return -1;
    mlcc_cuda_note_stream_work();
    CUresult r = mlcc_cuda_driver_api()->cuGraphLaunch(g->exec, stream);
    __atomic_add_fetch(&launches, 1, __ATOMIC_RELAXED);
    return r == 0 ? 0 : mlcc_cuda_fail("cuGraphLaunch", r);
}

void mlcc_cuda_graph_free(mlcc_cuda_graph *g) {
    if (!g) return;
    const mlcc_cuda_driver *cu = mlcc_cuda_driver_api();
    /* a replay may still run: its blocks go back to the cache only after it finished */
    mlcc_cuda_synchronize(g->device_id);
    cu->cuGraphExecDestroy(g->exec);
    cu->cuGraphDestroy(g->graph);
    mlcc_cuda_pool_free(g->pool);
    free(g);
}
