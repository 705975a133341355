// Typed access to a parsed pgsync.yaml for the loader: every read checks the node's type and
// records a diagnostic in the loader's wording instead of failing, so one run reports everything.
#pragma once

#include "config/config.h"
#include "config/diagnostic.h"
#include "config/yaml_document.h"

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace pgsync::config {

// What a YAML node holds, with the YAML 1.2 core schema resolving plain scalars.
enum class NodeType { Null, String, Integer, Number, Boolean, List, Mapping };
NodeType node_type(const YamlNode& node);
// "a string", "an integer", …, "null": for "must be X, not Y".
std::string type_phrase(NodeType type);

// Optimal string alignment distance (Damerau-Levenshtein with adjacent swaps), for "did you mean".
int edit_distance(std::string_view a, std::string_view b);

class Reader {
public:
    explicit Reader(std::vector<Diagnostic>& diagnostics) : m_diagnostics(diagnostics) {}

    void error(const Origin& where, std::string message, std::string hint = {});
    void warning(const Origin& where, std::string message, std::string hint = {});

    // Reports unknown and duplicate keys of a mapping; `context` is "source", "tables[0]", or empty
    // for the top level (whose keys are called sections).
    void check_keys(const YamlNode& mapping, const std::string& context,
                    std::initializer_list<const char*> known);
    // The value of the first entry named `key`, or nullptr.
    static const YamlNode* find(const YamlNode& mapping, std::string_view key);
    // True when `key` is present with a value other than null (a required key must be given).
    static bool given(const YamlNode& mapping, std::string_view key);

    // A type check with the message `"key" in "context" must be <type>, not <actual>`
    // (or `"key" must be …` at the top level).
    bool expect(const YamlNode& node, NodeType type, const std::string& key,
                const std::string& context);

    // Reads `key` of `mapping` into `out` when present and well typed (strings must be non-empty).
    // An explicit null ("key:" or "key: null") leaves the default, as `pgsync-config show` writes.
    void read(const YamlNode& mapping, const char* key, const std::string& context,
              Value<std::string>& out);
    void read(const YamlNode& mapping, const char* key, const std::string& context, Value<int>& out,
              int min, int max);
    void read(const YamlNode& mapping, const char* key, const std::string& context,
              Value<double>& out);
    void read(const YamlNode& mapping, const char* key, const std::string& context,
              Value<bool>& out);

    // A list of non-empty strings (each item checked), for "columns" and "operations".
    // Items are named "key[i]" in diagnostics.
    bool read_strings(const YamlNode& list, const std::string& key, const std::string& context,
                      std::vector<Value<std::string>>& out);

private:
    std::vector<Diagnostic>& m_diagnostics;
};

// `"key" in "context"`, or `"key"` at the top level.
std::string subject(const std::string& key, const std::string& context);
// "a", "b" and "c"
std::string quoted_list(std::initializer_list<const char*> words);

} // namespace pgsync::config
