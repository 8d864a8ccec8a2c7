#include "actors/json.hpp"

namespace lanmesh::json {

namespace {

// Length of the well-formed UTF-8 sequence starting at s[i], or 0 if it is not
// one (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF).
std::size_t utf8_len(std::string_view s, std::size_t i) {
  auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  auto c = b(0);
  if (c < 0x80)
    return 1;
  std::size_t n;
  unsigned char lo = 0x80, hi = 0xbf; // allowed range of the second byte
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0)
      lo = 0xa0; // overlong
    if (c == 0xed)
      hi = 0x9f; // surrogates
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0)
      lo = 0x90; // overlong
    if (c == 0xf4)
      hi = 0x8f; // above U+10FFFF
  } else {
    return 0;
  }
  if (i + n > s.size() || b(1) < lo || b(1) > hi)
    return 0;
  for (std::size_t k = 2; k < n; ++k)
    if ((b(k) & 0xc0) != 0x80)
      return 0;
  return n;
}

} // namespace

void quote_to(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out.reserve(out.size() + s.size() + 2);
  out.push_back('"');
  for (std::size_t i = 0; i < s.size();) {
    // Printable ASCII other than quote and backslash goes in as one run: a
    // typical payload is copied in one append instead of byte by byte.
    auto run = i;
    while (run < s.size() && s[run] >= 0x20 && s[run] < 0x7f && s[run] != '"' &&
           s[run] != '\\')
      ++run;
    if (run > i) {
      out.append(s, i, run - i);
      i = run;
      continue;
    }
    auto c = static_cast<unsigned char>(s[i]);
    auto n = utf8_len(s, i);
    if (n > 1) {
      out.append(s, i, n);
      i += n;
      continue;
    }
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      out += "\\u00";
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 0xf]);
    }
    ++i;
  }
  out.push_back('"');
}

std::string quote(const std::string& s) {
  std::string out;
  quote_to(out, s);
  return out;
}

void object::key(const char* k) {
  if (out_.size() > 1)
    out_.push_back(',');
  quote_to(out_, k);
  out_.push_back(':');
}

object& object::str(const char* k, const std::string& value) {
  key(k);
  quote_to(out_, value);
  return *this;
}

object& object::num(const char* k, std::int64_t value) {
  key(k);
  out_ += std::to_string(value);
  return *this;
}

object& object::unum(const char* k, std::uint64_t value) {
  key(k);
  out_ += std::to_string(value);
  return *this;
}

object& object::raw(const char* k, const std::string& json) {
  key(k);
  out_ += json;
  return *this;
}

} // namespace lanmesh::json
