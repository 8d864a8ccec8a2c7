#include "main/client.hpp"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <thread>

#include "actors/render.hpp"
#include "net/control_path.hpp"

namespace lanmesh::client {

namespace {

using clock = std::chrono::steady_clock;

volatile sig_atomic_t interrupted = 0;

void on_interrupt(int) {
  interrupted = 1;
}

void fail(const std::string& message) {
  std::fprintf(stderr, "lanmesh: %s\n", message.c_str());
}

int connect_to(const std::string& path, std::string& why) {
  if (path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    why = "path longer than 107 bytes";
    return -1;
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    why = std::strerror(errno);
    return -1;
  }
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    why = std::strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

// Live control sockets in the default folder (stale ones, whose node is
// gone, do not count).
std::vector<std::string> live_sockets(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (!d)
    return out;
  while (auto* e = readdir(d)) {
    std::string name = e->d_name;
    if (name.size() < 6 || name.compare(name.size() - 5, 5, ".sock") != 0)
      continue;
    auto path = dir + "/" + name;
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode))
      continue;
    std::string why;
    int fd = connect_to(path, why);
    if (fd >= 0) {
      ::close(fd);
      out.push_back(path);
    }
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

class connection {
public:
  // Finds the node and connects; on failure prints why and returns false.
  bool open(const options& o) {
    auto deadline =
        clock::now() + std::chrono::milliseconds(static_cast<long>(o.wait_s * 1000));
    std::string why;
    for (;;) {
      if (!o.control.empty()) {
        path_ = o.control;
        fd_ = connect_to(path_, why);
        if (fd_ >= 0)
          return true;
      } else {
        auto dir = net::default_control_dir();
        auto found = live_sockets(dir);
        if (found.size() == 1) {
          path_ = found.front();
          fd_ = connect_to(path_, why);
          if (fd_ >= 0)
            return true;
        } else if (found.size() > 1) {
          std::string list;
          for (auto& f : found)
            list += "\n  " + f;
          fail("several nodes run here; pick one with --control=PATH:" + list);
          return false;
        } else {
          path_ = dir;
          why = "no live control socket in it";
        }
      }
      if (clock::now() >= deadline || interrupted)
        break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50)); // bounded by --wait
    }
    fail("no node reachable at " + path_ + ": " + why +
         (o.control.empty() ? " (start one with `lanmesh agent`, or pass --control=PATH)"
                            : ""));
    return false;
  }

  ~connection() {
    if (fd_ >= 0)
      ::close(fd_);
  }

  const std::string& path() const { return path_; }

