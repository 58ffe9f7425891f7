/* cuda_device.c - CUDA devices for NDArrays: driver start-up, primary contexts, streams, the
 * caching allocator and copies, installed as the "cuda" table of the device registry.
 *
 * The caching allocator keeps freed blocks in per-size free lists (sizes rounded up to 512
 * bytes, and to 2 MiB above 1 MiB) and hands them out again, because cuMemAlloc/cuMemFree
 * synchronise the device and cost tens of microseconds: a decode step allocates and frees the
 * same sizes every time. When the driver reports out-of-memory, the cache is returned to it and
 * the allocation retried once.
 *
 * Small host-to-device copies (a decode step's token ids and KV-cache step arrays, sampling
 * parameters) go through pinned staging: the bytes are copied into one of a ring of pinned
 * host slots, the transfer is queued from there and the call returns without waiting for it,
 * so the caller may still reuse its buffer at once and the step's launches follow the copy
 * in the stream without a host round trip each. A slot is reused only after the copy queued
 * from it has run (an event per slot). Not while the stream is being captured (a graph would
 * keep reading the slot), without the driver's pinned-memory calls, or with
 * MLCC_CUDA_STAGING=0: then the copy is queued from the caller's memory and waited for.
 * Measured (session 33, H200, Llama-3-8B q4f16_1, batch 1, CUDA graphs): 545.9-555.1 tok/s
 * against 551.1-552.3 with the waits, no difference there (the step's two uploads were not on
 * its critical path); what it buys is a host thread that is not held up by each upload. */
#include "runtime/cuda.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/cuda_api.h"
#include "runtime/device.h"
#include "support/alloc.h"
#include "support/error.h"
#include "support/hashmap.h"
#include "support/log.h"

enum { MAX_DEVICES = 16 };

typedef struct free_block {
    CUdeviceptr ptr;
    struct free_block *next;
} free_block;

/* The blocks a captured CUDA graph uses (see mlcc_cuda_pool_begin): every block allocated
 * while it captures is owned by it until it is destroyed, because the graph reads and writes
 * them on every replay. Blocks freed while it captures are reused by the same capture (the
 * captured stream orders them), never handed to anyone else. */
struct mlcc_cuda_pool {
    int device_id;
    mlcc_u64map owned;   /* ptr -> rounded size */
    mlcc_u64map free_by; /* rounded size -> free_block list (owned blocks not in use) */
};

typedef struct cuda_device {
    CUdevice dev;
    CUcontext ctx; /* primary context, retained on first use */
    int arch;      /* 90 for sm_90 */
    int sms;       /* multiprocessors */
    int shared_optin; /* the most dynamic shared memory a block may opt in to, bytes */
    char name[128];
    size_t total_mem;
    CUstream stream; /* current stream (NULL = legacy default stream) */
    pthread_mutex_t lock;
    mlcc_u64map live;  /* ptr -> rounded size */
    mlcc_u64map cache; /* rounded size -> free_block list */
    mlcc_u64map pool_of; /* ptr -> mlcc_cuda_pool * for blocks a graph owns */
    mlcc_cuda_pool *capturing; /* the pool of the capture under way, or NULL */
    mlcc_cuda_mem_stats stats;
    struct staging_slot {
        void *host;   /* STAGING_SLOT_BYTES of pinned memory, allocated at first use */
        CUevent done; /* recorded after the last copy queued from host */
        int queued;   /* whether done has been recorded */
    } staging[8];
    int staging_next;   /* the slot the next staged copy takes */
    int staging_broken; /* pinned memory or an event could not be had: copies wait instead */
} cuda_device;

enum { STAGING_SLOT_BYTES = 64 * 1024 };

static const mlcc_cuda_driver *cu;
static int device_count;
static cuda_device devices[MAX_DEVICES];
static char status_line[2048];

static int check_device(int id) {
    if (!cu) {
        if (mlcc_cuda_available()) return 0;
        return mlcc_set_error("%s", status_line);
    }
    if (id < 0 || id >= device_count)
        return mlcc_set_error("cuda:%d does not exist (%d CUDA device%s)", id, device_count,
                              device_count == 1 ? "" : "s");
    return 0;
}

