/* cpu_blas.c - OpenBLAS loaded with dlopen (see cpu_blas.h). */
#include "runtime/cpu_blas.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>

#include "support/log.h"

static struct {
    pthread_once_t once;
    mlcc_cblas_sgemm_fn sgemm;
    void (*set_threads)(int);
    const char *name;
    int threads; /* the count last given to set_threads; atomic */
} blas = {PTHREAD_ONCE_INIT, NULL, NULL, NULL, 0};

/* The library stays loaded for the process: its worker threads outlive every call. */
static void load_blas(void) {
    const char *wanted = getenv("MLCC_CPU_BLAS_LIB");
    const char *names[] = {"libopenblas.so.0", "libopenblas.so"};
    int n = 2;
    if (wanted && *wanted) names[0] = wanted, n = 1;
    const char *why = "?";
    for (int i = 0; i < n && !blas.sgemm; i++) {
        void *h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            why = dlerror();
            continue;
        }
        blas.sgemm = (mlcc_cblas_sgemm_fn)dlsym(h, "cblas_sgemm");
        if (!blas.sgemm) {
            why = "it has no cblas_sgemm";
            dlclose(h);
            continue;
        }
        blas.set_threads = (void (*)(int))dlsym(h, "openblas_set_num_threads");
        blas.name = names[i];
    }
    if (!blas.sgemm)
        LOG_INFO("cpu blas: OpenBLAS not loaded (%s); float32 GEMMs run the compiled kernels", why ? why : "?");
}

mlcc_cblas_sgemm_fn mlcc_cpu_blas_sgemm(void) {
    pthread_once(&blas.once, load_blas);
    return blas.sgemm;
}

void mlcc_cpu_blas_set_threads(int n) {
    pthread_once(&blas.once, load_blas);
    if (blas.set_threads && n >= 1 && __atomic_exchange_n(&blas.threads, n, __ATOMIC_RELAXED) != n) blas.set_threads(n);
}

const char *mlcc_cpu_blas_name(void) {
    pthread_once(&blas.once, load_blas);
    return blas.name;
}
