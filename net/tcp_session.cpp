#include "net/tcp_session.hpp"

#include "net/tcp_info.hpp"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <utility>

namespace lanmesh::net {

namespace asio = boost::asio;
using asio::ip::tcp;

std::shared_ptr<tcp_session> tcp_session::make(tcp::socket socket,
                                               std::size_t max_payload) {
  return std::shared_ptr<tcp_session>(new tcp_session(std::move(socket), max_payload));
}

tcp_session::tcp_session(tcp::socket socket, std::size_t max_payload)
    : socket_(std::move(socket)), strand_(asio::make_strand(socket_.get_executor())),
      linger_timer_(socket_.get_executor()), watch_timer_(socket_.get_executor()),
      reader_(wire::max_frame_for_payload(max_payload),
              wire::broadcast_frame_limit(max_payload)) {
  boost::system::error_code ec;
  remote_ = socket_.remote_endpoint(ec);
  socket_.set_option(tcp::no_delay(true), ec);
  constexpr int tcp_rto_min_us = 45; // TCP_RTO_MIN_US, not in older headers
  int rto = rto_min_us;
  setsockopt(socket_.native_handle(), IPPROTO_TCP, tcp_rto_min_us, &rto, sizeof(rto));
  // Exponential backoff may still grow the timeout past the heartbeat's
  // dead-after (seen under 20 % loss: 100 ms doubling to 3.2 s, and links
  // made during loss starting at 3 s after a lost SYN): cap it at 1 s
  // (TCP_RTO_MAX_MS, Linux >= 6.15; its lowest allowed value).
  constexpr int tcp_rto_max_ms = 44; // TCP_RTO_MAX_MS, not in older headers
  int rto_max = rto_max_ms;
  setsockopt(socket_.native_handle(), IPPROTO_TCP, tcp_rto_max_ms, &rto_max,
             sizeof(rto_max));
  // Linear timeouts for thin streams (a link that idles with heartbeats).
  // Linux applies them only after slow start, which BBR never leaves, so on
  // machines using BBR this does nothing; the RTO cap above does the work.
  int thin = 1;
  setsockopt(socket_.native_handle(), IPPROTO_TCP, TCP_THIN_LINEAR_TIMEOUTS, &thin,
             sizeof(thin));
}

void tcp_session::require_key(link_auth::role role, keyring_ptr keys,
                              std::uint64_t self_id) {
  auth_ = std::make_unique<link_auth>(role, std::move(keys), self_id);
}

void tcp_session::start(handlers h) {
  asio::dispatch(strand_, [self = shared_from_this(), h = std::move(h)]() mutable {
    self->handlers_ = std::move(h);
    if (self->auth_) {
      self->raw_out_ = self->auth_->start(); // the dialer speaks first
      if (!self->raw_out_.empty() && !self->writing_)
        self->do_write();
    }
    self->do_read();
  });
}

void tcp_session::auth_failed(std::string reason) {
  if (handlers_.on_auth_failed)
    handlers_.on_auth_failed(reason);
  finish("authentication failed: " + reason);
}

void tcp_session::do_read() {
  socket_.async_read_some(
      asio::buffer(read_buf_),
      asio::bind_executor(strand_, [self = shared_from_this()](
                                       boost::system::error_code ec, std::size_t n) {
        if (self->finished_)
          return;
        if (ec) {
          if (ec == asio::error::eof && self->reader_.buffered() > 0) {
            // The stream ended inside a frame: a truncated frame, counted as such.
            wire::decode_error e{wire::error_code::truncated_body,
                                 "stream ended inside a frame (" +
                                     std::to_string(self->reader_.buffered()) +
                                     " bytes)"};
            if (self->handlers_.on_bad_input)
              self->handlers_.on_bad_input(e);
            self->finish("bad input: " + e.detail);
            return;
          }
          if (self->auth_) {
            // A keyless peer, or one with another key, hangs up on AUTH1.
            self->auth_failed(
                "the peer closed the link during the handshake (" +
                (ec == asio::error::eof ? std::string("closed") : ec.message()) +
                "): it may hold no key or another");
            return;
          }
          self->finish(ec == asio::error::eof ? "closed by peer" : ec.message());
          return;
        }
        self->last_read_ = std::chrono::steady_clock::now();
        // The watch is pushed out by the reads that come before it would
        // fire (the heartbeats of an idle link): the read's wake-up moves it,
        // instead of a wake-up of its own that finds the link fine. At most
        // one move per half silence, however fast the bytes come.
        if (self->on_silent_ &&
            (!self->watch_armed_ ||
             self->watch_timer_.expiry() < self->last_read_ + self->watch_silence_ / 2))
          self->arm_watch();
        self->take(n);
        if (!self->finished_)
          self->do_read();
      }));
}

void tcp_session::take(std::size_t n) {
  const std::uint8_t* data = read_buf_.data();
  if (auth_) {
    auto o = auth_->feed(data, n);
    raw_out_.insert(raw_out_.end(), o.send.begin(), o.send.end());
    if (o.what == link_auth::outcome::failed) {
      auth_failed(o.reason);
      return;
    }
    if (!raw_out_.empty() && !writing_)
      do_write();
    if (o.what == link_auth::outcome::more)
      return;
    // Authenticated: what followed the handshake are the first records, and
    // the frames queued meanwhile may go (after the last handshake message).
    cipher_ = std::make_unique<link_cipher>(auth_->cipher());
    sealed_in_ = auth_->take_rest();
    auth_peer_.store(auth_->peer_id(), std::memory_order_release);
    auth_.reset();
    if (!writing_)
      do_write();
    n = 0;
  } else if (cipher_) {
    sealed_in_.insert(sealed_in_.end(), data, data + n);
  }
  if (cipher_) {
    plain_in_.clear();
    if (cipher_->open(sealed_in_, plain_in_) != link_cipher::opened::ok) {
      auth_failed("a record failed its check (tampered, replayed, or not sealed with "
                  "this link's key)");
      return;
    }
    reader_.feed(plain_in_.data(), plain_in_.size());
  } else {
    reader_.feed(data, n);
  }
  // Broadcasts of this read go out as one batch of encoded frames, before any
  // other frame that followed them, so the peer's order is kept.
  bytes raw;
  std::size_t raw_frames = 0;
  auto flush = [&] {
    if (raw_frames == 0)
      return;
    frames_in_.fetch_add(raw_frames, std::memory_order_relaxed);
    bytes_in_.fetch_add(raw.size(), std::memory_order_relaxed);
    if (handlers_.on_broadcasts)
      handlers_.on_broadcasts(std::make_shared<const bytes>(std::exchange(raw, {})),
                              raw_frames);
    raw.clear();
    raw_frames = 0;
  };
  // A handler that throws (memory exhausted) would leave this link never read
  // again yet looking alive (bytes waiting unread): close it.
  try {
    for (;;) {
      auto next =
          handlers_.on_broadcasts ? reader_.next(raw, raw_frames) : reader_.next();
      if (auto* f = std::get_if<wire::frame>(&next)) {
        flush();
        frames_in_.fetch_add(1, std::memory_order_relaxed);
        bytes_in_.fetch_add(reader_.last_size(), std::memory_order_relaxed);
        if (handlers_.on_frame)
          handlers_.on_frame(std::move(*f));
        if (finished_)
          return;
        continue;
      }
      flush();
      if (auto* e = std::get_if<wire::decode_error>(&next)) {
        if (handlers_.on_bad_input)
          handlers_.on_bad_input(*e);
        finish(std::string("bad input: ") + e->detail);
        return;
      }
      break; // need more bytes
    }
  } catch (const std::exception& e) {
    finish(std::string("internal error: ") + e.what());
  }
}

void tcp_session::send(shared_bytes frame) {
  asio::dispatch(strand_,
                 [self = shared_from_this(), frame = std::move(frame)]() mutable {
                   if (self->closing_ || self->finished_)
                     return;
                   if (self->enqueue(std::move(frame)) && !self->writing_)
                     self->do_write();
                 });
}

void tcp_session::send_data(std::vector<shared_bytes> frames) {
  asio::dispatch(strand_,
                 [self = shared_from_this(), frames = std::move(frames)]() mutable {
                   if (self->closing_ || self->finished_)
                     return;
                   if (!self->open_) {
                     // Bounded like the write queue they will join.
                     for (auto& f : frames) {
                       self->held_bytes_ += f->size();
                       self->held_.push_back(std::move(f));
                     }
                     if (self->held_bytes_ > max_queued_bytes)
                       self->finish("write queue over limit (peer too slow)");
                     self->note_queued();
                     return;
                   }
                   for (auto& f : frames)
                     if (!self->enqueue(std::move(f)))
                       return;
                   if (!self->writing_)
                     self->do_write();
                 });
}

void tcp_session::open() {
  asio::dispatch(strand_, [self = shared_from_this()] {
    if (self->open_ || self->closing_ || self->finished_)
      return;
    self->open_ = true;
    self->held_bytes_ = 0;
    self->note_queued();
    for (auto& f : std::exchange(self->held_, {}))
      if (!self->enqueue(std::move(f)))
        return;
    if (!self->writing_)
      self->do_write();
  });
}

void tcp_session::route_broadcasts(std::function<void(shared_bytes, std::size_t)> sink) {
  asio::dispatch(strand_, [self = shared_from_this(), sink = std::move(sink)]() mutable {
    if (!self->finished_)
      self->handlers_.on_broadcasts = std::move(sink);
  });
}

tcp_session::traffic tcp_session::counters() const {
  return {frames_in_.load(std::memory_order_relaxed),
          frames_out_.load(std::memory_order_relaxed),
          bytes_in_.load(std::memory_order_relaxed),
          bytes_out_.load(std::memory_order_relaxed),
          queued_now_.load(std::memory_order_relaxed)};
}

bool tcp_session::enqueue(shared_bytes frame) {
  frames_out_.fetch_add(1, std::memory_order_relaxed);
  bytes_out_.fetch_add(frame->size(), std::memory_order_relaxed);
  queued_bytes_ += frame->size();
  if (queued_bytes_ > max_queued_bytes) {
    finish("write queue over limit (peer too slow)");
    return false;
  }
  queue_.push_back(std::move(frame));
  note_queued();
  return true;
}

void tcp_session::do_write() {
  if (!raw_out_.empty()) {
    // A handshake message: in the clear, before any frame.
    writing_ = true;
    raw_buf_ = std::make_shared<const bytes>(std::exchange(raw_out_, {}));
    asio::async_write(
        socket_, asio::buffer(*raw_buf_),
        asio::bind_executor(strand_, [self = shared_from_this()](
                                         boost::system::error_code ec, std::size_t) {
          if (self->finished_)
            return;
          if (ec) {
            self->finish(ec.message());
            return;
          }
          self->raw_buf_.reset();
          self->do_write();
        }));
    return;
  }
  if (queue_.empty() || auth_) { // frames wait for the handshake to finish
    writing_ = false;
    if (shutdown_after_write_ && !auth_) {
      boost::system::error_code ec;
      socket_.shutdown(tcp::socket::shutdown_send, ec);
    }
    return;
  }
  writing_ = true;
  // Gather everything queued into one write: fewer syscalls under load.
  std::vector<asio::const_buffer> bufs;
  std::size_t count = std::min<std::size_t>(queue_.size(), 64);
  if (cipher_) {
    // Sealed: the frames of one write become records of up to 64 KiB
    // (gathered up to 256 KiB, so one big frame does not copy a whole queue).
    plain_out_.clear();
    std::size_t i = 0;
    for (; i < count && (i == 0 || plain_out_.size() < (256u << 10)); ++i)
      plain_out_.insert(plain_out_.end(), queue_[i]->begin(), queue_[i]->end());
    count = i;
    sealed_out_.clear();
    cipher_->seal(plain_out_.data(), plain_out_.size(), sealed_out_);
    bufs.emplace_back(asio::buffer(sealed_out_));
  } else {
    bufs.reserve(count);
    for (std::size_t i = 0; i < count; ++i)
      bufs.emplace_back(asio::buffer(*queue_[i]));
  }
  asio::async_write(
      socket_, bufs,
      asio::bind_executor(strand_, [self = shared_from_this(),
                                    count](boost::system::error_code ec, std::size_t) {
        if (self->finished_)
          return;
        if (ec) {
          self->finish(ec.message());
          return;
        }
        for (std::size_t i = 0; i < count; ++i) {
          self->queued_bytes_ -= self->queue_.front()->size();
          self->queue_.pop_front();
        }
        self->note_queued();
        self->do_write();
      }));
}

void tcp_session::close_gracefully(shared_bytes last, std::chrono::milliseconds linger) {
  asio::dispatch(strand_, [self = shared_from_this(), last = std::move(last), linger] {
    if (self->closing_ || self->finished_)
      return;
    if (last && !self->enqueue(last))
      return;
    self->closing_ = true;
    self->shutdown_after_write_ = true;
    if (!self->writing_)
      self->do_write();
    self->linger_timer_.expires_after(linger);
    self->linger_timer_.async_wait(
        asio::bind_executor(self->strand_, [self](boost::system::error_code ec) {
          if (!ec)
            self->finish("closed (linger timeout)");
        }));
  });
}

tcp_session::liveness tcp_session::look() {
  liveness l;
  if (!finished_) {
    boost::system::error_code ec;
    auto unread = socket_.available(ec);
    l.unread = ec ? 0 : unread;
    l.out_of_order = out_of_order_segments(socket_.native_handle());
    l.last_read = last_read_;
  }
  return l;
}

void tcp_session::probe(std::function<void(liveness)> done) {
  asio::post(strand_,
             [self = shared_from_this(), done = std::move(done)] { done(self->look()); });
}

void tcp_session::watch_silence(std::chrono::steady_clock::duration silence,
                                std::function<void(liveness)> on_silent) {
  asio::dispatch(
      strand_, [self = shared_from_this(), silence, cb = std::move(on_silent)]() mutable {
        if (self->finished_)
          return;
        self->watch_silence_ = silence;
        self->on_silent_ = std::move(cb);
        self->arm_watch();
      });
}

void tcp_session::arm_watch() {
  watch_armed_ = true;
  watch_timer_.expires_at(last_read_ + watch_silence_);
  watch_timer_.async_wait(asio::bind_executor(
      strand_, [self = shared_from_this()](boost::system::error_code ec) {
        if (ec || self->finished_ || !self->on_silent_)
          return;
        if (std::chrono::steady_clock::now() - self->last_read_ < self->watch_silence_) {
          self->arm_watch(); // bytes came meanwhile: look again later
          return;
        }
        self->watch_armed_ = false; // the next read arms it again
        self->on_silent_(self->look());
      }));
}

void tcp_session::abort(std::string reason) {
  asio::dispatch(strand_,
                 [self = shared_from_this(), reason = std::move(reason)]() mutable {
                   self->finish(std::move(reason));
                 });
}

void tcp_session::finish(std::string reason) {
  if (finished_)
    return;
  finished_ = true;
  closing_ = true;
  boost::system::error_code ec;
  linger_timer_.cancel();
  watch_timer_.cancel();
  on_silent_ = nullptr;
  socket_.close(ec);
  queue_.clear();
  held_.clear();
  queued_bytes_ = 0;
  held_bytes_ = 0;
  note_queued();
  // Drop the handlers after the last call: they hold actor handles, and keeping
  // them would tie the actor's lifetime to this session's.
  auto h = std::move(handlers_);
  handlers_ = {};
  if (h.on_closed)
    h.on_closed(std::move(reason));
}

void async_dial(asio::io_context& ioc, tcp::endpoint to,
                std::chrono::milliseconds timeout, std::size_t max_payload,
                std::function<void(std::shared_ptr<tcp_session>, std::string)> done) {
  auto socket = std::make_shared<tcp::socket>(ioc);
  auto timer = std::make_shared<asio::steady_timer>(ioc, timeout);
  timer->async_wait([socket](boost::system::error_code ec) {
    if (!ec) {
      boost::system::error_code ignored;
      socket->close(ignored);
    }
  });
  socket->async_connect(to, [socket, timer, max_payload,
                             done = std::move(done)](boost::system::error_code ec) {
    bool timed_out = timer->expiry() <= asio::steady_timer::clock_type::now();
    timer->cancel();
    if (ec) {
      done(nullptr, timed_out                               ? "connect timeout"
                    : ec == asio::error::connection_refused ? connection_refused
                                                            : ec.message());
      return;
    }
    done(tcp_session::make(std::move(*socket), max_payload), {});
  });
}

void async_check_port(asio::io_context& ioc, tcp::endpoint to,
                      std::chrono::milliseconds timeout,
                      std::function<void(port_check)> done) {
  auto socket = std::make_shared<tcp::socket>(ioc);
  auto timer = std::make_shared<asio::steady_timer>(ioc, timeout);
  timer->async_wait([socket](boost::system::error_code ec) {
    if (!ec) {
      boost::system::error_code ignored;
      socket->close(ignored);
    }
  });
  socket->async_connect(
      to, [socket, timer, done = std::move(done)](boost::system::error_code ec) {
        bool timed_out = timer->expiry() <= asio::steady_timer::clock_type::now();
        timer->cancel();
        boost::system::error_code ignored;
        socket->close(ignored);
        if (!ec)
          done(port_check::open);
        else if (ec == asio::error::connection_refused)
          done(port_check::refused);
        else
          done(timed_out ? port_check::timeout : port_check::error);
      });
}

} // namespace lanmesh::net
