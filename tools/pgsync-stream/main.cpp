// pgsync-stream: stream committed changes of a pgoutput slot as NDJSON, at-least-once.
#include "config_option.h"
#include "stream/slot_check.h"
#include "stream/stream.h"
#include "tool_main.h"
#include "util/error.h"
#include "util/log.h"
#include "util/output_sink.h"
#include "util/units.h"

#include <unistd.h>

namespace {

pgsync::Lsn parse_lsn_option(const std::string& text, const char* option) {
    auto lsn = pgsync::Lsn::parse(text);
    if (!lsn)
        throw pgsync::usage_error(std::string("invalid ") + option + " \"" + text + "\"",
                                  "Give an LSN as PostgreSQL prints it, e.g. 0/16B3748.");
    return *lsn;
}

} // namespace

int main(int argc, char** argv) {
    return pgsync::tool::run("pgsync-stream", [&] {
        CLI::App app{"Stream committed changes of a pgoutput replication slot as NDJSON; the slot "
                     "advances only past what the consumer acknowledged.",
                     "pgsync-stream"};
        pgsync::stream::StreamOptions options;
        pgsync::tool::CommonFlags common;
        std::vector<std::string> publications;
        std::string output, start, endpos, catch_up_batch;
        app.add_option("-d,--dbname", options.conninfo,
                       "Connection string, URI or database name (PG* variables apply)");
        std::string config_path;
        app.add_option("-S,--slot", options.slot, "Replication slot to stream from");
        app.add_option("-P,--publication", publications,
                       "Publication(s) to stream (repeatable, or comma-separated)")
            ->delimiter(',');
        app.add_option("--ack-file", options.ack_file,
                       "Read the consumer's acknowledgements (commit end_lsn per line) from PATH");
        app.add_option("-o,--output", output, "Append to FILE instead of writing to stdout");
        app.add_option("--start", start, "Start after this LSN instead of the slot's position");
        app.add_option("-E,--endpos", endpos, "Stop once the stream reaches this LSN");
        app.add_flag("--no-loop", options.no_loop,
                     "Exit on connection loss instead of reconnecting");
        app.add_option("--format", options.format, "Record format")
            ->check(CLI::IsMember({"native", "wal2json", "debezium"}));
        app.add_option("-s,--status-interval", options.status_interval_seconds,
                       "Seconds between status updates to the server (default 10)")
            ->check(CLI::Range(0.1, 3600.0));
        app.add_option("--spill-dir", options.spill_dir,
                       "Directory for large in-progress transactions (default $TMPDIR or /tmp)");
        app.add_option("--catch-up-batch", catch_up_batch,
                       "While more than SIZE/4 of WAL behind, catch up through SQL decoding in "
                       "batches of SIZE, then stream (default 256MB; 0: always stream)");
        pgsync::tool::add_config_option(app, config_path);
        pgsync::tool::add_common_flags(app, common);
        if (!pgsync::tool::parse(app, argc, argv)) return 0;
        pgsync::tool::apply_common_flags(common);

        using pgsync::tool::given;
        if (auto config = pgsync::tool::load_config(config_path)) {
            if (!given(app, "--dbname")) options.conninfo = config->resolved_dsn();
            if (!given(app, "--slot")) options.slot = config->source.slot.value;
            if (!given(app, "--publication") && config->source.publication.set)
                publications = {config->source.publication.value};
            if (!given(app, "--format")) options.format = config->stream.format.value;
            if (!given(app, "--ack-file")) options.ack_file = config->stream.ack_file.value;
            if (!given(app, "--status-interval"))
                options.status_interval_seconds = config->stream.status_interval.value;
            if (!given(app, "--spill-dir")) options.spill_dir = config->stream.spill_dir.value;
        }
        if (options.slot.empty())
            throw pgsync::usage_error(
                "--slot is required",
                "Give --slot, or source.slot in the file given with --config.");
        if (publications.empty())
            throw pgsync::usage_error("--publication is required",
                                      "Give --publication, or source.publication in the file "
                                      "given with --config.");

        options.publications = publications;
        if (!start.empty()) options.start = parse_lsn_option(start, "--start");
        if (!endpos.empty()) options.endpos = parse_lsn_option(endpos, "--endpos");
        if (!catch_up_batch.empty()) {
            auto bytes = pgsync::parse_size(catch_up_batch);
            if (!bytes || (*bytes != 0 && *bytes < 8192))
                throw pgsync::usage_error("invalid --catch-up-batch \"" + catch_up_batch + "\"",
                                          "Give a size of at least 8kB, e.g. 256MB, or 0 to "
                                          "always use the replication protocol.");
            options.catch_up_batch_bytes = *bytes;
        }
        pgsync::tool::install_stop_signals();
        pgsync::tool::install_reopen_signal();
        options.stop = &pgsync::tool::g_stop_requested;
        options.reopen = &pgsync::tool::g_reopen_requested;

        auto out = output.empty() ? pgsync::OutputSink::to_fd(STDOUT_FILENO)
                                  : pgsync::OutputSink::append_to_file(output);
        auto end = pgsync::stream::run_stream(options, out);
        pgsync::log::debug(end == pgsync::stream::StreamEnd::EndposReached ? "reached --endpos"
                                                                           : "stopped");
        return 0;
    });
}
