/* vulkan_pipeline.c - GLSL -> SPIR-V, compute pipelines and dispatches (see vulkan.h).
 *
 * The GLSL compiler is glslangValidator (Debian glslang-tools), run as a program at the first
 * call of a kernel: a model library carries GLSL, so the SPIR-V is made where it runs, and a
 * machine without glslang still builds and tests everything else. Not shaderc: Debian 12's
 * libshaderc1 cannot be loaded (it references a SPIRV-Tools symbol no Debian library exports),
 * and linking glslang's static libraries would tie the runtime to C++. SPIR-V is cached on disk
 * under MLCC_HOME/cache/vulkan/<sha256>.spv (the key covers the source and the options), and
 * the driver's pipeline cache is kept in MLCC_HOME/cache/vulkan/pipelines-<device uuid>.bin,
 * so a second run creates its pipelines without compiling anything.
 *
 * A kernel (the `slot` of a library) holds its shader module, its descriptor set layout (one
 * storage buffer per binding), its pipeline layout (the push-constant block) and one pipeline
 * per workgroup size seen: the size is a specialization constant (local_size_x_id = 0..2), so
 * the host chooses it per call as CUDA's block dimension. */
#include "runtime/vulkan_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/alloc.h"
#include "support/error.h"
#include "support/file.h"
#include "support/log.h"
#include "support/sha256.h"

static mlcc_vulkan_stats stats;

static void count(long *c) {
    __atomic_add_fetch(c, 1, __ATOMIC_RELAXED);
}

void mlcc_vk_count_submit(void) {
    count(&stats.submits);
}

mlcc_vulkan_stats mlcc_vulkan_get_stats(void) {
    mlcc_vulkan_stats s;
    __atomic_load(&stats.shader_compiles, &s.shader_compiles, __ATOMIC_RELAXED);
    __atomic_load(&stats.spirv_cache_hits, &s.spirv_cache_hits, __ATOMIC_RELAXED);
    __atomic_load(&stats.pipelines, &s.pipelines, __ATOMIC_RELAXED);
    __atomic_load(&stats.dispatches, &s.dispatches, __ATOMIC_RELAXED);
    __atomic_load(&stats.submits, &s.submits, __ATOMIC_RELAXED);
    return s;
}

/* ---- glslang ---- */

static char glslang_path[640];
static char glslang_line[700];
static int glslang_ok;

static void find_glslang(void) {
    const char *env = getenv("MLCC_GLSLANG");
    if (env && *env) {
        snprintf(glslang_path, sizeof glslang_path, "%s", env);
    } else {
        const char *path = getenv("PATH");
        char *dirs = mlcc_xstrdup(path && *path ? path : "/usr/bin:/bin");
        for (char *save = NULL, *dir = strtok_r(dirs, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
            char candidate[600];
            snprintf(candidate, sizeof candidate, "%s/glslangValidator", dir);
            if (access(candidate, X_OK) == 0) {
                snprintf(glslang_path, sizeof glslang_path, "%s", candidate);
                break;
            }
        }
        free(dirs);
    }
    if (!glslang_path[0] || access(glslang_path, X_OK) != 0) {
        snprintf(glslang_line, sizeof glslang_line,
                 "no GLSL compiler: glslangValidator not found in PATH (install glslang-tools, or set MLCC_GLSLANG)");
        return;
    }
    snprintf(glslang_line, sizeof glslang_line, "glslang (%s)", glslang_path);
    glslang_ok = 1;
}

int mlcc_glsl_compiler_available(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, find_glslang);
    return glslang_ok;
}

const char *mlcc_glsl_compiler_status(void) {
    mlcc_glsl_compiler_available();
    return glslang_line;
}

