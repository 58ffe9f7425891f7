/* cmd_cache.c - `mlcc cache list|rm|dir`: the downloaded models under MLCC_HOME/hub. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "hub/hub.h"
#include "hub/progress.h"
#include "support/error.h"
#include "support/file.h"

static void usage(FILE *out) {
    fprintf(out, "usage: mlcc cache list          the cached models: repo, revisions, commit, "
                 "files, size, path\n"
                 "       mlcc cache rm org/repo    remove one repo (every revision) from the "
                 "cache\n"
                 "       mlcc cache dir            print the hub cache folder "
                 "(MLCC_HOME/hub)\n");
}

/* The rest of MLCC_HOME (converted weights, compiled libraries...): one line per folder. */
static void list_other_caches(void) {
    char *home = mlcc_home_dir();
    DIR *d = opendir(home);
    int header = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "hub") == 0) continue;
        char *path = mlcc_path_join(home, e->d_name), size[32];
        int files;
        int64_t bytes;
        mlcc_hub_disk_usage(path, &files, &bytes);
        mlcc_format_bytes(bytes, size, sizeof size);
        if (!header++) printf("other caches in %s:\n", home);
        printf("  %-20s %6d files %10s\n", e->d_name, files, size);
        free(path);
    }
    if (d) closedir(d);
    free(home);
}

static int list(void) {
    mlcc_hub_cached *items;
    size_t n;
    char *dir = mlcc_hub_cache_dir();
    mlcc_hub_cache_list(&items, &n);
    if (n == 0) {
        printf("no models in the cache (%s)\n", dir);
        free(dir);
        list_other_caches();
        return 0;
    }
    int64_t total = 0;
    printf("%-40s %-12s %-12s %5s %10s  %s\n", "REPO", "REVISIONS", "COMMIT", "FILES", "SIZE",
           "PATH");
    for (size_t i = 0; i < n; i++) {
        char size[32];
        mlcc_format_bytes(items[i].bytes, size, sizeof size);
        printf("%-40s %-12s %-12.12s %5d %10s  %s\n", items[i].repo,
               items[i].refs[0] ? items[i].refs : "-", items[i].commit, items[i].files, size,
               items[i].path);
        total += items[i].bytes;
    }
    char size[32];
    mlcc_format_bytes(total, size, sizeof size);
    printf("%zu snapshot%s, %s in %s\n", n, n == 1 ? "" : "s", size, dir);
    mlcc_hub_cache_list_free(items, n);
    free(dir);
    list_other_caches();
    return 0;
}

int cmd_cache(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "list") == 0 && argc == 2) return list();
    if (strcmp(argv[1], "dir") == 0 && argc == 2) {
        char *dir = mlcc_hub_cache_dir();
        printf("%s\n", dir);
        free(dir);
        return 0;
    }
    if (strcmp(argv[1], "rm") == 0 && argc >= 3) {
        int rc = 0;
        for (int i = 2; i < argc; i++) {
            if (mlcc_hub_cache_remove(argv[i]) != 0) {
                fprintf(stderr, "mlcc cache rm: %s\n", mlcc_last_error());
                rc = 1;
            } else {
                printf("removed %s\n", argv[i]);
            }
        }
        return rc;
    }
    usage(stderr);
    return 2;
}
