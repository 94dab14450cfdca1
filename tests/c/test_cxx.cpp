// The header from C++: included twice (include guard), compiled with -Wall -Wextra -Werror
// -pedantic, names resolve with C linkage, a proxy can be started, restarted and stopped with
// RAII, and a secret store can be written in C++ (captureless lambdas as callbacks).
#include "toolhive.h"
#include "toolhive.h"

#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
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
struct InfoDeleter {
  void operator()(toolhive_proxy_info *i) const { toolhive_proxy_info_free(i); }
};
struct StringDeleter {
  void operator()(char *s) const { toolhive_string_free(s); }
};

// A secret store over a std::map; callbacks may run on several library threads at once.
struct MapStore {
  std::mutex lock;
  std::map<std::string, std::string> secrets;
  bool freed = false;
};

toolhive_secret_store map_store(MapStore *store) {
  toolhive_secret_store vt{};
  vt.version = TOOLHIVE_SECRET_STORE_VERSION;
  vt.kind = "cxx-map";
  vt.userdata = store;
  vt.userdata_free = [](void *ud) { static_cast<MapStore *>(ud)->freed = true; };
  vt.get = [](void *ud, const char *key, toolhive_secret_reply *reply) -> int {
    auto *s = static_cast<MapStore *>(ud);
    std::lock_guard<std::mutex> guard(s->lock);
    auto it = s->secrets.find(key);
    if (it == s->secrets.end()) return 0;
    return toolhive_secret_reply_set_value(reply, it->second.c_str(), nullptr) == TOOLHIVE_STATUS_OK ? 0 : 1;
  };
  vt.set = [](void *ud, const char *key, const char *value, toolhive_secret_reply *) -> int {
    auto *s = static_cast<MapStore *>(ud);
    std::lock_guard<std::mutex> guard(s->lock);
    s->secrets[key] = value;
    return 0;
  };
  vt.remove = [](void *ud, const char *key, toolhive_secret_reply *) -> int {
    auto *s = static_cast<MapStore *>(ud);
    std::lock_guard<std::mutex> guard(s->lock);
    s->secrets.erase(key);
    return 0;
  };
  vt.list = [](void *ud, toolhive_secret_reply *reply) -> int {
    auto *s = static_cast<MapStore *>(ud);
    std::lock_guard<std::mutex> guard(s->lock);
    for (const auto &kv : s->secrets)
      if (toolhive_secret_reply_add_key(reply, kv.first.c_str(), nullptr) != TOOLHIVE_STATUS_OK) return 1;
    return 0;
  };
  return vt;
}

}  // namespace

int main() {
  const std::string version = std::to_string(TOOLHIVE_VERSION_MAJOR) + "." +
                              std::to_string(TOOLHIVE_VERSION_MINOR) + "." +
                              std::to_string(TOOLHIVE_VERSION_PATCH);
  CHECK(version == toolhive_version());
  CHECK(std::strcmp(toolhive_status_str(TOOLHIVE_STATUS_NOT_FOUND), "not_found") == 0);

  MapStore store;
  const toolhive_secret_store vt = map_store(&store);
  toolhive_runtime_options *opts = toolhive_runtime_options_new();
  CHECK(toolhive_runtime_options_set_secret_store(opts, &vt, nullptr) == TOOLHIVE_STATUS_OK);
  toolhive_runtime *raw_rt = nullptr;
  toolhive_error *raw_err = nullptr;
  CHECK(toolhive_runtime_new(opts, &raw_rt, &raw_err) == TOOLHIVE_STATUS_OK);
  toolhive_runtime_options_free(opts);
  std::unique_ptr<toolhive_runtime, RuntimeDeleter> rt(raw_rt);

  CHECK(toolhive_runtime_set_secret(rt.get(), "cxx/key", "cxx-value", nullptr) == TOOLHIVE_STATUS_OK);
  CHECK(store.secrets["cxx/key"] == "cxx-value");
  char *raw_value = nullptr;
  CHECK(toolhive_runtime_get_secret(rt.get(), "cxx/key", &raw_value, nullptr) == TOOLHIVE_STATUS_OK);
  std::unique_ptr<char, StringDeleter> value(raw_value);
  CHECK(value && std::string(value.get()) == "cxx-value");

  toolhive_proxy *raw_proxy = nullptr;
  toolhive_status status = toolhive_runtime_start(
      rt.get(), R"({"remote_url":"http://127.0.0.1:9/mcp","name":"cxx"})", &raw_proxy, &raw_err);
  std::unique_ptr<toolhive_proxy, ProxyDeleter> proxy(raw_proxy);
  CHECK(status == TOOLHIVE_STATUS_OK);
  CHECK(proxy && std::string(toolhive_proxy_state(proxy.get())) == "running");
  const uint16_t port = toolhive_proxy_port(proxy.get());

  toolhive_proxy_info *raw_info = nullptr;
  CHECK(toolhive_runtime_restart(rt.get(), "cxx", &raw_info, nullptr) == TOOLHIVE_STATUS_OK);
  std::unique_ptr<toolhive_proxy_info, InfoDeleter> info(raw_info);
  CHECK(info && std::string(toolhive_proxy_info_url(info.get())) ==
                    "http://127.0.0.1:" + std::to_string(port) + "/mcp");
  CHECK(std::string(toolhive_proxy_state(proxy.get())) == "stopped");  // the old instance
  CHECK(toolhive_runtime_get_proxy(rt.get(), "cxx", &raw_proxy, nullptr) == TOOLHIVE_STATUS_OK);
  proxy.reset(raw_proxy);

  status = toolhive_runtime_start(rt.get(), R"({"remote_url":"http://127.0.0.1:9/mcp","port":"x"})",
                                  &raw_proxy, &raw_err);
  std::unique_ptr<toolhive_error, ErrorDeleter> err(raw_err);
  CHECK(status == TOOLHIVE_STATUS_INVALID_CONFIG);
  CHECK(err && std::string(toolhive_error_field(err.get())) == "port");

  CHECK(toolhive_proxy_stop(proxy.get(), nullptr) == TOOLHIVE_STATUS_OK);
  CHECK(std::string(toolhive_proxy_state(proxy.get())) == "stopped");
  rt.reset();
  CHECK(store.freed);
  CHECK(toolhive_proxy_stop(proxy.get(), nullptr) == TOOLHIVE_STATUS_OK);

  std::printf("test_cxx: %d passed, %d failed\n", passed, failed);
  return failed == 0 && passed > 0 ? 0 : 1;
}
