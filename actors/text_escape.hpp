#pragma once
// Text from the network shown to people (text output, logs). A payload or a
// peer's reason string may hold anything; on a terminal, a newline would
// forge a line ("[id] ..." from another node) and an escape sequence would
// drive the terminal. So controls become visible escapes: \n, \r, and \xHH
// for the other C0 controls, DEL and bytes that are not UTF-8; C1 controls
// (U+0080..U+009F) become \u00HH. Tab stays. Valid UTF-8 passes unchanged,
// and so does plain ASCII, cheaply. JSON output never goes through this: it
// escapes by the JSON rules and stays exact.

#include <string>
#include <string_view>

namespace lanmesh {

/// Appends `text` to `out`, controls escaped as above.
void append_escaped_text(std::string& out, std::string_view text);

inline std::string escape_text(std::string_view text) {
  std::string out;
  append_escaped_text(out, text);
  return out;
}

} // namespace lanmesh
