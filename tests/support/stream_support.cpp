// Stream test helpers.
#include "stream_support.h"

#include "pg_test.h"

#include <sstream>

namespace pgsync::test {

StreamFixture make_stream_fixture(pg::Connection& db, const std::vector<std::string>& tables) {
    StreamFixture f{unique_name("slot"), unique_name("pub")};
    std::string sql = "CREATE PUBLICATION " + pg::quote_ident(f.publication) + " FOR TABLE ";
    for (size_t i = 0; i < tables.size(); ++i)
        sql += (i ? ", " : "") + tables[i];
    db.exec(sql + " WITH (publish_via_partition_root = true)");
    db.exec_params("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", {f.slot});
    return f;
}

void drop_stream_fixture(pg::Connection& db, const StreamFixture& f) {
    db.exec_params("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                   "WHERE slot_name = $1 AND active_pid IS NULL",
                   {f.slot});
    db.exec("DROP PUBLICATION IF EXISTS " + pg::quote_ident(f.publication));
}

std::string current_wal_lsn(pg::Connection& db) {
    // The insert position: pg_current_wal_lsn() is the write position, which can stop short of a
    // record already inserted (a non-transactional message is not written at once).
    return db.query_value("SELECT pg_current_wal_insert_lsn()::text");
}

ProcessResult stream_to_now(pg::Connection& db, const StreamFixture& f,
                            const std::vector<std::string>& extra_args,
                            const ProcessOptions& options) {
    std::vector<std::string> argv = {tool_path("pgsync-stream"),
                                     "-d",
                                     test_dsn(),
                                     "-S",
                                     f.slot,
                                     "-P",
                                     f.publication,
                                     "--endpos",
                                     current_wal_lsn(db),
                                     "--no-loop"};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    return run_process(argv, options);
}

std::vector<nlohmann::json> parse_ndjson(const std::string& text) {
    std::vector<nlohmann::json> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line))
        if (!line.empty()) out.push_back(nlohmann::json::parse(line));
    return out;
}

std::vector<nlohmann::json> records_of(const std::vector<nlohmann::json>& records,
                                       const std::string& op) {
    std::vector<nlohmann::json> out;
    for (const auto& r : records)
        if (r.value("op", "") == op) out.push_back(r);
    return out;
}

} // namespace pgsync::test
