#pragma once
// The liveness probe socket: one unicast UDP socket per node, bound to the
// node's listen address on a port of the kernel's choosing (announced in the
// HELLO). It answers probes addressed to this node by itself, on the I/O
// thread, so an answer costs no actor hop; acknowledgements of this node's
// own probes go to a callback. Decides nothing about peers.

#include <atomic>
#include <boost/asio/ip/udp.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "net/datagram_seal.hpp"
#include "net/keyring.hpp"

namespace lanmesh::net {

class udp_probe : public std::enable_shared_from_this<udp_probe> {
public:
  /// An ACK for this node: the node that answered and the nonce it echoed.
  using on_ack = std::function<void(std::uint64_t from, std::uint64_t nonce)>;

  struct counters {
    std::uint64_t sent = 0;     // datagrams sent: our probes and our answers
    std::uint64_t answered = 0; // probes of others answered
    std::uint64_t acks = 0;     // acks of our probes received
    std::uint64_t bad = 0;      // malformed datagrams, or failing the cluster key
    std::uint64_t foreign = 0;  // well-formed, but for another node or cluster
    std::uint64_t limited = 0;  // probes not answered: over the answer rate
  };

  /// Most probes answered per second (a flood of them costs at most this).
  static constexpr std::uint32_t max_answers_per_second = 2000;

  /// Opens the socket on `bind_ip` (IPv4), port 0. nullptr and `error` on failure.
  static std::shared_ptr<udp_probe> open(boost::asio::io_context& ioc,
                                         const std::string& bind_ip, std::string& error);

  std::uint16_t port() const { return port_; }

  /// Starts receiving. Thread-safe. With keys, every datagram sent is sealed
  /// (net/datagram_seal.hpp) and every one received must be, fresh, and
  /// newer than the last from its sender.
  void start(std::uint64_t self, std::string cluster, on_ack cb,
             std::shared_ptr<keyring_holder> keys = {});
  /// Sends a probe to `to` at ip:port (IPv4 as a number). Thread-safe.
  void send_probe(std::uint32_t ip, std::uint16_t port, std::uint64_t to,
                  std::uint64_t nonce);
  /// Closes the socket and drops the callback. Thread-safe.
  void close();

  counters stats() const;

private:
  explicit udp_probe(boost::asio::io_context& ioc);
  void receive();
  void handle(std::size_t n);
  void seal(std::vector<std::uint8_t>& bytes);

  boost::asio::ip::udp::socket socket_;
  std::uint16_t port_ = 0;
  std::uint64_t self_ = 0;
  std::string cluster_;
  on_ack cb_;
  std::shared_ptr<keyring_holder> keys_;
  seal_clock seal_clock_;
  replay_window replays_;
  std::vector<std::uint8_t> buf_;
  boost::asio::ip::udp::endpoint from_;
  std::chrono::steady_clock::time_point window_start_{};
  std::uint32_t window_answers_ = 0;
  std::atomic<std::uint64_t> sent_{0}, answered_{0}, acks_{0}, bad_{0}, foreign_{0},
      limited_{0};
};

} // namespace lanmesh::net
