#pragma once
// The node's standard output, written from the I/O thread. Deliveries are
// printed where the relay finds them, so a delivery costs no hand-off to
// another thread (on a loaded 2-core machine that hand-off was half the
// latency at 20 nodes). The I/O thread must never block on it: when stdout
// is a pipe, only as much is written as the pipe has room for; the rest
// waits in a bounded queue until the pipe drains. A terminal or a file is
// written at once. Being the only writer of stdout keeps lines whole.

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

namespace lanmesh::net {

class stdout_writer : public std::enable_shared_from_this<stdout_writer> {
public:
  /// Text waiting for a slow reader beyond this is dropped and counted.
  static constexpr std::size_t default_max_queued = 64u << 20;

  static std::shared_ptr<stdout_writer> make(boost::asio::io_context& ioc, int fd,
                                             std::size_t max_queued = default_max_queued);

  /// Writes `text` (whole lines, newline included) after everything before
  /// it. I/O thread only.
  void write(std::string text);

  /// Same, from any thread (posted to the I/O thread).
  void post(std::string text);

  /// Bytes dropped because the reader fell too far behind. Any thread.
  std::uint64_t dropped() const;

  /// Once the I/O thread has stopped: writes what is still queued, waiting
  /// for a slow reader at most `bound` in all. Returns the bytes left.
  std::size_t finish(std::chrono::milliseconds bound);

private:
  stdout_writer(boost::asio::io_context& ioc, int fd, std::size_t max_queued);
  std::size_t room();     // bytes a write can take without blocking; sets broken_
  void write_what_fits(); // of the queue, without blocking
  void flush();           // writes what fits; waits for room for the rest
  void write_all(const char* data, std::size_t size);

  boost::asio::io_context& ioc_;
  int fd_;
  bool is_pipe_ = false;
  std::size_t max_queued_;
  boost::asio::posix::stream_descriptor watch_; // on a dup of fd, to await room
  std::deque<std::string> queue_;
  std::size_t queued_bytes_ = 0;
  std::size_t head_written_ = 0; // of queue_.front()
  bool waiting_ = false;
  bool broken_ = false; // the reader closed stdout: everything is dropped
  bool warned_ = false;
  std::atomic<std::uint64_t> dropped_{0};
};

} // namespace lanmesh::net