  bool send(const json& request) {
    auto line = json_line(request) + "\n";
    std::size_t off = 0;
    while (off < line.size()) {
      auto n = ::send(fd_, line.data() + off, line.size() - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return false;
      off += static_cast<std::size_t>(n);
    }
    return true;
  }

  enum class got { line, eof, timeout, interrupted, error };

  // The next line; `timeout_s` < 0 waits without end (until interrupted).
  got read_line(std::string& line, double timeout_s) {
    auto deadline =
        clock::now() + std::chrono::milliseconds(static_cast<long>(timeout_s * 1000));
    for (;;) {
      auto nl = buf_.find('\n');
      if (nl != std::string::npos) {
        line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return got::line;
      }
      if (interrupted)
        return got::interrupted;
      int wait_ms = -1;
      if (timeout_s >= 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                          clock::now());
        if (left.count() <= 0)
          return got::timeout;
        wait_ms = static_cast<int>(std::min<long>(left.count(), INT_MAX));
      }
      pollfd p{fd_, POLLIN, 0};
      int r = ::poll(&p, 1, wait_ms);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return got::error;
      if (r == 0)
        continue;
      char chunk[65536];
      auto n = ::recv(fd_, chunk, sizeof(chunk), 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return got::error;
      if (n == 0)
        return got::eof;
      buf_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  // One request, one reply. nullopt (and a message) if the node did not answer.
  std::optional<json> ask(const json& request, double timeout_s) {
    if (!send(request)) {
      fail("lost the connection to the node at " + path_);
      return std::nullopt;
    }
    std::string line;
    switch (read_line(line, timeout_s)) {
    case got::line:
      break;
    case got::timeout:
      fail("no answer from the node at " + path_ + " within " +
           std::to_string(static_cast<int>(timeout_s)) + " s");
      return std::nullopt;
    case got::interrupted:
      return std::nullopt;
    default:
      fail("the node at " + path_ + " closed the connection");
      return std::nullopt;
    }
    auto reply = json::parse(line, nullptr, false);
    if (reply.is_discarded() || !reply.is_object()) {
      fail("not a reply from the node at " + path_ + ": " + line.substr(0, 200));
      return std::nullopt;
    }
    return reply;
  }

private:
  std::string path_;
  int fd_ = -1;
  std::string buf_;
};

void print(const options& o, json reply) {
  reply.erase("ok");
  if (o.json) {
    std::cout << reply.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
  } else {
    for (auto& l : render_text(reply))
      std::cout << l << "\n";
  }
  std::cout.flush();
}

// A refusal: the node's message, status 1.
int refused(const json& reply) {
  fail(reply.value("message", std::string("the node refused")));
  return 1;
}

int simple(const options& o, const char* cmd) {
  connection c;
  if (!c.open(o))
    return 2;
  auto reply = c.ask(json{{"cmd", cmd}}, o.timeout_s);
  if (!reply)
    return 2;
  if (!reply->value("ok", false))
    return refused(*reply);
  print(o, *reply);
  return 0;
}

bool valid_utf8(const std::string& s) {
  // A round trip through the serializer in strict mode throws on bad UTF-8.
  try {
    (void)json(s).dump();
    return true;
  } catch (const json::exception&) {
    return false;
  }
}

std::string dir_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

// draw_topology.py from the build tree (tools/ beside build/) or from the
// installed package (share/lanmesh/tools beside bin/).
std::string find_drawing_tool(const std::string& program) {
  std::vector<std::string> dirs;
  char exe[PATH_MAX];
  auto n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0)
    dirs.push_back(dir_of(std::string(exe, static_cast<std::size_t>(n))));
  if (program.find('/') != std::string::npos)
    dirs.push_back(dir_of(program));
  for (auto& d : dirs)
    for (auto* rel :
         {"/../tools/draw_topology.py", "/../share/lanmesh/tools/draw_topology.py"}) {
      auto p = d + rel;
      if (access(p.c_str(), R_OK) == 0)
        return p;
    }
  return {};
}

bool write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text << "\n";
  out.close();
  return static_cast<bool>(out);
}

} // namespace

int members(const options& o) {
  return simple(o, "members");
}
int peers(const options& o) {
  return simple(o, "peers");
}
int stats(const options& o) {
  return simple(o, "stats");
}

int send(const options& o, const std::string& text) {
  if (text != "-") {
    if (!valid_utf8(text)) {
      fail("send: the text is not valid UTF-8");
      return 2;
    }
    connection c;
    if (!c.open(o))
      return 2;
    auto reply = c.ask(json{{"cmd", "send"}, {"payload", text}}, o.timeout_s);
    if (!reply)
      return 2;
    if (!reply->value("ok", false))
      return refused(*reply);
    print(o, *reply);
    return 0;
  }
  connection c;
  if (!c.open(o))
    return 2;
  int status = 0;
  std::string line;
  while (std::getline(std::cin, line)) {
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    if (line.empty())
      continue;
    if (!valid_utf8(line)) {
      fail("send: a line that is not valid UTF-8 was not sent");
      status = 1;
      continue;
    }
    auto reply = c.ask(json{{"cmd", "send"}, {"payload", line}}, o.timeout_s);
    if (!reply)
      return 2;
    if (!reply->value("ok", false)) {
      refused(*reply);
      status = 1;
      continue;
    }
    if (o.json) {
      reply->erase("ok");
      std::cout << json_line(*reply) << "\n"; // one line per message
      std::cout.flush();
    } else {
      print(o, *reply);
    }
  }
  return status;
}

int monitor(const options& o) {
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr); // no SA_RESTART: poll returns, we exit 0
  sigaction(SIGTERM, &sa, nullptr);
  connection c;
  if (!c.open(o))
    return 2;
  auto reply = c.ask(json{{"cmd", "monitor"}}, o.timeout_s);
  if (!reply)
    return interrupted ? 0 : 2;
  if (!reply->value("ok", false))
    return refused(*reply);
  reply->erase("ok");
  if (o.json) {
    // The stream's first line: whom it monitors (and that it has begun).
    std::cout << json_line(*reply) << "\n";
    std::cout.flush();
  } else {
    for (auto& l : render_text(*reply))
      std::cerr << l << "\n";
  }
  std::string line;
  for (;;) {
    auto r = c.read_line(line, -1);
    if (r == connection::got::interrupted)
      return 0;
    if (r != connection::got::line) {
      if (!o.json)
        std::cerr << "the node closed the connection (stopped)\n";
      return 0;
    }
    if (o.json) {
      std::cout << line << "\n"; // JSON lines, as the node sent them
    } else {
      auto ev = json::parse(line, nullptr, false);
      if (ev.is_discarded())
        continue;
      for (auto& l : render_text(ev))
        std::cout << l << "\n";
    }
    std::cout.flush();
  }
}

