#include "sim/sim_node.hpp"

#include <algorithm>

#include "net/announce.hpp"
#include "sim/world.hpp"

namespace lanmesh::sim {

namespace {

// As actors/supervisor.cpp's end_of.
link_end end_of(const std::string& reason, bool peer_alive) {
  if (reason == "reset")
    return link_end::reset;
  if (reason == "timeout")
    return peer_alive ? link_end::timeout_alive : link_end::timeout_unreachable;
  if (reason == "goodbye" || reason == "rebalance" || reason == "trim")
    return link_end::goodbye;
  return link_end::other;
}

const std::string connection_refused = "connection refused";

std::uint32_t parse_ip(const std::string& text) {
  std::uint32_t ip = 0, part = 0;
  int dots = 0;
  for (char c : text) {
    if (c == '.' || c == ':') {
      ip = (ip << 8) | part;
      part = 0;
      if (c == ':' || ++dots > 3)
        break;
    } else if (c >= '0' && c <= '9') {
      part = part * 10 + static_cast<std::uint32_t>(c - '0');
    }
  }
  return ip;
}

std::uint16_t parse_port(const std::string& text) {
  auto colon = text.rfind(':');
  return colon == std::string::npos
             ? 0
             : static_cast<std::uint16_t>(std::stoul(text.substr(colon + 1)));
}

} // namespace

std::string ip_text(std::uint32_t ip) {
  return std::to_string(ip >> 24) + "." + std::to_string((ip >> 16) & 0xff) + "." +
         std::to_string((ip >> 8) & 0xff) + "." + std::to_string(ip & 0xff);
}

std::uint32_t ip_of_index(std::uint32_t idx) {
  return (10u << 24) + idx + 1;
}

sim_node::sim_node(world& w, std::uint32_t idx, node_id id, const node_settings& s,
                   time_point now)
    : w_(w), idx_(idx), id_(id), ip_(ip_of_index(idx)), s_(s), table_(id),
      policy_(id,
              [&] {
                auto p = s.overlay;
                p.seed = s.overlay.seed ^ id;
                return p;
              }()),
      members_(
          [&] {
            member_record r;
            r.node = id;
            // The incarnation grows at every start: the start time.
            r.incarnation = static_cast<std::uint64_t>(
                std::chrono::duration_cast<std::chrono::microseconds>(
                    now.time_since_epoch())
                    .count());
            r.port = tcp_port;
            r.probe_port = probe_port;
            r.capacity = static_cast<std::uint16_t>(s.overlay.max_degree);
            return r;
          }(),
          [&] {
            auto p = s.membership;
            p.seed = s.membership.seed ^ (id * 3);
            return p;
          }()),
      live_(s.live), disc_([&] {
        discovery_params p;
        p.self = id;
        p.cluster = "sim";
        p.tcp_port = tcp_port;
        p.query_window = s.query_window;
        p.announce_min = s.announce_min;
        p.announce_max = s.announce_max;
        p.seed = id * 5;
        p.max_candidates = s.discovery_candidates;
        p.own_ip = ip_text(ip_of_index(idx));
        p.own_udp_port = udp_port;
        return p;
      }()) {
  // The epoch of this node's stream: its start time in microseconds.
  auto epoch = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch())
          .count());
  if (s.flood) {
    flood_ =
        std::make_unique<relay>(id, epoch, s.seen_max_entries, s.seen_max_age,
                                [this](broadcast_plane::frames_ptr frames, std::size_t) {
                                  w_.delivered(idx_, frames, w_.net().now());
                                });
  } else {
    tree_ = std::make_unique<broadcast_tree>(id, epoch, s.tree);
  }
}

// --- helpers as in actors/supervisor.cpp -----------------------------------------

std::uint16_t sim_node::capacity() const {
  auto deg = table_.size();
  auto max = s_.overlay.max_degree;
  return static_cast<std::uint16_t>(deg >= max ? 0 : max - deg);
}

std::vector<link_view> sim_node::link_views() const {
  std::vector<link_view> out;
  for (auto& [peer, e] : table_.links())
    out.push_back({peer, e.dir});
  for (auto& [_, d] : dialing_) // as actors/supervisor.cpp: re-dials do not count
    if (d.expected != 0 && !d.callback() && !d.reconnect && !table_.linked(d.expected))
      out.push_back({d.expected, direction::out});
  return out;
}

