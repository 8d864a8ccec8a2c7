#pragma once
// The metrics endpoint: a small HTTP/1.1 server (Boost.Beast) on the I/O
// thread that answers GET /metrics with the page a fetch function supplies
// (the Prometheus text, actors/metrics_text.hpp); 404 for any other path,
// 405 for any other method on /metrics, 400 for what is not HTTP.
//
// A slow or hostile client cannot stall the node: all I/O is asynchronous,
// a request must arrive whole within `read_timeout` and be at most
// `max_header` bytes (header) plus `max_body`, the answer must be taken within
// `write_timeout`, every connection is closed after one answer, and at most
// `max_connections` are served at once (beyond that a new one is closed at
// once).

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace lanmesh::net {

class metrics_server : public std::enable_shared_from_this<metrics_server> {
public:
  struct limits {
    std::size_t max_connections = 16;
    std::size_t max_header = 8192;
    std::size_t max_body = 1024;
    std::chrono::milliseconds read_timeout{5000};
    std::chrono::milliseconds write_timeout{5000};
    std::chrono::milliseconds fetch_timeout{5000};
  };
  /// Produces the page: calls `done` once, from any thread, with the text, or
  /// with an empty string when it cannot (the client gets 503).
  using fetch_fn = std::function<void(std::function<void(std::string)> done)>;

  /// Binds `host`:`port` (0: any free port). nullptr and `error` on failure.
  static std::shared_ptr<metrics_server> open(boost::asio::io_context& ioc,
                                              const std::string& host, std::uint16_t port,
                                              limits lim, std::string& error);
  void start(fetch_fn fetch); // any thread
  void close();               // any thread; drops the fetch function; idempotent
  std::uint16_t port() const { return port_; }

private:
  friend class http_session;
  metrics_server(boost::asio::io_context& ioc, limits lim);
  void accept();

  boost::asio::io_context& ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  limits limits_;
  fetch_fn fetch_;
  std::uint16_t port_ = 0;
  std::atomic<std::size_t> open_connections_{0};
  bool closed_ = false;
};

} // namespace lanmesh::net
