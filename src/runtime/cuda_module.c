/* cuda_module.c - NVRTC compilation with a disk cache, CUDA modules, kernel launch, and the
 * hook table that generated model libraries use (see cuda.h).
 *
 * Cubins are cached under MLCC_HOME/cache/cuda/<sha256>.cubin, the key covering the source,
 * the target arch, the NVRTC version and the options, and written atomically, so processes
 * share the cache; MLCC_JIT_POLICY (ON, OFF, REDO, READONLY) applies as for the C JIT.
 * MLCC_CUDA_KEEP_SOURCE=1 also keeps each compiled source there, as <key>.cu. */
#include "runtime/cuda.h"

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/cuda_api.h"
#include "runtime/cuda_pdl.h"
#include "support/alloc.h"
#include "support/error.h"
#include "support/file.h"
#include "support/log.h"
#include "support/sha256.h"
#include "support/strbuf.h"
#include "support/vec.h"

static mlcc_cuda_stats stats;
static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;

static void count(long *field) {
    pthread_mutex_lock(&stats_lock);
    (*field)++;
    pthread_mutex_unlock(&stats_lock);
}

mlcc_cuda_stats mlcc_cuda_get_stats(void) {
    pthread_mutex_lock(&stats_lock);
    mlcc_cuda_stats s = stats;
    pthread_mutex_unlock(&stats_lock);
    return s;
}

int mlcc_nvrtc_available(void) {
    return mlcc_nvrtc_api_get() != NULL;
}

const char *mlcc_nvrtc_status(void) {
    static char line[1024];
    const mlcc_nvrtc_api *api = mlcc_nvrtc_api_get();
    if (api) snprintf(line, sizeof line, "nvrtc %d.%d (%s)", api->major, api->minor, api->path);
    else snprintf(line, sizeof line, "%s", mlcc_last_error());
    return line;
}

/* ---- NVRTC ---- */

enum { MAX_OPTIONS = 8 };

/* A source that holds architecture-specific instructions (Hopper's wgmma) says so on a line
 * "// mlcc-arch-specific"; it is compiled for sm_90a rather than sm_90, and such a cubin loads
 * only on that architecture. */
static int arch_specific(const char *source) {
    return strstr(source, MLCC_ARCH_SPECIFIC_DECLARATION) != NULL;
}

static int build_options(const char *source, int arch, int cubin, char arch_opt[64], char inc_opt[600],
                         const char **opts) {
    int n = 0;
    snprintf(arch_opt, 64, "--gpu-architecture=%s_%d%s", cubin ? "sm" : "compute", arch, arch_specific(source) ? "a" : "");
    opts[n++] = arch_opt;
    opts[n++] = "--std=c++17";
    const char *inc = mlcc_cuda_include_dir();
    if (inc) {
        snprintf(inc_opt, 600, "-I%s", inc);
        opts[n++] = inc_opt;
    }
    return n;
}

/* Does a log line [line, line + len) report an error ("x.cu(12): error: ..." from the front end,
 * "ptxas error   : ..." from the assembler)? */
static int is_error_line(const char *line, size_t len) {
    for (size_t i = 0; i + 5 <= len; i++) {
        if (memcmp(line + i, "error", 5) != 0) continue;
        size_t j = i + 5;
        while (j < len && line[j] == ' ') j++;
        if (j < len && line[j] == ':') return 1;
    }
    return 0;
}

/* NVRTC's log with its error messages first, each with the two lines after it (the source line
 * and the caret): a module of many kernels logs warnings (unused helpers) before the error, and
 * the error buffer would keep only those. Returns a new string. */
static char *errors_first(const char *log) {
    size_t n = strlen(log);
    char *out = mlcc_xmalloc(2 * n + 1), *o = out;
    for (int pass = 0; pass < 2; pass++) {
        int keep = 0; /* lines of an error's block left to copy */
        for (const char *line = log; *line;) {
            const char *end = strchr(line, '\n');
            size_t len = end ? (size_t)(end - line) + 1 : strlen(line);
            if (is_error_line(line, len)) keep = 3;
            if ((pass == 0) == (keep > 0)) {
                memcpy(o, line, len);
                o += len;
                if (!end) *o++ = '\n';
            }
            if (keep > 0) keep--;
            line += len;
        }
    }
    *o = '\0';
    return out;
}

