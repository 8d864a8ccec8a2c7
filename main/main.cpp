// lanmesh: `lanmesh [agent] [--group.key=value ...]` runs a node; the other
// subcommands talk to a running node over its control socket (main/client).

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <climits>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "main/caf_config.hpp"
#include "main/client.hpp"
#include "main/config.hpp"
#include "main/node.hpp"
#include "main/version.hpp"
#include "net/keyring.hpp"

namespace {

std::vector<std::string> default_config_paths() {
  std::vector<std::string> paths{"config/caf-application.conf"};
  char exe[PATH_MAX];
  auto n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) {
    std::string dir(exe, static_cast<std::size_t>(n));
    dir = dir.substr(0, dir.rfind('/'));
    paths.push_back(dir + "/../config/caf-application.conf"); // build tree
  }
  paths.push_back("/etc/lanmesh/caf-application.conf"); // installed package
  return paths;
}

int run_agent(const std::vector<std::string>& args) {
  auto result =
      lanmesh::load_config(args, default_config_paths(), lanmesh::check_caf_setting);
  if (auto* err = std::get_if<lanmesh::config_error>(&result)) {
    std::fprintf(stderr, "lanmesh: %s\n", err->message.c_str());
    return 2;
  }
  if (std::holds_alternative<lanmesh::help_requested>(result)) {
    std::fputs(lanmesh::config_help().c_str(), stdout);
    return 0;
  }
  return lanmesh::run_node(std::get<lanmesh::node_config>(result));
}

const char* description =
    "lanmesh: a peer-to-peer node for local networks.\n"
    "Without a subcommand (or with `agent`) it runs a node; the other subcommands\n"
    "talk to a running node over its control socket. Exit status: 0 done, 1 the\n"
    "node refused, 2 bad usage or no node reachable.";

} // namespace

int main(int argc, char** argv) {
  CLI::App app{description, "lanmesh"};
  app.set_version_flag("--version", "lanmesh " LANMESH_VERSION);
  app.allow_extras(); // `lanmesh --group.key=value ...` is the agent
  app.footer("\n" + lanmesh::config_help());
  auto* agent = app.add_subcommand("agent", "run a node (the default)");
  agent->allow_extras();
  agent->footer("\n" + lanmesh::config_help());

  lanmesh::client::options opts;
  opts.program = argv[0];
  auto client_options = [&](CLI::App* sub, bool json_flag = true) {
    sub->footer(""); // not the node options of the top level
    sub->add_option("--control", opts.control,
                    "the node's control socket (default: the only one in "
                    "${XDG_RUNTIME_DIR:-/tmp}/lanmesh-UID/)");
    sub->add_option("--wait", opts.wait_s,
                    "wait up to this many seconds for the node to accept")
        ->check(CLI::Range(0.0, 3600.0));
    if (json_flag)
      sub->add_flag("--json", opts.json, "JSON instead of text");
  };
  auto* members = app.add_subcommand("members", "every node the node knows of");
  client_options(members);
  auto* peers = app.add_subcommand("peers", "the node's links");
  client_options(peers);
  auto* stats = app.add_subcommand("stats", "the node's counters");
  client_options(stats);
  std::vector<std::string> words;
  auto* send = app.add_subcommand("send", "broadcast TEXT (`-`: each line of stdin)");
  client_options(send);
  send->add_option("text", words, "the text, or - to read lines from stdin")->required();
  auto* monitor =
      app.add_subcommand("monitor", "the node's events as they happen, until Ctrl+C");
  client_options(monitor, false);
  monitor->add_flag("--json", opts.json, "JSON lines instead of text");
  std::string json_file, png_file;
  auto* topology = app.add_subcommand("topology", "a snapshot of the whole cluster");
  client_options(topology, false);
  topology->add_option("--json", json_file,
                       "write the snapshot (JSON) to FILE (-: stdout)");
  topology->add_option(
      "--png", png_file,
      "draw it to FILE with draw_topology.py (needs python3-matplotlib)");
  auto* leave =
      app.add_subcommand("leave", "goodbye to every peer, then the node exits 0");
  client_options(leave);
  auto* keygen = app.add_subcommand(
      "keygen", "print a new cluster key (32 random bytes, base64) for security.keys");
  keygen->footer("");
  auto* keys = app.add_subcommand(
      "keys", "the node's cluster keys: list, install KEY, use KEY|ID, remove KEY|ID");
  client_options(keys);
  std::string keys_op = "list", keys_arg;
  keys->add_option("op", keys_op, "list, install, use or remove")
      ->check(CLI::IsMember({"list", "install", "use", "remove"}));
  keys->add_option("key", keys_arg,
                   "the key (base64; -: read it from stdin, out of sight of ps), or for "
                   "use and remove its id");
  app.require_subcommand(0, 1);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    std::fputs(app.help("", CLI::AppFormatMode::All).c_str(), stdout);
    return 0;
  } catch (const CLI::CallForVersion& v) {
    std::printf("%s\n", v.what());
    return 0;
  } catch (const CLI::ParseError& e) {
    // One line, like every other refusal.
    std::string what = e.what();
    for (auto& c : what)
      if (c == '\n')
        c = ' ';
    std::fprintf(stderr, "lanmesh: %s (see lanmesh --help)\n", what.c_str());
    return 2;
  }
  // A subcommand's own --help is thrown from inside it, with its help text.
  if (*members)
    return lanmesh::client::members(opts);
  if (*peers)
    return lanmesh::client::peers(opts);
  if (*stats)
    return lanmesh::client::stats(opts);
  if (*send) {
    std::string text;
    for (auto& w : words)
      text += (text.empty() ? "" : " ") + w;
    return lanmesh::client::send(opts, text);
  }
  if (*monitor)
    return lanmesh::client::monitor(opts);
  if (*keygen) {
    std::printf("%s\n", lanmesh::net::generate_key().c_str());
    return 0;
  }
  if (*keys) {
    if (keys_op != "list" && keys_arg.empty()) {
      std::fprintf(stderr,
                   "lanmesh: keys %s: needs the key%s (see lanmesh keys --help)\n",
                   keys_op.c_str(), keys_op == "install" ? "" : " or its id");
      return 2;
    }
    if (keys_arg == "-" && !std::getline(std::cin, keys_arg)) {
      std::fprintf(stderr, "lanmesh: keys %s: no key on stdin\n", keys_op.c_str());
      return 2;
    }
    return lanmesh::client::keys(opts, keys_op, keys_arg);
  }
  if (*topology)
    return lanmesh::client::topology(opts, json_file, png_file);
  if (*leave)
    return lanmesh::client::leave(opts);
  return run_agent(*agent ? agent->remaining() : app.remaining());
}
