/* golden.h - comparing text with a golden file in tests/unit/golden/ (found through
 * $MLCC_SOURCE_DIR, else beside the test source). MLCC_UPDATE_GOLDEN=1 rewrites the file
 * instead; review the diff before committing it. A mismatch reports the first differing line. */
#ifndef MLCC_TEST_GOLDEN_H
#define MLCC_TEST_GOLDEN_H

/* Records one passed or failed check. */
#define CHECK_GOLDEN(name, text) check_golden_at(__FILE__, name, text)
void check_golden_at(const char *source_file, const char *name, const char *text);

#endif
