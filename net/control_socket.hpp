#pragma once
// The control socket: a Unix stream socket on the I/O thread that carries
// JSON lines (README "Control socket"). It only moves lines: each request
// line goes to a handler (the control actor, actors/control.hpp), which
// answers through the client handle; it decides nothing itself.
//
// A client sends one request per line and gets its reply before the next
// line is read (replies stay in order, and a client cannot queue work
// faster than the node answers). A client that monitors gets every published
// event from then on; what it sends afterwards is read and ignored, so that
// its closing is noticed. Garbage, an overlong line, a client that never
// sends its first request or stops reading its output costs the node only
// that connection: each is bounded (limits) and closed.

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <unordered_set>

#include "net/control_path.hpp"

namespace lanmesh::net {

class control_server;

class control_client : public std::enable_shared_from_this<control_client> {
public:
  /// Writes one reply line (no newline) and reads the next request. Any thread.
  void reply(std::string line);
  /// Writes the reply line, then every published event. Any thread.
  void reply_and_monitor(std::string line);
  /// Writes the reply line and closes the connection once it is written.
  void reply_and_close(std::string line);

private:
  friend class control_server;
  using socket_type = boost::asio::local::stream_protocol::socket;
  using strand_type = boost::asio::strand<boost::asio::io_context::executor_type>;
  enum class mode { reading, waiting, monitoring, closing };

  control_client(std::shared_ptr<control_server> server, socket_type socket);
  void start();
  void read();
  void on_line(std::string line);
  void write(std::string bytes);
  void flush();
  void close();
  void finish(std::string line, mode next);

  std::shared_ptr<control_server> server_;
  socket_type socket_;
  boost::asio::steady_timer first_request_;
  std::string in_;
  std::deque<std::string> out_;
  std::size_t queued_ = 0;
  bool writing_ = false;
  bool got_request_ = false;
  mode mode_ = mode::reading;
};

class control_server : public std::enable_shared_from_this<control_server> {
public:
  struct limits {
    std::size_t max_line = 1u << 20;                // one request, in bytes
    std::size_t max_clients = 64;                   // connections at once
    std::size_t max_backlog = 8u << 20;             // unsent output per client, bytes
    std::chrono::milliseconds first_request{10000}; // from connect to first line
  };
  using request_handler =
      std::function<void(std::shared_ptr<control_client>, std::string line)>;

  /// Creates the socket at `path` (its folder 0700 when lanmesh creates it,
  /// the socket 0600). A stale socket file (nobody accepts on it) is
  /// replaced. On failure returns nullptr with `error` set and `in_use`
  /// true when a live process serves `path`.
  static std::shared_ptr<control_server> open(boost::asio::io_context& ioc,
                                              const std::string& path, limits lim,
                                              std::string& error, bool& in_use);

  /// Starts accepting. Any thread.
  void start(request_handler handler);
  /// Gives `lines` (whole lines, each ending in '\n') to every monitoring
  /// client. Any thread.
  void publish(std::string lines);
  /// Whether a client monitors: a cheap check before building events.
  bool monitored() const { return monitors_.load(std::memory_order_relaxed) > 0; }
  /// Stops accepting and removes the socket file; clients are closed once
  /// their output is written. Drops the handler. Any thread; idempotent.
  void close();
  /// After close(): waits up to `timeout` until every client is closed, its
  /// last reply written (a `lanmesh leave` gets its answer before the I/O
  /// thread stops, however busy the machine). False on timeout.
  bool wait_closed(std::chrono::milliseconds timeout);

  const std::string& path() const { return path_; }
  const limits& bounds() const { return limits_; }

private:
  friend class control_client;
  control_server(boost::asio::io_context& ioc, std::string path, limits lim);
  void accept();

  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  std::string path_;
  limits limits_;
  request_handler handler_;
  // Strand only. A client leaves the set when it closes, which breaks the
  // client <-> server reference cycle.
  std::unordered_set<std::shared_ptr<control_client>> clients_;
  std::atomic<int> monitors_{0};
  bool closed_ = false;
  std::shared_ptr<std::promise<void>> all_closed_; // strand only; set once
  void check_all_closed();
};

} // namespace lanmesh::net
