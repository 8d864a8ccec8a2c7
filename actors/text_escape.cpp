#include "actors/text_escape.hpp"

namespace lanmesh {

namespace {

const char* hex = "0123456789abcdef";

void append_hex_byte(std::string& out, const char* prefix, unsigned char b) {
  out += prefix;
  out += hex[b >> 4];
  out += hex[b & 0xf];
}

// The length of the valid UTF-8 sequence at `p` (1 to 4), or 0 if it is not
// one (overlong forms, surrogates and code points past U+10FFFF included).
std::size_t utf8_length(const unsigned char* p, std::size_t n) {
  auto cont = [&](std::size_t i) { return i < n && (p[i] & 0xc0) == 0x80; };
  if (p[0] >= 0xc2 && p[0] <= 0xdf)
    return cont(1) ? 2 : 0;
  if (p[0] >= 0xe0 && p[0] <= 0xef) {
    if (!cont(1) || !cont(2))
      return 0;
    if (p[0] == 0xe0 && p[1] < 0xa0)
      return 0; // overlong
    if (p[0] == 0xed && p[1] >= 0xa0)
      return 0; // a surrogate
    return 3;
  }
  if (p[0] >= 0xf0 && p[0] <= 0xf4) {
    if (!cont(1) || !cont(2) || !cont(3))
      return 0;
    if ((p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))
      return 0;
    return 4;
  }
  return 0;
}

} // namespace

void append_escaped_text(std::string& out, std::string_view text) {
  auto* p = reinterpret_cast<const unsigned char*>(text.data());
  std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    // A run of printable ASCII (the common case) is copied at once.
    std::size_t j = i;
    while (j < n && ((p[j] >= 0x20 && p[j] < 0x7f) || p[j] == '\t'))
      ++j;
    out.append(text.data() + i, j - i);
    if (j == n)
      return;
    i = j;
    unsigned char b = p[i];
    if (b == '\n') {
      out += "\\n";
      ++i;
    } else if (b == '\r') {
      out += "\\r";
      ++i;
    } else if (b < 0x80) {
      append_hex_byte(out, "\\x", b); // other C0 controls (ESC among them), DEL
      ++i;
    } else if (auto len = utf8_length(p + i, n - i); len == 0) {
      append_hex_byte(out, "\\x", b);
      ++i;
    } else if (len == 2 && b == 0xc2 && p[i + 1] < 0xa0) {
      append_hex_byte(out, "\\u00", p[i + 1]); // a C1 control
      i += 2;
    } else {
      out.append(text.data() + i, len);
      i += len;
    }
  }
}

} // namespace lanmesh
