#pragma once
// How deliveries are printed: one line per broadcast, as text for people
// ("[origin] payload") or as a JSON line for programs. Used on the I/O
// thread, where the relay finds new broadcasts, so it builds the text
// without temporaries (a busy node prints tens of thousands per second).
//
// This writer stays hand-written on purpose: every other JSON lanmesh makes
// goes through nlohmann-json (actors/render.hpp), but the delivery path
// appends straight into one buffer per batch, with json::quote_to's run-wise
// escaping, and no DOM per line; building an nlohmann object per delivery
// would allocate several strings per line on the node's hottest path
// (bench/FINDINGS.md: a delivery costs 3-4 us of CPU in all).

#include <cstddef>
#include <cstdint>
#include <string>

#include "net/wire.hpp"

namespace lanmesh {

/// Wall-clock time in microseconds since the Unix epoch, the `ts` of every
/// JSON line, so that streams of several nodes on one machine can be merged
/// and latencies measured.
std::int64_t unix_micros();

/// Appends one line per BROADCAST frame in `frames` (whole frames, as the
/// relay forwards them), each ending in '\n'.
void append_delivery_lines(std::string& out, const std::uint8_t* frames, std::size_t size,
                           bool jsonl);

/// The line that says messages first..last of a stream will not arrive: a
/// `gap` event, or a `*` line for people. Ends in '\n'.
std::string gap_line(const wire::stream_range& r, bool jsonl);

} // namespace lanmesh