/* Runs NVRTC; *out gets the cubin (cubin=1) or the PTX text (NUL-terminated). */
static int nvrtc_run(const char *source, int arch, int cubin, char **out, size_t *out_len) {
    const mlcc_nvrtc_api *api = mlcc_nvrtc_api_get();
    if (!api) return -1;
    if (arch < 30 || arch > 1000) return mlcc_set_error("nvrtc: unsupported architecture sm_%d", arch);
    char arch_opt[64], inc_opt[600];
    const char *opts[MAX_OPTIONS];
    int nopts = build_options(source, arch, cubin, arch_opt, inc_opt, opts);
    nvrtcProgram prog = NULL;
    nvrtcResult r = api->nvrtcCreateProgram(&prog, source, "mlcc_kernels.cu", 0, NULL, NULL);
    if (r != 0) return mlcc_set_error("nvrtcCreateProgram: %s", api->nvrtcGetErrorString(r));
    count(&stats.nvrtc_compiles);
    r = api->nvrtcCompileProgram(prog, nopts, opts);
    if (r != 0) {
        size_t log_len = 0;
        api->nvrtcGetProgramLogSize(prog, &log_len);
        char *log = mlcc_xmalloc(log_len + 1);
        log[0] = '\0';
        if (log_len) api->nvrtcGetProgramLog(prog, log);
        log[log_len] = '\0';
        char *ordered = errors_first(log);
        mlcc_set_error("nvrtc (%s, sm_%d): %s\n%s", api->path, arch, api->nvrtcGetErrorString(r), ordered);
        free(ordered);
        free(log);
        api->nvrtcDestroyProgram(&prog);
        return -1;
    }
    size_t size = 0;
    r = cubin ? api->nvrtcGetCUBINSize(prog, &size) : api->nvrtcGetPTXSize(prog, &size);
    char *buf = mlcc_xmalloc(size + 1);
    if (r == 0) r = cubin ? api->nvrtcGetCUBIN(prog, buf) : api->nvrtcGetPTX(prog, buf);
    api->nvrtcDestroyProgram(&prog);
    if (r != 0) {
        free(buf);
        return mlcc_set_error("nvrtc: reading the output: %s", api->nvrtcGetErrorString(r));
    }
    buf[size] = '\0';
    *out = buf;
    if (out_len) *out_len = size;
    return 0;
}

int mlcc_nvrtc_compile_ptx(const char *source, int arch, char **ptx) {
    return nvrtc_run(source, arch, 0, ptx, NULL);
}

typedef enum { POLICY_ON, POLICY_OFF, POLICY_REDO, POLICY_READONLY } cache_policy;

static cache_policy read_policy(void) {
    const char *p = getenv("MLCC_JIT_POLICY");
    if (!p || !*p || strcmp(p, "ON") == 0) return POLICY_ON;
    if (strcmp(p, "OFF") == 0) return POLICY_OFF;
    if (strcmp(p, "REDO") == 0) return POLICY_REDO;
    if (strcmp(p, "READONLY") == 0) return POLICY_READONLY;
    return POLICY_ON;
}

/* MLCC_HOME/cache/cuda/<key>.cubin (malloc'ed). */
static char *cache_path(const char *source, int arch) {
    const mlcc_nvrtc_api *api = mlcc_nvrtc_api_get();
    char arch_opt[64], inc_opt[600];
    const char *opts[MAX_OPTIONS];
    int nopts = build_options(source, arch, 1, arch_opt, inc_opt, opts);
    mlcc_sha256 h;
    sha256_init(&h);
    char head[128];
    snprintf(head, sizeof head, "mlcc-cuda-1 nvrtc %d.%d", api->major, api->minor);
    sha256_update(&h, head, strlen(head) + 1);
    for (int i = 0; i < nopts; i++) sha256_update(&h, opts[i], strlen(opts[i]) + 1);
    sha256_update(&h, source, strlen(source));
    unsigned char digest[32];
    sha256_final(&h, digest);
    char name[80];
    for (int i = 0; i < 32; i++) snprintf(name + 2 * i, 3, "%02x", digest[i]);
    snprintf(name + 64, sizeof name - 64, ".cubin");
    char *home = mlcc_home_dir();
    char *dir = mlcc_path_join(home, "cache/cuda");
    char *path = mlcc_path_join(dir, name);
    free(home);
    free(dir);
    return path;
}

