/* vulkan_device.c - the Vulkan loader, instance, devices, memory and copies (see vulkan.h).
 *
 * Device selection: every physical device the loader reports is vulkan:N in its order (a CPU
 * device such as Mesa's lavapipe included, so CI without a GPU tests the same path). A logical
 * device with one compute queue is created on first use of vulkan:N.
 *
 * Memory: each allocation is a VkBuffer with its own VkDeviceMemory, preferring device-local
 * memory. Freed blocks go into a cache and are handed out again for requests of up to their
 * size (and at least half of it), as the CUDA allocator does: a model's per-step tensors are
 * then allocated once. When the memory is host-visible (lavapipe, integrated GPUs) copies to
 * and from the host are memcpy on a persistent mapping; otherwise they go through a staging
 * buffer (MLCC_VULKAN_STAGING=1 forces that path, to test it on a CPU device). */
#include "runtime/vulkan_internal.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/device.h"
#include "support/alloc.h"
#include "support/error.h"
#include "support/log.h"

enum { MAX_DEVICES = 8, VA_ALIGN = 4096 };

static mlcc_vk_api global;      /* instance-level functions */
static VkInstance instance;
static VkPhysicalDevice physical[MAX_DEVICES];
static int device_count;
static mlcc_vk_device devices[MAX_DEVICES];
static char status_line[1024];
static int available;

int mlcc_vk_fail(const char *what, VkResult r) {
    return mlcc_set_error("vulkan: %s failed (VkResult %d)", what, (int)r);
}

const mlcc_vk_api *mlcc_vk_global_api(void) {
    return &global;
}

/* ---- start-up ---- */

static int load_instance_functions(void) {
#define MLCC_VK_LOAD(name)                                                                   \
    global.name = (PFN_##name)global.vkGetInstanceProcAddr(instance, #name);                  \
    if (!global.name) return mlcc_set_error("no Vulkan device: the loader lacks " #name);
    MLCC_VK_INSTANCE_FUNCS(MLCC_VK_LOAD)
#undef MLCC_VK_LOAD
    return 0;
}

static int open_instance(void) {
    const char *lib = "libvulkan.so.1";
    void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!h) return mlcc_set_error("no Vulkan device: %s not found (install libvulkan1 and a driver, "
                                  "e.g. mesa-vulkan-drivers)", lib);
    global.vkGetInstanceProcAddr = (PFN_vkGetInstanceProcAddr)dlsym(h, "vkGetInstanceProcAddr");
    if (!global.vkGetInstanceProcAddr) return mlcc_set_error("no Vulkan device: %s has no vkGetInstanceProcAddr", lib);
    PFN_vkCreateInstance create = (PFN_vkCreateInstance)global.vkGetInstanceProcAddr(NULL, "vkCreateInstance");
    if (!create) return mlcc_set_error("no Vulkan device: the loader lacks vkCreateInstance");
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO, .pApplicationName = "mlcc",
                             .pEngineName = "mlcc", .apiVersion = VK_API_VERSION_1_1};
    VkInstanceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, .pApplicationInfo = &app};
    VkResult r = create(&ci, NULL, &instance);
    if (r != VK_SUCCESS) return mlcc_set_error("no Vulkan device: vkCreateInstance failed (VkResult %d; no driver?)", (int)r);
    if (load_instance_functions() != 0) return -1;
    uint32_t n = MAX_DEVICES;
    r = global.vkEnumeratePhysicalDevices(instance, &n, physical);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) return mlcc_vk_fail("vkEnumeratePhysicalDevices", r);
    if (n == 0) return mlcc_set_error("no Vulkan device: the loader found no physical device (no ICD installed?)");
    device_count = (int)n;
    return 0;
}

static const char *type_name(VkPhysicalDeviceType t) {
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete GPU";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated GPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual GPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "cpu";
    default: return "other";
    }
}

static const MLCCDeviceAPI vulkan_api;

static void init_vulkan(void) {
    if (open_instance() != 0) {
        snprintf(status_line, sizeof status_line, "%s", mlcc_last_error());
        LOG_INFO("%s", status_line);
        return;
    }
    size_t used = (size_t)snprintf(status_line, sizeof status_line, "vulkan: %d device%s:", device_count,
                                   device_count == 1 ? "" : "s");
    for (int i = 0; i < device_count; i++) {
        VkPhysicalDeviceProperties p;
        global.vkGetPhysicalDeviceProperties(physical[i], &p);
        if (used < sizeof status_line)
            used += (size_t)snprintf(status_line + used, sizeof status_line - used, "%s vulkan:%d %s (%s, Vulkan %u.%u)",
                                     i ? "," : "", i, p.deviceName, type_name(p.deviceType),
                                     VK_API_VERSION_MAJOR(p.apiVersion), VK_API_VERSION_MINOR(p.apiVersion));
        pthread_mutex_init(&devices[i].lock, NULL);
        devices[i].id = i;
        devices[i].phys = physical[i];
        devices[i].props = p;
    }
    LOG_INFO("%s", status_line);
    __atomic_store_n(&available, 1, __ATOMIC_RELEASE);
    mlcc_device_register(kDLVulkan, &vulkan_api);
}

