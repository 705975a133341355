// Typed reads with diagnostics for the pgsync.yaml loader, and the "did you mean" for keys.
#include "config/reader.h"

#include "util/suggest.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>

namespace pgsync::config {

namespace {

bool all_of(std::string_view s, bool (*pred)(char)) {
    return !s.empty() && std::all_of(s.begin(), s.end(), pred);
}
bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_octal(char c) {
    return c >= '0' && c <= '7';
}
bool is_hex(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

std::string_view without_sign(std::string_view s) {
    if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
    return s;
}

bool is_integer(std::string_view s) {
    if (s.size() > 2 && s[0] == '0' && s[1] == 'o') return all_of(s.substr(2), is_octal);
    if (s.size() > 2 && s[0] == '0' && s[1] == 'x') return all_of(s.substr(2), is_hex);
    return all_of(without_sign(s), is_digit);
}

// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? and the .inf / .nan spellings.
bool is_float(std::string_view s) {
    for (std::string_view special : {".inf", ".Inf", ".INF"})
        if (without_sign(s) == special) return true;
    if (s == ".nan" || s == ".NaN" || s == ".NAN") return true;
    s = without_sign(s);
    std::size_t i = 0, digits = 0;
    while (i < s.size() && is_digit(s[i]))
        ++i, ++digits;
    if (i < s.size() && s[i] == '.') {
        ++i;
        while (i < s.size() && is_digit(s[i]))
            ++i, ++digits;
    }
    if (digits == 0) return false;
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
        ++i;
        if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
        std::size_t start = i;
        while (i < s.size() && is_digit(s[i]))
            ++i;
        if (i == start) return false;
    }
    return i == s.size();
}

bool is_boolean(std::string_view s) {
    return s == "true" || s == "True" || s == "TRUE" || s == "false" || s == "False" ||
           s == "FALSE";
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    return out;
}

} // namespace

NodeType node_type(const YamlNode& node) {
    switch (node.kind) {
    case YamlNode::Kind::Null:
        return NodeType::Null;
    case YamlNode::Kind::Sequence:
        return NodeType::List;
    case YamlNode::Kind::Mapping:
        return NodeType::Mapping;
    case YamlNode::Kind::Scalar:
        break;
    }
    if (!node.plain) return NodeType::String;
    if (is_boolean(node.text)) return NodeType::Boolean;
    if (is_integer(node.text)) return NodeType::Integer;
    if (is_float(node.text)) return NodeType::Number;
    return NodeType::String;
}

std::string type_phrase(NodeType type) {
    switch (type) {
    case NodeType::Null:
        return "null";
    case NodeType::String:
        return "a string";
    case NodeType::Integer:
        return "an integer";
    case NodeType::Number:
        return "a number";
    case NodeType::Boolean:
        return "a boolean";
    case NodeType::List:
        return "a list";
    case NodeType::Mapping:
        return "a mapping";
    }
    return "a value";
}

std::string subject(const std::string& key, const std::string& context) {
    if (context.empty()) return '"' + key + '"';
    return '"' + key + "\" in \"" + context + '"';
}

std::string quoted_list(std::initializer_list<const char*> words) {
    std::string out;
    std::size_t i = 0;
    for (const char* word : words) {
        if (i > 0) out += (i + 1 == words.size()) ? " and " : ", ";
        out += '"' + std::string(word) + '"';
        ++i;
    }
    return out;
}

void Reader::error(const Origin& where, std::string message, std::string hint) {
    m_diagnostics.push_back(
        Diagnostic{Severity::Error, where, std::move(message), std::move(hint)});
}

void Reader::warning(const Origin& where, std::string message, std::string hint) {
    m_diagnostics.push_back(
        Diagnostic{Severity::Warning, where, std::move(message), std::move(hint)});
}

void Reader::check_keys(const YamlNode& mapping, const std::string& context,
                        std::initializer_list<const char*> known) {
    std::map<std::string, int> first_line;
    for (const YamlEntry& entry : mapping.entries) {
        const NodeType key_type = node_type(entry.key);
        if (key_type == NodeType::List || key_type == NodeType::Mapping ||
            key_type == NodeType::Null) {
            error(entry.key.origin,
                  "a key in " + (context.empty() ? std::string("the file") : '"' + context + '"') +
                      " must be a string, not " + type_phrase(key_type));
            continue;
        }
        const std::string& name = entry.key.text;
        if (std::find_if(known.begin(), known.end(), [&](const char* k) { return name == k; }) !=
            known.end()) {
            auto [it, inserted] = first_line.emplace(name, entry.key.origin.line);
            if (!inserted)
                error(entry.key.origin,
                      "duplicate key \"" + name + "\"" +
                          (context.empty() ? "" : " in \"" + context + '"'),
                      "The first \"" + name + "\" is at line " + std::to_string(it->second) + ".");
            continue;
        }
        const char* best = nullptr;
        int best_distance = 3;
        for (const char* k : known) {
            int distance = pgsync::edit_distance(lower(name), k);
            if (distance < best_distance) best = k, best_distance = distance;
        }
        std::string hint;
        if (best)
            hint = "Did you mean \"" + std::string(best) + "\"?";
        else if (context.empty())
            hint = "Valid sections are " + quoted_list(known) + ".";
        else
            hint = "Valid keys in \"" + context + "\" are " + quoted_list(known) + ".";
        error(entry.key.origin,
              context.empty() ? "unknown section \"" + name + '"'
                              : "unknown key \"" + name + "\" in \"" + context + '"',
              hint);
    }
}

const YamlNode* Reader::find(const YamlNode& mapping, std::string_view key) {
    for (const YamlEntry& entry : mapping.entries)
        if (entry.key.kind == YamlNode::Kind::Scalar && entry.key.text == key) return &entry.value;
    return nullptr;
}

bool Reader::given(const YamlNode& mapping, std::string_view key) {
    const YamlNode* node = find(mapping, key);
    return node && node->kind != YamlNode::Kind::Null;
}

bool Reader::expect(const YamlNode& node, NodeType type, const std::string& key,
                    const std::string& context) {
    const NodeType actual = node_type(node);
    if (actual == type || (type == NodeType::Number && actual == NodeType::Integer)) return true;
    std::string hint;
    if (type == NodeType::Boolean && actual == NodeType::String) hint = "Write true or false.";
    if (type == NodeType::String && actual != NodeType::List && actual != NodeType::Mapping &&
        actual != NodeType::Null)
        hint = "Quote the value to make it a string: \"" + node.text + "\".";
    error(node.origin,
          subject(key, context) + " must be " + type_phrase(type) + ", not " + type_phrase(actual),
          hint);
    return false;
}

void Reader::read(const YamlNode& mapping, const char* key, const std::string& context,
                  Value<std::string>& out) {
    const YamlNode* node = find(mapping, key);
    if (!node || node->kind == YamlNode::Kind::Null ||
        !expect(*node, NodeType::String, key, context))
        return;
    if (node->text.empty()) {
        error(node->origin, subject(key, context) + " must not be empty");
        return;
    }
    out = Value<std::string>{node->text, true, node->origin};
}

void Reader::read(const YamlNode& mapping, const char* key, const std::string& context,
                  Value<int>& out, int min, int max) {
    const YamlNode* node = find(mapping, key);
    if (!node || node->kind == YamlNode::Kind::Null ||
        !expect(*node, NodeType::Integer, key, context))
        return;
    std::string_view text = node->text;
    int base = 10;
    bool negative = false;
    if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'o')) {
        base = text[1] == 'x' ? 16 : 8;
        text.remove_prefix(2);
    } else if (!text.empty() && (text[0] == '+' || text[0] == '-')) {
        negative = text[0] == '-';
        text.remove_prefix(1);
    }
    long long value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
    if (ec != std::errc() || end != text.data() + text.size())
        value = std::numeric_limits<long long>::max();
    if (negative) value = -value;
    if (value < min || value > max) {
        error(node->origin, subject(key, context) + " must be between " + std::to_string(min) +
                                " and " + std::to_string(max));
        return;
    }
    out = Value<int>{int(value), true, node->origin};
}