/* MLCC_CUDA_KEEP_SOURCE=1: the source beside its cubin (<key>.cu), to read what a model's
 * kernels became (the generated ones are otherwise seen only as cubins) */
static void keep_source(const char *cubin_path, const char *source) {
    const char *keep = getenv("MLCC_CUDA_KEEP_SOURCE");
    if (!keep || strcmp(keep, "1")) return;
    size_t n = strlen(cubin_path);
    char *cu = mlcc_xmalloc(n + 1);
    memcpy(cu, cubin_path, n - strlen("cubin"));
    strcpy(cu + n - strlen("cubin"), "cu");
    if (mlcc_write_file_atomic(cu, source, strlen(source)) != 0) LOG_WARN("cuda cache: cannot write %s: %s", cu, mlcc_last_error());
    free(cu);
}

int mlcc_nvrtc_compile(const char *source, int arch, char **out, size_t *out_len) {
    if (!mlcc_nvrtc_api_get()) return -1;
    cache_policy policy = read_policy();
    if (policy == POLICY_OFF) return nvrtc_run(source, arch, 1, out, out_len);
    char *path = cache_path(source, arch);
    if (policy != POLICY_REDO && mlcc_file_exists(path)) {
        *out = mlcc_read_file(path, out_len);
        if (*out) {
            count(&stats.cache_hits);
            free(path);
            return 0;
        }
        LOG_WARN("cuda cache: %s unreadable (%s); compiling again", path, mlcc_last_error());
    }
    int rc = nvrtc_run(source, arch, 1, out, out_len);
    if (rc == 0 && policy != POLICY_READONLY) {
        char *dir = mlcc_xstrdup(path);
        *strrchr(dir, '/') = '\0';
        if (mlcc_mkdirs(dir) != 0 || mlcc_write_file_atomic(path, *out, *out_len) != 0)
            LOG_WARN("cuda cache: cannot write %s: %s", path, mlcc_last_error());
        free(dir);
        keep_source(path, source);
    }
    free(path);
    return rc;
}

/* ---- modules ---- */

_Static_assert(sizeof(CUlaunchAttribute) == 72, "CUlaunchAttribute has cuda.h's layout");
_Static_assert(offsetof(CUlaunchConfig, stream) == 32 && offsetof(CUlaunchConfig, attrs) == 40 &&
                   sizeof(CUlaunchConfig) == 56,
               "CUlaunchConfig has cuda.h's layout");

/* The handle mlcc_cuda_module_kernel gives out: the function and whether its source declares
 * that it waits (cuda_pdl.h), so the launch knows whether it may start early. */
typedef struct kernel_handle {
    CUfunction function;
    int pdl;
    int skipped; /* named by MLCC_CUDA_SKIP_KERNELS: launches do nothing (ablation) */
    char *name;
    struct kernel_handle *next;
} kernel_handle;

struct mlcc_cuda_module {
    int device_id;
    CUmodule module;
    char **pdl_prefixes; /* from the source's "// mlcc-pdl:" lines; NULL-terminated */
    pthread_mutex_t lock;
    kernel_handle *kernels;
};

