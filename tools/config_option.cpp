// --config handling shared by the tools.
#include "config_option.h"

#include "config/load.h"

namespace pgsync::tool {

void add_config_option(CLI::App& app, std::string& path) {
    app.add_option("--config", path,
                   "Read settings from this pgsync.yaml (flags on the command line win)");
}

std::optional<config::Config> load_config(const std::string& path) {
    if (path.empty()) return std::nullopt;
    return config::load_or_throw(path);
}

bool given(const CLI::App& app, const std::string& option) {
    return app.count(option) > 0;
}

} // namespace pgsync::tool
