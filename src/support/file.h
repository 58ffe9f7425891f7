/* file.h - whole-file reads, atomic writes, directories, paths. */
#ifndef MLCC_SUPPORT_FILE_H
#define MLCC_SUPPORT_FILE_H

#include <stddef.h>

/* Reads a whole file into a NUL-terminated malloc'ed buffer (the NUL is not counted in *len).
 * NULL with an error naming the path on failure. */
char *mlcc_read_file(const char *path, size_t *len);
/* Writes through a temporary file in the same directory and renames it over path, so readers
 * see the old file or the whole new one, never a torn write. */
int mlcc_write_file_atomic(const char *path, const void *data, size_t len);
/* mkdir -p. */
int mlcc_mkdirs(const char *path);
/* rm -rf, for scratch folders and cache entries: removes path and, for a folder, everything
 * under it, depth first, never following a symbolic link (the link goes, what it points to
 * stays). A path that does not exist (ENOENT) is not an error. -1 at the first entry that cannot be
 * removed, with errno kept and the error "removing ENTRY: reason" naming it; what was removed
 * before it stays removed. */
int mlcc_remove_tree(const char *path);
/* The same as a clean-up after a failure: nothing is reported, and the error already recorded
 * (the failure that led here) stays the one the caller reports. */
void mlcc_remove_tree_quietly(const char *path);
int mlcc_file_exists(const char *path);
int mlcc_is_dir(const char *path);
/* malloc'ed "a/b"; b absolute wins. */
char *mlcc_path_join(const char *a, const char *b);
/* MLCC_HOME, else $XDG_CACHE_HOME/mlcc, else ~/.cache/mlcc (malloc'ed). */
char *mlcc_home_dir(void);

#endif
