/* c_api_chat.c - the smallest use of mlcc's C API (include/mlcc/mlcc.h): load a model, stream
 * one chat completion to standard output, print the usage, and read the metrics.
 *
 *     build/c_api_chat MODEL "your message" [MAX_TOKENS [MAX_SEQ]]
 *
 * MODEL is a Hugging Face folder, a .gguf file or HF://org/repo. The callback runs on the
 * engine's thread; main waits for the final call on a condition variable. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mlcc/mlcc.h"

typedef struct reply {
    pthread_mutex_t lock;
    pthread_cond_t done_cond;
    int done, status;
} reply;

/* Each call brings one OpenAI chunk; print its text as it comes. */
static void on_chunk(void *user, const char *json, int status, int final) {
    reply *r = user;
    json_t *chunk = json_loads(json, 0, NULL);
    json_t *choice = json_array_get(json_object_get(chunk, "choices"), 0);
    const char *text = json_string_value(json_object_get(json_object_get(choice, "delta"), "content"));
    if (text) fputs(text, stdout);
    json_t *usage = json_object_get(chunk, "usage");
    if (json_is_object(usage))
        printf("\n[usage: %lld prompt + %lld completion tokens]\n",
               (long long)json_integer_value(json_object_get(usage, "prompt_tokens")),
               (long long)json_integer_value(json_object_get(usage, "completion_tokens")));
    if (status != 200) printf("\n[error %d: %s]\n", status, json);
    fflush(stdout);
    json_decref(chunk);
    if (final) {
        pthread_mutex_lock(&r->lock);
        r->done = 1;
        r->status = status;
        pthread_cond_signal(&r->done_cond);
        pthread_mutex_unlock(&r->lock);
    }
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL MESSAGE [MAX_TOKENS [MAX_SEQ]]\n", argv[0]);
        return 2;
    }
    char *error = NULL;
    char options[64];
    snprintf(options, sizeof options, "{\"max_seq\": %d}", argc > 4 ? atoi(argv[4]) : 2048);
    mlcc_llm *llm = mlcc_llm_create(argv[1], options, &error);
    if (!llm) {
        fprintf(stderr, "error: %s\n", error);
        mlcc_llm_free_string(error);
        return 1;
    }
    json_t *req = json_pack("{s:[{s:s,s:s}],s:i,s:b,s:{s:b}}", "messages", "role", "user", "content", argv[2],
                            "max_tokens", argc > 3 ? atoi(argv[3]) : 32, "stream", 1, "stream_options", "include_usage", 1);
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    reply r = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    int status = mlcc_llm_submit(llm, body, -1, MLCC_LLM_CHAT, on_chunk, &r, NULL, &error);
    free(body);
    if (status != 0) {
        fprintf(stderr, "refused (%d): %s\n", status, error);
        mlcc_llm_free_string(error);
        mlcc_llm_destroy(llm);
        return 1;
    }
    pthread_mutex_lock(&r.lock);
    while (!r.done) pthread_cond_wait(&r.done_cond, &r.lock);
    pthread_mutex_unlock(&r.lock);
    char *metrics = mlcc_llm_metrics(llm);
    json_t *m = json_loads(metrics, 0, NULL);
    printf("[metrics: %lld requests answered 200, %lld tokens generated]\n",
           (long long)json_integer_value(json_object_get(json_object_get(m, "requests"), "200")),
           (long long)json_integer_value(json_object_get(m, "completion_tokens")));
    json_decref(m);
    mlcc_llm_free_string(metrics);
    mlcc_llm_destroy(llm);
    return r.status == 200 ? 0 : 1;
}
