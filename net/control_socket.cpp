#include "net/control_socket.hpp"

#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <cstring>

namespace lanmesh::net {

namespace asio = boost::asio;
using local = asio::local::stream_protocol;

namespace {

// The folder of `path`: created 0700 if missing. An existing folder is used
// as it is, except lanmesh's default folder, which must be ours and is kept
// at 0700.
bool prepare_folder(const std::string& path, std::string& error) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0)
    return true;
  auto dir = path.substr(0, slash);
  struct stat st {};
  if (lstat(dir.c_str(), &st) != 0) {
    if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      error = "cannot create folder " + dir + ": " + std::strerror(errno);
      return false;
    }
    if (lstat(dir.c_str(), &st) != 0) {
      error = "cannot create folder " + dir + ": " + std::strerror(errno);
      return false;
    }
    chmod(dir.c_str(), 0700); // whatever the umask made of it
    return true;
  }
  if (!S_ISDIR(st.st_mode)) {
    error = dir + " is not a folder";
    return false;
  }
  if (dir == default_control_dir()) {
    if (st.st_uid != getuid()) {
      error = dir + " belongs to another user";
      return false;
    }
    if ((st.st_mode & 07777) != 0700 && chmod(dir.c_str(), 0700) != 0) {
      error = "cannot make " + dir + " mode 0700: " + std::strerror(errno);
      return false;
    }
  }
  return true;
}

// Whether a process accepts connections on the socket at `path`.
bool socket_alive(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return false;
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
  bool alive = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  ::close(fd);
  return alive;
}

} // namespace

// --- server -----------------------------------------------------------------

control_server::control_server(asio::io_context& ioc, std::string path, limits lim)
    : strand_(asio::make_strand(ioc)), acceptor_(strand_), path_(std::move(path)),
      limits_(lim) {}

std::shared_ptr<control_server> control_server::open(asio::io_context& ioc,
                                                     const std::string& path, limits lim,
                                                     std::string& error, bool& in_use) {
  in_use = false;
  if (path.empty() || path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    error = "path must be 1 to 107 bytes";
    return nullptr;
  }
  if (!prepare_folder(path, error))
    return nullptr;
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      error = path + " exists and is not a socket";
      return nullptr;
    }
    if (socket_alive(path)) {
      in_use = true;
      error = "another process serves " + path;
      return nullptr;
    }
    unlink(path.c_str()); // stale: its node is gone
  }
  std::shared_ptr<control_server> s(new control_server(ioc, path, lim));
  boost::system::error_code ec;
  s->acceptor_.open(local(), ec);
  if (!ec) {
    // Created 0600 from the start: no moment at which others may connect.
    auto old = umask(0177);
    s->acceptor_.bind(local::endpoint(path), ec);
    umask(old);
  }
  if (!ec)
    s->acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    error = "cannot listen on " + path + ": " + ec.message();
    return nullptr;
  }
  chmod(path.c_str(), 0600);
  return s;
}

void control_server::start(request_handler handler) {
  asio::post(strand_, [self = shared_from_this(), h = std::move(handler)]() mutable {
    if (self->closed_)
      return;
    self->handler_ = std::move(h);
    self->accept();
  });
}

void control_server::accept() {
  acceptor_.async_accept(asio::bind_executor(
      strand_,
      [self = shared_from_this()](boost::system::error_code ec, local::socket sock) {
        if (self->closed_ || ec == asio::error::operation_aborted)
          return;
        if (!ec) {
          if (self->clients_.size() >= self->limits_.max_clients) {
            boost::system::error_code ignored;
            sock.close(ignored); // full: this one is turned away
          } else {
            std::shared_ptr<control_client> c(new control_client(self, std::move(sock)));
            self->clients_.insert(c);
            c->start();
          }
        }
        self->accept(); // a failed accept (e.g. out of fds) does not stop the server
      }));
}

void control_server::publish(std::string lines) {
  if (!monitored())
    return;
  asio::post(strand_, [self = shared_from_this(), l = std::move(lines)] {
    // Copied: a client may close (and leave the set) while being written to.
    auto clients = self->clients_;
    for (auto& c : clients)
      if (c->mode_ == control_client::mode::monitoring)
        c->write(l);
  });
}

void control_server::close() {
  asio::post(strand_, [self = shared_from_this()] {
    if (self->closed_)
      return;
    self->closed_ = true;
    boost::system::error_code ec;
    self->acceptor_.close(ec);
    unlink(self->path_.c_str());
    self->handler_ = nullptr; // releases the control actor
    auto clients = self->clients_;
    for (auto& c : clients) {
      // Closed once what was queued for it is written.
      if (c->mode_ == control_client::mode::monitoring)
        self->monitors_ -= 1;
      c->mode_ = control_client::mode::closing;
      if (!c->writing_)
        c->close();
    }
    self->check_all_closed();
  });
}