int mlcc_vulkan_available(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, init_vulkan);
    return __atomic_load_n(&available, __ATOMIC_ACQUIRE);
}

int mlcc_vulkan_device_count(void) {
    return mlcc_vulkan_available() ? device_count : 0;
}

const char *mlcc_vulkan_status(void) {
    mlcc_vulkan_available();
    return status_line;
}

/* ---- logical devices ---- */

static int getenv_is(const char *name, const char *value) {
    const char *v = getenv(name);
    return v && strcmp(v, value) == 0;
}

static int pick_memory_types(mlcc_vk_device *d) {
    VkPhysicalDeviceMemoryProperties mp;
    d->fn.vkGetPhysicalDeviceMemoryProperties(d->phys, &mp);
    int local = -1, staging = -1;
    for (uint32_t i = 0; i < mp.memoryTypeCount; i++) {
        VkMemoryPropertyFlags f = mp.memoryTypes[i].propertyFlags;
        if ((f & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) && local < 0) local = (int)i;
        int coherent = (f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) && (f & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
        if (coherent && staging < 0) staging = (int)i;
    }
    for (uint32_t i = 0; i < mp.memoryTypeCount; i++)
        LOG_DEBUG("vulkan:%d: memory type %u: flags 0x%x, heap %u (%.1f GiB%s)", d->id, i, (unsigned)mp.memoryTypes[i].propertyFlags,
                  mp.memoryTypes[i].heapIndex, mp.memoryHeaps[mp.memoryTypes[i].heapIndex].size / 1073741824.0,
                  mp.memoryHeaps[mp.memoryTypes[i].heapIndex].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT ? ", device-local" : "");
    if (staging < 0) return mlcc_set_error("vulkan:%d: no host-visible coherent memory type", d->id);
    if (local < 0) local = staging;
    d->memory_type = (uint32_t)local;
    d->staging_type = (uint32_t)staging;
    VkMemoryPropertyFlags f = mp.memoryTypes[local].propertyFlags;
    const char *force = getenv("MLCC_VULKAN_STAGING");
    d->host_visible = (f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) && (f & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT) &&
                      !(force && strcmp(force, "1") == 0);
    return 0;
}

static int create_device(mlcc_vk_device *d) {
    d->fn = global;
    uint32_t nq = 0;
    global.vkGetPhysicalDeviceQueueFamilyProperties(d->phys, &nq, NULL);
    VkQueueFamilyProperties *qf = mlcc_xcalloc(nq ? nq : 1, sizeof *qf);
    global.vkGetPhysicalDeviceQueueFamilyProperties(d->phys, &nq, qf);
    int family = -1;
    for (uint32_t i = 0; i < nq && family < 0; i++)
        if (qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) family = (int)i;
    free(qf);
    if (family < 0) return mlcc_set_error("vulkan:%d (%s) has no compute queue", d->id, d->props.deviceName);
    d->queue_family = (uint32_t)family;
    float prio = 1.0f;
    VkDeviceQueueCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO, .queueFamilyIndex = d->queue_family,
                                  .queueCount = 1, .pQueuePriorities = &prio};
    /* kernels index with 64-bit integers; rope tables are float64 where the device has it;
     * float16 tensors (q0f16 weights, float16 KV) need 16-bit storage and float16 arithmetic */
    VkPhysicalDeviceShaderFloat16Int8Features f16 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES};
    VkPhysicalDevice16BitStorageFeatures s16 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES,
                                                .pNext = &f16};
    VkPhysicalDeviceFeatures2 have = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &s16};
    global.vkGetPhysicalDeviceFeatures2(d->phys, &have);
    d->has_f16 = f16.shaderFloat16 && s16.storageBuffer16BitAccess && !getenv_is("MLCC_VULKAN_NO_F16", "1");
    VkPhysicalDeviceShaderFloat16Int8Features f16_on = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES,
                                                        .shaderFloat16 = (VkBool32)d->has_f16};
    VkPhysicalDevice16BitStorageFeatures s16_on = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES,
                                                   .pNext = &f16_on, .storageBuffer16BitAccess = (VkBool32)d->has_f16};
    VkPhysicalDeviceFeatures2 features = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &s16_on,
                                          .features = {.shaderInt64 = VK_TRUE, .shaderFloat64 = have.features.shaderFloat64}};
    VkPhysicalDeviceSubgroupProperties sub = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceProperties2 props2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &sub};
    global.vkGetPhysicalDeviceProperties2(d->phys, &props2);
    d->subgroup_size = sub.subgroupSize;
    d->subgroup_arithmetic = (sub.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                             (sub.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT) &&
                             (sub.supportedOperations & VK_SUBGROUP_FEATURE_BASIC_BIT) &&
                             !getenv_is("MLCC_VULKAN_NO_SUBGROUP", "1");
    d->subgroup_shuffle = (sub.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                          (sub.supportedOperations & VK_SUBGROUP_FEATURE_SHUFFLE_BIT) &&
                          !getenv_is("MLCC_VULKAN_NO_SUBGROUP", "1");
    VkDeviceCreateInfo di = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, .pNext = &features, .queueCreateInfoCount = 1,
                             .pQueueCreateInfos = &qi};
    VkResult r = global.vkCreateDevice(d->phys, &di, NULL, &d->dev);
    if (r != VK_SUCCESS) return mlcc_set_error("vulkan:%d (%s): vkCreateDevice failed (VkResult %d; shaderInt64 missing?)",
                                               d->id, d->props.deviceName, (int)r);
#define MLCC_VK_LOAD(name)                                                                         \
    d->fn.name = (PFN_##name)global.vkGetDeviceProcAddr(d->dev, #name);                             \
    if (!d->fn.name) return mlcc_set_error("vulkan:%d: the driver lacks " #name, d->id);
    MLCC_VK_DEVICE_FUNCS(MLCC_VK_LOAD)
#undef MLCC_VK_LOAD
    d->fn.vkGetDeviceQueue(d->dev, d->queue_family, 0, &d->queue);
    if (pick_memory_types(d) != 0) return -1;
    VkCommandPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                  .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                  .queueFamilyIndex = d->queue_family};
    if ((r = d->fn.vkCreateCommandPool(d->dev, &pi, NULL, &d->pool)) != VK_SUCCESS) return mlcc_vk_fail("vkCreateCommandPool", r);
    for (int i = 0; i < MLCC_VK_FRAMES; i++) {
        struct mlcc_vk_frame *f = &d->frames[i];
        VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, .commandPool = d->pool,
                                          .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY, .commandBufferCount = 1};
        if ((r = d->fn.vkAllocateCommandBuffers(d->dev, &ai, &f->cmd)) != VK_SUCCESS) return mlcc_vk_fail("vkAllocateCommandBuffers", r);
        VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
        if ((r = d->fn.vkCreateFence(d->dev, &fi, NULL, &f->fence)) != VK_SUCCESS) return mlcc_vk_fail("vkCreateFence", r);
        VkDescriptorPoolSize size = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, MLCC_VK_SETS_PER_BATCH * 8};
        VkDescriptorPoolCreateInfo dpi = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                          .maxSets = MLCC_VK_SETS_PER_BATCH, .poolSizeCount = 1, .pPoolSizes = &size};
        if ((r = d->fn.vkCreateDescriptorPool(d->dev, &dpi, NULL, &f->descriptors)) != VK_SUCCESS)
            return mlcc_vk_fail("vkCreateDescriptorPool", r);
    }
    d->cmd = d->frames[0].cmd;
    const char *chunk = getenv("MLCC_VULKAN_CHUNK");
    d->chunk_limit = chunk && *chunk ? atoi(chunk) : MLCC_VK_CHUNK;
    d->barrier_all = getenv_is("MLCC_VULKAN_BARRIERS", "all");
    if (d->chunk_limit < 0) d->chunk_limit = 0;
    const char *prof = getenv("MLCC_VULKAN_PROFILE");
    uint32_t nfam = 0;
    global.vkGetPhysicalDeviceQueueFamilyProperties(d->phys, &nfam, NULL);
    VkQueueFamilyProperties *fams = mlcc_xcalloc(nfam ? nfam : 1, sizeof *fams);
    global.vkGetPhysicalDeviceQueueFamilyProperties(d->phys, &nfam, fams);
    int timestamps = fams[d->queue_family].timestampValidBits > 0 && d->props.limits.timestampPeriod > 0;
    free(fams);
    if (prof && strcmp(prof, "1") == 0) {
        VkQueryPoolCreateInfo qp = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO, .queryType = VK_QUERY_TYPE_TIMESTAMP,
                                    .queryCount = 2 * MLCC_VK_SETS_PER_BATCH};
        if (!timestamps) LOG_WARN("vulkan:%d: MLCC_VULKAN_PROFILE: the compute queue has no timestamps", d->id);
        else if (d->fn.vkCreateQueryPool(d->dev, &qp, NULL, &d->queries) == VK_SUCCESS) d->profiling = 1;
        d->tick_ns = d->props.limits.timestampPeriod;
        d->chunk_limit = 0; /* the queries of a batch are read once it has run: one frame per batch */
        d->barrier_all = 1; /* and dispatches one after the other, each timed alone */
    }
    d->next_va = (uint64_t)1 << 44; /* far from any host address a bug might confuse it with */
    LOG_INFO("Found device: vulkan:%d (%s, %s memory, float16 %s, subgroups of %u%s)", d->id, d->props.deviceName,
             d->host_visible ? "host-visible" : "device-local", d->has_f16 ? "yes" : "no", d->subgroup_size,
             d->subgroup_arithmetic ? (d->subgroup_shuffle ? " with arithmetic and shuffles" : " with arithmetic") : "");
    return 0;
}