/* Runs glslangValidator on the source in a private temporary directory. */
static int run_glslang(const char *glsl, const char *name, uint32_t **spirv, size_t *nbytes) {
    char dir[] = "/tmp/mlcc-glsl-XXXXXX";
    if (!mkdtemp(dir)) return mlcc_set_error("vulkan: cannot make a temporary directory: %s", strerror(errno));
    char in[64], out[64], log[64];
    snprintf(in, sizeof in, "%s/k.comp", dir);
    snprintf(out, sizeof out, "%s/k.spv", dir);
    snprintf(log, sizeof log, "%s/log", dir);
    int rc = mlcc_write_file_atomic(in, glsl, strlen(glsl));
    if (rc == 0) {
        pid_t pid = fork();
        if (pid == 0) {
            int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
            if (fd >= 0) dup2(fd, 1), dup2(fd, 2);
            execl(glslang_path, glslang_path, "-V", "--target-env", "vulkan1.1", "-S", "comp", "-o", out, in, (char *)NULL);
            _exit(127);
        }
        int status = 0;
        if (pid < 0 || waitpid(pid, &status, 0) < 0) {
            rc = mlcc_set_error("vulkan: cannot run %s: %s", glslang_path, strerror(errno));
        } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            size_t n = 0;
            char *text = mlcc_read_file(log, &n);
            rc = mlcc_set_error("vulkan: GLSL of %s does not compile: %s", name, text ? text : "(no log)");
            free(text);
        } else {
            char *data = mlcc_read_file(out, nbytes);
            if (!data || *nbytes % 4 != 0) {
                free(data);
                rc = mlcc_set_error("vulkan: %s wrote no SPIR-V for %s", glslang_path, name);
            } else {
                *spirv = (uint32_t *)data;
            }
        }
    }
    unlink(in), unlink(out), unlink(log), rmdir(dir);
    count(&stats.shader_compiles);
    return rc;
}

static char *cache_file(const char *name) {
    char *home = mlcc_home_dir();
    char *dir = mlcc_path_join(home, "cache/vulkan");
    char *path = mlcc_path_join(dir, name);
    free(home);
    free(dir);
    return path;
}

static void write_cache_file(const char *path, const void *data, size_t n) {
    char *dir = mlcc_xstrdup(path);
    *strrchr(dir, '/') = '\0';
    if (mlcc_mkdirs(dir) != 0 || mlcc_write_file_atomic(path, data, n) != 0)
        LOG_WARN("vulkan cache: cannot write %s: %s", path, mlcc_last_error());
    free(dir);
}

int mlcc_vulkan_compile_glsl(const char *glsl, const char *name, uint32_t **spirv, size_t *nbytes) {
    if (!mlcc_glsl_compiler_available()) return mlcc_set_error("%s", glslang_line);
    mlcc_sha256 h;
    sha256_init(&h);
    const char *head = "mlcc-vulkan-1 glslang vulkan1.1";
    sha256_update(&h, head, strlen(head) + 1);
    sha256_update(&h, glsl, strlen(glsl));
    unsigned char digest[32];
    sha256_final(&h, digest);
    char fname[80];
    for (int i = 0; i < 32; i++) snprintf(fname + 2 * i, 3, "%02x", digest[i]);
    snprintf(fname + 64, sizeof fname - 64, ".spv");
    char *path = cache_file(fname);
    const char *policy = getenv("MLCC_JIT_POLICY");
    int off = policy && strcmp(policy, "off") == 0;
    if (!off && mlcc_file_exists(path)) {
        size_t n = 0;
        char *data = mlcc_read_file(path, &n);
        if (data && n >= 20 && n % 4 == 0 && *(uint32_t *)data == 0x07230203u) {
            *spirv = (uint32_t *)data;
            *nbytes = n;
            count(&stats.spirv_cache_hits);
            free(path);
            return 0;
        }
        free(data);
        LOG_WARN("vulkan cache: %s is not SPIR-V; compiling again", path);
    }
    int rc = run_glslang(glsl, name, spirv, nbytes);
    if (rc == 0 && !off) write_cache_file(path, *spirv, *nbytes);
    free(path);
    return rc;
}

/* ---- the pipeline cache on disk ---- */

static void open_pipeline_cache(mlcc_vk_device *d) {
    char name[96];
    const uint8_t *u = d->props.pipelineCacheUUID;
    int k = snprintf(name, sizeof name, "pipelines-%04x-%04x-", d->props.vendorID, d->props.deviceID);
    for (int i = 0; i < (int)VK_UUID_SIZE; i++) k += snprintf(name + k, sizeof name - (size_t)k, "%02x", u[i]);
    snprintf(name + k, sizeof name - (size_t)k, ".bin");
    d->pipeline_cache_path = cache_file(name);
    size_t n = 0;
    char *data = mlcc_file_exists(d->pipeline_cache_path) ? mlcc_read_file(d->pipeline_cache_path, &n) : NULL;
    VkPipelineCacheCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO, .initialDataSize = data ? n : 0,
                                    .pInitialData = data};
    /* the driver checks the header and ignores data of another driver or device */
    if (d->fn.vkCreatePipelineCache(d->dev, &ci, NULL, &d->pipeline_cache) != VK_SUCCESS) {
        ci.initialDataSize = 0;
        ci.pInitialData = NULL;
        if (d->fn.vkCreatePipelineCache(d->dev, &ci, NULL, &d->pipeline_cache) != VK_SUCCESS) d->pipeline_cache = VK_NULL_HANDLE;
    }
    free(data);
}

