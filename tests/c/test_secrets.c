/*
 * Secrets and OAuth from C: a host secret store implemented through toolhive_secret_store
 * (serving a `bearer_token: {"secret": ...}` reference to a protected upstream of the test's
 * own, failures and re-entrancy, userdata ownership), the built-in stores (file, env, memory),
 * the runtime's secret operations, and an OAuth login driven by the host: with
 * open_browser=false the runtime publishes "authorization_required" and never starts a browser
 * (a fake xdg-open on PATH records starts), the host completes the login through the callback
 * URL, tokens land in the host store, and the auth state JSON carries the details.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include "check.h"
#include "http.h"
#include "store.h"

static char tmp_dir[] = "/tmp/toolhive-c-secrets-XXXXXX";
static char browser_log[600]; /* the fake xdg-open appends each URL it is asked to open */

static void sleep_ms(long ms) {
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (ms % 1000) * 1000000L;
  nanosleep(&ts, NULL);
}

static int file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* Install the fake browser first thing (before any runtime starts threads that could read the
 * environment while it changes). */
static void setup(void) {
  char path[600], *old_path = getenv("PATH");
  static char new_path[4096];
  FILE *f;
  CHECK(mkdtemp(tmp_dir) != NULL);
  snprintf(browser_log, sizeof browser_log, "%s/browser-opened", tmp_dir);
  snprintf(path, sizeof path, "%s/xdg-open", tmp_dir);
  f = fopen(path, "w");
  CHECK(f != NULL);
  if (f) {
    fprintf(f, "#!/bin/sh\nprintf '%%s\\n' \"$1\" >> '%s'\n", browser_log);
    fclose(f);
  }
  CHECK(chmod(path, 0755) == 0);
  snprintf(new_path, sizeof new_path, "%s:%s", tmp_dir, old_path ? old_path : "/usr/bin:/bin");
  CHECK(setenv("PATH", new_path, 1) == 0);
  /* For the env store. */
  CHECK(setenv("TOOLHIVE_SECRET_TEAM_ENV_KEY", "from-the-environment", 1) == 0);
}

static void teardown(void) {
  char command[700];
  snprintf(command, sizeof command, "rm -rf '%s'", tmp_dir);
  CHECK(system(command) == 0);
}

