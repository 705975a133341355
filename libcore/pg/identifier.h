// Table names: a (schema, name) pair, never a dotted string (T17). Resolution of what a user typed
// ("messages", "public.messages", "\"My Schema\".\"Tab\"\"le\"") goes through the server's own
// parser.
#pragma once

#include "pg/connection.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace pgsync::pg {

struct TableName {
    std::string schema;
    std::string name;

    // "schema"."name", for SQL.
    std::string sql() const { return quote_ident(schema) + "." + quote_ident(name); }
    // schema.name, each part double-quoted only when it needs to be (as regclass prints it).
    std::string display() const;
    bool operator==(const TableName&) const = default;
};

// An identifier as PostgreSQL would print it: bare when it is a plain lower-case word.
std::string display_ident(std::string_view identifier);

struct ResolvedTable {
    TableName name;
    uint32_t oid = 0;
    char kind = 'r';             // pg_class.relkind: r table, p partitioned table, v view, ...
    char replica_identity = 'd'; // pg_class.relreplident
};

// Resolves what the user typed to a table, using the session's search_path like psql does.
// Throws a usage Error when the text is not a valid name or the table does not exist.
ResolvedTable resolve_table(Connection& conn, std::string_view user_text);

} // namespace pgsync::pg