/* The name prefixes of the source's "// mlcc-pdl: a b" lines (NULL-terminated array). */
static char **read_pdl_prefixes(const char *source) {
    MLCC_VEC(char *) out = {0};
    size_t mark = strlen(MLCC_PDL_DECLARATION);
    for (const char *p = strstr(source, MLCC_PDL_DECLARATION); p; p = strstr(p, MLCC_PDL_DECLARATION)) {
        p += mark;
        while (*p && *p != '\n') {
            while (*p == ' ' || *p == '\t') p++;
            const char *start = p;
            while (*p && *p != '\n' && *p != ' ' && *p != '\t') p++;
            if (p > start) vec_push(&out, mlcc_xstrndup(start, (size_t)(p - start)));
        }
    }
    vec_push(&out, NULL);
    return out.data;
}

static int declared_pdl(char **prefixes, const char *name) {
    for (int i = 0; prefixes[i]; i++)
        if (strcmp(prefixes[i], "*") == 0 || strncmp(name, prefixes[i], strlen(prefixes[i])) == 0) return 1;
    return 0;
}

static int env_is(const char *name, const char *value) {
    const char *v = getenv(name);
    return v && strcmp(v, value) == 0;
}

/* source behind the defines of the kernels' switches (cuda_pdl.h, cuda_gemv_block.h), read from
 * the environment when a module is loaded: the weight prefetch before the wait is compiled in
 * only with MLCC_CUDA_PDL_PREFETCH=1 (measured slower on the H100: 138.7 against 162.1 tok/s in session
 * 8, 168.5 against 176.1 in session 13); the GEMVs' weight loads leave L2 first unless
 * MLCC_CUDA_WEIGHT_EVICT_FIRST=0 (session 13, 32 layers at batch 1: float16 176.1 against 173.8
 * tok/s, q4f16_1 373.2 / 364.7 against 361.5 / 354.4); the block GEMVs (cuda_linear.c, the int8
 * one of cuda_linear_q4.c) load their first weights before the wait unless
 * MLCC_CUDA_EARLY_WEIGHTS=0 (session 16, BENCHMARKS.md); every kernel lets the next one be
 * scheduled before its own wait unless MLCC_CUDA_PDL_EARLY_TRIGGER=0 (cuda_pdl.h; session 34,
 * 4-bit batch 1 on the H200: 558-568 against 527-540 tok/s). */
static char *source_with_switches(const char *source) {
    mlcc_strbuf sb = STRBUF_INIT;
    if (!env_is("MLCC_CUDA_PDL_PREFETCH", "1")) sb_append(&sb, "#define MLCC_PDL_NO_PREFETCH\n");
    if (!env_is("MLCC_CUDA_WEIGHT_EVICT_FIRST", "0")) sb_append(&sb, "#define MLCC_WEIGHT_EVICT_FIRST\n");
    if (!env_is("MLCC_CUDA_EARLY_WEIGHTS", "0")) sb_append(&sb, "#define MLCC_EARLY_WEIGHTS\n");
    if (!env_is("MLCC_CUDA_PDL_EARLY_TRIGGER", "0")) sb_append(&sb, "#define MLCC_PDL_EARLY_TRIGGER\n");
    sb_append(&sb, source);
    return sb_detach(&sb);
}

mlcc_cuda_module *mlcc_cuda_module_load_source(int device_id, const char *source) {
    int arch = mlcc_cuda_device_arch(device_id);
    if (arch < 0) return NULL;
    char *cubin = NULL;
    size_t len = 0;
    char *edited = source_with_switches(source);
    int rc = mlcc_nvrtc_compile(edited, arch, &cubin, &len);
    free(edited);
    if (rc != 0) return NULL;
    const mlcc_cuda_driver *cu = mlcc_cuda_driver_api();
    if (mlcc_cuda_enter(device_id, NULL) != 0) {
        free(cubin);
        return NULL;
    }
    CUmodule mod = NULL;
    CUresult r = cu->cuModuleLoadData(&mod, cubin);
    free(cubin);
    if (r != 0) {
        mlcc_cuda_fail("cuModuleLoadData", r);
        return NULL;
    }
    mlcc_cuda_module *m = mlcc_xcalloc(1, sizeof *m);
    m->device_id = device_id;
    m->module = mod;
    m->pdl_prefixes = read_pdl_prefixes(source);
    pthread_mutex_init(&m->lock, NULL);
    return m;
}

