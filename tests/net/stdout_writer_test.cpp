// stdout_writer on a real pipe and file: it never blocks the I/O thread,
// keeps the order of what it is given, and bounds what a slow reader costs.

#include "net/stdout_writer.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <cstdio>
#include <future>
#include <string>

#include "net/io_thread.hpp"

namespace lanmesh::net {
namespace {

using namespace std::chrono_literals;

// Reads from `fd` until `n` bytes arrived or 5 s passed.
std::string read_from(int fd, std::size_t n) {
  std::string got;
  char buf[8192];
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (got.size() < n) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd pfd{fd, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&pfd, 1, static_cast<int>(left.count())) <= 0)
      break;
    auto k = ::read(fd, buf, sizeof(buf));
    if (k <= 0)
      break;
    got.append(buf, static_cast<std::size_t>(k));
  }
  return got;
}

struct pipe_fds {
  int r = -1, w = -1;
  pipe_fds() {
    int fds[2];
    EXPECT_EQ(pipe(fds), 0);
    r = fds[0];
    w = fds[1];
    fcntl(w, F_SETPIPE_SZ, 4096); // the smallest pipe: fills at once
  }
  ~pipe_fds() {
    if (r >= 0)
      close(r);
    close(w);
  }
  std::string read_n(std::size_t n) { return read_from(r, n); }
};

// Runs `f` on the I/O thread and waits (bounded) for it to return.
template <class F> bool on_io(io_thread& io, F f) {
  std::promise<void> done;
  auto returned = done.get_future();
  boost::asio::post(io.context(), [&] {
    f();
    done.set_value();
  });
  return returned.wait_for(5s) == std::future_status::ready;
}

std::string lines(char c, int count, std::size_t width) {
  std::string out;
  for (int i = 0; i < count; ++i)
    out += std::string(width - 1, c) + "\n";
  return out;
}

TEST(StdoutWriter, FullPipeDoesNotBlockAndOrderIsKept) {
  pipe_fds p;
  io_thread io;
  auto out = stdout_writer::make(io.context(), p.w);
  std::string want;
  // 64 KiB into a 4 KiB pipe nobody reads yet: the I/O thread must return.
  ASSERT_TRUE(on_io(io, [&] {
    for (char c = 'a'; c < 'a' + 16; ++c) {
      auto text = lines(c, 32, 128);
      want += text;
      out->write(text);
    }
  })) << "write blocked the I/O thread";
  out->post("last\n");
  want += "last\n";
  EXPECT_EQ(p.read_n(want.size()), want);
  EXPECT_EQ(out->dropped(), 0u);
  io.stop();
}

TEST(StdoutWriter, ManyPageWritesIntoABigFullPipeNeitherBlockNorChangeItsFlags) {
  pipe_fds p;
  fcntl(p.w, F_SETPIPE_SZ, 65536); // many page slots; writes of 2100 B straddle them
  io_thread io;
  auto out = stdout_writer::make(io.context(), p.w);
  std::string want;
  ASSERT_TRUE(on_io(io, [&] {
    for (int i = 0; i < 100; ++i) {
      auto text = lines(static_cast<char>('A' + i % 26), 21, 100);
      want += text;
      out->write(text);
    }
  })) << "write blocked the I/O thread";
  // The shell and others share fd's open file description: it stays blocking.
  EXPECT_EQ(fcntl(p.w, F_GETFL) & O_NONBLOCK, 0);
  EXPECT_EQ(p.read_n(want.size()), want);
  EXPECT_EQ(out->dropped(), 0u);
  io.stop();
}

TEST(StdoutWriter, FullSocketDoesNotBlockAndOrderIsKept) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  int small = 4096;
  setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
  io_thread io;
  auto out = stdout_writer::make(io.context(), sv[0]);
  std::string want;
  ASSERT_TRUE(on_io(io, [&] {
    for (char c = 'a'; c < 'a' + 16; ++c) {
      auto text = lines(c, 64, 128);
      want += text;
      out->write(text);
    }
  })) << "write blocked the I/O thread";
  EXPECT_EQ(read_from(sv[1], want.size()), want);
  io.stop();
  close(sv[0]);
  close(sv[1]);
}

TEST(StdoutWriter, ReaderTooSlowLosesWholeWritesCounted) {
  pipe_fds p;
  io_thread io;
  auto out = stdout_writer::make(io.context(), p.w, 10000);
  std::string first = lines('x', 100, 100);  // 10 000 bytes: pipe + queue take it
  std::string second = lines('y', 100, 100); // no room left: dropped whole
  ASSERT_TRUE(on_io(io, [&] {
    out->write(first);
    out->write(second);
  }));
  EXPECT_EQ(out->dropped(), second.size());
  EXPECT_EQ(p.read_n(first.size()), first);
  // Once the reader caught up, output flows again.
  out->post("again\n");
  EXPECT_EQ(p.read_n(6), "again\n");
  io.stop();
}

TEST(StdoutWriter, ReaderGoneDropsOutputInsteadOfWaiting) {
  signal(SIGPIPE, SIG_IGN); // as the node does
  pipe_fds p;
  io_thread io;
  auto out = stdout_writer::make(io.context(), p.w);
  std::string text = lines('g', 64, 128); // 8 KiB: half waits for room
  ASSERT_TRUE(on_io(io, [&] { out->write(text); }));
  close(p.r);
  p.r = -1;
  // The wait for room ends with an error event; the queue is then dropped,
  // not waited on forever (or re-armed in a loop). Each round is an I/O
  // thread round trip, bounded in count.
  for (int i = 0; i < 1000 && out->dropped() == 0; ++i)
    ASSERT_TRUE(on_io(io, [] {}));
  EXPECT_EQ(out->dropped(), text.size() - 4096);
  ASSERT_TRUE(on_io(io, [&] { out->write("later\n"); }));
  EXPECT_EQ(out->dropped(), text.size() - 4096 + 6);
  io.stop();
}

TEST(StdoutWriter, FinishWritesWhatIsQueuedOrReportsWhatIsLeft) {
  pipe_fds p;
  io_thread io;
  auto out = stdout_writer::make(io.context(), p.w);
  std::string text = lines('z', 64, 128); // 8 KiB: half waits in the queue
  ASSERT_TRUE(on_io(io, [&] { out->write(text); }));
  io.stop();
  // Nobody reads: the bound ends the wait and the rest is reported.
  auto left = out->finish(50ms);
  EXPECT_GT(left, 0u);
  EXPECT_LT(left, text.size());
}

TEST(StdoutWriter, FileIsWrittenAtOnce) {
  char path[] = "/tmp/stdout_writer_testXXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  io_thread io;
  auto out = stdout_writer::make(io.context(), fd);
  std::string text = lines('f', 1000, 64);
  ASSERT_TRUE(on_io(io, [&] { out->write(text); }));
  io.stop();
  EXPECT_EQ(lseek(fd, 0, SEEK_END), static_cast<off_t>(text.size()));
  close(fd);
  unlink(path);
}

} // namespace
} // namespace lanmesh::net
