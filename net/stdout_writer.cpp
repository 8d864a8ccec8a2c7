#include "net/stdout_writer.hpp"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <spdlog/spdlog.h>

namespace lanmesh::net {

std::shared_ptr<stdout_writer> stdout_writer::make(boost::asio::io_context& ioc, int fd,
                                                   std::size_t max_queued) {
  return std::shared_ptr<stdout_writer>(new stdout_writer(ioc, fd, max_queued));
}

stdout_writer::stdout_writer(boost::asio::io_context& ioc, int fd, std::size_t max_queued)
    : ioc_(ioc), fd_(fd), max_queued_(max_queued), watch_(ioc) {
  struct stat st {};
  if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) && fcntl(fd, F_GETPIPE_SZ) > 0) {
    int copy = dup(fd);
    if (copy >= 0) {
      is_pipe_ = true;
      watch_.assign(copy);
    }
  }
}

void stdout_writer::post(std::string text) {
  boost::asio::post(ioc_, [self = shared_from_this(), text = std::move(text)]() mutable {
    self->write(std::move(text));
  });
}

std::uint64_t stdout_writer::dropped() const {
  return dropped_.load(std::memory_order_relaxed);
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

void stdout_writer::write_what_fits() {
  while (!queue_.empty() && !broken_) {
    auto& head = queue_.front();
    auto fits = std::min(head.size() - head_written_, room());
    if (fits == 0)
      return;
    write_all(head.data() + head_written_, fits);
    head_written_ += fits;
    queued_bytes_ -= fits;
    if (head_written_ == head.size()) {
      queue_.pop_front();
      head_written_ = 0;
    }
  }
}

std::size_t stdout_writer::room() {
  // We are the pipe's only writer, so its free space can only grow until we
  // write: a write that fits never blocks (the fd stays in blocking mode,
  // which a shell sharing it expects). Free bytes are counted with a page to
  // spare, as the pipe holds pages and the reader's first one may be partly
  // read. When that says no, but poll() says the pipe is not full, one
  // PIPE_BUF still fits (the kernel's guarantee for a writable pipe).
  int size = fcntl(fd_, F_GETPIPE_SZ);
  int unread = 0;
  if (size > 0 && ioctl(fd_, FIONREAD, &unread) == 0 && unread + PIPE_BUF < size)
    return static_cast<std::size_t>(size - unread - PIPE_BUF);
  pollfd p{fd_, POLLOUT, 0};
  if (::poll(&p, 1, 0) != 1)
    return 0;
  if (p.revents & (POLLERR | POLLHUP | POLLNVAL))
    broken_ = true; // the reader is gone: waiting for room would spin
  return !broken_ && (p.revents & POLLOUT) ? PIPE_BUF : 0;
}

void stdout_writer::write_all(const char* data, std::size_t size) {
  while (size > 0) {
    auto n = ::write(fd_, data, size);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      broken_ = true; // stdout closed or its reader gone: nothing to keep it for
      return;
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

void stdout_writer::write(std::string text) {
  if (broken_) {
    dropped_.fetch_add(text.size(), std::memory_order_relaxed);
    return;
  }
  if (!is_pipe_) {
    write_all(text.data(), text.size());
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

void stdout_writer::flush() {
  write_what_fits();
  if (broken_) {
    dropped_.fetch_add(queued_bytes_, std::memory_order_relaxed);
    queue_.clear();
    queued_bytes_ = 0;
    head_written_ = 0;
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
                      if (!ec)
                        self->flush();
                    });
}

} // namespace lanmesh::net
