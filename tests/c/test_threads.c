/*
 * Several C threads on one runtime at once: each starts, lists, looks up, stops (twice) and
 * frees its own proxies while the others do the same; then several threads race to start the
 * same name (exactly one wins, the others get NAME_IN_USE), stop one proxy through one handle
 * at once, and read one list snapshot at once; finally one thread stops a proxy while another
 * frees the runtime.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdlib.h>

#include "check.h"

#define REMOTE "http://127.0.0.1:9/mcp"
#define THREADS 8
#define ROUNDS 6

static toolhive_runtime *rt;
static pthread_barrier_t barrier;

struct worker {
  int id;
};

static void *churn(void *arg) {
  struct worker *w = (struct worker *)arg;
  toolhive_error *err = NULL;
  char json[256], name[64];
  int round;
  size_t i;

  pthread_barrier_wait(&barrier);
  for (round = 0; round < ROUNDS; round++) {
    toolhive_proxy *proxy = NULL, *again = NULL;
    toolhive_proxy_list *list = NULL;
    int seen = 0;
    snprintf(name, sizeof name, "t%d-r%d", w->id, round);
    snprintf(json, sizeof json, "{\"remote_url\":\"%s\",\"name\":\"%s\",\"stop_grace_ms\":500}", REMOTE, name);
    if (!CHECK_STATUS(toolhive_runtime_start(rt, json, &proxy, &err), TOOLHIVE_STATUS_OK, &err)) continue;
    CHECK(str_eq(toolhive_proxy_name(proxy), name));
    CHECK(str_eq(toolhive_proxy_state(proxy), "running"));

    CHECK_STATUS(toolhive_runtime_list(rt, &list, &err), TOOLHIVE_STATUS_OK, &err);
    for (i = 0; i < toolhive_proxy_list_len(list); i++) {
      const toolhive_proxy_info *info = toolhive_proxy_list_get(list, i);
      CHECK(toolhive_proxy_info_name(info) != NULL && toolhive_proxy_info_state(info) != NULL);
      if (str_eq(toolhive_proxy_info_name(info), name)) {
        seen = 1;
        CHECK(str_eq(toolhive_proxy_info_url(info), toolhive_proxy_url(proxy)));
      }
    }
    CHECK(seen);
    toolhive_proxy_list_free(list);

    CHECK_STATUS(toolhive_runtime_get_proxy(rt, name, &again, &err), TOOLHIVE_STATUS_OK, &err);
    CHECK_STATUS(toolhive_proxy_stop(proxy, &err), TOOLHIVE_STATUS_OK, &err);
    CHECK_STATUS(toolhive_proxy_stop(again, &err), TOOLHIVE_STATUS_OK, &err);
    CHECK(str_eq(toolhive_proxy_state(again), "stopped"));
    toolhive_proxy_free(again);
    toolhive_proxy_free(proxy);
  }
  return NULL;
}

static toolhive_proxy *_Atomic winner;
static atomic_int wins, name_in_use;

static void *race_start(void *arg) {
  toolhive_error *err = NULL;
  toolhive_proxy *proxy = NULL;
  toolhive_status status;
  (void)arg;
  pthread_barrier_wait(&barrier);
  status = toolhive_runtime_start(rt, "{\"remote_url\":\"" REMOTE "\",\"name\":\"contested\"}", &proxy, &err);
  if (status == TOOLHIVE_STATUS_OK) {
    atomic_fetch_add(&wins, 1);
    atomic_store(&winner, proxy);
  } else if (status == TOOLHIVE_STATUS_NAME_IN_USE && str_eq(toolhive_error_field(err), "name")) {
    atomic_fetch_add(&name_in_use, 1);
  } else {
    CHECK_STATUS(status, TOOLHIVE_STATUS_OK, &err);
  }
  toolhive_error_free(err);
  return NULL;
}

static void *race_stop(void *arg) {
  toolhive_error *err = NULL;
  (void)arg;
  pthread_barrier_wait(&barrier);
  CHECK_STATUS(toolhive_proxy_stop(atomic_load(&winner), &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(str_eq(toolhive_proxy_state(atomic_load(&winner)), "stopped"));
  return NULL;
}

static toolhive_proxy_list *shared_list;

static void *read_list(void *arg) {
  size_t i, n;
  (void)arg;
  pthread_barrier_wait(&barrier);
  n = toolhive_proxy_list_len(shared_list);
  CHECK(n == THREADS * ROUNDS + 1);
  for (i = 0; i < n; i++) {
    CHECK(str_eq(toolhive_proxy_info_state(toolhive_proxy_list_get(shared_list, i)), "stopped"));
  }
  return NULL;
}

static void run_all(void *(*fn)(void *), struct worker *workers) {
  pthread_t threads[THREADS];
  int i;
  pthread_barrier_init(&barrier, NULL, THREADS);
  for (i = 0; i < THREADS; i++) pthread_create(&threads[i], NULL, fn, workers ? &workers[i] : NULL);
  for (i = 0; i < THREADS; i++) pthread_join(threads[i], NULL);
  pthread_barrier_destroy(&barrier);
}

static toolhive_proxy *last;

static void *stop_last(void *arg) {
  toolhive_error *err = NULL;
  (void)arg;
  pthread_barrier_wait(&barrier);
  CHECK_STATUS(toolhive_proxy_stop(last, &err), TOOLHIVE_STATUS_OK, &err);
  return NULL;
}

int main(void) {
  struct worker workers[THREADS];
  toolhive_error *err = NULL;
  toolhive_runtime_options *opts = toolhive_runtime_options_new();
  pthread_t stopper;
  int i;

  CHECK_STATUS(toolhive_runtime_options_set_worker_threads(opts, 2, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK_STATUS(toolhive_runtime_new(opts, &rt, &err), TOOLHIVE_STATUS_OK, &err);
  toolhive_runtime_options_free(opts);
  if (!rt) return check_summary("test_threads");

  for (i = 0; i < THREADS; i++) workers[i].id = i;
  run_all(churn, workers);

  run_all(race_start, NULL);
  CHECK(atomic_load(&wins) == 1);
  CHECK(atomic_load(&name_in_use) == THREADS - 1);
  if (atomic_load(&winner) != NULL) {
    run_all(race_stop, NULL);
    toolhive_proxy_free(atomic_load(&winner));
  }

  CHECK_STATUS(toolhive_runtime_list(rt, &shared_list, &err), TOOLHIVE_STATUS_OK, &err);
  run_all(read_list, NULL);
  toolhive_proxy_list_free(shared_list);

  /* A stop on another thread racing with the runtime's free: both finish, nothing breaks. */
  CHECK_STATUS(toolhive_runtime_start(rt, "{\"remote_url\":\"" REMOTE "\",\"name\":\"last\"}", &last, &err),
               TOOLHIVE_STATUS_OK, &err);
  pthread_barrier_init(&barrier, NULL, 2);
  pthread_create(&stopper, NULL, stop_last, NULL);
  pthread_barrier_wait(&barrier);
  toolhive_runtime_free(rt);
  pthread_join(stopper, NULL);
  pthread_barrier_destroy(&barrier);
  CHECK(str_eq(toolhive_proxy_state(last), "stopped"));
  toolhive_proxy_free(last);
  return check_summary("test_threads");
}
