// Reads the published tables' columns from the catalog in one query.
#include "serve/shapes/table_schema.h"

#include "config/table_name.h"

#include "pg/identifier.h"
#include "record/json_text.h"
#include "record/record_scan.h"
#include "util/error.h"

#include <map>

namespace pgsync::serve {

std::string TableSchema::sql_name() const {
    return pg::quote_ident(schema) + "." + pg::quote_ident(name);
}

std::string TableSchema::display_name() const {
    return pg::display_ident(schema) + "." + pg::display_ident(name);
}

int TableSchema::column_index(std::string_view column) const {
    for (size_t i = 0; i < columns.size(); ++i)
        if (columns[i].name == column) return int(i);
    return -1;
}

namespace {

// The tables' btree indexes that ordered windows may be served by (valid, not partial).
void load_indexes(pg::Connection& conn, std::vector<TableSchema>& tables) {
    if (tables.empty()) return;
    std::string oids = "{";
    for (const auto& t : tables)
        oids += (oids.size() > 1 ? "," : "") + std::to_string(t.oid);
    oids += "}";
    pg::Result rows = conn.exec_params(
        "SELECT i.indrelid, ic.relname, k.attnum, k.ord, "
        "  (i.indoption[k.ord - 1] & 1) <> 0, (i.indoption[k.ord - 1] & 2) <> 0, "
        "  coalesce(co.collname IN ('C', 'POSIX'), false) "
        "FROM pg_catalog.pg_index i "
        "JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid "
        "JOIN pg_catalog.pg_am am ON am.oid = ic.relam AND am.amname = 'btree' "
        "CROSS JOIN LATERAL unnest(i.indkey::int2[], i.indcollation::oid[]) "
        "  WITH ORDINALITY AS k(attnum, coll, ord) "
        "LEFT JOIN pg_catalog.pg_collation co ON co.oid = k.coll "
        "WHERE i.indrelid = ANY($1::oid[]) AND i.indisvalid AND i.indpred IS NULL "
        "  AND k.ord <= i.indnkeyatts "
        "ORDER BY i.indrelid, ic.relname, k.ord",
        {oids}, "could not read the tables' indexes");
    for (int r = 0; r < PQntuples(rows.raw()); ++r) {
        auto get = [&](int c) { return std::string(PQgetvalue(rows.raw(), r, c)); };
        const uint32_t oid = uint32_t(std::stoul(get(0)));
        for (auto& t : tables) {
            if (t.oid != oid) continue;
            if (t.indexes.empty() || t.indexes.back().name != get(1)) {
                t.indexes.emplace_back();
                t.indexes.back().name = get(1);
            }
            TableIndex& index = t.indexes.back();
            const int attnum = std::stoi(get(2));
            int column = -1;
            for (size_t c = 0; c < t.attnums.size(); ++c)
                if (t.attnums[c] == attnum && attnum != 0) column = int(c);
            index.columns.push_back(column);
            index.descending.push_back(get(4) == "t");
            index.nulls_first.push_back(get(5) == "t");
            index.c_collation.push_back(get(6) == "t");
        }
    }
}

} // namespace

std::vector<TableSchema> load_published_tables(pg::Connection& conn,
                                               const std::string& publication) {
    pg::Result pub = conn.exec_params("SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = $1",
                                      {publication}, "could not look up the publication");
    if (PQntuples(pub.raw()) == 0)
        throw usage_error(
            "publication \"" + publication + "\" does not exist",
            "Create it with pgsync-init, or name an existing one with --publication.");
    // Columns in attnum order, the publication's column list applied (attnames), generated columns
    // left out (pgoutput does not send them before PostgreSQL 18), domains resolved to their base.
    pg::Result rows = conn.exec_params(
        "WITH RECURSIVE dom(oid, base) AS ("
        "  SELECT t.oid, t.oid FROM pg_catalog.pg_type t WHERE t.typtype <> 'd'"
        "  UNION ALL SELECT t.oid, d.base FROM pg_catalog.pg_type t JOIN dom d"
        "    ON t.typbasetype = d.oid WHERE t.typtype = 'd') "
        "SELECT pt.schemaname, pt.tablename, c.oid, c.relreplident, a.attname, a.atttypid, "
        "  (SELECT base FROM dom WHERE dom.oid = a.atttypid), "
        "  a.attnum = ANY(coalesce((SELECT conkey FROM pg_catalog.pg_constraint "
        "     WHERE conrelid = c.oid AND contype = 'p'), '{}')), "
        "  a.attnum = ANY(coalesce((SELECT indkey::int2[] FROM pg_catalog.pg_index "
        "     WHERE indrelid = c.oid AND indisreplident), '{}')), "
        "  coalesce(pt.rowfilter, ''), a.attnum "
        "FROM pg_catalog.pg_publication_tables pt "
        "JOIN pg_catalog.pg_namespace n ON n.nspname = pt.schemaname "
        "JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename "
        "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 "
        "  AND NOT a.attisdropped AND a.attgenerated = '' "
        "  AND (pt.attnames IS NULL OR a.attname = ANY(pt.attnames)) "
        "WHERE pt.pubname = $1 ORDER BY 1, 2, a.attnum",
        {publication}, "could not read the publication's tables");
    std::vector<TableSchema> tables;
    std::vector<bool> pk_flags, ri_flags;
    auto finish = [&] {
        if (tables.empty()) return;
        TableSchema& t = tables.back();
        for (size_t i = 0; i < t.columns.size(); ++i)
            if (pk_flags[i]) t.key_columns.push_back(int(i));
        if (t.key_columns.empty())
            for (size_t i = 0; i < t.columns.size(); ++i)
                if (ri_flags[i]) t.key_columns.push_back(int(i));
        if (t.key_columns.empty())
            for (size_t i = 0; i < t.columns.size(); ++i)
                t.key_columns.push_back(int(i));
        for (int k : t.key_columns)
            t.columns[size_t(k)].key = true;
        pk_flags.clear();
        ri_flags.clear();
    };
    for (int r = 0; r < PQntuples(rows.raw()); ++r) {
        auto get = [&](int c) { return std::string(PQgetvalue(rows.raw(), r, c)); };
        if (tables.empty() || tables.back().schema != get(0) || tables.back().name != get(1)) {
            finish();
            TableSchema t;
            t.schema = get(0);
            t.name = get(1);
            t.oid = uint32_t(std::stoul(get(2)));
            t.replica_identity = get(3).empty() ? 'd' : get(3)[0];
            t.row_filter = get(9);
            record::append_json_string(t.schema_json, t.schema);
            record::append_json_string(t.name_json, t.name);
            tables.push_back(std::move(t));
        }
        TableSchema& t = tables.back();
        filter::TableColumn column;
        column.name = get(4);
        t.declared_type_oids.push_back(uint32_t(std::stoul(get(5))));
        column.type_oid =
            get(6).empty() ? t.declared_type_oids.back() : uint32_t(std::stoul(get(6)));
        std::string json;
        record::append_json_string(json, column.name);
        t.json_names.push_back(std::move(json));
        t.columns.push_back(std::move(column));
        t.attnums.push_back(std::stoi(get(10)));
        pk_flags.push_back(get(7) == "t");
        ri_flags.push_back(get(8) == "t");
    }
    finish();
    load_indexes(conn, tables);
    return tables;
}

bool relation_matches(const TableSchema& table, std::string_view columns_json) {
    size_t i = 0;
    bool ok = true;
    bool well_formed = record::for_each_element(columns_json, [&](std::string_view element) {
        if (!ok) return;
        if (i >= table.columns.size()) {
            ok = false;
            return;
        }
        std::string_view name_token, type_oid;
        record::for_each_member(element, [&](std::string_view key, std::string_view value) {
            if (key == "\"name\"") name_token = value;
            if (key == "\"type_oid\"") type_oid = value;
        });
        if (name_token != table.json_names[i] ||
            type_oid != std::to_string(table.declared_type_oids[i]))
            ok = false;
        ++i;
    });
    return well_formed && ok && i == table.columns.size();
}

ServedTable served_table(const std::vector<config::Table>& configured, const TableSchema& table) {
    ServedTable out;
    if (configured.empty()) return out;
    out.served = false;
    for (const auto& entry : configured) {
        auto name = config::parse_table_name(entry.name.value);
        if (name && name->schema == table.schema && name->name == table.name) {
            out.served = true;
            out.config = &entry;
        }
    }
    return out;
}

} // namespace pgsync::serve
