// The router actor with its relay on a real I/O thread and fake links: real scheduler,
// scoped_actor, request/receive with timeouts (CAF's expect DSL does not mix with
// GoogleTest). The relay's own decisions are tested without threads in
// tests/actors/proto/relay_test.cpp.

#include "actors/router.hpp"

#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <caf/all.hpp>
#include <set>

#include "net/io_thread.hpp"

namespace lanmesh::testing_router {
// One delivery as it would be printed.
struct ev_deliver {
  node_id origin = 0;
  std::uint64_t seq = 0;
  std::uint16_t hops = 0;
  std::string payload;
};
} // namespace lanmesh::testing_router

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lanmesh::testing_router::ev_deliver)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lanmesh::wire::broadcast)

namespace lanmesh {
namespace {

using testing_router::ev_deliver;

using namespace std::chrono_literals;

// Broadcasts from `from`, encoded as a socket read hands them over.
inbound_broadcasts from_peer(const std::vector<wire::broadcast>& msgs, node_id from) {
  auto frames = std::make_shared<net::bytes>();
  for (auto& b : msgs)
    wire::append_broadcast(*frames, b.origin, b.epoch, b.seq, b.hops, b.payload);
  return {std::move(frames), msgs.size(), from};
}

// A fake link: decodes what the router writes to it and reports to `sink`
// as (link id, broadcast) per frame or (link id, "retire:" reason).
caf::behavior fake_link(caf::event_based_actor*, int id, caf::actor sink) {
  return {
      [=](send_atom, const net::shared_bytes& bytes) {
        wire::frame_reader reader(1 << 20);
        reader.feed(bytes->data(), bytes->size());
        for (;;) {
          auto next = reader.next();
          auto* f = std::get_if<wire::frame>(&next);
          if (!f)
            break;
          caf::anon_send(sink, id, std::get<wire::broadcast>(f->body));
        }
        EXPECT_EQ(reader.buffered(), 0u) << "a write ended inside a frame";
      },
      [=](retire_atom, const std::string& reason) {
        caf::anon_send(sink, id, "retire:" + reason);
      },
  };
}

// What the router writes to a link goes to the fake link actor, in order.
link_writer writer_to(caf::actor link) {
  return [link](std::vector<net::shared_bytes> frames) {
    for (auto& f : frames)
      caf::anon_send(link, send_atom::value, std::move(f));
  };
}

class router_test : public ::testing::Test {
protected:
  static constexpr node_id self_id = 0x100;
  static constexpr node_id peer_a = 0xa, peer_b = 0xb, peer_c = 0xc;

  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  net::io_thread io;
  std::shared_ptr<relay> fast_path;
  router_actor router;
  caf::actor link_a, link_b, link_c;

  void SetUp() override {
    auto sink = caf::actor_cast<caf::actor>(self);
    router_settings rs;
    rs.self = self_id;
    rs.max_payload = 100;
    rs.seen_max_entries = 1000;
    // Deliveries reach the test as they would be printed: one event each.
    fast_path = std::make_shared<relay>(
        self_id, 1, 1000, std::chrono::seconds(300),
        [sink](relay::frames_ptr f, std::size_t n) {
          std::size_t seen = 0;
          EXPECT_TRUE(wire::for_each_broadcast(
              f->data(), f->size(),
              [&](const wire::broadcast_view& b, const std::uint8_t*, std::size_t) {
                caf::anon_send(
                    sink, ev_deliver{b.origin, b.seq, b.hops, std::string(b.payload)});
                ++seen;
              }));
          EXPECT_EQ(seen, n);
        });
    router = sys.spawn(lanmesh::router, rs,
                       relay_host{fast_path, [this](std::function<void()> task) {
                                    boost::asio::post(io.context(), std::move(task));
                                  }});
    link_a = sys.spawn(fake_link, 1, sink);
    link_b = sys.spawn(fake_link, 2, sink);
    link_c = sys.spawn(fake_link, 3, sink);
    self->send(router, link_up_atom::value, peer_a, link_a, writer_to(link_a));
    self->send(router, link_up_atom::value, peer_b, link_b, writer_to(link_b));
    self->send(router, link_up_atom::value, peer_c, link_c, writer_to(link_c));
  }