int topology(const options& o, const std::string& json_file,
             const std::string& png_file) {
  std::string tool;
  if (!png_file.empty()) {
    tool = find_drawing_tool(o.program);
    if (tool.empty()) {
      fail("topology --png: draw_topology.py not found (tools/ of the source tree, or "
           "share/lanmesh/tools of the installed package)");
      return 2;
    }
  }
  connection c;
  if (!c.open(o))
    return 2;
  auto reply = c.ask(json{{"cmd", "topology"}}, o.timeout_s);
  if (!reply)
    return 2;
  if (!reply->value("ok", false))
    return refused(*reply);
  reply->erase("ok");
  auto doc = json_line(*reply);
  if (json_file == "-") {
    std::cout << doc << "\n";
  } else if (!json_file.empty() && !write_file(json_file, doc)) {
    fail("topology: cannot write " + json_file);
    return 1;
  }
  if (!png_file.empty()) {
    auto snapshot = json_file;
    std::string tmp;
    if (snapshot.empty() || snapshot == "-") {
      char name[] = "/tmp/lanmesh-topology-XXXXXX";
      int fd = mkstemp(name);
      if (fd < 0 || ::close(fd) != 0 || !write_file(name, doc)) {
        fail("topology: cannot write a temporary file");
        return 1;
      }
      snapshot = tmp = name;
    }
    std::cout.flush();
    pid_t pid = fork();
    if (pid == 0) {
      execl(tool.c_str(), tool.c_str(), snapshot.c_str(), "-o", png_file.c_str(),
            static_cast<char*>(nullptr));
      std::fprintf(stderr, "lanmesh: topology --png: cannot run %s: %s\n", tool.c_str(),
                   std::strerror(errno));
      _exit(127);
    }
    int wstatus = 0;
    if (pid > 0)
      while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
      }
    if (!tmp.empty())
      unlink(tmp.c_str());
    if (pid < 0 || !WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
      fail("topology --png: " + tool + " failed");
      return 1;
    }
  }
  if (json_file != "-") {
    if (o.json) {
      std::cout << doc << "\n";
    } else {
      for (auto& l : render_text(*reply))
        std::cout << l << "\n";
      if (!json_file.empty())
        std::cout << "snapshot written to " << json_file << "\n";
      if (!png_file.empty())
        std::cout << "picture written to " << png_file << "\n";
    }
  }
  return 0;
}

int keys(const options& o, const std::string& op, const std::string& key) {
  connection c;
  if (!c.open(o))
    return 2;
  json req{{"cmd", "keys"}, {"op", op}};
  if (op != "list")
    req["key"] = key;
  auto reply = c.ask(req, o.timeout_s);
  if (!reply)
    return 2;
  if (!reply->value("ok", false))
    return refused(*reply);
  print(o, *reply);
  return 0;
}

int leave(const options& o) {
  connection c;
  if (!c.open(o))
    return 2;
  auto reply = c.ask(json{{"cmd", "leave"}}, o.timeout_s);
  if (!reply)
    return 2;
  if (!reply->value("ok", false))
    return refused(*reply);
  // The node closes the socket once it has said goodbye to every peer.
  std::string line;
  for (;;) {
    auto r = c.read_line(line, 10.0);
    if (r == connection::got::line)
      continue;
    if (r == connection::got::timeout) {
      fail("the node at " + c.path() + " did not stop within 10 s");
      return 1;
    }
    break;
  }
  print(o, *reply);
  return 0;
}

} // namespace lanmesh::client