/* Makes the device's primary context current on this thread (retaining it the first time). */
static int use_device(int id) {
    if (check_device(id) != 0) return -1;
    cuda_device *d = &devices[id];
    if (!__atomic_load_n(&d->ctx, __ATOMIC_ACQUIRE)) {
        pthread_mutex_lock(&d->lock);
        CUresult r = 0;
        if (!d->ctx) {
            CUcontext ctx = NULL;
            r = cu->cuDevicePrimaryCtxRetain(&ctx, d->dev);
            if (r == 0) __atomic_store_n(&d->ctx, ctx, __ATOMIC_RELEASE);
        }
        pthread_mutex_unlock(&d->lock);
        if (r != 0) return mlcc_cuda_fail("cuDevicePrimaryCtxRetain", r);
    }
    CUresult r = cu->cuCtxSetCurrent(d->ctx);
    return r == 0 ? 0 : mlcc_cuda_fail("cuCtxSetCurrent", r);
}

/* ---- the caching allocator ---- */

static size_t round_size(size_t n) {
    if (n == 0) n = 1;
    size_t unit = n <= ((size_t)1 << 20) ? 512 : ((size_t)2 << 20);
    return (n + unit - 1) / unit * unit;
}

static void release_cache_locked(cuda_device *d) {
    for (size_t i = 0; i < d->cache.cap; i++) {
        if (!d->cache.slots[i].used) continue;
        for (free_block *b = d->cache.slots[i].value.p, *next; b; b = next) {
            next = b->next;
            cu->cuMemFree(b->ptr);
            free(b);
        }
        d->cache.slots[i].value.p = NULL;
    }
    u64map_free(&d->cache);
    u64map_init(&d->cache);
    d->stats.cached = 0;
}

/* Pops a block of `size` from a size -> free_block list map (0 when none). */
static CUdeviceptr pop_block(mlcc_u64map *lists, size_t size) {
    mlcc_u64map_entry *e = u64map_find(lists, size);
    if (!e || !e->value.p) return 0;
    free_block *b = e->value.p;
    e->value.p = b->next;
    CUdeviceptr ptr = b->ptr;
    free(b);
    return ptr;
}

static void push_block(mlcc_u64map *lists, size_t size, CUdeviceptr ptr) {
    free_block *b = mlcc_xmalloc(sizeof *b);
    b->ptr = ptr;
    mlcc_u64map_entry *slot = u64map_upsert(lists, size, NULL);
    b->next = slot->value.p;
    slot->value.p = b;
}

static void *cuda_alloc(DLDevice dev, size_t nbytes, size_t alignment) {
    (void)alignment; /* cuMemAlloc aligns to at least 256 bytes */
    if (use_device(dev.device_id) != 0) return NULL;
    cuda_device *d = &devices[dev.device_id];
    size_t size = round_size(nbytes);
    CUdeviceptr ptr = 0;
    pthread_mutex_lock(&d->lock);
    mlcc_cuda_pool *pool = d->capturing;
    mlcc_u64map_entry *e = u64map_find(&d->cache, size);
    if (pool && (ptr = pop_block(&pool->free_by, size)) != 0) {
        d->stats.reuses++; /* a block this capture freed: it stays the graph's */
    } else if (e && e->value.p) {
        free_block *b = e->value.p;
        e->value.p = b->next;
        ptr = b->ptr;
        free(b);
        d->stats.cached -= size;
        d->stats.reuses++;
    } else {
        CUresult r = cu->cuMemAlloc(&ptr, size);
        if (r == CUDA_ERROR_OUT_OF_MEMORY) {
            release_cache_locked(d);
            r = cu->cuMemAlloc(&ptr, size);
        }
        if (r != 0) {
            pthread_mutex_unlock(&d->lock);
            mlcc_cuda_fail("cuMemAlloc", r);
            mlcc_prefix_error("cuda:%d: allocating %zu bytes", dev.device_id, nbytes);
            return NULL;
        }
        d->stats.device_allocs++;
    }
    if (pool) {
        u64map_upsert(&pool->owned, ptr, NULL)->value.i = (int64_t)size;
        u64map_upsert(&d->pool_of, ptr, NULL)->value.p = pool;
    }
    u64map_upsert(&d->live, ptr, NULL)->value.i = (int64_t)size;
    d->stats.in_use += size;
    pthread_mutex_unlock(&d->lock);
    return (void *)(uintptr_t)ptr;
}

