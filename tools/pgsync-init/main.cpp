// pgsync-init: check the database, create the publication and a pgoutput slot, export its snapshot.
#include "config_option.h"
#include "init/init.h"
#include "tool_main.h"
#include "util/error.h"

#include <unistd.h>

int main(int argc, char** argv) {
    return pgsync::tool::run("pgsync-init", [&] {
        CLI::App app{"Check the database, create the publication and a pgoutput logical "
                     "replication slot, and export its snapshot.",
                     "pgsync-init"};
        pgsync::init::InitOptions options;
        pgsync::tool::CommonFlags common;
        app.add_option("-d,--dbname", options.conninfo,
                       "Connection string, URI or database name (PG* variables apply)");
        std::string config_path;
        app.add_option("-S,--slot", options.slot, "Replication slot name");
        app.add_option("-P,--publication", options.publication, "Publication name");
        auto* tables = app.add_option("-t,--table", options.tables,
                                      "Table to publish (repeatable; schema.name)");
        auto* all = app.add_flag("--all-tables", options.all_tables,
                                 "Publish every table (FOR ALL TABLES)");
        tables->excludes(all);
        app.add_flag("--hold", options.hold,
                     "Keep the exported snapshot valid until the reader of stdout closes it");
        app.add_option("--hold-timeout", options.hold_timeout_seconds,
                       "Release a held snapshot after this many seconds")
            ->check(CLI::PositiveNumber);
        app.add_flag("--if-not-exists", options.if_not_exists,
                     "Reuse an existing slot (no snapshot is exported then)");
        auto* drop = app.add_flag("--drop", options.drop,
                                  "Drop the slot, and the publication if pgsync-init created it");
        app.add_option("--create-timeout", options.create_timeout_seconds,
                       "Give up creating the slot after this many seconds (default 60)")
            ->check(CLI::PositiveNumber);
        drop->excludes(tables)->excludes(all);
        pgsync::tool::add_config_option(app, config_path);
        pgsync::tool::add_common_flags(app, common);
        if (!pgsync::tool::parse(app, argc, argv)) return 0;
        pgsync::tool::apply_common_flags(common);

        using pgsync::tool::given;
        if (auto config = pgsync::tool::load_config(config_path)) {
            if (!given(app, "--dbname")) options.conninfo = config->resolved_dsn();
            if (!given(app, "--slot")) options.slot = config->source.slot.value;
            if (!given(app, "--publication"))
                options.publication = config->source.publication.value;
            if (!given(app, "--table") && !given(app, "--all-tables") && !options.drop)
                for (const auto& table : config->tables)
                    options.tables.push_back(table.name.value);
        }
        if (options.slot.empty())
            throw pgsync::usage_error(
                "--slot is required",
                "Give --slot, or source.slot in the file given with --config.");

        if (!options.drop) {
            if (options.publication.empty())
                throw pgsync::usage_error("--publication is required",
                                          "Give --publication, or source.publication in the file "
                                          "given with --config.");
            if (options.tables.empty() && !options.all_tables)
                throw pgsync::usage_error("name the tables to publish with --table, or use "
                                          "--all-tables");
        }
        pgsync::tool::install_stop_signals();
        options.stop = &pgsync::tool::g_stop_requested;
        auto out = pgsync::OutputSink::to_fd(STDOUT_FILENO);
        pgsync::init::run_init(options, out);
        return 0;
    });
}
