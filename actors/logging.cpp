#include "actors/logging.hpp"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace lanmesh::logging {

namespace {

struct settings {
  spdlog::sink_ptr sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  spdlog::level::level_enum level = spdlog::level::info;
  std::string pattern = "%Y-%m-%d %H:%M:%S.%e %l [%n] %v";
};

settings& current() {
  static settings s;
  return s;
}

} // namespace

std::string init(const std::string& level, const std::string& file,
                 const std::string& node) {
  auto& s = current();
  if (!file.empty()) {
    try {
      s.sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(file);
    } catch (const std::exception& e) {
      return e.what();
    }
  }
  s.level = spdlog::level::from_str(level);
  s.pattern = "%Y-%m-%d %H:%M:%S.%e %l " + node + " [%n] %v";
  s.sink->set_pattern(s.pattern);
  for (const char* name : {"main", "acceptor", "connection", "router", "supervisor",
                           "console", "discovery"}) {
    auto l = get(name);
    l->sinks().assign(1, s.sink);
    l->set_level(s.level);
  }
  // Code outside the actors (net/) logs through spdlog's default logger,
  // which writes to stdout unless replaced; stdout carries only the
  // console's output.
  spdlog::set_default_logger(get("main"));
  return {};
}

std::shared_ptr<spdlog::logger> get(const std::string& name) {
  if (auto l = spdlog::get(name))
    return l;
  auto& s = current();
  auto l = std::make_shared<spdlog::logger>(name, s.sink);
  l->set_level(s.level);
  l->flush_on(spdlog::level::info);
  try {
    spdlog::register_logger(l);
  } catch (const spdlog::spdlog_ex&) {
    return spdlog::get(name); // another thread registered it first
  }
  return l;
}

} // namespace lanmesh::logging
