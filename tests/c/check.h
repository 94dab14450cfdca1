/* Minimal test helpers for the C tests: CHECK counts, prints failures with file:line, and
 * check_summary() prints "<name>: N passed, N failed" and gives the exit code. Thread-safe. */
#ifndef TOOLHIVE_TEST_CHECK_H
#define TOOLHIVE_TEST_CHECK_H

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "toolhive.h"

static atomic_int check_passed;
static atomic_int check_failed;

#define CHECK(cond)                                                                  \
  do {                                                                               \
    if (cond) {                                                                      \
      atomic_fetch_add(&check_passed, 1);                                            \
    } else {                                                                         \
      atomic_fetch_add(&check_failed, 1);                                            \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);       \
    }                                                                                \
  } while (0)

/* Two C strings are equal (NULL only equals NULL). */
static inline int str_eq(const char *a, const char *b) {
  return (a == NULL || b == NULL) ? a == b : strcmp(a, b) == 0;
}

/* `s` is not NULL and contains `part`. */
static inline int str_has(const char *s, const char *part) {
  return s != NULL && strstr(s, part) != NULL;
}

/* `s` is not NULL and starts with `prefix`. */
static inline int str_starts(const char *s, const char *prefix) {
  return s != NULL && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Check that `status` is `want`; on mismatch print the error's message. Frees `*err` and
 * sets it to NULL either way, unless `keep` is set (then the caller inspects and frees it). */
#define CHECK_STATUS(status, want, errp) check_status_at(__FILE__, __LINE__, (status), (want), (errp), 0)
#define CHECK_STATUS_KEEP(status, want, errp) check_status_at(__FILE__, __LINE__, (status), (want), (errp), 1)

static inline int check_status_at(const char *file, int line, toolhive_status status,
                                  toolhive_status want, toolhive_error **err, int keep) {
  int ok = status == want;
  if (ok) {
    atomic_fetch_add(&check_passed, 1);
  } else {
    atomic_fetch_add(&check_failed, 1);
    fprintf(stderr, "%s:%d: status %s (%d), want %s (%d): %s\n", file, line,
            toolhive_status_str((int)status), (int)status, toolhive_status_str((int)want), (int)want,
            (err && *err) ? toolhive_error_message(*err) : "(no error object)");
  }
  if (err && *err && !keep) {
    toolhive_error_free(*err);
    *err = NULL;
  }
  return ok;
}

static inline int check_summary(const char *name) {
  int passed = atomic_load(&check_passed);
  int failed = atomic_load(&check_failed);
  printf("%s: %d passed, %d failed\n", name, passed, failed);
  fflush(stdout);
  return failed == 0 && passed > 0 ? 0 : 1;
}

#endif