mlcc_vk_device *mlcc_vk_get_device(int device_id) {
    if (!mlcc_vulkan_available()) {
        mlcc_set_error("%s", status_line);
        return NULL;
    }
    if (device_id < 0 || device_id >= device_count) {
        mlcc_set_error("vulkan:%d does not exist (%d device%s)", device_id, device_count, device_count == 1 ? "" : "s");
        return NULL;
    }
    mlcc_vk_device *d = &devices[device_id];
    pthread_mutex_lock(&d->lock);
    int rc = 0;
    if (!d->ready) {
        rc = create_device(d);
        if (rc == 0) d->ready = 1;
    }
    pthread_mutex_unlock(&d->lock);
    return rc == 0 ? d : NULL;
}

int mlcc_vulkan_has_float16(int device_id) {
    mlcc_vk_device *d = mlcc_vk_get_device(device_id);
    return d ? d->has_f16 : 0;
}

int mlcc_vulkan_subgroup_size(int device_id) {
    mlcc_vk_device *d = mlcc_vk_get_device(device_id);
    return d && d->subgroup_arithmetic ? (int)d->subgroup_size : 0;
}

int mlcc_vulkan_shuffle_size(int device_id) {
    mlcc_vk_device *d = mlcc_vk_get_device(device_id);
    return d && d->subgroup_shuffle ? (int)d->subgroup_size : 0;
}