/* A runtime using `store` (and optionally no browser). */
static toolhive_runtime *runtime_with_store(struct host_store *store, int open_browser) {
  toolhive_error *err = NULL;
  toolhive_runtime *rt = NULL;
  toolhive_runtime_options *opts = toolhive_runtime_options_new();
  toolhive_secret_store vt = host_store_vtable(store);
  CHECK_STATUS(toolhive_runtime_options_set_worker_threads(opts, 2, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK_STATUS(toolhive_runtime_options_set_secret_store(opts, &vt, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK_STATUS(toolhive_runtime_options_set_open_browser(opts, open_browser != 0, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK_STATUS(toolhive_runtime_new(opts, &rt, &err), TOOLHIVE_STATUS_OK, &err);
  toolhive_runtime_options_free(opts);
  store->rt = rt;
  return rt;
}

/* ---------------------------------------------------------------------------------------- */

static void test_store_option_errors(void) {
  toolhive_error *err = NULL;
  struct host_store store;
  toolhive_secret_store vt;
  toolhive_runtime_options *opts = toolhive_runtime_options_new();
  host_store_init(&store);

  vt = host_store_vtable(&store);
  CHECK_STATUS(toolhive_runtime_options_set_secret_store(NULL, &vt, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  vt.version = 99;
  CHECK_STATUS_KEEP(toolhive_runtime_options_set_secret_store(opts, &vt, &err), TOOLHIVE_STATUS_INVALID_ARGUMENT, &err);
  CHECK(str_eq(toolhive_error_field(err), "store.version"));
  CHECK(str_has(toolhive_error_message(err), "TOOLHIVE_SECRET_STORE_VERSION"));
  toolhive_error_free(err);
  err = NULL;
  vt = host_store_vtable(&store);
  vt.list = NULL;
  CHECK_STATUS_KEEP(toolhive_runtime_options_set_secret_store(opts, &vt, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK(str_eq(toolhive_error_field(err), "store.list"));
  toolhive_error_free(err);
  err = NULL;
  vt = host_store_vtable(&store);
  vt.kind = "bad\xff";
  CHECK_STATUS_KEEP(toolhive_runtime_options_set_secret_store(opts, &vt, &err), TOOLHIVE_STATUS_INVALID_UTF8, &err);
  CHECK(str_eq(toolhive_error_field(err), "store.kind"));
  toolhive_error_free(err);
  err = NULL;
  /* Failed calls leave the userdata with the caller. */
  CHECK(atomic_load(&store.freed) == 0);

  /* Accepted, then replaced before any runtime used it: released at once. */
  vt = host_store_vtable(&store);
  CHECK_STATUS(toolhive_runtime_options_set_secret_store(opts, &vt, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(atomic_load(&store.freed) == 0);
  CHECK_STATUS(toolhive_runtime_options_set_secret_store(opts, NULL, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(atomic_load(&store.freed) == 1);

  /* Accepted and never used: released with the options. */
  atomic_store(&store.freed, 0);
  CHECK_STATUS(toolhive_runtime_options_set_secret_store(opts, &vt, &err), TOOLHIVE_STATUS_OK, &err);
  toolhive_runtime_options_free(opts);
  CHECK(atomic_load(&store.freed) == 1);

  /* Built-in store setters: argument checks. */
  opts = toolhive_runtime_options_new();
  CHECK_STATUS(toolhive_runtime_options_set_file_secret_store(NULL, "/tmp/x", &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK_STATUS_KEEP(toolhive_runtime_options_set_file_secret_store(opts, NULL, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK(str_eq(toolhive_error_field(err), "path"));
  toolhive_error_free(err);
  err = NULL;
  CHECK_STATUS(toolhive_runtime_options_set_file_secret_store(opts, "", &err), TOOLHIVE_STATUS_INVALID_ARGUMENT, &err);
  CHECK_STATUS(toolhive_runtime_options_set_file_secret_store(opts, "/tmp/\xc3", &err), TOOLHIVE_STATUS_INVALID_UTF8, &err);
  CHECK_STATUS(toolhive_runtime_options_set_env_secret_store(NULL, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK_STATUS(toolhive_runtime_options_set_memory_secret_store(NULL, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  toolhive_runtime_options_free(opts);
  host_store_destroy(&store);
}

/* ---------------------------------------------------------------------------------------- */

static void expect_start_fails(const toolhive_runtime *rt, const char *json, toolhive_status want, const char *part1,
                               const char *part2) {
  toolhive_error *err = NULL;
  toolhive_proxy *proxy = NULL;
  if (CHECK_STATUS_KEEP(toolhive_runtime_start(rt, json, &proxy, &err), want, &err)) {
    if (!str_has(toolhive_error_message(err), part1) || !str_has(toolhive_error_message(err), part2))
      fprintf(stderr, "  message: %s\n", toolhive_error_message(err));
    CHECK(str_has(toolhive_error_message(err), part1));
    CHECK(str_has(toolhive_error_message(err), part2));
  }
  toolhive_error_free(err);
  CHECK(proxy == NULL);
  toolhive_proxy_free(proxy);
}

static void test_protected_upstream(void) {
  toolhive_error *err = NULL;
  toolhive_runtime *rt;
  toolhive_proxy *proxy = NULL;
  struct upstream up;
  struct host_store store;
  char json[512], remote[64], response[4096];
  char *value = NULL;

  if (upstream_start(&up, "s3cret-token") != 0) {
    CHECK(!"upstream_start");
    return;
  }
  host_store_init(&store);
  host_store_put(&store, "team/upstream-token", "s3cret-token");
  rt = runtime_with_store(&store, 1);

  /* Without the token the upstream refuses (and start says which option supplies one). */
  snprintf(remote, sizeof remote, "http://127.0.0.1:%u/mcp", up.port);
  snprintf(json, sizeof json, "{\"remote_url\":\"%s\",\"name\":\"no-token\",\"bearer_token\":{\"value\":\"wrong\"}}",
           remote);
  expect_start_fails(rt, json, TOOLHIVE_STATUS_AUTH_REQUIRED, "rejected the configured bearer token", "bearer_token");
  /* A reference to a secret the host store does not have, or cannot give. */
  snprintf(json, sizeof json, "{\"remote_url\":\"%s\",\"name\":\"missing\",\"bearer_token\":{\"secret\":\"team/none\"}}",
           remote);
  expect_start_fails(rt, json, TOOLHIVE_STATUS_SECRET, "team/none", "test-keychain secret store");
  snprintf(json, sizeof json, "{\"remote_url\":\"%s\",\"name\":\"locked\",\"bearer_token\":{\"secret\":\"fail/x\"}}",
           remote);
  expect_start_fails(rt, json, TOOLHIVE_STATUS_SECRET, "test-keychain secret store", "the test keychain is locked");

  /* The reference the host store serves: the upstream sees the token on every request. */
  snprintf(json, sizeof json,
           "{\"remote_url\":\"%s\",\"name\":\"protected\",\"bearer_token\":{\"secret\":\"team/upstream-token\"}}",
           remote);
  CHECK_STATUS(toolhive_runtime_start(rt, json, &proxy, &err), TOOLHIVE_STATUS_OK, &err);
  if (proxy) {
    int before = atomic_load(&up.authorized);
    CHECK(before >= 1); /* the start-up probe carried it */
    CHECK(mcp_ping(toolhive_proxy_port(proxy), response, sizeof response) == 200);
    CHECK(str_has(response, "\"result\""));
    CHECK(atomic_load(&up.authorized) == before + 1);
    /* The token never shows in listings or logs. */
    {
      toolhive_proxy_list *list = NULL;
      toolhive_log_lines *lines = NULL;
      size_t i;
      CHECK_STATUS(toolhive_runtime_list(rt, &list, &err), TOOLHIVE_STATUS_OK, &err);
      for (i = 0; i < toolhive_proxy_list_len(list); i++)
        CHECK(!str_has(toolhive_proxy_info_json(toolhive_proxy_list_get(list, i)), "s3cret"));
      toolhive_proxy_list_free(list);
      CHECK_STATUS(toolhive_proxy_logs(proxy, &lines, &err), TOOLHIVE_STATUS_OK, &err);
      for (i = 0; i < toolhive_log_lines_len(lines); i++)
        CHECK(!str_has(toolhive_log_line_text(toolhive_log_lines_get(lines, i)), "s3cret"));
      toolhive_log_lines_free(lines);
    }
  }
  CHECK(atomic_load(&store.gets) >= 3);
  CHECK(atomic_load(&store.on_creator) == 0); /* never on the caller's thread */
  CHECK(atomic_load(&store.misuse_refused) == 1);

  /* Re-entrancy: a blocking call from inside the store's callback is refused. */
  CHECK_STATUS(toolhive_runtime_get_secret(rt, "reenter", &value, &err), TOOLHIVE_STATUS_NOT_FOUND, &err);
  CHECK(value == NULL);
  CHECK(atomic_load(&store.reenter_refused) == 1);

  toolhive_runtime_free(rt);
  /* The runtime was the last user of the store: its userdata was released. */
  CHECK(atomic_load(&store.freed) == 1);
  toolhive_proxy_free(proxy);
  upstream_stop(&up);
  host_store_destroy(&store);
}

/* ---------------------------------------------------------------------------------------- */

static void test_secret_operations(void) {
  toolhive_error *err = NULL;
  toolhive_runtime *rt;
  struct host_store store;
  toolhive_strings *names = NULL;
  char *value = NULL;
  char stored[64];
  size_t i;
  int found = 0;

  host_store_init(&store);
  rt = runtime_with_store(&store, 1);
  CHECK_STATUS(toolhive_runtime_set_secret(rt, "team/api-key", "value-1", &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(host_store_has(&store, "team/api-key", stored, sizeof stored) && str_eq(stored, "value-1"));
  CHECK_STATUS(toolhive_runtime_set_secret(rt, "team/api-key", "value-2", &err), TOOLHIVE_STATUS_OK, &err);
  CHECK_STATUS(toolhive_runtime_get_secret(rt, "team/api-key", &value, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(str_eq(value, "value-2"));
  toolhive_string_free(value);
  value = NULL;
  host_store_put(&store, "a-first", "x");
  CHECK_STATUS(toolhive_runtime_list_secrets(rt, &names, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(toolhive_strings_len(names) == 2);
  CHECK(str_eq(toolhive_strings_get(names, 0), "a-first")); /* sorted */
  for (i = 0; i < toolhive_strings_len(names); i++) found += str_eq(toolhive_strings_get(names, i), "team/api-key");
  CHECK(found == 1);
  CHECK(toolhive_strings_get(names, 2) == NULL);
  toolhive_strings_free(names);
  names = NULL;
  CHECK_STATUS(toolhive_runtime_delete_secret(rt, "team/api-key", &err), TOOLHIVE_STATUS_OK, &err);
  CHECK_STATUS(toolhive_runtime_delete_secret(rt, "team/api-key", &err), TOOLHIVE_STATUS_OK, &err); /* missing: OK */
  CHECK(!host_store_has(&store, "team/api-key", NULL, 0));
  CHECK_STATUS_KEEP(toolhive_runtime_get_secret(rt, "team/api-key", &value, &err), TOOLHIVE_STATUS_NOT_FOUND, &err);
  CHECK(str_eq(toolhive_error_field(err), "name"));
  CHECK(str_has(toolhive_error_message(err), "test-keychain"));
  toolhive_error_free(err);
  err = NULL;
  CHECK(value == NULL);
  /* The store's own failure. */
  CHECK_STATUS_KEEP(toolhive_runtime_set_secret(rt, "fail/this", "v", &err), TOOLHIVE_STATUS_SECRET, &err);
  CHECK(str_has(toolhive_error_message(err), "the test keychain is locked"));
  CHECK(!str_has(toolhive_error_message(err), "\"v\""));
  toolhive_error_free(err);
  err = NULL;

  /* Arguments. */
  CHECK_STATUS(toolhive_runtime_set_secret(NULL, "n", "v", &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK_STATUS(toolhive_runtime_set_secret(rt, NULL, "v", &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK_STATUS(toolhive_runtime_set_secret(rt, "n", NULL, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK_STATUS_KEEP(toolhive_runtime_set_secret(rt, "no spaces", "v", &err), TOOLHIVE_STATUS_INVALID_ARGUMENT, &err);
  CHECK(str_eq(toolhive_error_field(err), "name"));
  toolhive_error_free(err);
  err = NULL;
  CHECK_STATUS_KEEP(toolhive_runtime_set_secret(rt, "n", "", &err), TOOLHIVE_STATUS_INVALID_ARGUMENT, &err);
  CHECK(str_eq(toolhive_error_field(err), "value"));
  toolhive_error_free(err);
  err = NULL;
  CHECK_STATUS(toolhive_runtime_set_secret(rt, "n\xc3", "v", &err), TOOLHIVE_STATUS_INVALID_UTF8, &err);
  CHECK_STATUS_KEEP(toolhive_runtime_set_secret(rt, "n", "v\xff", &err), TOOLHIVE_STATUS_INVALID_UTF8, &err);
  CHECK(str_eq(toolhive_error_field(err), "value"));
  toolhive_error_free(err);
  err = NULL;
  CHECK_STATUS(toolhive_runtime_get_secret(rt, "n", NULL, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK_STATUS(toolhive_runtime_get_secret(NULL, "n", &value, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK_STATUS(toolhive_runtime_get_secret(rt, "\xff", &value, &err), TOOLHIVE_STATUS_INVALID_UTF8, &err);
  CHECK_STATUS(toolhive_runtime_delete_secret(rt, NULL, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK_STATUS(toolhive_runtime_delete_secret(rt, "bad name", &err), TOOLHIVE_STATUS_INVALID_ARGUMENT, &err);
  CHECK_STATUS(toolhive_runtime_list_secrets(rt, NULL, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK_STATUS(toolhive_runtime_list_secrets(NULL, &names, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK(value == NULL && names == NULL);
  CHECK_STATUS(toolhive_secret_reply_set_value(NULL, "v", &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK_STATUS(toolhive_secret_reply_add_key(NULL, "k", &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK_STATUS(toolhive_secret_reply_set_error(NULL, "m", &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK(toolhive_strings_len(NULL) == 0);
  CHECK(toolhive_strings_get(NULL, 0) == NULL);
  toolhive_strings_free(NULL);
  toolhive_string_free(NULL);

  toolhive_runtime_free(rt);
  CHECK(atomic_load(&store.freed) == 1);
  CHECK(atomic_load(&store.on_creator) == 0);
  host_store_destroy(&store);
}

/* ---------------------------------------------------------------------------------------- */

static toolhive_runtime *runtime_with(void (*choose)(toolhive_runtime_options *, const char *), const char *arg) {
  toolhive_error *err = NULL;
  toolhive_runtime *rt = NULL;
  toolhive_runtime_options *opts = toolhive_runtime_options_new();
  choose(opts, arg);
  CHECK_STATUS(toolhive_runtime_new(opts, &rt, &err), TOOLHIVE_STATUS_OK, &err);
  toolhive_runtime_options_free(opts);
  return rt;
}

static void choose_file(toolhive_runtime_options *opts, const char *path) {
  CHECK(toolhive_runtime_options_set_file_secret_store(opts, path, NULL) == TOOLHIVE_STATUS_OK);
}
static void choose_env(toolhive_runtime_options *opts, const char *unused) {
  (void)unused;
  CHECK(toolhive_runtime_options_set_env_secret_store(opts, NULL) == TOOLHIVE_STATUS_OK);
}
static void choose_memory(toolhive_runtime_options *opts, const char *unused) {
  (void)unused;
  CHECK(toolhive_runtime_options_set_memory_secret_store(opts, NULL) == TOOLHIVE_STATUS_OK);
}

static void test_builtin_stores(void) {
  toolhive_error *err = NULL;
  toolhive_runtime *rt, *rt2;
  char path[700];
  char *value = NULL;
  struct stat st;

  /* File store at a chosen path: private file, shared by runtimes. */
  snprintf(path, sizeof path, "%s/sub/secrets.json", tmp_dir);
  rt = runtime_with(choose_file, path);
  CHECK_STATUS(toolhive_runtime_set_secret(rt, "file-key", "file-value", &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
  rt2 = runtime_with(choose_file, path);
  CHECK_STATUS(toolhive_runtime_get_secret(rt2, "file-key", &value, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(str_eq(value, "file-value"));
  toolhive_string_free(value);
  value = NULL;
  toolhive_runtime_free(rt2);
  toolhive_runtime_free(rt);

  /* Environment store: reads TOOLHIVE_SECRET_*, refuses writes. */
  rt = runtime_with(choose_env, NULL);
  CHECK_STATUS(toolhive_runtime_get_secret(rt, "team/env-key", &value, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(str_eq(value, "from-the-environment"));
  toolhive_string_free(value);
  value = NULL;
  CHECK_STATUS_KEEP(toolhive_runtime_set_secret(rt, "team/env-key", "x", &err), TOOLHIVE_STATUS_SECRET, &err);
  CHECK(str_has(toolhive_error_message(err), "read-only"));
  toolhive_error_free(err);
  err = NULL;
  toolhive_runtime_free(rt);

  /* Memory store: one per runtime. */
  rt = runtime_with(choose_memory, NULL);
  rt2 = runtime_with(choose_memory, NULL);
  CHECK_STATUS(toolhive_runtime_set_secret(rt, "mem", "v", &err), TOOLHIVE_STATUS_OK, &err);
  CHECK_STATUS(toolhive_runtime_get_secret(rt, "mem", &value, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(str_eq(value, "v"));
  toolhive_string_free(value);
  value = NULL;
  CHECK_STATUS(toolhive_runtime_get_secret(rt2, "mem", &value, &err), TOOLHIVE_STATUS_NOT_FOUND, &err);
  toolhive_runtime_free(rt2);
  toolhive_runtime_free(rt);
}

/* ---------------------------------------------------------------------------------------- */
/* OAuth                                                                                    */
/* ---------------------------------------------------------------------------------------- */

struct auth_events {
  pthread_mutex_t lock;
  char url[2048];                 /* of the first "authorization_required" */
  char auth_json[512];            /* the last "auth_state_changed" event's JSON */
  atomic_int authorization_required;
  atomic_int authenticated;       /* an "auth_state_changed" to "authenticated" */
  atomic_int authorizing;
};

static void on_event(void *userdata, const toolhive_event *event) {
  struct auth_events *ev = (struct auth_events *)userdata;
  const char *type = toolhive_event_type(event);
  if (str_eq(type, "authorization_required")) {
    pthread_mutex_lock(&ev->lock);
    if (ev->url[0] == '\0') snprintf(ev->url, sizeof ev->url, "%s", toolhive_event_url(event));
    pthread_mutex_unlock(&ev->lock);
    atomic_fetch_add(&ev->authorization_required, 1);
  } else if (str_eq(type, "auth_state_changed")) {
    pthread_mutex_lock(&ev->lock);
    snprintf(ev->auth_json, sizeof ev->auth_json, "%s", toolhive_event_json(event));
    pthread_mutex_unlock(&ev->lock);
    if (str_eq(toolhive_event_auth_state(event), "authorizing")) atomic_store(&ev->authorizing, 1);
    if (str_eq(toolhive_event_auth_state(event), "authenticated")) atomic_store(&ev->authenticated, 1);
  }
}

static int wait_for(atomic_int *flag, long ms) {
  for (; ms > 0 && !atomic_load(flag); ms -= 20) sleep_ms(20);
  return atomic_load(flag);
}

/* The value of query parameter `name` in `url`, percent-decoded into `out`. */
static int query_param(const char *url, const char *name, char *out, size_t size) {
  char key[64];
  const char *p = strchr(url, '?');
  size_t n = 0;
  snprintf(key, sizeof key, "%s=", name);
  while (p != NULL) {
    p++;
    if (strncmp(p, key, strlen(key)) == 0) {
      p += strlen(key);
      while (*p && *p != '&' && n + 1 < size) {
        if (*p == '%' && isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2])) {
          char hex[3] = {p[1], p[2], 0};
          out[n++] = (char)strtol(hex, NULL, 16);
          p += 3;
        } else {
          out[n++] = *p == '+' ? ' ' : *p;
          p++;
        }
      }
      out[n] = '\0';
      return 1;
    }
    p = strchr(p, '&');
  }
  return 0;
}

static void test_oauth_from_c(void) {
  toolhive_error *err = NULL;
  toolhive_runtime *rt, *rt2;
  toolhive_proxy *proxy = NULL, *proxy2 = NULL;
  toolhive_proxy_info *info = NULL;
  struct upstream up;
  struct host_store store;
  struct auth_events ev, ev2;
  char json[1024], remote[128], prefix[128], state[256], redirect[256], target[512], response[4096];
  unsigned short callback_port = 0;
  int i;

  if (upstream_start(&up, "oauth-access-token") != 0) {
    CHECK(!"upstream_start");
    return;
  }
  memset(&ev, 0, sizeof ev);
  memset(&ev2, 0, sizeof ev2);
  pthread_mutex_init(&ev.lock, NULL);
  pthread_mutex_init(&ev2.lock, NULL);
  host_store_init(&store);
  snprintf(remote, sizeof remote, "http://127.0.0.1:%u/mcp", up.port);
  snprintf(json, sizeof json,
           "{\"remote_url\":\"%s\",\"name\":\"oauth-c\",\"oauth\":{\"client_id\":\"c-client\","
           "\"authorize_url\":\"http://127.0.0.1:%u/authorize\",\"token_url\":\"http://127.0.0.1:%u/token\","
           "\"timeout_ms\":120000}}",
           remote, up.port, up.port);
  snprintf(prefix, sizeof prefix, "http://127.0.0.1:%u/authorize?", up.port);

  /* The host shows the URL itself: no browser. */
  rt = runtime_with_store(&store, 0);
  CHECK_STATUS(toolhive_runtime_set_event_callback(rt, on_event, &ev, NULL, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK_STATUS(toolhive_runtime_start(rt, json, &proxy, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(wait_for(&ev.authorization_required, 60000));
  pthread_mutex_lock(&ev.lock);
  CHECK(str_starts(ev.url, prefix));
  CHECK(str_has(ev.url, "client_id=c-client"));
  CHECK(str_has(ev.url, "code_challenge_method=S256"));
  CHECK(query_param(ev.url, "state", state, sizeof state));
  CHECK(query_param(ev.url, "redirect_uri", redirect, sizeof redirect));
  pthread_mutex_unlock(&ev.lock);
  CHECK(atomic_load(&ev.authorizing) == 1);
  CHECK(str_eq(toolhive_proxy_auth_state(proxy), "authorizing"));
  CHECK_STATUS(toolhive_proxy_get_info(proxy, &info, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(str_eq(toolhive_proxy_info_auth_json(info), "{\"state\":\"authorizing\"}"));
  CHECK(str_has(toolhive_proxy_info_json(info), "\"auth\":{\"state\":\"authorizing\"}"));
  toolhive_proxy_info_free(info);
  info = NULL;
  /* While no token exists, MCP clients get 503 with Retry-After (not 401). */
  CHECK(mcp_ping(toolhive_proxy_port(proxy), response, sizeof response) == 503);
  CHECK(str_has(response, "Retry-After") || str_has(response, "retry-after"));

  /* Playing the user's browser: the authorization server redirects to the callback. */
  CHECK(sscanf(redirect, "http://localhost:%hu/callback", &callback_port) == 1);
  snprintf(target, sizeof target, "/callback?code=the-code&state=%s", state);
  snprintf(json, sizeof json, "localhost:%u", callback_port);
  CHECK(http_request(callback_port, "GET", target, json, NULL, NULL, NULL, 0) == 200);
  CHECK(wait_for(&ev.authenticated, 60000));
  CHECK(atomic_load(&up.token_requests) == 1);
  pthread_mutex_lock(&ev.lock);
  CHECK(str_has(ev.auth_json, "\"type\":\"auth_state_changed\""));
  CHECK(str_has(ev.auth_json, "\"expires_at\""));
  pthread_mutex_unlock(&ev.lock);
  CHECK(str_eq(toolhive_proxy_auth_state(proxy), "authenticated"));
  CHECK_STATUS(toolhive_runtime_info(rt, "oauth-c", &info, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(str_starts(toolhive_proxy_info_auth_json(info), "{\"state\":\"authenticated\",\"expires_at\":\""));
  toolhive_proxy_info_free(info);
  info = NULL;
  /* Tokens and the client registration live in the host's store, under the proxy's keys. */
  CHECK(host_store_has(&store, "proxy/oauth-c/oauth_token", NULL, 0));
  CHECK(host_store_has(&store, "proxy/oauth-c/oauth_client", NULL, 0));
  /* Requests now carry the token. */
  i = atomic_load(&up.authorized);
  CHECK(mcp_ping(toolhive_proxy_port(proxy), response, sizeof response) == 200);
  CHECK(atomic_load(&up.authorized) == i + 1);
  /* No browser was started for any of this. */
  CHECK(!file_exists(browser_log));

  /* The default (a runtime whose host did not opt out): the browser is started as well. */
  rt2 = runtime_with_store(&store, 1);
  CHECK_STATUS(toolhive_runtime_set_event_callback(rt2, on_event, &ev2, NULL, &err), TOOLHIVE_STATUS_OK, &err);
  snprintf(json, sizeof json,
           "{\"remote_url\":\"%s\",\"name\":\"oauth-open\",\"oauth\":{\"client_id\":\"c-client\","
           "\"authorize_url\":\"http://127.0.0.1:%u/authorize\",\"token_url\":\"http://127.0.0.1:%u/token\"}}",
           remote, up.port, up.port);
  CHECK_STATUS(toolhive_runtime_start(rt2, json, &proxy2, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(wait_for(&ev2.authorization_required, 60000));
  for (i = 0; i < 500 && !file_exists(browser_log); i++) sleep_ms(20);
  CHECK(file_exists(browser_log));
  {
    char opened[2048] = "";
    FILE *f = fopen(browser_log, "r");
    if (f) {
      if (!fgets(opened, sizeof opened, f)) opened[0] = '\0';
      fclose(f);
    }
    CHECK(str_starts(opened, prefix));
    pthread_mutex_lock(&ev2.lock);
    CHECK(strncmp(opened, ev2.url, strlen(ev2.url)) == 0); /* the very URL of the event */
    pthread_mutex_unlock(&ev2.lock);
  }
  /* Each runtime got the store through its own options (each accepted vtable owns the
   * userdata once): each releases it when freed, although handles of its OAuth proxies are
   * still alive. */
  toolhive_runtime_free(rt2);
  CHECK(atomic_load(&store.freed) == 1);
  toolhive_runtime_free(rt);
  CHECK(atomic_load(&store.freed) == 2);
  CHECK(str_eq(toolhive_proxy_state(proxy), "stopped"));
  toolhive_proxy_free(proxy2);
  toolhive_proxy_free(proxy);
  CHECK(atomic_load(&store.on_creator) == 0);
  upstream_stop(&up);
  host_store_destroy(&store);
  pthread_mutex_destroy(&ev.lock);
  pthread_mutex_destroy(&ev2.lock);
}

int main(void) {
  setup();
  test_store_option_errors();
  test_protected_upstream();
  test_secret_operations();
  test_builtin_stores();
  test_oauth_from_c();
  teardown();
  return check_summary("test_secrets");
}
