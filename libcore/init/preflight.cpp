// Preflight checks for pgsync-init.
#include "init/preflight.h"

namespace pgsync::init {

std::vector<std::string> split_setting_list(std::string_view value) {
    std::vector<std::string> out;
    std::string current;
    auto flush = [&] {
        size_t b = current.find_first_not_of(" \t'\"");
        size_t e = current.find_last_not_of(" \t'\"");
        if (b != std::string::npos) out.push_back(current.substr(b, e - b + 1));
        current.clear();
    };
    for (char c : value) {
        if (c == ',')
            flush();
        else
            current += c;
    }
    flush();
    return out;
}

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
    std::vector<Problem> problems;
    pg::Result s = conn.exec(
        "SELECT current_setting('wal_level'), "
        "(SELECT rolreplication OR rolsuper FROM pg_catalog.pg_roles WHERE rolname = "
        "current_user), "
        "current_setting('max_replication_slots')::int, "
        "(SELECT count(*) FROM pg_catalog.pg_replication_slots), "
        "current_setting('max_wal_senders')::int, "
        "(SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE backend_type = 'walsender'), "
        "(SELECT setting FROM pg_catalog.pg_settings WHERE name = 'output_plugin_libraries'), "
        "current_user",
        "could not read server settings");

    const std::string wal_level = s.str(0, 0);
    if (wal_level != "logical")
        problems.push_back(
            {"wal_level is \"" + wal_level + "\", but logical decoding needs \"logical\"",
             "Run ALTER SYSTEM SET wal_level = logical; and restart PostgreSQL."});
    if (s.get(0, 1) != "t")
        problems.push_back({"role \"" + s.str(0, 7) + "\" has no REPLICATION privilege",
                            "Run ALTER ROLE " + pg::display_ident(s.str(0, 7)) +
                                " REPLICATION; as a superuser, or connect as a role that has it."});
    if (input.need_new_slot) {
        int max_slots = std::stoi(s.str(0, 2)), used = std::stoi(s.str(0, 3));
        if (used >= max_slots)
            problems.push_back({"no free replication slot: " + std::to_string(used) + " of " +
                                    std::to_string(max_slots) + " are in use",
                                "Drop an unused slot with pg_drop_replication_slot(), or raise "
                                "max_replication_slots and restart PostgreSQL."});
    }
    int max_senders = std::stoi(s.str(0, 4)), senders = std::stoi(s.str(0, 5));
    if (senders >= max_senders)
        problems.push_back({"no free WAL sender: " + std::to_string(senders) + " of " +
                                std::to_string(max_senders) + " are in use",
                            "Raise max_wal_senders and restart PostgreSQL, or stop an idle "
                            "replication client."});
    if (!s.is_null(0, 6)) {
        bool allowed = false;
        for (const auto& name : split_setting_list(s.get(0, 6)))
            if (name == "pgoutput") allowed = true;
        if (!allowed)
            problems.push_back(
                {"output plugin \"pgoutput\" is not allowed by output_plugin_libraries (\"" +
                     s.str(0, 6) + "\")",
                 "Add it as a list: ALTER SYSTEM SET output_plugin_libraries = "
                 "'pgoutput', 'test_decoding'; then restart PostgreSQL."});
    }

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
