// Diagnostics about a configuration: every problem of a run is collected, then printed as
// FILE:LINE:COLUMN: error: message, with a hint line, or as JSON for editors and CI.
#pragma once

#include "config/config.h"

#include <string>
#include <vector>

namespace pgsync::config {

enum class Severity { Error, Warning };

struct Diagnostic {
    Severity severity = Severity::Error;
    Origin origin;       // line/column 0 when the problem is the whole file
    std::string message; // PostgreSQL style: lower case, no trailing period
    std::string hint;    // a full sentence, or empty
};

// "pgsync.yaml:3:5: error: unknown key "publicaton" in "source"\nhint: Did you mean
// "publication"?\n"
std::string format_text(const std::vector<Diagnostic>& diagnostics);
// [{"file":…,"line":…,"column":…,"severity":"error","message":…,"hint":…}, …]
std::string format_json(const std::vector<Diagnostic>& diagnostics);
bool has_errors(const std::vector<Diagnostic>& diagnostics);

} // namespace pgsync::config
