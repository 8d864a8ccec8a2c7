#pragma once
// The discovery sockets. One socket is bound to the group address and port,
// shared by every node on the host (SO_REUSEADDR), and joined on the configured
// interface: it hears the group. A second socket, bound to the interface on an
// ephemeral port, sends everything (IP_MULTICAST_IF, loop on, TTL) and hears
// the answers addressed to this node alone: unicast to a shared port would
// reach only one of the sharing processes.

#include <boost/asio/ip/udp.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace lanmesh::net {

class udp_multicast : public std::enable_shared_from_this<udp_multicast> {
public:
  /// Bytes, sender address, sender port.
  using on_datagram =
      std::function<void(std::vector<std::uint8_t>, std::string, std::uint16_t)>;

  /// Opens both sockets. Returns nullptr and sets `error` on failure.
  static std::shared_ptr<udp_multicast> open(boost::asio::io_context& ioc,
                                             const std::string& group, std::uint16_t port,
                                             const std::string& interface, int ttl,
                                             std::string& error);

  /// Starts receiving on both sockets; thread-safe.
  void start(on_datagram cb);
  /// Sends to the group; thread-safe.
  void send_group(std::vector<std::uint8_t> bytes);
  /// Sends to one node's reply socket; thread-safe.
  void send_to(const std::string& ip, std::uint16_t port,
               std::vector<std::uint8_t> bytes);
  /// Closes both sockets and drops the callback; thread-safe.
  void close();
  /// The send socket's port: the source port of every datagram this node
  /// sends (so that its own looped-back multicast is recognised).
  std::uint16_t local_port() const { return local_port_; }

private:
  explicit udp_multicast(boost::asio::io_context& ioc);
  void receive(boost::asio::ip::udp::socket& s, std::vector<std::uint8_t>& buf,
               boost::asio::ip::udp::endpoint& from);

  boost::asio::ip::udp::socket group_socket_;
  boost::asio::ip::udp::socket send_socket_;
  boost::asio::ip::udp::endpoint group_;
  std::vector<std::uint8_t> group_buf_, send_buf_;
  boost::asio::ip::udp::endpoint group_from_, send_from_;
  on_datagram cb_;
  std::uint16_t local_port_ = 0;
};

} // namespace lanmesh::net
