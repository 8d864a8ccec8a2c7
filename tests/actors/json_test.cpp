// Tests of the console's JSON output (actors/json.hpp).
#include "actors/json.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <string>

namespace lanmesh::json {
namespace {

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above
// U+10FFFF.
bool valid_utf8(const std::string& s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n;
    std::uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      n = 2;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 3;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n > s.size())
      return false;
    for (std::size_t k = 1; k < n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80)
        return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += n;
  }
  return true;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

// Parses one JSON string literal (RFC 8259) and returns its decoded UTF-8
// value, or nullopt if `s` is not exactly one valid string literal.
std::optional<std::string> parse_json_string(const std::string& s) {
  if (!valid_utf8(s) || s.size() < 2 || s.front() != '"' || s.back() != '"')
    return std::nullopt;
  std::string out;
  const std::size_t end = s.size() - 1; // index of the closing quote
  for (std::size_t i = 1; i < end; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == '"')
      return std::nullopt;
    if (c != '\\') {
      out.push_back(static_cast<char>(c));
      continue;
    }
    if (i + 1 >= end)
      return std::nullopt; // the backslash escapes the closing quote
    ++i;
    switch (s[i]) {
    case '"':
      out.push_back('"');
      break;
    case '\\':
      out.push_back('\\');
      break;
    case '/':
      out.push_back('/');
      break;
    case 'b':
      out.push_back('\b');
      break;
    case 'f':
      out.push_back('\f');
      break;
    case 'n':
      out.push_back('\n');
      break;
    case 'r':
      out.push_back('\r');
      break;
    case 't':
      out.push_back('\t');
      break;
    case 'u': {
      if (i + 4 >= end)
        return std::nullopt;
      std::uint32_t cp = 0;
      for (int k = 1; k <= 4; ++k) {
        char h = s[i + static_cast<std::size_t>(k)];
        int d = (h >= '0' && h <= '9')   ? h - '0'
                : (h >= 'a' && h <= 'f') ? h - 'a' + 10
                : (h >= 'A' && h <= 'F') ? h - 'A' + 10
                                         : -1;
        if (d < 0)
          return std::nullopt;
        cp = (cp << 4) | static_cast<std::uint32_t>(d);
      }
      if (cp >= 0xd800 && cp <= 0xdfff)
        return std::nullopt; // quote() never needs surrogate pairs
      append_utf8(out, cp);
      i += 4;
      break;
    }
    default:
      return std::nullopt;
    }
  }
  return out;
}

TEST(JsonQuote, PlainAscii) {
  EXPECT_EQ(quote(""), "\"\"");
  EXPECT_EQ(quote("hello world"), "\"hello world\"");
  EXPECT_EQ(quote("/path/{x}[1]'s'"), "\"/path/{x}[1]'s'\"");
}

TEST(JsonQuote, EscapesQuotesAndBackslash) {
  EXPECT_EQ(quote("a\"b"), R"("a\"b")");
  EXPECT_EQ(quote("a\\b"), R"("a\\b")");
  EXPECT_EQ(quote("\\\""), R"("\\\"")");
  EXPECT_EQ(quote("\\"), R"("\\")"); // a trailing backslash must not eat the quote
}

TEST(JsonQuote, EscapesNewlineTabReturn) {
  EXPECT_EQ(quote("a\nb"), R"("a\nb")");
  EXPECT_EQ(quote("a\rb"), R"("a\rb")");
  EXPECT_EQ(quote("a\tb"), R"("a\tb")");
}

