/* main.c - `mlcc`: dispatches to the subcommands listed below. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "support/log.h"

#ifndef MLCC_VERSION
#define MLCC_VERSION "0.1.0-dev"
#endif

static const mlcc_command commands[] = {
    {"chat", "chat with a model in the terminal (a folder, a GGUF file or HF://org/repo)", cmd_chat},
    {"serve", "an OpenAI-compatible HTTP server for a model (chat completions, completions, metrics)", cmd_serve},
    {"convert", "quantize a model's weights into mlcc's format (mlcc convert MODEL --quantization Q -o DIR)", cmd_convert},
    {"compile", "build a model's library ahead of time (mlcc compile MODEL -o LIB)", cmd_compile},
    {"show", "look inside a model library: kernels and origins, VM program, memory, metadata", cmd_show},
    {"show-demo", "print a TensorIR matmul before/after a schedule, compile, run, check it",
     cmd_show_demo},
    {"bench", "measure prefill/decode speed, latency and memory against this machine's floors; bench serve", cmd_bench},
    {"debug", "run a model on token ids: logits to safetensors, or greedy ids (parity checks)", cmd_debug},
    {"download", "fetch HF://org/repo[@rev][/file.gguf] into the cache and print its path", cmd_download},
    {"cache", "list or remove downloaded models (list | rm org/repo | dir)", cmd_cache},
    {"tokenize", "encode or decode JSON Lines with a tokenizer (tokenizer.json, model dir, GGUF)", cmd_tokenize},
    {"template", "render a chat template for a conversation (byte-exact with transformers)", cmd_template},
};

static void usage(FILE *out) {
    fprintf(out,
            "mlcc %s - run large language models anywhere, through machine-learning compilation\n"
            "\n"
            "usage: mlcc [--threads N] COMMAND [ARGS...]\n"
            "\n"
            "commands:\n",
            MLCC_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n`mlcc COMMAND --help` describes a command. Environment: MLCC_HOME (cache, "
                 "default ~/.cache/mlcc), MLCC_LOG (error|warn|info|debug), MLCC_NUM_THREADS.\n");
}

/* `--threads N` (or --threads=N) before the command: the threads kernels and the runtime pool
 * use, through MLCC_NUM_THREADS (read when they first run). Returns how many arguments it
 * took (0 when absent), -1 on a bad value. */
static int global_threads(int argc, char **argv) {
    if (argc < 2 || strncmp(argv[1], "--threads", 9) != 0 || (argv[1][9] != '\0' && argv[1][9] != '=')) return 0;
    const char *v = argv[1][9] == '=' ? argv[1] + 10 : argc > 2 ? argv[2] : "";
    char *end;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < 1 || n > 4096) {
        fprintf(stderr, "mlcc: --threads needs a count from 1 to 4096, got '%s'\n", v);
        return -1;
    }
    setenv("MLCC_NUM_THREADS", v, 1);
    return argv[1][9] == '=' ? 1 : 2;
}

/* Threads of other processes running now: /proc/stat's procs_running (this one included, so
 * minus one), averaged over five samples 10 ms apart; 0 when unreadable. Instantaneous, unlike
 * the load average, which a peer benchmarked just before (bench/compare_llamacpp.sh) inflates. */
static double others_running(void) {
    double sum = 0;
    for (int i = 0; i < 5; i++) {
        FILE *f = fopen("/proc/stat", "r");
        char line[256];
        long n = 1;
        while (f && fgets(line, sizeof line, f))
            if (sscanf(line, "procs_running %ld", &n) == 1) break;
        if (f) fclose(f);
        sum += n > 1 ? (double)(n - 1) : 0;
        if (i < 4) usleep(10000);
    }
    return sum / 5;
}

/* The kernels' OpenMP workers spin GOMP_SPINCOUNT times waiting for the next parallel loop, then
 * sleep. On a quiet machine libgomp's default let them fall asleep between the kernels of a
 * decode step (waking them cost ~0.2 ms per layer's attention: TinyLlama F16 on 2 threads
 * decoded 10.5 tok/s, 12.5 with 1M spins); on a busy one any spinning steals the CPU the
 * calling thread needs (1.0-1.4 tok/s spinning, 4.5 sleeping; BENCHMARKS.md). So the commands
 * that run models for speed pick at start, unless the user chose a policy: spin longer (tens
 * of ms at most) when the threads running elsewhere leave a CPU for each of ours, else sleep. */
static void tune_openmp_wait(const char *cmd) {
    if (strcmp(cmd, "chat") && strcmp(cmd, "serve") && strcmp(cmd, "bench")) return;
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    const char *env = getenv("MLCC_NUM_THREADS");
    long threads = env && atol(env) > 0 ? atol(env) : cpus;
    /* read when the first model library loads libgomp */
    double others = others_running();
    int spin = others + (double)threads <= (double)cpus + 0.5;
    if (spin) setenv("GOMP_SPINCOUNT", "1000000", 0);
    else setenv("OMP_WAIT_POLICY", "passive", 0);
    LOG_INFO("kernel threads %s (%.1f threads of other processes running, %ld CPUs, %ld threads)",
             spin ? "spin 1M times before sleeping" : "sleep when idle (OMP_WAIT_POLICY=passive)", others, cpus, threads);
}

int main(int argc, char **argv) {
    int took = global_threads(argc, argv);
    if (took < 0) return 2;
    argc -= took, argv += took;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return argc < 2 ? 2 : 0;
    }
    tune_openmp_wait(argv[1]);
    if (strcmp(argv[1], "--version") == 0) {
        printf("mlcc %s\n", MLCC_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "mlcc: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
