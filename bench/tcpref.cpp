// Physical reference for the lanmesh benchmark: what loopback TCP on this
// machine can do, measured in the same run as the nodes.
//
//   tcpref rtt  ITERATIONS SIZE   one-hop round trip: a client sends SIZE bytes,
//                                 an echo thread returns them (TCP_NODELAY)
//   tcpref bulk SECONDS CHUNK     raw throughput: one sender writes CHUNK-byte
//                                 blocks for SECONDS, a reader thread drains
//   tcpref msgs SECONDS SIZE      small messages: one write() per SIZE-byte message
//   tcpref fanout SECONDS SIZE N BATCH
//                                 the machine's fan-out limit: one thread writes every
//                                 SIZE-byte message to N-1 loopback TCP sockets, BATCH
//                                 messages per write(); one thread reads them all back
//                                 (epoll). msgs_per_s = messages every receiver got, per
//                                 second: the ceiling for broadcasting from one sender
//                                 to N-1 receivers on this machine (2 threads, as 2 cores)
//
// Prints one JSON object on stdout. Binds 127.0.0.1 on a kernel-chosen port.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using clk = std::chrono::steady_clock;

[[noreturn]] void die(const char* what) {
  std::perror(what);
  std::exit(1);
}

// A connected pair over 127.0.0.1: returns {client, server-side} sockets.
std::pair<int, int> connected_pair() {
  int lst = socket(AF_INET, SOCK_STREAM, 0);
  if (lst < 0)
    die("socket");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  if (bind(lst, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0)
    die("bind");
  if (listen(lst, 1) < 0)
    die("listen");
  socklen_t len = sizeof a;
  getsockname(lst, reinterpret_cast<sockaddr*>(&a), &len);
  int c = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0)
    die("connect");
  int s = accept(lst, nullptr, nullptr);
  if (s < 0)
    die("accept");
  close(lst);
  int one = 1;
  setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return {c, s};
}