  void TearDown() override {
    for (auto& a : {link_a, link_b, link_c})
      self->send_exit(a, caf::exit_reason::user_shutdown);
    self->send_exit(router, caf::exit_reason::user_shutdown);
    io.stop();
    fast_path->clear();
  }

  // Sends a fresh message from A and waits for its delivery: the relay
  // handles messages in order, so everything sent before it is counted.
  void sync_with_relay() {
    static std::uint64_t seq = 1000;
    self->send(router,
               from_peer({wire::broadcast{peer_c, 77, ++seq, 0, "sync"}}, peer_a));
    bool seen = false;
    while (!seen)
      self->receive([&](ev_deliver& e) { seen = e.payload == "sync"; },
                    [](int, wire::broadcast&) {},
                    caf::after(2s) >>
                        [&] {
                          ADD_FAILURE() << "no sync delivery";
                          seen = true;
                        });
  }

  // Collects `n` frames forwarded to links, keyed by link id.
  std::multimap<int, wire::broadcast> forwarded(std::size_t n) {
    std::multimap<int, wire::broadcast> out;
    for (std::size_t i = 0; i < n; ++i)
      self->receive([&](int id, wire::broadcast& b) { out.emplace(id, std::move(b)); },
                    caf::after(2s) >>
                        [&] { ADD_FAILURE() << "only " << i << " frames"; });
    return out;
  }

  // Asserts nothing more arrives within a short window. (Absence cannot be
  // awaited as an event; the window only bounds how long we look.)
  void expect_quiet() {
    self->receive(
        [&](int id, wire::broadcast&) { ADD_FAILURE() << "extra frame to " << id; },
        [&](ev_deliver&) { ADD_FAILURE() << "extra delivery"; },
        caf::after(100ms) >> [] {});
  }

  static std::vector<std::string> lines(std::string line) { return {std::move(line)}; }

