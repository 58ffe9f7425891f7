/* vulkan_internal.h - what vulkan_device.c and vulkan_pipeline.c share: the Vulkan functions
 * loaded through vkGetInstanceProcAddr / vkGetDeviceProcAddr and the device state. The Vulkan
 * headers (Debian libvulkan-dev) give the types only: VK_NO_PROTOTYPES, nothing is linked. */
#ifndef MLCC_RUNTIME_VULKAN_INTERNAL_H
#define MLCC_RUNTIME_VULKAN_INTERNAL_H

#define VK_NO_PROTOTYPES
#include <pthread.h>
#include <vulkan/vulkan.h>

#include "runtime/vulkan.h"

/* X(name) for every function used; instance-level ones first. */
#define MLCC_VK_INSTANCE_FUNCS(X)                                                             \
    X(vkDestroyInstance) X(vkEnumeratePhysicalDevices) X(vkGetPhysicalDeviceProperties)      \
    X(vkGetPhysicalDeviceQueueFamilyProperties) X(vkGetPhysicalDeviceMemoryProperties)       \
    X(vkCreateDevice) X(vkGetDeviceProcAddr) X(vkGetPhysicalDeviceFeatures)                  \
    X(vkGetPhysicalDeviceFeatures2) X(vkGetPhysicalDeviceProperties2)
#define MLCC_VK_DEVICE_FUNCS(X)                                                                \
    X(vkDestroyDevice) X(vkGetDeviceQueue) X(vkQueueSubmit) X(vkQueueWaitIdle)                 \
    X(vkCreateBuffer) X(vkDestroyBuffer) X(vkGetBufferMemoryRequirements) X(vkAllocateMemory)  \
    X(vkFreeMemory) X(vkBindBufferMemory) X(vkMapMemory) X(vkUnmapMemory)                      \
    X(vkCreateCommandPool) X(vkDestroyCommandPool) X(vkAllocateCommandBuffers)                 \
    X(vkBeginCommandBuffer) X(vkEndCommandBuffer) X(vkResetCommandBuffer) X(vkCmdCopyBuffer) X(vkCmdFillBuffer) \
    X(vkCmdPipelineBarrier) X(vkCmdBindPipeline) X(vkCmdBindDescriptorSets)                    \
    X(vkCmdPushConstants) X(vkCmdDispatch) X(vkCreateFence) X(vkDestroyFence)                  \
    X(vkWaitForFences) X(vkResetFences) X(vkCreateShaderModule) X(vkDestroyShaderModule)       \
    X(vkCreateDescriptorSetLayout) X(vkDestroyDescriptorSetLayout) X(vkCreatePipelineLayout)   \
    X(vkDestroyPipelineLayout) X(vkCreateComputePipelines) X(vkDestroyPipeline)                \
    X(vkCreateDescriptorPool) X(vkDestroyDescriptorPool) X(vkResetDescriptorPool)              \
    X(vkAllocateDescriptorSets) X(vkUpdateDescriptorSets) X(vkCreatePipelineCache)             \
    X(vkGetPipelineCacheData) X(vkDestroyPipelineCache)                                         \
    X(vkCreateQueryPool) X(vkCmdResetQueryPool) X(vkCmdWriteTimestamp) X(vkGetQueryPoolResults)

typedef struct mlcc_vk_api {
    PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr;
#define MLCC_VK_DECLARE(name) PFN_##name name;
    MLCC_VK_INSTANCE_FUNCS(MLCC_VK_DECLARE)
    MLCC_VK_DEVICE_FUNCS(MLCC_VK_DECLARE)
#undef MLCC_VK_DECLARE
} mlcc_vk_api;

/* One allocation: a buffer with its own memory, at [va, va + size) of the private address
 * space. */
enum { MLCC_VK_FRAMES = 4, MLCC_VK_CHUNK = 48, MLCC_VK_PENDING = 64 };

typedef struct mlcc_vk_block {
    uint64_t va;
    size_t size;
    VkBuffer buffer;
    VkDeviceMemory memory;
    void *mapped; /* host pointer when the memory is host-visible */
    int cached;   /* freed into the cache */
} mlcc_vk_block;

