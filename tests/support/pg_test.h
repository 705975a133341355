// Access to the PostgreSQL cluster the harness (scripts/test) started: never any other server.
#pragma once

#include "pg/connection.h"

#include <string>

namespace pgsync::test {

// The harness's connection string ($PGSYNC_TEST_DSN). Fails the test when unset.
std::string test_dsn();
pg::Connection connect_test_db();
// A fresh name unique within this test run, for slots, publications and tables: prefix_<n>_<pid>.
std::string unique_name(const std::string& prefix);
// Shell-quotes a string for run_shell().
std::string shell_quote(const std::string& s);

} // namespace pgsync::test

namespace pgsync::test {

// A PostgreSQL cluster of a test's own, for server-wide settings the shared cluster must not get
// (wal_level = replica, max_slot_wal_keep_size) or for restarting the server. Started by the
// harness with extra postgresql.conf lines; stopped when the object goes away.
class PrivateCluster {
public:
    explicit PrivateCluster(const std::string& extra_conf = {});
    ~PrivateCluster();
    PrivateCluster(const PrivateCluster&) = delete;
    PrivateCluster& operator=(const PrivateCluster&) = delete;

    const std::string& dsn() const { return m_dsn; }
    const std::string& dir() const { return m_dir; }
    std::string data_dir() const { return m_dir + "/data"; }
    pg::Connection connect() const;

private:
    std::string m_dir;
    std::string m_dsn;
};

} // namespace pgsync::test
