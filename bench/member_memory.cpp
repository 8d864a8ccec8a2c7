// Memory per member-table entry (README "Membership"): fills one
// membership (actors/proto/membership) with N members, as gossip from one
// neighbour would, and prints the heap it takes per entry (glibc's
// mallinfo2: bytes in use, before and after).
//
//   member_memory [N]     default 100000; prints one JSON object
#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "actors/proto/membership.hpp"

int main(int argc, char** argv) {
  using namespace lanmesh;
  std::size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 100000;
  auto now = std::chrono::steady_clock::now();
  member_record self;
  self.node = 1;
  self.incarnation = 1;
  membership_params p;
  p.max_members = n + 1;
  auto before = mallinfo2().uordblks;
  auto* m = new membership(self, p);
  member_record hello;
  hello.node = 2;
  hello.incarnation = 1;
  hello.ip = 0x0a000002;
  hello.port = 1;
  m->link_up(hello, false, false, now);
  std::vector<member_record> batch;
  for (std::size_t i = 0; i < n; ++i) {
    member_record r;
    r.node = 1000 + i;
    r.incarnation = 1;
    r.ip = 0x0a000000 + static_cast<std::uint32_t>(i % 60000) + 3;
    r.port = static_cast<std::uint16_t>(1 + i % 60000);
    batch.push_back(r);
    if (batch.size() == 64) {
      m->received(2, batch, false, now);
      batch.clear();
    }
  }
  m->received(2, batch, false, now);
  m->tick(now + std::chrono::seconds(1)); // the news goes out: no queue left
  auto after = mallinfo2().uordblks;
  std::printf("{\"members\":%zu,\"bytes\":%zu,\"bytes_per_member\":%.1f,\"sizeof_member\":%zu}\n",
              m->members().size(), after - before,
              double(after - before) / double(m->members().size()), sizeof(member));
  delete m;
  return 0;
}