/* ---- the batch ---- */

/* Waits for a submitted frame and makes it reusable (lock held). */
static VkResult retire_frame(mlcc_vk_device *d, struct mlcc_vk_frame *f) {
    if (!f->in_flight) return VK_SUCCESS;
    VkResult r = d->fn.vkWaitForFences(d->dev, 1, &f->fence, VK_TRUE, UINT64_MAX);
    d->fn.vkResetFences(d->dev, 1, &f->fence);
    f->in_flight = 0;
    return r;
}

VkCommandBuffer mlcc_vk_begin(mlcc_vk_device *d) {
    if (!d->recording) {
        struct mlcc_vk_frame *f = &d->frames[d->frame];
        VkResult r = retire_frame(d, f);
        if (r != VK_SUCCESS) LOG_WARN("vulkan:%d: waiting for a batch: VkResult %d", d->id, (int)r);
        d->fn.vkResetCommandBuffer(f->cmd, 0);
        d->fn.vkResetDescriptorPool(d->dev, f->descriptors, 0);
        d->sets_used = 0;
        d->cmd = f->cmd;
        VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                       .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
        d->fn.vkBeginCommandBuffer(d->cmd, &bi);
        d->recording = 1;
        d->chunk = 0;
        if (d->profiling) d->fn.vkCmdResetQueryPool(d->cmd, d->queries, 0, 2 * MLCC_VK_SETS_PER_BATCH);
    }
    return d->cmd;
}

void mlcc_vk_barrier_after(mlcc_vk_device *d) {
    d->npend_read = d->npend_write = 0;
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                                           VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT};
    VkPipelineStageFlags stages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
    d->fn.vkCmdPipelineBarrier(d->cmd, stages, stages, 0, 1, &mb, 0, NULL, 0, NULL);
}

VkCommandBuffer mlcc_vk_begin_transfer(mlcc_vk_device *d) {
    VkCommandBuffer cmd = mlcc_vk_begin(d);
    if (d->npend_read || d->npend_write) mlcc_vk_barrier_after(d);
    return cmd;
}

static int pending(const uint64_t *set, int n, uint64_t buffer) {
    for (int i = 0; i < n; i++)
        if (set[i] == buffer) return 1;
    return 0;
}

void mlcc_vk_order_dispatch(mlcc_vk_device *d, const uint64_t *buffers, int nbuf, uint32_t readonly) {
    int conflict = d->barrier_all || d->npend_read + nbuf > MLCC_VK_PENDING || d->npend_write + nbuf > MLCC_VK_PENDING;
    for (int i = 0; i < nbuf && !conflict; i++) {
        int writes = !(readonly >> i & 1);
        conflict = pending(d->pend_write, d->npend_write, buffers[i]) ||
                   (writes && pending(d->pend_read, d->npend_read, buffers[i]));
    }
    if (conflict) mlcc_vk_barrier_after(d);
    for (int i = 0; i < nbuf; i++) {
        if (readonly >> i & 1) d->pend_read[d->npend_read++] = buffers[i];
        else d->pend_write[d->npend_write++] = buffers[i];
    }
}

/* Ends and submits the open frame, signalling its fence; recording goes on in the next frame.
 * A pipeline barrier orders everything earlier in submission order on the queue, so a barrier
 * recorded in the next frame also orders the commands of this one before what follows it.
 * Lock held. */
static int submit_frame(mlcc_vk_device *d) {
    if (!d->recording) return 0;
    struct mlcc_vk_frame *f = &d->frames[d->frame];
    d->recording = 0;
    VkResult r = d->fn.vkEndCommandBuffer(f->cmd);
    if (r != VK_SUCCESS) return mlcc_vk_fail("vkEndCommandBuffer", r);
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &f->cmd};
    r = d->fn.vkQueueSubmit(d->queue, 1, &si, f->fence);
    if (r != VK_SUCCESS) return mlcc_vk_fail("vkQueueSubmit", r);
    f->in_flight = 1;
    d->frame = (d->frame + 1) % MLCC_VK_FRAMES;
    mlcc_vk_count_submit();
    return 0;
}