std::unordered_set<node_id> sim_node::pending() const {
  std::unordered_set<node_id> out;
  for (auto& [_, d] : dialing_)
    if (d.expected != 0)
      out.insert(d.expected);
  return out;
}

std::unordered_set<node_id> sim_node::dropping_peers() const {
  std::unordered_set<node_id> out;
  for (auto& [peer, e] : table_.links())
    if (dropping_.count(e.conn))
      out.insert(peer);
  return out;
}

wire::hello sim_node::make_hello(std::uint8_t flags) const {
  wire::hello h;
  h.cluster = "sim";
  h.node = id_;
  h.incarnation = members_.self().incarnation;
  h.record_version = members_.self().version;
  h.listen_port = tcp_port;
  h.probe_port = probe_port;
  h.flags = static_cast<std::uint8_t>(flags | (s_.flood ? 0 : wire::hello_tree));
  h.links_in = static_cast<std::uint16_t>(table_.count(direction::in));
  h.links_out = static_cast<std::uint16_t>(table_.count(direction::out));
  h.capacity = capacity();
  return h;
}

void sim_node::send(std::uint64_t conn, link_msg m) {
  w_.send(conn, idx_, std::move(m));
}

void sim_node::send_control(node_id peer, link_msg m) {
  auto* e = table_.find(peer);
  if (e)
    send(e->conn, std::move(m));
}

void sim_node::send_plane(node_id peer, broadcast_plane::frames_ptr frames) {
  auto* e = table_.find(peer);
  if (!e)
    return;
  link_msg m;
  m.kind = msg_kind::plane;
  m.bytes = std::move(frames);
  send(e->conn, std::move(m));
}

std::vector<std::uint64_t> sim_node::open_conns() const {
  std::vector<std::uint64_t> out;
  for (auto& [id, _] : conns_)
    out.push_back(id);
  return out;
}

plane_stats sim_node::plane() const {
  if (flood_)
    return flood_->stats();
  plane_stats p;
  auto& t = tree_->stats();
  p.payloads_in = t.payloads_in;
  p.delivered = t.delivered;
  p.duplicates = t.duplicates;
  p.forwarded = t.forwarded;
  p.grafts_out = t.grafts_out;
  p.prunes_out = t.prunes_out;
  p.iwants_out = t.iwants_out;
  p.fetched = t.fetched;
  p.gaps = t.gaps;
  p.gap_messages = t.gap_messages;
  p.history_bytes = t.history_bytes;
  p.streams = t.streams;
  p.waiting = t.waiting;
  return p;
}

time_point sim_node::next_wakeup() const {
  auto t = std::min(
      {members_.next_wakeup(), disc_.next_wakeup(), next_maintain_, window_end_});
  if (tree_)
    t = std::min(t, tree_->next_wakeup());
  return t;
}

void sim_node::arm() {
  w_.arm(idx_, next_wakeup());
}

// --- commands out ---------------------------------------------------------------

void sim_node::run(const membership::commands& cmds, time_point now) {
  for (auto& c : cmds) {
    if (auto* r = std::get_if<membership::send_records>(&c)) {
      link_msg m;
      m.kind = msg_kind::members;
      m.members = {static_cast<std::uint8_t>(r->sync ? wire::members_sync : 0),
                   r->records};
      send_control(r->to, std::move(m));
    } else if (auto* y = std::get_if<membership::send_sync>(&c)) {
      link_msg m;
      m.kind = msg_kind::sync;
      m.sync = y->body;
      send_control(y->to, std::move(m));
    } else if (auto* k = std::get_if<membership::confirm>(&c)) {
      w_.check_port(idx_, k->id, k->ip, k->port);
    } else if (auto* rc = std::get_if<membership::reconnect>(&c)) {
      if (!table_.linked(rc->id) && !stopping_)
        dial(ip_text(rc->ip) + ":" + std::to_string(rc->port),
             dial_info{rc->id, 0, "reconnecting", true}, now,
             std::chrono::milliseconds(1000));
    } else if (auto* ch = std::get_if<membership::changed>(&c)) {
      if (ch->state != member_state::alive) {
        policy_.forget(ch->id);
        if (ch->state != member_state::unreachable) {
          disc_.forget(ch->id);
          if (window_reported_)
            report_candidates(false, now);
        }
      }
    }
  }
}