static void save_pipeline_cache(mlcc_vk_device *d) {
    if (!d->pipeline_cache) return;
    const char *policy = getenv("MLCC_JIT_POLICY");
    if (policy && (strcmp(policy, "off") == 0 || strcmp(policy, "readonly") == 0)) return;
    size_t n = 0;
    if (d->fn.vkGetPipelineCacheData(d->dev, d->pipeline_cache, &n, NULL) != VK_SUCCESS || n == 0) return;
    void *data = mlcc_xmalloc(n);
    if (d->fn.vkGetPipelineCacheData(d->dev, d->pipeline_cache, &n, data) == VK_SUCCESS)
        write_cache_file(d->pipeline_cache_path, data, n);
    free(data);
}

/* ---- kernels ---- */

typedef struct pipeline_variant {
    uint32_t block[3];
    VkPipeline pipeline;
} pipeline_variant;

typedef struct vk_kernel {
    mlcc_vk_device *dev;
    char *name;
    int nbuf;
    uint32_t push_bytes;
    VkShaderModule module;
    VkDescriptorSetLayout set_layout;
    VkPipelineLayout layout;
    pipeline_variant *variants;
    int nvariants;
    uint32_t readonly; /* bit i: binding i is declared readonly */
    long calls;       /* timed dispatches (MLCC_VULKAN_PROFILE=1) */
    double total_ns;
    struct vk_kernel *next;
} vk_kernel;

static pthread_mutex_t slot_lock = PTHREAD_MUTEX_INITIALIZER;
/* Every kernel made (they live as long as the process, like the libraries' slots). */
static vk_kernel *all_kernels;

/* Bit i set when the GLSL declares binding i readonly ("binding = i) ... readonly ... buffer",
 * as codegen_vulkan and the runtime's kernels write them); unknown ones count as written. */
static uint32_t readonly_bindings(const char *glsl, int nbuf) {
    uint32_t mask = 0;
    for (int i = 0; i < nbuf; i++) {
        char pat[32];
        snprintf(pat, sizeof pat, "binding = %d)", i);
        const char *p = strstr(glsl, pat), *q = p ? strstr(p, "buffer") : NULL;
        if (!q) continue;
        const char *ro = strstr(p, "readonly");
        if (ro && ro < q) mask |= 1u << i;
    }
    return mask;
}

/* Device lock held. */
static vk_kernel *kernel_create(mlcc_vk_device *d, const char *glsl, const char *name, int nbuf, uint32_t push_bytes) {
    if (strstr(glsl, "GL_EXT_shader_16bit_storage") && !d->has_f16) {
        mlcc_set_error("%s uses float16, but vulkan:%d (%s) lacks shaderFloat16 or storageBuffer16BitAccess", name, d->id,
                       d->props.deviceName);
        return NULL;
    }
    uint32_t *spirv = NULL;
    size_t nbytes = 0;
    /* subgroup reductions where the device has them (codegen_vulkan: #if MLCC_SUBGROUP_ARITH) */
    char *variant = NULL;
    const char *eol = strchr(glsl, '\n');
    if (d->subgroup_arithmetic && eol && strstr(glsl, "#if MLCC_SUBGROUP_ARITH")) {
        size_t head = (size_t)(eol + 1 - glsl);
        const char *def = "#define MLCC_SUBGROUP_ARITH 1\n";
        variant = mlcc_xmalloc(strlen(glsl) + strlen(def) + 1);
        memcpy(variant, glsl, head);
        strcpy(variant + head, def);
        strcat(variant, glsl + head);
    }
    int rc = mlcc_vulkan_compile_glsl(variant ? variant : glsl, name, &spirv, &nbytes);
    free(variant);
    if (rc != 0) return NULL;
    if (!d->pipeline_cache_path) open_pipeline_cache(d);
    vk_kernel *k = mlcc_xcalloc(1, sizeof *k);
    k->dev = d;
    k->name = mlcc_xstrdup(name);
    k->nbuf = nbuf;
    k->push_bytes = push_bytes;
    k->readonly = readonly_bindings(glsl, nbuf);
    VkShaderModuleCreateInfo si = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, .codeSize = nbytes, .pCode = spirv};
    VkResult r = d->fn.vkCreateShaderModule(d->dev, &si, NULL, &k->module);
    free(spirv);
    if (r != VK_SUCCESS) goto fail;
    VkDescriptorSetLayoutBinding b[MLCC_VK_MAX_BINDINGS];
    for (int i = 0; i < nbuf; i++)
        b[i] = (VkDescriptorSetLayoutBinding){(uint32_t)i, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, NULL};
    VkDescriptorSetLayoutCreateInfo li = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                          .bindingCount = (uint32_t)nbuf, .pBindings = b};
    if ((r = d->fn.vkCreateDescriptorSetLayout(d->dev, &li, NULL, &k->set_layout)) != VK_SUCCESS) goto fail;
    VkPushConstantRange pr = {VK_SHADER_STAGE_COMPUTE_BIT, 0, push_bytes};
    VkPipelineLayoutCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, .setLayoutCount = 1,
                                     .pSetLayouts = &k->set_layout, .pushConstantRangeCount = 1, .pPushConstantRanges = &pr};
    if ((r = d->fn.vkCreatePipelineLayout(d->dev, &pi, NULL, &k->layout)) != VK_SUCCESS) goto fail;
    return k;
