/* cuda_loader.c - finds and opens the CUDA driver and NVRTC with dlopen (see cuda_api.h).
 *
 * The driver is libcuda.so.1 from the loader path (the driver installation puts it there) or
 * the usual driver folders. NVRTC is searched by versioned names, newest first (libnvrtc.so.13,
 * then .12), under $CUDA_HOME, /usr/local/cuda and the loader path: an unversioned
 * libnvrtc.so belongs to a -dev package and may be absent where the runtime is. */
#include "runtime/cuda_api.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/error.h"
#include "support/file.h"

static mlcc_cuda_driver driver;
static const mlcc_cuda_driver *driver_ok;
static char driver_error[1024];

static mlcc_nvrtc_api nvrtc;
static const mlcc_nvrtc_api *nvrtc_ok;
static char nvrtc_error[2048];

static char include_dir[512];

/* The file a loaded library came from, through one of its symbols. */
static void library_path(void *symbol, const char *fallback, char *out, size_t cap) {
    Dl_info info;
    if (symbol && dladdr(symbol, &info) && info.dli_fname) snprintf(out, cap, "%s", info.dli_fname);
    else snprintf(out, cap, "%s", fallback);
}

#define LOAD(table, field, symbol)                                                                 \
    do {                                                                                           \
        *(void **)&(table).field = dlsym((table).handle, symbol);                                  \
        if (!(table).field) missing = symbol;                                                      \
    } while (0)

