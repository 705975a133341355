// Table names as pgsync.yaml writes them: "name" or "schema.name", parsed like PostgreSQL parses
// identifiers (unquoted parts fold to lower case, "quoted" parts keep case, "" is a quote).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pgsync::config {

struct TableName {
    std::string schema = "public"; // when the text names no schema
    std::string name;

    bool operator==(const TableName&) const = default;
};

// nullopt for more than two parts, an empty part, an unterminated quote or characters an
// unquoted identifier cannot hold.
std::optional<TableName> parse_table_name(std::string_view text);

} // namespace pgsync::config
