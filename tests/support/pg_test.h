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
