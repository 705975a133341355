// The one real main of every tool: runs the tool's body and turns any escaped error (pgsync::Error,
// CLI11's parse errors, anything else) into one message on stderr and a documented exit code.
#pragma once

#include <CLI/CLI.hpp>
#include "util/stop_flag.h"

#include <csignal>
#include <functional>
#include <string>

namespace pgsync::tool {

// Set by SIGINT/SIGTERM (the handlers only set it); long-running loops poll it and stop cleanly.
extern StopFlag g_stop_requested;
void install_stop_signals();
// Set by SIGHUP once install_reopen_signal() ran: reopen the output file (log rotation).
extern StopFlag g_reopen_requested;
void install_reopen_signal();

// Flags every tool shares: -v/--verbose, -q/--quiet, --log-format, --version.
struct CommonFlags {
    int verbose = 0;
    bool quiet = false;
    std::string log_format = "text";
};
void add_common_flags(CLI::App& app, CommonFlags& flags);
void apply_common_flags(const CommonFlags& flags);

// Parses argv with CLI11 inside the wrapper's error handling; returns false after printing
// --help or --version (the caller returns 0).
bool parse(CLI::App& app, int argc, char** argv);

// Calls body() and maps whatever escapes it to an exit code.
int run(const char* program, const std::function<int()>& body);

std::string version_line(const char* program);

} // namespace pgsync::tool
