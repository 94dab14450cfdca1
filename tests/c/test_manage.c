/*
 * Managing proxies across restarts and processes, from C: restart keeps the port, remove
 * deletes the saved config, the log and the proxy's secrets (checked through the host secret
 * store's callbacks), restore after a real crash (a child process serving a proxy is
 * SIGKILLed) and a restore that fails, corrupt and future state files reported with their path
 * while the other proxies still list, logs and log following (live, and from another process's
 * log file), stop and restart of a proxy served by another process, and NULL/UTF-8 safety of
 * every new function.
 *
 * `test_manage serve <state_dir> <name>` is the child: it serves one proxy from that state
 * directory, prints "port <n>", and exits once the proxy was stopped (from the parent, through
 * the state directory's control socket).
 */
#define _POSIX_C_SOURCE 200809L

#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "check.h"
#include "http.h"
#include "store.h"

extern char **environ;

/* Nothing listens on port 9 (discard): proxies start without contacting their remote. */
#define REMOTE "http://127.0.0.1:9/mcp"
/* A pid no process has (above any pid_max). */
#define DEAD_PID "2147483647"

static char state_dir[] = "/tmp/toolhive-c-manage-XXXXXX";
static const char *self_path;

static void sleep_ms(long ms) {
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (ms % 1000) * 1000000L;
  nanosleep(&ts, NULL);
}

static int wait_for(atomic_int *flag, long ms) {
  for (; ms > 0 && !atomic_load(flag); ms -= 20) sleep_ms(20);
  return atomic_load(flag);
}

static int health(uint16_t port) {
  char host[64];
  snprintf(host, sizeof host, "127.0.0.1:%u", port);
  return http_request(port, "GET", "/health", host, NULL, NULL, NULL, 0);
}

static int file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

static void state_path(char *out, size_t size, const char *sub, const char *name, const char *ext) {
  snprintf(out, size, "%s/%s/%s%s", state_dir, sub, name, ext);
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  if (f) {
    fputs(text, f);
    fclose(f);
  }
}

/* The whole file in `out` ("" when missing). */
static void read_file(const char *path, char *out, size_t size) {
  FILE *f = fopen(path, "r");
  size_t n = 0;
  if (f) {
    n = fread(out, 1, size - 1, f);
    fclose(f);
  }
  out[n] = '\0';
}

static uint16_t url_port(const char *url) {
  unsigned port = 0;
  if (url == NULL || sscanf(url, "http://127.0.0.1:%u/", &port) != 1) return 0;
  return (uint16_t)port;
}

/* ---------------------------------------------------------------------------------------- */
/* the child process                                                                        */
/* ---------------------------------------------------------------------------------------- */

static int serve_child(const char *dir, const char *name) {
  toolhive_error *err = NULL;
  toolhive_runtime *rt = NULL;
  toolhive_proxy *proxy = NULL;
  toolhive_runtime_options *opts = toolhive_runtime_options_new();
  char json[256];
  int waited = 0;
  toolhive_runtime_options_set_state_dir(opts, dir, NULL);
  toolhive_runtime_options_set_worker_threads(opts, 2, NULL);
  if (toolhive_runtime_new(opts, &rt, &err) != TOOLHIVE_STATUS_OK) {
    fprintf(stderr, "child: %s\n", toolhive_error_message(err));
    return 2;
  }
  toolhive_runtime_options_free(opts);
  snprintf(json, sizeof json, "{\"remote_url\":\"" REMOTE "\",\"name\":\"%s\"}", name);
  if (toolhive_runtime_start(rt, json, &proxy, &err) != TOOLHIVE_STATUS_OK) {
    fprintf(stderr, "child: %s\n", toolhive_error_message(err));
    return 2;
  }
  printf("port %u\n", toolhive_proxy_port(proxy));
  fflush(stdout);
  while (!str_eq(toolhive_proxy_state(proxy), "stopped") && waited < 120000) {
    sleep_ms(20);
    waited += 20;
  }
  toolhive_runtime_free(rt);
  toolhive_proxy_free(proxy);
  return waited < 120000 ? 0 : 3;
}

/* Start `self serve <state_dir> <name>`; returns its pid (0 on failure) and the port it
 * serves on. */
static pid_t spawn_child(const char *name, uint16_t *port) {
  int fds[2];
  pid_t pid = 0;
  char line[64] = "";
  size_t n = 0;
  unsigned p = 0;
  posix_spawn_file_actions_t actions;
  char *argv[] = {(char *)self_path, (char *)"serve", state_dir, (char *)name, NULL};
  if (pipe(fds) != 0) return 0;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  if (posix_spawn(&pid, self_path, &actions, NULL, argv, environ) != 0) pid = 0;
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  /* Read "port <n>\n" (the child needs a moment to start its runtime). */
  while (pid != 0 && n + 1 < sizeof line) {
    struct pollfd pfd;
    pfd.fd = fds[0];
    pfd.events = POLLIN;
    pfd.revents = 0;
    if (poll(&pfd, 1, 60000) <= 0 || read(fds[0], line + n, 1) != 1) break;
    if (line[n++] == '\n') break;
  }
  line[n] = '\0';
  close(fds[0]);
  if (sscanf(line, "port %u", &p) != 1) {
    fprintf(stderr, "child %s said: %s\n", name, line);
    return pid;
  }
  *port = (uint16_t)p;
  return pid;
}

