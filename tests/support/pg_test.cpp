// Test database helpers.
#include "pg_test.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <stdexcept>

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
    return prefix + "_" + std::to_string(++counter) + "_" + std::to_string(getpid());
}

std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) {
        if (c == '\'') out += "'\\''";
        else out += c;
    }
    return out + "'";
}

} // namespace pgsync::test
