#include "net/udp_probe.hpp"

#include <boost/asio/post.hpp>

#include "net/probe_datagram.hpp"

namespace lanmesh::net {

namespace asio = boost::asio;
using asio::ip::udp;

udp_probe::udp_probe(asio::io_context& ioc)
    : socket_(ioc), buf_(wire::max_probe_size + seal_size + 1) {}

std::shared_ptr<udp_probe>
udp_probe::open(asio::io_context& ioc, const std::string& bind_ip, std::string& error) {
  std::shared_ptr<udp_probe> p(new udp_probe(ioc));
  boost::system::error_code ec;
  auto addr = asio::ip::make_address_v4(bind_ip, ec);
  if (ec) {
    error = "bad probe address " + bind_ip;
    return nullptr;
  }
  p->socket_.open(udp::v4(), ec);
  if (!ec)
    p->socket_.bind(udp::endpoint(addr, 0), ec);
  if (ec) {
    error = "probe socket: " + ec.message();
    return nullptr;
  }
  p->port_ = p->socket_.local_endpoint(ec).port();
  return p;
}

void udp_probe::start(std::uint64_t self, std::string cluster, on_ack cb,
                      std::shared_ptr<keyring_holder> keys) {
  asio::post(socket_.get_executor(),
             [p = shared_from_this(), self, cluster = std::move(cluster),
              cb = std::move(cb), keys = std::move(keys)]() mutable {
               p->self_ = self;
               p->keys_ = std::move(keys);
               p->cluster_ = std::move(cluster);
               p->cb_ = std::move(cb);
               p->receive();
             });
}

void udp_probe::receive() {
  socket_.async_receive_from(
      asio::buffer(buf_), from_,
      [p = shared_from_this()](boost::system::error_code ec, std::size_t n) {
        if (ec == asio::error::operation_aborted || !p->socket_.is_open())
          return;
        if (!ec)
          p->handle(n);
        p->receive();
      });
}

void udp_probe::seal(std::vector<std::uint8_t>& bytes) {
  if (keys_)
    if (auto ring = keys_->get(); !ring->empty())
      seal_datagram(bytes, *ring, seal_clock_.next());
}

void udp_probe::handle(std::size_t n) {
  keyring_ptr ring = keys_ ? keys_->get() : nullptr;
  opened_datagram sealed;
  if (ring && !ring->empty()) {
    sealed = open_datagram(buf_.data(), n, *ring, seal_clock_.next());
    if (sealed.verdict != seal_verdict::ok) {
      bad_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    n = sealed.size;
  }
  auto r = wire::decode_probe(buf_.data(), n);
  auto* d = std::get_if<wire::probe_datagram>(&r);
  if (!d) {
    bad_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (sealed.verdict == seal_verdict::ok && !replays_.fresh(d->from, sealed.time_us)) {
    bad_.fetch_add(1, std::memory_order_relaxed); // a replayed probe or ack
    return;
  }
  if (d->to != self_ || d->cluster != cluster_) {
    foreign_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (d->kind == wire::probe_kind::ack) {
    acks_.fetch_add(1, std::memory_order_relaxed);
    if (cb_)
      cb_(d->from, d->nonce);
    return;
  }
  auto now = std::chrono::steady_clock::now();
  if (now - window_start_ >= std::chrono::seconds(1)) {
    window_start_ = now;
    window_answers_ = 0;
  }
  if (++window_answers_ > max_answers_per_second) {
    limited_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  wire::probe_datagram ack{wire::probe_kind::ack, self_, d->from, d->nonce, cluster_};
  auto bytes = wire::encode_probe(ack);
  seal(bytes);
  boost::system::error_code ec;
  socket_.send_to(asio::buffer(bytes), from_, 0, ec);
  answered_.fetch_add(1, std::memory_order_relaxed);
  sent_.fetch_add(1, std::memory_order_relaxed);
}

void udp_probe::send_probe(std::uint32_t ip, std::uint16_t port, std::uint64_t to,
                           std::uint64_t nonce) {
  asio::post(socket_.get_executor(), [p = shared_from_this(), ip, port, to, nonce] {
    if (!p->socket_.is_open())
      return;
    wire::probe_datagram d{wire::probe_kind::probe, p->self_, to, nonce, p->cluster_};
    auto bytes = wire::encode_probe(d);
    p->seal(bytes);
    boost::system::error_code ec;
    p->socket_.send_to(asio::buffer(bytes), udp::endpoint(asio::ip::address_v4(ip), port),
                       0, ec);
    p->sent_.fetch_add(1, std::memory_order_relaxed);
  });
}

void udp_probe::close() {
  asio::post(socket_.get_executor(), [p = shared_from_this()] {
    boost::system::error_code ec;
    p->socket_.close(ec);
    p->cb_ = nullptr;
  });
}

udp_probe::counters udp_probe::stats() const {
  return {
      sent_.load(std::memory_order_relaxed),    answered_.load(std::memory_order_relaxed),
      acks_.load(std::memory_order_relaxed),    bad_.load(std::memory_order_relaxed),
      foreign_.load(std::memory_order_relaxed), limited_.load(std::memory_order_relaxed)};
}

} // namespace lanmesh::net
