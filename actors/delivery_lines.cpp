#include "actors/delivery_lines.hpp"

#include <charconv>
#include <chrono>

#include "actors/json.hpp"
#include "actors/proto/node_id.hpp"
#include "actors/text_escape.hpp"
#include "net/wire.hpp"

namespace lanmesh {

std::int64_t unix_micros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {

void append_int(std::string& out, std::int64_t value) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  (void)ec;
  out.append(buf, end);
}

} // namespace

void append_delivery_lines(std::string& out, const std::uint8_t* frames, std::size_t size,
                           bool jsonl) {
  out.reserve(out.size() + size + size / 2); // escapes aside
  auto ts = jsonl ? unix_micros() : 0;       // one read of the clock per batch
  wire::for_each_broadcast(
      frames, size, [&](const wire::broadcast_view& e, const std::uint8_t*, std::size_t) {
        if (!jsonl) {
          out += '[';
          append_hex(out, e.origin);
          out += "] ";
          append_escaped_text(out, e.payload); // a payload cannot forge lines
          out += '\n';
          return;
        }
        // The fields and order json::object would give.
        out += R"({"event":"deliver","ts":)";
        append_int(out, ts);
        out += R"(,"origin":")";
        append_hex(out, e.origin);
        out += R"(","msg":")";
        append_hex(out, e.origin);
        append_hex(out, e.epoch);
        append_hex(out, e.seq);
        out += R"(","seq":)";
        append_int(out, static_cast<std::int64_t>(e.seq));
        out += R"(,"hops":)";
        append_int(out, e.hops);
        out += R"(,"payload":)";
        json::quote_to(out, e.payload);
        out += "}\n";
      });
}

std::string gap_line(const wire::stream_range& r, bool jsonl) {
  std::string out;
  if (!jsonl) {
    out = "* gap: messages " + std::to_string(r.first) + ".." + std::to_string(r.last) +
          " of [";
    append_hex(out, r.origin);
    out += "] will not arrive (no neighbour has them any more)\n";
    return out;
  }
  out += R"({"event":"gap","ts":)";
  append_int(out, unix_micros());
  out += R"(,"origin":")";
  append_hex(out, r.origin);
  out += R"(","epoch":")";
  append_hex(out, r.epoch);
  out += R"(","first":)";
  append_int(out, static_cast<std::int64_t>(r.first));
  out += R"(,"last":)";
  append_int(out, static_cast<std::int64_t>(r.last));
  out += "}\n";
  return out;
}

} // namespace lanmesh
