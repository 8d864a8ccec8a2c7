#pragma once
// The one thread that does all socket I/O. Completion handlers run here, decode
// bytes and hand typed messages to actors; they never block and never lock.

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <optional>
#include <thread>

namespace lanmesh::net {

class io_thread {
public:
  io_thread();
  ~io_thread();
  io_thread(const io_thread&) = delete;
  io_thread& operator=(const io_thread&) = delete;

  boost::asio::io_context& context() { return ioc_; }

  /// Stops the loop and joins the thread. Pending handlers are destroyed with
  /// the context, which releases every session they hold. Idempotent.
  void stop();

private:
  boost::asio::io_context ioc_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>
      guard_;
  std::thread thread_;
};

} // namespace lanmesh::net