void sim_node::run(std::vector<discovery_logic::command> cmds) {
  for (auto& c : cmds) {
    if (auto* g = std::get_if<discovery_logic::send_group>(&c))
      w_.group_send(idx_, std::move(g->bytes), g->kind);
    else if (auto* t = std::get_if<discovery_logic::send_to>(&c))
      w_.send_to(idx_, t->ip, std::move(t->bytes));
  }
}

void sim_node::carry_out(time_point now) {
  if (!tree_)
    return;
  for (auto& s : out_.sends)
    send_plane(s.to, std::move(s.frames));
  for (auto& d : out_.deliveries)
    w_.delivered(idx_, d.frames, now);
  for (auto& g : out_.gaps)
    w_.gap(idx_, g.range);
  out_.clear();
}

void sim_node::plane_up(node_id peer, time_point now) {
  if (!plane_links_.insert(peer).second)
    return;
  if (tree_) {
    tree_->link_up(peer, now, out_);
    // The link's round trip, as the heartbeats measure it.
    tree_->rtt(peer, std::chrono::duration_cast<clock::duration>(
                         std::chrono::duration<double, std::milli>(
                             2 * w_.net().mean_latency_ms())));
    carry_out(now);
  } else {
    flood_->set_link(
        peer,
        [this, peer](std::vector<broadcast_plane::frames_ptr> frames) {
          for (auto& f : frames)
            send_plane(peer, f);
        },
        now);
  }
}

void sim_node::plane_down(node_id peer, time_point now) {
  if (!plane_links_.erase(peer))
    return;
  if (tree_) {
    tree_->link_down(peer, now, out_);
    carry_out(now);
  } else {
    flood_->drop_link(peer, now);
  }
}

// --- discovery, as actors/discovery.cpp --------------------------------------------

void sim_node::report_candidates(bool force, time_point now) {
  if (!force && !disc_.take_changed())
    return;
  for (auto& c : disc_.candidates(now))
    policy_.hint(c.id, c.addr(), c.links_in, c.links_out, c.capacity, now);
  maintain(now);
}

void sim_node::on_datagram(const std::vector<std::uint8_t>& bytes, std::uint32_t from_idx,
                           time_point now) {
  auto v = disc_.on_datagram(bytes.data(), bytes.size(), ip_text(ip_of_index(from_idx)),
                             udp_port, now);
  if (window_reported_) {
    report_candidates(false, now);
  } else if (v == discovery_logic::verdict::taken && !disc_.candidates(now).empty()) {
    window_reported_ = true;
    window_end_ = time_point::max();
    disc_.take_changed();
    report_candidates(true, now);
  }
  run(disc_.on_timer(now));
  arm();
}

// --- start, timers ---------------------------------------------------------------

void sim_node::start(time_point now) {
  if (s_.discovery) {
    run(disc_.start(now));
    window_end_ = now + s_.query_window;
  }
  next_maintain_ = now + s_.maintain_interval;
  update_load(now);
  arm();
}

void sim_node::on_timer(time_point now) {
  if (now >= window_end_) {
    window_end_ = time_point::max();
    if (!window_reported_) {
      window_reported_ = true;
      disc_.take_changed();
      report_candidates(true, now);
    }
  }
  if (disc_.next_wakeup() <= now) {
    run(disc_.on_timer(now));
    if (window_reported_)
      report_candidates(false, now);
  }
  if (members_.next_wakeup() <= now)
    run(members_.tick(now), now);
  if (tree_ && tree_->next_wakeup() <= now) {
    tree_->tick(now, out_);
    carry_out(now);
  }
  if (now >= next_maintain_) {
    next_maintain_ = now + s_.maintain_interval;
    maintain(now);
  }
  arm();
}

void sim_node::publish(const std::string& payload, time_point now) {
  ++own_seq_;
  if (tree_) {
    tree_->publish({payload}, now, out_);
    carry_out(now);
  } else {
    flood_->publish({payload}, own_seq_, now);
  }
  arm();
}

// --- dials and links, as actors/supervisor.cpp --------------------------------------

void sim_node::dial(const std::string& addr, dial_info info, time_point now,
                    std::chrono::milliseconds timeout) {
  if (dialing_.count(addr) || stopping_)
    return;
  dialing_.emplace(addr, info);
  link_msg hello;
  hello.kind = msg_kind::hello;
  hello.hello = make_hello(info.flags);
  auto conn = w_.dial(idx_, addr, std::move(hello),
                      timeout.count() > 0 ? timeout : s_.handshake_timeout);
  conn_rec rec;
  rec.dir = direction::out;
  rec.dialed = addr;
  rec.info = std::move(info);
  conns_.emplace(conn, std::move(rec));
  (void)now;
}

