#include "actors/proto/membership.hpp"

#include <algorithm>

namespace lanmesh {

namespace {

int rank(member_state s) {
  return static_cast<int>(s); // alive < unreachable < dead < left
}

/// Whether `a` is newer than `b` (records of the same node).
bool newer(const member_record& a, const member_record& b) {
  if (a.incarnation != b.incarnation)
    return a.incarnation > b.incarnation;
  if (rank(a.state) != rank(b.state))
    return rank(a.state) > rank(b.state);
  return a.state == member_state::alive && a.version > b.version;
}

std::uint64_t mix(std::uint64_t x) { // splitmix64's finalizer
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::string ip_text(std::uint32_t ip) {
  return std::to_string(ip >> 24) + "." + std::to_string((ip >> 16) & 0xff) + "." +
         std::to_string((ip >> 8) & 0xff) + "." + std::to_string(ip & 0xff);
}

} // namespace

std::string member::addr() const {
  if (!serves())
    return {};
  return ip_text(rec.ip) + ":" + std::to_string(rec.port);
}

bool possible_member_ip(std::uint32_t ip) {
  auto first = ip >> 24;
  return first != 0 && first < 224; // not 0/8, not multicast, reserved or broadcast
}

std::uint64_t membership::contribution(const member_record& r) {
  return r.state == member_state::alive ? mix(r.node ^ mix(r.incarnation)) : 0;
}

membership::membership(member_record self, membership_params p)
    : self_(self), p_(p), rng_(p.seed) {
  self_.state = member_state::alive;
  self_.ip = 0;
  digest_ = contribution(self_);
  told_load_ = std::uint32_t{self_.links_in} + self_.links_out;
  told_full_ = self_.capacity == 0;
  told_short_ = self_.links_out > self_.links_in;
}

const member* membership::find(node_id id) const {
  auto it = members_.find(id);
  return it == members_.end() ? nullptr : &it->second;
}

std::chrono::milliseconds membership::jitter(std::chrono::milliseconds around) {
  std::uniform_int_distribution<long> d(around.count() / 2, around.count() * 3 / 2);
  return std::chrono::milliseconds(d(rng_));
}

void membership::queue(node_id subject, node_id from, time_point now) {
  for (auto& [s, f] : pending_)
    if (s == subject) {
      if (f != from)
        f = 0; // news from two sides: everyone may lack it
      return;
    }
  pending_.emplace_back(subject, from);
  if (flush_at_ == time_point::max())
    flush_at_ = now + p_.rumour_delay;
}

namespace {
std::uint8_t passed_on(std::uint8_t hops) {
  return hops == 255 ? hops : static_cast<std::uint8_t>(hops + 1);
}
} // namespace

void membership::flush(commands& out) {
  for (auto& [peer, n] : neighbours_) {
    std::vector<member_record> recs;
    for (auto& [subject, from] : pending_) {
      if (from == peer)
        continue;
      const member_record* r = nullptr;
      if (subject == self_.node) {
        r = &self_;
      } else if (auto* m = find(subject)) {
        r = &m->rec;
      }
      if (!r || (!n.loopback && loopback_ip(r->ip)))
        continue;
      recs.push_back(*r);
      recs.back().hops = passed_on(r->hops);
      if (recs.size() == wire::max_member_records) {
        stats_.records_sent += recs.size();
        out.push_back(send_records{peer, std::move(recs), false});
        recs.clear();
      }
    }
    if (!recs.empty()) {
      stats_.records_sent += recs.size();
      out.push_back(send_records{peer, std::move(recs), false});
    }
  }
  pending_.clear();
  flush_at_ = time_point::max();
}

void membership::push_table(node_id to, bool sync, commands& out) {
  auto n = neighbours_.find(to);
  if (n == neighbours_.end())
    return;
  std::vector<member_record> recs{self_};
  auto beyond = passed_on(p_.partial_reach);
  auto emit = [&] {
    stats_.records_sent += recs.size();
    out.push_back(send_records{to, std::move(recs), sync});
    recs.clear();
  };
  for (auto& [id, m] : members_) {
    if (!n->second.loopback && loopback_ip(m.rec.ip))
      continue;
    recs.push_back(m.rec);
    // A table is not news: a table that holds part of the cluster takes
    // from it only changes of members it holds (partial_reach).
    recs.back().hops = std::max(passed_on(m.rec.hops), beyond);
    if (recs.size() == wire::max_member_records)
      emit();
  }
  if (!recs.empty())
    emit();
}

namespace {
// The forgotten filter: 2^17 bits a generation, 4 probes, a new generation
// every 8 192 records (false positives below 0.3 % per generation there).
constexpr std::size_t forget_words = (std::size_t{1} << 17) / 64;
constexpr std::size_t forget_capacity = 8192;
constexpr int forget_probes = 4;

bool filter_has(const std::vector<std::uint64_t>& bits, std::uint64_t fp) {
  if (bits.empty())
    return false;
  for (int i = 0; i < forget_probes; ++i) {
    auto bit = mix(fp + static_cast<std::uint64_t>(i)) % (forget_words * 64);
    if (!(bits[bit / 64] >> (bit % 64) & 1))
      return false;
  }
  return true;
}
} // namespace

std::uint64_t membership::fingerprint(const member_record& r) {
  // Not the version: a load change of a member not held is not news here.
  return mix(r.node ^ mix(r.incarnation ^
                          (std::uint64_t{static_cast<std::uint8_t>(r.state)} << 56)));
}

void membership::forget(const member_record& r) {
  if (forgot_now_.empty() || forgot_count_ >= forget_capacity) {
    forgot_before_ = std::move(forgot_now_);
    forgot_now_.assign(forget_words, 0);
    forgot_count_ = 0;
  }
  auto fp = fingerprint(r);
  for (int i = 0; i < forget_probes; ++i) {
    auto bit = mix(fp + static_cast<std::uint64_t>(i)) % (forget_words * 64);
    forgot_now_[bit / 64] |= std::uint64_t{1} << (bit % 64);
  }
  ++forgot_count_;
}

bool membership::forgotten(const member_record& r) const {
  auto fp = fingerprint(r);
  return filter_has(forgot_now_, fp) || filter_has(forgot_before_, fp);
}

bool membership::partial() const {
  return !forgot_now_.empty() && members_.size() + p_.max_members / 16 >= p_.max_members;
}

bool membership::make_room() {
  if (members_.size() < p_.max_members)
    return true;
  // Tombstones first, then the alive members heard of longest ago; never a
  // neighbour, so records cannot push live links out. Taken from queues in
  // the order news came (stale entries skipped): a scan of the table per
  // record made a cluster larger than the table cost O(table) per record
  // it heard (40 % of the simulator's CPU at 10 000 nodes).
  auto evict_from = [&](std::deque<std::pair<node_id, time_point>>& q, bool alive) {
    for (auto turns = q.size(); turns > 0 && !q.empty(); --turns) {
      auto [id, at] = q.front();
      q.pop_front();
      auto it = members_.find(id);
      if (it == members_.end() || it->second.changed != at || it->second.alive() != alive)
        continue; // changed since: a later entry stands for it
      if (it->second.linked) {
        q.emplace_back(id, at); // a neighbour stays; looked at again later
        continue;
      }
      digest_ ^= contribution(it->second.rec);
      if (alive)
        --alive_count_;
      forget(it->second.rec);
      duties_.erase(id);
      members_.erase(it);
      stats_.evicted += 1;
      return true;
    }
    return false;
  };
  return evict_from(by_age_gone_, false) || evict_from(by_age_alive_, true);
}

void membership::note_age(const member& m) {
  (m.alive() ? by_age_alive_ : by_age_gone_).emplace_back(m.rec.node, m.changed);
  if (by_age_alive_.size() + by_age_gone_.size() <= 2 * members_.size() + 64)
    return;
  // Mostly stale entries: rebuilt from the table, oldest first.
  std::vector<std::pair<time_point, node_id>> all;
  all.reserve(members_.size());
  for (auto& [id, x] : members_)
    all.emplace_back(x.changed, id);
  std::sort(all.begin(), all.end());
  by_age_alive_.clear();
  by_age_gone_.clear();
  for (auto& [at, id] : all)
    (members_.at(id).alive() ? by_age_alive_ : by_age_gone_).emplace_back(id, at);
}

void membership::set_record(member& m, const member_record& rec, time_point now,
                            commands& out) {
  bool was_alive = m.alive() && m.changed != time_point{};
  digest_ ^= contribution(m.rec) ^ contribution(rec);
  m.rec = rec;
  m.changed = now;
  note_age(m);
  if (m.alive()) {
    m.expires = {};
    duties_.erase(rec.node);
    if (!was_alive) {
      ++alive_count_;
      out.push_back(changed{rec.node, rec.state, m.addr()});
    }
  } else {
    m.expires = now + (rec.state == member_state::unreachable ? p_.reconnect_for
                                                              : p_.tombstone_ttl);
    next_expiry_ = std::min(next_expiry_, m.expires);
    if (rec.state != member_state::unreachable)
      duties_.erase(rec.node);
    if (was_alive) {
      --alive_count_;
      out.push_back(changed{rec.node, rec.state, m.addr()});
    }
  }
}

void membership::about_self(const member_record& rec) {
  // Said to be gone in this incarnation or a later one, or a later
  // incarnation of this node is said to exist (a restart with a clock that
  // went back): either way this node's records would lose.
  bool gone = rec.state != member_state::alive && rec.incarnation >= self_.incarnation;
  if (!gone && rec.incarnation <= self_.incarnation)
    return;
  // Said to be gone while running: come back with a higher incarnation.
  digest_ ^= contribution(self_);
  self_.incarnation = rec.incarnation + 1;
  self_.version = 0;
  digest_ ^= contribution(self_);
  stats_.refutations += 1;
}

membership::taken membership::take(member_record rec, node_id from, time_point now,
                                   commands& out) {
  stats_.records_received += 1;
  if (rec.node == 0) {
    stats_.rejected_record += 1;
    return taken::rejected;
  }
  if (rec.node == self_.node) {
    auto inc = self_.incarnation;
    about_self(rec);
    if (self_.incarnation != inc)
      queue(self_.node, 0, now);
    return taken::stale;
  }
  auto nb = neighbours_.find(from);
  bool from_owner = rec.node == from && nb != neighbours_.end();
  if (from_owner) {
    // Its own record: its address is where its link comes from.
    rec.ip = nb->second.ip;
  } else if (rec.ip != 0 || (rec.state == member_state::alive && rec.port != 0)) {
    if (!possible_member_ip(rec.ip)) {
      stats_.rejected_address += 1;
      return taken::rejected;
    }
    if (loopback_ip(rec.ip) && (nb == neighbours_.end() || !nb->second.loopback)) {
      stats_.rejected_loopback += 1;
      return taken::rejected;
    }
  }
  auto it = members_.find(rec.node);
  // Near full (within a sixteenth of the bound: a tombstone that expired
  // leaves room, and the records just evicted would come straight back).
  if (it == members_.end() && members_.size() + p_.max_members / 16 >= p_.max_members &&
      forgotten(rec)) {
    stats_.forgotten_heard += 1; // evicted here: not news again (see the header)
    return taken::stale;
  }
  if (it == members_.end() && rec.hops > p_.partial_reach && partial()) {
    stats_.beyond_reach += 1; // a join far away: its own part of the cluster
    return taken::stale;
  }
  if (it == members_.end()) {
    // A tombstone of a member never known is kept only if there is room.
    if (rec.state != member_state::alive && members_.size() >= p_.max_members)
      return taken::stale;
    if (!make_room())
      return taken::stale;
    it = members_.emplace(rec.node, member{}).first;
    it->second.rec.node = rec.node;
    it->second.rec.state = member_state::left; // no contribution until set
    set_record(it->second, rec, now, out);
    stats_.news += 1;
    queue(rec.node, from, now);
    return taken::news;
  }
  auto& m = it->second;
  if (!newer(rec, m.rec)) {
    if (from_owner && rec.incarnation == m.rec.incarnation && rec.state == m.rec.state &&
        m.alive()) {
      // Its own word on its address and load, nothing new to tell others.
      m.rec.ip = rec.ip;
      m.rec.port = rec.port;
      m.rec.probe_port = rec.probe_port;
      m.rec.links_in = rec.links_in;
      m.rec.links_out = rec.links_out;
      m.rec.capacity = rec.capacity;
    }
    return taken::stale;
  }
  if (rec.incarnation == m.rec.incarnation && rec.state == m.rec.state &&
      rec.hops > p_.partial_reach && partial()) {
    // Only its load changed, far away: it matters to the nodes near it,
    // which may link to it (partial_reach).
    stats_.beyond_reach += 1;
    return taken::stale;
  }
  if (rec.state != member_state::alive && m.linked && !from_owner) {
    // A live neighbour said to be gone: not believed here; the neighbour
    // hears the claim and refutes it if it still runs.
    stats_.records_sent += 1;
    out.push_back(send_records{rec.node, {rec}, false});
    return taken::stale;
  }
  if (m.alive() && rec.state == member_state::alive && !from_owner &&
      rec.incarnation == m.rec.incarnation &&
      (rec.ip != m.rec.ip || rec.port != m.rec.port ||
       rec.probe_port != m.rec.probe_port)) {
    // Only the member itself (or its next incarnation) moves its address.
    stats_.rejected_record += 1;
    rec.ip = m.rec.ip;
    rec.port = m.rec.port;
    rec.probe_port = m.rec.probe_port;
  }
  set_record(m, rec, now, out);
  stats_.news += 1;
  queue(rec.node, from, now);
  return taken::news;
}

void membership::declare(node_id id, member_state state, time_point now, commands& out) {
  auto it = members_.find(id);
  if (it == members_.end() || !it->second.alive())
    return;
  auto rec = it->second.rec;
  rec.state = state;
  rec.hops = 0; // this node's news
  set_record(it->second, rec, now, out);
  if (state == member_state::dead)
    stats_.declared_dead += 1;
  else if (state == member_state::unreachable)
    stats_.declared_unreachable += 1;
  queue(id, 0, now);
}

void membership::add_duty(const member& m, time_point now) {
  if (!m.serves() || duties_.size() >= p_.max_reconnects)
    return;
  duties_[m.rec.node] =
      duty{m.rec.ip, m.rec.port, now + p_.reconnect_for, now + p_.reconnect_interval};
}

membership::commands membership::link_up(const member_record& hello, bool loopback,
                                         bool we_dialed, time_point now) {
  commands out;
  neighbours_[hello.node] = neighbour{hello.ip, loopback};
  take(hello, hello.node, now, out);
  auto it = members_.find(hello.node);
  if (it != members_.end()) {
    it->second.linked = true;
    duties_.erase(hello.node);
    // Declared gone while we link with it: tell it, so it refutes at once.
    if (!it->second.alive() && it->second.rec.incarnation >= hello.incarnation) {
      stats_.records_sent += 1;
      out.push_back(send_records{hello.node, {it->second.rec}, false});
    }
  }
  if (we_dialed) {
    stats_.syncs_sent += 1;
    out.push_back(send_sync{
        hello.node,
        {digest_, static_cast<std::uint32_t>(alive_count_ + 1), wire::sync_answer}});
  }
  if (next_sync_ == time_point::max())
    next_sync_ = now + jitter(p_.sync_interval);
  return out;
}

membership::commands membership::link_down(node_id peer, link_end why, time_point now) {
  commands out;
  neighbours_.erase(peer);
  if (neighbours_.empty())
    next_sync_ = time_point::max();
  auto it = members_.find(peer);
  if (it == members_.end())
    return out;
  auto& m = it->second;
  m.linked = false;
  if (!m.alive())
    return out;
  switch (why) {
  case link_end::reset:
    // A node that does not serve cannot be checked (and links only once).
    if (m.serves())
      out.push_back(confirm{peer, m.rec.ip, m.rec.port});
    else
      declare(peer, member_state::dead, now, out);
    break;
  case link_end::timeout_unreachable:
    add_duty(m, now);
    declare(peer, member_state::unreachable, now, out);
    break;
  case link_end::goodbye:
  case link_end::timeout_alive:
  case link_end::other:
    break;
  }
  return out;
}

membership::commands membership::received(node_id from,
                                          const std::vector<member_record>& records, bool,
                                          time_point now) {
  commands out;
  for (auto& r : records)
    take(r, from, now, out);
  return out;
}

membership::commands membership::sync_received(node_id from, const wire::sync& s,
                                               time_point now) {
  (void)now;
  commands out;
  stats_.syncs_received += 1;
  if (s.digest == digest_ || !neighbours_.count(from))
    return out;
  // Both tables full with a cluster larger than them (this one has evicted):
  // two parts of a cluster never have the same digest, and pushing one's
  // part at every sync cost 68 records per node per second in an idle
  // 3 000-node simulated cluster with 1 024-member tables, to teach the
  // other members it had mostly evicted already. A newcomer (a small
  // table) still gets this one; joins and deaths travel as news.
  auto near_full = p_.max_members - p_.max_members / 16;
  if (!forgot_now_.empty() && members_.size() >= near_full && s.count >= near_full) {
    stats_.sync_skipped_partial += 1;
    return out;
  }
  stats_.sync_pushes += 1;
  push_table(from, true, out);
  if (s.flags & wire::sync_answer) {
    stats_.syncs_sent += 1;
    out.push_back(
        send_sync{from, {digest_, static_cast<std::uint32_t>(alive_count_ + 1), 0}});
  }
  return out;
}

membership::commands membership::confirmed(node_id id, bool refused, bool timed_out,
                                           time_point now) {
  commands out;
  auto it = members_.find(id);
  if (it == members_.end() || !it->second.alive() || it->second.linked)
    return out;
  if (refused) {
    declare(id, member_state::dead, now, out);
  } else if (timed_out) {
    add_duty(it->second, now);
    declare(id, member_state::unreachable, now, out);
  }
  return out;
}

membership::commands membership::dial_refused(node_id expected, std::uint32_t ip,
                                              std::uint16_t port, time_point now) {
  commands out;
  auto it = members_.find(expected);
  if (it != members_.end() && it->second.alive() && !it->second.linked &&
      it->second.rec.ip == ip && it->second.rec.port == port)
    declare(expected, member_state::dead, now, out);
  return out;
}

membership::commands membership::set_load(std::uint16_t in, std::uint16_t out_links,
                                          std::uint16_t capacity, time_point now) {
  commands out;
  self_.links_in = in;
  self_.links_out = out_links;
  self_.capacity = capacity;
  std::uint32_t load = std::uint32_t{in} + out_links;
  bool full = capacity == 0, shortish = out_links > in;
  auto moved = load > told_load_ ? load - told_load_ : told_load_ - load;
  if (full != told_full_ || shortish != told_short_ || moved >= 2) {
    told_full_ = full;
    told_short_ = shortish;
    told_load_ = load;
    self_.version += 1;
    queue(self_.node, 0, now);
  }
  return out;
}

void membership::peer_load(node_id peer, std::uint16_t in, std::uint16_t out,
                           std::uint16_t capacity) {
  auto it = members_.find(peer);
  if (it == members_.end() || !it->second.linked)
    return;
  it->second.rec.links_in = in;
  it->second.rec.links_out = out;
  it->second.rec.capacity = capacity;
}

membership::commands membership::leave(time_point now) {
  (void)now;
  commands out;
  digest_ ^= contribution(self_);
  self_.state = member_state::left;
  for (auto& [peer, n] : neighbours_) {
    stats_.records_sent += 1;
    out.push_back(send_records{peer, {self_}, false});
  }
  pending_.clear();
  flush_at_ = time_point::max();
  return out;
}

void membership::expire(time_point now) {
  if (now < next_expiry_)
    return;
  next_expiry_ = time_point::max();
  for (auto it = members_.begin(); it != members_.end();) {
    auto& m = it->second;
    if (!m.alive() && !m.linked && m.expires <= now) {
      duties_.erase(it->first);
      it = members_.erase(it);
      continue;
    }
    if (!m.alive())
      next_expiry_ = std::min(next_expiry_, m.expires);
    ++it;
  }
}

membership::commands membership::tick(time_point now) {
  commands out;
  if (now >= flush_at_)
    flush(out);
  if (now >= next_sync_ && !neighbours_.empty()) {
    std::uniform_int_distribution<std::size_t> pick(0, neighbours_.size() - 1);
    auto it = std::next(neighbours_.begin(), static_cast<long>(pick(rng_)));
    stats_.syncs_sent += 1;
    out.push_back(send_sync{
        it->first,
        {digest_, static_cast<std::uint32_t>(alive_count_ + 1), wire::sync_answer}});
    next_sync_ = now + jitter(p_.sync_interval);
  }
  for (auto it = duties_.begin(); it != duties_.end();) {
    if (now >= it->second.until) {
      it = duties_.erase(it);
      continue;
    }
    if (now >= it->second.next) {
      stats_.reconnects += 1;
      out.push_back(reconnect{it->first, it->second.ip, it->second.port});
      it->second.next = now + p_.reconnect_interval;
    }
    ++it;
  }
  expire(now);
  return out;
}

membership::time_point membership::next_wakeup() const {
  auto t = std::min({flush_at_, next_sync_, next_expiry_});
  for (auto& [_, d] : duties_)
    t = std::min(t, d.next);
  return t;
}

} // namespace lanmesh
