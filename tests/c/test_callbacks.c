/*
 * Log and event callbacks: what they receive, their userdata destructors, and reentrancy:
 * blocking functions called from inside a callback return TOOLHIVE_STATUS_IN_CALLBACK (no
 * deadlock), non-blocking ones work, and toolhive_runtime_free from inside a callback
 * finishes on a background thread.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "check.h"

#define REMOTE "http://127.0.0.1:9/mcp"

static void sleep_ms(long ms) {
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (ms % 1000) * 1000000L;
  nanosleep(&ts, NULL);
}

/* Wait up to `ms` for `*flag` to become non-zero. */
static int wait_for(atomic_int *flag, long ms) {
  for (; ms > 0 && !atomic_load(flag); ms -= 10) sleep_ms(10);
  return atomic_load(flag);
}

/* ---------------------------------------------------------------------------------------- */
/* log callback                                                                             */
/* ---------------------------------------------------------------------------------------- */

struct log_state {
  atomic_int records;
  atomic_int saw_start_line;    /* "proxying ..." of proxy "cb-test", level info, proxy named */
  atomic_int saw_debug;         /* a debug record while the level was info */
  atomic_int saw_quiet;         /* the start line of "cb-quiet" (logged while the level was error) */
  atomic_int saw_loud;          /* the start line of "cb-loud" */
  atomic_int blocking_refused;  /* toolhive_runtime_start inside the callback: IN_CALLBACK */
  atomic_int list_worked;       /* toolhive_runtime_list inside the callback: OK */
  atomic_int freed;             /* the userdata destructor ran */
  const toolhive_runtime *rt;
};

static struct log_state log_state;

static void on_log(void *userdata, const toolhive_log_record *record) {
  struct log_state *state = (struct log_state *)userdata;
  const char *message = toolhive_log_record_message(record);
  atomic_fetch_add(&state->records, 1);
  if (toolhive_log_record_level(record) == TOOLHIVE_LOG_LEVEL_DEBUG) atomic_store(&state->saw_debug, 1);
  if (str_has(message, "proxying ") && str_eq(toolhive_log_record_proxy(record), "cb-quiet")) atomic_store(&state->saw_quiet, 1);
  if (str_has(message, "proxying ") && str_eq(toolhive_log_record_proxy(record), "cb-loud")) atomic_store(&state->saw_loud, 1);
  if (str_has(message, "proxying " REMOTE) && str_eq(toolhive_log_record_proxy(record), "cb-test") &&
      toolhive_log_record_level(record) == TOOLHIVE_LOG_LEVEL_INFO && toolhive_log_record_target(record) != NULL) {
    toolhive_error *err = NULL;
    toolhive_proxy *proxy = NULL;
    toolhive_proxy_list *list = NULL;
    /* This runs on the library's log thread: a blocking call must be refused, not deadlock. */
    if (toolhive_runtime_start(state->rt, "{\"remote_url\":\"" REMOTE "\",\"name\":\"nested\"}", &proxy, &err) ==
            TOOLHIVE_STATUS_IN_CALLBACK &&
        proxy == NULL && toolhive_error_code(err) == TOOLHIVE_STATUS_IN_CALLBACK &&
        str_has(toolhive_error_message(err), "callback")) {
      atomic_store(&state->blocking_refused, 1);
    }
    toolhive_error_free(err);
    if (toolhive_runtime_list(state->rt, &list, NULL) == TOOLHIVE_STATUS_OK) {
      atomic_store(&state->list_worked, 1);
      toolhive_proxy_list_free(list);
    }
    atomic_store(&state->saw_start_line, 1); /* last: the main thread checks the others then */
  }
}

static void free_log_state(void *userdata) {
  atomic_store(&((struct log_state *)userdata)->freed, 1);
}

/* ---------------------------------------------------------------------------------------- */
/* event callback                                                                           */
/* ---------------------------------------------------------------------------------------- */