/* On in a fresh frame: the open one is submitted (and, when profiling, waited for: its
 * timestamps are read before the next frame resets the queries). */
static int next_frame(mlcc_vk_device *d) {
    return d->profiling ? mlcc_vk_flush_locked(d) : submit_frame(d);
}

int mlcc_vk_dispatched(mlcc_vk_device *d) {
    if (d->chunk_limit > 0 && ++d->chunk >= d->chunk_limit) return submit_frame(d);
    return 0;
}

int mlcc_vk_flush_locked(mlcc_vk_device *d) {
    int rc = submit_frame(d);
    VkResult r = VK_SUCCESS;
    for (int i = 0; i < MLCC_VK_FRAMES; i++) { /* oldest first */
        VkResult ri = retire_frame(d, &d->frames[(d->frame + i) % MLCC_VK_FRAMES]);
        if (r == VK_SUCCESS) r = ri;
    }
    if (r == VK_SUCCESS && d->ntimed > 0) {
        uint64_t ticks[2 * MLCC_VK_SETS_PER_BATCH];
        if (d->fn.vkGetQueryPoolResults(d->dev, d->queries, 0, (uint32_t)(2 * d->ntimed), sizeof ticks, ticks, 8,
                                        VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT) == VK_SUCCESS)
            for (int i = 0; i < d->ntimed; i++) mlcc_vk_profile_add(d->timed[i], (double)(ticks[2 * i + 1] - ticks[2 * i]) * d->tick_ns);
    }
    d->ntimed = 0;
    d->arena_used = 0; /* the batch's uploads have been copied */
    if (rc) return rc;
    return r == VK_SUCCESS ? 0 : mlcc_vk_fail("vkWaitForFences", r);
}

VkDescriptorSet mlcc_vk_descriptor_set(mlcc_vk_device *d, VkDescriptorSetLayout layout) {
    mlcc_vk_begin(d);
    if (d->sets_used >= MLCC_VK_SETS_PER_BATCH) { /* the frame's pool is used up: on in the next frame */
        if (next_frame(d) != 0) return VK_NULL_HANDLE;
        mlcc_vk_begin(d);
    }
    VkDescriptorSetAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                      .descriptorPool = d->frames[d->frame].descriptors, .descriptorSetCount = 1,
                                      .pSetLayouts = &layout};
    VkDescriptorSet set = VK_NULL_HANDLE;
    VkResult r = d->fn.vkAllocateDescriptorSets(d->dev, &ai, &set);
    if (r != VK_SUCCESS) {
        /* the pool ran out of descriptors: submit what is recorded and go on in the next frame */
        if (next_frame(d) != 0) return VK_NULL_HANDLE;
        mlcc_vk_begin(d);
        ai.descriptorPool = d->frames[d->frame].descriptors;
        if ((r = d->fn.vkAllocateDescriptorSets(d->dev, &ai, &set)) != VK_SUCCESS) {
            mlcc_vk_fail("vkAllocateDescriptorSets", r);
            return VK_NULL_HANDLE;
        }
    }
    d->sets_used++;
    return set;
}

int mlcc_vulkan_synchronize(int device_id) {
    mlcc_vk_device *d = mlcc_vk_get_device(device_id);
    if (!d) return -1;
    pthread_mutex_lock(&d->lock);
    int rc = mlcc_vk_flush_locked(d);
    pthread_mutex_unlock(&d->lock);
    return rc;
}

/* ---- memory ---- */

static int block_index(const mlcc_vk_device *d, uint64_t addr) {
    int lo = 0, hi = d->nblocks - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        const mlcc_vk_block *b = d->blocks[mid];
        if (addr < b->va) hi = mid - 1;
        else if (addr >= b->va + (b->size ? b->size : 1)) lo = mid + 1;
        else return mid;
    }
    return -1;
}

int mlcc_vk_resolve(mlcc_vk_device *d, const void *ptr, uint64_t *buffer, size_t *offset, size_t *size) {
    uint64_t addr = (uint64_t)(uintptr_t)ptr;
    int i = block_index(d, addr);
    if (i < 0 || d->blocks[i]->cached)
        return mlcc_set_error("vulkan:%d: %p is not a live device pointer", d->id, ptr);
    *buffer = (uint64_t)(uintptr_t)d->blocks[i]->buffer;
    *offset = (size_t)(addr - d->blocks[i]->va);
    *size = d->blocks[i]->size;
    return 0;
}

/* A buffer with memory of its own: a staging one (mapped) or a device block (mapped when
 * device memory is host-visible and MLCC_VULKAN_STAGING is not set). */