/* ---------------------------------------------------------------------------------------- */
/* log following                                                                            */
/* ---------------------------------------------------------------------------------------- */

struct follow_state {
  pthread_mutex_t lock;
  char messages[2048];        /* messages received, one per line */
  const toolhive_runtime *rt;
  atomic_int lines;
  atomic_int saw_stopped;     /* a line "stopped" */
  atomic_int ended;           /* the last call, with a NULL line */
  atomic_int calls_after_end;
  atomic_int freed;           /* how often userdata_free ran */
  atomic_int blocking_refused;
  atomic_int list_worked;
  atomic_int level_ok;
};

static void follow_init(struct follow_state *f, const toolhive_runtime *rt) {
  memset(f, 0, sizeof *f);
  pthread_mutex_init(&f->lock, NULL);
  f->rt = rt;
}

static void on_line(void *userdata, const toolhive_log_line *line) {
  struct follow_state *f = (struct follow_state *)userdata;
  toolhive_error *err = NULL;
  toolhive_proxy_list *list = NULL;
  if (atomic_load(&f->ended)) atomic_fetch_add(&f->calls_after_end, 1);
  if (line == NULL) {
    atomic_store(&f->ended, 1);
    return;
  }
  pthread_mutex_lock(&f->lock);
  if (strlen(f->messages) + strlen(toolhive_log_line_message(line)) + 2 < sizeof f->messages) {
    strcat(f->messages, toolhive_log_line_message(line));
    strcat(f->messages, "\n");
  }
  pthread_mutex_unlock(&f->lock);
  if (toolhive_log_line_level(line) >= TOOLHIVE_LOG_LEVEL_INFO && toolhive_log_line_time_ms(line) > 1700000000000LL &&
      str_has(toolhive_log_line_text(line), toolhive_log_line_message(line)))
    atomic_store(&f->level_ok, 1);
  /* On a library thread: blocking calls are refused, non-blocking ones work. */
  if (toolhive_runtime_stop(f->rt, "anything", &err) == TOOLHIVE_STATUS_IN_CALLBACK) atomic_store(&f->blocking_refused, 1);
  toolhive_error_free(err);
  if (toolhive_runtime_list(f->rt, &list, NULL) == TOOLHIVE_STATUS_OK) atomic_store(&f->list_worked, 1);
  toolhive_proxy_list_free(list);
  if (str_eq(toolhive_log_line_message(line), "stopped")) atomic_store(&f->saw_stopped, 1);
  atomic_fetch_add(&f->lines, 1);
}

/* Frees its own follow (stored in `self`) from inside its callback, on the first line. */
struct self_freeing {
  toolhive_log_follow *_Atomic self;
  atomic_int freed_inside;
  atomic_int destroyed;
};

static void on_line_free_self(void *userdata, const toolhive_log_line *line) {
  struct self_freeing *s = (struct self_freeing *)userdata;
  toolhive_log_follow *self = atomic_exchange(&s->self, NULL);
  (void)line;
  if (self != NULL) {
    toolhive_log_follow_free(self); /* must not wait for this very thread */
    atomic_store(&s->freed_inside, 1);
  }
}

static void on_self_freeing_free(void *userdata) { atomic_fetch_add(&((struct self_freeing *)userdata)->destroyed, 1); }

static void on_follow_free(void *userdata) { atomic_fetch_add(&((struct follow_state *)userdata)->freed, 1); }

/* ---------------------------------------------------------------------------------------- */