bool read_full(int fd, char* p, size_t n) {
  while (n > 0) {
    auto r = read(fd, p, n);
    if (r <= 0)
      return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

bool write_full(int fd, const char* p, size_t n) {
  while (n > 0) {
    auto r = write(fd, p, n);
    if (r <= 0)
      return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

double pct(std::vector<double>& v, double q) {
  std::sort(v.begin(), v.end());
  auto i = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

int rtt(long iterations, long size) {
  auto [c, s] = connected_pair();
  std::thread echo([s = s, size] {
    std::vector<char> buf(static_cast<size_t>(size));
    while (read_full(s, buf.data(), buf.size()) && write_full(s, buf.data(), buf.size())) {
    }
    close(s);
  });
  std::vector<char> buf(static_cast<size_t>(size), 'x');
  std::vector<double> us;
  us.reserve(static_cast<size_t>(iterations));
  for (long i = 0; i < iterations + 100; ++i) {
    auto t0 = clk::now();
    if (!write_full(c, buf.data(), buf.size()) || !read_full(c, buf.data(), buf.size()))
      die("rtt");
    auto t1 = clk::now();
    if (i >= 100) // warm-up
      us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  shutdown(c, SHUT_WR);
  echo.join();
  close(c);
  std::printf("{\"mode\":\"rtt\",\"size\":%ld,\"iterations\":%ld,\"p50_us\":%.2f,"
              "\"p90_us\":%.2f,\"p99_us\":%.2f,\"max_us\":%.2f}\n",
              size, iterations, pct(us, 0.5), pct(us, 0.9), pct(us, 0.99), pct(us, 1.0));
  return 0;
}

int stream(double seconds, long size, const char* mode) {
  auto [c, s] = connected_pair();
  std::atomic<unsigned long long> received{0};
  std::thread reader([s = s, &received] {
    std::vector<char> buf(1 << 20);
    for (;;) {
      auto r = read(s, buf.data(), buf.size());
      if (r <= 0)
        break;
      received += static_cast<unsigned long long>(r);
    }
    close(s);
  });
  std::vector<char> buf(static_cast<size_t>(size), 'x');
  unsigned long long writes = 0;
  auto t0 = clk::now();
  auto end = t0 + std::chrono::duration<double>(seconds);
  while (clk::now() < end) {
    for (int k = 0; k < 64; ++k) {
      if (!write_full(c, buf.data(), buf.size()))
        die("write");
      ++writes;
    }
  }
  shutdown(c, SHUT_WR);
  reader.join();
  auto took = std::chrono::duration<double>(clk::now() - t0).count();
  close(c);
  std::printf("{\"mode\":\"%s\",\"size\":%ld,\"seconds\":%.3f,\"bytes\":%llu,"
              "\"MB_per_s\":%.1f,\"writes_per_s\":%.0f}\n",
              mode, size, took, received.load(),
              static_cast<double>(received.load()) / took / 1e6,
              static_cast<double>(writes) / took);
  return 0;
}

int fanout(double seconds, long size, long n, long batch) {
  if (n < 2 || batch < 1)
    die("fanout: N >= 2, BATCH >= 1");
  std::vector<int> wr, rd;
  for (long i = 0; i + 1 < n; ++i) {
    auto [c, s] = connected_pair();
    wr.push_back(c);
    rd.push_back(s);
  }
  std::vector<unsigned long long> got(rd.size(), 0);
  std::thread reader([&] {
    int ep = epoll_create1(0);
    if (ep < 0)
      die("epoll_create1");
    for (size_t i = 0; i < rd.size(); ++i) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = i;
      if (epoll_ctl(ep, EPOLL_CTL_ADD, rd[i], &ev) < 0)
        die("epoll_ctl");
    }
    std::vector<char> buf(1 << 20);
    size_t open = rd.size();
    std::vector<epoll_event> evs(rd.size());
    while (open > 0) {
      int k = epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 10000);
      if (k <= 0)
        die("epoll_wait (no data for 10 s)");
      for (int j = 0; j < k; ++j) {
        auto i = evs[static_cast<size_t>(j)].data.u64;
        auto r = read(rd[i], buf.data(), buf.size());
        if (r > 0) {
          got[i] += static_cast<unsigned long long>(r);
        } else {
          epoll_ctl(ep, EPOLL_CTL_DEL, rd[i], nullptr);
          close(rd[i]);
          --open;
        }
      }
    }
    close(ep);
  });
  std::vector<char> buf(static_cast<size_t>(size * batch), 'x');
  unsigned long long msgs = 0;
  auto t0 = clk::now();
  auto end = t0 + std::chrono::duration<double>(seconds);
  while (clk::now() < end) {
    for (int fd : wr)
      if (!write_full(fd, buf.data(), buf.size()))
        die("write");
    msgs += static_cast<unsigned long long>(batch);
  }
  for (int fd : wr)
    shutdown(fd, SHUT_WR);
  reader.join();
  auto took = std::chrono::duration<double>(clk::now() - t0).count();
  for (int fd : wr)
    close(fd);
  auto least = *std::min_element(got.begin(), got.end()) / static_cast<unsigned long long>(size);
  std::printf("{\"mode\":\"fanout\",\"size\":%ld,\"n\":%ld,\"batch\":%ld,\"seconds\":%.3f,"
              "\"messages\":%llu,\"received_by_all\":%llu,\"msgs_per_s\":%.0f,"
              "\"deliveries_per_s\":%.0f,\"MB_per_s_delivered\":%.1f}\n",
              size, n, batch, took, msgs, least, static_cast<double>(least) / took,
              static_cast<double>(least) * static_cast<double>(n - 1) / took,
              static_cast<double>(least) * static_cast<double>(n - 1) * static_cast<double>(size) /
                  took / 1e6);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "fanout" && argc == 6)
    return fanout(std::atof(argv[2]), std::atol(argv[3]), std::atol(argv[4]), std::atol(argv[5]));
  if (argc != 4) {
    std::fprintf(stderr, "usage: tcpref rtt ITER SIZE | bulk SECONDS CHUNK | msgs SECONDS SIZE"
                         " | fanout SECONDS SIZE N BATCH\n");
    return 2;
  }
  if (mode == "rtt")
    return rtt(std::atol(argv[2]), std::atol(argv[3]));
  if (mode == "bulk" || mode == "msgs")
    return stream(std::atof(argv[2]), std::atol(argv[3]), mode.c_str());
  std::fprintf(stderr, "unknown mode %s\n", argv[1]);
  return 2;
}
