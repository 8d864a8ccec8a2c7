#include "main/node.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <caf/all.hpp>
#include <cstdio>
#include <future>
#include <memory>
#include <mutex>
#include <thread>

#include "actors/acceptor.hpp"
#include "actors/connection.hpp"
#include "actors/console.hpp"
#include "actors/control.hpp"
#include "actors/delivery_lines.hpp"
#include "actors/discovery.hpp"
#include "actors/logging.hpp"
#include "actors/router.hpp"
#include "actors/supervisor.hpp"
#include "actors/tree_host.hpp"
#include "main/caf_config.hpp"
#include "main/version.hpp"
#include "net/control_socket.hpp"
#include "net/interfaces.hpp"
#include "net/io_thread.hpp"
#include "net/metrics_http.hpp"
#include "net/stdout_writer.hpp"
#include "net/tcp_listener.hpp"
#include "net/udp_multicast.hpp"

namespace lanmesh {

namespace {

// Reads stdin lines and hands them to the console. EOF ends the reading, not
// the node, so `lanmesh </dev/null &` runs as a daemon. It waits for stdin or
// for its eventfd, which the destructor signals, so that it can be joined at
// shutdown without waking up while the node idles.
class stdin_reader {
public:
  stdin_reader(console_actor console, std::size_t max_line)
      : console_(std::move(console)), max_line_(max_line), wake_(eventfd(0, EFD_CLOEXEC)),
        thread_([this] { run(); }) {}
  ~stdin_reader() {
    stop_ = true;
    if (wake_ >= 0) {
      std::uint64_t one = 1;
      [[maybe_unused]] auto w = write(wake_, &one, sizeof(one));
    }
    thread_.join();
    if (wake_ >= 0)
      close(wake_);
  }

private:
  void run() {
    std::string line;
    char buf[65536];
    while (!stop_) {
      pollfd p[2] = {{STDIN_FILENO, POLLIN, 0}, {wake_, POLLIN, 0}};
      // Without an eventfd (never seen), poll a few times a second instead.
      int r = poll(p, wake_ >= 0 ? 2 : 1, wake_ >= 0 ? -1 : 250);
      if (r <= 0 || stop_ ||
          (p[0].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) == 0)
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
        } else if (line.size() <= max_line_) {
          // One byte past the limit is kept so the console can refuse the line
          // with its real cause; the rest is not buffered.
          line.push_back(buf[i]);
        }
      }
      if (!lines.empty())
        caf::anon_send(console_, line_atom::value, std::move(lines));
    }
  }

  console_actor console_;
  std::size_t max_line_;
  std::atomic<bool> stop_{false};
  int wake_;
  std::thread thread_;
};

// Why the node stops on its own with status 2 (another node has its id).
struct fatal_stop {
  std::mutex m;
  std::string message;
  void set(std::string text) {
    std::lock_guard<std::mutex> g(m);
    if (message.empty())
      message = std::move(text);
  }
  std::string get() {
    std::lock_guard<std::mutex> g(m);
    return message;
  }
};

} // namespace

