#pragma once
// The listening socket. Binds the configured port, or the first free port of a
// range, and hands each accepted socket to a callback as a (not yet started)
// session.

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <string>

#include "net/tcp_session.hpp"

namespace lanmesh::net {

class tcp_listener : public std::enable_shared_from_this<tcp_listener> {
public:
  using on_accept = std::function<void(std::shared_ptr<tcp_session>)>;

  /// Binds `address` on `port`, or on the first free port of [first, last] when
  /// `port` is 0. Returns nullptr and sets `error` when nothing could be bound.
  static std::shared_ptr<tcp_listener> bind(boost::asio::io_context& ioc,
                                            const std::string& address,
                                            std::uint16_t port, std::uint16_t first,
                                            std::uint16_t last, std::size_t max_payload,
                                            std::string& error);

  std::uint16_t port() const { return port_; }

  /// Starts accepting; thread-safe.
  void start(on_accept cb);
  /// Stops accepting and closes the socket; thread-safe.
  void close();

  /// Times accepting paused because the process ran out of file descriptors
  /// (or the kernel of memory). Readable from any thread.
  std::uint64_t backoffs() const { return backoffs_.load(std::memory_order_relaxed); }

  /// How long accepting pauses then: the pending connection stays in the
  /// kernel's backlog meanwhile, instead of the accept loop spinning on it.
  static constexpr std::chrono::milliseconds backoff{100};

private:
  tcp_listener(boost::asio::io_context& ioc, std::size_t max_payload);
  void do_accept();

  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_;
  std::atomic<std::uint64_t> backoffs_{0};
  std::size_t max_payload_;
  std::uint16_t port_ = 0;
  on_accept cb_;
};

} // namespace lanmesh::net
