// The one wrapper of yaml-cpp: text in, a plain tree with 1-based positions out, or diagnostics.
// Hostile input (binary, huge, deeply nested, alias bombs, several documents) becomes a
// diagnostic before or instead of reaching yaml-cpp; no yaml-cpp type or exception leaves here.
#pragma once

#include "config/config.h"
#include "config/diagnostic.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgsync::config {

struct YamlEntry;

// One node of a parsed document. Aliases are expanded (each use is a copy), within a budget.
struct YamlNode {
    enum class Kind { Null, Scalar, Sequence, Mapping };
    Kind kind = Kind::Null;
    std::string text;   // a scalar's text
    bool plain = false; // an untagged, unquoted scalar: its type comes from its text
    Origin origin;
    std::vector<YamlNode> items;    // a sequence's items
    std::vector<YamlEntry> entries; // a mapping's entries, in file order (duplicates kept)
};

struct YamlEntry {
    YamlNode key;
    YamlNode value;
};

// Limits on what parse_yaml accepts.
constexpr std::size_t kMaxFileBytes = 1024 * 1024;
constexpr int kMaxNesting = 64;
constexpr std::size_t kMaxNodes = 100000;

// Parses one YAML (or JSON) document. Returns the root (Kind::Null for a document of comments
// only), or nullopt after appending at least one error to `diagnostics`.
std::optional<YamlNode> parse_yaml(std::string_view text, const std::string& file,
                                   std::vector<Diagnostic>& diagnostics);

} // namespace pgsync::config
