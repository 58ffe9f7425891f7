/* device.c - the table of device APIs, indexed by DLPack device type, and the built-in CPU
 * device. Other devices (CUDA, loaded with dlopen so binaries run where it is absent) install
 * their table with mlcc_device_register when they initialise. */
#include "runtime/device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "support/error.h"

/* Buffers of at least this many bytes (weights, the KV cache) are aligned to it and marked for
 * transparent huge pages: a decode step streams every weight once, and with 4 KiB pages a
 * 1 GB model costs a quarter of a million TLB misses per token. Where THP is "madvise" (the
 * Debian default) nothing else asks for them. */
enum { HUGE_PAGE_BYTES = 2 << 20 };

static void *cpu_alloc(DLDevice dev, size_t nbytes, size_t alignment) {
    (void)dev;
    if (alignment < sizeof(void *)) alignment = sizeof(void *);
    /* aligned_alloc wants a multiple of the alignment; round up (and never ask for 0 bytes). */
    size_t rounded = (nbytes + alignment - 1) / alignment * alignment;
    if (rounded < nbytes) {
        mlcc_set_error("cpu: allocation of %zu bytes overflows", nbytes);
        return NULL;
    }
    if (rounded == 0) rounded = alignment;
    /* the whole huge pages only: the tail keeps small pages, so no memory is spent on it (the
     * alignment costs address space, not memory: glibc maps such blocks, untouched pages are free) */
    size_t huge = rounded / HUGE_PAGE_BYTES * HUGE_PAGE_BYTES;
    if (huge) rounded = (rounded + HUGE_PAGE_BYTES - 1) / HUGE_PAGE_BYTES * HUGE_PAGE_BYTES, alignment = HUGE_PAGE_BYTES;
    void *p = aligned_alloc(alignment, rounded);
    if (!p) mlcc_set_error("cpu: out of memory allocating %zu bytes", nbytes);
#ifdef MADV_HUGEPAGE
    if (p && huge) madvise(p, huge, MADV_HUGEPAGE); /* advice only: failure changes nothing */
#endif
    return p;
}

static void cpu_free(DLDevice dev, void *ptr) {
    (void)dev;
    free(ptr);
}

static int cpu_copy(const void *src, DLDevice src_dev, void *dst, DLDevice dst_dev, size_t nbytes,
                    void *stream) {
    (void)src_dev, (void)dst_dev, (void)stream;
    if (nbytes) memmove(dst, src, nbytes);
    return 0;
}

static int cpu_sync(DLDevice dev, void *stream) {
    (void)dev, (void)stream;
    return 0;
}

static const MLCCDeviceAPI cpu_api = {"cpu", cpu_alloc, cpu_free, cpu_copy, cpu_sync};

enum { DEVICE_TYPE_LIMIT = 32 };
/* Written when a device initialises, read by every allocation: atomic pointer accesses. */
static const MLCCDeviceAPI *device_apis[DEVICE_TYPE_LIMIT] = {[kDLCPU] = &cpu_api};

int mlcc_device_register(DLDeviceType type, const MLCCDeviceAPI *api) {
    if ((int)type <= 0 || (int)type >= DEVICE_TYPE_LIMIT)
        return mlcc_set_error("cannot register device type %d (valid: 1..%d)", (int)type,
                              DEVICE_TYPE_LIMIT - 1);
    __atomic_store_n(&device_apis[type], api, __ATOMIC_RELEASE);
    return 0;
}

static const char *device_type_name(int type) {
    switch (type) {
    case kDLCPU: return "cpu";
    case kDLCUDA: return "cuda";
    case kDLCUDAHost: return "cuda_host";
    case kDLOpenCL: return "opencl";
    case kDLVulkan: return "vulkan";
    case kDLMetal: return "metal";
    case kDLROCM: return "rocm";
    case kDLCUDAManaged: return "cuda_managed";
    default: return "device";
    }
}

const char *mlcc_device_str(DLDevice dev, char *buf) {
    const char *name = device_type_name(dev.device_type);
    if (strcmp(name, "device") == 0)
        snprintf(buf, 32, "device%d:%d", (int)dev.device_type, dev.device_id);
    else
        snprintf(buf, 32, "%s:%d", name, dev.device_id);
    return buf;
}

const MLCCDeviceAPI *mlcc_device_api(DLDevice dev) {
    const MLCCDeviceAPI *api = NULL;
    if ((int)dev.device_type > 0 && (int)dev.device_type < DEVICE_TYPE_LIMIT)
        api = __atomic_load_n(&device_apis[dev.device_type], __ATOMIC_ACQUIRE);
    if (!api) {
        char buf[32];
        mlcc_set_error("device %s is not available (no runtime support for it is loaded)",
                       mlcc_device_str(dev, buf));
    }
    return api;
}

const MLCCDeviceAPI *mlcc_copy_api(DLDevice src, DLDevice dst) {
    return mlcc_device_api(src.device_type != kDLCPU ? src : dst);
}
