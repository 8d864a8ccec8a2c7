#pragma once
// The console: stdin lines become broadcasts, `/`-commands become queries, and
// events become lines on stdout, as text for people or as JSON lines for
// programs. Deliveries are printed by the relay on the I/O thread
// (delivery_lines.hpp); both go through one writer (net/stdout_writer).

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
  /// Bytes of output dropped because stdout's reader fell too far behind.
  std::function<std::uint64_t()> output_dropped;
};

console_actor::behavior_type console(console_actor::pointer self,
                                     console_settings settings);

} // namespace lanmesh