static int make_buffer(mlcc_vk_device *d, size_t size, int staging, VkBuffer *buf, VkDeviceMemory *mem, void **mapped) {
    uint32_t type = staging ? d->staging_type : d->memory_type;
    VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = size,
                             .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                      VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                             .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VkResult r = d->fn.vkCreateBuffer(d->dev, &bi, NULL, buf);
    if (r != VK_SUCCESS) return mlcc_vk_fail("vkCreateBuffer", r);
    VkMemoryRequirements req;
    d->fn.vkGetBufferMemoryRequirements(d->dev, *buf, &req);
    if (!(req.memoryTypeBits & (1u << type))) {
        d->fn.vkDestroyBuffer(d->dev, *buf, NULL);
        return mlcc_set_error("vulkan:%d: buffers cannot use memory type %u", d->id, type);
    }
    /* each buffer has memory of its own: say so (Vulkan 1.1 dedicated allocation), so the
     * driver may map it with large pages (NVIDIA) */
    VkMemoryDedicatedAllocateInfo dedicated = {.sType = VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO, .buffer = *buf};
    VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .pNext = &dedicated,
                               .allocationSize = req.size, .memoryTypeIndex = type};
    r = d->fn.vkAllocateMemory(d->dev, &ai, NULL, mem);
    if (r != VK_SUCCESS) {
        d->fn.vkDestroyBuffer(d->dev, *buf, NULL);
        return mlcc_set_error("vulkan:%d: out of device memory allocating %zu bytes (VkResult %d)", d->id, size, (int)r);
    }
    d->fn.vkBindBufferMemory(d->dev, *buf, *mem, 0);
    *mapped = NULL;
    if (mapped && (staging || d->host_visible) &&
        d->fn.vkMapMemory(d->dev, *mem, 0, VK_WHOLE_SIZE, 0, mapped) != VK_SUCCESS)
        *mapped = NULL;
    return 0;
}

static void destroy_buffer(mlcc_vk_device *d, VkBuffer buf, VkDeviceMemory mem, void *mapped) {
    if (mapped) d->fn.vkUnmapMemory(d->dev, mem);
    d->fn.vkDestroyBuffer(d->dev, buf, NULL);
    d->fn.vkFreeMemory(d->dev, mem, NULL);
}

static size_t round_size(size_t n) {
    return n <= 256 ? 256 : (n + 255) / 256 * 256;
}

/* A cached block of at least n bytes and at most twice that, smallest first (lock held). Not
 * one larger than the device's maxStorageBufferRange for a request within it: kernels bind whole
 * buffers, so the block would make a tensor that fits a binding unusable (lavapipe's range is
 * 128 MiB; a 1 GiB embedding must not land in a 2 GiB block on a device whose range is 2 GiB). */
static mlcc_vk_block *take_cached(mlcc_vk_device *d, size_t n) {
    mlcc_vk_block *best = NULL;
    size_t range = d->props.limits.maxStorageBufferRange;
    for (int i = 0; i < d->nblocks; i++) {
        mlcc_vk_block *b = d->blocks[i];
        if (b->cached && b->size >= n && b->size <= 2 * n && (b->size <= range || n > range) && (!best || b->size < best->size))
            best = b;
    }
    return best;
}

static void *vk_alloc_locked(mlcc_vk_device *d, size_t nbytes) {
    size_t size = round_size(nbytes);
    mlcc_vk_block *b = take_cached(d, size);
    if (b) {
        b->cached = 0;
        d->mem.cached -= b->size;
        d->mem.in_use += b->size;
        d->mem.reuses++;
        return (void *)(uintptr_t)b->va;
    }
    b = mlcc_xcalloc(1, sizeof *b);
    if (make_buffer(d, size, 0, &b->buffer, &b->memory, &b->mapped) != 0) {
        /* give the cache back to the driver and try once more */
        mlcc_vk_flush_locked(d);
        int kept = 0;
        for (int i = 0; i < d->nblocks; i++) {
            mlcc_vk_block *c = d->blocks[i];
            if (c->cached) {
                destroy_buffer(d, c->buffer, c->memory, c->mapped);
                d->mem.cached -= c->size;
                free(c);
            } else {
                d->blocks[kept++] = c;
            }
        }
        d->nblocks = kept;
        if (make_buffer(d, size, 0, &b->buffer, &b->memory, &b->mapped) != 0) {
            free(b);
            return NULL;
        }
    }
    b->size = size;
    b->va = d->next_va;
    d->next_va += (size + VA_ALIGN - 1) / VA_ALIGN * VA_ALIGN + VA_ALIGN; /* a gap: off-by-one pointers resolve to nothing */
    if (d->nblocks == d->cap_blocks) {
        d->cap_blocks = d->cap_blocks ? 2 * d->cap_blocks : 64;
        d->blocks = mlcc_xrealloc(d->blocks, sizeof *d->blocks * (size_t)d->cap_blocks);
    }
    d->blocks[d->nblocks++] = b;
    d->mem.in_use += size;
    d->mem.device_allocs++;
    return (void *)(uintptr_t)b->va;
}

static void *vk_alloc(DLDevice dev, size_t nbytes, size_t alignment) {
    (void)alignment; /* every block starts a buffer: aligned for any element type */
    mlcc_vk_device *d = mlcc_vk_get_device(dev.device_id);
    if (!d) return NULL;
    pthread_mutex_lock(&d->lock);
    void *p = vk_alloc_locked(d, nbytes);
    pthread_mutex_unlock(&d->lock);
    return p;
}

