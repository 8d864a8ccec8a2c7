#pragma once
// Events and replies as people read them. The node's events and the control
// socket's replies are JSON objects (README "JSON-lines output"); the stdin
// console in text mode and the `lanmesh` client commands without --json turn
// them into lines of text here, so both show the same thing. Plain C++ with
// nlohmann-json; no CAF.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace lanmesh {

/// JSON objects keep their keys in insertion order ("event" first).
using json = nlohmann::ordered_json;

/// One line of JSON, no newline. Strings that are not valid UTF-8 have the
/// offending bytes replaced (U+FFFD): the output is always valid JSON.
std::string json_line(const json& j);

/// The text lines of one event or reply (`event` names its kind). Unknown
/// kinds are shown as their JSON.
std::vector<std::string> render_text(const json& event);

} // namespace lanmesh