static void open_driver(void) {
    static const char *candidates[] = {"libcuda.so.1", "/usr/local/nvidia/lib64/libcuda.so.1",
                                       "/usr/lib/x86_64-linux-gnu/libcuda.so.1",
                                       "/usr/lib64/libcuda.so.1", "/usr/lib/wsl/lib/libcuda.so.1",
                                       NULL};
    const char *override = getenv("MLCC_CUDA_DRIVER");
    for (int i = -1; !driver.handle && (i < 0 || candidates[i]); i++) {
        const char *name = i < 0 ? override : candidates[i];
        if (name && *name) driver.handle = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    }
    if (!driver.handle) {
        snprintf(driver_error, sizeof driver_error,
                 "no CUDA device: libcuda.so.1 (the NVIDIA driver) was not found");
        return;
    }
    const char *missing = NULL;
    LOAD(driver, cuInit, "cuInit");
    LOAD(driver, cuDriverGetVersion, "cuDriverGetVersion");
    LOAD(driver, cuDeviceGetCount, "cuDeviceGetCount");
    LOAD(driver, cuDeviceGet, "cuDeviceGet");
    LOAD(driver, cuDeviceGetName, "cuDeviceGetName");
    LOAD(driver, cuDeviceGetAttribute, "cuDeviceGetAttribute");
    LOAD(driver, cuDeviceTotalMem, "cuDeviceTotalMem_v2");
    LOAD(driver, cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
    LOAD(driver, cuCtxSetCurrent, "cuCtxSetCurrent");
    LOAD(driver, cuCtxSynchronize, "cuCtxSynchronize");
    LOAD(driver, cuMemAlloc, "cuMemAlloc_v2");
    LOAD(driver, cuMemFree, "cuMemFree_v2");
    LOAD(driver, cuMemGetInfo, "cuMemGetInfo_v2");
    LOAD(driver, cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2");
    LOAD(driver, cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2");
    LOAD(driver, cuMemcpyDtoDAsync, "cuMemcpyDtoDAsync_v2");
    LOAD(driver, cuMemsetD8Async, "cuMemsetD8Async");
    LOAD(driver, cuStreamCreate, "cuStreamCreate");
    LOAD(driver, cuStreamDestroy, "cuStreamDestroy_v2");
    LOAD(driver, cuStreamSynchronize, "cuStreamSynchronize");
    LOAD(driver, cuModuleLoadData, "cuModuleLoadData");
    LOAD(driver, cuModuleUnload, "cuModuleUnload");
    LOAD(driver, cuModuleGetFunction, "cuModuleGetFunction");
    LOAD(driver, cuFuncSetAttribute, "cuFuncSetAttribute");
    LOAD(driver, cuLaunchKernel, "cuLaunchKernel");
    LOAD(driver, cuEventCreate, "cuEventCreate");
    LOAD(driver, cuEventDestroy, "cuEventDestroy_v2");
    LOAD(driver, cuEventRecord, "cuEventRecord");
    LOAD(driver, cuEventSynchronize, "cuEventSynchronize");
    LOAD(driver, cuEventElapsedTime, "cuEventElapsedTime");
    LOAD(driver, cuStreamBeginCapture, "cuStreamBeginCapture_v2");
    LOAD(driver, cuStreamEndCapture, "cuStreamEndCapture");
    LOAD(driver, cuGraphInstantiateWithFlags, "cuGraphInstantiateWithFlags");
    LOAD(driver, cuGraphLaunch, "cuGraphLaunch");
    LOAD(driver, cuGraphExecDestroy, "cuGraphExecDestroy");
    LOAD(driver, cuGraphDestroy, "cuGraphDestroy");
    LOAD(driver, cuGetErrorName, "cuGetErrorName");
    LOAD(driver, cuGetErrorString, "cuGetErrorString");
    *(void **)&driver.cuLaunchKernelEx = dlsym(driver.handle, "cuLaunchKernelEx"); /* optional */
    *(void **)&driver.cuMemAllocHost = dlsym(driver.handle, "cuMemAllocHost_v2"); /* optional */
    *(void **)&driver.cuMemFreeHost = dlsym(driver.handle, "cuMemFreeHost");      /* optional */
    library_path((void *)driver.cuInit, "libcuda.so.1", driver.path, sizeof driver.path);
    if (missing) {
        snprintf(driver_error, sizeof driver_error, "no CUDA device: %s lacks %s (driver too old)",
                 driver.path, missing);
        return;
    }
    driver_ok = &driver;
}

const mlcc_cuda_driver *mlcc_cuda_driver_api(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, open_driver);
    if (!driver_ok) mlcc_set_error("%s", driver_error);
    return driver_ok;
}

/* Tries dir/name for each CUDA folder and then the bare name (the loader path). */
void *mlcc_cuda_open_versioned(const char *name, char *tried, size_t cap) {
    const char *home = getenv("CUDA_HOME");
    const char *dirs[] = {home, home, "/usr/local/cuda", "/usr/local/cuda"};
    const char *subs[] = {"lib64", "lib", "lib64", "lib"};
    for (int i = 0; i < 4; i++) {
        if (!dirs[i] || !*dirs[i]) continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s/%s", dirs[i], subs[i], name);
        if (!mlcc_file_exists(path)) continue;
        void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (h) return h;
    }
    size_t used = strlen(tried);
    snprintf(tried + used, cap - used, "%s%s", used ? ", " : "", name);
    return dlopen(name, RTLD_NOW | RTLD_LOCAL);
}

static void open_nvrtc(void) {
    static const char *names[] = {"libnvrtc.so.13", "libnvrtc.so.12", NULL};
    char tried[256] = "";
    const char *override = getenv("MLCC_NVRTC");
    if (override && *override) nvrtc.handle = dlopen(override, RTLD_NOW | RTLD_LOCAL);
    for (int i = 0; !nvrtc.handle && names[i]; i++) nvrtc.handle = mlcc_cuda_open_versioned(names[i], tried, sizeof tried);
    if (!nvrtc.handle) {
        snprintf(nvrtc_error, sizeof nvrtc_error,
                 "NVRTC not found (tried %s under $CUDA_HOME, /usr/local/cuda and the loader path)",
                 tried);
        return;
    }
    const char *missing = NULL;
    LOAD(nvrtc, nvrtcVersion, "nvrtcVersion");
    LOAD(nvrtc, nvrtcGetErrorString, "nvrtcGetErrorString");
    LOAD(nvrtc, nvrtcCreateProgram, "nvrtcCreateProgram");
    LOAD(nvrtc, nvrtcDestroyProgram, "nvrtcDestroyProgram");
    LOAD(nvrtc, nvrtcCompileProgram, "nvrtcCompileProgram");
    LOAD(nvrtc, nvrtcGetProgramLogSize, "nvrtcGetProgramLogSize");
    LOAD(nvrtc, nvrtcGetProgramLog, "nvrtcGetProgramLog");
    LOAD(nvrtc, nvrtcGetPTXSize, "nvrtcGetPTXSize");
    LOAD(nvrtc, nvrtcGetPTX, "nvrtcGetPTX");
    LOAD(nvrtc, nvrtcGetCUBINSize, "nvrtcGetCUBINSize");
    LOAD(nvrtc, nvrtcGetCUBIN, "nvrtcGetCUBIN");
    library_path((void *)nvrtc.nvrtcVersion, "libnvrtc", nvrtc.path, sizeof nvrtc.path);
    if (missing) {
        snprintf(nvrtc_error, sizeof nvrtc_error, "NVRTC at %s lacks %s", nvrtc.path, missing);
        return;
    }
    nvrtc.nvrtcVersion(&nvrtc.major, &nvrtc.minor);
    nvrtc_ok = &nvrtc;
}

const mlcc_nvrtc_api *mlcc_nvrtc_api_get(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, open_nvrtc);
    if (!nvrtc_ok) mlcc_set_error("%s", nvrtc_error);
    return nvrtc_ok;
}

static void find_include_dir(void) {
    const char *home = getenv("CUDA_HOME");
    const char *dirs[] = {home, "/usr/local/cuda", NULL};
    for (int i = 0; i < 2; i++) {
        if (!dirs[i] || !*dirs[i]) continue;
        char path[600];
        snprintf(path, sizeof path, "%s/include/cuda_fp16.h", dirs[i]);
        if (mlcc_file_exists(path)) {
            snprintf(include_dir, sizeof include_dir, "%s/include", dirs[i]);
            return;
        }
    }
}

const char *mlcc_cuda_include_dir(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, find_include_dir);
    return include_dir[0] ? include_dir : NULL;
}

int mlcc_cuda_fail(const char *what, CUresult r) {
    const char *name = NULL, *text = NULL;
    if (driver_ok) {
        driver.cuGetErrorName(r, &name);
        driver.cuGetErrorString(r, &text);
    }
    return mlcc_set_error("%s: %s (%s)", what, name ? name : "CUDA error",
                          text ? text : "unknown error");
}
