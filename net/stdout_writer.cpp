#include "net/stdout_writer.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <spdlog/spdlog.h>
#include <string>

namespace lanmesh::net {

std::shared_ptr<stdout_writer> stdout_writer::make(boost::asio::io_context& ioc, int fd,
                                                   std::size_t max_queued) {
  return std::shared_ptr<stdout_writer>(new stdout_writer(ioc, fd, max_queued));
}

stdout_writer::stdout_writer(boost::asio::io_context& ioc, int fd, std::size_t max_queued)
    : ioc_(ioc), fd_(fd), max_queued_(max_queued), watch_(ioc) {
  struct stat st {};
  if (fstat(fd, &st) != 0 || S_ISREG(st.st_mode)) {
    blocking_ = true; // a file never makes us wait for a reader
    return;
  }
  if (S_ISSOCK(st.st_mode)) {
    // send() takes MSG_DONTWAIT per call; the descriptor is left as it is.
    int copy = dup(fd);
    is_socket_ = copy >= 0;
    blocking_ = copy < 0;
    if (copy >= 0)
      watch_.assign(copy);
    return;
  }
  // A pipe or terminal: O_NONBLOCK on fd itself would change the open file
  // description it shares with the shell and every other holder. Opening it
  // anew through /proc gives a description of our own to set it on.
  own_fd_ = ::open(("/proc/self/fd/" + std::to_string(fd)).c_str(),
                   O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (own_fd_ < 0) {
    blocking_ = true;
    return;
  }
  fd_ = own_fd_;
  int copy = dup(own_fd_);
  if (copy >= 0)
    watch_.assign(copy);
  else
    blocking_ = true;
}

stdout_writer::~stdout_writer() {
  boost::system::error_code ignored;
  watch_.close(ignored);
  if (own_fd_ >= 0)
    ::close(own_fd_);
}

void stdout_writer::post(std::string text) {
  boost::asio::post(ioc_, [self = shared_from_this(), text = std::move(text)]() mutable {
    self->write(std::move(text));
  });
}

std::uint64_t stdout_writer::dropped() const {
  return dropped_.load(std::memory_order_relaxed);
}

long stdout_writer::write_some(const char* data, std::size_t size) {
  for (;;) {
    auto n = is_socket_ ? ::send(fd_, data, size, MSG_DONTWAIT | MSG_NOSIGNAL)
                        : ::write(fd_, data, size);
    if (n >= 0)
      return static_cast<long>(n);
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return 0;
    return -1; // EPIPE and the like: the reader is gone
  }
}

void stdout_writer::write(std::string text) {
  if (broken_) {
    dropped_.fetch_add(text.size(), std::memory_order_relaxed);
    return;
  }
  if (blocking_) {
    for (std::size_t at = 0; at < text.size();) {
      auto n = write_some(text.data() + at, text.size() - at);
      if (n <= 0) {
        broken_ = true;
        dropped_.fetch_add(text.size() - at, std::memory_order_relaxed);
        return;
      }
      at += static_cast<std::size_t>(n);
    }
    return;
  }
  if (queued_bytes_ + text.size() > max_queued_) {
    dropped_.fetch_add(text.size(), std::memory_order_relaxed);
    if (!warned_) {
      warned_ = true;
      spdlog::warn("stdout: reader too slow, {} bytes waiting; output dropped until it "
                   "catches up",
                   queued_bytes_);
    }
    return;
  }
  queued_bytes_ += text.size();
  queue_.push_back(std::move(text));
  if (!waiting_)
    flush();
}

void stdout_writer::write_what_fits() {
  while (!queue_.empty() && !broken_) {
    auto& head = queue_.front();
    auto n = write_some(head.data() + head_written_, head.size() - head_written_);
    if (n < 0) {
      broken_ = true;
      return;
    }
    if (n == 0)
      return;
    head_written_ += static_cast<std::size_t>(n);
    queued_bytes_ -= static_cast<std::size_t>(n);
    if (head_written_ == head.size()) {
      queue_.pop_front();
      head_written_ = 0;
    }
  }
}

void stdout_writer::drop_queue() {
  dropped_.fetch_add(queued_bytes_, std::memory_order_relaxed);
  queue_.clear();
  queued_bytes_ = 0;
  head_written_ = 0;
}

void stdout_writer::flush() {
  write_what_fits();
  if (broken_) {
    drop_queue();
    spdlog::warn("stdout: its reader is gone; output is dropped from now on");
    return;
  }
  if (queue_.empty()) {
    warned_ = false;
    return;
  }
  waiting_ = true;
  watch_.async_wait(boost::asio::posix::stream_descriptor::wait_write,
                    [self = shared_from_this()](const boost::system::error_code& ec) {
                      self->waiting_ = false;
                      if (ec == boost::asio::error::operation_aborted)
                        return;
                      if (ec) // the descriptor failed: waiting again would spin
                        self->broken_ = true;
                      self->flush();
                    });
}

std::size_t stdout_writer::finish(std::chrono::milliseconds bound) {
  auto deadline = std::chrono::steady_clock::now() + bound;
  for (write_what_fits(); !queue_.empty() && !broken_; write_what_fits()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd_, POLLOUT, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0)
      break;
  }
  boost::system::error_code ignored;
  watch_.close(ignored);
  return queued_bytes_;
}

} // namespace lanmesh::net