static void cuda_free(DLDevice dev, void *p) {
    if (!p || dev.device_id < 0 || dev.device_id >= device_count) return;
    cuda_device *d = &devices[dev.device_id];
    CUdeviceptr ptr = (CUdeviceptr)(uintptr_t)p;
    pthread_mutex_lock(&d->lock);
    mlcc_u64map_entry *e = u64map_find(&d->live, ptr);
    if (!e) {
        pthread_mutex_unlock(&d->lock);
        fprintf(stderr, "mlcc: cuda:%d: freeing %p, which the allocator did not hand out\n",
                dev.device_id, p);
        return;
    }
    size_t size = (size_t)e->value.i;
    u64map_remove(&d->live, ptr);
    d->stats.in_use -= size;
    mlcc_u64map_entry *owner = d->pool_of.cap ? u64map_find(&d->pool_of, ptr) : NULL;
    if (owner) { /* a graph's block: back to its graph, never to the shared cache */
        push_block(&((mlcc_cuda_pool *)owner->value.p)->free_by, size, ptr);
    } else {
        push_block(&d->cache, size, ptr);
        d->stats.cached += size;
    }
    pthread_mutex_unlock(&d->lock);
}

/* ---- graph pools ---- */

mlcc_cuda_pool *mlcc_cuda_pool_begin(int device_id) {
    if (use_device(device_id) != 0) return NULL;
    cuda_device *d = &devices[device_id];
    mlcc_cuda_pool *pool = mlcc_xcalloc(1, sizeof *pool);
    pool->device_id = device_id;
    u64map_init(&pool->owned);
    u64map_init(&pool->free_by);
    pthread_mutex_lock(&d->lock);
    if (d->capturing) {
        pthread_mutex_unlock(&d->lock);
        free(pool);
        mlcc_set_error("cuda:%d: a graph capture is already under way", device_id);
        return NULL;
    }
    d->capturing = pool;
    pthread_mutex_unlock(&d->lock);
    return pool;
}

void mlcc_cuda_pool_end(mlcc_cuda_pool *pool) {
    if (!pool) return;
    cuda_device *d = &devices[pool->device_id];
    pthread_mutex_lock(&d->lock);
    if (d->capturing == pool) d->capturing = NULL;
    pthread_mutex_unlock(&d->lock);
}

int mlcc_cuda_capturing(int device_id) {
    if (device_id < 0 || device_id >= device_count) return 0;
    cuda_device *d = &devices[device_id];
    pthread_mutex_lock(&d->lock);
    int on = d->capturing != NULL;
    pthread_mutex_unlock(&d->lock);
    return on;
}

void mlcc_cuda_pool_free(mlcc_cuda_pool *pool) {
    if (!pool) return;
    cuda_device *d = &devices[pool->device_id];
    pthread_mutex_lock(&d->lock);
    if (d->capturing == pool) d->capturing = NULL;
    /* free blocks go to the shared cache; blocks still in use (a workspace a library keeps)
     * become ordinary ones, cached when their holder frees them */
    for (size_t i = 0; i < pool->free_by.cap; i++) {
        if (!pool->free_by.slots[i].used) continue;
        size_t size = (size_t)pool->free_by.slots[i].key;
        for (free_block *b = pool->free_by.slots[i].value.p, *next; b; b = next) {
            next = b->next;
            push_block(&d->cache, size, b->ptr);
            d->stats.cached += size;
            free(b);
        }
    }
    for (size_t i = 0; i < pool->owned.cap; i++)
        if (pool->owned.slots[i].used) u64map_remove(&d->pool_of, pool->owned.slots[i].key);
    pthread_mutex_unlock(&d->lock);
    u64map_free(&pool->owned);
    u64map_free(&pool->free_by);
    free(pool);
}

