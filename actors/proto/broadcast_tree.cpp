#include "actors/proto/broadcast_tree.hpp"

#include <algorithm>

namespace lanmesh {

namespace {

using ft = wire::frame_type;

bool in_range(const wire::stream_range& r, std::uint64_t seq) {
  return seq >= r.first && seq <= r.last;
}

} // namespace

broadcast_tree::broadcast_tree(node_id self, std::uint64_t epoch, tree_params p)
    : self_(self), epoch_(epoch), p_(p) {
  auto& own = streams_[{self, epoch}];
  own.key = {self, epoch};
  own.started = true;
  own.next = 1;
  own.base = 1;
}

broadcast_tree::stream* broadcast_tree::find(const stream_key& k) {
  if (last_ && last_->key == k)
    return last_;
  auto it = streams_.find(k);
  if (it == streams_.end())
    return nullptr;
  last_ = &it->second;
  return last_;
}

broadcast_tree::stream& broadcast_tree::get(const stream_key& k, time_point now) {
  if (last_ && last_->key == k) {
    last_->active = now;
    return *last_;
  }
  auto it = streams_.find(k);
  if (it == streams_.end()) {
    if (streams_.size() >= p_.max_streams) {
      // Room: the stream idle longest that waits for nothing.
      auto victim = streams_.end();
      for (auto i = streams_.begin(); i != streams_.end(); ++i)
        if (i->second.key.origin != self_ && i->second.waiting == 0 &&
            i->second.wants.empty() &&
            (victim == streams_.end() || i->second.active < victim->second.active))
          victim = i;
      if (victim != streams_.end()) {
        auto& v = victim->second;
        for (auto& h : v.msgs)
          if (h.chunk)
            history_bytes_ -= h.size;
        if (v.busy_listed)
          busy_.erase(std::find(busy_.begin(), busy_.end(), &v));
        if (v.started) {
          // Heard of again, it goes on from here rather than start over.
          if (dropped_.size() >= p_.max_streams) {
            dropped_.erase(dropped_order_.front());
            dropped_order_.pop_front();
          }
          if (dropped_.emplace(v.key, v.next).second)
            dropped_order_.push_back(v.key);
        }
        if (last_ == &v)
          last_ = nullptr;
        streams_.erase(victim);
      }
    }
    it = streams_.emplace(k, stream{}).first;
    it->second.key = k;
    if (auto d = dropped_.find(k); d != dropped_.end()) {
      it->second.started = true;
      it->second.next = it->second.base = d->second;
      dropped_order_.erase(std::find(dropped_order_.begin(), dropped_order_.end(), k));
      dropped_.erase(d);
    }
    stats_.streams = streams_.size();
  }
  it->second.active = now;
  last_ = &it->second;
  return it->second;
}

// A tree is not a property of its root: the eager links of a settled stream
// span the overlay, from any origin. A stream's first message takes them (new
// links are eager in every stream anyway) instead of going out on every link,
// flooding and pruning — the prunes of many new streams at once raced into
// IHAVE/GRAFT repairs. Taken at the first message, not when the stream is
// created: STREAMS makes streams long before their first message.
void broadcast_tree::adopt_template(stream& s) {
  if (!s.fresh)
    return;
  s.fresh = false;
  if (!p_.tree || !p_.start_on_template || !template_ || *template_ == s.key)
    return;
  if (auto* t = find(*template_))
    s.lazy = t->lazy;
  else
    template_.reset(); // dropped: the next stream with two messages
}

bool broadcast_tree::start(stream& s, std::uint64_t seq_seen, std::uint64_t peer_has,
                           time_point now) {
  if (s.started)
    return false;
  s.started = true;
  // A node that joined a while ago was there when this stream's messages
  // were sent (its join's STREAMS did not list it): it wants all of them.
  bool was_there = joined_at_ != time_point::max() && now - joined_at_ >= p_.join_grace;
  if (s.key.epoch > epoch_ || was_there)
    s.next = 1; // everything its origin sent (history permitting)
  else if (peer_has > 0)
    s.next = peer_has + 1; // a newcomer: what is sent from now on
  else
    s.next = std::max<std::uint64_t>(seq_seen, 1);
  s.base = s.next;
  return true;
}

void broadcast_tree::mark_busy(stream& s) {
  if (!s.busy_listed && (s.waiting > 0 || !s.wants.empty())) {
    s.busy_listed = true;
    busy_.push_back(&s);
  }
}

template <class F> void broadcast_tree::for_each_busy(F&& f) {
  // By index: f may list more streams (they are visited too).
  for (std::size_t i = 0; i < busy_.size(); ++i)
    f(*busy_[i]);
  std::size_t kept = 0;
  for (auto* s : busy_) {
    if (s->waiting > 0 || !s->wants.empty())
      busy_[kept++] = s;
    else
      s->busy_listed = false;
  }
  busy_.resize(kept);
}

bool broadcast_tree::has(const stream& s, std::uint64_t seq) const {
  if (seq < s.base || seq - s.base >= s.msgs.size())
    return false;
  return s.msgs[seq - s.base].chunk != nullptr;
}

void broadcast_tree::hold(stream& s, std::uint64_t seq, frames_ptr chunk,
                          std::uint32_t offset, std::uint32_t size, time_point now) {
  if (s.msgs.empty())
    s.base = seq;
  while (seq < s.base) {
    s.msgs.emplace_front();
    --s.base;
  }
  auto idx = seq - s.base;
  if (idx >= s.msgs.size())
    s.msgs.resize(idx + 1);
  auto& h = s.msgs[idx];
  h.chunk = std::move(chunk);
  h.offset = offset;
  h.size = size;
  h.at = now;
  order_.emplace_back(s.key, seq);
  history_bytes_ += size;
  if (seq >= s.next) {
    ++s.waiting;
    mark_busy(s);
  }
}

void broadcast_tree::deliver_ready(stream& s, std::vector<ready_run>& runs) {
  auto first = s.next;
  while (s.next >= s.base && s.next - s.base < s.msgs.size() &&
         s.msgs[s.next - s.base].chunk) {
    --s.waiting;
    ++s.next;
  }
  if (s.next > first && s.key.origin != self_) // own messages: passed, delivered nowhere
    runs.push_back({&s, first, s.next - 1});
  if (s.next > 2 && (!template_ || s.key < *template_))
    template_ = s.key;
}

std::size_t broadcast_tree::run_busy(time_point now, outbox& out) {
  // Wants may be due at once (STREAMS, a graft's NOTHAVE), and what is
  // given up frees waiting messages, as new ones may.
  for_each_busy([&](stream& s) {
    if (!s.wants.empty())
      run_wants(s, now, out);
  });
  runs_.clear();
  for_each_busy([&](stream& s) {
    if (s.waiting > 0)
      deliver_ready(s, runs_);
  });
  std::size_t count = 0;
  for (auto& r : runs_)
    count += r.last - r.first + 1;
  return count;
}

void broadcast_tree::hand_out(std::size_t count, const frames_ptr& in_place,
                              outbox& out) {
  if (count == 0)
    return;
  stats_.delivered += count;
  if (in_place) {
    out.deliveries.push_back({in_place, count});
    return;
  }
  std::size_t bytes = 0;
  for (auto& r : runs_)
    for (auto seq = r.first; seq <= r.last; ++seq)
      bytes += r.s->msgs[seq - r.s->base].size;
  auto frames = std::make_shared<std::vector<std::uint8_t>>();
  frames->reserve(bytes);
  for (auto& r : runs_)
    for (auto seq = r.first; seq <= r.last; ++seq) {
      auto& h = r.s->msgs[seq - r.s->base];
      frames->insert(frames->end(), h.chunk->data() + h.offset,
                     h.chunk->data() + h.offset + h.size);
    }
  out.deliveries.push_back({std::move(frames), count});
}

void broadcast_tree::received(stream& s, std::uint64_t seq, time_point now) {
  for (std::size_t i = 0; i < s.wants.size();) {
    auto& w = s.wants[i];
    if (seq < w.first || seq > w.last) {
      ++i;
      continue;
    }
    if (w.graft && w.tried == 0) {
      // The eager copy came after its IHAVE: how late it was sets the wait.
      auto late = now - w.created;
      lag_ = lag_ == clock::duration::zero() ? late : (lag_ * 7 + late) / 8;
    }
    if (w.first == w.last) {
      s.wants.erase(s.wants.begin() + static_cast<long>(i));
      continue;
    }
    if (seq == w.first) {
      ++w.first;
    } else if (seq == w.last) {
      --w.last;
    } else {
      want right = w;
      right.first = seq + 1;
      w.last = seq - 1;
      s.wants.insert(s.wants.begin() + static_cast<long>(i) + 1, right);
      ++i;
    }
    ++i;
  }
}

void broadcast_tree::add_want(stream& s, std::uint64_t first, std::uint64_t last,
                              node_id from, bool graft, time_point due, time_point now) {
  first = std::max(first, s.next);
  while (first <= last && has(s, first))
    ++first;
  while (last >= first && has(s, last) && last > 0)
    --last;
  if (first > last)
    return;
  if (last - s.next > p_.max_waiting)
    last = s.next + p_.max_waiting;
  // Parts already wanted: only another place to ask.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> todo{{first, last}};
  for (auto& w : s.wants) {
    std::vector<std::pair<std::uint64_t, std::uint64_t>> rest;
    for (auto [a, b] : todo) {
      if (b < w.first || a > w.last) {
        rest.emplace_back(a, b);
        continue;
      }
      if (std::find(w.from.begin(), w.from.end(), from) == w.from.end())
        w.from.push_back(from);
      if (a < w.first)
        rest.emplace_back(a, w.first - 1);
      if (b > w.last)
        rest.emplace_back(w.last + 1, b);
    }
    todo = std::move(rest);
  }
  for (auto [a, b] : todo) {
    want w;
    w.first = a;
    w.last = b;
    w.from = {from};
    w.graft = graft;
    w.due = due;
    w.created = now;
    s.wants.push_back(std::move(w));
  }
  mark_busy(s);
}

broadcast_tree::link* broadcast_tree::link_of(node_id peer) {
  for (auto& l : links_)
    if (l.peer == peer)
      return &l;
  return nullptr;
}

bool broadcast_tree::lazy(const stream& s, node_id peer) const {
  return std::find(s.lazy.begin(), s.lazy.end(), peer) != s.lazy.end();
}

void broadcast_tree::set_lazy(stream& s, node_id peer, bool on) {
  auto it = std::find(s.lazy.begin(), s.lazy.end(), peer);
  if (on && it == s.lazy.end())
    s.lazy.push_back(peer);
  else if (!on && it != s.lazy.end())
    s.lazy.erase(it);
}

bool broadcast_tree::asked_of(link& l, const stream_key& k, std::uint64_t seq,
                              time_point now) {
  bool found = false;
  for (auto it = l.asked.begin(); it != l.asked.end();) {
    if (it->second < now) {
      it = l.asked.erase(it);
      continue;
    }
    if (it->first.origin == k.origin && it->first.epoch == k.epoch &&
        in_range(it->first, seq))
      found = true;
    ++it;
  }
  return found;
}

broadcast_tree::clock::duration broadcast_tree::graft_wait(const link& l) const {
  auto w = std::max<clock::duration>(p_.graft_min, 4 * l.rtt) + 2 * lag_;
  return std::min<clock::duration>(w, p_.graft_max);
}

void broadcast_tree::queue_ihave(link& l, const stream_key& k, std::uint64_t seq,
                                 time_point now) {
  if (!l.ihave.empty()) {
    auto& last = l.ihave.back();
    if (last.origin == k.origin && last.epoch == k.epoch && last.last + 1 == seq) {
      last.last = seq;
      return;
    }
  }
  l.ihave.push_back({k.origin, k.epoch, seq, seq});
  if (l.ihave_due == time_point::max())
    l.ihave_due = now + p_.ihave_delay;
  if (l.ihave.size() >= wire::max_tree_entries)
    l.ihave_due = now; // a full frame goes at once
}

void broadcast_tree::flush_links(time_point now, outbox& out, bool all) {
  for (auto& l : links_) {
    if (l.ihave_due > now && !all)
      continue;
    if (l.ihave.empty() && l.prunes.empty()) {
      l.ihave_due = time_point::max();
      continue;
    }
    auto buf = std::make_shared<std::vector<std::uint8_t>>();
    for (std::size_t i = 0; i < l.prunes.size(); i += wire::max_tree_entries)
      wire::append_tree_frame(*buf, ft::prune, l.prunes.data() + i,
                              std::min(wire::max_tree_entries, l.prunes.size() - i));
    for (std::size_t i = 0; i < l.ihave.size(); i += wire::max_tree_entries) {
      auto n = std::min(wire::max_tree_entries, l.ihave.size() - i);
      wire::append_tree_frame(*buf, ft::ihave, l.ihave.data() + i, n);
    }
    for (auto& r : l.ihave)
      stats_.ihave_out += r.last - r.first + 1;
    stats_.prunes_out += l.prunes.size();
    l.ihave.clear();
    l.prunes.clear();
    l.ihave_due = time_point::max();
    out.sends.push_back({l.peer, std::move(buf)});
  }
}

void broadcast_tree::control(node_id to, ft t, const wire::stream_range& r, outbox& out) {
  auto buf = std::make_shared<std::vector<std::uint8_t>>();
  wire::append_tree_frame(*buf, t, &r, 1);
  out.sends.push_back({to, std::move(buf)});
}

void broadcast_tree::serve(node_id to, stream& s, std::uint64_t first, std::uint64_t last,
                           outbox& out) {
  auto buf = std::make_shared<std::vector<std::uint8_t>>();
  std::uint64_t top = s.msgs.empty() ? 0 : s.base + s.msgs.size() - 1;
  std::uint64_t gone_first = 0, gone_last = 0;
  bool gone = false;
  auto note_gone = [&](std::uint64_t seq) {
    if (gone && gone_last + 1 == seq) {
      gone_last = seq;
      return;
    }
    if (gone)
      control(to, ft::nothave, {s.key.origin, s.key.epoch, gone_first, gone_last}, out);
    gone = true;
    gone_first = gone_last = seq;
  };
  if (first < 1)
    first = 1;
  // Gone is only what this node has passed (delivered, then expired, or
  // given up itself). A hole at or after s.next is a message still on its
  // way here too: say nothing, and make the link eager, so that it goes to
  // the asker as soon as it arrives. Answering NOTHAVE for such holes made
  // askers give up messages their neighbours were about to have
  // (bench/FINDINGS.md, the tree under load).
  auto end = std::min(last, std::max(top, s.next > 0 ? s.next - 1 : 0));
  bool pending = last > end;
  for (auto seq = first; seq <= end; ++seq) {
    if (has(s, seq)) {
      auto& h = s.msgs[seq - s.base];
      buf->insert(buf->end(), h.chunk->data() + h.offset,
                  h.chunk->data() + h.offset + h.size);
      ++stats_.forwarded;
    } else if (seq < s.next) {
      note_gone(seq);
    } else {
      pending = true;
    }
  }
  if (pending && p_.tree)
    set_lazy(s, to, false);
  if (gone)
    control(to, ft::nothave, {s.key.origin, s.key.epoch, gone_first, gone_last}, out);
  if (!buf->empty())
    out.sends.push_back({to, std::move(buf)});
}

void broadcast_tree::give_up(stream& s, want& w, outbox& out) {
  // Nobody linked has these any more: say so, and go on past them.
  std::uint64_t a = 0;
  bool open = false;
  for (auto seq = std::max(w.first, s.next); seq <= w.last + 1; ++seq) {
    bool missing = seq <= w.last && !has(s, seq);
    if (missing && !open) {
      a = seq;
      open = true;
    } else if (!missing && open) {
      out.gaps.push_back({{s.key.origin, s.key.epoch, a, seq - 1}});
      stats_.gaps += 1;
      stats_.gap_messages += seq - a;
      open = false;
    }
  }
  // Delivery passes the lost ones: everything below is delivered or lost,
  // so the stream moves on to the first held message after the range.
  if (w.first <= s.next) {
    auto seq = s.next;
    while (seq <= w.last && !has(s, seq))
      ++seq;
    if (seq > s.next) {
      // Drop the empty slots the stream no longer waits for.
      s.next = seq;
      while (!s.msgs.empty() && s.base < s.next && !s.msgs.front().chunk) {
        s.msgs.pop_front();
        ++s.base;
      }
      if (s.msgs.empty())
        s.base = s.next;
    }
  }
}

void broadcast_tree::run_wants(stream& s, time_point now, outbox& out) {
  for (std::size_t i = 0; i < s.wants.size();) {
    auto& w = s.wants[i];
    if (w.last < s.next) {
      s.wants.erase(s.wants.begin() + static_cast<long>(i));
      continue;
    }
    if (w.due > now) {
      ++i;
      continue;
    }
    // Drop candidates that are no longer linked.
    while (w.tried < w.from.size() && !link_of(w.from[w.tried]))
      ++w.tried;
    // An announced message is late on the tree, but the path is alive: the
    // parent keeps bringing the stream's other messages, so the copy is
    // queued, not lost. Grafting now would only bring it twice (and the
    // prune after it): under load that churn made the trees change all the
    // time. Wait while the parent is busy, up to graft_max — only while
    // nothing after the wanted messages has come (then they are a hole,
    // fetched at once) and the parent is still eager for the stream.
    std::uint64_t top = s.msgs.empty() ? s.next - 1 : s.base + s.msgs.size() - 1;
    if (p_.tree && w.graft && w.tried == 0 && s.parent != 0 && top < w.first &&
        !lazy(s, s.parent) && now - w.created < p_.graft_max) {
      if (auto* pl = link_of(s.parent)) {
        auto alive_until = s.parent_rx + graft_wait(*pl);
        if (alive_until > now) {
          w.due = std::min(alive_until, w.created + p_.graft_max);
          ++i;
          continue;
        }
      }
    }
    if (w.tried < w.from.size()) {
      auto peer = w.from[w.tried++];
      wire::stream_range r{s.key.origin, s.key.epoch, std::max(w.first, s.next), w.last};
      auto* l = link_of(peer);
      l->asked.emplace_back(r, now + 2 * p_.fetch_timeout);
      if (p_.tree && w.graft) {
        set_lazy(s, peer, false);
        control(peer, ft::graft, r, out);
        ++stats_.grafts_out;
      } else {
        control(peer, ft::iwant, r, out);
        ++stats_.iwants_out;
      }
      w.due = now + p_.fetch_timeout;
      ++i;
      continue;
    }
    if (links_.empty()) {
      // Nobody to ask now: wait for a link (its STREAMS brings candidates).
      w.due = now + p_.fetch_timeout;
      ++i;
      continue;
    }
    if (!w.broadened) {
      // The links that announced it did not send it: ask every other link.
      w.broadened = true;
      for (auto& l : links_)
        if (std::find(w.from.begin(), w.from.end(), l.peer) == w.from.end())
          w.from.push_back(l.peer);
      continue; // asks the next one now
    }
    // Every link was asked. Those that did not answer NOTHAVE lack it too
    // for now (it is on its way to them, and they push it on arrival):
    // another round, unless every one said it is gone, or the wait has
    // lasted give_up_after (its origin may have died with it).
    if (w.gone < w.from.size() && now - w.created < p_.give_up_after) {
      w.tried = 0;
      w.gone = 0;
      w.due = now + p_.fetch_timeout;
      ++i;
      continue;
    }
    auto done = w;
    s.wants.erase(s.wants.begin() + static_cast<long>(i));
    give_up(s, done, out);
  }
}

void broadcast_tree::send_streams(node_id to, outbox& out) {
  std::vector<wire::stream_range> all;
  for (auto& [k, s] : streams_)
    if (s.started && s.next > 1) // something delivered (see the header)
      all.push_back({k.origin, k.epoch, 0, s.next - 1});
  if (all.empty())
    return;
  auto buf = std::make_shared<std::vector<std::uint8_t>>();
  for (std::size_t i = 0; i < all.size(); i += wire::max_tree_entries)
    wire::append_tree_frame(*buf, ft::streams, all.data() + i,
                            std::min(wire::max_tree_entries, all.size() - i));
  out.sends.push_back({to, std::move(buf)});
}

void broadcast_tree::link_up(node_id peer, time_point now, outbox& out) {
  if (joined_at_ == time_point::max())
    joined_at_ = now;
  if (!link_of(peer)) {
    link l;
    l.peer = peer;
    links_.push_back(std::move(l));
  }
  // A new link starts eager in every tree.
  for (auto& [_, s] : streams_)
    set_lazy(s, peer, false);
  send_streams(peer, out);
  recompute_wakeup();
}

void broadcast_tree::link_down(node_id peer, time_point now, outbox& out) {
  links_.erase(std::remove_if(links_.begin(), links_.end(),
                              [&](const link& l) { return l.peer == peer; }),
               links_.end());
  for (auto& [_, s] : streams_) {
    set_lazy(s, peer, false);
    for (auto& w : s.wants) {
      auto it = std::find(w.from.begin(), w.from.end(), peer);
      if (it == w.from.end())
        continue;
      auto idx = static_cast<std::size_t>(it - w.from.begin());
      if (idx + 1 == w.tried)
        w.due = now; // it was being asked: ask the next one now
      if (idx < w.tried)
        --w.tried;
      w.from.erase(it);
    }
    if (p_.tree && s.parent == peer) {
      s.parent = 0;
      // The tree lost this node's path to the origin. If every link left is
      // lazy, graft one at once rather than wait for an IHAVE's timer.
      bool any_eager = std::any_of(links_.begin(), links_.end(),
                                   [&](const link& l) { return !lazy(s, l.peer); });
      if (!any_eager && !links_.empty()) {
        auto to = links_.front().peer;
        set_lazy(s, to, false);
        control(to, ft::graft, {s.key.origin, s.key.epoch, s.next, s.next - 1}, out);
        ++stats_.grafts_out;
      }
    }
  }
  recompute_wakeup();
}

void broadcast_tree::rtt(node_id peer, clock::duration rtt) {
  if (auto* l = link_of(peer))
    l->rtt = rtt;
}

void broadcast_tree::inbound(node_id from, const std::uint8_t* data, std::size_t size,
                             time_point now, outbox& out) {
  struct fresh_msg {
    stream* s;
    std::uint64_t seq;
    std::uint32_t offset, size;
    std::uint64_t hole_first; // first of the messages this one shows missing
  };
  // New messages are copied (hop count raised) into one buffer, held from
  // there (by offset, so the buffer may still grow) and forwarded from it.
  auto fresh = std::make_shared<std::vector<std::uint8_t>>();
  frames_ptr chunk = fresh;
  std::vector<fresh_msg> news;
  bool news_out_of_order = false;
  ++read_gen_;
  auto* from_link = link_of(from);
  wire::for_each_frame(
      data, size, [&](std::uint8_t type, const std::uint8_t* f, std::size_t n) {
        auto t = static_cast<ft>(type);
        if (t == ft::broadcast) {
          if (n < wire::header_size + wire::broadcast_overhead)
            return;
          auto v = wire::view_broadcast(f, n - 4);
          ++stats_.payloads_in;
          auto& s = get({v.origin, v.epoch}, now);
          start(s, v.seq, 0, now);
          if (v.origin == self_ || v.seq < s.next || has(s, v.seq)) {
            ++stats_.duplicates;
            // A second copy on an eager link that is not this node's path to
            // the origin, and not one it asked for: make the link lazy.
            if (p_.tree && from_link && from != s.parent && !lazy(s, from) &&
                !asked_of(*from_link, s.key, v.seq, now)) {
              set_lazy(s, from, true);
              from_link->prunes.push_back({s.key.origin, s.key.epoch, 0, 0});
              from_link->ihave_due = now;
            }
            return;
          }
          if (v.seq - s.next > p_.max_waiting)
            return; // far ahead of a stream it waits on: dropped (it will be fetched)
          if (fresh->empty())
            fresh->reserve(size); // exactly what is kept: the buffer is the history
          auto off = static_cast<std::uint32_t>(fresh->size());
          fresh->insert(fresh->end(), f, f + n);
          wire::set_broadcast_hops(fresh->data() + off,
                                   static_cast<std::uint16_t>(v.hops + 1));
          // Only what lies between the highest message held so far and
          // this one is newly known to be missing: holes below were wanted
          // when they showed (rescanning them per message cost a quarter of
          // the CPU under load).
          std::uint64_t top = s.msgs.empty() ? s.next - 1 : s.base + s.msgs.size() - 1;
          news.push_back(
              {&s, v.seq, off, static_cast<std::uint32_t>(n), std::max(top + 1, s.next)});
          if (s.read_gen == read_gen_ && s.read_last > v.seq)
            news_out_of_order = true; // a repair behind a later message
          s.read_gen = read_gen_;
          s.read_last = v.seq;
          hold(s, v.seq, chunk, off, static_cast<std::uint32_t>(n), now);
          if (from_link && asked_of(*from_link, s.key, v.seq, now))
            ++stats_.fetched;
          return;
        }
        if (t == ft::broadcast || !wire::broadcast_plane(type))
          return;
        wire::for_each_tree_entry(t, f, n - 4, [&](const wire::stream_range& r) {
          switch (t) {
          case ft::ihave: {
            stats_.ihave_in += r.last >= r.first ? r.last - r.first + 1 : 0;
            if (r.origin == self_ || r.last < r.first)
              return;
            auto& s = get({r.origin, r.epoch}, now);
            start(s, r.first, 0, now);
            if (from_link)
              add_want(s, r.first, r.last, from, true, now + graft_wait(*from_link), now);
            return;
          }
          case ft::graft:
            ++stats_.grafts_in;
            if (auto* s = find({r.origin, r.epoch})) {
              set_lazy(*s, from, false);
              if (r.last >= r.first)
                serve(from, *s, r.first, r.last, out);
            }
            return;
          case ft::iwant:
            ++stats_.iwants_in;
            // A stream not known here yet: nothing to say (not gone; its
            // messages go to every link once they come).
            if (auto* s = find({r.origin, r.epoch}))
              serve(from, *s, r.first, r.last, out);
            return;
          case ft::prune:
            ++stats_.prunes_in;
            if (auto* s = find({r.origin, r.epoch}))
              set_lazy(*s, from, true);
            return;
          case ft::nothave:
            if (auto* s = find({r.origin, r.epoch})) {
              for (auto& w : s->wants)
                if (!(r.last < w.first || r.first > w.last) && w.tried > 0 &&
                    w.from[w.tried - 1] == from) {
                  ++w.gone;
                  w.due = now; // ask the next one
                }
            }
            return;
          case ft::streams: {
            if (r.origin == self_)
              return;
            auto& s = get({r.origin, r.epoch}, now);
            start(s, 0, r.last, now);
            if (r.last >= s.next)
              add_want(s, s.next, r.last, from, false, now, now);
            return;
          }
          default:
            return;
          }
        });
      });

  // The new messages: held, forwarded, delivered in order.
  if (!news.empty()) {
    for (auto& m : news) {
      received(*m.s, m.seq, now);
      adopt_template(*m.s);
      if (p_.tree) {
        m.s->parent = from;
        m.s->parent_rx = now;
        set_lazy(*m.s, from, false);
      }
      if (m.seq > m.hole_first)
        add_want(*m.s, m.hole_first, m.seq - 1, from, false, now + p_.gap_wait, now);
    }
    for (auto& l : links_) {
      if (l.peer == from)
        continue;
      std::size_t eager = 0;
      for (auto& m : news) {
        if (l.peer == m.s->key.origin)
          continue;
        if (!p_.tree || !lazy(*m.s, l.peer))
          ++eager;
        else
          queue_ihave(l, m.s->key, m.seq, now);
      }
      if (eager == 0)
        continue;
      stats_.forwarded += eager;
      if (eager == news.size()) {
        out.sends.push_back({l.peer, chunk});
        continue;
      }
      auto some = std::make_shared<std::vector<std::uint8_t>>();
      for (auto& m : news)
        if (l.peer != m.s->key.origin && (!p_.tree || !lazy(*m.s, l.peer)))
          some->insert(some->end(), chunk->data() + m.offset,
                       chunk->data() + m.offset + m.size);
      out.sends.push_back({l.peer, std::move(some)});
    }
  }
  auto ready = run_busy(now, out);
  // The common case, messages that come in order: what is delivered is
  // exactly the new messages, in the order they came, so the buffer that
  // holds them is handed out as it is instead of copied.
  bool in_place = !news_out_of_order && !news.empty() && ready == news.size();
  for (std::size_t i = 0; in_place && i < news.size(); ++i)
    in_place = news[i].seq < news[i].s->next; // not: still waiting, another delivered
  hand_out(ready, in_place ? chunk : frames_ptr{}, out);
  flush_links(now, out, false);
  recompute_wakeup();
}

std::uint64_t broadcast_tree::publish(const std::vector<std::string>& payloads,
                                      time_point now, outbox& out) {
  auto& s = streams_.at({self_, epoch_});
  auto first = own_seq_ + 1;
  if (payloads.empty())
    return first;
  adopt_template(s); // this node's first words go along the settled tree
  auto chunk = std::make_shared<std::vector<std::uint8_t>>();
  std::vector<std::pair<std::uint32_t, std::uint32_t>> at;
  for (auto& p : payloads) {
    auto off = static_cast<std::uint32_t>(chunk->size());
    wire::append_broadcast(*chunk, self_, epoch_, ++own_seq_, 0, p);
    at.emplace_back(off, static_cast<std::uint32_t>(chunk->size()) - off);
  }
  frames_ptr frames = std::move(chunk);
  for (std::size_t i = 0; i < payloads.size(); ++i)
    hold(s, first + i, frames, at[i].first, at[i].second, now);
  runs_.clear();
  deliver_ready(s, runs_); // own messages: delivered nowhere, just passed
  for (auto& l : links_) {
    if (!p_.tree || !lazy(s, l.peer)) {
      out.sends.push_back({l.peer, frames});
      stats_.forwarded += payloads.size();
    } else {
      for (std::size_t i = 0; i < payloads.size(); ++i)
        queue_ihave(l, s.key, first + i, now);
    }
  }
  flush_links(now, out, false);
  recompute_wakeup();
  return first;
}

void broadcast_tree::expire(time_point now, outbox&) {
  while (!order_.empty()) {
    auto [k, seq] = order_.front();
    auto* s = find(k);
    if (!s || seq < s->base || seq - s->base >= s->msgs.size() ||
        !s->msgs[seq - s->base].chunk) {
      order_.pop_front(); // already gone (the stream was dropped)
      continue;
    }
    auto& h = s->msgs[seq - s->base];
    // At the wakeup recompute_wakeup set (at + history_age), not after it:
    // with `>` a tick at exactly that time expired nothing and asked to be
    // run again at the same time (the simulator's clock stood still there).
    bool old = now - h.at >= p_.history_age;
    if (!old && history_bytes_ <= p_.history_bytes)
      break;
    if (seq >= s->next)
      break; // waiting to be delivered: kept until delivered or given up
    history_bytes_ -= h.size;
    h.chunk.reset();
    order_.pop_front();
    while (!s->msgs.empty() && !s->msgs.front().chunk && s->base < s->next) {
      s->msgs.pop_front();
      ++s->base;
    }
    if (s->msgs.empty())
      s->base = s->next;
  }
  stats_.history_bytes = history_bytes_;
  stats_.history_messages = order_.size();
}

void broadcast_tree::tick(time_point now, outbox& out) {
  flush_links(now, out, false);
  hand_out(run_busy(now, out), nullptr, out);
  expire(now, out);
  recompute_wakeup();
}

void broadcast_tree::recompute_wakeup() {
  auto t = time_point::max();
  for (auto& l : links_)
    t = std::min(t, l.ihave_due);
  std::uint64_t waiting = 0;
  for (auto* s : busy_) { // streams not listed have no wants and wait for nothing
    for (auto& w : s->wants)
      t = std::min(t, w.due);
    waiting += s->waiting;
  }
  if (!order_.empty()) {
    auto [k, seq] = order_.front();
    if (auto* s = find(k))
      if (seq >= s->base && seq - s->base < s->msgs.size())
        t = std::min(t, s->msgs[seq - s->base].at + p_.history_age);
  }
  if (history_bytes_ > p_.history_bytes)
    t = std::min(t, time_point{}); // expire at the next chance
  wakeup_ = t;
  stats_.waiting = waiting;
  stats_.streams = streams_.size();
  stats_.history_bytes = history_bytes_;
  stats_.history_messages = order_.size();
}

std::size_t broadcast_tree::lazy_links(node_id origin, std::uint64_t epoch) const {
  auto it = streams_.find({origin, epoch});
  return it == streams_.end() ? 0 : it->second.lazy.size();
}

std::uint64_t broadcast_tree::delivered_up_to(node_id origin, std::uint64_t epoch) const {
  auto it = streams_.find({origin, epoch});
  return it == streams_.end() || !it->second.started ? 0 : it->second.next - 1;
}

} // namespace lanmesh
