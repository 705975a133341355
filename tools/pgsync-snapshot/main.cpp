// pgsync-snapshot: dump tables consistently at the slot's starting point as NDJSON.
#include "config_option.h"
#include "snapshot/snapshot.h"
#include "tool_main.h"
#include "util/error.h"
#include "util/log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

bool stdin_is_pipe() {
    struct stat st {};
    return fstat(STDIN_FILENO, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
}

// Closing our end of the pipe tells "pgsync-init --hold" that the snapshot may go. fd 0 is kept
// valid (as /dev/null) so nothing else picks it up.
void release_stdin() {
    int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ::dup2(fd, STDIN_FILENO);
        ::close(fd);
    } else {
        ::close(STDIN_FILENO);
    }
}

} // namespace

int main(int argc, char** argv) {
    return pgsync::tool::run("pgsync-snapshot", [&] {
        CLI::App app{"Dump tables consistently at a replication slot's starting point as NDJSON.",
                     "pgsync-snapshot"};
        pgsync::snapshot::SnapshotOptions options;
        pgsync::tool::CommonFlags common;
        std::string output;
        bool progress = false, no_progress = false, no_init_line = false;
        app.add_option("-d,--dbname", options.conninfo,
                       "Connection string, URI or database name (PG* variables apply)");
        auto* tables =
            app.add_option("-t,--table", options.tables, "Table to read (repeatable; schema.name)");
        app.add_option(
               "-P,--publication", options.publication,
               "Read the tables of this publication (with its column lists and row filters)")
            ->excludes(tables);
        app.add_option("-j,--jobs", options.jobs, "Read with N connections in parallel")
            ->check(CLI::Range(1, 64));
        app.add_option("-o,--output", output, "Write to FILE instead of standard output");
        app.add_flag("--numbers-as-strings", options.numbers_as_strings,
                     "Write int8 and numeric values as JSON strings");
        auto* p = app.add_flag("--progress", progress, "Show progress on stderr");
        app.add_flag("--no-progress", no_progress, "Never show progress")->excludes(p);
        app.add_flag("--no-init-line", no_init_line,
                     "Do not read a pgsync-init line from standard input");
        std::string config_path;
        pgsync::tool::add_config_option(app, config_path);
        pgsync::tool::add_common_flags(app, common);
        if (!pgsync::tool::parse(app, argc, argv)) return 0;
        pgsync::tool::apply_common_flags(common);

        using pgsync::tool::given;
        if (auto config = pgsync::tool::load_config(config_path)) {
            if (!given(app, "--dbname")) options.conninfo = config->resolved_dsn();
            if (!given(app, "--table") && !given(app, "--publication")) {
                for (const auto& table : config->tables)
                    options.tables.push_back(table.name.value);
                if (options.tables.empty()) options.publication = config->source.publication.value;
            }
            if (!given(app, "--jobs")) options.jobs = config->snapshot.jobs.value;
            if (!given(app, "--numbers-as-strings"))
                options.numbers_as_strings = config->snapshot.numbers_as_strings.value;
        }

        options.progress = progress || (!no_progress && isatty(STDERR_FILENO) && !common.quiet);
        if (!no_init_line && stdin_is_pipe()) {
            auto line = pgsync::snapshot::read_line(STDIN_FILENO);
            if (!line)
                throw pgsync::Error("standard input is a pipe but ended without a pgsync-init line",
                                    "Check that pgsync-init succeeded (its error is above), or "
                                    "pass --no-init-line to ignore standard input.");
            options.init = pgsync::snapshot::parse_init_line(*line);
            options.release_init = release_stdin;
        }
        pgsync::tool::install_stop_signals();
        options.stop = &pgsync::tool::g_stop_requested;
        auto out = output.empty() ? pgsync::OutputSink::to_fd(STDOUT_FILENO)
                                  : pgsync::OutputSink::to_file(output);
        auto result = pgsync::snapshot::run_snapshot(options, out);
        uint64_t total = 0;
        for (const auto& [name, rows] : result.rows)
            total += rows;
        pgsync::log::debug("wrote " + std::to_string(total) + " rows at " +
                           result.consistent_point);
        return 0;
    });
}
