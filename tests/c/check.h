/* check.h — the C unit tests' one assertion: CHECK(cond, printf-format, ...)
 * prints "ok   - ..." or "FAIL - file:line: ..." and counts; a test's main()
 * ends with `return failures ? 1 : 0;` (ctest reads the exit code). */
#ifndef MN_TEST_CHECK_H
#define MN_TEST_CHECK_H

#include <stdio.h>

static int failures, checks;

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        checks++;                                                              \
        if (cond) {                                                            \
            printf("ok   - ");                                                 \
        } else {                                                               \
            failures++;                                                        \
            printf("FAIL - %s:%d: ", __FILE__, __LINE__);                      \
        }                                                                      \
        printf(__VA_ARGS__);                                                   \
        printf("\n");                                                          \
    } while (0)

#endif
