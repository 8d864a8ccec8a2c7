#include "actors/discovery.hpp"

#include <optional>
#include <unordered_set>

#include "actors/logging.hpp"

namespace lanmesh {

namespace {

using clock = std::chrono::steady_clock;

struct state {
  discovery_logic logic;
  std::shared_ptr<net::udp_multicast> socket;
  caf::actor supervisor;
  discovery_stats stats;
  clock::time_point wakeup_at = clock::time_point::max();
  bool window_reported = false;
  node_id self_id = 0;
  bool clashed = false;
  std::unordered_set<std::string> clash_warned; // addresses logged once each
  std::shared_ptr<spdlog::logger> log = logging::get("discovery");
  std::shared_ptr<net::keyring_holder> keys;
  net::seal_clock seal_clock;
  net::replay_window replays;

  net::keyring_ptr ring() const {
    auto r = keys ? keys->get() : nullptr;
    return r && !r->empty() ? r : nullptr;
  }

  // The cluster key's check of a datagram: the size of what is under the
  // seal, or nullopt (dropped, counted, logged now and then).
  std::optional<std::size_t> unseal(const std::vector<std::uint8_t>& bytes,
                                    const std::string& ip, std::uint16_t port) {
    auto r = ring();
    if (!r)
      return bytes.size();
    auto o = net::open_datagram(bytes.data(), bytes.size(), *r, seal_clock.next());
    const char* why = nullptr;
    if (o.verdict != net::seal_verdict::ok) {
      why = net::to_string(o.verdict);
    } else {
      auto a = wire::decode_announcement(bytes.data(), o.size);
      auto* ann = std::get_if<wire::announcement>(&a);
      if (ann && !replays.fresh(ann->node, o.time_us))
        why = "replayed (not newer than the last from its node)";
    }
    if (!why)
      return o.size;
    stats.bad += 1;
    if (stats.bad % 100 == 1)
      log->warn("dropped datagram from {}:{}: {} ({} dropped so far)", ip, port, why,
                stats.bad);
    return std::nullopt;
  }

  state(discovery_params p, std::shared_ptr<net::udp_multicast> s, caf::actor sup)
      : logic(std::move(p)), socket(std::move(s)), supervisor(std::move(sup)) {}

