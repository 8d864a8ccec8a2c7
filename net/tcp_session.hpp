#pragma once
// One TCP link's socket: a strand and a write queue (the shape of Asio's chat
// server), so writes never interleave and no lock is needed. It decodes frames
// with wire::frame_reader and hands each one to a callback; it decides nothing
// about peers. All callbacks run on the I/O thread and must only post.

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "net/link_auth.hpp"
#include "net/wire.hpp"

namespace lanmesh::net {

using bytes = std::vector<std::uint8_t>;
using shared_bytes = std::shared_ptr<const bytes>;

class tcp_session : public std::enable_shared_from_this<tcp_session> {
public:
  struct handlers {
    /// A decoded frame (other than a routed BROADCAST).
    std::function<void(wire::frame)> on_frame;
    /// BROADCAST frames, once route_broadcasts() named a sink: all those of
    /// one socket read in one call, still encoded (whole frames, one after
    /// the other; read them with wire::for_each_broadcast), and how many.
    /// A busy link costs one hand-off per read instead of one per frame.
    std::function<void(shared_bytes, std::size_t)> on_broadcasts;
    /// The stream broke a wire rule; the session has closed itself.
    std::function<void(wire::decode_error)> on_bad_input;
    /// The cluster-key handshake failed, or a record failed its tag (tampered,
    /// replayed, not from a key holder); the session has closed itself.
    std::function<void(std::string reason)> on_auth_failed;
    /// The link is gone (EOF, reset, error, or our own close); called once,
    /// after which the session drops all handlers.
    std::function<void(std::string reason)> on_closed;
  };

  /// Minimum TCP retransmission timeout set on every link (Linux >= 6.15;
  /// ignored elsewhere). The kernel default of 200 ms doubling per retry
  /// leaves a link silent for over 2 s at 20 % packet loss, which reads as a
  /// dead peer; on a LAN 50 ms is ample. Links also use linear timeouts for
  /// thin streams (TCP_THIN_LINEAR_TIMEOUTS).
  static constexpr int rto_min_us = 50000;
  /// Maximum retransmission timeout (Linux >= 6.15; ignored elsewhere).
  static constexpr int rto_max_ms = 1000;

  /// The write queue may hold this many bytes before the link is judged too
  /// slow and closed, so one stuck peer cannot exhaust memory.
  static constexpr std::size_t max_queued_bytes = 64u << 20;

  static std::shared_ptr<tcp_session> make(boost::asio::ip::tcp::socket socket,
                                           std::size_t max_payload);

  /// Runs the cluster-key handshake (net/link_auth.hpp) before any frame:
  /// frames sent meanwhile wait, and from then on every byte each way travels
  /// in sealed records. Call before start(), or never (a keyless link).
  void require_key(link_auth::role role, keyring_ptr keys, std::uint64_t self_id);

  /// The node id the peer proved with the cluster key; 0 on a keyless link or
  /// before the handshake. Readable from any thread.
  std::uint64_t authenticated_peer() const {
    return auth_peer_.load(std::memory_order_acquire);
  }

  /// Begins reading. Thread-safe (posts to the strand).
  void start(handlers h);

  /// Queues one encoded frame. Thread-safe.
  void send(shared_bytes frame);
  void send(bytes frame) { send(std::make_shared<const bytes>(std::move(frame))); }

  /// Queues data frames (broadcasts from the router). They are held until
  /// open(), so none goes out before the handshake's WELCOME. Thread-safe.
  void send_data(std::vector<shared_bytes> frames);

  /// Lets data frames through, after every frame sent before this call.
  /// Thread-safe.
  void open();

  /// From now on BROADCAST frames go to `sink` (see handlers::on_broadcasts)
  /// instead of one by one to on_frame. Thread-safe; `sink` runs on the I/O
  /// thread and is dropped when the session ends.
  void route_broadcasts(std::function<void(shared_bytes, std::size_t)> sink);

  /// Frames and bytes through this link so far. Counted on the I/O thread;
  /// readable from any thread.
  struct traffic {
    std::uint64_t frames_in = 0;
    std::uint64_t frames_out = 0;
    std::uint64_t bytes_in = 0;
    std::uint64_t bytes_out = 0;
    std::uint64_t queued = 0; // bytes waiting to be written (held ones included)
  };
  traffic counters() const;

  /// Sends `last` (a GOODBYE or REFUSE) after everything queued, shuts down the
  /// sending side and keeps reading until the peer closes or `linger` passes,
  /// so frames the peer sent before seeing our goodbye still arrive.
  void close_gracefully(shared_bytes last, std::chrono::milliseconds linger);

