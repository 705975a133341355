// PostgreSQL's identifier rules for the table names of pgsync.yaml.
#include "config/table_name.h"

#include <vector>

namespace pgsync::config {

namespace {

bool unquoted_start(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}
bool unquoted_part(unsigned char c) {
    return unquoted_start(c) || (c >= '0' && c <= '9') || c == '$';
}

} // namespace

std::optional<TableName> parse_table_name(std::string_view text) {
    std::vector<std::string> parts;
    std::size_t i = 0;
    while (true) {
        std::string part;
        if (i < text.size() && text[i] == '"') {
            for (++i;; ++i) {
                if (i >= text.size()) return std::nullopt; // unterminated quote
                if (text[i] == '"') {
                    if (i + 1 < text.size() && text[i + 1] == '"') {
                        part += '"';
                        ++i;
                    } else {
                        ++i;
                        break;
                    }
                } else
                    part += text[i];
            }
        } else {
            if (i >= text.size() || !unquoted_start(static_cast<unsigned char>(text[i])))
                return std::nullopt;
            for (; i < text.size() && unquoted_part(static_cast<unsigned char>(text[i])); ++i) {
                char c = text[i];
                part += (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c;
            }
        }
        if (part.empty()) return std::nullopt;
        parts.push_back(std::move(part));
        if (parts.size() > 2) return std::nullopt;
        if (i == text.size()) break;
        if (text[i] != '.') return std::nullopt;
        ++i;
    }
    TableName out;
    if (parts.size() == 2) out.schema = parts[0];
    out.name = parts.back();
    return out;
}

} // namespace pgsync::config