fail:
    mlcc_vk_fail("creating the kernel's module and layouts", r);
    mlcc_prefix_error("%s", name);
    if (k->layout) d->fn.vkDestroyPipelineLayout(d->dev, k->layout, NULL);
    if (k->set_layout) d->fn.vkDestroyDescriptorSetLayout(d->dev, k->set_layout, NULL);
    if (k->module) d->fn.vkDestroyShaderModule(d->dev, k->module, NULL);
    free(k->name);
    free(k);
    return NULL;
}

/* The pipeline for a workgroup size (device lock held). */
static VkPipeline kernel_pipeline(vk_kernel *k, const uint32_t block[3]) {
    for (int i = 0; i < k->nvariants; i++)
        if (memcmp(k->variants[i].block, block, sizeof k->variants[i].block) == 0) return k->variants[i].pipeline;
    mlcc_vk_device *d = k->dev;
    VkSpecializationMapEntry entries[3] = {{0, 0, 4}, {1, 4, 4}, {2, 8, 4}};
    VkSpecializationInfo spec = {3, entries, 12, block};
    VkComputePipelineCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                  .module = k->module, .pName = "main", .pSpecializationInfo = &spec},
        .layout = k->layout};
    VkPipeline p = VK_NULL_HANDLE;
    VkResult r = d->fn.vkCreateComputePipelines(d->dev, d->pipeline_cache, 1, &ci, NULL, &p);
    if (r != VK_SUCCESS) {
        mlcc_vk_fail("vkCreateComputePipelines", r);
        mlcc_prefix_error("%s", k->name);
        return VK_NULL_HANDLE;
    }
    count(&stats.pipelines);
    k->variants = mlcc_xrealloc(k->variants, sizeof *k->variants * (size_t)(k->nvariants + 1));
    memcpy(k->variants[k->nvariants].block, block, sizeof k->variants[k->nvariants].block);
    k->variants[k->nvariants++].pipeline = p;
    save_pipeline_cache(d);
    return p;
}

static int check_launch(mlcc_vk_device *d, const char *name, const uint32_t grid[3], const uint32_t block[3],
                        uint32_t dispatch[3], int nbuf, uint32_t push_bytes) {
    const VkPhysicalDeviceLimits *lim = &d->props.limits;
    if (nbuf > MLCC_VK_MAX_BINDINGS || (uint32_t)nbuf > lim->maxPerStageDescriptorStorageBuffers)
        return mlcc_set_error("%s: %d storage buffers (the device allows %u)", name, nbuf, lim->maxPerStageDescriptorStorageBuffers);
    if (push_bytes > lim->maxPushConstantsSize)
        return mlcc_set_error("%s: %u bytes of push constants (the device allows %u)", name, push_bytes, lim->maxPushConstantsSize);
    uint64_t threads = (uint64_t)block[0] * block[1] * block[2];
    for (int a = 0; a < 3; a++)
        if (block[a] > lim->maxComputeWorkGroupSize[a])
            return mlcc_set_error("%s: workgroup size %u on axis %d (the device allows %u)", name, block[a], a,
                                  lim->maxComputeWorkGroupSize[a]);
    if (threads > lim->maxComputeWorkGroupInvocations)
        return mlcc_set_error("%s: %llu invocations per workgroup (the device allows %u)", name, (unsigned long long)threads,
                              lim->maxComputeWorkGroupInvocations);
    memcpy(dispatch, grid, 3 * sizeof *grid);
    /* a long x grid folds into y (the kernel recomputes its x index and skips the excess) */
    if (grid[0] > lim->maxComputeWorkGroupCount[0] && grid[1] == 1) {
        dispatch[0] = lim->maxComputeWorkGroupCount[0];
        dispatch[1] = (grid[0] + dispatch[0] - 1) / dispatch[0];
    }
    for (int a = 0; a < 3; a++)
        if (dispatch[a] > lim->maxComputeWorkGroupCount[a])
            return mlcc_set_error("%s: %u workgroups on axis %d (the device allows %u)", name, grid[a], a,
                                  lim->maxComputeWorkGroupCount[a]);
    return 0;
}