/* The stream a captured graph needs (capture is not possible on the legacy default stream):
 * one per device, created on first use and made current; everything after runs on it. */
int mlcc_cuda_use_own_stream(int device_id) {
    if (use_device(device_id) != 0) return -1;
    cuda_device *d = &devices[device_id];
    if (d->stream) return 0;
    CUstream s = NULL;
    CUresult r = cu->cuStreamCreate(&s, 0);
    if (r != 0) return mlcc_cuda_fail("cuStreamCreate", r);
    d->stream = s;
    return 0;
}

mlcc_cuda_mem_stats mlcc_cuda_memory_stats(int device_id) {
    mlcc_cuda_mem_stats s = {0};
    if (device_id < 0 || device_id >= device_count) return s;
    pthread_mutex_lock(&devices[device_id].lock);
    s = devices[device_id].stats;
    pthread_mutex_unlock(&devices[device_id].lock);
    return s;
}

void mlcc_cuda_empty_cache(int device_id) {
    if (use_device(device_id) != 0) return;
    cuda_device *d = &devices[device_id];
    pthread_mutex_lock(&d->lock);
    release_cache_locked(d);
    pthread_mutex_unlock(&d->lock);
}

/* ---- copies and synchronisation ---- */

/* ---- pinned staging for small uploads (see the top of the file) ---- */

static int staging_enabled(void) {
    static int on = -1;
    if (on < 0) {
        const char *v = getenv("MLCC_CUDA_STAGING");
        on = !(v && strcmp(v, "0") == 0) && cu->cuMemAllocHost && cu->cuMemFreeHost;
    }
    return on;
}

/* Queues the upload of src [nbytes <= STAGING_SLOT_BYTES] to dst through the next staging slot.
 * 1: queued; 0: staging is not available here (the caller copies the ordinary way); -1: a
 * driver error. Runs with the device's context current. */
static int staged_upload(cuda_device *d, CUdeviceptr dst, const void *src, size_t nbytes, CUstream s) {
    if (nbytes > STAGING_SLOT_BYTES || !staging_enabled()) return 0;
    pthread_mutex_lock(&d->lock);
    if (d->staging_broken || d->capturing) {
        pthread_mutex_unlock(&d->lock);
        return 0;
    }
    struct staging_slot *slot = &d->staging[d->staging_next];
    CUresult r = 0;
    const char *what = NULL;
    if (!slot->host) {
        if ((r = cu->cuMemAllocHost(&slot->host, STAGING_SLOT_BYTES)) != 0) what = "cuMemAllocHost", slot->host = NULL;
        else if ((r = cu->cuEventCreate(&slot->done, CU_EVENT_DISABLE_TIMING)) != 0) {
            what = "cuEventCreate";
            cu->cuMemFreeHost(slot->host);
            slot->host = NULL;
        }
        if (what) { /* no pinned memory to be had (a locked-memory limit): stop trying */
            d->staging_broken = 1;
            pthread_mutex_unlock(&d->lock);
            LOG_INFO("cuda: %s failed (%d); small uploads wait for their copies", what, (int)r);
            return 0;
        }
    }
    if (slot->queued) {
        d->stats.slot_reuses++;
        if ((r = cu->cuEventSynchronize(slot->done)) != 0) what = "cuEventSynchronize";
    }
    if (!what) {
        memcpy(slot->host, src, nbytes);
        if ((r = cu->cuMemcpyHtoDAsync(dst, slot->host, nbytes, s)) != 0) what = "cuMemcpyHtoDAsync";
        else if ((r = cu->cuEventRecord(slot->done, s)) != 0) what = "cuEventRecord";
    }
    if (!what) {
        slot->queued = 1;
        d->staging_next = (d->staging_next + 1) % (int)(sizeof d->staging / sizeof d->staging[0]);
        d->stats.staged_uploads++;
    }
    pthread_mutex_unlock(&d->lock);
    return what ? mlcc_cuda_fail(what, r) : 1;
}