static void vk_free(DLDevice dev, void *ptr) {
    if (!ptr) return;
    mlcc_vk_device *d = mlcc_vk_get_device(dev.device_id);
    if (!d) return;
    pthread_mutex_lock(&d->lock);
    int i = block_index(d, (uint64_t)(uintptr_t)ptr);
    if (i >= 0 && !d->blocks[i]->cached && d->blocks[i]->va == (uint64_t)(uintptr_t)ptr) {
        /* recorded commands may still use it; they run before any later user's, in order */
        d->blocks[i]->cached = 1;
        d->mem.in_use -= d->blocks[i]->size;
        d->mem.cached += d->blocks[i]->size;
    } else {
        LOG_WARN("vulkan:%d: free of %p, which is not a live allocation", d->id, ptr);
    }
    pthread_mutex_unlock(&d->lock);
}

void mlcc_vulkan_empty_cache(int device_id) {
    mlcc_vk_device *d = mlcc_vk_get_device(device_id);
    if (!d) return;
    pthread_mutex_lock(&d->lock);
    mlcc_vk_flush_locked(d);
    int kept = 0;
    for (int i = 0; i < d->nblocks; i++) {
        mlcc_vk_block *b = d->blocks[i];
        if (b->cached) {
            destroy_buffer(d, b->buffer, b->memory, b->mapped);
            d->mem.cached -= b->size;
            free(b);
        } else {
            d->blocks[kept++] = b;
        }
    }
    d->nblocks = kept;
    pthread_mutex_unlock(&d->lock);
}

mlcc_vulkan_mem_stats mlcc_vulkan_memory_stats(int device_id) {
    mlcc_vulkan_mem_stats s = {0};
    mlcc_vk_device *d = mlcc_vk_get_device(device_id);
    if (!d) return s;
    pthread_mutex_lock(&d->lock);
    s = d->mem;
    pthread_mutex_unlock(&d->lock);
    return s;
}

/* ---- copies ---- */

static mlcc_vk_block *live_block(mlcc_vk_device *d, const void *ptr, size_t nbytes, size_t *offset) {
    uint64_t addr = (uint64_t)(uintptr_t)ptr;
    int i = block_index(d, addr);
    if (i < 0 || d->blocks[i]->cached) {
        mlcc_set_error("vulkan:%d: copy with %p, which is not a live device pointer", d->id, ptr);
        return NULL;
    }
    mlcc_vk_block *b = d->blocks[i];
    *offset = (size_t)(addr - b->va);
    if (nbytes > b->size - *offset) {
        mlcc_set_error("vulkan:%d: copy of %zu bytes runs past its buffer (%zu bytes at offset %zu)", d->id, nbytes,
                       b->size, *offset);
        return NULL;
    }
    return b;
}

/* Host -> device of at most MLCC_VK_UPLOAD_ARENA bytes when device memory is not mappable:
 * into the upload arena and a copy recorded in the batch, ordered with the kernels around it,
 * so a model step's small inputs (token ids, page tables) cost no submit. 1 when done, 0 when
 * the staged path must take it, -1 on error. Lock held. */
static int arena_upload(mlcc_vk_device *d, mlcc_vk_block *b, size_t off, const void *host, size_t nbytes) {
    if (nbytes > MLCC_VK_UPLOAD_ARENA) return 0;
    if (!d->arena && (make_buffer(d, MLCC_VK_UPLOAD_ARENA, 1, &d->arena, &d->arena_mem, &d->arena_map) != 0 ||
                      !d->arena_map))
        return 0; /* no arena: the staged path */
    size_t at = (d->arena_used + 15) / 16 * 16;
    if (at + nbytes > MLCC_VK_UPLOAD_ARENA) { /* full: what is recorded runs, the arena empties */
        if (mlcc_vk_flush_locked(d) != 0) return -1;
        at = 0;
    }
    memcpy((char *)d->arena_map + at, host, nbytes);
    VkBufferCopy region = {at, off, nbytes};
    d->fn.vkCmdCopyBuffer(mlcc_vk_begin_transfer(d), d->arena, b->buffer, 1, &region);
    mlcc_vk_barrier_after(d);
    d->arena_used = at + nbytes;
    return 1;
}

/* host <-> device through a staging buffer (device memory not mappable); lock held. The copy
 * is recorded after what the batch holds and the batch submitted once (a step's kernels and
 * its logits' readback: one submit). Readbacks reuse one staging buffer (grown to the largest); uploads larger than the
 * arena (weights) get one of their own. */
