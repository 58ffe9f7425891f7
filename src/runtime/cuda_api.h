/* cuda_api.h - the slice of the CUDA driver API and NVRTC that the runtime uses, as function
 * pointer tables filled by cuda_loader.c with dlsym (no CUDA headers or libraries at build
 * time). Types are declared here with the ABI of cuda.h / nvrtc.h. */
#ifndef MLCC_RUNTIME_CUDA_API_H
#define MLCC_RUNTIME_CUDA_API_H

#include <stddef.h>

typedef int CUresult; /* CUDA_SUCCESS = 0 */
typedef int CUdevice;
typedef void *CUcontext;
typedef void *CUmodule;
typedef void *CUfunction;
typedef void *CUstream;
typedef void *CUevent;
typedef unsigned long long CUdeviceptr;
typedef void *CUgraph;
typedef void *CUgraphExec;

enum {
    CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 1,
    CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK = 8,
    CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16,
    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76,
    CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97,
    CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8,
    CUDA_ERROR_OUT_OF_MEMORY = 2,
    CUDA_ERROR_NOT_READY = 600,
    CU_STREAM_NON_BLOCKING = 1,
    CU_EVENT_DISABLE_TIMING = 2,
    CU_STREAM_CAPTURE_MODE_GLOBAL = 0,
    CU_STREAM_CAPTURE_MODE_THREAD_LOCAL = 1,
    CU_STREAM_CAPTURE_MODE_RELAXED = 2,
    CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION = 4,
    CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION = 6,
    CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED = 14,
};

/* cuLaunchKernelEx's configuration (cuda.h's CUlaunchConfig: an attribute is its id padded to
 * 8 bytes, then a 64-byte value union, of which the int member and clusterDim are used here). */
typedef struct CUlaunchAttribute {
    int id;
    char pad[4];
    union {
        char bytes[64];
        int value; /* programmaticStreamSerializationAllowed */
        struct {
            unsigned x, y, z;
        } cluster_dim; /* clusterDim */
    } val;
} CUlaunchAttribute;
typedef struct CUlaunchConfig {
    unsigned grid_x, grid_y, grid_z, block_x, block_y, block_z, shared_bytes;
    CUstream stream;
    CUlaunchAttribute *attrs;
    unsigned num_attrs;
} CUlaunchConfig;

typedef struct mlcc_cuda_driver {
    void *handle;
    char path[512];
    CUresult (*cuInit)(unsigned flags);
    CUresult (*cuDriverGetVersion)(int *version);
    CUresult (*cuDeviceGetCount)(int *count);
    CUresult (*cuDeviceGet)(CUdevice *dev, int ordinal);
    CUresult (*cuDeviceGetName)(char *name, int len, CUdevice dev);
    CUresult (*cuDeviceGetAttribute)(int *value, int attrib, CUdevice dev);
    CUresult (*cuDeviceTotalMem)(size_t *bytes, CUdevice dev);
    CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *ctx, CUdevice dev);
    CUresult (*cuCtxSetCurrent)(CUcontext ctx);
    CUresult (*cuCtxSynchronize)(void);
    CUresult (*cuMemAlloc)(CUdeviceptr *ptr, size_t bytes);
    CUresult (*cuMemFree)(CUdeviceptr ptr);
    CUresult (*cuMemGetInfo)(size_t *free_bytes, size_t *total);
    CUresult (*cuMemcpyHtoDAsync)(CUdeviceptr dst, const void *src, size_t bytes, CUstream s);
    CUresult (*cuMemcpyDtoHAsync)(void *dst, CUdeviceptr src, size_t bytes, CUstream s);
    CUresult (*cuMemcpyDtoDAsync)(CUdeviceptr dst, CUdeviceptr src, size_t bytes, CUstream s);
    CUresult (*cuMemsetD8Async)(CUdeviceptr dst, unsigned char value, size_t n, CUstream s);
    CUresult (*cuStreamCreate)(CUstream *s, unsigned flags);
    CUresult (*cuStreamDestroy)(CUstream s);
    CUresult (*cuStreamSynchronize)(CUstream s);
    CUresult (*cuModuleLoadData)(CUmodule *m, const void *image);
    CUresult (*cuModuleUnload)(CUmodule m);
    CUresult (*cuModuleGetFunction)(CUfunction *f, CUmodule m, const char *name);
    CUresult (*cuFuncSetAttribute)(CUfunction f, int attrib, int value);
    CUresult (*cuLaunchKernel)(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                               unsigned by, unsigned bz, unsigned shared, CUstream s,
                               void **params, void **extra);
    /* optional (CUDA >= 11.8): NULL when the driver lacks it; programmatic dependent launch */
    CUresult (*cuLaunchKernelEx)(const CUlaunchConfig *config, CUfunction f, void **params, void **extra);
    /* optional: NULL when the driver lacks them; pinned host memory for small uploads
     * (cuda_device.c's staging) */
    CUresult (*cuMemAllocHost)(void **ptr, size_t bytes);
    CUresult (*cuMemFreeHost)(void *ptr);
    /* events (profiling, and the staging slots' last copies) */
    CUresult (*cuEventCreate)(CUevent *e, unsigned flags);
    CUresult (*cuEventDestroy)(CUevent e);
    CUresult (*cuEventRecord)(CUevent e, CUstream s);
    CUresult (*cuEventSynchronize)(CUevent e);
    CUresult (*cuEventElapsedTime)(float *ms, CUevent start, CUevent end);
    /* stream capture and graphs (decode steps) */
    CUresult (*cuStreamBeginCapture)(CUstream s, int mode);
    CUresult (*cuStreamEndCapture)(CUstream s, CUgraph *graph);
    CUresult (*cuGraphInstantiateWithFlags)(CUgraphExec *exec, CUgraph graph, unsigned long long flags);
    CUresult (*cuGraphLaunch)(CUgraphExec exec, CUstream s);
    CUresult (*cuGraphExecDestroy)(CUgraphExec exec);
    CUresult (*cuGraphDestroy)(CUgraph graph);
    CUresult (*cuGetErrorName)(CUresult r, const char **s);
    CUresult (*cuGetErrorString)(CUresult r, const char **s);
} mlcc_cuda_driver;

