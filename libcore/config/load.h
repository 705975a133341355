// Loading pgsync.yaml (YAML, JSON accepted): syntax, schema and semantic checks in one pass that
// reports every problem, never stops at the first, and never crashes or hangs on hostile input.
#pragma once

#include "config/config.h"
#include "config/diagnostic.h"

#include <string>
#include <string_view>
#include <vector>

namespace pgsync::config {

struct LoadResult {
    Config config;                       // defaults where the file had nothing (or was invalid)
    std::vector<Diagnostic> diagnostics; // empty when the file is valid
};

// Parses and validates text as if read from file `name`.
LoadResult load_text(std::string_view text, const std::string& name);
// Reads and loads a file; a file that cannot be read is one diagnostic.
LoadResult load_file(const std::string& path);

// For tools: loads the file and throws a usage Error (exit 2) carrying every diagnostic's text
// when there is any error; warnings are logged.
Config load_or_throw(const std::string& path);

} // namespace pgsync::config