void sim_node::dial_ended(const std::string& addr, const std::string& why, bool failed,
                          time_point now) {
  auto it = dialing_.find(addr);
  if (it == dialing_.end())
    return;
  auto info = it->second;
  dialing_.erase(it);
  bool called_back = why == "refused by peer: callback";
  if (failed && !called_back && info.expected != 0) {
    policy_.dial_failed(info.expected, now);
    if (why == connection_refused)
      run(members_.dial_refused(info.expected, parse_ip(addr), parse_port(addr), now),
          now);
  }
}

void sim_node::on_dial_failed(std::uint64_t conn, bool timed_out, time_point now) {
  auto it = conns_.find(conn);
  if (it == conns_.end() || it->second.up)
    return;
  auto addr = it->second.dialed;
  auto expected = it->second.info.expected;
  conns_.erase(it);
  w_.close_end(conn, idx_);
  if (expected != 0) {
    disc_.forget(expected);
    if (window_reported_)
      report_candidates(false, now);
  }
  dial_ended(addr, timed_out ? "timeout" : connection_refused, true, now);
  maintain(now);
  arm();
}

void sim_node::update_load(time_point now) {
  auto in = static_cast<std::uint16_t>(table_.count(direction::in));
  auto out = static_cast<std::uint16_t>(table_.count(direction::out));
  run(members_.set_load(in, out, capacity(), now), now);
  disc_.set_load(link_load{in, out, capacity()}, now);
  // The heartbeats carry the load to every neighbour (within one heartbeat).
  for (auto& [peer, e] : table_.links()) {
    link_msg m;
    m.kind = msg_kind::ping;
    m.links_in = in;
    m.links_out = out;
    m.capacity = capacity();
    w_.send(e.conn, idx_, std::move(m));
  }
}

void sim_node::maintain(time_point now) {
  if (stopping_)
    return;
  auto links = link_views();
  auto actions =
      policy_.decide(links, pending(), dropping_peers(), members_.members(), now);
  for (auto& a : actions) {
    if (auto* d = std::get_if<overlay_policy::dial>(&a)) {
      dial(d->addr, dial_info{d->id, 0, d->reason}, now);
    } else if (auto* inv = std::get_if<overlay_policy::invite>(&a)) {
      dial(inv->addr, dial_info{inv->target, wire::hello_callback, "invite"}, now);
    } else if (auto* r = std::get_if<overlay_policy::reverse>(&a)) {
      if (table_.find(r->peer)) {
        link_msg m;
        m.kind = msg_kind::reverse;
        send_control(r->peer, std::move(m));
      }
    } else if (auto* dr = std::get_if<overlay_policy::drop>(&a)) {
      if (auto* e = table_.find(dr->peer)) {
        auto conn = e->conn;
        dropping_.insert(conn);
        link_msg m;
        m.kind = msg_kind::goodbye;
        m.reason = dr->reason;
        close(conn, &m, dr->reason, now);
      }
    }
  }
}

void sim_node::close(std::uint64_t conn, const link_msg* m, const std::string& reason,
                     time_point now) {
  if (m)
    send(conn, *m);
  w_.close_end(conn, idx_);
  handle_closed(conn, reason, false, now);
}

void sim_node::handle_closed(std::uint64_t conn, const std::string& reason,
                             bool peer_alive, time_point now) {
  dropping_.erase(conn);
  auto it = conns_.find(conn);
  if (it == conns_.end())
    return;
  auto rec = it->second;
  conns_.erase(it);
  w_.close_end(conn, idx_);
  if (auto gone = table_.remove(conn)) {
    plane_down(gone->peer, now);
    run(members_.link_down(gone->peer, end_of(reason, peer_alive), now), now);
    update_load(now);
  }
  if (rec.dir == direction::out)
    dial_ended(rec.dialed, reason, !rec.up && reason != "duplicate", now);
  maintain(now);
  arm();
}

