// pgsync-config: validate pgsync.yaml (and the database behind it), show the effective
// configuration, write a starting file. One table of commands feeds --help and "did you mean".
#include "config/doctor.h"
#include "config/load.h"
#include "config/render.h"
#include "pg/connection.h"
#include "tool_main.h"
#include "util/error.h"
#include "util/log.h"
#include "util/suggest.h"

#include <fstream>
#include <iostream>
#include <sys/stat.h>

namespace {

struct Command {
    const char* name;
    const char* summary;
};
constexpr Command kCommands[] = {
    {"validate", "Check files: syntax, schema and meaning, every problem in one run"},
    {"doctor", "Check the database behind a file (validate --check-db)"},
    {"show", "Print the effective configuration, secrets masked"},
    {"init", "Write a commented starting file"},
};

// An unknown first word is a command typo far more often than anything else.
void check_command(int argc, char** argv) {
    if (argc < 2 || argv[1][0] == '-') return;
    std::vector<std::string> names;
    for (const auto& c : kCommands)
        names.emplace_back(c.name);
    for (const auto& n : names)
        if (n == argv[1]) return;
    auto near = pgsync::closest_word(argv[1], names);
    throw pgsync::usage_error(std::string("unknown command \"") + argv[1] + "\"",
                              near ? "Did you mean \"" + *near + "\"?"
                                   : "The commands are validate, doctor, show and init.");
}

// Checks the database behind each valid file; returns true when some check failed.
bool check_databases(const std::vector<pgsync::config::Config>& configs,
                     const std::string& dsn_flag, bool json) {
    bool failed = false;
    for (const auto& config : configs) {
        const std::string dsn = dsn_flag.empty() ? config.resolved_dsn() : dsn_flag;
        pgsync::pg::Connection conn =
            pgsync::pg::Connection::open({dsn, false, "pgsync-config", {}});
        auto results = pgsync::config::check_database(conn, config);
        std::cout << (json ? pgsync::config::format_checks_json(results)
                           : pgsync::config::format_checks_text(results));
        for (const auto& r : results)
            if (r.status == pgsync::config::CheckStatus::Fail) failed = true;
    }
    return failed;
}

} // namespace

int main(int argc, char** argv) {
    return pgsync::tool::run("pgsync-config", [&] {
        check_command(argc, argv);
        CLI::App app{"Validate the one configuration file of the pgsync tools, and the database "
                     "behind it.",
                     "pgsync-config"};
        pgsync::tool::CommonFlags common;
        pgsync::tool::add_common_flags(app, common);
        app.require_subcommand(1);

        std::vector<std::string> files;
        std::string format = "text", dsn, init_path;
        bool check_db = false, no_mask = false, force = false;
        auto* validate = app.add_subcommand(kCommands[0].name, kCommands[0].summary);
        validate->add_option("files", files, "Configuration files")->required();
        validate->add_option("--format", format, "Diagnostics format")
            ->check(CLI::IsMember({"text", "json"}));
        validate->add_flag("--check-db", check_db, "Also connect and check the database");
        validate->add_option("-d,--dbname", dsn, "Connection string (overrides source.dsn)");
        auto* doctor = app.add_subcommand(kCommands[1].name, kCommands[1].summary);
        doctor->add_option("file", files, "Configuration file")->required()->expected(1);
        doctor->add_option("--format", format, "Report format")
            ->check(CLI::IsMember({"text", "json"}));
        doctor->add_option("-d,--dbname", dsn, "Connection string (overrides source.dsn)");
        auto* show = app.add_subcommand(kCommands[2].name, kCommands[2].summary);
        show->add_option("file", files, "Configuration file")->required()->expected(1);
        show->add_flag("--no-mask", no_mask, "Show secrets instead of ****");
        auto* init = app.add_subcommand(kCommands[3].name, kCommands[3].summary);
        init->add_option("file", init_path, "Write here instead of standard output");
        init->add_flag("--force", force, "Overwrite an existing file");
        if (!pgsync::tool::parse(app, argc, argv)) return 0;
        pgsync::tool::apply_common_flags(common);
        const bool json = format == "json";

        if (*show) {
            auto config = pgsync::config::load_or_throw(files.front());
            std::cout << pgsync::config::render_effective(config, !no_mask);
            return 0;
        }
        if (*init) {
            const std::string text = pgsync::config::starter_file();
            if (init_path.empty()) {
                std::cout << text;
                return 0;
            }
            struct stat st {};
            if (!force && ::stat(init_path.c_str(), &st) == 0)
                throw pgsync::usage_error("file \"" + init_path + "\" already exists",
                                          "Use --force to overwrite it.");
            std::ofstream out(init_path, std::ios::trunc);
            out << text;
            if (!out.flush())
                throw pgsync::Error("could not write \"" + init_path + "\"",
                                    "Check that the directory exists and is writable.");
            pgsync::log::info("wrote " + init_path);
            return 0;
        }

        // validate and doctor: report every problem of every file, then check the databases.
        std::vector<pgsync::config::Diagnostic> all;
        std::vector<pgsync::config::Config> valid;
        for (const auto& file : files) {
            auto result = pgsync::config::load_file(file);
            if (!pgsync::config::has_errors(result.diagnostics))
                valid.push_back(std::move(result.config));
            all.insert(all.end(), result.diagnostics.begin(), result.diagnostics.end());
        }
        if (json && !(*doctor || check_db))
            std::cout << pgsync::config::format_json(all);
        else if (!all.empty())
            std::cerr << pgsync::config::format_text(all);
        if (pgsync::config::has_errors(all)) return int(pgsync::kExitUsage);
        if (!(*doctor || check_db)) {
            for (const auto& file : files)
                pgsync::log::info(file + ": valid");
            return 0;
        }
        return check_databases(valid, dsn, json) ? int(pgsync::kExitRuntime) : 0;
    });
}
