/*
 * A local proxy in front of a remote MCP server, from C.
 *
 *   proxy <remote-url> [name [transport]]        transport: streamable-http (default) or sse
 *
 * Prints the local MCP URL (one line, as soon as it accepts connections), then the runtime's
 * proxy list, then runs until Ctrl-C (SIGINT) or SIGTERM and stops the proxy gracefully.
 * Log records of the library go to stderr.
 *
 * Build (see examples/c/README.md for the exact lines, static and shared).
 */
#define _POSIX_C_SOURCE 200809L

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "toolhive.h"

/* Print a failed call's status and error, and free the error. */
static void report(const char *what, toolhive_status status, toolhive_error *err) {
  fprintf(stderr, "%s failed: %s: %s\n", what, toolhive_status_str((int)status),
          err ? toolhive_error_message(err) : "(no details)");
  toolhive_error_free(err);
}

/* The library's log records, at info and above, to stderr (any thread; keep it short). */
static void on_log(void *userdata, const toolhive_log_record *record) {
  static const char *const names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
  const char *proxy = toolhive_log_record_proxy(record);
  (void)userdata;
  fprintf(stderr, "%-5s %s%s%s\n", names[toolhive_log_record_level(record)],
          proxy ? proxy : "", proxy ? ": " : "", toolhive_log_record_message(record));
}

/* The runtime's events (its own thread): state changes, and the login URL when the remote
 * needs OAuth (a browser is opened for it too, unless the runtime options say otherwise). */
static void on_event(void *userdata, const toolhive_event *event) {
  const char *type = toolhive_event_type(event);
  (void)userdata;
  if (strcmp(type, "state_changed") == 0) {
    fprintf(stderr, "event %s: %s -> %s\n", toolhive_event_proxy(event), toolhive_event_from_state(event),
            toolhive_event_to_state(event));
  } else if (strcmp(type, "authorization_required") == 0) {
    fprintf(stderr, "event %s: log in at %s\n", toolhive_event_proxy(event), toolhive_event_url(event));
  } else {
    fprintf(stderr, "event %s\n", toolhive_event_json(event));
  }
}

/* Append `s` to `out` as a JSON string literal; returns 0 if it does not fit. */
static int json_string(char *out, size_t cap, const char *s) {
  size_t n = strlen(out);
  if (n + 1 >= cap) return 0;
  out[n++] = '"';
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (n + 7 >= cap) return 0;
    if (c == '"' || c == '\\') {
      out[n++] = '\\';
      out[n++] = (char)c;
    } else if (c < 0x20) {
      n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
    } else {
      out[n++] = (char)c;
    }
  }
  if (n + 2 > cap) return 0;
  out[n++] = '"';
  out[n] = '\0';
  return 1;
}

int main(int argc, char **argv) {
  char config[4096] = "{\"remote_url\":";
  toolhive_runtime *rt = NULL;
  toolhive_proxy *proxy = NULL;
  toolhive_proxy_list *list = NULL;
  toolhive_error *err = NULL;
  toolhive_status status;
  sigset_t signals;
  int sig = 0;
  size_t i;

  if (argc < 2 || argc > 4) {
    fprintf(stderr, "usage: %s <remote-url> [name [transport]]\n", argv[0]);
    return 2;
  }
  /* The config is a JSON ProxyConfig, the same schema as the CLI's --config. */
  if (!json_string(config, sizeof config, argv[1]) ||
      (argc >= 3 && (strcat(config, ",\"name\":"), !json_string(config, sizeof config, argv[2]))) ||
      (argc >= 4 && (strcat(config, ",\"transport\":"), !json_string(config, sizeof config, argv[3]))) ||
      strlen(config) + 2 > sizeof config) {
    fprintf(stderr, "arguments too long\n");
    return 2;
  }
  strcat(config, "}");

  /* Block SIGINT/SIGTERM before the library starts its threads (they inherit the mask), so
   * that only sigwait() below receives them. */
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, NULL);

  status = toolhive_set_log_callback(on_log, TOOLHIVE_LOG_LEVEL_INFO, NULL, NULL, &err);
  if (status != TOOLHIVE_STATUS_OK) report("toolhive_set_log_callback", status, err), err = NULL;

  status = toolhive_runtime_new(NULL, &rt, &err);
  if (status != TOOLHIVE_STATUS_OK) {
    report("toolhive_runtime_new", status, err);
    return 1;
  }
  status = toolhive_runtime_set_event_callback(rt, on_event, NULL, NULL, &err);
  if (status != TOOLHIVE_STATUS_OK) report("toolhive_runtime_set_event_callback", status, err), err = NULL;

  status = toolhive_runtime_start(rt, config, &proxy, &err);
  if (status != TOOLHIVE_STATUS_OK) {
    report("toolhive_runtime_start", status, err);
    toolhive_runtime_free(rt);
    return 1;
  }
  printf("%s\n", toolhive_proxy_url(proxy));
  fflush(stdout);

  status = toolhive_runtime_list(rt, &list, &err);
  if (status == TOOLHIVE_STATUS_OK) {
    for (i = 0; i < toolhive_proxy_list_len(list); i++) {
      const toolhive_proxy_info *info = toolhive_proxy_list_get(list, i);
      fprintf(stderr, "%s\t%s\t%s\t%s -> %s\n", toolhive_proxy_info_name(info),
              toolhive_proxy_info_state(info), toolhive_proxy_info_transport(info),
              toolhive_proxy_info_url(info), toolhive_proxy_info_remote_url(info));
    }
    toolhive_proxy_list_free(list);
  } else {
    report("toolhive_runtime_list", status, err);
    err = NULL;
  }

  sigwait(&signals, &sig);
  fprintf(stderr, "got signal %d, stopping\n", sig);

  status = toolhive_proxy_stop(proxy, &err);
  if (status != TOOLHIVE_STATUS_OK) report("toolhive_proxy_stop", status, err), err = NULL;
  printf("stopped %s (%s)\n", toolhive_proxy_name(proxy), toolhive_proxy_state(proxy));
  toolhive_proxy_free(proxy);
  toolhive_runtime_free(rt);
  /* Remove the log callback last: nothing logs after this. */
  toolhive_set_log_callback(NULL, TOOLHIVE_LOG_LEVEL_INFO, NULL, NULL, NULL);
  return status == TOOLHIVE_STATUS_OK ? 0 : 1;
}