static int staged_copy(mlcc_vk_device *d, mlcc_vk_block *b, size_t off, void *host, size_t nbytes, int to_device) {
    VkBuffer sbuf;
    VkDeviceMemory smem;
    void *map = NULL;
    int reuse = !to_device;
    if (reuse && d->readback_size < nbytes) {
        if (d->readback) destroy_buffer(d, d->readback, d->readback_mem, d->readback_map);
        d->readback = VK_NULL_HANDLE, d->readback_size = 0;
        size_t size = nbytes < (1 << 20) ? (1 << 20) : nbytes;
        if (make_buffer(d, size, 1, &d->readback, &d->readback_mem, &d->readback_map) != 0) return -1;
        d->readback_size = size;
    }
    if (reuse) sbuf = d->readback, smem = d->readback_mem, map = d->readback_map;
    else if (make_buffer(d, nbytes, 1, &sbuf, &smem, &map) != 0) return -1;
    if (!map) {
        if (!reuse) destroy_buffer(d, sbuf, smem, NULL);
        return mlcc_set_error("vulkan:%d: cannot map a staging buffer", d->id);
    }
    if (to_device) memcpy(map, host, nbytes);
    VkCommandBuffer cmd = mlcc_vk_begin_transfer(d);
    VkBufferCopy region = {to_device ? 0 : off, to_device ? off : 0, nbytes};
    d->fn.vkCmdCopyBuffer(cmd, to_device ? sbuf : b->buffer, to_device ? b->buffer : sbuf, 1, &region);
    mlcc_vk_barrier_after(d);
    int rc = mlcc_vk_flush_locked(d);
    if (rc == 0 && !to_device) memcpy(host, map, nbytes);
    if (!reuse) destroy_buffer(d, sbuf, smem, map);
    return rc;
}

static int vk_copy(const void *src, DLDevice src_dev, void *dst, DLDevice dst_dev, size_t nbytes, void *stream) {
    (void)stream;
    if (nbytes == 0) return 0;
    int src_vk = src_dev.device_type == kDLVulkan, dst_vk = dst_dev.device_type == kDLVulkan;
    if (src_vk && dst_vk && src_dev.device_id != dst_dev.device_id)
        return mlcc_set_error("vulkan: copies between vulkan:%d and vulkan:%d go through the host", src_dev.device_id,
                              dst_dev.device_id);
    mlcc_vk_device *d = mlcc_vk_get_device(src_vk ? src_dev.device_id : dst_dev.device_id);
    if (!d) return -1;
    pthread_mutex_lock(&d->lock);
    int rc = -1;
    size_t so = 0, doff = 0;
    mlcc_vk_block *sb = src_vk ? live_block(d, src, nbytes, &so) : NULL;
    mlcc_vk_block *db = dst_vk ? live_block(d, dst, nbytes, &doff) : NULL;
    if ((src_vk && !sb) || (dst_vk && !db)) goto done;
    if (sb && db) {
        /* recorded in the batch, ordered with the kernels around it */
        VkCommandBuffer cmd = mlcc_vk_begin_transfer(d);
        VkBufferCopy region = {so, doff, nbytes};
        d->fn.vkCmdCopyBuffer(cmd, sb->buffer, db->buffer, 1, &region);
        mlcc_vk_barrier_after(d);
        rc = 0;
        goto done;
    }
    if (db) {
        /* an upload through the arena is ordered in the batch: no need to wait for the kernels
         * recorded before it (mapped device memory too: writing it directly would) */
        int up = arena_upload(d, db, doff, src, nbytes);
        if (up != 0) {
            rc = up > 0 ? 0 : -1;
            goto done;
        }
    }
    mlcc_vk_block *b = sb ? sb : db;
    size_t off = sb ? so : doff;
    if (b->mapped) {
        /* the host side: the kernels recorded so far must have run (they may read what is
         * overwritten, or write what is read) */
        if (mlcc_vk_flush_locked(d) != 0) goto done;
        if (sb) memcpy(dst, (char *)b->mapped + off, nbytes);
        else memcpy((char *)b->mapped + off, src, nbytes);
        rc = 0;
    } else {
        rc = staged_copy(d, b, off, sb ? dst : (void *)src, nbytes, db != NULL);
    }
done:
    pthread_mutex_unlock(&d->lock);
    return rc;
}

int mlcc_vulkan_memset(int device_id, void *ptr, int value, size_t nbytes) {
    mlcc_vk_device *d = mlcc_vk_get_device(device_id);
    if (!d) return -1;
    if (nbytes == 0) return 0;
    pthread_mutex_lock(&d->lock);
    size_t off = 0;
    int rc = -1;
    mlcc_vk_block *b = live_block(d, ptr, nbytes, &off);
    if (b && (off % 4 || nbytes % 4)) {
        mlcc_set_error("vulkan:%d: memset of %zu bytes at offset %zu: both must be multiples of 4", d->id, nbytes, off);
    } else if (b) {
        uint32_t word = (uint32_t)(unsigned char)value * 0x01010101u;
        d->fn.vkCmdFillBuffer(mlcc_vk_begin_transfer(d), b->buffer, off, nbytes, word);
        mlcc_vk_barrier_after(d);
        rc = 0;
    }
    pthread_mutex_unlock(&d->lock);
    return rc;
}

static int vk_sync(DLDevice dev, void *stream) {
    (void)stream;
    return mlcc_vulkan_synchronize(dev.device_id);
}

static const MLCCDeviceAPI vulkan_api = {"vulkan", vk_alloc, vk_free, vk_copy, vk_sync};
