#include "net/tcp_listener.hpp"

#include <boost/asio/post.hpp>

#include <cerrno>

namespace lanmesh::net {

namespace asio = boost::asio;
using asio::ip::tcp;

tcp_listener::tcp_listener(asio::io_context& ioc, std::size_t max_payload)
    : acceptor_(ioc), retry_(ioc), max_payload_(max_payload) {}

std::shared_ptr<tcp_listener>
tcp_listener::bind(asio::io_context& ioc, const std::string& address, std::uint16_t port,
                   std::uint16_t first, std::uint16_t last, std::size_t max_payload,
                   std::string& error) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(address, ec);
  if (ec) {
    error = "bad listen address " + address;
    return nullptr;
  }
  std::shared_ptr<tcp_listener> l(new tcp_listener(ioc, max_payload));
  std::uint32_t lo = port != 0 ? port : first;
  std::uint32_t hi = port != 0 ? port : last;
  for (std::uint32_t p = lo; p <= hi; ++p) {
    tcp::endpoint ep(addr, static_cast<std::uint16_t>(p));
    l->acceptor_.open(ep.protocol(), ec);
    if (ec)
      break;
    // SO_REUSEADDR lets a restarted node take its port back from TIME_WAIT;
    // on Linux it does not let two live listeners share a port.
    l->acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    l->acceptor_.bind(ep, ec);
    if (!ec)
      l->acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (!ec) {
      l->port_ = static_cast<std::uint16_t>(p);
      return l;
    }
    boost::system::error_code ignored;
    l->acceptor_.close(ignored);
  }
  error = port != 0
              ? "cannot listen on " + address + ":" + std::to_string(port) + ": " +
                    ec.message()
              : "no free port in " + std::to_string(first) + "-" + std::to_string(last);
  return nullptr;
}

void tcp_listener::start(on_accept cb) {
  asio::post(acceptor_.get_executor(), [self = shared_from_this(), cb = std::move(cb)] {
    self->cb_ = cb;
    self->do_accept();
  });
}

void tcp_listener::do_accept() {
  acceptor_.async_accept(
      [self = shared_from_this()](boost::system::error_code ec, tcp::socket socket) {
        if (ec == asio::error::operation_aborted || !self->acceptor_.is_open())
          return;
        if (!ec && self->cb_)
          self->cb_(tcp_session::make(std::move(socket), self->max_payload_));
        if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space ||
            ec == asio::error::no_memory || ec.value() == ENFILE) {
          // Out of file descriptors: accepting again at once fails again at
          // once, forever. Wait for links to close.
          self->backoffs_.fetch_add(1, std::memory_order_relaxed);
          self->retry_.expires_after(backoff);
          self->retry_.async_wait([self](boost::system::error_code e) {
            if (!e && self->acceptor_.is_open())
              self->do_accept();
          });
          return;
        }
        self->do_accept(); // another failed accept does not stop the listener
      });
}

void tcp_listener::close() {
  asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
    boost::system::error_code ec;
    self->acceptor_.close(ec);
    self->retry_.cancel();
    self->cb_ = nullptr; // releases the actor handle held by the callback
  });
}

} // namespace lanmesh::net
