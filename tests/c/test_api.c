/*
 * The C API on one thread: versions, status names, NULL arguments, invalid UTF-8, malformed and
 * schema-violating JSON (errors name the field), runtime options, start/accessors/list/get/
 * logs, a real HTTP request to the local endpoint, double stop, stop after runtime free, and
 * free(NULL) everywhere.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"

/* Nothing listens on port 9 (discard): proxies start without contacting their remote. */
#define REMOTE "http://127.0.0.1:9/mcp"

#define STR2(x) #x
#define STR(x) STR2(x)

/* GET /health on 127.0.0.1:port; returns the HTTP status code, or -1 if nothing answers. */
static int http_health(uint16_t port) {
  struct sockaddr_in addr;
  char request[128], response[512];
  ssize_t n, total = 0;
  int code = -1;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  snprintf(request, sizeof request,
           "GET /health HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nConnection: close\r\n\r\n", port);
  if (write(fd, request, strlen(request)) == (ssize_t)strlen(request)) {
    while (total < (ssize_t)sizeof response - 1 &&
           (n = read(fd, response + total, sizeof response - 1 - (size_t)total)) > 0) {
      total += n;
    }
    response[total] = '\0';
    if (sscanf(response, "HTTP/1.1 %d", &code) != 1) code = -1;
  }
  close(fd);
  return code;
}

static void test_version(void) {
  CHECK(str_eq(toolhive_version(),
               STR(TOOLHIVE_VERSION_MAJOR) "." STR(TOOLHIVE_VERSION_MINOR) "." STR(TOOLHIVE_VERSION_PATCH)));
}

static void test_status_str(void) {
  CHECK(TOOLHIVE_STATUS_OK == 0);
  CHECK(str_eq(toolhive_status_str(TOOLHIVE_STATUS_OK), "ok"));
  CHECK(str_eq(toolhive_status_str(TOOLHIVE_STATUS_NULL_ARGUMENT), "null_argument"));
  CHECK(str_eq(toolhive_status_str(TOOLHIVE_STATUS_INVALID_CONFIG), "invalid_config"));
  CHECK(str_eq(toolhive_status_str(TOOLHIVE_STATUS_PANIC), "panic"));
  CHECK(str_eq(toolhive_status_str(TOOLHIVE_STATUS_IN_CALLBACK), "in_callback"));
  CHECK(str_eq(toolhive_status_str(TOOLHIVE_STATUS_SECRET), "secret"));
  CHECK(str_eq(toolhive_status_str(TOOLHIVE_STATUS_AUTH_REQUIRED), "auth_required"));
  CHECK(str_eq(toolhive_status_str(TOOLHIVE_STATUS_STATE), "state"));
  CHECK(str_eq(toolhive_status_str(-1), "unknown"));
  CHECK(str_eq(toolhive_status_str(1000), "unknown"));
}

static void test_free_null(void) {
  toolhive_error_free(NULL);
  toolhive_runtime_options_free(NULL);
  toolhive_runtime_free(NULL);
  toolhive_proxy_free(NULL);
  toolhive_proxy_list_free(NULL);
  toolhive_log_lines_free(NULL);
  CHECK(1);
}

