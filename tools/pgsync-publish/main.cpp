// pgsync-publish: pgsync-stream's native records into a NATS JetStream stream, acknowledging each
// transaction back to pgsync-stream once JetStream stored it.
#include "config_option.h"
#include "publish/publisher.h"
#include "tool_main.h"
#include "util/error.h"
#include "util/log.h"

#include <cstdlib>
#include <unistd.h>

int main(int argc, char** argv) {
    return pgsync::tool::run("pgsync-publish", [&] {
        CLI::App app{"Publish pgsync-stream's native change records to a NATS JetStream stream, "
                     "one message per row, acknowledging each transaction once it is stored.",
                     "pgsync-publish"};
        pgsync::publish::PublishOptions options;
        pgsync::tool::CommonFlags common;
        std::string config_path;
        int max_in_flight = 1024;
        app.add_option("--nats", options.nats_urls,
                       "NATS server URL(s), comma-separated (default $NATS_URL)");
        app.add_option("--stream", options.stream, "JetStream stream to publish to (default "
                                                   "PGSYNC)");
        app.add_option("--ack-file", options.ack_file,
                       "Write each stored transaction's end_lsn to PATH (pgsync-stream's "
                       "--ack-file)");
        app.add_flag("--create-stream", options.create_stream, "Create the stream when missing");
        app.add_option("--replicas", options.replicas,
                       "Replicas of a stream made by --create-stream (default 1)")
            ->check(CLI::Range(1, 5));
        app.add_option("--max-in-flight", max_in_flight,
                       "Messages published and not yet acknowledged, at most (default 1024)")
            ->check(CLI::Range(1, 1000000));
        app.add_option("--ack-timeout", options.ack_timeout_seconds,
                       "Seconds to wait for JetStream to acknowledge a message (default 10)")
            ->check(CLI::Range(0.1, 3600.0));
        pgsync::tool::add_config_option(app, config_path);
        pgsync::tool::add_common_flags(app, common);
        if (!pgsync::tool::parse(app, argc, argv)) return 0;
        pgsync::tool::apply_common_flags(common);

        using pgsync::tool::given;
        std::optional<pgsync::config::Config> config = pgsync::tool::load_config(config_path);
        if (config) {
            const auto& publish = config->publish;
            if (!given(app, "--nats")) options.nats_urls = publish.nats.value;
            if (!given(app, "--stream")) options.stream = publish.stream.value;
            if (!given(app, "--ack-file")) options.ack_file = publish.ack_file.value;
            if (!given(app, "--create-stream")) options.create_stream = publish.create_stream.value;
            if (!given(app, "--replicas")) options.replicas = publish.replicas.value;
            if (!given(app, "--max-in-flight")) max_in_flight = publish.max_in_flight.value;
            if (!given(app, "--ack-timeout")) options.ack_timeout_seconds = publish.ack_timeout.value;
            options.layout.prefix = publish.subject_prefix.value;
            options.layout.channel_subject = publish.channel_subject.value;
            options.layout.table_subject = publish.table_subject.value;
            options.config = &*config;
        }
        if (options.nats_urls.empty())
            if (const char* env = std::getenv("NATS_URL")) options.nats_urls = env;
        if (options.nats_urls.empty())
            throw pgsync::usage_error("--nats is required",
                                      "Give --nats, publish.nats in the file given with --config, "
                                      "or the environment variable NATS_URL.");
        if (given(app, "--replicas") && !options.create_stream)
            throw pgsync::usage_error("--replicas needs --create-stream",
                                      "--replicas sets the replicas of a stream that "
                                      "--create-stream creates.");
        if (options.stream.empty())
            throw pgsync::usage_error("--stream must not be empty");
        options.max_in_flight = uint64_t(max_in_flight);

        pgsync::tool::install_stop_signals();
        options.stop = &pgsync::tool::g_stop_requested;
        auto stats = pgsync::publish::run_publish(options, STDIN_FILENO);
        pgsync::log::info("published " + std::to_string(stats.messages) + " messages from " +
                          std::to_string(stats.records) + " records");
        return 0;
    });
}