void control_server::check_all_closed() {
  if (closed_ && clients_.empty() && all_closed_) {
    all_closed_->set_value();
    all_closed_.reset();
  }
}

bool control_server::wait_closed(std::chrono::milliseconds timeout) {
  auto done = std::make_shared<std::promise<void>>();
  auto f = done->get_future();
  asio::post(strand_, [self = shared_from_this(), done] {
    self->all_closed_ = done;
    self->check_all_closed();
  });
  return f.wait_for(timeout) == std::future_status::ready;
}

// --- client -----------------------------------------------------------------

control_client::control_client(std::shared_ptr<control_server> server, socket_type socket)
    : server_(std::move(server)), socket_(std::move(socket)),
      first_request_(server_->strand_) {}

void control_client::start() {
  first_request_.expires_after(server_->limits_.first_request);
  first_request_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec && !self->got_request_)
      self->close(); // connected and said nothing
  });
  read();
}

void control_client::read() {
  if (mode_ == mode::closing)
    return;
  asio::async_read_until(
      socket_, asio::dynamic_buffer(in_, server_->limits_.max_line + 1), '\n',
      asio::bind_executor(server_->strand_, [self = shared_from_this()](
                                                boost::system::error_code ec,
                                                std::size_t n) {
        if (self->mode_ == mode::closing)
          return;
        if (ec == asio::error::not_found) {
          // Longer than a request may be: said once, then closed.
          self->finish("{\"ok\":false,\"event\":\"error\",\"message\":\"request longer "
                       "than " +
                           std::to_string(self->server_->limits_.max_line) + " bytes\"}",
                       mode::closing);
          return;
        }
        if (ec) {
          self->close(); // EOF or error: the client is gone
          return;
        }
        std::string line = self->in_.substr(0, n - 1);
        self->in_.erase(0, n);
        if (!line.empty() && line.back() == '\r')
          line.pop_back();
        self->on_line(std::move(line));
      }));
}

void control_client::on_line(std::string line) {
  if (mode_ == mode::monitoring) {
    read(); // a monitor's input is ignored; reading notices its end
    return;
  }
  if (line.empty()) {
    read();
    return;
  }
  got_request_ = true;
  first_request_.cancel();
  mode_ = mode::waiting;
  if (server_->handler_)
    server_->handler_(shared_from_this(), std::move(line));
}

void control_client::finish(std::string line, mode next) {
  if (mode_ == mode::closing)
    return;
  write(std::move(line) + "\n");
  if (next == mode::monitoring) {
    mode_ = mode::monitoring;
    server_->monitors_ += 1;
    read();
  } else if (next == mode::closing) {
    mode_ = mode::closing;
    if (!writing_)
      close();
  } else {
    mode_ = mode::reading;
    read();
  }
}

void control_client::reply(std::string line) {
  asio::post(server_->strand_,
             [self = shared_from_this(), l = std::move(line)]() mutable {
               if (self->mode_ == mode::waiting)
                 self->finish(std::move(l), mode::reading);
             });
}

void control_client::reply_and_monitor(std::string line) {
  asio::post(server_->strand_,
             [self = shared_from_this(), l = std::move(line)]() mutable {
               if (self->mode_ == mode::waiting)
                 self->finish(std::move(l), mode::monitoring);
             });
}

void control_client::reply_and_close(std::string line) {
  asio::post(server_->strand_,
             [self = shared_from_this(), l = std::move(line)]() mutable {
               if (self->mode_ == mode::waiting)
                 self->finish(std::move(l), mode::closing);
             });
}

void control_client::write(std::string bytes) {
  if (!socket_.is_open())
    return;
  if (queued_ + bytes.size() > server_->limits_.max_backlog) {
    // It does not read what it asked for: the node will not buffer without
    // bound for it.
    close();
    return;
  }
  queued_ += bytes.size();
  out_.push_back(std::move(bytes));
  flush();
}

void control_client::flush() {
  if (writing_ || out_.empty())
    return;
  writing_ = true;
  asio::async_write(socket_, asio::buffer(out_.front()),
                    asio::bind_executor(
                        server_->strand_, [self = shared_from_this()](
                                              boost::system::error_code ec, std::size_t) {
                          self->writing_ = false;
                          if (ec) {
                            self->close();
                            return;
                          }
                          self->queued_ -= self->out_.front().size();
                          self->out_.pop_front();
                          if (self->out_.empty() && self->mode_ == mode::closing) {
                            self->close();
                            return;
                          }
                          self->flush();
                        }));
}

void control_client::close() {
  if (mode_ == mode::monitoring)
    server_->monitors_ -= 1;
  mode_ = mode::closing;
  boost::system::error_code ec;
  first_request_.cancel();
  socket_.close(ec);
  out_.clear();
  queued_ = 0;
  server_->clients_.erase(shared_from_this());
  server_->check_all_closed();
}

} // namespace lanmesh::net