static void test_null_arguments(const toolhive_runtime *rt) {
  toolhive_error *err = NULL;
  toolhive_proxy *sentinel = (toolhive_proxy *)&err; /* never dereferenced: must stay as is */
  toolhive_proxy *proxy = sentinel;
  toolhive_proxy_list *list = NULL;
  toolhive_log_lines *lines = NULL;
  toolhive_runtime *new_rt = NULL;
  const char *json = "{\"remote_url\":\"" REMOTE "\"}";

  /* Fallible functions: status, error naming the parameter, outputs untouched. */
  CHECK_STATUS_KEEP(toolhive_runtime_start(NULL, json, &proxy, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK(toolhive_error_code(err) == TOOLHIVE_STATUS_NULL_ARGUMENT);
  CHECK(str_eq(toolhive_error_field(err), "rt"));
  CHECK(str_eq(toolhive_error_message(err), "rt: must not be NULL"));
  toolhive_error_free(err);
  err = NULL;
  CHECK(proxy == sentinel);

  CHECK_STATUS_KEEP(toolhive_runtime_start(rt, NULL, &proxy, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK(str_eq(toolhive_error_field(err), "config_json"));
  toolhive_error_free(err);
  err = NULL;
  CHECK_STATUS_KEEP(toolhive_runtime_start(rt, json, NULL, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK(str_eq(toolhive_error_field(err), "out"));
  toolhive_error_free(err);
  err = NULL;
  CHECK(proxy == sentinel);
  /* Without an error out-parameter only the status reports the failure. */
  CHECK(toolhive_runtime_start(rt, NULL, &proxy, NULL) == TOOLHIVE_STATUS_NULL_ARGUMENT);

  CHECK_STATUS(toolhive_runtime_new(NULL, NULL, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK(new_rt == NULL);
  CHECK_STATUS(toolhive_runtime_list(NULL, &list, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK_STATUS(toolhive_runtime_list(rt, NULL, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK(list == NULL);
  CHECK_STATUS(toolhive_runtime_get_proxy(NULL, "x", &proxy, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK_STATUS_KEEP(toolhive_runtime_get_proxy(rt, NULL, &proxy, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK(str_eq(toolhive_error_field(err), "name"));
  toolhive_error_free(err);
  err = NULL;
  CHECK_STATUS(toolhive_runtime_get_proxy(rt, "x", NULL, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK(proxy == sentinel);
  CHECK_STATUS(toolhive_runtime_set_event_callback(NULL, NULL, NULL, NULL, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK_STATUS(toolhive_proxy_stop(NULL, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK_STATUS(toolhive_proxy_logs(NULL, &lines, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK(lines == NULL);
  CHECK_STATUS(toolhive_runtime_options_set_worker_threads(NULL, 1, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK_STATUS(toolhive_runtime_options_set_state_dir(NULL, "/tmp", &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);
  CHECK_STATUS(toolhive_runtime_options_set_open_browser(NULL, false, &err), TOOLHIVE_STATUS_NULL_ARGUMENT, &err);

  /* Accessors: NULL in, NULL / 0 out. */
  CHECK(toolhive_error_code(NULL) == TOOLHIVE_STATUS_NULL_ARGUMENT);
  CHECK(toolhive_error_message(NULL) == NULL);
  CHECK(toolhive_error_field(NULL) == NULL);
  CHECK(toolhive_runtime_state_dir(NULL) == NULL);
  CHECK(toolhive_proxy_name(NULL) == NULL);
  CHECK(toolhive_proxy_url(NULL) == NULL);
  CHECK(toolhive_proxy_remote_url(NULL) == NULL);
  CHECK(toolhive_proxy_transport(NULL) == NULL);
  CHECK(toolhive_proxy_state(NULL) == NULL);
  CHECK(toolhive_proxy_port(NULL) == 0);
  CHECK(toolhive_proxy_auth_state(NULL) == NULL);
  CHECK(toolhive_proxy_info_auth_state(NULL) == NULL);
  CHECK(toolhive_event_url(NULL) == NULL);
  CHECK(toolhive_event_auth_state(NULL) == NULL);
  CHECK(toolhive_proxy_list_len(NULL) == 0);
  CHECK(toolhive_proxy_list_get(NULL, 0) == NULL);
  CHECK(toolhive_proxy_info_name(NULL) == NULL);
  CHECK(toolhive_proxy_info_url(NULL) == NULL);
  CHECK(toolhive_proxy_info_remote_url(NULL) == NULL);
  CHECK(toolhive_proxy_info_transport(NULL) == NULL);
  CHECK(toolhive_proxy_info_state(NULL) == NULL);
  CHECK(toolhive_proxy_info_failure_reason(NULL) == NULL);
  CHECK(toolhive_proxy_info_json(NULL) == NULL);
  CHECK(toolhive_proxy_info_started_at_ms(NULL) == 0);
  CHECK(toolhive_log_lines_len(NULL) == 0);
  CHECK(toolhive_log_lines_get(NULL, 0) == NULL);
  CHECK(toolhive_log_line_text(NULL) == NULL);
  CHECK(toolhive_log_line_message(NULL) == NULL);
  CHECK(toolhive_log_line_level(NULL) == TOOLHIVE_LOG_LEVEL_DEBUG);
  CHECK(toolhive_log_line_time_ms(NULL) == 0);
  CHECK(toolhive_log_record_level(NULL) == TOOLHIVE_LOG_LEVEL_DEBUG);
  CHECK(toolhive_log_record_target(NULL) == NULL);
  CHECK(toolhive_log_record_proxy(NULL) == NULL);
  CHECK(toolhive_log_record_message(NULL) == NULL);
  CHECK(toolhive_event_proxy(NULL) == NULL);
  CHECK(toolhive_event_type(NULL) == NULL);
  CHECK(toolhive_event_from_state(NULL) == NULL);
  CHECK(toolhive_event_to_state(NULL) == NULL);
  CHECK(toolhive_event_json(NULL) == NULL);
}

/* Marks an expected field that is not checked: JSON cut off inside a value may name the field
 * being read (core reports where the parser stopped). */
static const char ANY_FIELD[] = "<any>";

/* Start with `json`; expect `want` and an error whose field is `field` (NULL: none; ANY_FIELD:
 * not checked) and whose message contains `part`. */
static void expect_start_error(const toolhive_runtime *rt, const char *json, toolhive_status want,
                               const char *field, const char *part) {
  toolhive_error *err = NULL;
  toolhive_proxy *proxy = NULL;
  if (CHECK_STATUS_KEEP(toolhive_runtime_start(rt, json, &proxy, &err), want, &err)) {
    CHECK(err != NULL);
    CHECK(toolhive_error_code(err) == want);
    if (field == ANY_FIELD) field = toolhive_error_field(err);
    if (!str_eq(toolhive_error_field(err), field) || !str_has(toolhive_error_message(err), part)) {
      fprintf(stderr, "  for %s: field %s, message %s\n", json,
              toolhive_error_field(err) ? toolhive_error_field(err) : "(null)", toolhive_error_message(err));
    }
    CHECK(str_eq(toolhive_error_field(err), field));
    CHECK(str_has(toolhive_error_message(err), part));
    if (field) CHECK(str_starts(toolhive_error_message(err), field));
  }
  CHECK(proxy == NULL);
  toolhive_error_free(err);
  toolhive_proxy_free(proxy);
}

static void test_bad_input(const toolhive_runtime *rt) {
  toolhive_error *err = NULL;
  toolhive_proxy *proxy = NULL;

  /* Invalid UTF-8: in a JSON value (names the field), anywhere else (names the parameter). */
  expect_start_error(rt, "{\"name\":\"ok\",\"remote_url\":\"http://127.0.0.1:9/\xff\"}",
                     TOOLHIVE_STATUS_INVALID_UTF8, "remote_url", "UTF-8");
  expect_start_error(rt, "\xff\xfe", TOOLHIVE_STATUS_INVALID_UTF8, "config_json", "UTF-8");
  expect_start_error(rt, "{\"headers\":{\"X-A\":\"v\xc3\"},\"remote_url\":\"" REMOTE "\"}", TOOLHIVE_STATUS_INVALID_UTF8,
                     "headers.X-A", "offset 20");
  /* A schema error before the bad byte is reported first. */
  expect_start_error(rt, "{\"port\":\"x\",\"remote_url\":\"\xff\"}", TOOLHIVE_STATUS_INVALID_CONFIG, "port", "port: ");
  CHECK_STATUS_KEEP(toolhive_runtime_get_proxy(rt, "bad\xc3", &proxy, &err), TOOLHIVE_STATUS_INVALID_UTF8, &err);
  CHECK(str_eq(toolhive_error_field(err), "name"));
  toolhive_error_free(err);
  err = NULL;
  CHECK(proxy == NULL);

  /* Malformed JSON: no field, says so. */
  expect_start_error(rt, "{", TOOLHIVE_STATUS_INVALID_CONFIG, NULL, "not valid JSON");
  expect_start_error(rt, "{\"remote_url\":", TOOLHIVE_STATUS_INVALID_CONFIG, ANY_FIELD, "not valid JSON");
  expect_start_error(rt, "", TOOLHIVE_STATUS_INVALID_CONFIG, NULL, "not valid JSON");
  expect_start_error(rt, "[]", TOOLHIVE_STATUS_INVALID_CONFIG, NULL, "config must be a JSON object");
  expect_start_error(rt, "\"x\"", TOOLHIVE_STATUS_INVALID_CONFIG, NULL, "config must be a JSON object");
  /* Schema violations name the field. */
  expect_start_error(rt, "{\"remote_url\":\"" REMOTE "\",\"port\":\"x\"}", TOOLHIVE_STATUS_INVALID_CONFIG, "port", "port: ");
  expect_start_error(rt, "{\"remote_url\":\"" REMOTE "\",\"port\":70000}", TOOLHIVE_STATUS_INVALID_CONFIG, "port", "port: ");
  expect_start_error(rt, "{\"remote_url\":\"" REMOTE "\",\"health_check\":{\"interval_ms\":\"soon\"}}",
                     TOOLHIVE_STATUS_INVALID_CONFIG, "health_check.interval_ms", "health_check.interval_ms: ");
  expect_start_error(rt, "{\"remote_url\":\"" REMOTE "\",\"bogus\":1}", TOOLHIVE_STATUS_INVALID_CONFIG, "bogus", "bogus");
  expect_start_error(rt, "{\"remote_url\":\"ftp://example.com/mcp\"}", TOOLHIVE_STATUS_INVALID_CONFIG, "remote_url", "remote_url: ");
  expect_start_error(rt, "{\"remote_url\":\"" REMOTE "\",\"name\":\"no spaces\"}", TOOLHIVE_STATUS_INVALID_CONFIG, "name", "name: ");
  expect_start_error(rt, "{\"port\":1}", TOOLHIVE_STATUS_INVALID_CONFIG, NULL, "remote_url");
}

static void test_options(void) {
  toolhive_error *err = NULL;
  toolhive_runtime *rt = NULL;
  toolhive_proxy *proxy = NULL;
  toolhive_runtime_options *opts = toolhive_runtime_options_new();
  char state_dir[] = "/tmp/toolhive-c-test-XXXXXX";
  char path[512], command[600];
  FILE *saved;

  CHECK(opts != NULL);
  CHECK(mkdtemp(state_dir) != NULL);
  CHECK_STATUS_KEEP(toolhive_runtime_options_set_worker_threads(opts, 5000, &err), TOOLHIVE_STATUS_INVALID_ARGUMENT, &err);
  CHECK(str_eq(toolhive_error_field(err), "worker_threads"));
  toolhive_error_free(err);
  err = NULL;
  CHECK_STATUS(toolhive_runtime_options_set_worker_threads(opts, 2, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK_STATUS_KEEP(toolhive_runtime_options_set_state_dir(opts, "", &err), TOOLHIVE_STATUS_INVALID_ARGUMENT, &err);
  CHECK(str_eq(toolhive_error_field(err), "state_dir"));
  toolhive_error_free(err);
  err = NULL;
  CHECK_STATUS_KEEP(toolhive_runtime_options_set_state_dir(opts, "/tmp/\xe2\x82", &err), TOOLHIVE_STATUS_INVALID_UTF8, &err);
  CHECK(str_eq(toolhive_error_field(err), "state_dir"));
  toolhive_error_free(err);
  err = NULL;
  CHECK_STATUS(toolhive_runtime_options_set_open_browser(opts, false, &err), TOOLHIVE_STATUS_OK, &err);

  /* A state directory that cannot be created: TOOLHIVE_STATUS_STATE naming the option. */
  snprintf(path, sizeof path, "%s/file", state_dir);
  saved = fopen(path, "w");
  CHECK(saved != NULL);
  if (saved) fclose(saved);
  snprintf(path, sizeof path, "%s/file/below-a-file", state_dir);
  CHECK_STATUS(toolhive_runtime_options_set_state_dir(opts, path, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK_STATUS_KEEP(toolhive_runtime_new(opts, &rt, &err), TOOLHIVE_STATUS_STATE, &err);
  CHECK(str_eq(toolhive_error_field(err), "state_dir"));
  toolhive_error_free(err);
  err = NULL;
  CHECK(rt == NULL);

  /* A usable one: created, reported, and the proxy is saved there. */
  snprintf(path, sizeof path, "%s/state", state_dir);
  CHECK_STATUS(toolhive_runtime_options_set_state_dir(opts, path, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK_STATUS(toolhive_runtime_new(opts, &rt, &err), TOOLHIVE_STATUS_OK, &err);
  toolhive_runtime_options_free(opts); /* the runtime copied what it needs */
  CHECK(str_eq(toolhive_runtime_state_dir(rt), path));
  CHECK_STATUS(toolhive_runtime_start(rt, "{\"remote_url\":\"" REMOTE "\",\"name\":\"saved\"}", &proxy, &err),
               TOOLHIVE_STATUS_OK, &err);
  snprintf(path, sizeof path, "%s/state/proxies/saved.json", state_dir);
  saved = fopen(path, "r");
  CHECK(saved != NULL);
  if (saved) fclose(saved);
  toolhive_runtime_free(rt);
  toolhive_proxy_free(proxy);
  snprintf(command, sizeof command, "rm -rf '%s'", state_dir);
  CHECK(system(command) == 0);

  /* NULL options: defaults, no state directory; NULL clears a state directory. */
  rt = NULL;
  CHECK_STATUS(toolhive_runtime_new(NULL, &rt, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(toolhive_runtime_state_dir(rt) == NULL);
  toolhive_runtime_free(rt);
  opts = toolhive_runtime_options_new();
  CHECK_STATUS(toolhive_runtime_options_set_state_dir(opts, "/x", &err), TOOLHIVE_STATUS_OK, &err);
  CHECK_STATUS(toolhive_runtime_options_set_state_dir(opts, NULL, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK_STATUS(toolhive_runtime_new(opts, &rt, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(toolhive_runtime_state_dir(rt) == NULL);
  toolhive_runtime_options_free(opts);
  toolhive_runtime_free(rt);
}

static void test_lifecycle(void) {
  toolhive_error *err = NULL;
  toolhive_runtime *rt = NULL;
  toolhive_proxy *proxy = NULL, *again = NULL, *second = NULL, *other = NULL;
  toolhive_proxy_list *list = NULL;
  toolhive_log_lines *lines = NULL;
  char json[256];
  uint16_t port;
  size_t i;
  int found_start_line = 0;

  CHECK_STATUS(toolhive_runtime_new(NULL, &rt, &err), TOOLHIVE_STATUS_OK, &err);
  test_null_arguments(rt);
  test_bad_input(rt);

  CHECK_STATUS(toolhive_runtime_start(rt, "{\"remote_url\":\"" REMOTE "\",\"name\":\"api-test\"}", &proxy, &err),
               TOOLHIVE_STATUS_OK, &err);
  if (!proxy) {
    toolhive_runtime_free(rt);
    return;
  }
  port = toolhive_proxy_port(proxy);
  CHECK(port > 0);
  CHECK(str_eq(toolhive_proxy_name(proxy), "api-test"));
  CHECK(str_starts(toolhive_proxy_url(proxy), "http://127.0.0.1:"));
  snprintf(json, sizeof json, "http://127.0.0.1:%u/mcp", port);
  CHECK(str_eq(toolhive_proxy_url(proxy), json));
  CHECK(str_eq(toolhive_proxy_remote_url(proxy), REMOTE));
  CHECK(str_eq(toolhive_proxy_transport(proxy), "streamable-http"));
  CHECK(str_eq(toolhive_proxy_state(proxy), "running"));
  /* Without static credentials the proxy is ready for OAuth; with a bearer token it has no
   * authorization state. */
  CHECK(str_eq(toolhive_proxy_auth_state(proxy), "unauthenticated"));
  CHECK_STATUS(toolhive_runtime_start(rt, "{\"remote_url\":\"" REMOTE "\",\"name\":\"static-token\","
                                          "\"bearer_token\":{\"value\":\"not-a-real-token\"}}", &other, &err),
               TOOLHIVE_STATUS_OK, &err);
  CHECK(toolhive_proxy_auth_state(other) == NULL);
  CHECK_STATUS(toolhive_proxy_stop(other, &err), TOOLHIVE_STATUS_OK, &err);
  toolhive_proxy_free(other);
  other = NULL;
  /* The local endpoint really serves. */
  CHECK(http_health(port) == 200);

  /* Name and port are taken while it runs; the errors name the field. */
  CHECK_STATUS_KEEP(toolhive_runtime_start(rt, "{\"remote_url\":\"" REMOTE "\",\"name\":\"api-test\"}", &other, &err),
                    TOOLHIVE_STATUS_NAME_IN_USE, &err);
  CHECK(str_eq(toolhive_error_field(err), "name"));
  toolhive_error_free(err);
  err = NULL;
  snprintf(json, sizeof json, "{\"remote_url\":\"%s\",\"name\":\"other\",\"port\":%u}", REMOTE, port);
  CHECK_STATUS_KEEP(toolhive_runtime_start(rt, json, &other, &err), TOOLHIVE_STATUS_ADDRESS_IN_USE, &err);
  CHECK(str_eq(toolhive_error_field(err), "port"));
  toolhive_error_free(err);
  err = NULL;
  CHECK(other == NULL);

  /* The list snapshot. */
  CHECK_STATUS(toolhive_runtime_list(rt, &list, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(toolhive_proxy_list_len(list) == 2); /* sorted by name: api-test, static-token */
  CHECK(str_eq(toolhive_proxy_info_name(toolhive_proxy_list_get(list, 1)), "static-token"));
  CHECK(str_eq(toolhive_proxy_info_state(toolhive_proxy_list_get(list, 1)), "stopped"));
  CHECK(toolhive_proxy_info_auth_state(toolhive_proxy_list_get(list, 1)) == NULL);
  if (toolhive_proxy_list_len(list) == 2) {
    const toolhive_proxy_info *info = toolhive_proxy_list_get(list, 0);
    CHECK(str_eq(toolhive_proxy_info_auth_state(info), "unauthenticated"));
    CHECK(str_eq(toolhive_proxy_info_name(info), "api-test"));
    CHECK(str_eq(toolhive_proxy_info_url(info), toolhive_proxy_url(proxy)));
    CHECK(str_eq(toolhive_proxy_info_remote_url(info), REMOTE));
    CHECK(str_eq(toolhive_proxy_info_transport(info), "streamable-http"));
    CHECK(str_eq(toolhive_proxy_info_state(info), "running"));
    CHECK(toolhive_proxy_info_failure_reason(info) == NULL);
    CHECK(toolhive_proxy_info_started_at_ms(info) > 1700000000000LL);
    CHECK(str_has(toolhive_proxy_info_json(info), "\"name\":\"api-test\""));
    CHECK(str_has(toolhive_proxy_info_json(info), "\"state\":\"running\""));
  }
  CHECK(toolhive_proxy_list_get(list, 2) == NULL);
  CHECK(toolhive_proxy_list_get(list, (size_t)-1) == NULL);
  toolhive_proxy_list_free(list);
  list = NULL;

  /* A second handle by name; unknown names. */
  CHECK_STATUS(toolhive_runtime_get_proxy(rt, "api-test", &again, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(str_eq(toolhive_proxy_url(again), toolhive_proxy_url(proxy)));
  CHECK_STATUS_KEEP(toolhive_runtime_get_proxy(rt, "nope", &other, &err), TOOLHIVE_STATUS_NOT_FOUND, &err);
  CHECK(str_has(toolhive_error_message(err), "nope"));
  toolhive_error_free(err);
  err = NULL;
  CHECK(other == NULL);

  /* Recent log lines. */
  CHECK_STATUS(toolhive_proxy_logs(proxy, &lines, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(toolhive_log_lines_len(lines) >= 1);
  for (i = 0; i < toolhive_log_lines_len(lines); i++) {
    const toolhive_log_line *line = toolhive_log_lines_get(lines, i);
    CHECK(line != NULL);
    CHECK(toolhive_log_line_time_ms(line) > 1700000000000LL);
    CHECK(str_has(toolhive_log_line_text(line), toolhive_log_line_message(line)));
    if (str_has(toolhive_log_line_message(line), "proxying " REMOTE)) {
      found_start_line = 1;
      CHECK(toolhive_log_line_level(line) == TOOLHIVE_LOG_LEVEL_INFO);
      CHECK(str_has(toolhive_log_line_text(line), "INFO"));
    }
  }
  CHECK(found_start_line);
  CHECK(toolhive_log_lines_get(lines, toolhive_log_lines_len(lines)) == NULL);
  toolhive_log_lines_free(lines);

  /* Stop, stop again (also through the other handle): all OK, port released. */
  CHECK_STATUS(toolhive_proxy_stop(proxy, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(str_eq(toolhive_proxy_state(proxy), "stopped"));
  CHECK(str_eq(toolhive_proxy_state(again), "stopped"));
  CHECK_STATUS(toolhive_proxy_stop(proxy, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK_STATUS(toolhive_proxy_stop(again, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(http_health(port) == -1);
  CHECK_STATUS(toolhive_runtime_list(rt, &list, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(toolhive_proxy_list_len(list) == 2);
  CHECK(str_eq(toolhive_proxy_info_state(toolhive_proxy_list_get(list, 0)), "stopped"));
  toolhive_proxy_list_free(list);
  toolhive_proxy_free(again);

  /* The name is free again once stopped; this one stays running until the runtime is freed. */
  CHECK_STATUS(toolhive_runtime_start(rt, "{\"remote_url\":\"" REMOTE "\",\"name\":\"api-test\",\"stop_grace_ms\":200}",
                                      &second, &err),
               TOOLHIVE_STATUS_OK, &err);
  CHECK(str_eq(toolhive_proxy_state(second), "running"));
  port = toolhive_proxy_port(second);
  CHECK(http_health(port) == 200);

  /* Freeing the runtime stops it; handles stay usable and stopping them is a no-op. */
  toolhive_runtime_free(rt);
  CHECK(http_health(port) == -1);
  CHECK(str_eq(toolhive_proxy_state(second), "stopped"));
  CHECK(str_eq(toolhive_proxy_name(second), "api-test"));
  CHECK_STATUS(toolhive_proxy_stop(second, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK_STATUS(toolhive_proxy_stop(proxy, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK_STATUS(toolhive_proxy_logs(second, &lines, &err), TOOLHIVE_STATUS_OK, &err);
  CHECK(toolhive_log_lines_len(lines) >= 2);
  toolhive_log_lines_free(lines);
  toolhive_proxy_free(second);
  toolhive_proxy_free(proxy);
}

int main(void) {
  test_version();
  test_status_str();
  test_free_null();
  test_options();
  test_lifecycle();
  return check_summary("test_api");
}