struct event_state {
  pthread_mutex_t lock;
  char transitions[512];        /* "starting,running,stopping,stopped," for proxy "cb-test" */
  atomic_int events;
  atomic_int state_events;
  atomic_int bad_event;         /* an accessor returned something unexpected */
  atomic_int stop_refused;      /* toolhive_proxy_stop inside: IN_CALLBACK */
  atomic_int set_refused;       /* set_event_callback and runtime_new inside: IN_CALLBACK */
  atomic_int logs_worked;       /* toolhive_proxy_logs inside: OK */
  atomic_int freed;
  const toolhive_runtime *rt;
  toolhive_proxy *_Atomic proxy;
};

static void on_event(void *userdata, const toolhive_event *event) {
  struct event_state *state = (struct event_state *)userdata;
  const char *to = toolhive_event_to_state(event);
  toolhive_proxy *proxy = atomic_load(&state->proxy);
  atomic_fetch_add(&state->events, 1);
  /* Every event: a type, a proxy, JSON naming both; typed fields by type. */
  if (toolhive_event_type(event) == NULL || toolhive_event_proxy(event) == NULL ||
      !str_has(toolhive_event_json(event), toolhive_event_type(event)) ||
      !str_has(toolhive_event_json(event), toolhive_event_proxy(event))) {
    atomic_store(&state->bad_event, 1);
  }
  if (str_eq(toolhive_event_type(event), "state_changed")) {
    atomic_fetch_add(&state->state_events, 1);
    if (toolhive_event_from_state(event) == NULL || to == NULL || toolhive_event_url(event) != NULL ||
        toolhive_event_auth_state(event) != NULL) {
      atomic_store(&state->bad_event, 1);
    }
  } else if (str_eq(toolhive_event_type(event), "auth_state_changed")) {
    if (toolhive_event_auth_state(event) == NULL || to != NULL) atomic_store(&state->bad_event, 1);
  } else if (str_eq(toolhive_event_type(event), "authorization_required")) {
    if (toolhive_event_url(event) == NULL || to != NULL) atomic_store(&state->bad_event, 1);
  }
  if (str_eq(toolhive_event_proxy(event), "cb-test")) {
    pthread_mutex_lock(&state->lock);
    strncat(state->transitions, to, sizeof state->transitions - strlen(state->transitions) - 2);
    strcat(state->transitions, ",");
    pthread_mutex_unlock(&state->lock);
  }
  if (proxy != NULL && str_eq(to, "running")) {
    toolhive_error *err = NULL;
    toolhive_log_lines *lines = NULL;
    if (toolhive_proxy_stop(proxy, &err) == TOOLHIVE_STATUS_IN_CALLBACK &&
        toolhive_error_code(err) == TOOLHIVE_STATUS_IN_CALLBACK) {
      atomic_store(&state->stop_refused, 1);
    }
    toolhive_error_free(err);
    if (toolhive_runtime_set_event_callback(state->rt, NULL, NULL, NULL, NULL) == TOOLHIVE_STATUS_IN_CALLBACK) {
      toolhive_runtime *nested = NULL;
      if (toolhive_runtime_new(NULL, &nested, NULL) == TOOLHIVE_STATUS_IN_CALLBACK && nested == NULL) {
        atomic_store(&state->set_refused, 1);
      }
    }
    if (toolhive_proxy_logs(proxy, &lines, NULL) == TOOLHIVE_STATUS_OK) {
      atomic_store(&state->logs_worked, 1);
      toolhive_log_lines_free(lines);
    }
  }
}

static void free_event_state(void *userdata) {
  atomic_store(&((struct event_state *)userdata)->freed, 1);
}