TEST(JsonQuote, EscapesOtherControlCharsAsU00XX) {
  EXPECT_EQ(quote(std::string("\0", 1)), R"("\u0000")");
  EXPECT_EQ(quote("\x01"), R"("\u0001")");
  EXPECT_EQ(quote("\b"), R"("\u0008")");
  EXPECT_EQ(quote("\f"), R"("\u000c")");
  EXPECT_EQ(quote("\x1b[31m"), R"("\u001b[31m")");
  EXPECT_EQ(quote("\x1f"), R"("\u001f")");
  EXPECT_EQ(quote("\x7f"), R"("\u007f")");
  EXPECT_EQ(quote(std::string("a\0b", 3)), R"("a\u0000b")");
}

TEST(JsonQuote, ValidMultiByteUtf8PassesThrough) {
  EXPECT_EQ(quote("\xc3\xa9"), "\"\xc3\xa9\"");                                 // é
  EXPECT_EQ(quote("caf\xc3\xa9"), "\"caf\xc3\xa9\"");                           // café
  EXPECT_EQ(quote("\xe6\x97\xa5\xe6\x9c\xac"), "\"\xe6\x97\xa5\xe6\x9c\xac\""); // 日本
  EXPECT_EQ(quote("\xf0\x9f\x98\x80"), "\"\xf0\x9f\x98\x80\"");                 // 😀
  EXPECT_EQ(quote("\xe2\x82\xac 5"), "\"\xe2\x82\xac 5\"");                     // € 5
  EXPECT_EQ(quote("\xef\xbf\xbd"), "\"\xef\xbf\xbd\"");                         // U+FFFD
  EXPECT_EQ(quote("\xf4\x8f\xbf\xbf"), "\"\xf4\x8f\xbf\xbf\""); // U+10FFFF
  EXPECT_EQ(quote("\xc2\x80"), "\"\xc2\x80\"");                 // U+0080
}

TEST(JsonQuote, InvalidBytesAreEscaped) {
  EXPECT_EQ(quote("\xff"), R"("\u00ff")");
  EXPECT_EQ(quote("\x80"), R"("\u0080")");
  EXPECT_EQ(quote("\xfe\xff"), R"("\u00fe\u00ff")");
  EXPECT_EQ(quote("abc\xc3"), R"("abc\u00c3")");     // lone lead byte at the end
  EXPECT_EQ(quote("\xc3("), R"("\u00c3(")");         // lead byte, no continuation
  EXPECT_EQ(quote("\xe6\x97"), R"("\u00e6\u0097")"); // 3-byte sequence cut short
  EXPECT_EQ(quote("\xf0\x9f\x98"), R"("\u00f0\u009f\u0098")");
  // A valid character right after an invalid byte survives.
  EXPECT_EQ(quote("\xff\xc3\xa9"), "\"\\u00ff\xc3\xa9\"");
}

TEST(JsonQuote, EverySingleByteGivesValidJson) {
  for (int b = 0; b < 256; ++b) {
    std::string in(1, static_cast<char>(b));
    auto out = quote(in);
    auto back = parse_json_string(out);
    ASSERT_TRUE(back.has_value()) << "byte " << b << " -> " << out;
    // ASCII decodes to itself; any other lone byte b decodes to U+00bb.
    std::string expected;
    append_utf8(expected, static_cast<std::uint32_t>(b));
    EXPECT_EQ(*back, expected) << "byte " << b;
  }
}

TEST(JsonQuote, ValidUtf8RoundTripsThroughAJsonParser) {
  std::string text = "line \"one\"\n\ttab \\ back\r caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac "
                     "\xf0\x9f\x98\x80 \x01\x7f";
  auto back = parse_json_string(quote(text));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, text);
}

TEST(JsonQuote, RandomAsciiAndValidUtf8AlwaysValidJson) {
  // Random strings over ASCII (controls included) and whole valid characters.
  const std::string pieces[] = {"\xc3\xa9", "\xe6\x97\xa5", "\xf0\x9f\x98\x80", "\"",
                                "\\"};
  std::mt19937 rng(4242);
  std::uniform_int_distribution<int> pick(0, 132);
  for (int round = 0; round < 500; ++round) {
    std::string in;
    for (int k = 0; k < 40; ++k) {
      int p = pick(rng);
      if (p < 128)
        in.push_back(static_cast<char>(p));
      else
        in += pieces[p - 128];
    }
    auto back = parse_json_string(quote(in));
    ASSERT_TRUE(back.has_value()) << round;
    EXPECT_EQ(*back, in) << round;
  }
}

TEST(JsonQuote, NonUtf8SequencesAreEscapedSoOutputIsValidUtf8) {
  // Regression test for a fixed bug (actors/json.cpp:10-16, utf8_len): a sequence is
  // accepted as UTF-8 when its lead byte has the right bit pattern and its continuation
  // bytes are 10xxxxxx, without rejecting overlong forms (C0/C1 leads, E0 80..9F,
  // F0 80..8F), UTF-16 surrogates (ED A0..BF) or code points above U+10FFFF
  // (F4 90.., F5..F7 leads). quote("\xc0\xaf") returns "\xc0\xaf" in quotes
  // unchanged; expected "\u00c0\u00af". The output is then not valid UTF-8,
  // hence not valid JSON (RFC 8259 section 8.1), contrary to json.hpp's
  // "any payload yields valid JSON"; a strict reader rejects the whole line.
  EXPECT_EQ(quote("\xc0\xaf"), R"("\u00c0\u00af")");                     // overlong '/'
  EXPECT_EQ(quote("\xc1\xbf"), R"("\u00c1\u00bf")");                     // overlong
  EXPECT_EQ(quote("\xe0\x80\x80"), R"("\u00e0\u0080\u0080")");           // overlong NUL
  EXPECT_EQ(quote("\xed\xa0\x80"), R"("\u00ed\u00a0\u0080")");           // surrogate D800
  EXPECT_EQ(quote("\xf4\x90\x80\x80"), R"("\u00f4\u0090\u0080\u0080")"); // > U+10FFFF
  EXPECT_EQ(quote("\xf5\x80\x80\x80"), R"("\u00f5\u0080\u0080\u0080")");
  // Every pair of bytes yields valid JSON.
  for (int a = 0; a < 256; ++a)
    for (int b = 0; b < 256; ++b) {
      std::string in{static_cast<char>(a), static_cast<char>(b)};
      ASSERT_TRUE(parse_json_string(quote(in)).has_value()) << a << "," << b;
    }
}

TEST(JsonObject, EmptyObject) {
  EXPECT_EQ(object().done(), "{}");
}

TEST(JsonObject, InsertionOrderAndTypes) {
  auto s = object()
               .str("type", "deliver")
               .unum("origin", 42)
               .num("delta", -7)
               .raw("ok", "true")
               .str("text", "a \"quoted\" line\n")
               .done();
  EXPECT_EQ(s, R"({"type":"deliver","origin":42,"delta":-7,"ok":true,)"
               R"("text":"a \"quoted\" line\n"})");
  auto back = object().num("z", 1).num("a", 2).done();
  EXPECT_EQ(back, R"({"z":1,"a":2})"); // not sorted
}