static int cuda_copy(const void *src, DLDevice src_dev, void *dst, DLDevice dst_dev, size_t nbytes,
                     void *stream) {
    if (nbytes == 0) return 0;
    int on_src = src_dev.device_type == kDLCUDA;
    int id = on_src ? src_dev.device_id : dst_dev.device_id;
    if (use_device(id) != 0) return -1;
    mlcc_cuda_note_stream_work();
    CUstream s = stream ? stream : devices[id].stream;
    CUresult r;
    const char *what;
    if (on_src && dst_dev.device_type == kDLCUDA) {
        what = "cuMemcpyDtoD";
        r = cu->cuMemcpyDtoDAsync((CUdeviceptr)(uintptr_t)dst, (CUdeviceptr)(uintptr_t)src, nbytes, s);
    } else if (on_src) {
        /* the caller reads the host buffer as soon as we return */
        what = "cuMemcpyDtoH";
        r = cu->cuMemcpyDtoHAsync(dst, (CUdeviceptr)(uintptr_t)src, nbytes, s);
        if (r == 0) r = cu->cuStreamSynchronize(s);
        if (r == 0 && mlcc_cuda_profiling()) mlcc_cuda_profile_window();
    } else {
        /* the caller may free or reuse the host buffer as soon as we return: a small upload is
         * copied into pinned staging first, a large one is waited for */
        int staged = staged_upload(&devices[id], (CUdeviceptr)(uintptr_t)dst, src, nbytes, s);
        if (staged != 0) return staged > 0 ? 0 : -1;
        what = "cuMemcpyHtoD";
        r = cu->cuMemcpyHtoDAsync((CUdeviceptr)(uintptr_t)dst, src, nbytes, s);
        if (r == 0) r = cu->cuStreamSynchronize(s);
    }
    return r == 0 ? 0 : mlcc_cuda_fail(what, r);
}

static int cuda_sync(DLDevice dev, void *stream) {
    if (use_device(dev.device_id) != 0) return -1;
    CUstream s = stream ? stream : devices[dev.device_id].stream;
    CUresult r = cu->cuStreamSynchronize(s);
    return r == 0 ? 0 : mlcc_cuda_fail("cuStreamSynchronize", r);
}

static const MLCCDeviceAPI cuda_api = {"cuda", cuda_alloc, cuda_free, cuda_copy, cuda_sync};

int mlcc_cuda_synchronize(int device_id) {
    if (use_device(device_id) != 0) return -1;
    CUresult r = cu->cuCtxSynchronize();
    return r == 0 ? 0 : mlcc_cuda_fail("cuCtxSynchronize", r);
}

int mlcc_cuda_memset(int device_id, void *ptr, int value, size_t nbytes) {
    if (use_device(device_id) != 0) return -1;
    mlcc_cuda_note_stream_work();
    CUresult r = cu->cuMemsetD8Async((CUdeviceptr)(uintptr_t)ptr, (unsigned char)value, nbytes,
                                     devices[device_id].stream);
    return r == 0 ? 0 : mlcc_cuda_fail("cuMemsetD8", r);
}

int mlcc_cuda_memory_info(int device_id, size_t *free_bytes, size_t *total_bytes) {
    if (use_device(device_id) != 0) return -1;
    CUresult r = cu->cuMemGetInfo(free_bytes, total_bytes);
    return r == 0 ? 0 : mlcc_cuda_fail("cuMemGetInfo", r);
}

/* ---- streams ---- */

void *mlcc_cuda_stream_create(int device_id) {
    if (use_device(device_id) != 0) return NULL;
    CUstream s = NULL;
    CUresult r = cu->cuStreamCreate(&s, 0);
    if (r != 0) {
        mlcc_cuda_fail("cuStreamCreate", r);
        return NULL;
    }
    return s;
}

void mlcc_cuda_stream_destroy(int device_id, void *stream) {
    if (stream && use_device(device_id) == 0) cu->cuStreamDestroy(stream);
}

int mlcc_cuda_set_stream(int device_id, void *stream) {
    if (check_device(device_id) != 0) return -1;
    devices[device_id].stream = stream;
    return 0;
}

void *mlcc_cuda_get_stream(int device_id) {
    return check_device(device_id) == 0 ? devices[device_id].stream : NULL;
}

/* ---- start-up ---- */

