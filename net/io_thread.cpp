#include "net/io_thread.hpp"

#include <spdlog/spdlog.h>

namespace lanmesh::net {

io_thread::io_thread() : ioc_(1) {
  guard_.emplace(ioc_.get_executor());
  thread_ = std::thread([this] {
    for (;;) {
      try {
        ioc_.run();
        return;
      } catch (const std::exception& e) {
        // A handler must never take the I/O thread down with it.
        spdlog::error("io thread: handler threw: {}", e.what());
      }
    }
  });
}

io_thread::~io_thread() {
  stop();
}

void io_thread::stop() {
  guard_.reset();
  ioc_.stop();
  if (thread_.joinable())
    thread_.join();
}

} // namespace lanmesh::net
