#include "net/udp_multicast.hpp"

#include <netinet/in.h>

#include <boost/asio/ip/multicast.hpp>
#include <boost/asio/post.hpp>

namespace lanmesh::net {

namespace asio = boost::asio;
using asio::ip::udp;

namespace {
// Larger than any valid datagram, so an oversized one is seen (and counted) as
// such rather than silently cut to a valid-looking prefix.
constexpr std::size_t receive_buffer = 2048;
} // namespace

udp_multicast::udp_multicast(asio::io_context& ioc)
    : group_socket_(ioc), send_socket_(ioc), group_buf_(receive_buffer),
      send_buf_(receive_buffer) {}

std::shared_ptr<udp_multicast>
udp_multicast::open(asio::io_context& ioc, const std::string& group, std::uint16_t port,
                    const std::string& interface, int ttl, std::string& error) {
  std::shared_ptr<udp_multicast> m(new udp_multicast(ioc));
  boost::system::error_code ec;
  auto group_addr = asio::ip::make_address_v4(group, ec);
  auto iface = ec ? asio::ip::address_v4{} : asio::ip::make_address_v4(interface, ec);
  if (ec) {
    error = "bad multicast group or interface address";
    return nullptr;
  }
  m->group_ = udp::endpoint(group_addr, port);
  auto fail = [&](const char* what) {
    error = std::string(what) + ": " + ec.message();
    return nullptr;
  };
  // Bound to the group address (not 0.0.0.0), so it hears this group only.
  m->group_socket_.open(udp::v4(), ec);
  if (ec)
    return fail("multicast socket");
  m->group_socket_.set_option(udp::socket::reuse_address(true), ec);
  m->group_socket_.bind(m->group_, ec);
  if (ec)
    return fail("bind multicast port");
  int off = 0;
  setsockopt(m->group_socket_.native_handle(), IPPROTO_IP, IP_MULTICAST_ALL, &off,
             sizeof(off));
  m->group_socket_.set_option(asio::ip::multicast::join_group(group_addr, iface), ec);
  if (ec)
    return fail("join multicast group");

  m->send_socket_.open(udp::v4(), ec);
  if (!ec)
    m->send_socket_.bind(udp::endpoint(iface, 0), ec);
  if (!ec)
    m->send_socket_.set_option(asio::ip::multicast::outbound_interface(iface), ec);
  if (!ec)
    m->send_socket_.set_option(asio::ip::multicast::enable_loopback(true), ec);
  if (!ec)
    m->send_socket_.set_option(asio::ip::multicast::hops(ttl), ec);
  if (ec)
    return fail("multicast send socket");
  m->local_port_ = m->send_socket_.local_endpoint(ec).port();
  return m;
}

void udp_multicast::start(on_datagram cb) {
  asio::post(group_socket_.get_executor(),
             [self = shared_from_this(), cb = std::move(cb)] {
               self->cb_ = cb;
               self->receive(self->group_socket_, self->group_buf_, self->group_from_);
               self->receive(self->send_socket_, self->send_buf_, self->send_from_);
             });
}

void udp_multicast::receive(udp::socket& s, std::vector<std::uint8_t>& buf,
                            udp::endpoint& from) {
  s.async_receive_from(asio::buffer(buf), from,
                       [self = shared_from_this(), &s, &buf,
                        &from](boost::system::error_code ec, std::size_t n) {
                         if (ec == asio::error::operation_aborted || !s.is_open())
                           return;
                         if (!ec && self->cb_)
                           self->cb_(
                               std::vector<std::uint8_t>(buf.begin(), buf.begin() + n),
                               from.address().to_string(), from.port());
                         self->receive(s, buf, from);
                       });
}

void udp_multicast::send_group(std::vector<std::uint8_t> bytes) {
  asio::post(send_socket_.get_executor(),
             [self = shared_from_this(), b = std::move(bytes)] {
               boost::system::error_code ec;
               self->send_socket_.send_to(asio::buffer(b), self->group_, 0, ec);
             });
}

void udp_multicast::send_to(const std::string& ip, std::uint16_t port,
                            std::vector<std::uint8_t> bytes) {
  asio::post(send_socket_.get_executor(), [self = shared_from_this(), ip, port,
                                           b = std::move(bytes)] {
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(ip, ec);
    if (!ec)
      self->send_socket_.send_to(asio::buffer(b), udp::endpoint(addr, port), 0, ec);
  });
}

void udp_multicast::close() {
  asio::post(group_socket_.get_executor(), [self = shared_from_this()] {
    boost::system::error_code ec;
    self->group_socket_.close(ec);
    self->send_socket_.close(ec);
    self->cb_ = nullptr;
  });
}

} // namespace lanmesh::net
