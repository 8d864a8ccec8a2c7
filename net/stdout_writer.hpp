#pragma once
// The node's standard output, written from the I/O thread. Deliveries are
// printed where the relay finds them, so a delivery costs no hand-off to
// another thread (on a loaded 2-core machine that hand-off was half the
// latency at 20 nodes). The I/O thread must never block on it, so a pipe,
// terminal or socket is written without blocking: what does not fit waits
// in a bounded queue until the reader takes more. A regular file is written
// at once. It must be stdout's only writer (logs go to stderr or a file),
// so lines stay whole even when a write takes only part of one. The process
// must ignore SIGPIPE (the node does): a reader that is gone is then seen as
// EPIPE, and output is dropped from then on.

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
  ~stdout_writer();

  /// Writes `text` (whole lines, newline included) after everything before
  /// it. I/O thread only.
  void write(std::string text);

  /// Same, from any thread (posted to the I/O thread).
  void post(std::string text);

  /// Bytes dropped because the reader fell too far behind or is gone. Any
  /// thread.
  std::uint64_t dropped() const;

  /// Once the I/O thread has stopped: writes what is still queued, waiting
  /// for a slow reader at most `bound` in all. Returns the bytes left.
  std::size_t finish(std::chrono::milliseconds bound);

private:
  stdout_writer(boost::asio::io_context& ioc, int fd, std::size_t max_queued);
  // One write without blocking: bytes taken, 0 if the reader has no room
  // now, -1 if it is gone.
  long write_some(const char* data, std::size_t size);
  void write_what_fits();
  void flush(); // writes what fits; waits for room for the rest
  void drop_queue();

  boost::asio::io_context& ioc_;
  int fd_;                 // what we write to (our own description, or fd for a socket)
  int own_fd_ = -1;        // a description of our own, opened non-blocking
  bool is_socket_ = false; // sent with MSG_DONTWAIT instead
  bool blocking_ = false;  // a regular file (or nothing better possible)
  std::size_t max_queued_;
  boost::asio::posix::stream_descriptor watch_; // to await room
  std::deque<std::string> queue_;
  std::size_t queued_bytes_ = 0;
  std::size_t head_written_ = 0; // of queue_.front()
  bool waiting_ = false;
  bool warned_ = false;
  bool broken_ = false; // the reader is gone: everything is dropped
  std::atomic<std::uint64_t> dropped_{0};
};

} // namespace lanmesh::net
