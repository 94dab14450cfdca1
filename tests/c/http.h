/* HTTP for the C tests, over plain sockets:
 *   - an upstream: one thread serving one connection at a time ("Connection: close") with
 *       POST/GET /mcp    200 {"jsonrpc":"2.0","id":1,"result":{}}, or 401 with a bare
 *                        "WWW-Authenticate: Bearer" unless the request carries
 *                        "Authorization: Bearer <token>" (when a token is required)
 *       POST /token      200 {"access_token":"<token>","token_type":"Bearer","expires_in":3600}
 *                        (an OAuth token endpoint)
 *   - http_request(): one request to 127.0.0.1:port, returns the status (-1: no answer).
 * Include after defining _POSIX_C_SOURCE 200809L. */
#ifndef TOOLHIVE_TEST_HTTP_H
#define TOOLHIVE_TEST_HTTP_H

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

struct upstream {
  int fd;
  uint16_t port;
  pthread_t thread;
  atomic_int stop;
  char token[128];           /* required bearer token on /mcp ("" = none) */
  atomic_int mcp_requests;   /* requests to /mcp */
  atomic_int authorized;     /* ...that carried the required token */
  atomic_int token_requests; /* POST /token */
};

static inline void http_set_timeout(int fd, int seconds) {
  struct timeval tv;
  tv.tv_sec = seconds;
  tv.tv_usec = 0;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* The value of header `name` (case-insensitive) in the request head `head`, copied to `out`;
 * 1 if found. */
static inline int http_header(const char *head, const char *name, char *out, size_t size) {
  size_t len = strlen(name);
  const char *line = strstr(head, "\r\n");
  while (line != NULL && line[2] != '\r' && line[2] != '\0') {
    const char *start = line + 2;
    const char *end = strstr(start, "\r\n");
    size_t i;
    int match = 1;
    if (end == NULL) break;
    for (i = 0; i < len; i++) {
      if (start[i] == '\0' || tolower((unsigned char)start[i]) != tolower((unsigned char)name[i])) {
        match = 0;
        break;
      }
    }
    if (match && start[len] == ':') {
      const char *v = start + len + 1;
      size_t n;
      while (*v == ' ') v++;
      n = (size_t)(end - v);
      if (n >= size) n = size - 1;
      memcpy(out, v, n);
      out[n] = '\0';
      return 1;
    }
    line = end;
  }
  return 0;
}

/* Read one request (head and Content-Length body) into buf; returns the head's length
 * (offset of the body), or -1. */
static inline ssize_t http_read_request(int fd, char *buf, size_t size) {
  size_t total = 0;
  char *end = NULL;
  char value[32];
  size_t head_len, body_len = 0;
  while (end == NULL) {
    ssize_t n;
    if (total + 1 >= size) return -1;
    n = read(fd, buf + total, size - 1 - total);
    if (n <= 0) return -1;
    total += (size_t)n;
    buf[total] = '\0';
    end = strstr(buf, "\r\n\r\n");
  }
  head_len = (size_t)(end - buf) + 4;
  if (http_header(buf, "content-length", value, sizeof value)) body_len = (size_t)strtoul(value, NULL, 10);
  while (total < head_len + body_len && total + 1 < size) {
    ssize_t n = read(fd, buf + total, size - 1 - total);
    if (n <= 0) break;
    total += (size_t)n;
  }
  buf[total] = '\0';
  return (ssize_t)head_len;
}

static inline void http_respond(int fd, const char *status, const char *extra, const char *body) {
  char response[1024];
  int n = snprintf(response, sizeof response,
                   "HTTP/1.1 %s\r\n%sContent-Type: application/json\r\nContent-Length: %zu\r\n"
                   "Connection: close\r\n\r\n%s",
                   status, extra, strlen(body), body);
  if (n > 0 && write(fd, response, (size_t)n) != n) {
    /* the client went away: nothing to do */
  }
}

static inline void upstream_serve(struct upstream *up, int fd) {
  char request[16384], method[16], path[512], auth[256], expected[160], body[256];
  http_set_timeout(fd, 5);
  if (http_read_request(fd, request, sizeof request) < 0) return;
  if (sscanf(request, "%15s %511s", method, path) != 2) return;
  if (strncmp(path, "/mcp", 4) == 0) {
    atomic_fetch_add(&up->mcp_requests, 1);
    snprintf(expected, sizeof expected, "Bearer %s", up->token);
    if (up->token[0] != '\0' &&
        !(http_header(request, "authorization", auth, sizeof auth) && strcmp(auth, expected) == 0)) {
      http_respond(fd, "401 Unauthorized", "WWW-Authenticate: Bearer\r\n", "");
      return;
    }
    if (up->token[0] != '\0') atomic_fetch_add(&up->authorized, 1);
    http_respond(fd, "200 OK", "", "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}");
  } else if (strcmp(method, "POST") == 0 && strcmp(path, "/token") == 0) {
    atomic_fetch_add(&up->token_requests, 1);
    snprintf(body, sizeof body, "{\"access_token\":\"%s\",\"token_type\":\"Bearer\",\"expires_in\":3600}", up->token);
    http_respond(fd, "200 OK", "Cache-Control: no-store\r\n", body);
  } else {
    http_respond(fd, "404 Not Found", "", "{}");
  }
}

static inline void *upstream_main(void *arg) {
  struct upstream *up = (struct upstream *)arg;
  while (!atomic_load(&up->stop)) {
    struct pollfd p;
    int client;
    p.fd = up->fd;
    p.events = POLLIN;
    p.revents = 0;
    if (poll(&p, 1, 50) <= 0) continue;
    client = accept(up->fd, NULL, NULL);
    if (client < 0) continue;
    upstream_serve(up, client);
    close(client);
  }
  return NULL;
}

/* Start an upstream on a free port of 127.0.0.1; `token` may be NULL (no token required).
 * Returns 0 on success. */
static inline int upstream_start(struct upstream *up, const char *token) {
  struct sockaddr_in addr;
  socklen_t len = sizeof addr;
  memset(up, 0, sizeof *up);
  snprintf(up->token, sizeof up->token, "%s", token ? token : "");
  up->fd = socket(AF_INET, SOCK_STREAM, 0);
  if (up->fd < 0) return -1;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(up->fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(up->fd, 16) != 0 ||
      getsockname(up->fd, (struct sockaddr *)&addr, &len) != 0) {
    close(up->fd);
    return -1;
  }
  up->port = ntohs(addr.sin_port);
  if (pthread_create(&up->thread, NULL, upstream_main, up) != 0) {
    close(up->fd);
    return -1;
  }
  return 0;
}

static inline void upstream_stop(struct upstream *up) {
  atomic_store(&up->stop, 1);
  pthread_join(up->thread, NULL);
  close(up->fd);
}

/* One request to 127.0.0.1:port; `host` is the Host header, `extra` more header lines (each
 * ending in \r\n), `body` may be NULL. The whole response is copied to `response` (may be
 * NULL). Returns the status, or -1 when nothing answers. */
static inline int http_request(uint16_t port, const char *method, const char *target, const char *host,
                        const char *extra, const char *body, char *response, size_t size) {
  struct sockaddr_in addr;
  char request[4096], buf[16384];
  size_t total = 0;
  ssize_t n;
  int code = -1, len;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  http_set_timeout(fd, 30);
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  len = snprintf(request, sizeof request,
                 "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n%sContent-Length: %zu\r\n\r\n%s", method,
                 target, host, extra ? extra : "", body ? strlen(body) : (size_t)0, body ? body : "");
  if (len > 0 && write(fd, request, (size_t)len) == len) {
    while (total + 1 < sizeof buf && (n = read(fd, buf + total, sizeof buf - 1 - total)) > 0) total += (size_t)n;
    buf[total] = '\0';
    if (sscanf(buf, "HTTP/1.1 %d", &code) != 1) code = -1;
    if (response != NULL && size > 0) snprintf(response, size, "%s", buf);
  }
  close(fd);
  return code;
}

/* POST an MCP ping to a proxy's local URL on `port`; returns the HTTP status. */
static inline int mcp_ping(uint16_t port, char *response, size_t size) {
  char host[64];
  snprintf(host, sizeof host, "127.0.0.1:%u", port);
  return http_request(port, "POST", "/mcp", host,
                      "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n",
                      "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", response, size);
}

#endif