static int vk_launch(void **slot, int device_id, const char *glsl, const char *name, const uint32_t grid[3],
                     const uint32_t block[3], void *const *buffers, const uint32_t *elem_bytes, int nbuf, void *push,
                     uint32_t push_bytes) {
    mlcc_vk_device *d = mlcc_vk_get_device(device_id);
    if (!d) return -1;
    if (grid[0] == 0 || grid[1] == 0 || grid[2] == 0) return 0; /* nothing to compute */
    uint32_t dispatch[3];
    if (check_launch(d, name, grid, block, dispatch, nbuf, push_bytes) != 0) return -1;
    pthread_mutex_lock(&d->lock);
    int rc = -1;
    /* one slot per kernel of the library; its device is the first one it ran on */
    pthread_mutex_lock(&slot_lock);
    vk_kernel *k = *slot;
    pthread_mutex_unlock(&slot_lock);
    if (k && k->dev != d) {
        mlcc_set_error("%s: this library's kernels were loaded on vulkan:%d, not vulkan:%d", name, k->dev->id, d->id);
        goto done;
    }
    if (!k) {
        if (!(k = kernel_create(d, glsl, name, nbuf, push_bytes))) goto done;
        pthread_mutex_lock(&slot_lock);
        *slot = k;
        k->next = all_kernels;
        all_kernels = k;
        pthread_mutex_unlock(&slot_lock);
    }
    VkPipeline p = kernel_pipeline(k, block);
    if (!p) goto done;
    /* element offsets and the x grid in the head of the push block */
    uint32_t *head = push;
    VkDescriptorBufferInfo infos[MLCC_VK_MAX_BINDINGS];
    uint64_t handles[MLCC_VK_MAX_BINDINGS];
    VkWriteDescriptorSet writes[MLCC_VK_MAX_BINDINGS];
    for (int i = 0; i < nbuf; i++) {
        uint64_t buf = 0;
        size_t off = 0, size = 0;
        if (mlcc_vk_resolve(d, buffers[i], &buf, &off, &size) != 0) {
            mlcc_prefix_error("%s: buffer %d", name, i);
            goto done;
        }
        /* a binding covers the whole buffer: it must fit the device's storage-buffer range */
        if (size > d->props.limits.maxStorageBufferRange) {
            mlcc_set_error("%s: buffer %d has %zu bytes, more than the device's maxStorageBufferRange (%u)", name, i, size,
                           d->props.limits.maxStorageBufferRange);
            goto done;
        }
        if (elem_bytes[i] == 0 || off % elem_bytes[i] != 0 || off / elem_bytes[i] > UINT32_MAX) {
            mlcc_set_error("%s: buffer %d starts at byte %zu of its allocation, not a multiple of %u", name, i, off, elem_bytes[i]);
            goto done;
        }
        head[i] = (uint32_t)(off / elem_bytes[i]);
        handles[i] = buf;
        infos[i] = (VkDescriptorBufferInfo){(VkBuffer)(uintptr_t)buf, 0, VK_WHOLE_SIZE};
    }
    head[nbuf] = grid[0];
    VkDescriptorSet set = mlcc_vk_descriptor_set(d, k->set_layout);
    if (!set) goto done;
    for (int i = 0; i < nbuf; i++)
        writes[i] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, .dstSet = set, .dstBinding = (uint32_t)i,
                                           .descriptorCount = 1, .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                           .pBufferInfo = &infos[i]};
    d->fn.vkUpdateDescriptorSets(d->dev, (uint32_t)nbuf, writes, 0, NULL);
    VkCommandBuffer cmd = mlcc_vk_begin(d);
    mlcc_vk_order_dispatch(d, handles, nbuf, k->readonly);
    d->fn.vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p);
    d->fn.vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, k->layout, 0, 1, &set, 0, NULL);
    d->fn.vkCmdPushConstants(cmd, k->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, push_bytes, push);
    int timed = d->profiling && d->ntimed < MLCC_VK_SETS_PER_BATCH;
    if (timed) d->fn.vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, d->queries, (uint32_t)(2 * d->ntimed));
    d->fn.vkCmdDispatch(cmd, dispatch[0], dispatch[1], dispatch[2]);
    if (timed) {
        d->fn.vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, d->queries, (uint32_t)(2 * d->ntimed + 1));
        d->timed[d->ntimed++] = k;
    }
    count(&stats.dispatches);
    rc = mlcc_vk_dispatched(d);
