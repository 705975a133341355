// pgsync::Error: the one error type. Thrown where a problem is detected, caught once in the
// tool's main wrapper (tools/tool_main.cpp), which prints it and exits with its code.
#pragma once

#include <stdexcept>
#include <string>

namespace pgsync {

// Exit codes are a documented contract (see the man pages' EXIT STATUS): every code a tool can
// return is listed here, once.
enum ExitCode : int {
    kExitOk = 0,
    kExitRuntime = 1,  // runtime failure: database, I/O, protocol
    kExitUsage = 2,    // usage or configuration error
    kExitSlotLost = 3, // the slot was invalidated: recreate it and take a new snapshot
};

class Error : public std::runtime_error {
public:
    explicit Error(std::string message, std::string hint = {}, int exit_code = kExitRuntime,
                   std::string detail = {})
        : std::runtime_error(message), m_hint(std::move(hint)), m_detail(std::move(detail)),
          m_exit_code(exit_code) {}

    const std::string& hint() const { return m_hint; }
    const std::string& detail() const { return m_detail; }
    int exit_code() const { return m_exit_code; }

private:
    std::string m_hint;
    std::string m_detail;
    int m_exit_code;
};

// A usage or configuration error (exit code 2).
inline Error usage_error(std::string message, std::string hint = {}) {
    return Error(std::move(message), std::move(hint), kExitUsage);
}

} // namespace pgsync
