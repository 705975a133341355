// --config against the real PostgreSQL: the file supplies what the command line leaves out, and
// a flag given on the command line wins over the file.
#include "pg_test.h"
#include "process.h"
#include "stream_support.h"

#include <catch2/catch.hpp>
#include <fstream>

using namespace pgsync;
using namespace pgsync::test;

TEST_CASE("a command-line flag overrides the config file, the file fills the rest", "[config]") {
    auto db = connect_test_db();
    const std::string t = unique_name("cfg_override");
    db.exec("CREATE TABLE " + t + " (id int PRIMARY KEY)");
    auto f = make_stream_fixture(db, {t});
    db.exec("INSERT INTO " + t + " VALUES (1)");
    const std::string path = test_tmp_dir() + "/" + unique_name("override") + ".yaml";
    std::ofstream(path) << "source:\n  dsn: \"" << test_dsn()
                        << "\"\n  slot: no_such_slot_from_file\n"
                        << "  publication: " << f.publication << "\n";
    const std::string end = current_wal_lsn(db);

    // The file's slot does not exist: without -S the stream reports it by name.
    auto from_file =
        run_process({tool_path("pgsync-stream"), "--config", path, "--endpos", end, "--no-loop"});
    CHECK(from_file.exit_code == 1);
    CHECK(from_file.err.find("replication slot \"no_such_slot_from_file\" does not exist") !=
          std::string::npos);

    // -S wins; the DSN and the publication still come from the file.
    auto flag = run_process(
        {tool_path("pgsync-stream"), "--config", path, "-S", f.slot, "--endpos", end, "--no-loop"});
    INFO(flag.err);
    CHECK(flag.exit_code == 0);
    CHECK(flag.out.find("\"op\":\"insert\"") != std::string::npos);
    drop_stream_fixture(db, f);
}

TEST_CASE("pgsync-config doctor exits 0 when every check passes and 1 when one fails", "[config]") {
    auto db = connect_test_db();
    const std::string t = unique_name("cfg_doctor");
    db.exec("CREATE TABLE " + t + " (id int PRIMARY KEY, v text)");
    const std::string good = test_tmp_dir() + "/" + unique_name("doctor") + ".yaml";
    std::ofstream(good) << "source:\n  dsn: \"" << test_dsn() << "\"\ntables:\n  - name: public."
                        << t << "\n";
    auto ok = run_process({tool_path("pgsync-config"), "doctor", good});
    INFO(ok.out << ok.err);
    CHECK(ok.exit_code == 0);
    CHECK(ok.out.find("FAIL") == std::string::npos);
    const std::string bad = test_tmp_dir() + "/" + unique_name("doctor_bad") + ".yaml";
    std::ofstream(bad) << "source:\n  dsn: \"" << test_dsn()
                       << "\"\ntables:\n  - name: public.no_such_table_cfg\n";
    auto r = run_process({tool_path("pgsync-config"), "validate", "--check-db", bad});
    CHECK(r.exit_code == 1);
    CHECK(r.out.find("FAIL") != std::string::npos);
    CHECK(r.out.find("no_such_table_cfg") != std::string::npos);
}