static void test_null_and_utf8(const toolhive_runtime *rt) {
  toolhive_error *err = NULL;
  toolhive_proxy_info *info = NULL;
  toolhive_restore_results *results = NULL;
  toolhive_state_errors *errors = NULL;
  toolhive_log_lines *lines = NULL;
  toolhive_log_follow *follow = NULL;
  struct follow_state f;
  follow_init(&f, rt);

  CHECK_STATUS(toolhive_runtime_info(NULL, "x", &info, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK_STATUS_KEEP(toolhive_runtime_info(rt, NULL, &info, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK(str_eq(toolhive_error_field(err), "name"));
  toolhive_error_free(err);
  err = NULL;
  CHECK_STATUS(toolhive_runtime_info(rt, "x", NULL, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK_STATUS_KEEP(toolhive_runtime_info(rt, "bad\xc3", &info, &err), TOOLHIVE_STATUS_INVALID_UTF8, &err);
  CHECK(str_eq(toolhive_error_field(err), "name"));
  toolhive_error_free(err);
  err = NULL;
  CHECK_STATUS(toolhive_runtime_info(rt, "nope", &info, &err), TOOLHIVE_STATUS_NOT_FOUND, &err);
  CHECK(info == NULL);

  CHECK_STATUS(toolhive_runtime_stop(NULL, "x", &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK_STATUS(toolhive_runtime_stop(rt, NULL, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK_STATUS(toolhive_runtime_stop(rt, "\xff", &err), TOOLHIVE_STATUS_INVALID_UTF8, &err);
  CHECK_STATUS(toolhive_runtime_stop(rt, "nope", &err), TOOLHIVE_STATUS_NOT_FOUND, &err);
  CHECK_STATUS(toolhive_runtime_restart(NULL, "x", &info, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK_STATUS(toolhive_runtime_restart(rt, NULL, &info, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK_STATUS(toolhive_runtime_restart(rt, "\xff", &info, &err), TOOLHIVE_STATUS_INVALID_UTF8, &err);
  CHECK_STATUS(toolhive_runtime_restart(rt, "nope", &info, &err), TOOLHIVE_STATUS_NOT_FOUND, &err);
  CHECK_STATUS(toolhive_runtime_restart(rt, "nope", NULL, &err), TOOLHIVE_STATUS_NOT_FOUND, &err);
  CHECK(info == NULL);
  CHECK_STATUS(toolhive_runtime_remove(NULL, "x", &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK_STATUS(toolhive_runtime_remove(rt, NULL, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK_STATUS(toolhive_runtime_remove(rt, "\xe2\x82", &err), TOOLHIVE_STATUS_INVALID_UTF8, &err);
  CHECK_STATUS(toolhive_runtime_remove(rt, "nope", &err), TOOLHIVE_STATUS_NOT_FOUND, &err);
  CHECK_STATUS(toolhive_runtime_restore(NULL, &results, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK_STATUS(toolhive_runtime_restore(rt, NULL, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK(results == NULL);
  CHECK_STATUS(toolhive_runtime_state_errors(NULL, &errors, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK_STATUS(toolhive_runtime_state_errors(rt, NULL, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK(errors == NULL);
  CHECK_STATUS(toolhive_runtime_logs(NULL, "x", &lines, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK_STATUS(toolhive_runtime_logs(rt, NULL, &lines, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK_STATUS(toolhive_runtime_logs(rt, "x", NULL, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK_STATUS(toolhive_runtime_logs(rt, "\xff", &lines, &err), TOOLHIVE_STATUS_INVALID_UTF8, &err);
  CHECK_STATUS(toolhive_runtime_logs(rt, "nope", &lines, &err), TOOLHIVE_STATUS_NOT_FOUND, &err);
  CHECK(lines == NULL);
  CHECK_STATUS(toolhive_runtime_follow_logs(NULL, "x", on_line, &f, NULL, &follow, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK_STATUS(toolhive_runtime_follow_logs(rt, NULL, on_line, &f, NULL, &follow, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK_STATUS_KEEP(toolhive_runtime_follow_logs(rt, "x", NULL, &f, on_follow_free, &follow, &err),
                    TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK(str_eq(toolhive_error_field(err), "callback"));
  toolhive_error_free(err);
  err = NULL;
  CHECK_STATUS(toolhive_runtime_follow_logs(rt, "x", on_line, &f, NULL, NULL, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK_STATUS(toolhive_runtime_follow_logs(rt, "\xff", on_line, &f, NULL, &follow, &err), TOOLHIVE_STATUS_INVALID_UTF8, &err);
  CHECK_STATUS(toolhive_runtime_follow_logs(rt, "nope", on_line, &f, on_follow_free, &follow, &err), TOOLHIVE_STATUS_NOT_FOUND,
               &err);
  CHECK(follow == NULL);
  CHECK(atomic_load(&f.freed) == 0); /* failed: the caller keeps its userdata */
  CHECK_STATUS(toolhive_log_follow_cancel(NULL, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK_STATUS(toolhive_proxy_get_info(NULL, &info, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);

  /* Accessors and frees given NULL. */
  CHECK(toolhive_proxy_info_pid(NULL) == 0);
  CHECK(toolhive_proxy_info_stale(NULL) == false);
  CHECK(toolhive_proxy_info_auth_json(NULL) == NULL);
  CHECK(toolhive_restore_results_len(NULL) == 0);
  CHECK(toolhive_restore_results_get(NULL, 0) == NULL);
  CHECK(toolhive_restore_result_name(NULL) == NULL);
  CHECK(toolhive_restore_result_status(NULL) == TOOLHIVE_STATUS_NULL_ARGUMENT);
  CHECK(toolhive_restore_result_error(NULL) == NULL);
  CHECK(toolhive_restore_result_url(NULL) == NULL);
  CHECK(toolhive_state_errors_len(NULL) == 0);
  CHECK(toolhive_state_errors_get(NULL, 0) == NULL);
  CHECK(toolhive_state_error_path(NULL) == NULL);
  CHECK(toolhive_state_error_message(NULL) == NULL);
  toolhive_proxy_info_free(NULL);
  toolhive_restore_results_free(NULL);
  toolhive_state_errors_free(NULL);
  toolhive_log_follow_free(NULL);
  pthread_mutex_destroy(&f.lock);
}

/* Without a state directory: nothing to restore, no state errors; the by-name functions work
 * on the runtime's own proxies. */
static void test_without_state_dir(void) {
  toolhive_error *err = NULL;
  toolhive_runtime *rt = NULL;
  toolhive_proxy *proxy = NULL;
  toolhive_restore_results *results = NULL;
  toolhive_state_errors *errors = NULL;
  toolhive_proxy_info *info = NULL;
  uint16_t port;
  CHECK_STATUS(toolhive_runtime_new(NULL, &rt, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK_STATUS(toolhive_runtime_restore(rt, &results, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(toolhive_restore_results_len(results) == 0);
  CHECK(toolhive_restore_results_get(results, 0) == NULL);
  toolhive_restore_results_free(results);
  CHECK_STATUS(toolhive_runtime_state_errors(rt, &errors, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(toolhive_state_errors_len(errors) == 0);
  toolhive_state_errors_free(errors);
  CHECK_STATUS(toolhive_runtime_start(rt, "{\"remote_url\":\"" REMOTE "\",\"name\":\"mem\"}", &proxy, &err), TOOLHIVE_STATUS_OK,
               &err);
  port = toolhive_proxy_port(proxy);
  toolhive_proxy_free(proxy);
  proxy = NULL;
  CHECK_STATUS(toolhive_runtime_get_proxy(rt, "mem", &proxy, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK_STATUS(toolhive_runtime_stop(rt, "mem", &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(str_eq(toolhive_proxy_state(proxy), "stopped"));
  CHECK_STATUS(toolhive_runtime_restart(rt, "mem", &info, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(url_port(toolhive_proxy_info_url(info)) == port);
  CHECK(str_eq(toolhive_proxy_info_state(info), "running"));
  toolhive_proxy_info_free(info);
  CHECK(health(port) == 200);
  CHECK_STATUS(toolhive_runtime_remove(rt, "mem", &err), TOOLHIVE_STATUS_OK, &err);
  CHECK_STATUS(toolhive_runtime_info(rt, "mem", &info, &err), TOOLHIVE_STATUS_NOT_FOUND, &err);

  /* Freeing the runtime ends its follows: each gets its last call (NULL line), and the
   * follow handle stays valid until freed. */
  {
    struct follow_state f;
    toolhive_log_follow *follow = NULL;
    toolhive_proxy *kept = NULL;
    follow_init(&f, rt);
    CHECK_STATUS(toolhive_runtime_start(rt, "{\"remote_url\":\"" REMOTE "\",\"name\":\"kept\"}", &kept, &err),
                 TOOLHIVE_STATUS_OK, &err);
    CHECK_STATUS(toolhive_runtime_follow_logs(rt, "kept", on_line, &f, on_follow_free, &follow, &err), TOOLHIVE_STATUS_OK,
                 &err);
    toolhive_runtime_free(rt);
    rt = NULL;
    CHECK(wait_for(&f.ended, 30000));
    CHECK_STATUS(toolhive_log_follow_cancel(follow, &err), TOOLHIVE_STATUS_OK, &err); /* after the end: harmless */
    toolhive_log_follow_free(follow);
    CHECK(atomic_load(&f.freed) == 1);
    CHECK(atomic_load(&f.calls_after_end) == 0);
    toolhive_proxy_free(kept);
    pthread_mutex_destroy(&f.lock);
  }
  toolhive_runtime_free(rt);
  toolhive_proxy_free(proxy);
}

static void test_restart_keeps_port(const toolhive_runtime *rt) {
  toolhive_error *err = NULL;
  toolhive_proxy *proxy = NULL, *again = NULL;
  toolhive_proxy_info *info = NULL;
  uint16_t port;

  CHECK_STATUS(toolhive_runtime_start(rt, "{\"remote_url\":\"" REMOTE "\",\"name\":\"same-port\"}", &proxy, &err),
               TOOLHIVE_STATUS_OK, &err);
  if (!proxy) return;
  port = toolhive_proxy_port(proxy);
  CHECK_STATUS(toolhive_runtime_restart(rt, "same-port", &info, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(url_port(toolhive_proxy_info_url(info)) == port);
  CHECK(str_eq(toolhive_proxy_info_name(info), "same-port"));
  CHECK(str_eq(toolhive_proxy_info_state(info), "running"));
  CHECK(toolhive_proxy_info_pid(info) == (uint32_t)getpid());
  CHECK(!toolhive_proxy_info_stale(info));
  CHECK(str_has(toolhive_proxy_info_json(info), "\"stale\":false"));
  toolhive_proxy_info_free(info);
  info = NULL;
  /* The old handle refers to the stopped instance; a new one to the running proxy. */
  CHECK(str_eq(toolhive_proxy_state(proxy), "stopped"));
  CHECK_STATUS(toolhive_runtime_get_proxy(rt, "same-port", &again, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(toolhive_proxy_port(again) == port);
  CHECK(str_eq(toolhive_proxy_state(again), "running"));
  CHECK(health(port) == 200);

  /* Stopped by name (the saved config stays), restarted on the same port. */
  CHECK_STATUS(toolhive_runtime_stop(rt, "same-port", &err), TOOLHIVE_STATUS_OK, &err);
  CHECK_STATUS(toolhive_runtime_stop(rt, "same-port", &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(health(port) == -1);
  CHECK_STATUS(toolhive_runtime_info(rt, "same-port", &info, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(str_eq(toolhive_proxy_info_state(info), "stopped"));
  CHECK(toolhive_proxy_info_pid(info) == 0);
  CHECK(str_has(toolhive_proxy_info_json(info), "\"pid\":null"));
  toolhive_proxy_info_free(info);
  info = NULL;
  CHECK_STATUS(toolhive_runtime_restart(rt, "same-port", NULL, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(health(port) == 200);
  toolhive_proxy_free(again);
  toolhive_proxy_free(proxy);
}

static void test_remove(const toolhive_runtime *rt, struct host_store *store) {
  toolhive_error *err = NULL;
  toolhive_proxy *proxy = NULL;
  toolhive_proxy_info *info = NULL;
  char path[512], log_path[512], saved[8192];
  uint16_t port;

  host_store_put(store, "team/shared", "user-secret");
  CHECK_STATUS(toolhive_runtime_start(rt,
                                      "{\"remote_url\":\"" REMOTE "\",\"name\":\"rm-me\","
                                      "\"bearer_token\":{\"value\":\"tok-VALUE\"},"
                                      "\"headers\":{\"X-Api-Key\":{\"value\":\"hdr-VALUE\"},"
                                      "\"X-Team\":{\"secret\":\"team/shared\"}}}",
                                      &proxy, &err),
               TOOLHIVE_STATUS_OK, &err);
  if (!proxy) return;
  port = toolhive_proxy_port(proxy);
  /* Saved: the config refers to the host store, which holds the values under stable keys. */
  state_path(path, sizeof path, "proxies", "rm-me", ".json");
  state_path(log_path, sizeof log_path, "logs", "rm-me", ".log");
  read_file(path, saved, sizeof saved);
  CHECK(str_has(saved, "\"proxy/rm-me/bearer_token\""));
  CHECK(!str_has(saved, "VALUE"));
  CHECK(file_exists(log_path));
  CHECK(host_store_has(store, "proxy/rm-me/bearer_token", saved, sizeof saved) && str_eq(saved, "tok-VALUE"));
  CHECK(host_store_has(store, "proxy/rm-me/header/x-api-key", NULL, 0));
  CHECK(host_store_count_prefix(store, "proxy/rm-me/") == 2);

  CHECK_STATUS(toolhive_runtime_remove(rt, "rm-me", &err), TOOLHIVE_STATUS_OK, &err);
  /* Gone: state file, log, every secret of the proxy (the user's own secret stays). */
  CHECK(!file_exists(path));
  CHECK(!file_exists(log_path));
  CHECK(host_store_count_prefix(store, "proxy/rm-me/") == 0);
  CHECK(host_store_has(store, "team/shared", NULL, 0));
  CHECK(atomic_load(&store->lists) >= 1);
  CHECK(health(port) == -1);
  CHECK(str_eq(toolhive_proxy_state(proxy), "stopped"));
  CHECK_STATUS(toolhive_runtime_info(rt, "rm-me", &info, &err), TOOLHIVE_STATUS_NOT_FOUND, &err);
  CHECK_STATUS(toolhive_runtime_remove(rt, "rm-me", &err), TOOLHIVE_STATUS_NOT_FOUND, &err);
  CHECK_STATUS(toolhive_runtime_restart(rt, "rm-me", NULL, &err), TOOLHIVE_STATUS_NOT_FOUND, &err);
  toolhive_proxy_free(proxy);
}

static void test_follow_local(const toolhive_runtime *rt) {
  toolhive_error *err = NULL;
  toolhive_proxy *proxy = NULL;
  toolhive_log_follow *follow = NULL, *cancelled = NULL;
  struct follow_state f, g;
  follow_init(&f, rt);
  follow_init(&g, rt);

  CHECK_STATUS(toolhive_runtime_start(rt, "{\"remote_url\":\"" REMOTE "\",\"name\":\"follow-me\"}", &proxy, &err),
               TOOLHIVE_STATUS_OK, &err);
  toolhive_proxy_free(proxy); /* no handle keeps the old log alive once it is removed */
  CHECK_STATUS(toolhive_runtime_follow_logs(rt, "follow-me", on_line, &f, on_follow_free, &follow, &err), TOOLHIVE_STATUS_OK,
               &err);
  CHECK_STATUS(toolhive_runtime_follow_logs(rt, "follow-me", on_line, &g, on_follow_free, &cancelled, &err),
               TOOLHIVE_STATUS_OK, &err);
  CHECK_STATUS(toolhive_log_follow_cancel(cancelled, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK_STATUS(toolhive_log_follow_cancel(cancelled, &err), TOOLHIVE_STATUS_OK, &err);

  /* Stopping logs a line: the follower gets it on its thread. */
  CHECK_STATUS(toolhive_runtime_stop(rt, "follow-me", &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(wait_for(&f.saw_stopped, 30000));
  CHECK(atomic_load(&f.level_ok) == 1);
  CHECK(atomic_load(&f.blocking_refused) == 1);
  CHECK(atomic_load(&f.list_worked) == 1);
  /* Removed: the log can have no more lines, the follow ends with a NULL line. */
  CHECK_STATUS(toolhive_runtime_remove(rt, "follow-me", &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(wait_for(&f.ended, 30000));
  toolhive_log_follow_free(follow);
  CHECK(atomic_load(&f.freed) == 1); /* free waited for the last call and the destructor */
  CHECK(atomic_load(&f.calls_after_end) == 0);
  /* The cancelled one saw nothing, not even the end. */
  toolhive_log_follow_free(cancelled);
  CHECK(atomic_load(&g.freed) == 1);
  CHECK(atomic_load(&g.lines) == 0);
  CHECK(atomic_load(&g.ended) == 0);

  /* A follow freed from inside its own callback: no deadlock, destructor runs once after. */
  {
    struct self_freeing sf;
    toolhive_log_follow *self = NULL;
    memset(&sf, 0, sizeof sf);
    CHECK_STATUS(toolhive_runtime_start(rt, "{\"remote_url\":\"" REMOTE "\",\"name\":\"self-free\"}", &proxy, &err),
                 TOOLHIVE_STATUS_OK, &err);
    CHECK_STATUS(toolhive_runtime_follow_logs(rt, "self-free", on_line_free_self, &sf, on_self_freeing_free, &self, &err),
                 TOOLHIVE_STATUS_OK, &err);
    atomic_store(&sf.self, self);
    CHECK_STATUS(toolhive_proxy_stop(proxy, &err), TOOLHIVE_STATUS_OK, &err); /* logs "stopped" */
    CHECK(wait_for(&sf.destroyed, 30000));
    CHECK(atomic_load(&sf.freed_inside) == 1);
    sleep_ms(100);
    CHECK(atomic_load(&sf.destroyed) == 1);
    toolhive_proxy_free(proxy);
    proxy = NULL;
    CHECK_STATUS(toolhive_runtime_remove(rt, "self-free", &err), TOOLHIVE_STATUS_OK, &err);
  }
  pthread_mutex_destroy(&f.lock);
  pthread_mutex_destroy(&g.lock);
}

/* A proxy served by another process: listed with its pid, logs read from its file, followed,
 * stopped through the state directory, then restarted here on its port. */
static void test_other_process(const toolhive_runtime *rt) {
  toolhive_error *err = NULL;
  toolhive_proxy_info *info = NULL;
  toolhive_log_lines *lines = NULL;
  toolhive_log_follow *follow = NULL;
  toolhive_proxy *proxy = NULL;
  struct follow_state f;
  uint16_t port = 0;
  int status = -1, found = 0;
  size_t i;
  pid_t child = spawn_child("elsewhere", &port);
  follow_init(&f, rt);
  CHECK(child > 0 && port > 0);
  if (child <= 0 || port == 0) {
    if (child > 0) kill(child, SIGKILL), waitpid(child, NULL, 0);
    return;
  }
  CHECK(health(port) == 200);
  CHECK_STATUS(toolhive_runtime_info(rt, "elsewhere", &info, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(toolhive_proxy_info_pid(info) == (uint32_t)child);
  CHECK(!toolhive_proxy_info_stale(info));
  CHECK(str_eq(toolhive_proxy_info_state(info), "running"));
  CHECK(url_port(toolhive_proxy_info_url(info)) == port);
  toolhive_proxy_info_free(info);
  info = NULL;
  /* Not a proxy of this runtime: no handle. */
  CHECK_STATUS(toolhive_runtime_get_proxy(rt, "elsewhere", &proxy, &err), TOOLHIVE_STATUS_NOT_FOUND, &err);

  CHECK_STATUS(toolhive_runtime_logs(rt, "elsewhere", &lines, &err), TOOLHIVE_STATUS_OK, &err);
  for (i = 0; i < toolhive_log_lines_len(lines); i++)
    found += str_has(toolhive_log_line_message(toolhive_log_lines_get(lines, i)), "proxying " REMOTE);
  CHECK(found == 1);
  toolhive_log_lines_free(lines);

  CHECK_STATUS(toolhive_runtime_follow_logs(rt, "elsewhere", on_line, &f, on_follow_free, &follow, &err),
               TOOLHIVE_STATUS_OK, &err);
  CHECK_STATUS(toolhive_runtime_stop(rt, "elsewhere", &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(wait_for(&f.saw_stopped, 30000)); /* read from the other process's log file */
  toolhive_log_follow_free(follow);
  CHECK(atomic_load(&f.freed) == 1);
  CHECK(atomic_load(&f.ended) == 0);
  CHECK(waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  CHECK_STATUS(toolhive_runtime_info(rt, "elsewhere", &info, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(str_eq(toolhive_proxy_info_state(info), "stopped"));
  CHECK(toolhive_proxy_info_pid(info) == 0);
  toolhive_proxy_info_free(info);
  info = NULL;
  /* Saved and served by nobody: restart brings it up here, on its port. */
  CHECK_STATUS(toolhive_runtime_restart(rt, "elsewhere", &info, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(url_port(toolhive_proxy_info_url(info)) == port);
  CHECK(toolhive_proxy_info_pid(info) == (uint32_t)getpid());
  toolhive_proxy_info_free(info);
  CHECK(health(port) == 200);
  CHECK_STATUS(toolhive_runtime_get_proxy(rt, "elsewhere", &proxy, &err), TOOLHIVE_STATUS_OK, &err);
  toolhive_proxy_free(proxy);
  pthread_mutex_destroy(&f.lock);
}

/* A process that dies with its proxy running (SIGKILL): listed as stale, restored on its port.
 * A saved proxy whose secret is gone: restored with an error that says so. */
static void test_crash_and_restore(const toolhive_runtime *rt) {
  toolhive_error *err = NULL;
  toolhive_proxy_info *info = NULL;
  toolhive_proxy_list *list = NULL;
  toolhive_restore_results *results = NULL;
  char path[512];
  uint16_t port = 0;
  size_t i;
  int seen_crashy = 0, seen_doomed = 0;
  pid_t child = spawn_child("crashy", &port);
  CHECK(child > 0 && port > 0);
  if (child <= 0 || port == 0) return;
  CHECK(health(port) == 200);
  CHECK(kill(child, SIGKILL) == 0);
  CHECK(waitpid(child, NULL, 0) == child);
  CHECK(health(port) == -1);

  state_path(path, sizeof path, "proxies", "doomed", ".json");
  write_file(path, "{\"schema_version\":1,\"config\":{\"remote_url\":\"" REMOTE "\",\"name\":\"doomed\","
                   "\"bearer_token\":{\"secret\":\"team/gone\"}},\"status\":{\"state\":\"running\",\"pid\":" DEAD_PID "}}");

  CHECK_STATUS(toolhive_runtime_info(rt, "crashy", &info, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(toolhive_proxy_info_stale(info));
  CHECK(str_eq(toolhive_proxy_info_state(info), "running"));
  CHECK(str_has(toolhive_proxy_info_json(info), "\"stale\":true"));
  toolhive_proxy_info_free(info);
  info = NULL;
  CHECK_STATUS(toolhive_runtime_list(rt, &list, &err), TOOLHIVE_STATUS_OK, &err);
  for (i = 0; i < toolhive_proxy_list_len(list); i++) {
    const toolhive_proxy_info *entry = toolhive_proxy_list_get(list, i);
    if (str_eq(toolhive_proxy_info_name(entry), "crashy")) seen_crashy = toolhive_proxy_info_stale(entry);
    if (str_eq(toolhive_proxy_info_name(entry), "doomed")) seen_doomed = toolhive_proxy_info_stale(entry);
  }
  CHECK(seen_crashy && seen_doomed);
  toolhive_proxy_list_free(list);

  CHECK_STATUS(toolhive_runtime_restore(rt, &results, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(toolhive_restore_results_len(results) == 2); /* crashy, doomed: in name order */
  if (toolhive_restore_results_len(results) == 2) {
    const toolhive_restore_result *ok = toolhive_restore_results_get(results, 0);
    const toolhive_restore_result *bad = toolhive_restore_results_get(results, 1);
    CHECK(str_eq(toolhive_restore_result_name(ok), "crashy"));
    CHECK(toolhive_restore_result_status(ok) == TOOLHIVE_STATUS_OK);
    CHECK(toolhive_restore_result_error(ok) == NULL);
    CHECK(url_port(toolhive_restore_result_url(ok)) == port);
    CHECK(str_eq(toolhive_restore_result_name(bad), "doomed"));
    CHECK(toolhive_restore_result_status(bad) == TOOLHIVE_STATUS_SECRET);
    CHECK(toolhive_error_code(toolhive_restore_result_error(bad)) == TOOLHIVE_STATUS_SECRET);
    CHECK(str_has(toolhive_error_message(toolhive_restore_result_error(bad)), "team/gone"));
    CHECK(str_eq(toolhive_error_field(toolhive_restore_result_error(bad)), "bearer_token"));
    CHECK(toolhive_restore_result_url(bad) == NULL);
  }
  CHECK(toolhive_restore_results_get(results, 2) == NULL);
  toolhive_restore_results_free(results);
  results = NULL;
  CHECK(health(port) == 200);
  CHECK_STATUS(toolhive_runtime_info(rt, "crashy", &info, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(!toolhive_proxy_info_stale(info));
  CHECK(toolhive_proxy_info_pid(info) == (uint32_t)getpid());
  toolhive_proxy_info_free(info);
  /* Served here now: a second restore leaves it alone. */
  CHECK_STATUS(toolhive_runtime_restore(rt, &results, &err), TOOLHIVE_STATUS_OK, &err);
  for (i = 0; i < toolhive_restore_results_len(results); i++)
    CHECK(!str_eq(toolhive_restore_result_name(toolhive_restore_results_get(results, i)), "crashy"));
  toolhive_restore_results_free(results);
  CHECK_STATUS(toolhive_runtime_remove(rt, "doomed", &err), TOOLHIVE_STATUS_OK, &err);
}

static void test_corrupt_state_files(const toolhive_runtime *rt) {
  toolhive_error *err = NULL;
  toolhive_state_errors *errors = NULL;
  toolhive_proxy_list *list = NULL;
  toolhive_proxy *proxy = NULL;
  char broken[512], future[512], content[64];
  size_t i;
  int others = 0, listed_broken = 0;

  state_path(broken, sizeof broken, "proxies", "broken", ".json");
  state_path(future, sizeof future, "proxies", "future", ".json");
  write_file(broken, "{not json");
  write_file(future, "{\"schema_version\":99,\"config\":{},\"status\":{}}");

  CHECK_STATUS(toolhive_runtime_state_errors(rt, &errors, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(toolhive_state_errors_len(errors) == 2);
  if (toolhive_state_errors_len(errors) == 2) {
    const toolhive_state_error *a = toolhive_state_errors_get(errors, 0);
    const toolhive_state_error *b = toolhive_state_errors_get(errors, 1);
    CHECK(str_eq(toolhive_state_error_path(a), broken));
    CHECK(str_has(toolhive_state_error_message(a), "corrupt"));
    CHECK(str_eq(toolhive_state_error_path(b), future));
    CHECK(str_has(toolhive_state_error_message(b), "newer"));
  }
  CHECK(toolhive_state_errors_get(errors, 2) == NULL);
  toolhive_state_errors_free(errors);

  /* The others still list; the broken ones do not. */
  CHECK_STATUS(toolhive_runtime_list(rt, &list, &err), TOOLHIVE_STATUS_OK, &err);
  for (i = 0; i < toolhive_proxy_list_len(list); i++) {
    const char *name = toolhive_proxy_info_name(toolhive_proxy_list_get(list, i));
    others += str_eq(name, "same-port") || str_eq(name, "crashy") || str_eq(name, "elsewhere");
    listed_broken += str_eq(name, "broken") || str_eq(name, "future");
  }
  CHECK(others == 3);
  CHECK(listed_broken == 0);
  toolhive_proxy_list_free(list);

  /* Never overwritten: starting a proxy of that name fails and names the file. */
  CHECK_STATUS_KEEP(toolhive_runtime_start(rt, "{\"remote_url\":\"" REMOTE "\",\"name\":\"broken\"}", &proxy, &err),
                    TOOLHIVE_STATUS_STATE, &err);
  CHECK(str_has(toolhive_error_message(err), "broken.json"));
  toolhive_error_free(err);
  err = NULL;
  CHECK(proxy == NULL);
  read_file(broken, content, sizeof content);
  CHECK(str_eq(content, "{not json"));
  CHECK(unlink(broken) == 0 && unlink(future) == 0);
}

int main(int argc, char **argv) {
  toolhive_error *err = NULL;
  toolhive_runtime *rt = NULL;
  toolhive_runtime_options *opts;
  toolhive_secret_store vt;
  struct host_store store;
  char command[600];

  if (argc == 4 && strcmp(argv[1], "serve") == 0) return serve_child(argv[2], argv[3]);
  self_path = argv[0];
  CHECK(mkdtemp(state_dir) != NULL);

  test_without_state_dir();

  host_store_init(&store);
  vt = host_store_vtable(&store);
  opts = toolhive_runtime_options_new();
  CHECK_STATUS(toolhive_runtime_options_set_state_dir(opts, state_dir, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK_STATUS(toolhive_runtime_options_set_secret_store(opts, &vt, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK_STATUS(toolhive_runtime_new(opts, &rt, &err), TOOLHIVE_STATUS_OK, &err);
  toolhive_runtime_options_free(opts);
  if (rt != NULL) {
    test_null_and_utf8(rt);
    test_restart_keeps_port(rt);
    test_remove(rt, &store);
    test_follow_local(rt);
    test_other_process(rt);
    test_crash_and_restore(rt);
    test_corrupt_state_files(rt);
    toolhive_runtime_free(rt);
  }
  CHECK(atomic_load(&store.freed) == 1);
  CHECK(atomic_load(&store.on_creator) == 0);
  host_store_destroy(&store);
  snprintf(command, sizeof command, "rm -rf '%s'", state_dir);
  CHECK(system(command) == 0);
  return check_summary("test_manage");
}
