// --config FILE for every tool: one loader (libcore/config), one rule: a flag given on the
// command line wins over the file.
#pragma once

#include "config/config.h"

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

namespace pgsync::tool {

void add_config_option(CLI::App& app, std::string& path);
// Loads and validates the file (every problem reported; exit 2 when invalid); nullopt without one.
std::optional<config::Config> load_config(const std::string& path);
// True when the option was given on the command line.
bool given(const CLI::App& app, const std::string& option);

} // namespace pgsync::tool
