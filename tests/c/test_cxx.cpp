// The header from C++: included twice (include guard), compiled with -Wall -Wextra -Werror
// -pedantic, names resolve with C linkage, and a proxy can be started and stopped with RAII.
#include "toolhive.h"
#include "toolhive.h"

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>

static_assert(TOOLHIVE_STATUS_OK == 0, "OK is 0");
static_assert(std::is_same<decltype(&toolhive_runtime_free), void (*)(toolhive_runtime *)>::value,
              "free takes the handle");

namespace {

int failed = 0;
int passed = 0;

void check(bool ok, const char *what, int line) {
  if (ok) {
    ++passed;
  } else {
    ++failed;
    std::fprintf(stderr, "test_cxx.cpp:%d: CHECK failed: %s\n", line, what);
  }
}
#define CHECK(cond) check((cond), #cond, __LINE__)

struct RuntimeDeleter {
  void operator()(toolhive_runtime *rt) const { toolhive_runtime_free(rt); }
};
struct ProxyDeleter {
  void operator()(toolhive_proxy *p) const { toolhive_proxy_free(p); }
};
struct ErrorDeleter {
  void operator()(toolhive_error *e) const { toolhive_error_free(e); }
};

}  // namespace

int main() {
  const std::string version = std::to_string(TOOLHIVE_VERSION_MAJOR) + "." +
                              std::to_string(TOOLHIVE_VERSION_MINOR) + "." +
                              std::to_string(TOOLHIVE_VERSION_PATCH);
  CHECK(version == toolhive_version());
  CHECK(std::strcmp(toolhive_status_str(TOOLHIVE_STATUS_NOT_FOUND), "not_found") == 0);

  toolhive_runtime *raw_rt = nullptr;
  toolhive_error *raw_err = nullptr;
  CHECK(toolhive_runtime_new(nullptr, &raw_rt, &raw_err) == TOOLHIVE_STATUS_OK);
  std::unique_ptr<toolhive_runtime, RuntimeDeleter> rt(raw_rt);

  toolhive_proxy *raw_proxy = nullptr;
  toolhive_status status = toolhive_runtime_start(
      rt.get(), R"({"remote_url":"http://127.0.0.1:9/mcp","name":"cxx"})", &raw_proxy, &raw_err);
  std::unique_ptr<toolhive_proxy, ProxyDeleter> proxy(raw_proxy);
  CHECK(status == TOOLHIVE_STATUS_OK);
  CHECK(proxy && std::string(toolhive_proxy_state(proxy.get())) == "running");

  status = toolhive_runtime_start(rt.get(), R"({"remote_url":"http://127.0.0.1:9/mcp","port":"x"})",
                                  &raw_proxy, &raw_err);
  std::unique_ptr<toolhive_error, ErrorDeleter> err(raw_err);
  CHECK(status == TOOLHIVE_STATUS_INVALID_CONFIG);
  CHECK(err && std::string(toolhive_error_field(err.get())) == "port");

  CHECK(toolhive_proxy_stop(proxy.get(), nullptr) == TOOLHIVE_STATUS_OK);
  CHECK(std::string(toolhive_proxy_state(proxy.get())) == "stopped");
  rt.reset();
  CHECK(toolhive_proxy_stop(proxy.get(), nullptr) == TOOLHIVE_STATUS_OK);

  std::printf("test_cxx: %d passed, %d failed\n", passed, failed);
  return failed == 0 && passed > 0 ? 0 : 1;
}
