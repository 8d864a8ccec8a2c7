// The cluster key's pieces, driven without sockets: keys, the link handshake
// as a state machine, sealed records, sealed datagrams and their replay window.

#include <gtest/gtest.h>

#include <algorithm>

#include "net/datagram_seal.hpp"
#include "net/keyring.hpp"
#include "net/link_auth.hpp"

namespace lanmesh::net {
namespace {

using bytes = std::vector<std::uint8_t>;

keyring_ptr ring(std::initializer_list<std::string> keys) {
  std::vector<cluster_key> ks;
  for (auto& k : keys)
    ks.push_back(*parse_key(k));
  return std::make_shared<const keyring>(std::move(ks));
}

const std::string k1 = generate_key();
const std::string k2 = generate_key();
const std::string k3 = generate_key();

TEST(keyring, generated_keys_are_44_base64_characters_of_32_random_bytes) {
  EXPECT_EQ(k1.size(), 44u);
  EXPECT_NE(k1, k2);
  auto a = parse_key(k1);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->id_hex().size(), 16u);
  EXPECT_NE(a->id_hex(), parse_key(k2)->id_hex());
  EXPECT_EQ(a->id_hex(), parse_key(k1)->id_hex()); // the id is a function of the key
}

TEST(keyring, malformed_keys_are_refused) {
  EXPECT_FALSE(parse_key(""));
  EXPECT_FALSE(parse_key(k1.substr(0, 43)));
  EXPECT_FALSE(parse_key(k1 + "A"));
  auto bad = k1;
  bad[5] = '*';
  EXPECT_FALSE(parse_key(bad));
  // 33 bytes would need 44 characters without padding: not a key either.
  EXPECT_FALSE(parse_key("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
  EXPECT_FALSE(parse_key("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")); // 43 characters
}

TEST(keyring, finds_a_key_by_its_id) {
  auto r = ring({k1, k2});
  EXPECT_EQ(r->find(parse_key(k2)->id)->id_hex(), parse_key(k2)->id_hex());
  EXPECT_EQ(r->find(parse_key(k3)->id), nullptr);
  EXPECT_EQ(r->primary().id_hex(), parse_key(k1)->id_hex());
}

TEST(keyring, holder_swaps_rings_while_old_snapshots_stay_valid) {
  keyring_holder h(ring({k1}));
  auto before = h.get();
  h.set(ring({k2, k1}));
  EXPECT_EQ(before->primary().id_hex(), parse_key(k1)->id_hex());
  EXPECT_EQ(h.get()->primary().id_hex(), parse_key(k2)->id_hex());
}

// Runs a handshake between a dialer and an acceptor, passing bytes both ways
// in chunks of `chunk` bytes, optionally altering what the dialer sends.
struct run_result {
  link_auth::outcome::what_t dialer = link_auth::outcome::more;
  link_auth::outcome::what_t acceptor = link_auth::outcome::more;
  std::string reason;
};

run_result handshake(link_auth& d, link_auth& a, std::size_t chunk = 1 << 20) {
  run_result r;
  auto to_a = d.start();
  bytes to_d;
  for (int round = 0; round < 8; ++round) {
    for (std::size_t i = 0; i < to_a.size() && r.acceptor == link_auth::outcome::more;
         i += chunk) {
      auto o = a.feed(to_a.data() + i, std::min(chunk, to_a.size() - i));
      r.acceptor = o.what;
      if (!o.reason.empty())
        r.reason = o.reason;
      to_d.insert(to_d.end(), o.send.begin(), o.send.end());
    }
    to_a.clear();
    for (std::size_t i = 0; i < to_d.size() && r.dialer == link_auth::outcome::more;
         i += chunk) {
      auto o = d.feed(to_d.data() + i, std::min(chunk, to_d.size() - i));
      r.dialer = o.what;
      if (!o.reason.empty())
        r.reason = o.reason;
      to_a.insert(to_a.end(), o.send.begin(), o.send.end());
    }
    to_d.clear();
    if (to_a.empty())
      break;
  }
  return r;
}

TEST(link_auth, two_holders_of_one_key_authenticate_and_learn_each_others_ids) {
  for (std::size_t chunk : {std::size_t{1}, std::size_t{7}, std::size_t{1} << 20}) {
    link_auth d(link_auth::role::dialer, ring({k1}), 0x11);
    link_auth a(link_auth::role::acceptor, ring({k1}), 0x22);
    auto r = handshake(d, a, chunk);
    ASSERT_EQ(r.dialer, link_auth::outcome::done) << r.reason;
    ASSERT_EQ(r.acceptor, link_auth::outcome::done) << r.reason;
    EXPECT_EQ(d.peer_id(), 0x22u);
    EXPECT_EQ(a.peer_id(), 0x11u);
    EXPECT_EQ(d.key_id_hex(), parse_key(k1)->id_hex());
  }
}

TEST(link_auth, the_acceptor_takes_any_key_of_its_ring_the_dialer_uses_its_primary) {
  link_auth d(link_auth::role::dialer, ring({k2, k1}), 1);
  link_auth a(link_auth::role::acceptor, ring({k1, k2}), 2);
  auto r = handshake(d, a);
  EXPECT_EQ(r.acceptor, link_auth::outcome::done) << r.reason;
  EXPECT_EQ(a.key_id_hex(), parse_key(k2)->id_hex());
}

TEST(link_auth, another_key_fails_at_the_acceptor_naming_the_key_id_only) {
  link_auth d(link_auth::role::dialer, ring({k1}), 1);
  link_auth a(link_auth::role::acceptor, ring({k2}), 2);
  auto r = handshake(d, a);
  EXPECT_EQ(r.acceptor, link_auth::outcome::failed);
  EXPECT_NE(r.reason.find(parse_key(k1)->id_hex()), std::string::npos);
  EXPECT_EQ(r.reason.find(k1), std::string::npos);
}

TEST(link_auth, a_forged_key_id_does_not_pass_the_proof) {
  // An acceptor answering under a key id it does not hold cannot make mac_a.
  link_auth d(link_auth::role::dialer, ring({k1}), 1);
  auto auth1 = d.start();
  link_auth liar(link_auth::role::acceptor, ring({k1}), 2);
  auto o = liar.feed(auth1.data(), auth1.size());
  ASSERT_EQ(o.what, link_auth::outcome::more);
  o.send.back() ^= 1; // the proof
  auto r = d.feed(o.send.data(), o.send.size());
  EXPECT_EQ(r.what, link_auth::outcome::failed);
}

TEST(link_auth, a_peer_without_a_key_sending_hello_fails_at_once) {
  link_auth a(link_auth::role::acceptor, ring({k1}), 2);
  // A HELLO frame's header: a u32 length far beyond any handshake message.
  bytes hello{0x00, 0x00, 0x01, 0x00, 0x03, 0x01};
  auto o = a.feed(hello.data(), hello.size());
  EXPECT_EQ(o.what, link_auth::outcome::failed);
  EXPECT_TRUE(o.send.empty());
}

TEST(link_auth, garbage_of_a_plausible_length_fails) {
  link_auth a(link_auth::role::acceptor, ring({k1}), 2);
  bytes junk{0, 0, 0, 10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  EXPECT_EQ(a.feed(junk.data(), junk.size()).what, link_auth::outcome::failed);
  // Once failed it stays failed.
  EXPECT_EQ(a.feed(junk.data(), 1).what, link_auth::outcome::failed);
}

TEST(link_auth, a_recorded_handshake_replayed_to_a_fresh_acceptor_is_refused) {
  link_auth d(link_auth::role::dialer, ring({k1}), 1);
  link_auth a(link_auth::role::acceptor, ring({k1}), 2);
  auto auth1 = d.start();
  auto o2 = a.feed(auth1.data(), auth1.size());
  auto o3 = d.feed(o2.send.data(), o2.send.size());
  ASSERT_EQ(o3.what, link_auth::outcome::done);
  // The attacker replays AUTH1 and AUTH3 to a new acceptor: its nonce is new,
  // so the recorded proof does not fit.
  link_auth victim(link_auth::role::acceptor, ring({k1}), 2);
  bytes replay = auth1;
  replay.insert(replay.end(), o3.send.begin(), o3.send.end());
  // All at once, as a replay tool writes it: refused in that very feed (a
  // session feeds only what arrives), before any challenge goes out.
  auto r = victim.feed(replay.data(), replay.size());
  EXPECT_EQ(r.what, link_auth::outcome::failed);
  EXPECT_TRUE(r.send.empty());
  EXPECT_NE(r.reason.find("replayed"), std::string::npos) << r.reason;
  // Paced like a dialer (AUTH3 after the challenge): the proof is wrong.
  link_auth paced(link_auth::role::acceptor, ring({k1}), 2);
  auto c = paced.feed(auth1.data(), auth1.size());
  ASSERT_EQ(c.what, link_auth::outcome::more);
  EXPECT_FALSE(c.send.empty());
  auto p = paced.feed(o3.send.data(), o3.send.size());
  EXPECT_EQ(p.what, link_auth::outcome::failed);
  EXPECT_NE(p.reason.find("replayed"), std::string::npos) << p.reason;
}

TEST(link_auth, a_reflected_proof_does_not_authenticate) {
  // The acceptor's proof sent back as the dialer's (labels differ).
  link_auth d(link_auth::role::dialer, ring({k1}), 1);
  link_auth a(link_auth::role::acceptor, ring({k1}), 2);
  auto auth1 = d.start();
  auto o2 = a.feed(auth1.data(), auth1.size());
  bytes reflected{0, 0, 0, 32};
  reflected.insert(reflected.end(), o2.send.end() - 32, o2.send.end());
  EXPECT_EQ(a.feed(reflected.data(), reflected.size()).what, link_auth::outcome::failed);
}

TEST(link_auth, records_after_the_handshake_reach_the_other_side_in_the_same_feed) {
  link_auth d(link_auth::role::dialer, ring({k1}), 1);
  link_auth a(link_auth::role::acceptor, ring({k1}), 2);
  auto auth1 = d.start();
  auto o2 = a.feed(auth1.data(), auth1.size());
  auto o3 = d.feed(o2.send.data(), o2.send.size());
  ASSERT_EQ(o3.what, link_auth::outcome::done);
  auto dc = d.cipher();
  bytes msg{'h', 'e', 'l', 'l', 'o'};
  bytes wire = o3.send;
  dc.seal(msg.data(), msg.size(), wire);
  auto done = a.feed(wire.data(), wire.size());
  ASSERT_EQ(done.what, link_auth::outcome::done);
  auto rest = a.take_rest();
  auto ac = a.cipher();
  bytes plain;
  EXPECT_EQ(ac.open(rest, plain), link_cipher::opened::ok);
  EXPECT_EQ(plain, msg);
  EXPECT_TRUE(rest.empty());
}

struct cipher_pair {
  link_cipher d, a;
};

cipher_pair ciphers() {
  link_auth d(link_auth::role::dialer, ring({k1}), 1);
  link_auth a(link_auth::role::acceptor, ring({k1}), 2);
  auto r = handshake(d, a);
  EXPECT_EQ(r.dialer, link_auth::outcome::done);
  return {d.cipher(), a.cipher()};
}

TEST(link_cipher, a_stream_arrives_whole_in_any_cut_and_shows_no_cleartext) {
  auto [d, a] = ciphers();
  bytes stream(200000);
  for (std::size_t i = 0; i < stream.size(); ++i)
    stream[i] = static_cast<std::uint8_t>('a' + i % 26);
  bytes wire;
  d.seal(stream.data(), stream.size(), wire); // records of seal_record bytes
  auto records =
      (stream.size() + link_cipher::seal_record - 1) / link_cipher::seal_record;
  EXPECT_EQ(wire.size(), stream.size() + records * (4 + link_cipher::tag_size));
  std::string needle = "abcdefghij";
  EXPECT_EQ(std::search(wire.begin(), wire.end(), needle.begin(), needle.end()),
            wire.end());
  bytes in, plain;
  for (std::size_t i = 0; i < wire.size(); i += 999) {
    in.insert(in.end(), wire.begin() + i, wire.begin() + std::min(wire.size(), i + 999));
    ASSERT_EQ(a.open(in, plain), link_cipher::opened::ok);
  }
  EXPECT_EQ(plain, stream);
}

TEST(link_cipher, a_flipped_bit_anywhere_fails) {
  bytes msg(100, 'x');
  for (std::size_t at : {std::size_t{4}, std::size_t{50}, std::size_t{4 + 100 + 15}}) {
    auto [d, a] = ciphers();
    bytes wire, plain;
    d.seal(msg.data(), msg.size(), wire);
    wire[at] ^= 0x40;
    EXPECT_EQ(a.open(wire, plain), link_cipher::opened::bad) << at;
  }
}

TEST(link_cipher, a_replayed_or_reordered_record_fails) {
  auto [d, a] = ciphers();
  bytes r1, r2, plain;
  bytes msg(10, 'y');
  d.seal(msg.data(), msg.size(), r1);
  d.seal(msg.data(), msg.size(), r2);
  auto copy = r1;
  EXPECT_EQ(a.open(r1, plain), link_cipher::opened::ok);
  EXPECT_EQ(a.open(copy, plain), link_cipher::opened::bad); // replayed
  auto [d2, a2] = ciphers();
  bytes s1, s2;
  d2.seal(msg.data(), msg.size(), s1);
  d2.seal(msg.data(), msg.size(), s2);
  EXPECT_EQ(a2.open(s2, plain), link_cipher::opened::bad); // second first
}

TEST(link_cipher, each_direction_has_its_own_key) {
  auto [d, a] = ciphers();
  bytes msg(10, 'z'), wire, plain;
  d.seal(msg.data(), msg.size(), wire);
  EXPECT_EQ(d.open(wire, plain), link_cipher::opened::bad); // its own record back
}

TEST(link_cipher, an_impossible_record_length_fails_before_buffering) {
  auto [d, a] = ciphers();
  bytes wire{0x7f, 0xff, 0xff, 0xff}, plain;
  EXPECT_EQ(a.open(wire, plain), link_cipher::opened::bad);
  bytes tiny{0, 0, 0, 3, 1, 2, 3};
  EXPECT_EQ(a.open(tiny, plain), link_cipher::opened::bad);
}

TEST(datagram_seal, sealed_datagrams_open_under_any_key_of_the_ring) {
  bytes d{1, 2, 3, 4};
  seal_datagram(d, *ring({k1}), 1000);
  EXPECT_EQ(d.size(), 4 + seal_size);
  auto o = open_datagram(d.data(), d.size(), *ring({k2, k1}), 1000);
  EXPECT_EQ(o.verdict, seal_verdict::ok);
  EXPECT_EQ(o.size, 4u);
  EXPECT_EQ(o.time_us, 1000u);
}

TEST(datagram_seal, unsealed_foreign_tampered_and_stale_datagrams_are_told_apart) {
  auto r = ring({k1});
  bytes plain{1, 2, 3, 4};
  EXPECT_EQ(open_datagram(plain.data(), plain.size(), *r, 0).verdict,
            seal_verdict::missing);
  bytes other = plain;
  seal_datagram(other, *ring({k2}), 5);
  EXPECT_EQ(open_datagram(other.data(), other.size(), *r, 5).verdict,
            seal_verdict::unknown_key);
  bytes tampered = plain;
  seal_datagram(tampered, *r, 5);
  tampered[0] ^= 1;
  EXPECT_EQ(open_datagram(tampered.data(), tampered.size(), *r, 5).verdict,
            seal_verdict::bad_mac);
  bytes old = plain;
  seal_datagram(old, *r, 1);
  EXPECT_EQ(open_datagram(old.data(), old.size(), *r, 1 + 61000000).verdict,
            seal_verdict::stale);
  EXPECT_EQ(open_datagram(old.data(), old.size(), *r, 1 + 59000000).verdict,
            seal_verdict::ok);
}

TEST(replay_window, takes_each_sender_only_forward_in_time_and_stays_bounded) {
  replay_window w(3);
  EXPECT_TRUE(w.fresh(1, 10));
  EXPECT_FALSE(w.fresh(1, 10));
  EXPECT_FALSE(w.fresh(1, 9));
  EXPECT_TRUE(w.fresh(1, 11));
  EXPECT_TRUE(w.fresh(2, 5));
  EXPECT_TRUE(w.fresh(3, 20));
  EXPECT_TRUE(w.fresh(4, 30)); // evicts sender 2, heard of longest ago
  EXPECT_EQ(w.size(), 3u);
  EXPECT_TRUE(
      w.fresh(2, 5)); // forgotten: taken again (the seal's clock check bounds this)
}

} // namespace
} // namespace lanmesh::net