void mlcc_cuda_module_free(mlcc_cuda_module *m) {
    if (!m) return;
    if (mlcc_cuda_enter(m->device_id, NULL) == 0) mlcc_cuda_driver_api()->cuModuleUnload(m->module);
    for (kernel_handle *k = m->kernels, *next; k; k = next) {
        next = k->next;
        free(k->name);
        free(k);
    }
    for (int i = 0; m->pdl_prefixes[i]; i++) free(m->pdl_prefixes[i]);
    free(m->pdl_prefixes);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* MLCC_CUDA_SKIP_KERNELS=prefix[,prefix...]: kernels whose names start with one of them are never
 * launched. A measuring aid, not a mode to run: the results are wrong, but the step time without a
 * kernel is its marginal cost inside the real pipeline (overlaps, PDL, graph replay), which
 * isolated kernel times under Nsight Compute do not give (BENCHMARKS.md, session 28). */
static int skipped_by_env(const char *name) {
    const char *v = getenv("MLCC_CUDA_SKIP_KERNELS");
    while (v && *v) {
        size_t n = strcspn(v, ",");
        if (n > 0 && strncmp(name, v, n) == 0) return 1;
        v += n + (v[n] == ',');
    }
    return 0;
}

void *mlcc_cuda_module_kernel(mlcc_cuda_module *m, const char *name) {
    pthread_mutex_lock(&m->lock);
    kernel_handle *k = m->kernels;
    while (k && strcmp(k->name, name) != 0) k = k->next;
    if (k) {
        pthread_mutex_unlock(&m->lock);
        return k;
    }
    CUfunction f = NULL;
    CUresult r = 0;
    if (mlcc_cuda_enter(m->device_id, NULL) != 0 ||
        (r = mlcc_cuda_driver_api()->cuModuleGetFunction(&f, m->module, name)) != 0) {
        pthread_mutex_unlock(&m->lock);
        if (r != 0) mlcc_cuda_fail("cuModuleGetFunction", r);
        mlcc_prefix_error("kernel '%s'", name);
        return NULL;
    }
    k = mlcc_xcalloc(1, sizeof *k);
    k->function = f;
    k->pdl = declared_pdl(m->pdl_prefixes, name);
    k->skipped = skipped_by_env(name);
    if (k->skipped) LOG_WARN("MLCC_CUDA_SKIP_KERNELS: kernel '%s' will not run (results are wrong)", name);
    k->name = mlcc_xstrdup(name);
    k->next = m->kernels;
    m->kernels = k;
    pthread_mutex_unlock(&m->lock);
    return k;
}

int mlcc_cuda_source_declares_wait(const char *source, const char *kernel) {
    char **prefixes = read_pdl_prefixes(source);
    int yes = declared_pdl(prefixes, kernel);
    for (int i = 0; prefixes[i]; i++) free(prefixes[i]);
    free(prefixes);
    return yes;
}

int mlcc_cuda_kernel_waits(const void *kernel) {
    return kernel ? ((const kernel_handle *)kernel)->pdl : 0;
}

static pthread_mutex_t once_lock = PTHREAD_MUTEX_INITIALIZER;

void *mlcc_cuda_kernel_once_get(mlcc_cuda_kernel_once *k, int device_id) {
    if (device_id < 0 || device_id >= MLCC_CUDA_ONCE_DEVICES) {
        mlcc_set_error("kernel '%s': device %d out of range", k->name, device_id);
        return NULL;
    }
    pthread_mutex_lock(&once_lock);
    if (!k->kernel[device_id]) { /* a failed load is tried again at the next call */
        if (!k->module[device_id]) k->module[device_id] = mlcc_cuda_module_load_source(device_id, k->source);
        if (k->module[device_id]) k->kernel[device_id] = mlcc_cuda_module_kernel(k->module[device_id], k->name);
    }
    void *f = k->kernel[device_id];
    pthread_mutex_unlock(&once_lock);
    return f;
}

enum { DEFAULT_SHARED_LIMIT = 48 * 1024 };

static _Thread_local unsigned long long stream_work; /* mlcc_cuda_stream_work */

unsigned long long mlcc_cuda_stream_work(void) {
    return stream_work;
}

void mlcc_cuda_note_stream_work(void) {
    stream_work++;
}

/* > 0 while this thread's launches must wait for the whole previous kernel (mlcc_cuda_pdl_hold) */
static _Thread_local int pdl_held;

void mlcc_cuda_pdl_hold(int on) {
    pdl_held += on ? 1 : -1;
}

/* Whether launches on device_id may carry the PDL attribute: sm_90 or newer, a driver with
 * cuLaunchKernelEx, MLCC_CUDA_PDL not 0 (read per call: tests switch it) and no hold. */
static int pdl_allowed(int device_id, const mlcc_cuda_driver *cu) {
    if (pdl_held > 0 || !cu->cuLaunchKernelEx || mlcc_cuda_device_arch(device_id) < 90) return 0;
    const char *v = getenv("MLCC_CUDA_PDL");
    return !(v && strcmp(v, "0") == 0);
}

int mlcc_cuda_clusters_supported(int device_id) {
    return mlcc_cuda_driver_api()->cuLaunchKernelEx && mlcc_cuda_device_arch(device_id) >= 90;
}

int mlcc_cuda_launch(int device_id, void *kernel, const uint32_t grid[3], const uint32_t block[3],
                     uint32_t shared_bytes, void **args) {
    return mlcc_cuda_launch_cluster(device_id, kernel, grid, block, shared_bytes, args, 1);
}

int mlcc_cuda_launch_cluster(int device_id, void *kernel, const uint32_t grid[3], const uint32_t block[3],
                             uint32_t shared_bytes, void **args, uint32_t cluster_x) {
    void *stream = NULL;
    if (mlcc_cuda_enter(device_id, &stream) != 0) return -1;
    const mlcc_cuda_driver *cu = mlcc_cuda_driver_api();
    const kernel_handle *k = kernel;
    stream_work++;
    if (k->skipped) return 0;
    for (int i = 0; i < 3; i++)
        if (grid[i] == 0 || block[i] == 0) return 0; /* an empty launch does nothing */
    if (cluster_x > 1 && (!mlcc_cuda_clusters_supported(device_id) || cluster_x > 16 || grid[0] % cluster_x))
        return mlcc_set_error("cuda launch: clusters of %u blocks over a grid of %u (sm_90+, at most 16, a divisor)",
                              cluster_x, grid[0]);
    if (shared_bytes > DEFAULT_SHARED_LIMIT) {
        CUresult r = cu->cuFuncSetAttribute(k->function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                            (int)shared_bytes);
        if (r != 0) return mlcc_cuda_fail("cuFuncSetAttribute", r);
    }
    if (cluster_x > 8) {
        CUresult r = cu->cuFuncSetAttribute(k->function, CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED, 1);
        if (r != 0) return mlcc_cuda_fail("cuFuncSetAttribute (non-portable cluster size)", r);
    }
    CUresult r;
    const char *what = "cuLaunchKernel";
    int pdl = k->pdl && pdl_allowed(device_id, cu);
    if (pdl || cluster_x > 1) {
        CUlaunchAttribute attrs[2];
        unsigned n = 0;
        memset(attrs, 0, sizeof attrs);
        if (pdl) {
            attrs[n].id = CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION;
            attrs[n++].val.value = 1;
            count(&stats.pdl_launches);
        }
        if (cluster_x > 1) {
            attrs[n].id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
            attrs[n].val.cluster_dim.x = cluster_x, attrs[n].val.cluster_dim.y = 1, attrs[n++].val.cluster_dim.z = 1;
        }
        CUlaunchConfig config = {grid[0], grid[1], grid[2], block[0], block[1], block[2], shared_bytes, stream, attrs, n};
        r = cu->cuLaunchKernelEx(&config, k->function, args, NULL);
        what = "cuLaunchKernelEx";
    } else {
        r = cu->cuLaunchKernel(k->function, grid[0], grid[1], grid[2], block[0], block[1], block[2], shared_bytes,
                               stream, args, NULL);
    }
    count(&stats.launches);
    if (r != 0) {
        mlcc_cuda_fail(what, r);
        return mlcc_prefix_error("grid (%u, %u, %u), block (%u, %u, %u), cluster %u", grid[0], grid[1], grid[2],
                                 block[0], block[1], block[2], cluster_x);
    }
    return 0;
}

/* ---- hooks for generated libraries ----
 * Kernels are found by (source hash, device, name). Loaded modules and kernel entries live
 * for the process: a library's slot points at an entry, and a library loaded again (or another
 * one with the same kernels) finds the module already there. */

typedef struct loaded_module {
    char hash[65];
    int device_id;
    mlcc_cuda_module *module;
    struct loaded_module *next;
} loaded_module;

typedef struct kernel_entry {
    int device_id;
    void *function;
    struct kernel_entry *next; /* all entries, for reachability */
} kernel_entry;

static pthread_mutex_t hooks_lock = PTHREAD_MUTEX_INITIALIZER;
static loaded_module *modules;
static kernel_entry *entries;

static kernel_entry *find_kernel(int device_id, const char *source, const char *kernel) {
    char hash[65];
    sha256_hex(source, strlen(source), hash);
    pthread_mutex_lock(&hooks_lock);
    loaded_module *lm = modules;
    while (lm && !(lm->device_id == device_id && strcmp(lm->hash, hash) == 0)) lm = lm->next;
    if (!lm) {
        mlcc_cuda_module *m = mlcc_cuda_module_load_source(device_id, source);
        if (!m) {
            pthread_mutex_unlock(&hooks_lock);
            return NULL;
        }
        lm = mlcc_xcalloc(1, sizeof *lm);
        memcpy(lm->hash, hash, sizeof hash);
        lm->device_id = device_id;
        lm->module = m;
        lm->next = modules;
        modules = lm;
    }
    void *fn = mlcc_cuda_module_kernel(lm->module, kernel);
    kernel_entry *e = NULL;
    if (fn) {
        e = mlcc_xcalloc(1, sizeof *e);
        e->device_id = device_id;
        e->function = fn;
        e->next = entries;
        entries = e;
    }
    pthread_mutex_unlock(&hooks_lock);
    return e;
}

static int hook_launch(void **slot, int device_id, const char *source, const char *kernel,
                       const uint32_t grid[3], const uint32_t block[3], uint32_t shared_bytes,
                       void **args) {
    kernel_entry *e = __atomic_load_n((kernel_entry **)slot, __ATOMIC_ACQUIRE);
    if (!e || e->device_id != device_id) {
        e = find_kernel(device_id, source, kernel);
        if (!e) return -1;
        __atomic_store_n((kernel_entry **)slot, e, __ATOMIC_RELEASE);
    }
    if (!mlcc_cuda_profiling()) return mlcc_cuda_launch(device_id, e->function, grid, block, shared_bytes, args);
    double t0 = mlcc_cuda_profile_begin(device_id);
    int rc = mlcc_cuda_launch(device_id, e->function, grid, block, shared_bytes, args);
    mlcc_cuda_profile_end(device_id, kernel, t0);
    return rc;
}

static void *hook_alloc(int device_id, size_t nbytes) {
    const MLCCDeviceAPI *api = mlcc_device_api((DLDevice){kDLCUDA, device_id});
    return api ? api->alloc((DLDevice){kDLCUDA, device_id}, nbytes, MLCC_ALLOC_ALIGNMENT) : NULL;
}

static void hook_free(int device_id, void *ptr) {
    const MLCCDeviceAPI *api = mlcc_device_api((DLDevice){kDLCUDA, device_id});
    if (api) api->free((DLDevice){kDLCUDA, device_id}, ptr);
}

static const mlcc_cuda_library_hooks hooks = {hook_launch, hook_alloc, hook_free};

const mlcc_cuda_library_hooks *mlcc_cuda_hooks(void) {
    return &hooks;
}
