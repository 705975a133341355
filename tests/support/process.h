// Runs a real binary for tool and integration tests: argv, stdin text, extra environment, a time
// limit (a hung tool fails the test instead of hanging the suite), captured stdout/stderr.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace pgsync::test {

struct ProcessResult {
    int exit_code = -1; // -1 when killed by a signal or the time limit
    int signal = 0;
    bool timed_out = false;
    std::string out;
    std::string err;
};

struct ProcessOptions {
    std::string stdin_data;
    bool close_stdin = true;                // stdin is /dev/null when stdin_data is empty
    std::map<std::string, std::string> env; // added to (or replacing in) the environment
    double timeout_seconds = 60;
};

ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& options = {});

// Runs "/bin/sh -c command" (for pipelines between pgsync tools).
ProcessResult run_shell(const std::string& command, const ProcessOptions& options = {});

// Path to a built tool in the build's bin/ ($PGSYNC_BIN_DIR overrides).
std::string tool_path(const std::string& name);
// tests/harness/pg-cluster, for tests that need a server configured differently.
std::string harness_path();
// The source tree's man/ directory ($PGSYNC_MAN_DIR overrides).
std::string man_dir();
// A scratch directory inside the build tree (created on first use).
std::string test_tmp_dir();

} // namespace pgsync::test

namespace pgsync::test {

// A process the test talks to while it runs: its stdout read line by line, stderr collected.
class LiveProcess {
public:
    LiveProcess(const std::vector<std::string>& argv,
                const std::map<std::string, std::string>& env = {});
    ~LiveProcess(); // kills it (SIGKILL) if still running
    LiveProcess(const LiveProcess&) = delete;
    LiveProcess& operator=(const LiveProcess&) = delete;

    // The next line of stdout without its newline; nullopt at end of output or after timeout.
    std::optional<std::string> read_line(double timeout_seconds);
    void signal(int sig);
    // Waits for exit (killing it after the timeout); returns the exit code, -1 if signalled.
    int wait(double timeout_seconds);
    const std::string& err(); // stderr so far
    int pid() const { return m_pid; }

private:
    void pump(int timeout_ms);
    int m_pid = -1;
    int m_out = -1, m_err = -1;
    std::string m_out_buffer, m_err_buffer;
    bool m_out_closed = false;
    int m_status = -1;
    bool m_exited = false;
};

} // namespace pgsync::test
