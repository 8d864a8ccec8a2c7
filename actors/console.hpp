#pragma once
// The console: stdin lines become broadcasts, `/`-commands become requests to
// the control actor (the same commands as the control socket's), and events
// become lines on stdout, as text for people or as JSON lines for programs;
// events also go to the control socket's monitors. Deliveries are printed by
// the relay on the I/O thread (delivery_lines.hpp); both go through one
// writer (net/stdout_writer).

#include <caf/all.hpp>
#include <functional>
#include <string>

#include "actors/messages.hpp"

namespace lanmesh {

struct console_settings {
  node_id self = 0;
  bool jsonl = false;
  std::size_t max_payload = 65536;
  std::function<void(const std::string&)> write_line;  // one line, no newline
  std::function<void(const std::string&)> write_error; // text-mode errors (stderr)
  std::function<void()> quit;                          // `/quit`
  /// Events (JSON, no newline) for the control socket's monitors; may be empty.
  std::function<void(const std::string&)> publish;
  /// Whether anyone monitors (so events are built only then); may be empty.
  std::function<bool()> monitored;
  /// Shown in the ready event: the control socket, the metrics address.
  std::string control_path;
  std::string metrics_addr;
};

console_actor::behavior_type console(console_actor::pointer self,
                                     console_settings settings);

} // namespace lanmesh