static void test_log_and_event_callbacks(void) {
  static struct event_state events;
  toolhive_error *err = NULL;
  toolhive_runtime *rt = NULL;
  toolhive_proxy *proxy = NULL;

  pthread_mutex_init(&events.lock, NULL);

  /* A bad level is refused and the userdata stays the caller's. */
  CHECK_STATUS_KEEP(toolhive_set_log_callback(on_log, 99, &log_state, free_log_state, &err),
                    TOOLHIVE_STATUS_INVALID_ARGUMENT, &err);
  CHECK(str_eq(toolhive_error_field(err), "min_level"));
  toolhive_error_free(err);
  err = NULL;
  CHECK(!atomic_load(&log_state.freed));
  CHECK_STATUS(toolhive_set_log_callback(on_log, TOOLHIVE_LOG_LEVEL_INFO, &log_state, free_log_state, &err),
               TOOLHIVE_STATUS_OK, &err);
  CHECK_STATUS(toolhive_set_log_level(7, &err), TOOLHIVE_STATUS_INVALID_ARGUMENT, &err);

  CHECK_STATUS(toolhive_runtime_new(NULL, &rt, &err), TOOLHIVE_STATUS_OK, &err);
  log_state.rt = rt;
  events.rt = rt;
  CHECK_STATUS(toolhive_runtime_set_event_callback(rt, on_event, &events, free_event_state, &err), TOOLHIVE_STATUS_OK,
               &err);

  CHECK_STATUS(toolhive_runtime_start(rt, "{\"remote_url\":\"" REMOTE "\",\"name\":\"cb-test\"}", &proxy, &err),
               TOOLHIVE_STATUS_OK, &err);
  /* Log records arrive asynchronously, on the log thread. */
  CHECK(wait_for(&log_state.saw_start_line, 10000));
  CHECK(atomic_load(&log_state.blocking_refused));
  CHECK(atomic_load(&log_state.list_worked));
  CHECK(!atomic_load(&log_state.saw_debug));
  CHECK(atomic_load(&log_state.records) >= 1);

  /* A second proxy whose "running" event exercises reentrancy in the event callback. */
  {
    toolhive_proxy *second = NULL, *third = NULL;
    CHECK_STATUS(toolhive_runtime_start(rt, "{\"remote_url\":\"" REMOTE "\",\"name\":\"cb-second\"}", &second, &err),
                 TOOLHIVE_STATUS_OK, &err);
    /* Events are asynchronous: the callback sees this handle from the next event on. */
    atomic_store(&events.proxy, second);
    CHECK_STATUS(toolhive_proxy_stop(second, &err), TOOLHIVE_STATUS_OK, &err);
    CHECK_STATUS(toolhive_runtime_start(rt, "{\"remote_url\":\"" REMOTE "\",\"name\":\"cb-second\"}", &third, &err),
                 TOOLHIVE_STATUS_OK, &err);
    CHECK(wait_for(&events.logs_worked, 10000));
    CHECK(atomic_load(&events.stop_refused));
    CHECK(atomic_load(&events.set_refused));
    atomic_store(&events.proxy, NULL);
    toolhive_proxy_free(second);
    toolhive_proxy_free(third);
  }

  /* The level filter: at "error" the start line of cb-quiet is not delivered; records arrive in
   * order, so once cb-loud's (logged later, at "info") is there, cb-quiet's would have been. */
  {
    toolhive_proxy *quiet = NULL, *loud = NULL;
    CHECK_STATUS(toolhive_set_log_level(TOOLHIVE_LOG_LEVEL_ERROR, &err), TOOLHIVE_STATUS_OK, &err);
    CHECK_STATUS(toolhive_runtime_start(rt, "{\"remote_url\":\"" REMOTE "\",\"name\":\"cb-quiet\"}", &quiet, &err),
                 TOOLHIVE_STATUS_OK, &err);
    CHECK_STATUS(toolhive_set_log_level(TOOLHIVE_LOG_LEVEL_INFO, &err), TOOLHIVE_STATUS_OK, &err);
    CHECK_STATUS(toolhive_runtime_start(rt, "{\"remote_url\":\"" REMOTE "\",\"name\":\"cb-loud\"}", &loud, &err),
                 TOOLHIVE_STATUS_OK, &err);
    CHECK(wait_for(&log_state.saw_loud, 10000));
    CHECK(!atomic_load(&log_state.saw_quiet));
    toolhive_proxy_free(quiet);
    toolhive_proxy_free(loud);
  }
  CHECK_STATUS(toolhive_proxy_stop(proxy, &err), TOOLHIVE_STATUS_OK, &err);

  /* Freeing the runtime delivers what is pending, then releases the event userdata. */
  toolhive_runtime_free(rt);
  CHECK(atomic_load(&events.freed));
  CHECK(!atomic_load(&events.bad_event));
  pthread_mutex_lock(&events.lock);
  if (!str_eq(events.transitions, "starting,running,stopping,stopped,")) {
    fprintf(stderr, "  transitions of cb-test: %s\n", events.transitions);
  }
  CHECK(str_eq(events.transitions, "starting,running,stopping,stopped,"));
  pthread_mutex_unlock(&events.lock);
  CHECK(atomic_load(&events.state_events) >= 8);
  toolhive_proxy_free(proxy);

  /* Removing the log callback releases its userdata; nothing is delivered afterwards. */
  CHECK(!atomic_load(&log_state.freed));
  CHECK_STATUS(toolhive_set_log_callback(NULL, TOOLHIVE_LOG_LEVEL_INFO, NULL, NULL, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(atomic_load(&log_state.freed));
  pthread_mutex_destroy(&events.lock);
}

/* ---------------------------------------------------------------------------------------- */
/* freeing a runtime from inside its own event callback                                     */
/* ---------------------------------------------------------------------------------------- */

struct free_state {
  toolhive_runtime *_Atomic rt; /* set to NULL by the callback that frees it */
  atomic_int armed;
  atomic_int freed_in_callback;
  atomic_int userdata_freed;
};

static void free_on_stopping(void *userdata, const toolhive_event *event) {
  struct free_state *state = (struct free_state *)userdata;
  if (atomic_load(&state->armed) && str_eq(toolhive_event_to_state(event), "stopping")) {
    toolhive_runtime *rt = atomic_exchange(&state->rt, NULL);
    if (rt != NULL) {
      toolhive_runtime_free(rt); /* returns at once; the shutdown finishes on another thread */
      atomic_store(&state->freed_in_callback, 1);
    }
  }
}

static void free_free_state(void *userdata) {
  atomic_store(&((struct free_state *)userdata)->userdata_freed, 1);
}

static void test_free_inside_callback(void) {
  static struct free_state state;
  toolhive_error *err = NULL;
  toolhive_runtime *rt = NULL;
  toolhive_proxy *proxy = NULL;

  CHECK_STATUS(toolhive_runtime_new(NULL, &rt, &err), TOOLHIVE_STATUS_OK, &err);
  atomic_store(&state.rt, rt);
  CHECK_STATUS(toolhive_runtime_set_event_callback(rt, free_on_stopping, &state, free_free_state, &err),
               TOOLHIVE_STATUS_OK, &err);
  CHECK_STATUS(toolhive_runtime_start(rt, "{\"remote_url\":\"" REMOTE "\",\"name\":\"freed-inside\"}", &proxy, &err),
               TOOLHIVE_STATUS_OK, &err);
  /* From here on the main thread uses only the proxy handle, never `rt` (the callback frees it). */
  atomic_store(&state.armed, 1);
  CHECK_STATUS(toolhive_proxy_stop(proxy, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(wait_for(&state.freed_in_callback, 10000));
  /* The background shutdown ends by releasing the callback's userdata. */
  CHECK(wait_for(&state.userdata_freed, 20000));
  CHECK(str_eq(toolhive_proxy_state(proxy), "stopped"));
  CHECK_STATUS(toolhive_proxy_stop(proxy, &err), TOOLHIVE_STATUS_OK, &err);
  toolhive_proxy_free(proxy);
}

int main(void) {
  test_log_and_event_callbacks();
  test_free_inside_callback();
  return check_summary("test_callbacks");
}
