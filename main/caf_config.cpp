#include "main/caf_config.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/config_option_set.hpp>

#include "main/config.hpp"

namespace lanmesh {

namespace {

// The option table is protected in CAF 0.17: a subclass reads it.
struct option_table : caf::actor_system_config {
  const caf::config_option* find(const std::string& key) const {
    // `global` holds CAF's own command-line switches (help, config-file, ...),
    // which lanmesh handles itself.
    if (key.rfind("global.", 0) == 0)
      return nullptr;
    return custom_options_.qualified_name_lookup(key);
  }
};

const option_table& table() {
  static const option_table t;
  return t;
}

// A string option takes lanmesh's string syntax (quotes optional, `\"`
// escapes), as in lanmesh's own groups; other types CAF's value syntax.
caf::expected<caf::config_value> parse_value(const caf::config_option& opt,
                                             const std::string& raw) {
  if (opt.type_name() == "string") {
    if (auto s = parse_config_string(raw))
      return caf::config_value{*s};
    return caf::make_error(caf::pec::unexpected_character);
  }
  return opt.parse(raw);
}

std::string type_of(const caf::config_option& opt) {
  auto t = opt.type_name();
  return std::string(t.data(), t.size());
}

} // namespace

std::optional<std::string> check_caf_setting(const std::string& key,
                                             const std::string& raw) {
  auto* opt = table().find(key);
  if (!opt)
    return std::string("unknown key");
  auto v = parse_value(*opt, raw);
  if (!v)
    return "not a valid " + type_of(*opt) + " (CAF option)";
  if (auto err = opt->check(*v))
    return "not a valid " + type_of(*opt) + " (CAF option)";
  return std::nullopt;
}

void apply_caf_settings(
    caf::actor_system_config& cfg,
    const std::vector<std::pair<std::string, std::string>>& settings) {
  for (auto& [key, raw] : settings) {
    auto* opt = table().find(key);
    if (!opt)
      continue; // validated before; cannot happen
    if (auto v = parse_value(*opt, raw))
      cfg.set(key, std::move(*v));
  }
}

} // namespace lanmesh