done:
    pthread_mutex_unlock(&d->lock);
    return rc;
}

/* ---- profiling ---- */

void mlcc_vk_profile_add(void *kernel, double ns) {
    vk_kernel *k = kernel;
    k->calls++;
    k->total_ns += ns;
}

int mlcc_vulkan_kernel_profile(const char *name, long *calls, double *total_ms) {
    *calls = 0;
    *total_ms = 0;
    int found = 0;
    pthread_mutex_lock(&slot_lock);
    for (vk_kernel *k = all_kernels; k; k = k->next)
        if (strcmp(k->name, name) == 0) {
            pthread_mutex_lock(&k->dev->lock);
            *calls += k->calls;
            *total_ms += k->total_ns / 1e6;
            pthread_mutex_unlock(&k->dev->lock);
            found = 1;
        }
    pthread_mutex_unlock(&slot_lock);
    return found ? 0 : mlcc_set_error("vulkan: no kernel named %s has run", name);
}

void mlcc_vulkan_profile_reset(void) {
    pthread_mutex_lock(&slot_lock);
    for (vk_kernel *k = all_kernels; k; k = k->next) {
        pthread_mutex_lock(&k->dev->lock);
        k->calls = 0, k->total_ns = 0;
        pthread_mutex_unlock(&k->dev->lock);
    }
    pthread_mutex_unlock(&slot_lock);
}

static int by_time(const void *a, const void *b) {
    const vk_kernel *x = *(vk_kernel *const *)a, *y = *(vk_kernel *const *)b;
    return x->total_ns < y->total_ns ? 1 : x->total_ns > y->total_ns ? -1 : 0;
}

void mlcc_vulkan_profile_report(FILE *out) {
    pthread_mutex_lock(&slot_lock);
    int n = 0;
    for (vk_kernel *k = all_kernels; k; k = k->next) n++;
    vk_kernel **list = mlcc_xmalloc(sizeof *list * (size_t)(n ? n : 1));
    double total = 0;
    n = 0;
    for (vk_kernel *k = all_kernels; k; k = k->next) list[n++] = k, total += k->total_ns;
    qsort(list, (size_t)n, sizeof *list, by_time);
    fprintf(out, "vulkan kernel profile (device time, MLCC_VULKAN_PROFILE=1): %.3f ms in all\n", total / 1e6);
    for (int i = 0; i < n && list[i]->calls > 0; i++)
        fprintf(out, "  %6.2f%%  %10.3f ms  %7ld calls  %9.2f us/call  %s\n", total > 0 ? 100 * list[i]->total_ns / total : 0,
                list[i]->total_ns / 1e6, list[i]->calls, list[i]->total_ns / 1e3 / (double)list[i]->calls, list[i]->name);
    free(list);
    pthread_mutex_unlock(&slot_lock);
}

static void *hook_alloc(int device_id, size_t nbytes) {
    const MLCCDeviceAPI *api = mlcc_device_api((DLDevice){kDLVulkan, device_id});
    return api ? api->alloc((DLDevice){kDLVulkan, device_id}, nbytes, 64) : NULL;
}

static void hook_free(int device_id, void *ptr) {
    const MLCCDeviceAPI *api = mlcc_device_api((DLDevice){kDLVulkan, device_id});
    if (api) api->free((DLDevice){kDLVulkan, device_id}, ptr);
}

static const mlcc_vulkan_library_hooks hooks = {vk_launch, hook_alloc, hook_free, mlcc_vulkan_shuffle_size};

const mlcc_vulkan_library_hooks *mlcc_vulkan_hooks(void) {
    return &hooks;
}