void sim_node::offer(std::uint64_t conn, const wire::hello& h, time_point now) {
  auto it = conns_.find(conn);
  if (it == conns_.end())
    return;
  auto& rec = it->second;
  rec.peer = h.node;
  auto peer_ip = ip_of_index(rec.peer_idx);
  rec.addr = rec.dir == direction::out ? rec.dialed
             : h.listen_port == 0
                 ? std::string{}
                 : ip_text(peer_ip) + ":" + std::to_string(h.listen_port);
  auto flags = rec.dir == direction::in ? h.flags : rec.info.flags;
  member_record record;
  record.node = h.node;
  record.incarnation = h.incarnation;
  record.version = h.record_version;
  record.ip = peer_ip;
  record.port = h.listen_port;
  record.probe_port = h.probe_port;
  record.links_in = h.links_in;
  record.links_out = h.links_out;
  record.capacity = h.capacity;
  bool reverse = (flags & wire::hello_reverse) != 0;
  bool callback = (flags & wire::hello_callback) != 0;

  // register_link, as actors/supervisor.cpp.
  std::string refusal;
  std::vector<wire::redirect_entry> redirect;
  if (stopping_)
    refusal = "node stopping";
  if (refusal.empty() && rec.dir == direction::out && rec.info.expected != 0 &&
      rec.info.expected != h.node)
    run(members_.dial_refused(rec.info.expected, parse_ip(rec.dialed),
                              parse_port(rec.dialed), now),
        now);
  overlay_policy::admission adm;
  if (refusal.empty()) {
    link_request req;
    req.peer = h.node;
    req.dir = rec.dir;
    req.serves = h.listen_port != 0;
    req.peer_load = std::uint32_t{h.links_in} + h.links_out;
    req.reverse = reverse;
    req.callback = callback;
    adm =
        policy_.admit(req, link_views(), table_.linked(h.node), members_.members(), now);
    if (adm.what == overlay_policy::admission::refuse) {
      refusal = adm.reason;
      if (adm.reason == "full")
        for (auto& m : adm.redirect)
          redirect.push_back({m.id, parse_ip(m.addr), parse_port(m.addr)});
    } else if (adm.what == overlay_policy::admission::call_back) {
      refusal = "callback";
    }
  }
  bool standby = false;
  if (refusal.empty()) {
    auto d = table_.offer(conn, h.node, rec.dir, adm.reverse);
    if (rec.dir == direction::out && d.what != link_table::verdict::refuse) {
      dialing_.erase(rec.dialed);
      policy_.dial_succeeded(h.node);
    }
    switch (d.what) {
    case link_table::verdict::accept:
      rec.up = true;
      break;
    case link_table::verdict::replace: {
      rec.up = true;
      // The router moves the plane's link to the winner; the node that
      // dialed it retires the loser, the other stands by on it.
      if (rec.dir == direction::out && conns_.count(d.retired->conn)) {
        link_msg bye;
        bye.kind = msg_kind::goodbye;
        bye.reason = "duplicate";
        send(d.retired->conn, bye);
        w_.close_end(d.retired->conn, idx_);
        conns_.erase(d.retired->conn);
      }
      update_load(now);
      break;
    }
    case link_table::verdict::refuse:
      if (rec.dir == direction::out)
        dialing_.erase(rec.dialed);
      if (rec.dir == direction::out && table_.find(h.node)->dir == direction::in)
        standby = true;
      else
        refusal = "duplicate";
      break;
    }
  }
  if (!refusal.empty()) {
    if (!redirect.empty()) {
      link_msg m;
      m.kind = msg_kind::redirect;
      m.redirect = redirect;
      send(conn, std::move(m));
    }
    link_msg m;
    m.kind = rec.dir == direction::in ? msg_kind::refuse : msg_kind::goodbye;
    m.reason = refusal;
    if (refusal == "callback" && rec.dir == direction::in && !rec.addr.empty()) {
      auto addr = rec.addr;
      auto peer = h.node;
      close(conn, &m, refusal, now);
      dial(addr, dial_info{peer, 0, "invited"}, now);
      maintain(now);
      return;
    }
    close(conn, &m, refusal, now);
    return;
  }
  rec.established = true;
  if (standby)
    return;
  if (rec.dir == direction::in) {
    link_msg m;
    m.kind = msg_kind::welcome;
    m.hello = make_hello(0);
    send(conn, std::move(m));
  }
  if (rec.up && table_.find(h.node) && table_.find(h.node)->conn == conn) {
    plane_up(h.node, now);
    if (!members_.find(h.node) || !members_.find(h.node)->linked)
      run(members_.link_up(record, false, rec.dir == direction::out, now), now);
    update_load(now);
  }
  maintain(now);
  arm();
}

