// Error-to-exit-code mapping and shared flags for every pgsync tool.
#include "tool_main.h"

#include "util/error.h"
#include "util/log.h"

#include <cstdio>
#include <iostream>
#include <unistd.h>

namespace pgsync::tool {

StopFlag g_stop_requested{0};
StopFlag g_reopen_requested{0};

namespace {
std::string g_program;

void on_stop_signal(int) {
    g_stop_requested = 1;
}
void on_reopen_signal(int) {
    g_reopen_requested = 1;
}

// Thrown by parse() for CLI11 usage errors so run() can print them in our wording.
struct UsageFailure {
    std::string message;
};
} // namespace

void install_stop_signals() {
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; // no SA_RESTART: blocking calls return EINTR so loops see the flag
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    std::signal(SIGPIPE, SIG_IGN); // a closed stdout is an error we report, not a silent death
}

void install_reopen_signal() {
    struct sigaction sa {};
    sa.sa_handler = on_reopen_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGHUP, &sa, nullptr);
}

std::string version_line(const char* program) {
    return std::string(program) + " (pgsync) " PGSYNC_VERSION;
}

void add_common_flags(CLI::App& app, CommonFlags& flags) {
    app.add_flag("-v,--verbose", flags.verbose,
                 "Print more diagnostics on stderr (repeat for more)");
    app.add_flag("-q,--quiet", flags.quiet, "Print only errors on stderr");
    app.add_option("--log-format", flags.log_format, "Diagnostics format on stderr")
        ->check(CLI::IsMember({"text", "json"}));
    app.set_version_flag("-V,--version", version_line(app.get_name().c_str()));
}

void apply_common_flags(const CommonFlags& flags) {
    if (flags.quiet)
        log::set_level(log::Level::Error);
    else if (flags.verbose > 0)
        log::set_level(log::Level::Debug);
    log::set_json(flags.log_format == "json");
}

bool parse(CLI::App& app, int argc, char** argv) {
    try {
        app.parse(argc, argv);
        return true;
    } catch (const CLI::CallForHelp&) {
        std::cout << app.help();
        return false;
    } catch (const CLI::CallForAllHelp&) {
        std::cout << app.help("", CLI::AppFormatMode::All);
        return false;
    } catch (const CLI::CallForVersion&) {
        std::cout << version_line(app.get_name().c_str()) << "\n";
        return false;
    } catch (const CLI::ParseError& e) {
        std::string msg = e.what();
        // CLI11 words some errors with a capital and a trailing period; PostgreSQL style is
        // neither.
        if (!msg.empty() && msg.back() == '.') msg.pop_back();
        if (!msg.empty()) msg[0] = char(std::tolower(static_cast<unsigned char>(msg[0])));
        throw UsageFailure{msg};
    }
}

int run(const char* program, const std::function<int()>& body) {
    g_program = program;
    log::set_program(program);
    const std::string try_help =
        std::string("Try \"") + program + " --help\" for more information.";
    try {
        return body();
    } catch (const UsageFailure& e) {
        log::error(e.message);
        std::fprintf(stderr, "%s\n", try_help.c_str());
        return kExitUsage;
    } catch (const Error& e) {
        std::string message = e.what();
        if (!e.detail().empty()) message += " (" + e.detail() + ")";
        log::error(message, e.hint());
        if (e.exit_code() == kExitUsage && e.hint().empty())
            std::fprintf(stderr, "%s\n", try_help.c_str());
        return e.exit_code();
    } catch (const std::bad_alloc&) {
        log::error("out of memory");
        return kExitRuntime;
    } catch (const std::exception& e) {
        log::error(std::string("internal error: ") + e.what(),
                   "This is a bug in pgsync; please report it with the command you ran.");
        return kExitRuntime;
    }
}

} // namespace pgsync::tool
