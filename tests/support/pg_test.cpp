// Test database helpers.
#include "pg_test.h"

#include <chrono>

#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <unistd.h>

namespace pgsync::test {

std::string test_dsn() {
    const char* dsn = std::getenv("PGSYNC_TEST_DSN");
    if (!dsn || !*dsn)
        throw std::runtime_error(
            "PGSYNC_TEST_DSN is not set: run the suite with scripts/test, which starts its own "
            "PostgreSQL cluster");
    return dsn;
}

pg::Connection connect_test_db() {
    pg::ConnectOptions options;
    options.conninfo = test_dsn();
    options.application_name = "pgsync-tests";
    return pg::Connection::open(options);
}

std::string unique_name(const std::string& prefix) {
    static std::atomic<int> counter{0};
    // The pid alone repeats: ctest runs hundreds of test processes, and in a container's pid
    // namespace pids are small and soon reused, so a table a test left behind could collide
    // with a later process's. The process's start time in microseconds (mod 10^6) sets it apart.
    static const long long started =
        std::chrono::duration_cast<std::chrono::microseconds>(
            std::chrono::system_clock::now().time_since_epoch())
            .count() %
        1000000;
    return prefix + "_" + std::to_string(++counter) + "_" + std::to_string(getpid()) + "_" +
           std::to_string(started);
}

std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) {
        if (c == '\'')
            out += "'\\''";
        else
            out += c;
    }
    return out + "'";
}

} // namespace pgsync::test

#include "process.h"

namespace pgsync::test {

PrivateCluster::PrivateCluster(const std::string& extra_conf)
    : m_dir(test_tmp_dir() + "/" + unique_name("cluster")) {
    ProcessOptions options;
    if (!extra_conf.empty()) options.env["PG_CLUSTER_EXTRA_CONF"] = extra_conf;
    options.timeout_seconds = 120;
    auto started = run_process({harness_path(), "start", m_dir}, options);
    auto at = started.out.find("PGPORT=");
    if (started.exit_code != 0 || at == std::string::npos)
        throw std::runtime_error("could not start a private cluster: " + started.err);
    const std::string port = started.out.substr(at + 7, started.out.find('\n', at) - at - 7);
    m_dsn = "host=127.0.0.1 port=" + port + " user=postgres dbname=postgres";
}

PrivateCluster::~PrivateCluster() {
    run_process({harness_path(), "stop", m_dir});
}

pg::Connection PrivateCluster::connect() const {
    return pg::Connection::open({m_dsn, false, "pgsync-tests", {}});
}

} // namespace pgsync::test
