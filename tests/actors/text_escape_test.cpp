// Text output escapes what could forge a line or drive a terminal, and keeps
// everything else as it is.

#include "actors/text_escape.hpp"

#include <gtest/gtest.h>

#include "actors/delivery_lines.hpp"
#include "actors/render.hpp"
#include "net/wire.hpp"

namespace lanmesh {
namespace {

TEST(text_escape, plain_text_and_utf8_pass_unchanged) {
  EXPECT_EQ(escape_text("hello, world"), "hello, world");
  EXPECT_EQ(escape_text("a\tb"), "a\tb");
  EXPECT_EQ(escape_text("grüße 日本 🎉"), "grüße 日本 🎉");
  EXPECT_EQ(escape_text("C:\\path"), "C:\\path");
  EXPECT_EQ(escape_text(""), "");
}

TEST(text_escape, newlines_cannot_forge_lines) {
  EXPECT_EQ(escape_text("hi\n[0000000000000001] forged"),
            "hi\\n[0000000000000001] forged");
  EXPECT_EQ(escape_text("a\r\nb"), "a\\r\\nb");
}

TEST(text_escape, terminal_controls_become_visible) {
  EXPECT_EQ(escape_text("\x1b[2J\x1b]0;title\x07"), "\\x1b[2J\\x1b]0;title\\x07");
  EXPECT_EQ(escape_text(std::string("a\0b", 3)), "a\\x00b");
  EXPECT_EQ(escape_text("\x7f"), "\\x7f");
  EXPECT_EQ(escape_text("\xc2\x9b"
                        "31m"),
            "\\u009b31m");                        // C1 CSI, as UTF-8
  EXPECT_EQ(escape_text("\xc2\xa0"), "\xc2\xa0"); // U+00A0 is not a control
}

TEST(text_escape, bytes_that_are_not_utf8_are_escaped_one_by_one) {
  EXPECT_EQ(escape_text("\x9b"
                        "31m"),
            "\\x9b31m"); // a raw 8-bit CSI
  EXPECT_EQ(escape_text("\xff\xfe"), "\\xff\\xfe");
  EXPECT_EQ(escape_text("\xe6\x97"), "\\xe6\\x97");          // cut short
  EXPECT_EQ(escape_text("\xc0\xaf"), "\\xc0\\xaf");          // overlong '/'
  EXPECT_EQ(escape_text("\xed\xa0\x80"), "\\xed\\xa0\\x80"); // a surrogate
}

std::vector<std::uint8_t> one_broadcast(const std::string& payload) {
  wire::broadcast b;
  b.origin = 0xab;
  b.epoch = 1;
  b.seq = 1;
  b.payload = payload;
  return wire::encode_broadcast(b);
}

TEST(text_escape, delivery_lines_escape_text_but_keep_json_exact) {
  auto f = one_broadcast("x\n[00000000000000cd] forged\x1b[31m");
  std::string text, jsonl;
  append_delivery_lines(text, f.data(), f.size(), false);
  append_delivery_lines(jsonl, f.data(), f.size(), true);
  EXPECT_EQ(text, "[00000000000000ab] x\\n[00000000000000cd] forged\\x1b[31m\n");
  auto j = json::parse(jsonl);
  EXPECT_EQ(j["payload"], "x\n[00000000000000cd] forged\x1b[31m");
}

TEST(text_escape, rendered_events_escape_strings_from_peers) {
  auto lines =
      render_text(json{{"event", "peer_down"}, {"peer", "1"}, {"reason", "a\nb"}});
  for (auto& l : lines)
    EXPECT_EQ(l.find('\n'), std::string::npos) << l;
  auto d =
      render_text(json{{"event", "deliver"}, {"origin", "ab"}, {"payload", "\x1b[2J"}});
  EXPECT_EQ(d.front(), "[ab] \\x1b[2J");
}

} // namespace
} // namespace lanmesh
