// Printing configuration diagnostics: compiler-style text for people, JSON for editors and CI.
#include "config/diagnostic.h"

#include <nlohmann/json.hpp>

namespace pgsync::config {

namespace {
const char* severity_word(Severity severity) {
    return severity == Severity::Error ? "error" : "warning";
}
} // namespace

std::string format_text(const std::vector<Diagnostic>& diagnostics) {
    std::string out;
    for (const Diagnostic& d : diagnostics) {
        out += d.origin.file;
        if (d.origin.line > 0) {
            out += ':' + std::to_string(d.origin.line);
            if (d.origin.column > 0) out += ':' + std::to_string(d.origin.column);
        }
        out += ": ";
        out += severity_word(d.severity);
        out += ": " + d.message + '\n';
        if (!d.hint.empty()) out += "hint: " + d.hint + '\n';
    }
    return out;
}

std::string format_json(const std::vector<Diagnostic>& diagnostics) {
    nlohmann::json array = nlohmann::json::array();
    for (const Diagnostic& d : diagnostics) {
        array.push_back({{"file", d.origin.file},
                         {"line", d.origin.line},
                         {"column", d.origin.column},
                         {"severity", severity_word(d.severity)},
                         {"message", d.message},
                         {"hint", d.hint}});
    }
    // Replacement instead of an exception: a message quoting the user's bytes is always printable.
    return array.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + '\n';
}

bool has_errors(const std::vector<Diagnostic>& diagnostics) {
    for (const Diagnostic& d : diagnostics)
        if (d.severity == Severity::Error) return true;
    return false;
}

} // namespace pgsync::config