  void run(std::vector<discovery_logic::command> cmds) {
    auto r = ring();
    for (auto& c : cmds) {
      stats.sent += 1;
      if (auto* g = std::get_if<discovery_logic::send_group>(&c)) {
        log->debug("send {} to group", wire::to_string(g->kind));
        if (r)
          net::seal_datagram(g->bytes, *r, seal_clock.next());
        socket->send_group(g->bytes);
      } else if (auto* t = std::get_if<discovery_logic::send_to>(&c)) {
        log->debug("answer {}:{}", t->ip, t->port);
        if (r)
          net::seal_datagram(t->bytes, *r, seal_clock.next());
        socket->send_to(t->ip, t->port, t->bytes);
      }
    }
  }
};

} // namespace

caf::behavior discovery(caf::event_based_actor* self, discovery_params params,
                        std::shared_ptr<net::udp_multicast> socket, caf::actor supervisor,
                        std::function<void(const std::string& addr)> on_clash,
                        std::shared_ptr<net::keyring_holder> keys) {
  auto window = params.query_window;
  auto self_id = params.self;
  auto st = std::make_shared<state>(std::move(params), std::move(socket),
                                    std::move(supervisor));
  st->self_id = self_id;
  st->keys = std::move(keys);
  auto handle = caf::actor_cast<caf::actor>(self);
  st->socket->start([handle](std::vector<std::uint8_t> bytes, std::string ip,
                             std::uint16_t port) {
    caf::anon_send(handle, datagram_atom::value, std::move(bytes), std::move(ip), port);
  });
  self->attach_functor([s = st->socket] { s->close(); });

  // Keeps exactly one timer pending, for the logic's next wake-up.
  auto arm = [self, st] {
    auto next = st->logic.next_wakeup();
    if (next == clock::time_point::max() || next >= st->wakeup_at)
      return;
    st->wakeup_at = next;
    auto delay = std::max(next - clock::now(), clock::duration::zero());
    self->delayed_send(self, delay, tick_atom::value);
  };
  // After the query window, the supervisor hears of every change.
  auto report = [self, st](bool force) {
    if (!force && !st->logic.take_changed())
      return;
    auto cands = st->logic.candidates(clock::now());
    st->stats.candidates = st->logic.table_size();
    self->send(st->supervisor, candidates_atom::value, std::move(cands));
  };

  st->run(st->logic.start(clock::now()));
  self->delayed_send(self, window, tick_atom::value, true);
  st->log->info("query sent; listening {} ms for answers", window.count());

  return {
      [=](datagram_atom, const std::vector<std::uint8_t>& bytes, const std::string& ip,
          std::uint16_t port) {
        auto size = st->unseal(bytes, ip, port);
        if (!size)
          return;
        auto v = st->logic.on_datagram(bytes.data(), *size, ip, port, clock::now());
        switch (v) {
        case discovery_logic::verdict::taken:
          st->stats.received += 1;
          break;
        case discovery_logic::verdict::bad:
          st->stats.bad += 1;
          st->log->warn("dropped bad datagram of {} bytes from {}:{}", bytes.size(), ip,
                        port);
          break;
        case discovery_logic::verdict::foreign:
          st->stats.foreign += 1;
          st->log->debug("dropped datagram of another cluster from {}:{}", ip, port);
          break;
        case discovery_logic::verdict::own:
          break;
        case discovery_logic::verdict::clash: {
          auto& c = st->logic.last_clash();
          if (st->logic.querying(clock::now())) {
            st->log->error("node id {} is already used by the node at {}: stopping",
                           to_hex(st->self_id), c.addr);
            // The answer to the other node's query goes out before this node
            // stops, so that it learns of the clash too.
            st->run(st->logic.on_timer(clock::now()));
            if (on_clash && !st->clashed)
              on_clash(c.addr);
            st->clashed = true;
          } else if (st->clash_warned.size() < 64 &&
                     st->clash_warned.insert(c.addr).second) {
            st->log->warn("the node at {} claims this node's id {} ({}); it was told and "
                          "should stop",
                          c.addr, to_hex(st->self_id), wire::to_string(c.kind));
          }
          break;
        }
        }
        if (st->window_reported) {
          report(false);
        } else if (v == discovery_logic::verdict::taken &&
                   !st->logic.candidates(clock::now()).empty()) {
          // The first answer ends the wait: a newcomer links up at once
          // instead of after the whole query window.
          st->window_reported = true;
          st->log->info("{} answered within the query window", ip);
          st->logic.take_changed();
          report(true);
        }
        arm();
      },
      [=](tick_atom, bool window_end) {
        if (window_end && !st->window_reported) {
          st->window_reported = true;
          auto n = st->logic.candidates(clock::now()).size();
          if (n == 0)
            st->log->info("no answer within the query window: first node of the cluster");
          else
            st->log->info("{} candidate(s) answered", n);
          st->logic.take_changed();
          report(true);
        }
        arm();
      },
      [=](tick_atom) {
        st->wakeup_at = clock::time_point::max();
        st->run(st->logic.on_timer(clock::now()));
        if (st->window_reported)
          report(false);
        arm();
      },
      [=](load_atom, std::uint16_t in, std::uint16_t out, std::uint16_t capacity) {
        st->logic.set_load(link_load{in, out, capacity}, clock::now());
        arm();
      },
      [=](cluster_size_atom, std::uint64_t n) {
        st->logic.set_cluster_size(static_cast<std::size_t>(n), clock::now());
        arm();
      },
      [=](forget_atom, node_id id) {
        st->logic.forget(id);
        if (st->window_reported)
          report(false);
      },
      [=](caf::get_atom, stats_atom) {
        st->stats.candidates = st->logic.table_size();
        st->stats.answers_limited = st->logic.answers_limited();
        return st->stats;
      },
  };
}

} // namespace lanmesh
