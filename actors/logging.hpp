#pragma once
// One named spdlog logger per actor kind ("supervisor", "connection", ...), all
// writing to one sink: the log file, or stderr. Never stdout, which belongs to
// the console's output.

#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace lanmesh::logging {

/// Sets level and sink for every logger. Returns an error text if the log file
/// cannot be opened. Safe to call more than once (tests do).
std::string init(const std::string& level, const std::string& file,
                 const std::string& node);

/// The logger of one actor kind, created on first use: a restarted actor reuses
/// it, since spdlog throws when a name is registered twice.
std::shared_ptr<spdlog::logger> get(const std::string& name);

} // namespace lanmesh::logging