// --- frames in, as actors/connection.cpp ---------------------------------------------

void sim_node::on_msg(std::uint64_t conn, std::uint32_t from, const link_msg& m,
                      time_point now) {
  auto it = conns_.find(conn);
  if (it == conns_.end()) {
    if (m.kind != msg_kind::hello || stopping_)
      return;
    // An inbound connection: accepted, its HELLO read.
    conn_rec rec;
    rec.peer_idx = from;
    rec.dir = direction::in;
    it = conns_.emplace(conn, std::move(rec)).first;
  }
  auto& rec = it->second;
  rec.peer_idx = from;
  switch (m.kind) {
  case msg_kind::hello:
  case msg_kind::welcome:
    if ((m.kind == msg_kind::hello) != (rec.dir == direction::in) || rec.established)
      return;
    offer(conn, m.hello, now);
    return;
  case msg_kind::refuse:
    handle_closed(conn,
                  m.reason == "duplicate" ? "duplicate" : "refused by peer: " + m.reason,
                  false, now);
    return;
  case msg_kind::goodbye: {
    auto reason = m.reason == "duplicate" || m.reason == "rebalance" || m.reason == "trim"
                      ? m.reason
                      : std::string("goodbye");
    handle_closed(conn, reason, false, now);
    return;
  }
  case msg_kind::reset:
    handle_closed(conn, "reset", false, now);
    return;
  case msg_kind::redirect:
    if (rec.dir == direction::out && !rec.up) {
      for (auto& e : m.redirect)
        if (e.node != id_ && e.port != 0 && possible_member_ip(e.ip)) {
          policy_.hint(e.node, ip_text(e.ip) + ":" + std::to_string(e.port), 0, 0, 1,
                       now);
          ++redirects_taken_;
        }
    }
    return;
  default:
    break;
  }
  if (!rec.established)
    return;
  auto peer = rec.peer;
  switch (m.kind) {
  case msg_kind::members:
    if (table_.linked(peer))
      run(members_.received(peer, m.members.records,
                            (m.members.flags & wire::members_sync) != 0, now),
          now);
    break;
  case msg_kind::sync:
    if (table_.linked(peer))
      run(members_.sync_received(peer, m.sync, now), now);
    break;
  case msg_kind::reverse:
    if (policy_.accept_reverse(link_views(), peer) && !rec.addr.empty())
      dial(rec.addr, dial_info{peer, wire::hello_reverse, "reverse requested"}, now);
    break;
  case msg_kind::ping:
    members_.peer_load(peer, m.links_in, m.links_out, m.capacity);
    break;
  case msg_kind::plane:
    if (tree_) {
      tree_->inbound(peer, m.bytes->data(), m.bytes->size(), now, out_);
      carry_out(now);
    } else {
      flood_->inbound(peer, m.bytes->data(), m.bytes->size(), now);
    }
    break;
  default:
    break;
  }
  arm();
}

void sim_node::on_hs_timeout(std::uint64_t conn, time_point now) {
  auto it = conns_.find(conn);
  if (it == conns_.end() || it->second.established)
    return;
  handle_closed(conn, "handshake timeout", false, now);
}

void sim_node::on_silence(std::uint64_t conn, time_point now) {
  auto it = conns_.find(conn);
  if (it == conns_.end())
    return;
  // The link has been silent for dead_after and no probe was answered (the
  // peer is gone or cut off): actors/proto/liveness gives the verdict.
  link_facts f;
  f.silent = s_.live.dead_after;
  auto v = live_.judge(f);
  if (v == verdict::dead)
    handle_closed(conn, "timeout", false, now);
}

void sim_node::on_confirm(node_id subject, bool refused, bool timed_out, time_point now) {
  run(members_.confirmed(subject, refused, timed_out, now), now);
  maintain(now);
  arm();
}

void sim_node::leave(time_point now) {
  run(members_.leave(now), now);
  stopping_ = true;
  for (auto conn : open_conns()) {
    link_msg m;
    m.kind = msg_kind::goodbye;
    m.reason = "goodbye";
    send(conn, m);
    w_.close_end(conn, idx_);
  }
  conns_.clear();
}

} // namespace lanmesh::sim
