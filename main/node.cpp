#include "main/node.hpp"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <caf/all.hpp>
#include <cstdio>
#include <future>
#include <memory>
#include <thread>

#include "actors/acceptor.hpp"
#include "actors/connection.hpp"
#include "actors/console.hpp"
#include "actors/delivery_lines.hpp"
#include "actors/discovery.hpp"
#include "actors/logging.hpp"
#include "actors/router.hpp"
#include "actors/supervisor.hpp"
#include "net/io_thread.hpp"
#include "net/stdout_writer.hpp"
#include "net/tcp_listener.hpp"
#include "net/udp_multicast.hpp"

namespace lanmesh {

namespace {

// Reads stdin lines and hands them to the console. EOF ends the reading, not
// the node, so `lanmesh </dev/null &` runs as a daemon. Polls so that it can be
// joined at shutdown.
class stdin_reader {
public:
  stdin_reader(console_actor console, std::size_t max_line)
      : console_(std::move(console)), max_line_(max_line), thread_([this] { run(); }) {}
  ~stdin_reader() {
    stop_ = true;
    thread_.join();
  }

private:
  void run() {
    std::string line;
    bool overlong = false;
    char buf[65536];
    while (!stop_) {
      pollfd p{STDIN_FILENO, POLLIN, 0};
      int r = poll(&p, 1, 100);
      if (r <= 0)
        continue;
      auto n = read(STDIN_FILENO, buf, sizeof(buf));
      if (n <= 0)
        return; // EOF or error: the node keeps running
      // The lines of one read travel together: one message, not one per line.
      std::vector<std::string> lines;
      for (ssize_t i = 0; i < n; ++i) {
        if (buf[i] == '\n') {
          lines.push_back(std::move(line));
          line.clear();
          overlong = false;
        } else if (line.size() <= max_line_) {
          // One byte past the limit is kept so the console can refuse the line
          // with its real cause; the rest is not buffered.
          line.push_back(buf[i]);
        } else {
          overlong = true;
        }
      }
      (void)overlong;
      if (!lines.empty())
        caf::anon_send(console_, line_atom::value, std::move(lines));
    }
  }