TEST(JsonObject, NumberExtremes) {
  EXPECT_EQ(object().num("n", 0).done(), R"({"n":0})");
  EXPECT_EQ(object().num("min", std::numeric_limits<std::int64_t>::min()).done(),
            R"({"min":-9223372036854775808})");
  EXPECT_EQ(object().num("max", std::numeric_limits<std::int64_t>::max()).done(),
            R"({"max":9223372036854775807})");
  EXPECT_EQ(object().unum("u", std::numeric_limits<std::uint64_t>::max()).done(),
            R"({"u":18446744073709551615})");
  EXPECT_EQ(object().unum("u", 0).done(), R"({"u":0})");
}

TEST(JsonObject, KeysAreQuotedAndRawIsVerbatim) {
  EXPECT_EQ(object().str("k\"ey", "v").done(), R"({"k\"ey":"v"})");
  EXPECT_EQ(object().raw("list", R"([1,"two"])").raw("obj", "{}").done(),
            R"({"list":[1,"two"],"obj":{}})");
  EXPECT_EQ(object().str("bin", "\xff").done(), R"({"bin":"\u00ff"})");
}

TEST(JsonObject, DoneCanBeCalledRepeatedly) {
  object o;
  o.num("a", 1);
  EXPECT_EQ(o.done(), R"({"a":1})");
  EXPECT_EQ(o.done(), R"({"a":1})");
  o.num("b", 2);
  EXPECT_EQ(o.done(), R"({"a":1,"b":2})");
}

} // namespace
} // namespace lanmesh::json