static void describe_nvrtc(char *out, size_t cap) {
    mlcc_nvrtc_available();
    snprintf(out, cap, "; %s", mlcc_nvrtc_status());
}

static void init_cuda(void) {
    const mlcc_cuda_driver *api = mlcc_cuda_driver_api();
    char nvrtc_part[700];
    describe_nvrtc(nvrtc_part, sizeof nvrtc_part);
    if (!api) {
        snprintf(status_line, sizeof status_line, "%s%s", mlcc_last_error(), nvrtc_part);
        LOG_INFO("%s", status_line);
        return;
    }
    CUresult r = api->cuInit(0);
    int count = 0;
    if (r == 0) r = api->cuDeviceGetCount(&count);
    if (r != 0 || count == 0) {
        if (r != 0) mlcc_cuda_fail("cuInit", r);
        snprintf(status_line, sizeof status_line, "no CUDA device: %s (driver %s)%s",
                 r != 0 ? mlcc_last_error() : "the driver reports 0 devices", api->path, nvrtc_part);
        return;
    }
    if (count > MAX_DEVICES) count = MAX_DEVICES;
    int version = 0;
    api->cuDriverGetVersion(&version);
    size_t used = (size_t)snprintf(status_line, sizeof status_line,
                                   "cuda: driver %d.%d (%s), %d device%s:", version / 1000,
                                   version % 1000 / 10, api->path, count, count == 1 ? "" : "s");
    for (int i = 0; i < count; i++) {
        cuda_device *d = &devices[i];
        pthread_mutex_init(&d->lock, NULL);
        u64map_init(&d->live);
        u64map_init(&d->cache);
        u64map_init(&d->pool_of);
        api->cuDeviceGet(&d->dev, i);
        api->cuDeviceGetName(d->name, sizeof d->name, d->dev);
        int major = 0, minor = 0;
        api->cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, d->dev);
        api->cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, d->dev);
        d->arch = major * 10 + minor;
        api->cuDeviceGetAttribute(&d->sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, d->dev);
        api->cuDeviceGetAttribute(&d->shared_optin, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, d->dev);
        api->cuDeviceTotalMem(&d->total_mem, d->dev);
        if (used < sizeof status_line)
            used += (size_t)snprintf(status_line + used, sizeof status_line - used,
                                     "%s cuda:%d %s sm_%d %.0f GiB", i ? "," : "", i, d->name,
                                     d->arch, (double)d->total_mem / (1 << 30));
    }
    if (used < sizeof status_line) snprintf(status_line + used, sizeof status_line - used, "%s", nvrtc_part);
    LOG_INFO("%s", status_line); /* MLCC_LOG=info shows what was found */
    device_count = count;
    __atomic_store_n(&cu, api, __ATOMIC_RELEASE);
    mlcc_device_register(kDLCUDA, &cuda_api);
}

int mlcc_cuda_available(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, init_cuda);
    return __atomic_load_n(&cu, __ATOMIC_ACQUIRE) != NULL;
}

int mlcc_cuda_device_count(void) {
    return mlcc_cuda_available() ? device_count : 0;
}

const char *mlcc_cuda_status(void) {
    mlcc_cuda_available();
    return status_line;
}

int mlcc_cuda_device_arch(int device_id) {
    if (check_device(device_id) != 0) return -1;
    return devices[device_id].arch;
}

int mlcc_cuda_device_sm_count(int device_id) {
    if (check_device(device_id) != 0) return -1;
    return devices[device_id].sms > 0 ? devices[device_id].sms : mlcc_set_error("cuda:%d: no multiprocessor count", device_id);
}

int mlcc_cuda_device_shared_optin(int device_id) {
    if (check_device(device_id) != 0) return -1;
    return devices[device_id].shared_optin > 0 ? devices[device_id].shared_optin
                                               : mlcc_set_error("cuda:%d: no opt-in shared memory size", device_id);
}

/* For cuda_module.c: the current stream after making the device current. */
int mlcc_cuda_enter(int device_id, void **stream) {
    if (use_device(device_id) != 0) return -1;
    if (stream) *stream = devices[device_id].stream;
    return 0;
}
