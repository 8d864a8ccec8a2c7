#pragma once
// The `lanmesh` commands that talk to a running node over its control socket
// (members, peers, send, stats, monitor, topology, leave). Plain C++ (POSIX
// sockets, nlohmann-json): one JSON request line, then the reply lines, shown
// as text (actors/render.hpp) or, with --json, as JSON.
//
// Exit status: 0 done, 1 the node refused (an error reply), 2 bad usage or no
// node reachable (the message names the socket path tried).

#include <string>
#include <vector>

namespace lanmesh::client {

struct options {
  std::string control;   // --control=PATH; empty: the only socket in the default folder
  bool json = false;     // --json
  double wait_s = 0;     // --wait: seconds to wait for the node to accept
  double timeout_s = 20; // for each reply
  std::string program;   // argv[0], to find the drawing tool
};

int members(const options& o);
int peers(const options& o);
int stats(const options& o);
/// `text` "-": every line of stdin is one broadcast.
int send(const options& o, const std::string& text);
int monitor(const options& o);
int topology(const options& o, const std::string& json_file, const std::string& png_file);
int leave(const options& o);
/// `keys list`, `keys install KEY`, `keys use KEY|ID`, `keys remove KEY|ID`.
int keys(const options& o, const std::string& op, const std::string& key);

} // namespace lanmesh::client
