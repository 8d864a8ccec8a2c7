#pragma once
// Minimal JSON output for the console's jsonl mode: one flat object per line.

#include <cstdint>
#include <string>
#include <string_view>

namespace lanmesh::json {

/// A JSON string literal (quotes included). Valid UTF-8 passes through;
/// control characters and bytes that are not UTF-8 are escaped as \u00XX, so
/// any payload yields valid JSON.
std::string quote(const std::string& s);

/// Appends quote(s) to `out`.
void quote_to(std::string& out, std::string_view s);

/// Builds `{"k":v,...}` in insertion order.
class object {
public:
  object& str(const char* key, const std::string& value);
  object& num(const char* key, std::int64_t value);
  object& unum(const char* key, std::uint64_t value);
  object& raw(const char* key, const std::string& json);
  std::string done() const { return out_ + "}"; }

private:
  void key(const char* k);
  std::string out_ = "{";
};

} // namespace lanmesh::json
