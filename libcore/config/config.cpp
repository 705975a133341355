// The connection string a configuration stands for.
#include "config/config.h"

#include "util/error.h"

#include <cstdlib>

namespace pgsync::config {

std::string Config::resolved_dsn() const {
    if (source.dsn.set) return source.dsn.value;
    if (!source.dsn_env.set) return {};
    const char* value = std::getenv(source.dsn_env.value.c_str());
    if (!value)
        throw usage_error("environment variable \"" + source.dsn_env.value +
                              "\" named by \"dsn_env\" in \"" + file + "\" is not set",
                          "Set it to a connection string, or give \"dsn\" in \"source\".");
    return value;
}

} // namespace pgsync::config
