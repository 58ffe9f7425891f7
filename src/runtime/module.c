/* module.c - loading model libraries with dlopen and looking up their packed functions; the
 * symbol contract is described in module.h and docs/model-library.md. */
#include "runtime/module.h"
#include "runtime/threadpool.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/cuda.h"
#include "runtime/vulkan.h"
#include "runtime/object.h"
#include "support/alloc.h"
#include "support/error.h"

struct MLCCModule {
    MLCCObject obj;
    void *handle;
    char *path;
    const char *const *names; /* the library's own table */
    size_t num_names;
    const char *metadata;
};

enum { MAX_LIBRARY_FUNCTIONS = 1 << 20, MAX_NAME_LENGTH = 1024 };

/* What generated code calls through mlcc_library_set_error. */
static void record_library_error(const char *msg) {
    mlcc_set_error("%s", msg ? msg : "(null error message)");
}

static void module_delete(MLCCObject *obj) {
    MLCCModule *m = (MLCCModule *)obj;
    if (m->handle) dlclose(m->handle);
    free(m->path);
    free(m);
}

static int valid_function_name(const char *name) {
    size_t n = 0;
    for (; name[n] && n <= MAX_NAME_LENGTH; n++) {
        char c = name[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return 0;
    }
    return n > 0 && n <= MAX_NAME_LENGTH;
}

static void *function_symbol(void *handle, const char *name) {
    char symbol[sizeof MLCC_LIBRARY_FN_PREFIX + MAX_NAME_LENGTH + 1];
    snprintf(symbol, sizeof symbol, "%s%s", MLCC_LIBRARY_FN_PREFIX, name);
    return dlsym(handle, symbol);
}

/* Checks the library against the contract; 0 or -1 with a message (without the path). */
static int check_contract(MLCCModule *m) {
    m->names = dlsym(m->handle, "mlcc_library_function_names");
    if (!m->names)
        return mlcc_set_error("not an mlcc model library (no mlcc_library_function_names symbol)");
    const int32_t *version = dlsym(m->handle, "mlcc_library_abi_version");
    if (version && *version != MLCC_LIBRARY_ABI_VERSION)
        return mlcc_set_error("built for library ABI version %d, this runtime reads version %d",
                              (int)*version, MLCC_LIBRARY_ABI_VERSION);
    void (**hook)(const char *) = dlsym(m->handle, "mlcc_library_set_error");
    if (!hook)
        return mlcc_set_error("no mlcc_library_set_error hook (every library must define it)");
    *hook = record_library_error;
    /* optional (libraries before it lack it): the kernels' thread count comes from the pool */
    int (**threads)(void) = dlsym(m->handle, "mlcc_library_thread_count");
    if (threads) *threads = mlcc_threadpool_thread_count;
    for (m->num_names = 0; m->names[m->num_names]; m->num_names++) {
        const char *name = m->names[m->num_names];
        if (m->num_names == MAX_LIBRARY_FUNCTIONS)
            return mlcc_set_error("more than %d functions", MAX_LIBRARY_FUNCTIONS);
        if (!valid_function_name(name))
            return mlcc_set_error("function name %zu '%.64s' is not [A-Za-z0-9_]+", m->num_names,
                                  name);
        if (!function_symbol(m->handle, name))
            return mlcc_set_error("function '%s' is listed but %s%s is not exported", name,
                                  MLCC_LIBRARY_FN_PREFIX, name);
    }
    m->metadata = dlsym(m->handle, "mlcc_library_metadata");
    /* CUDA libraries launch their kernels through the runtime's hook table. */
    const mlcc_cuda_library_hooks **cuda = dlsym(m->handle, "mlcc_library_cuda");
    if (cuda) {
        if (!mlcc_cuda_available())
            return mlcc_set_error("the library runs on CUDA, but %s", mlcc_cuda_status());
        *cuda = mlcc_cuda_hooks();
    }
    /* Vulkan libraries likewise (runtime/vulkan.h). */
    const mlcc_vulkan_library_hooks **vulkan = dlsym(m->handle, "mlcc_library_vulkan");
    if (vulkan) {
        if (!mlcc_vulkan_available())
            return mlcc_set_error("the library runs on Vulkan, but %s", mlcc_vulkan_status());
        *vulkan = mlcc_vulkan_hooks();
    }
    return 0;
}

/* Model libraries use OpenMP: libgomp is loaded once for the process (pinned, with the wait
 * policy chosen) by the thread pool, whose team the kernels share (runtime/threadpool.c). */
MLCCModule *mlcc_module_load(const char *path) {
    mlcc_openmp_load();
    dlerror();
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char *why = dlerror();
        mlcc_set_error("loading model library %s: %s", path, why ? why : "dlopen failed");
        return NULL;
    }
    MLCCModule *m = mlcc_xcalloc(1, sizeof *m);
    mlcc_object_init(&m->obj, MLCC_OBJECT_MODULE, module_delete);
    m->handle = handle;
    m->path = mlcc_xstrdup(path);
    if (check_contract(m) != 0) {
        mlcc_prefix_error("loading model library %s", path);
        mlcc_object_release(&m->obj);
        return NULL;
    }
    return m;
}

static void release_module(void *resource) {
    mlcc_object_release(resource);
}

MLCCFunction *mlcc_module_get_function(MLCCModule *m, const char *name) {
    for (size_t i = 0; i < m->num_names; i++) {
        if (strcmp(m->names[i], name) != 0) continue;
        MLCCPackedCFunc fn;
        void *sym = function_symbol(m->handle, name);
        memcpy(&fn, &sym, sizeof fn); /* object pointer -> function pointer, as dlsym intends */
        mlcc_object_retain(&m->obj);  /* the function keeps the code mapped */
        return mlcc_function_new(name, fn, m, release_module);
    }
    mlcc_set_error("model library %s has no function '%s'", m->path, name);
    return NULL;
}

size_t mlcc_module_num_functions(const MLCCModule *m) {
    return m->num_names;
}

const char *mlcc_module_function_name(const MLCCModule *m, size_t i) {
    return i < m->num_names ? m->names[i] : NULL;
}

const char *mlcc_module_metadata(const MLCCModule *m) {
    return m->metadata;
}

const char *mlcc_module_path(const MLCCModule *m) {
    return m->path;
}

MLCCObject *mlcc_module_object(MLCCModule *m) {
    return &m->obj;
}

const void *mlcc_module_get_symbol(const MLCCModule *m, const char *name) {
    dlerror();
    return dlsym(m->handle, name);
}
