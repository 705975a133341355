// Publication creation and verification.
#include "init/publication.h"

#include "util/log.h"

namespace pgsync::init {

bool ensure_publication(pg::Connection& conn, const PublicationRequest& request) {
    pg::Result p = conn.exec_params(
        "SELECT puballtables, pubviaroot, "
        "coalesce(obj_description(oid, 'pg_publication'), '') FROM pg_catalog.pg_publication "
        "WHERE pubname = $1",
        {request.name}, "could not look up the publication");
    const std::string pub_sql = pg::quote_ident(request.name);

    if (p.rows() == 0) {
        std::string sql = "BEGIN; CREATE PUBLICATION " + pub_sql;
        if (request.all_tables) {
            sql += " FOR ALL TABLES";
        } else {
            sql += " FOR TABLE ";
            for (size_t i = 0; i < request.tables.size(); ++i)
                sql += (i ? ", " : "") + request.tables[i].name.sql();
        }
        sql += " WITH (publish_via_partition_root = true); COMMENT ON PUBLICATION " + pub_sql +
               " IS " + pg::quote_literal(kPublicationComment) + "; COMMIT";
        try {
            conn.exec(sql, "could not create publication \"" + request.name + "\"");
        } catch (...) {
            PQexec(conn.raw(), "ROLLBACK");
            throw;
        }
        log::info("created publication \"" + request.name + "\"");
        return true;
    }

    const bool all = p.get(0, 0) == "t";
    const bool via_root = p.get(0, 1) == "t";
    if (request.all_tables && !all)
        throw Error("publication \"" + request.name + "\" exists but is not FOR ALL TABLES",
                    "Drop it (DROP PUBLICATION " + pub_sql +
                        ") or name its tables with --table instead of --all-tables.");
    for (const auto& table : request.tables) {
        // Covered if the table, or (for a partitioned table) its partitions, are published.
        pg::Result c = conn.exec_params(
            "SELECT count(*) FROM pg_catalog.pg_publication_tables pt "
            "JOIN pg_catalog.pg_class c ON c.relname = pt.tablename "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace AND n.nspname = "
            "pt.schemaname "
            "WHERE pt.pubname = $1 AND (c.oid = $2::oid OR c.oid IN "
            "(SELECT relid FROM pg_catalog.pg_partition_tree($2::oid)))",
            {request.name, std::to_string(table.oid)}, "could not check the publication");
        if (c.get(0, 0) == "0")
            throw Error("publication \"" + request.name + "\" does not cover table \"" +
                            table.name.display() + "\"",
                        "Run ALTER PUBLICATION " + pub_sql + " ADD TABLE " + table.name.sql() +
                            "; then run pgsync-init again.");
        if (table.kind == 'p' && !via_root)
            log::warning(
                "publication \"" + request.name +
                    "\" does not publish via the partition root: changes to \"" +
                    table.name.display() + "\" arrive under its partitions' names",
                "Run ALTER PUBLICATION " + pub_sql +
                    " SET (publish_via_partition_root = true) to name them after the root.");
    }
    return false;
}

bool drop_publication_if_ours(pg::Connection& conn, const std::string& name) {
    pg::Result p = conn.exec_params("SELECT coalesce(obj_description(oid, 'pg_publication'), '') "
                                    "FROM pg_catalog.pg_publication WHERE pubname = $1",
                                    {name}, "could not look up the publication");
    if (p.rows() == 0) return false;
    if (p.get(0, 0) != kPublicationComment) {
        log::info("publication \"" + name + "\" was not created by pgsync-init; left in place");
        return false;
    }
    conn.exec("DROP PUBLICATION " + pg::quote_ident(name),
              "could not drop publication \"" + name + "\"");
    return true;
}

} // namespace pgsync::init