  /// Closes at once. Thread-safe.
  void abort(std::string reason);

  /// What the kernel knows of a link that looks silent to the application.
  struct liveness {
    std::size_t unread = 0;         // bytes received but not read yet (a stall here)
    std::uint32_t out_of_order = 0; // segments received beyond a lost one (so far)
    std::chrono::steady_clock::time_point last_read; // when bytes last arrived
  };

  /// Calls `done` on the I/O thread, after the reads it has pending, with the
  /// socket's liveness: a peer that looks silent may only be waiting behind a
  /// stalled machine (unread bytes) or behind a lost segment that TCP is
  /// still retransmitting (out-of-order segments keep arriving).
  void probe(std::function<void(liveness)> done);

  /// Calls `on_silent` on the I/O thread once no byte has been read for
  /// `silence`, with the socket's liveness; armed again by the next read.
  /// Looked at lazily: one timer for the last read plus `silence`, moved on
  /// when bytes came meanwhile, so a link that hears its peer's heartbeats
  /// costs one timer a heartbeat and no thread hand-off. Thread-safe.
  void watch_silence(std::chrono::steady_clock::duration silence,
                     std::function<void(liveness)> on_silent);

  const boost::asio::ip::tcp::endpoint& remote() const { return remote_; }

private:
  tcp_session(boost::asio::ip::tcp::socket socket, std::size_t max_payload);
  void do_read();
  void take(std::size_t n); // the bytes of one read
  void auth_failed(std::string reason);
  bool enqueue(shared_bytes frame); // false if the session had to close
  void do_write();
  void finish(std::string reason);
  void arm_watch();
  liveness look();

  boost::asio::ip::tcp::socket socket_;
  boost::asio::strand<boost::asio::any_io_executor> strand_;
  boost::asio::steady_timer linger_timer_;
  boost::asio::steady_timer watch_timer_;
  std::chrono::steady_clock::duration watch_silence_{};
  std::function<void(liveness)> on_silent_;
  bool watch_armed_ = false;
  boost::asio::ip::tcp::endpoint remote_;
  wire::frame_reader reader_;
  handlers handlers_;
  std::array<std::uint8_t, 65536> read_buf_;
  // The cluster key: the handshake while it runs, then the link's cipher.
  std::unique_ptr<link_auth> auth_;
  std::unique_ptr<link_cipher> cipher_;
  std::atomic<std::uint64_t> auth_peer_{0};
  bytes raw_out_;                // handshake messages, written before any frame
  shared_bytes raw_buf_;         // the one being written
  bytes sealed_in_;              // records not yet whole
  bytes plain_in_;               // what the last read's records held
  bytes plain_out_, sealed_out_; // the frames of one write, before and after sealing
  std::deque<shared_bytes> queue_;
  std::vector<shared_bytes> held_; // data frames waiting for open()
  std::size_t held_bytes_ = 0;
  bool open_ = false;
  std::chrono::steady_clock::time_point last_read_ = std::chrono::steady_clock::now();
  std::atomic<std::uint64_t> frames_in_{0}, frames_out_{0}, bytes_in_{0}, bytes_out_{0};
  std::atomic<std::uint64_t> queued_now_{
      0}; // queued_bytes_ + held_bytes_, for other threads
  void note_queued() {
    queued_now_.store(queued_bytes_ + held_bytes_, std::memory_order_relaxed);
  }
  std::size_t queued_bytes_ = 0;
  bool writing_ = false;
  bool closing_ = false; // no more frames accepted for sending
  bool shutdown_after_write_ = false;
  bool finished_ = false;
};

/// Dials `to` with a timeout; `done` gets a session (not started) or an error
/// text ("connection refused" when the port refused: nobody listens there).
void async_dial(boost::asio::io_context& ioc, boost::asio::ip::tcp::endpoint to,
                std::chrono::milliseconds timeout, std::size_t max_payload,
                std::function<void(std::shared_ptr<tcp_session>, std::string)> done);

/// The error text async_dial gives when the port refused the connection.
constexpr const char* connection_refused = "connection refused";

/// What a connection attempt to a port found.
enum class port_check { open, refused, timeout, error };

/// Connects to `to` and closes at once: is anybody listening there? A
/// crashed node's port refuses (its kernel resets the connection).
void async_check_port(boost::asio::io_context& ioc, boost::asio::ip::tcp::endpoint to,
                      std::chrono::milliseconds timeout,
                      std::function<void(port_check)> done);

} // namespace lanmesh::net