  router_stats stats() {
    router_stats out;
    self->request(router, 2s, caf::get_atom::value, stats_atom::value)
        .receive([&](router_stats s) { out = s; },
                 [&](caf::error& e) { FAIL() << sys.render(e); });
    return out;
  }
};

TEST_F(router_test, local_broadcast_goes_to_every_link_and_is_not_delivered_here) {
  std::string id;
  self->request(router, 2s, broadcast_atom::value, lines("hi"))
      .receive(
          [&](std::vector<std::string> ids, std::int64_t) {
            ASSERT_EQ(ids.size(), 1u);
            id = ids[0];
          },
          [&](caf::error& e) { FAIL() << sys.render(e); });
  EXPECT_EQ(id.substr(0, 16), to_hex(self_id));
  auto got = forwarded(3);
  ASSERT_EQ(got.size(), 3u);
  for (int link : {1, 2, 3}) {
    ASSERT_EQ(got.count(link), 1u);
    auto& b = got.find(link)->second;
    EXPECT_EQ(b.origin, self_id);
    EXPECT_EQ(b.payload, "hi");
    EXPECT_EQ(b.hops, 0);
  }
  expect_quiet();
  EXPECT_EQ(stats().sent, 1u);
}

TEST_F(router_test, new_message_is_delivered_once_and_forwarded_except_back) {
  wire::broadcast b{peer_c, 77, 7, 0, "x"};
  self->send(router, from_peer({b}, peer_a));
  self->receive(
      [&](ev_deliver& e) {
        EXPECT_EQ(e.origin, peer_c);
        EXPECT_EQ(e.seq, 7u);
        EXPECT_EQ(e.hops, 1);
        EXPECT_EQ(e.payload, "x");
      },
      caf::after(2s) >> [] { FAIL() << "no delivery"; });
  // Not back to A (it came from there), not to C (its origin): only B.
  auto got = forwarded(1);
  ASSERT_EQ(got.count(2), 1u);
  EXPECT_EQ(got.find(2)->second.hops, 1);
  expect_quiet();

  // The same message again, from another link: dropped, counted.
  self->send(router, from_peer({b}, peer_b));
  sync_with_relay();
  auto s = stats();
  EXPECT_EQ(s.plane.delivered, 2u); // with the sync message
  EXPECT_EQ(s.plane.duplicates, 1u);
}

TEST_F(router_test, batch_from_a_link_is_delivered_in_order_without_duplicates) {
  // One socket read's worth from A: two new messages (one originated by B),
  // one repeated within the batch, and our own message coming back.
  std::vector<wire::broadcast> batch{{peer_c, 77, 1, 0, "one"},
                                     {peer_b, 77, 2, 0, "two"},
                                     {peer_c, 77, 1, 0, "one again"},
                                     {self_id, 77, 9, 2, "ours"}};
  self->send(router, from_peer(batch, peer_a));
  std::vector<std::string> delivered;
  for (int i = 0; i < 2; ++i)
    self->receive([&](ev_deliver& e) { delivered.push_back(e.payload); },
                  caf::after(2s) >> [] { FAIL() << "missing delivery"; });
  EXPECT_EQ(delivered, (std::vector<std::string>{"one", "two"}));
  // B gets only C's message (not its own), C only B's (not its own); A none.
  auto got = forwarded(2);
  ASSERT_EQ(got.count(2), 1u);
  EXPECT_EQ(got.find(2)->second.payload, "one");
  ASSERT_EQ(got.count(3), 1u);
  EXPECT_EQ(got.find(3)->second.payload, "two");
  expect_quiet();
  auto s = stats();
  EXPECT_EQ(s.plane.delivered, 2u);
  EXPECT_EQ(s.plane.duplicates, 2u);
  EXPECT_EQ(s.plane.forwarded, 2u);
}

TEST_F(router_test, local_lines_of_one_request_keep_their_order_on_every_link) {
  std::vector<std::string> ids;
  self->request(router, 2s, broadcast_atom::value,
                std::vector<std::string>{"first", "second", "third"})
      .receive([&](std::vector<std::string> got, std::int64_t) { ids = std::move(got); },
               [&](caf::error& e) { FAIL() << sys.render(e); });
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_NE(ids[0], ids[1]);
  auto got = forwarded(9);
  for (int link : {1, 2, 3}) {
    auto [from, to] = got.equal_range(link);
    std::vector<std::string> order;
    for (auto it = from; it != to; ++it)
      order.push_back(it->second.payload);
    EXPECT_EQ(order, (std::vector<std::string>{"first", "second", "third"}));
  }
  expect_quiet();
}

TEST_F(router_test, own_message_coming_back_is_a_duplicate) {
  self->send(router, from_peer({wire::broadcast{self_id, 77, 1, 3, "loop"}}, peer_a));
  sync_with_relay();
  EXPECT_EQ(stats().plane.duplicates, 1u);
}

TEST_F(router_test, link_down_stops_forwarding_to_that_link) {
  self->send(router, link_down_atom::value, peer_b, link_b);
  self->request(router, 2s, broadcast_atom::value, lines("after"))
      .receive([](std::vector<std::string>, std::int64_t) {},
               [&](caf::error& e) { FAIL() << sys.render(e); });
  auto got = forwarded(2);
  EXPECT_EQ(got.count(1), 1u);
  EXPECT_EQ(got.count(2), 0u);
  EXPECT_EQ(got.count(3), 1u);
  expect_quiet();
}

TEST_F(router_test, link_down_of_a_replaced_connection_keeps_the_new_one) {
  auto sink = caf::actor_cast<caf::actor>(self);
  auto fresh = sys.spawn(fake_link, 4, sink);
  self->send(router, replace_atom::value, peer_a, fresh, writer_to(fresh), link_a, true);
  self->receive(
      [](int id, std::string& what) {
        EXPECT_EQ(id, 1);
        EXPECT_EQ(what, "retire:duplicate");
      },
      caf::after(2s) >> [] { FAIL() << "old link not retired"; });
  // The retired connection closes later; that must not drop the new link.
  self->send(router, link_down_atom::value, peer_a, link_a);
  self->request(router, 2s, broadcast_atom::value, lines("y"))
      .receive([](std::vector<std::string>, std::int64_t) {},
               [&](caf::error& e) { FAIL() << sys.render(e); });
  auto got = forwarded(3);
  EXPECT_EQ(got.count(4), 1u);
  EXPECT_EQ(got.count(1), 0u);
  self->send_exit(fresh, caf::exit_reason::user_shutdown);
}

TEST_F(router_test, retire_is_ordered_after_frames_already_forwarded) {
  self->request(router, 2s, broadcast_atom::value, lines("before"))
      .receive([](std::vector<std::string>, std::int64_t) {},
               [&](caf::error& e) { FAIL() << sys.render(e); });
  auto fresh = sys.spawn(fake_link, 4, caf::actor_cast<caf::actor>(self));
  self->send(router, replace_atom::value, peer_a, fresh, writer_to(fresh), link_a, true);
  // Link 1 must see its frame before its retire message.
  bool frame_seen = false;
  for (int i = 0; i < 4; ++i)
    self->receive(
        [&](int id, wire::broadcast&) {
          if (id == 1)
            frame_seen = true;
        },
        [&](int id, std::string&) {
          EXPECT_EQ(id, 1);
          EXPECT_TRUE(frame_seen) << "retire overtook a forwarded frame";
        },
        caf::after(2s) >> [] { FAIL() << "missing message"; });
  self->send_exit(fresh, caf::exit_reason::user_shutdown);
}

TEST_F(router_test, retire_is_ordered_after_frames_the_relay_forwarded) {
  // A peer's message reaches link 1 through the relay, not the router.
  self->send(router, from_peer({wire::broadcast{peer_c, 77, 5, 0, "relayed"}}, peer_b));
  auto fresh = sys.spawn(fake_link, 4, caf::actor_cast<caf::actor>(self));
  self->send(router, replace_atom::value, peer_a, fresh, writer_to(fresh), link_a, true);
  bool frame_seen = false, retired = false;
  for (int i = 0; i < 3 && !retired; ++i)
    self->receive(
        [&](int id, wire::broadcast& b) {
          if (id == 1 && b.payload == "relayed")
            frame_seen = true;
        },
        [&](ev_deliver&) {},
        [&](int id, std::string&) {
          EXPECT_EQ(id, 1);
          EXPECT_TRUE(frame_seen) << "retire overtook a relayed frame";
          retired = true;
        },
        caf::after(2s) >> [] { FAIL() << "missing message"; });
  EXPECT_TRUE(retired);
  self->send_exit(fresh, caf::exit_reason::user_shutdown);
}

TEST_F(router_test, relay_stops_forwarding_to_a_link_that_went_down) {
  self->send(router, link_down_atom::value, peer_b, link_b);
  self->send(router, from_peer({wire::broadcast{0xd, 77, 1, 0, "m"}}, peer_a));
  auto got = forwarded(1);
  EXPECT_EQ(got.count(3), 1u);
  self->receive([](ev_deliver&) {}, caf::after(2s) >> [] { FAIL() << "no delivery"; });
  expect_quiet();
}

TEST_F(router_test, relay_forwards_to_the_new_link_of_a_replaced_pair) {
  auto fresh = sys.spawn(fake_link, 4, caf::actor_cast<caf::actor>(self));
  self->send(router, replace_atom::value, peer_a, fresh, writer_to(fresh), link_a, true);
  self->send(router, from_peer({wire::broadcast{0xd, 77, 1, 0, "m"}}, peer_b));
  std::set<int> to;
  for (int i = 0; i < 4; ++i)
    self->receive([&](int id, wire::broadcast&) { to.insert(id); },
                  [&](int id, std::string&) { EXPECT_EQ(id, 1); }, [](ev_deliver&) {},
                  caf::after(2s) >> [] { FAIL() << "missing message"; });
  EXPECT_EQ(to, (std::set<int>{3, 4}));
  expect_quiet();
  self->send_exit(fresh, caf::exit_reason::user_shutdown);
}

TEST_F(router_test, payload_over_limit_is_refused_not_truncated) {
  bool refused = false;
  self->request(router, 2s, broadcast_atom::value, lines(std::string(101, 'x')))
      .receive([](std::vector<std::string>, std::int64_t) {},
               [&](caf::error&) { refused = true; });
  EXPECT_TRUE(refused);
  expect_quiet();
  EXPECT_EQ(stats().sent, 0u);
}

} // namespace
} // namespace lanmesh