  console_actor console_;
  std::size_t max_line_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

} // namespace

int run_node(const node_config& cfg) {
  node_id self_id = cfg.id ? *cfg.id : random_node_id();
  if (auto err = logging::init(cfg.log_level, cfg.log_file, to_hex(self_id));
      !err.empty()) {
    std::fprintf(stderr, "lanmesh: config: log.file = %s: %s\n", cfg.log_file.c_str(),
                 err.c_str());
    return 2;
  }
  auto log = logging::get("main");

  // Signals are taken by sigwait in this thread only: block them before any
  // other thread exists so every thread inherits the mask.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  net::io_thread io;
  std::string bind_error;
  auto listener =
      net::tcp_listener::bind(io.context(), cfg.listen, cfg.port, cfg.port_first,
                              cfg.port_last, cfg.max_payload, bind_error);
  if (!listener) {
    std::fprintf(stderr, "lanmesh: %s\n", bind_error.c_str());
    return 1;
  }
  log->info("node {} cluster {} listening on {}:{} (config {})", to_hex(self_id),
            cfg.cluster, cfg.listen, listener->port(),
            cfg.config_file.empty() ? "defaults" : cfg.config_file);
  std::shared_ptr<net::udp_multicast> mcast;
  if (cfg.discovery_enabled) {
    std::string err;
    mcast =
        net::udp_multicast::open(io.context(), cfg.discovery_group, cfg.discovery_port,
                                 cfg.discovery_interface, cfg.discovery_ttl, err);
    if (!mcast) {
      std::fprintf(stderr, "lanmesh: discovery on %s:%u via %s: %s\n",
                   cfg.discovery_group.c_str(), unsigned{cfg.discovery_port},
                   cfg.discovery_interface.c_str(), err.c_str());
      return 1;
    }
  }

  caf::actor_system_config sys_cfg;
  sys_cfg.set("scheduler.max-threads", 2);
  // CAF's workers poll hard for work before sleeping; an idle node mostly
  // waits, so let them fall asleep after a few polls, on a condition
  // variable that new work signals. Its timeout only paces work stealing
  // (our actors' jobs are microseconds), so it can be long: with 10 ms and
  // 50 us naps between polls, 20 idle nodes spent twice the CPU
  // (bench/FINDINGS.md, 2026-12-01).
  sys_cfg.set("work-stealing.aggressive-poll-attempts", 4);
  sys_cfg.set("work-stealing.moderate-poll-attempts", 0);
  sys_cfg.set("work-stealing.relaxed-sleep-duration",
              caf::timespan{std::chrono::seconds(1)});
  caf::actor_system sys{sys_cfg};

  console_settings cs;
  cs.self = self_id;
  cs.jsonl = cfg.console_output == "jsonl";
  cs.max_payload = cfg.max_payload;
  // stdout has one writer, on the I/O thread, which it never blocks.
  auto out = net::stdout_writer::make(io.context(), STDOUT_FILENO);
  cs.write_line = [out](const std::string& line) { out->post(line + '\n'); };
  cs.output_dropped = [out] { return out->dropped(); };
  cs.write_error = [](const std::string& line) {
    std::fprintf(stderr, "%s\n", line.c_str());
  };
  cs.quit = [] { kill(getpid(), SIGTERM); };
  auto console_a = sys.spawn(console, cs);

  router_settings rs;
  rs.self = self_id;
  rs.max_payload = cfg.max_payload;
  rs.seen_max_entries = cfg.seen_max_entries;
  rs.seen_max_age = std::chrono::seconds(cfg.seen_max_age_s);
  // The relay lives on the I/O thread: frames are deduplicated, forwarded
  // and printed where they arrive, without a hand-off to another thread.
  auto fast_path = std::make_shared<relay>(
      self_id, cfg.seen_max_entries, std::chrono::seconds(cfg.seen_max_age_s),
      [out, jsonl = cs.jsonl](relay::frames_ptr frames, std::size_t) {
        std::string text;
        append_delivery_lines(text, frames->data(), frames->size(), jsonl);
        out->write(std::move(text));
      });
  auto router_a =
      sys.spawn(router, rs,
                relay_host{fast_path, [&ioc = io.context()](std::function<void()> task) {
                             boost::asio::post(ioc, std::move(task));
                           }});

  // The probe socket answers "are you there?" from peers whose link to us
  // has gone silent (actors/proto/probe_tracker.hpp).
  std::string probe_error;
  auto probe_socket = net::udp_probe::open(io.context(), cfg.listen, probe_error);
  if (!probe_socket) {
    std::fprintf(stderr, "lanmesh: %s\n", probe_error.c_str());
    return 1;
  }
  auto seed = self_id ^ static_cast<std::uint64_t>(
                            std::chrono::steady_clock::now().time_since_epoch().count());
  auto link = std::make_shared<link_settings>();
  link->self = self_id;
  link->cluster = cfg.cluster;
  link->listen_port = listener->port();
  link->probe_port = probe_socket->port();
  // The incarnation grows at every start: wall-clock microseconds.
  link->record->incarnation = static_cast<std::uint64_t>(unix_micros());
  link->handshake_timeout = std::chrono::milliseconds(cfg.handshake_timeout_ms);
  link->heartbeat = std::chrono::milliseconds(cfg.heartbeat_ms);
  link->suspect_after = link->heartbeat + link->heartbeat / 4;
  link->dead_after = std::chrono::milliseconds(cfg.dead_after_ms);
  link->dead_after_max = 4 * link->dead_after;
  link->fast_path = fast_path;
  supervisor_settings ss;
  ss.link = link;
  ss.peers = cfg.peers;
  ss.max_payload = cfg.max_payload;
  ss.redial_min = std::chrono::milliseconds(cfg.redial_min_ms);
  ss.redial_max = std::chrono::milliseconds(cfg.redial_max_ms);
  ss.overlay.target_degree = cfg.target_degree;
  ss.overlay.max_degree = cfg.max_degree;
  ss.overlay.seed = seed;
  ss.membership.max_members = cfg.max_members;
  ss.membership.sync_interval = std::chrono::milliseconds(cfg.sync_interval_ms);
  ss.membership.reconnect_for = std::chrono::milliseconds(cfg.reconnect_for_ms);
  ss.membership.seed = seed + 1;
  ss.probes.give_up = link->dead_after_max;
  ss.probes.seed = seed + 2;
  ss.probe_socket = probe_socket;
  ss.manage = cfg.overlay_manage;
  ss.self_addr = (cfg.listen != "0.0.0.0" ? cfg.listen : cfg.discovery_interface) + ":" +
                 std::to_string(listener->port());
  auto supervisor_a = sys.spawn(supervisor, ss, &io.context(), router_a, console_a);
  caf::actor discovery_a;
  if (mcast) {
    discovery_params dp;
    dp.self = self_id;
    dp.cluster = cfg.cluster;
    dp.tcp_port = listener->port();
    dp.query_window = std::chrono::milliseconds(cfg.discovery_query_window_ms);
    dp.announce_min = std::chrono::milliseconds(cfg.discovery_announce_min_ms);
    dp.announce_max = std::chrono::milliseconds(cfg.discovery_announce_max_ms);
    dp.candidate_max_age = 3 * dp.announce_max;
    dp.seed = self_id ^ static_cast<std::uint64_t>(
                            std::chrono::steady_clock::now().time_since_epoch().count());
    discovery_a = sys.spawn(discovery, dp, mcast, supervisor_a);
    caf::anon_send(supervisor_a, wire_atom::value, discovery_a);
  }
  caf::anon_send(console_a, wire_atom::value, router_a, supervisor_a, discovery_a);
  auto acceptor_a = sys.spawn(acceptor, listener, supervisor_a);
  caf::anon_send(console_a, ev_ready{self_id, listener->port(), cfg.cluster});

  int signo = 0;
  auto input = std::make_unique<stdin_reader>(console_a, cfg.max_payload);
  sigwait(&sigs, &signo);
  log->info("stopping ({})", signo == SIGINT ? "SIGINT" : "SIGTERM or /quit");

  // Shutdown order: stop accepting, say goodbye on every link and wait for the
  // links to close, then stop the actors and the I/O thread.
  caf::anon_send_exit(acceptor_a, caf::exit_reason::user_shutdown);
  if (discovery_a)
    caf::anon_send_exit(discovery_a, caf::exit_reason::user_shutdown);
  {
    caf::scoped_actor self{sys};
    self->request(supervisor_a, std::chrono::seconds(2), shutdown_atom::value)
        .receive([](bool) {},
                 [&](caf::error& e) { log->warn("shutdown: {}", sys.render(e)); });
  }
  // The stdin reader polls every 100 ms: joined only now, so that it does not
  // delay the goodbyes.
  input.reset();
  for (auto& a : {caf::actor_cast<caf::actor>(console_a),
                  caf::actor_cast<caf::actor>(router_a), supervisor_a})
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  {
    // What the console printed before it stopped is written before the I/O
    // thread stops: its lines were posted there, ahead of this marker.
    caf::scoped_actor self{sys};
    self->wait_for(caf::actor_cast<caf::actor>(console_a));
    auto marker = std::make_shared<std::promise<void>>();
    auto reached = marker->get_future();
    boost::asio::post(io.context(), [marker] { marker->set_value(); });
    if (reached.wait_for(std::chrono::seconds(1)) != std::future_status::ready)
      log->warn("stopping: the I/O thread did not reach the end of the output in 1 s");
  }
  io.stop();
  if (auto left = out->finish(std::chrono::seconds(1)))
    log->warn("stdout: {} bytes not written (reader too slow)", left);
  // The relay's writers hold sessions whose sinks hold the relay: break the
  // cycle now that no thread runs it.
  fast_path->clear();
  log->info("stopped");
  spdlog::shutdown();
  return 0;
}

} // namespace lanmesh