struct mlcc_vk_device {
    int id, ready;
    VkPhysicalDevice phys;
    VkPhysicalDeviceProperties props;
    VkDevice dev;
    VkQueue queue;
    uint32_t queue_family;
    uint32_t memory_type;  /* for buffers */
    int host_visible;      /* memory_type can be mapped (CPU devices, integrated GPUs, ReBAR) */
    int has_f16;           /* shaderFloat16 and storageBuffer16BitAccess, both enabled */
    uint32_t subgroup_size;   /* 0 when unknown */
    int subgroup_arithmetic;  /* subgroupAdd/Max/... in compute shaders */
    int subgroup_shuffle;     /* subgroupShuffleXor in compute shaders */
    uint32_t staging_type; /* host-visible, coherent: for copies when memory_type is not */
    mlcc_vk_api fn;        /* instance + device functions */
    pthread_mutex_t lock;  /* one thread records at a time */
    VkCommandPool pool;
    /* the batch is recorded into frames[frame]; every MLCC_VULKAN_CHUNK dispatches (default
     * MLCC_VK_CHUNK) a frame is submitted without waiting and recording goes on in the next, so
     * the device runs while the host records; a frame is reused once its fence has signalled */
    struct mlcc_vk_frame {
        VkCommandBuffer cmd;
        VkFence fence;
        VkDescriptorPool descriptors;
        int in_flight;
    } frames[MLCC_VK_FRAMES];
    int frame;
    int chunk, chunk_limit; /* dispatches in the open frame; 0: one frame per batch */
    VkCommandBuffer cmd;   /* = frames[frame].cmd */
    /* the buffers that dispatches since the last barrier read and wrote: a dispatch gets a
     * barrier before it only when it writes one of them or reads one written (independent
     * kernels such as the q, k and v projections then overlap); MLCC_VULKAN_BARRIERS=all (and
     * profiling) puts one after every command */
    uint64_t pend_read[MLCC_VK_PENDING], pend_write[MLCC_VK_PENDING];
    int npend_read, npend_write, barrier_all;
    int recording;         /* cmd is open with work in it */
    int sets_used;
    /* MLCC_VULKAN_PROFILE=1: a timestamp before and after each dispatch of the batch */
    int profiling;
    VkQueryPool queries;
    double tick_ns;
    void *timed[1024]; /* the kernel of each timed dispatch (one per descriptor set) */
    int ntimed;
    /* staging memory of copies when device memory is not mappable: uploads of up to
     * MLCC_VK_UPLOAD_ARENA bytes go into the arena and are recorded in the batch (no submit);
     * readbacks reuse one buffer, grown as needed */
    VkBuffer arena, readback;
    VkDeviceMemory arena_mem, readback_mem;
    void *arena_map, *readback_map;
    size_t arena_used, readback_size;
    VkPipelineCache pipeline_cache;
    char *pipeline_cache_path;
    /* blocks, sorted by va (vas only grow) */
    mlcc_vk_block **blocks;
    int nblocks, cap_blocks;
    uint64_t next_va;
    mlcc_vulkan_mem_stats mem;
};

enum { MLCC_VK_SETS_PER_BATCH = 1024, MLCC_VK_MAX_BINDINGS = 32, MLCC_VK_UPLOAD_ARENA = 8 << 20 };

/* For vulkan_pipeline.c, device lock held: the open command buffer (begun if needed), a
 * barrier (after a command; it clears the pending sets), and a descriptor set (the batch is submitted when they run out). */
VkCommandBuffer mlcc_vk_begin(mlcc_vk_device *d);
void mlcc_vk_barrier_after(mlcc_vk_device *d);
VkDescriptorSet mlcc_vk_descriptor_set(mlcc_vk_device *d, VkDescriptorSetLayout layout);
/* Submits the batch and waits for all of it (lock held). */
int mlcc_vk_flush_locked(mlcc_vk_device *d);
/* A copy or fill: the open command buffer, with a barrier first when dispatches are pending. */
VkCommandBuffer mlcc_vk_begin_transfer(mlcc_vk_device *d);
/* Before a dispatch binding these buffers (VkBuffer as uint64; bit i of readonly: binding i is
 * only read): a barrier when it depends on a pending dispatch; notes its buffers. */
void mlcc_vk_order_dispatch(mlcc_vk_device *d, const uint64_t *buffers, int nbuf, uint32_t readonly);
/* After a dispatch is recorded: submits the open frame without waiting when it holds a chunk
 * of dispatches (lock held). */
int mlcc_vk_dispatched(mlcc_vk_device *d);
int mlcc_vk_fail(const char *what, VkResult r);
const mlcc_vk_api *mlcc_vk_global_api(void);
/* Adds a dispatch's duration to its kernel's profile (vulkan_pipeline.c). */
void mlcc_vk_profile_add(void *kernel, double ns);
void mlcc_vk_count_submit(void);

#endif
