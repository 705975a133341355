// Preflight checks for pgsync-init.
#include "init/preflight.h"

#include "pg/server_readiness.h"

namespace pgsync::init {

std::vector<pg::ResolvedTable> all_publishable_tables(pg::Connection& conn) {
    pg::Result r = conn.exec(
        "SELECT n.nspname, c.relname, c.oid, c.relkind, c.relreplident "
        "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND c.relpersistence = 'p' AND NOT c.relispartition "
        "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "AND n.nspname !~ '^pg_(toast|temp_)' ORDER BY 1, 2",
        "could not list tables");
    std::vector<pg::ResolvedTable> tables;
    for (int i = 0; i < r.rows(); ++i)
        tables.push_back({{r.str(i, 0), r.str(i, 1)},
                          uint32_t(std::stoul(r.str(i, 2))),
                          r.get(i, 3)[0],
                          r.get(i, 4)[0]});
    return tables;
}

std::vector<Problem> check_server(pg::Connection& conn, const PreflightInput& input) {
    // The server settings, in the words pgsync-config doctor uses too; a warning (the last free
    // slot or WAL sender) does not stop pgsync-init.
    std::vector<Problem> problems;
    for (auto& check : pg::judge_server_settings(pg::read_server_settings(conn, input.slot)))
        if (check.status == pg::ReadinessStatus::Fail)
            problems.push_back({std::move(check.message), std::move(check.fix)});

    // Replica identity of every leaf table the publication would cover (R3, R12).
    std::vector<pg::ResolvedTable> tables =
        input.all_tables ? all_publishable_tables(conn) : input.tables;
    if (tables.empty()) return problems;
    std::string oids = "{";
    for (size_t i = 0; i < tables.size(); ++i)
        oids += (i ? "," : "") + std::to_string(tables[i].oid);
    oids += "}";
    pg::Result r = conn.exec_params(
        "SELECT n.nspname, c.relname, c.relreplident "
        "FROM unnest($1::oid[]) AS t(oid) "
        "LEFT JOIN LATERAL pg_catalog.pg_partition_tree(t.oid) AS pt ON true "
        "JOIN pg_catalog.pg_class c ON c.oid = coalesce(pt.relid, t.oid) "
        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE (pt.relid IS NULL OR pt.isleaf) AND c.relkind = 'r' AND (c.relreplident = 'n' OR "
        "(c.relreplident = 'd' AND NOT EXISTS "
        "(SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND i.indisprimary))) "
        "ORDER BY 1, 2",
        {oids}, "could not check replica identities");
    for (int i = 0; i < r.rows(); ++i) {
        pg::TableName name{r.str(i, 0), r.str(i, 1)};
        std::string why = r.get(i, 2) == "n" ? "has REPLICA IDENTITY NOTHING"
                                             : "has no primary key and no replica identity";
        problems.push_back(
            {"table \"" + name.display() + "\" " + why +
                 ", so UPDATE and DELETE on it would fail once it is published",
             "Add a primary key, or run ALTER TABLE " + name.display() +
                 " REPLICA IDENTITY FULL (or USING INDEX on a unique, non-partial index over NOT "
                 "NULL columns)."});
    }
    return problems;
}

} // namespace pgsync::init
