#include "net/metrics_http.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <optional>

namespace lanmesh::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

class http_session : public std::enable_shared_from_this<http_session> {
public:
  http_session(std::shared_ptr<metrics_server> server, tcp::socket socket,
               metrics_server::fetch_fn fetch)
      : server_(std::move(server)), fetch_(std::move(fetch)), stream_(std::move(socket)),
        buffer_(server_->limits_.max_header + server_->limits_.max_body),
        fetch_timer_(stream_.get_executor()) {}

  ~http_session() { server_->open_connections_ -= 1; }

  void start() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_->limits_.max_header));
    parser_->body_limit(server_->limits_.max_body);
    stream_.expires_after(server_->limits_.read_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       self->on_read(ec);
                     });
  }

private:
  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::eof || ec == asio::error::connection_reset) {
      close(); // gone, or too slow: nothing more is owed
      return;
    }
    if (ec) {
      answer(http::status::bad_request, "not an HTTP request: " + ec.message() + "\n");
      return;
    }
    auto& req = parser_->get();
    std::string target(req.target());
    auto path = target.substr(0, target.find('?'));
    if (path != "/metrics") {
      answer(http::status::not_found, "not found; the metrics are at /metrics\n");
      return;
    }
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      answer(http::status::method_not_allowed, "only GET /metrics\n");
      return;
    }
    head_ = req.method() == http::verb::head;
    auto fetch = std::move(fetch_);
    if (!fetch) {
      answer(http::status::service_unavailable, "node stopping\n");
      return;
    }
    // The page is made by an actor; its answer comes back to this strand.
    fetch_timer_.expires_after(server_->limits_.fetch_timeout);
    fetch_timer_.async_wait([self = shared_from_this()](beast::error_code e) {
      if (!e && !self->answered_)
        self->answer(http::status::service_unavailable, "no answer from the node\n");
    });
    // The actor holds only a weak reference: the session is kept alive by
    // its pending timer on the I/O thread, so its last reference (and its
    // destructor, which closes the stream) is always dropped there, never
    // on an actor's thread while the I/O thread may touch the stream.
    auto ex = stream_.get_executor();
    fetch([weak = weak_from_this(), ex](std::string page) {
      asio::post(ex, [weak, page = std::move(page)]() mutable {
        auto self = weak.lock();
        if (!self || self->answered_)
          return;
        self->fetch_timer_.cancel();
        if (page.empty())
          self->answer(http::status::service_unavailable, "metrics unavailable\n");
        else
          self->answer(http::status::ok, std::move(page),
                       "text/plain; version=0.0.4; charset=utf-8");
      });
    });
  }

  void answer(http::status status, std::string body,
              const char* type = "text/plain; charset=utf-8") {
    if (answered_)
      return;
    answered_ = true;
    res_.version(11);
    res_.result(status);
    res_.set(http::field::server, "lanmesh");
    res_.set(http::field::content_type, type);
    if (status == http::status::method_not_allowed)
      res_.set(http::field::allow, "GET, HEAD");
    res_.keep_alive(false);
    res_.body() = std::move(body);
    res_.prepare_payload();
    if (head_)
      res_.body().clear(); // Content-Length stays that of the page
    stream_.expires_after(server_->limits_.write_timeout);
    http::async_write(
        stream_, res_,
        [self = shared_from_this()](beast::error_code, std::size_t) { self->close(); });
  }

  void close() {
    beast::error_code ec;
    fetch_timer_.cancel();
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

  std::shared_ptr<metrics_server> server_;
  metrics_server::fetch_fn fetch_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
  asio::steady_timer fetch_timer_;
  bool answered_ = false;
  bool head_ = false;
};

metrics_server::metrics_server(asio::io_context& ioc, limits lim)
    : ioc_(ioc), acceptor_(asio::make_strand(ioc)), limits_(lim) {}

std::shared_ptr<metrics_server> metrics_server::open(asio::io_context& ioc,
                                                     const std::string& host,
                                                     std::uint16_t port, limits lim,
                                                     std::string& error) {
  std::shared_ptr<metrics_server> s(new metrics_server(ioc, lim));
  boost::system::error_code ec;
  auto addr = asio::ip::make_address_v4(host == "localhost" ? "127.0.0.1" : host, ec);
  tcp::endpoint ep(addr, port);
  if (!ec)
    s->acceptor_.open(ep.protocol(), ec);
  if (!ec)
    s->acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec)
    s->acceptor_.bind(ep, ec);
  if (!ec)
    s->acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    error = "cannot listen on " + host + ":" + std::to_string(port) + ": " + ec.message();
    return nullptr;
  }
  s->port_ = s->acceptor_.local_endpoint().port();
  return s;
}

void metrics_server::start(fetch_fn fetch) {
  asio::post(acceptor_.get_executor(), [self = shared_from_this(), f = std::move(fetch)] {
    if (self->closed_)
      return;
    self->fetch_ = f;
    self->accept();
  });
}

void metrics_server::accept() {
  // Each connection on a strand of its own.
  acceptor_.async_accept(asio::make_strand(ioc_), [self = shared_from_this()](
                                                      boost::system::error_code ec,
                                                      tcp::socket socket) {
    if (self->closed_ || ec == asio::error::operation_aborted)
      return;
    if (!ec) {
      if (self->open_connections_ >= self->limits_.max_connections) {
        boost::system::error_code ignored;
        socket.close(ignored); // at the limit: turned away at once
      } else {
        self->open_connections_ += 1;
        std::make_shared<http_session>(self, std::move(socket), self->fetch_)->start();
      }
    }
    self->accept();
  });
}

void metrics_server::close() {
  asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
    self->closed_ = true;
    boost::system::error_code ec;
    self->acceptor_.close(ec);
    self->fetch_ = nullptr; // releases the control actor
  });
}

} // namespace lanmesh::net