typedef int nvrtcResult; /* NVRTC_SUCCESS = 0 */
typedef void *nvrtcProgram;

typedef struct mlcc_nvrtc_api {
    void *handle;
    char path[512];
    int major, minor;
    nvrtcResult (*nvrtcVersion)(int *major, int *minor);
    const char *(*nvrtcGetErrorString)(nvrtcResult r);
    nvrtcResult (*nvrtcCreateProgram)(nvrtcProgram *p, const char *src, const char *name,
                                      int num_headers, const char *const *headers,
                                      const char *const *include_names);
    nvrtcResult (*nvrtcDestroyProgram)(nvrtcProgram *p);
    nvrtcResult (*nvrtcCompileProgram)(nvrtcProgram p, int num_options,
                                       const char *const *options);
    nvrtcResult (*nvrtcGetProgramLogSize)(nvrtcProgram p, size_t *size);
    nvrtcResult (*nvrtcGetProgramLog)(nvrtcProgram p, char *log);
    nvrtcResult (*nvrtcGetPTXSize)(nvrtcProgram p, size_t *size);
    nvrtcResult (*nvrtcGetPTX)(nvrtcProgram p, char *ptx);
    nvrtcResult (*nvrtcGetCUBINSize)(nvrtcProgram p, size_t *size);
    nvrtcResult (*nvrtcGetCUBIN)(nvrtcProgram p, char *cubin);
} mlcc_nvrtc_api;

/* The driver table, opened once; NULL with an error saying why (library missing, symbol
 * missing). */
const mlcc_cuda_driver *mlcc_cuda_driver_api(void);
/* The NVRTC table, opened once; NULL with an error listing the places searched. */
const mlcc_nvrtc_api *mlcc_nvrtc_api_get(void);
/* dlopen of a CUDA library by a versioned name ("libcublasLt.so.13"): $CUDA_HOME/lib64, /lib,
 * /usr/local/cuda/lib64, /lib, then the loader path; a failure appends name to tried. */
void *mlcc_cuda_open_versioned(const char *name, char *tried, size_t cap);
/* The CUDA include directory for NVRTC (-I), or NULL when none was found. */
const char *mlcc_cuda_include_dir(void);

/* Makes cuda:id's context current on this thread; *stream (may be NULL) gets its current
 * stream. 0 or -1 + error. */
int mlcc_cuda_enter(int device_id, void **stream);

/* "cuMemAlloc: CUDA_ERROR_OUT_OF_MEMORY (out of memory)" as the thread's error; returns -1. */
int mlcc_cuda_fail(const char *what, CUresult r);

#endif
