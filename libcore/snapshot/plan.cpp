// Snapshot planning: catalog reads, run inside the snapshot's transaction.
#include "snapshot/plan.h"

#include "util/log.h"

#include <algorithm>

namespace pgsync::snapshot {
namespace {

// Splitting below this many pages (8 MB) costs more than it gains.
constexpr uint64_t kMinChunkPages = 1024;

struct PublicationTable {
    pg::TableName name;
    std::optional<std::vector<std::string>> columns; // the publication's column list
    std::string row_filter;
};

std::vector<PublicationTable> publication_tables(pg::Connection& conn, const std::string& pub) {
    pg::Result exists =
        conn.exec_params("SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = $1", {pub},
                         "could not look up the publication");
    if (exists.rows() == 0)
        throw usage_error("publication \"" + pub + "\" does not exist",
                          "Create it with pgsync-init, or name the tables with --table.");
    const bool pg15 = conn.server_version() >= 150000;
    pg::Result r = conn.exec_params(
        pg15 ? "SELECT schemaname, tablename, attnames::text[], coalesce(rowfilter, '') "
               "FROM pg_catalog.pg_publication_tables WHERE pubname = $1 ORDER BY 1, 2"
             : "SELECT schemaname, tablename, NULL::text[], '' "
               "FROM pg_catalog.pg_publication_tables WHERE pubname = $1 ORDER BY 1, 2",
        {pub}, "could not list the publication's tables");
    std::vector<PublicationTable> out;
    for (int i = 0; i < r.rows(); ++i) {
        PublicationTable t{{r.str(i, 0), r.str(i, 1)}, std::nullopt, r.str(i, 3)};
        if (!r.is_null(i, 2)) {
            // attnames as a text[] literal; the server unnests it for us to avoid parsing here.
            pg::Result cols = conn.exec_params("SELECT unnest($1::text[])", {r.str(i, 2)});
            std::vector<std::string> names;
            for (int k = 0; k < cols.rows(); ++k)
                names.push_back(cols.str(k, 0));
            t.columns = std::move(names);
        }
        out.push_back(std::move(t));
    }
    return out;
}

TablePlan describe_table(pg::Connection& conn, const pg::ResolvedTable& table,
                         const PublicationTable* published) {
    TablePlan plan;
    plan.name = table.name;
    plan.oid = table.oid;
    // Stored generated columns are left out: pgoutput does not send them before PostgreSQL 18,
    // and snapshot and stream must carry the same columns (T16).
    pg::Result cols = conn.exec_params(
        "SELECT attname, atttypid FROM pg_catalog.pg_attribute WHERE attrelid = $1 "
        "AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
        {std::to_string(table.oid)},
        "could not read the columns of \"" + table.name.display() + "\"");
    for (int i = 0; i < cols.rows(); ++i) {
        std::string name = cols.str(i, 0);
        if (published && published->columns &&
            std::find(published->columns->begin(), published->columns->end(), name) ==
                published->columns->end())
            continue;
        plan.columns.push_back({name, uint32_t(std::stoul(cols.str(i, 1)))});
    }
    if (published) plan.row_filter = published->row_filter;
    pg::Result est = conn.exec_params(
        "SELECT CASE WHEN c.relkind = 'p' THEN (SELECT sum(greatest(p.reltuples, 0)) "
        "FROM pg_catalog.pg_partition_tree(c.oid) t JOIN pg_catalog.pg_class p ON p.oid = t.relid "
        "WHERE t.isleaf) ELSE c.reltuples END FROM pg_catalog.pg_class c WHERE c.oid = $1",
        {std::to_string(table.oid)});
    if (est.rows() && !est.is_null(0, 0)) plan.estimated_rows = std::stod(est.str(0, 0));
    return plan;
}

// The relations to read for a table with their sizes in pages: itself, or its leaf partitions.
std::vector<std::pair<pg::TableName, uint64_t>> leaves(pg::Connection& conn, uint32_t oid) {
    pg::Result r = conn.exec_params(
        "SELECT n.nspname, c.relname, pg_catalog.pg_relation_size(c.oid) / "
        "current_setting('block_size')::bigint FROM pg_catalog.pg_class c "
        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind = 'r' AND (c.oid = $1 OR c.oid IN "
        "(SELECT relid FROM pg_catalog.pg_partition_tree($1::oid) WHERE isleaf)) ORDER BY 3 DESC",
        {std::to_string(oid)}, "could not list partitions");
    std::vector<std::pair<pg::TableName, uint64_t>> out;
    for (int i = 0; i < r.rows(); ++i)
        out.push_back({{r.str(i, 0), r.str(i, 1)}, std::stoull(r.str(i, 2))});
    return out;
}

} // namespace

Plan make_plan(pg::Connection& conn, const PlanRequest& request) {
    std::vector<PublicationTable> published;
    if (!request.publication.empty()) published = publication_tables(conn, request.publication);

    std::vector<pg::ResolvedTable> tables;
    if (!request.tables.empty()) {
        for (const auto& t : request.tables)
            tables.push_back(pg::resolve_table(conn, t));
    } else {
        if (request.publication.empty())
            throw usage_error("no tables to read",
                              "Name tables with --table, a publication with --publication, or "
                              "pipe pgsync-init's line into standard input.");
        for (const auto& p : published)
            tables.push_back(pg::resolve_table(conn, p.name.sql()));
        if (tables.empty())
            log::warning("publication \"" + request.publication + "\" has no tables");
    }

    Plan plan;
    const bool can_split = request.jobs > 1 && conn.server_version() >= 140000;
    for (const auto& table : tables) {
        const PublicationTable* pub = nullptr;
        for (const auto& p : published)
            if (p.name == table.name) pub = &p;
        if (!request.publication.empty() && !request.tables.empty() && !pub)
            log::warning("table \"" + table.name.display() + "\" is not in publication \"" +
                         request.publication + "\"; reading all of it");
        plan.tables.push_back(describe_table(conn, table, pub));
        if (plan.tables.back().columns.empty())
            throw Error("table \"" + table.name.display() + "\" has no columns to read");
        const size_t index = plan.tables.size() - 1;
        for (auto& [relation, pages] : leaves(conn, table.oid)) {
            uint64_t chunks =
                can_split ? std::min<uint64_t>(uint64_t(request.jobs) * 4, pages / kMinChunkPages)
                          : 1;
            if (chunks <= 1) {
                plan.items.push_back({index, relation, std::nullopt, std::nullopt});
                continue;
            }
            uint64_t step = (pages + chunks - 1) / chunks;
            for (uint64_t first = 0; first < pages; first += step) {
                std::optional<uint64_t> end;
                if (first + step < pages) end = first + step; // the last range is open-ended
                plan.items.push_back({index, relation, first, end});
            }
        }
    }
    // Biggest first would be ideal; the partition query already orders a table's leaves by size.
    return plan;
}

std::string copy_sql(const TablePlan& table, const WorkItem& item) {
    std::string sql = "COPY (SELECT ";
    for (size_t i = 0; i < table.columns.size(); ++i)
        sql += (i ? ", " : "") + pg::quote_ident(table.columns[i].name);
    sql += " FROM " + item.relation.sql();
    std::vector<std::string> where;
    if (item.first_page && *item.first_page > 0)
        where.push_back("ctid >= '(" + std::to_string(*item.first_page) + ",0)'::tid");
    if (item.end_page) where.push_back("ctid < '(" + std::to_string(*item.end_page) + ",0)'::tid");
    if (!table.row_filter.empty()) where.push_back("(" + table.row_filter + ")");
    for (size_t i = 0; i < where.size(); ++i)
        sql += (i ? " AND " : " WHERE ") + where[i];
    sql += ") TO STDOUT";
    return sql;
}

} // namespace pgsync::snapshot
