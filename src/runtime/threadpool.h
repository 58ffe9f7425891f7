/* threadpool.h - the process's one set of worker threads, libgomp's team (public API in
 * mlcc_runtime.h: mlcc_parallel_for, mlcc_threadpool_size, mlcc_threadpool_set_size). */
#ifndef MLCC_RUNTIME_THREADPOOL_H
#define MLCC_RUNTIME_THREADPOOL_H

#include "mlcc/mlcc_runtime.h"

/* The size MLCC_NUM_THREADS asks for, else the CPUs this process may run on (>= 1). */
int mlcc_threadpool_default_size(void);
/* The pool's size once it exists or was set, else the default size, without starting any
 * thread: what generated kernels run their parallel loops with (cheap: called per loop). */
int mlcc_threadpool_thread_count(void);

/* Loads libgomp once for the process (RTLD_NODELETE), defaulting OMP_WAIT_POLICY to passive
 * first; model libraries and mlcc_parallel_for call it before their first parallel region. */
void mlcc_openmp_load(void);

/* Ends the calling thread's team (its idle workers exit), for a thread done with parallel work
 * that another thread's kernels follow, such as a model's loader: libgomp counts the workers of
 * every thread's team, and once they outnumber the CPUs each idle worker spins 100 times instead
 * of GOMP_SPINCOUNT before it sleeps, so every kernel's loop wakes sleeping threads (threadpool.c).
 * The thread's next parallel loop starts a team again. A no-op inside a parallel loop. */
void mlcc_threadpool_release_team(void);

#endif
