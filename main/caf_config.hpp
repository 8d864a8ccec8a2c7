#pragma once
// CAF's own configuration groups ([scheduler], [work-stealing], [logger], ...)
// in lanmesh's config file and on its command line. main/config.cpp parses
// lanmesh's groups itself and hands every other key here: CAF's option table
// (caf::actor_system_config) says whether the key exists and parses its value,
// so a typo stops the node like any bad value (CAF 0.17 alone would ignore it).

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace caf {
class actor_system_config;
}

namespace lanmesh {

/// nullopt if `key` is one of CAF's options and `raw` a valid value for it;
/// else why not ("unknown key", "not a valid uint64", ...). Usable as the
/// foreign_validator of load_config.
std::optional<std::string> check_caf_setting(const std::string& key,
                                             const std::string& raw);

/// Stores validated settings into `cfg`, in order (later ones win).
void apply_caf_settings(caf::actor_system_config& cfg,
                        const std::vector<std::pair<std::string, std::string>>& settings);

} // namespace lanmesh