int run_node(const node_config& cfg_in) {
  auto cfg = cfg_in;
  node_id self_id = cfg.id ? *cfg.id : random_node_id();
  // The discovery interface as an address (a name or `auto` resolved here).
  std::optional<net::interface_choice> iface;
  if (cfg.discovery_enabled) {
    std::string why;
    iface = net::resolve_interface(cfg.discovery_interface, why);
    if (!iface) {
      std::fprintf(stderr, "lanmesh: config: discovery.interface = %s: %s\n",
                   cfg.discovery_interface.c_str(), why.c_str());
      return 2;
    }
  }
  if (auto err = logging::init(cfg.log_level, cfg.log_file, to_hex(self_id));
      !err.empty()) {
    std::fprintf(stderr, "lanmesh: config: log.file = %s: %s\n", cfg.log_file.c_str(),
                 err.c_str());
    return 2;
  }
  auto log = logging::get("main");
  // The cluster keys, all checked by the config already.
  std::vector<net::cluster_key> ring;
  for (auto& k : cfg.keys)
    ring.push_back(*net::parse_key(k));
  auto keys =
      std::make_shared<net::keyring_holder>(std::make_shared<const net::keyring>(ring));
  fatal_stop fatal; // outlives every actor (declared before the actor system)
  std::string iface_addr = iface ? iface->address : std::string("127.0.0.1");
  if (iface) {
    if (cfg.discovery_interface != iface->address)
      log->info("discovery.interface {}: {} ({})", cfg.discovery_interface, iface->name,
                iface->address);
    if (iface->loopback)
      log->warn("discovery is on the loopback interface ({}): only nodes on this machine "
                "can find this node. To find nodes on the LAN, set discovery.interface "
                "to an interface name (e.g. --discovery.interface=eth0), its IPv4 "
                "address, or auto",
                iface->address);
  }

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
                                 iface_addr, cfg.discovery_ttl, err);
    if (!mcast) {
      std::fprintf(stderr, "lanmesh: discovery on %s:%u via %s: %s\n",
                   cfg.discovery_group.c_str(), unsigned{cfg.discovery_port},
                   iface_addr.c_str(), err.c_str());
      return 1;
    }
  }
  // The control socket, named after the TCP port unless configured.
  auto control_path = cfg.control_socket.empty()
                          ? net::default_control_path(listener->port())
                          : cfg.control_socket;
  std::shared_ptr<net::control_server> ctl;
  {
    std::string err;
    bool in_use = false;
    ctl = net::control_server::open(io.context(), control_path, {}, err, in_use);
    if (!ctl) {
      std::fprintf(stderr, "lanmesh: config: control.socket = %s: %s\n",
                   control_path.c_str(), err.c_str());
      return in_use ? 1 : 2;
    }
  }
  std::shared_ptr<net::metrics_server> metrics;
  std::string metrics_addr;
  if (!cfg.metrics_listen.empty()) {
    auto colon = cfg.metrics_listen.rfind(':');
    auto host = cfg.metrics_listen.substr(0, colon);
    auto port =
        static_cast<std::uint16_t>(std::stoul(cfg.metrics_listen.substr(colon + 1)));
    std::string err;
    metrics = net::metrics_server::open(io.context(), host, port, {}, err);
    if (!metrics) {
      std::fprintf(stderr, "lanmesh: metrics.listen = %s: %s\n",
                   cfg.metrics_listen.c_str(), err.c_str());
      ctl->close();
      return 1;
    }
    metrics_addr = (host == "localhost" ? "127.0.0.1" : host) + ":" +
                   std::to_string(metrics->port());
  }

  // Said once, when nothing can fail any more (a refusal stays one line).
  if (ring.empty())
    std::fprintf(
        stderr, "lanmesh: no cluster key: any host that can reach this node may join the "
                "cluster and read its messages. Set one: lanmesh keygen, then "
                "--security.keys=[\"KEY\"] (or security.key-file)\n");
  else
    log->info("cluster key {} ({} key(s) accepted)", ring.front().id_hex(), ring.size());

  caf::actor_system_config sys_cfg;
  // lanmesh's defaults for CAF; the config's CAF groups override them below.
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
  apply_caf_settings(sys_cfg, cfg.caf_settings);
  for (auto& [key, value] : cfg.caf_settings)
    log->info("CAF setting {} = {}", key, value);
  caf::actor_system sys{sys_cfg};

  console_settings cs;
  cs.self = self_id;
  cs.jsonl = cfg.console_output == "jsonl";
  cs.max_payload = cfg.max_payload;
  // stdout has one writer, on the I/O thread, which it never blocks.
  auto out = net::stdout_writer::make(io.context(), STDOUT_FILENO);
  cs.write_line = [out](const std::string& line) { out->post(line + '\n'); };
  cs.write_error = [](const std::string& line) {
    std::fprintf(stderr, "%s\n", line.c_str());
  };
  cs.quit = [] { kill(getpid(), SIGTERM); };
  cs.publish = [ctl](const std::string& line) { ctl->publish(line + '\n'); };
  cs.monitored = [ctl] { return ctl->monitored(); };
  cs.control_path = ctl->path();
  cs.metrics_addr = metrics_addr;
  auto console_a = sys.spawn(console, cs);

  router_settings rs;
  rs.self = self_id;
  rs.max_payload = cfg.max_payload;
  rs.seen_max_entries = cfg.seen_max_entries;
  rs.seen_max_age = std::chrono::seconds(cfg.seen_max_age_s);
  // This node's broadcast stream and its membership incarnation start at
  // its start time (us): a restart is a new stream, and outranks its past.
  auto epoch = static_cast<std::uint64_t>(unix_micros());
  rs.epoch = epoch;
  rs.mode = cfg.broadcast_mode;
  // Deliveries are printed on the I/O thread, where the broadcast plane
  // finds them, without a hand-off to another thread.
  auto deliver = [out, ctl, jsonl = cs.jsonl](relay::frames_ptr frames, std::size_t) {
    std::string text;
    append_delivery_lines(text, frames->data(), frames->size(), jsonl);
    if (ctl->monitored()) {
      // Monitors always get JSON lines.
      if (jsonl) {
        ctl->publish(text);
      } else {
        std::string lines;
        append_delivery_lines(lines, frames->data(), frames->size(), true);
        ctl->publish(std::move(lines));
      }
    }
    out->write(std::move(text));
  };
  std::shared_ptr<broadcast_plane> fast_path;
  auto tree_timer = std::make_shared<boost::asio::steady_timer>(io.context());
  if (cfg.broadcast_mode == "flood") {
    // Flooding: duplicates dropped by the seen-cache, every new broadcast
    // forwarded to every other link (the behaviour before the tree).
    fast_path =
        std::make_shared<relay>(self_id, epoch, cfg.seen_max_entries,
                                std::chrono::seconds(cfg.seen_max_age_s), deliver);
  } else {
    tree_params tp;
    tp.history_age = std::chrono::seconds(cfg.history_age_s);
    tp.history_bytes = cfg.history_bytes;
    auto gap = [out, ctl, jsonl = cs.jsonl](const wire::stream_range& r) {
      auto line = gap_line(r, true);
      if (ctl->monitored())
        ctl->publish(line);
      out->write(jsonl ? line : gap_line(r, false));
      logging::get("router")->warn(
          "messages {}..{} of {} will not arrive: no neighbour has "
          "them any more",
          r.first, r.last, to_hex(r.origin));
    };
    auto host = std::make_shared<tree_host>(self_id, epoch, tp, deliver, gap);
    // One timer for the tree's next wake-up, on the I/O thread.
    std::weak_ptr<tree_host> weak = host;
    host->set_arm([tree_timer, weak](std::chrono::steady_clock::time_point at) {
      tree_timer->expires_at(at);
      tree_timer->async_wait([weak](boost::system::error_code ec) {
        if (auto h = weak.lock(); h && !ec)
          h->tick(std::chrono::steady_clock::now());
      });
    });
    fast_path = host;
  }
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
  link->record->incarnation = epoch;
  link->tree = cfg.broadcast_mode == "tree";
  link->handshake_timeout = std::chrono::milliseconds(cfg.handshake_timeout_ms);
  link->heartbeat = std::chrono::milliseconds(cfg.heartbeat_ms);
  link->suspect_after = link->heartbeat + link->heartbeat / 6;
  link->dead_after = std::chrono::milliseconds(cfg.dead_after_ms);
  link->dead_after_max = 4 * link->dead_after;
  link->fast_path = fast_path;
  link->keys = keys;
  supervisor_settings ss;
  ss.link = link;
  ss.peers = cfg.peers;
  ss.max_payload = cfg.max_payload;
  ss.max_pending = cfg.max_pending;
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
  // The maintenance beats on the heartbeats' grid, a whole fraction of the
  // heartbeat no longer than 600 ms: an idle node wakes once per beat for
  // both (actors/proto/beat_grid.hpp).
  {
    auto hb = link->heartbeat.count();
    auto parts = std::max<std::int64_t>(1, (hb + 599) / 600);
    ss.maintain_interval =
        std::chrono::milliseconds(std::max<std::int64_t>(1, hb / parts));
  }
  ss.self_addr = (cfg.listen != "0.0.0.0" ? cfg.listen : iface_addr) + ":" +
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
    dp.own_ip = iface_addr;
    dp.own_udp_port = mcast->local_port();
    auto on_clash = [&fatal, self_id](const std::string& addr) {
      fatal.set("node.id = " + to_hex(self_id) + ": already used by the node at " + addr);
      kill(getpid(), SIGTERM);
    };
    discovery_a = sys.spawn(discovery, dp, mcast, supervisor_a, on_clash, keys);
    caf::anon_send(supervisor_a, wire_atom::value, discovery_a);
  }
  caf::anon_send(console_a, wire_atom::value, router_a, supervisor_a, discovery_a);

  control_settings ks;
  ks.self = self_id;
  ks.cluster = cfg.cluster;
  ks.self_addr = ss.self_addr;
  ks.version = LANMESH_VERSION;
  ks.max_payload = cfg.max_payload;
  ks.leave = [] { kill(getpid(), SIGTERM); };
  ks.output_dropped = [out] { return out->dropped(); };
  ks.publish = cs.publish;
  ks.keys = keys;
  ks.accept_backoffs = [listener] { return listener->backoffs(); };
  auto control_a = sys.spawn(control, ks);
  caf::anon_send(control_a, wire_atom::value, router_a, supervisor_a, discovery_a);
  caf::anon_send(console_a, wire_atom::value, control_a);
  ctl->start([control_a](std::shared_ptr<net::control_client> client, std::string line) {
    // A weak reference: a client that went away is not kept alive (nor
    // destroyed) by an actor's thread; the server's set holds it meanwhile.
    std::weak_ptr<net::control_client> weak = client;
    caf::anon_send(control_a, request_atom::value, std::move(line),
                   control_reply{[weak](std::string reply, control_then then) {
                     auto client = weak.lock();
                     if (!client)
                       return;
                     switch (then) {
                     case control_then::next:
                       client->reply(std::move(reply));
                       break;
                     case control_then::monitor:
                       client->reply_and_monitor(std::move(reply));
                       break;
                     case control_then::close:
                       client->reply_and_close(std::move(reply));
                       break;
                     }
                   }});
  });
  if (metrics) {
    metrics->start([control_a](std::function<void(std::string)> done) {
      caf::anon_send(control_a, metrics_atom::value, metrics_reply{std::move(done)});
    });
    log->info("metrics on http://{}/metrics", metrics_addr);
  }
  log->info("control socket {}", ctl->path());
  auto acceptor_a = sys.spawn(acceptor, listener, supervisor_a);
  caf::anon_send(console_a, ev_ready{self_id, listener->port(), cfg.cluster});

  int signo = 0;
  auto input = std::make_unique<stdin_reader>(console_a, cfg.max_payload);
  sigwait(&sigs, &signo);
  log->info("stopping ({})", signo == SIGINT ? "SIGINT" : "SIGTERM or /quit");

  // Shutdown order: stop accepting, say goodbye on every link and wait for the
  // links to close, then stop the actors and the I/O thread.
  caf::anon_send_exit(acceptor_a, caf::exit_reason::user_shutdown);
  if (metrics)
    metrics->close();
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
  // Every peer has its goodbye: a `lanmesh leave` waiting on the control
  // socket sees it close now.
  ctl->close();
  if (!ctl->wait_closed(std::chrono::seconds(3)))
    log->warn("stopping: control clients still open after 3 s");
  for (auto& a :
       {caf::actor_cast<caf::actor>(console_a), caf::actor_cast<caf::actor>(router_a),
        supervisor_a, caf::actor_cast<caf::actor>(control_a)})
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
  tree_timer->cancel();
  // The plane's writers hold sessions whose sinks hold the plane: break the
  // cycle now that no thread runs it.
  fast_path->clear();
  auto why = fatal.get();
  log->info("stopped");
  spdlog::shutdown();
  if (!why.empty()) {
    std::fprintf(stderr, "lanmesh: %s\n", why.c_str());
    return 2;
  }
  return 0;
}

} // namespace lanmesh
