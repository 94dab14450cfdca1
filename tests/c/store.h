/* A host secret store for the C tests: a small key/value table behind a mutex, plugged in
 * through struct toolhive_secret_store. It records how it is called: on which thread, how
 * often, and whether the library freed its userdata. Keys "fail/..." make every operation on
 * them fail with a message. Include after check.h. */
#ifndef TOOLHIVE_TEST_STORE_H
#define TOOLHIVE_TEST_STORE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

#define STORE_SLOTS 64

struct host_store {
  pthread_mutex_t lock;
  int used[STORE_SLOTS];
  char keys[STORE_SLOTS][200];
  char values[STORE_SLOTS][512];
  pthread_t creator;          /* callbacks must never run on this thread */
  atomic_int on_creator;      /* ...count of those that did */
  atomic_int gets, sets, removes, lists;
  atomic_int freed;           /* how often userdata_free ran (once per accepted vtable) */
  atomic_int misuse_refused;  /* a reply function used in the wrong callback was refused */
  const toolhive_runtime *rt; /* for the re-entrancy check (key "reenter") */
  atomic_int reenter_refused; /* a blocking call from inside get returned IN_CALLBACK */
};

static inline void host_store_init(struct host_store *s) {
  memset(s, 0, sizeof *s);
  pthread_mutex_init(&s->lock, NULL);
  s->creator = pthread_self();
}

static inline void host_store_destroy(struct host_store *s) { pthread_mutex_destroy(&s->lock); }

static inline void host_store_note_thread(struct host_store *s) {
  if (pthread_equal(pthread_self(), s->creator)) atomic_fetch_add(&s->on_creator, 1);
}

/* Index of `key`, or -1 (call with the lock held). */
static inline int host_store_find(struct host_store *s, const char *key) {
  int i;
  for (i = 0; i < STORE_SLOTS; i++)
    if (s->used[i] && strcmp(s->keys[i], key) == 0) return i;
  return -1;
}

/* Put a value directly (the host's own secret UI would do this). */
static inline void host_store_put(struct host_store *s, const char *key, const char *value) {
  int i;
  pthread_mutex_lock(&s->lock);
  i = host_store_find(s, key);
  if (i < 0)
    for (i = 0; i < STORE_SLOTS && s->used[i]; i++) {
    }
  if (i < STORE_SLOTS) {
    s->used[i] = 1;
    snprintf(s->keys[i], sizeof s->keys[i], "%s", key);
    snprintf(s->values[i], sizeof s->values[i], "%s", value);
  }
  pthread_mutex_unlock(&s->lock);
}

/* 1 if `key` is in the store (copying its value to `value` when not NULL). */
static inline int host_store_has(struct host_store *s, const char *key, char *value, size_t size) {
  int i;
  pthread_mutex_lock(&s->lock);
  i = host_store_find(s, key);
  if (i >= 0 && value) snprintf(value, size, "%s", s->values[i]);
  pthread_mutex_unlock(&s->lock);
  return i >= 0;
}

/* How many keys start with `prefix`. */
static inline int host_store_count_prefix(struct host_store *s, const char *prefix) {
  int i, n = 0;
  pthread_mutex_lock(&s->lock);
  for (i = 0; i < STORE_SLOTS; i++)
    if (s->used[i] && strncmp(s->keys[i], prefix, strlen(prefix)) == 0) n++;
  pthread_mutex_unlock(&s->lock);
  return n;
}

static inline int host_store_fail(const char *key, toolhive_secret_reply *reply) {
  if (strncmp(key, "fail/", 5) != 0) return 0;
  toolhive_secret_reply_set_error(reply, "the test keychain is locked", NULL);
  return 1;
}

static inline int host_get(void *userdata, const char *key, toolhive_secret_reply *reply) {
  struct host_store *s = (struct host_store *)userdata;
  char value[512];
  toolhive_error *err = NULL;
  int found;
  atomic_fetch_add(&s->gets, 1);
  host_store_note_thread(s);
  if (host_store_fail(key, reply)) return 1;
  /* A reply function of another callback is refused. */
  if (toolhive_secret_reply_add_key(reply, "x", &err) == TOOLHIVE_STATUS_INVALID_ARGUMENT &&
      toolhive_error_code(err) == TOOLHIVE_STATUS_INVALID_ARGUMENT) {
    atomic_store(&s->misuse_refused, 1);
  }
  toolhive_error_free(err);
  err = NULL;
  /* Blocking functions are refused inside the store's callbacks. */
  if (strcmp(key, "reenter") == 0 && s->rt != NULL &&
      toolhive_runtime_set_secret(s->rt, "a", "b", &err) == TOOLHIVE_STATUS_IN_CALLBACK) {
    atomic_store(&s->reenter_refused, 1);
  }
  toolhive_error_free(err);
  found = host_store_has(s, key, value, sizeof value);
  /* The value goes through the reply (copied), our buffer stays ours. */
  if (found && toolhive_secret_reply_set_value(reply, value, NULL) != TOOLHIVE_STATUS_OK) return 1;
  memset(value, 0, sizeof value);
  return 0;
}

static inline int host_set(void *userdata, const char *key, const char *value, toolhive_secret_reply *reply) {
  struct host_store *s = (struct host_store *)userdata;
  atomic_fetch_add(&s->sets, 1);
  host_store_note_thread(s);
  if (host_store_fail(key, reply)) return 1;
  host_store_put(s, key, value);
  return 0;
}

static inline int host_remove(void *userdata, const char *key, toolhive_secret_reply *reply) {
  struct host_store *s = (struct host_store *)userdata;
  int i;
  atomic_fetch_add(&s->removes, 1);
  host_store_note_thread(s);
  if (host_store_fail(key, reply)) return 1;
  pthread_mutex_lock(&s->lock);
  i = host_store_find(s, key);
  if (i >= 0) s->used[i] = 0;
  pthread_mutex_unlock(&s->lock);
  return 0;
}

static inline int host_list(void *userdata, toolhive_secret_reply *reply) {
  struct host_store *s = (struct host_store *)userdata;
  int i, rc = 0;
  atomic_fetch_add(&s->lists, 1);
  host_store_note_thread(s);
  pthread_mutex_lock(&s->lock);
  for (i = 0; i < STORE_SLOTS; i++)
    if (s->used[i] && toolhive_secret_reply_add_key(reply, s->keys[i], NULL) != TOOLHIVE_STATUS_OK) rc = 1;
  pthread_mutex_unlock(&s->lock);
  return rc;
}

static inline void host_store_free(void *userdata) { atomic_fetch_add(&((struct host_store *)userdata)->freed, 1); }

/* The vtable for `s` (copied by toolhive_runtime_options_set_secret_store). */
static inline toolhive_secret_store host_store_vtable(struct host_store *s) {
  toolhive_secret_store vt;
  memset(&vt, 0, sizeof vt);
  vt.version = TOOLHIVE_SECRET_STORE_VERSION;
  vt.kind = "test-keychain";
  vt.userdata = s;
  vt.userdata_free = host_store_free;
  vt.get = host_get;
  vt.set = host_set;
  vt.remove = host_remove;
  vt.list = host_list;
  return vt;
}

#endif
