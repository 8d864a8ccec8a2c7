#pragma once
// Node identities: random 64-bit numbers, shown as 16 lowercase hex digits.

#include <cstdint>
#include <optional>
#include <string>

namespace lanmesh {

using node_id = std::uint64_t;

/// A random, non-zero node id.
node_id random_node_id();

/// 16 lowercase hex digits, zero-padded.
std::string to_hex(std::uint64_t value);

/// Appends to_hex(value) to `out` (no temporary string).
void append_hex(std::string& out, std::uint64_t value);

/// Parses 1 to 16 hex digits; nullopt for anything else or for zero.
std::optional<node_id> parse_node_id(const std::string& text);

} // namespace lanmesh