void Reader::read(const YamlNode& mapping, const char* key, const std::string& context,
                  Value<double>& out) {
    const YamlNode* node = find(mapping, key);
    if (!node || node->kind == YamlNode::Kind::Null ||
        !expect(*node, NodeType::Number, key, context))
        return;
    std::string_view text = node->text;
    bool negative = false;
    if (!text.empty() && (text[0] == '+' || text[0] == '-')) {
        negative = text[0] == '-';
        text.remove_prefix(1);
    }
    double value = 0;
    if (text == ".inf" || text == ".Inf" || text == ".INF")
        value = std::numeric_limits<double>::infinity();
    else if (text.size() == 4 && text[0] == '.' && lower(text) == ".nan")
        value = std::nan("");
    else {
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (ec == std::errc::result_out_of_range)
            value = std::numeric_limits<double>::infinity();
        else if (ec != std::errc() || end != text.data() + text.size())
            value = std::nan("");
    }
    if (negative) value = -value;
    out = Value<double>{value, true, node->origin};
}

void Reader::read(const YamlNode& mapping, const char* key, const std::string& context,
                  Value<bool>& out) {
    const YamlNode* node = find(mapping, key);
    if (!node || node->kind == YamlNode::Kind::Null ||
        !expect(*node, NodeType::Boolean, key, context))
        return;
    out = Value<bool>{node->text[0] == 't' || node->text[0] == 'T', true, node->origin};
}

bool Reader::read_strings(const YamlNode& list, const std::string& key, const std::string& context,
                          std::vector<Value<std::string>>& out) {
    bool ok = true;
    for (std::size_t i = 0; i < list.items.size(); ++i) {
        const YamlNode& item = list.items[i];
        const std::string item_key = key + "[" + std::to_string(i) + "]";
        if (!expect(item, NodeType::String, item_key, context)) {
            ok = false;
            continue;
        }
        if (item.text.empty()) {
            error(item.origin, subject(item_key, context) + " must not be empty");
            ok = false;
            continue;
        }
        out.push_back(Value<std::string>{item.text, true, item.origin});
    }
    return ok;
}

} // namespace pgsync::config
