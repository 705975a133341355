// Runs a real binary for tool and integration tests: argv, stdin text, extra environment, a time
// limit (a hung tool fails the test instead of hanging the suite), captured stdout/stderr.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace pgsync::test {

struct ProcessResult {
    int exit_code = -1;      // -1 when killed by a signal or the time limit
    int signal = 0;
    bool timed_out = false;
    std::string out;
    std::string err;
};

struct ProcessOptions {
    std::string stdin_data;
    bool close_stdin = true;                   // stdin is /dev/null when stdin_data is empty
    std::map<std::string, std::string> env;    // added to (or replacing in) the environment
    double timeout_seconds = 60;
};

ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& options = {});

// Runs "/bin/sh -c command" (for pipelines between pgsync tools).
ProcessResult run_shell(const std::string& command, const ProcessOptions& options = {});

// Path to a built tool in the build's bin/ ($PGSYNC_BIN_DIR overrides).
std::string tool_path(const std::string& name);
// tests/harness/pg-cluster, for tests that need a server configured differently.
std::string harness_path();
// A scratch directory inside the build tree (created on first use).
std::string test_tmp_dir();

} // namespace pgsync::test
