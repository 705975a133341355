// The published tables pgsync-serve may serve: their columns (publication column lists applied,
// generated columns left out, as pgoutput sends them), base types for filters, key columns, and the
// publication's row filter, read from the catalog. Relation records in the log are compared with
// these to notice a table whose shape changed (R9-R11).
#pragma once

#include "config/config.h"
#include "filter/bound_filter.h"
#include "pg/connection.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pgsync::serve {

// A valid, non-partial btree index of the table, as far as ordered windows need it: which
// columns it sorts by, how, and whether a text column sorts bytewise (collation "C" or "POSIX").
struct TableIndex {
    std::string name;
    std::vector<int> columns;       // TableSchema::columns indexes; -1 for an expression or a
                                    // column the publication does not send
    std::vector<char> descending;   // per column
    std::vector<char> nulls_first;  // per column
    std::vector<char> c_collation;  // per column
};

struct TableSchema {
    std::string schema;
    std::string name;
    std::string schema_json, name_json; // as JSON string tokens (how records carry them)
    uint32_t oid = 0;
    char replica_identity = 'd';              // pg_class.relreplident of the table
    std::vector<filter::TableColumn> columns; // in attnum order; type_oid is the base type
    std::vector<uint32_t> declared_type_oids; // the attributes' own types (domains kept)
    std::vector<std::string> json_names;      // each column's name as a JSON string token
    std::vector<int> key_columns;             // primary key, else replica identity index, else all
    std::string row_filter;                   // the publication's WHERE for this table, or empty
    std::vector<int> attnums;                 // each column's pg_attribute.attnum
    std::vector<TableIndex> indexes;          // btree indexes, for ordered windows

    std::string sql_name() const;                  // "schema"."name"
    std::string display_name() const;              // schema.name as a user types it
    int column_index(std::string_view name) const; // -1 when absent
    bool full_identity() const { return replica_identity == 'f'; }
    // Whether a scanned record names this table.
    bool is(std::string_view schema_token, std::string_view table_token) const {
        return schema_token == schema_json && table_token == name_json;
    }
};

// Whether the config serves a published table: every one when it lists none, else only those it
// lists, with their entry (columns, live_queries).
struct ServedTable {
    bool served = true;
    const config::Table* config = nullptr;
};
ServedTable served_table(const std::vector<config::Table>& configured, const TableSchema& table);

// Every table of the publication (partitioned tables by their root, as the publication sends
// them). Throws a usage Error when the publication does not exist.
std::vector<TableSchema> load_published_tables(pg::Connection& conn,
                                               const std::string& publication);

// Whether a relation record's columns (the raw [...] of a native "relation" record) still match the
// schema: same names and types in the same order.
bool relation_matches(const TableSchema& table, std::string_view columns_json);

} // namespace pgsync::serve
