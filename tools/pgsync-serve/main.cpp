// pgsync-serve: filtered, resumable change streams fanned out to many WebSocket clients.
#include "config_option.h"
#include "serve/access/origin.h"
#include "serve/net/address.h"
#include "serve/access/row_webhook.h"
#include "serve/server.h"
#include "stream/slot_check.h"
#include "tool_main.h"
#include "util/error.h"
#include "util/units.h"

#include <cstdlib>

namespace {

// The value of the environment variable a --*-env option names (secrets never go on the command
// line, where ps shows them).
std::string secret_from(const std::string& variable, const char* option) {
    if (variable.empty()) return {};
    const char* value = std::getenv(variable.c_str());
    if (!value || !*value)
        throw pgsync::usage_error(std::string(option) + " names \"" + variable +
                                      "\", which is not set or empty",
                                  "Export the secret in that variable before starting "
                                  "pgsync-serve.");
    return value;
}

uint64_t size_option(const std::string& text, const char* option) {
    auto size = pgsync::parse_size(text);
    if (!size || *size == 0)
        throw pgsync::usage_error(std::string("invalid ") + option + " \"" + text + "\"",
                                  "Give a size with an optional unit (kB, MB, GB, TB), e.g. 64MB.");
    return *size;
}

// The flags that must go together: a slot and a publication, an authentication setting, and
// --insecure only on a loopback address. Fills options.host and options.port from --listen.
void check_flags(pgsync::serve::ServeOptions& options, const std::string& listen,
                 const std::string& source) {
    using pgsync::usage_error;
    if (!source.empty()) {
        // A replica reads pgsync-publish's stream: the slot is pgsync-stream's, not its own.
        if (!options.slot.empty())
            throw usage_error("--source and --slot cannot be used together",
                              "Give --slot to read a replication slot, or --source "
                              "nats://HOST:PORT/STREAM to read the stream pgsync-publish writes "
                              "from it (a replica), not both.");
        std::string why;
        options.source = pgsync::serve::parse_replica_source(source, why);
        if (!options.source)
            throw usage_error("invalid --source \"" + source + "\": " + why,
                              "Give nats://HOST:PORT[,HOST:PORT...]/STREAM, e.g. "
                              "nats://127.0.0.1:4222/PGSYNC.");
    } else if (options.slot.empty())
        throw usage_error("--slot is required",
                          "Give --slot, or source.slot in the file given with --config; or "
                          "--source nats://HOST:PORT/STREAM to run as a replica.");
    if (options.publication.empty())
        throw usage_error("--publication is required",
                          "Give --publication, or source.publication in the file given with "
                          "--config.");
    auto address = pgsync::serve::parse_listen_address(listen);
    if (!address) {
        const size_t colon = listen.rfind(':');
        if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size())
            throw usage_error("invalid --listen \"" + listen + "\"",
                              "Give HOST:PORT, e.g. 127.0.0.1:8080 (port 0 picks a free port).");
        throw usage_error("invalid port in --listen \"" + listen + "\"",
                          "Give a port from 0 to 65535.");
    }
    std::string why;
    auto host = pgsync::serve::resolve_host(address->host, why);
    if (!host)
        throw usage_error("could not resolve the host \"" + address->host +
                              "\" of --listen: " + why,
                          "Give an address, e.g. 127.0.0.1:8080, or a name this machine resolves.");
    if (options.jwt_secret.empty() && options.api_key.empty() &&
        options.jwt_public_key_file.empty() && options.jwks_file.empty() && !options.insecure)
        throw usage_error("no authentication configured",
                          "Give --jwt-secret-env VAR or --jwt-public-key-file / --jwks-file "
                          "(clients of /v1/ws), --api-key-env VAR (/v1/stream), or --insecure on "
                          "a loopback address for local testing.");
    if (options.jwt_claim.empty())
        throw usage_error("--jwt-claim must not be empty",
                          "Give the claim that holds the grants, e.g. pgsync or "
                          "https://example.com/pgsync.");
    if (options.insecure && !pgsync::serve::is_loopback_host(*host))
        throw usage_error("--insecure is allowed only on a loopback address, not \"" +
                              address->host + "\"",
                          "Listen on 127.0.0.1, or configure --jwt-secret-env / --api-key-env.");
    options.host = *host;
    options.port = address->port;
}

} // namespace

int main(int argc, char** argv) {
    return pgsync::tool::run("pgsync-serve", [&] {
        CLI::App app{"Serve filtered, resumable change streams of a pgoutput slot over WebSocket "
                     "(/v1/ws), raw change records to trusted backends (/v1/stream), /v1/health "
                     "and /metrics.",
                     "pgsync-serve"};
        pgsync::serve::ServeOptions options;
        pgsync::tool::CommonFlags common;
        std::string config_path, jwt_env, api_env;
        std::string retain_bytes = "1GB", retain_age = "7d", queue_bytes = "4MB",
                    segment_bytes = "64MB";
        app.add_option("-d,--dbname", options.conninfo,
                       "Connection string, URI or database name (PG* variables apply)");
        app.add_option("-S,--slot", options.slot, "Replication slot to read (pgoutput)");
        app.add_option("-P,--publication", options.publication, "Publication of the slot");
        std::string source;
        app.add_option("--source", source,
                       "Instead of --slot, read the NATS JetStream stream pgsync-publish writes "
                       "(nats://HOST:PORT[,HOST:PORT...]/STREAM): a replica");
        std::string listen = "127.0.0.1:8080";
        app.add_option("--listen", listen, "HOST:PORT to listen on (default 127.0.0.1:8080)");
        app.add_option("--storage-dir", options.storage_dir,
                       "Directory of the durable change log (default ./pgsync-data)");
        app.add_option("--jwt-secret-env", jwt_env,
                       "Environment variable holding the HS256 secret for /v1/ws tokens");
        app.add_option("--api-key-env", api_env,
                       "Environment variable holding the API key for /v1/stream and /v1/token");
        app.add_option("--jwt-public-key-file", options.jwt_public_key_file,
                       "PEM public key (RSA: RS256, EC P-256: ES256) of an identity provider's "
                       "tokens");
        app.add_option("--jwks-file", options.jwks_file,
                       "JWKS file of an identity provider's RS256/ES256 keys, chosen by kid");
        app.add_option("--jwt-claim", options.jwt_claim,
                       "Claim holding the grants ({\"tables\": ...}; default pgsync)");
        app.add_option("--jwt-issuer", options.jwt_issuer, "Required \"iss\" of every token");
        app.add_option("--jwt-audience", options.jwt_audience,
                       "Required \"aud\" of every token (equal, or in its array)");
        app.add_flag("--insecure", options.insecure,
                     "No authentication (loopback addresses only; for local development)");
        app.add_option("--retain-bytes", retain_bytes, "Keep at most this much log (default 1GB)");
        app.add_option("--segment-bytes", segment_bytes,
                       "Start a new log segment past this size (default 64MB)");
        app.add_option("--retain-age", retain_age, "Keep log at most this long (default 7d)");
        app.add_option("--client-queue-bytes", queue_bytes,
                       "Disconnect a client whose unsent frames pass this size (default 4MB)");
        app.add_option("--client-timeout", options.client_timeout_seconds,
                       "Seconds a client may leave its full queue undrained before it is "
                       "disconnected (default 30)")
            ->check(CLI::Range(0.1, 86400.0));
        app.add_option("--max-clients", options.max_clients, "Connections at once (default 20000)")
            ->check(CLI::Range(1, 1000000));
        app.add_option("--load-jobs", options.load_jobs,
                       "Database connections for initial loads (default 2)")
            ->check(CLI::Range(1, 64));
        options.threads = 0;
        app.add_option("--threads", options.threads,
                       "Event-loop threads serving the connections (default 0: one per CPU this "
                       "process may use, here " +
                           std::to_string(pgsync::serve::available_cpus()) + ")")
            ->check(CLI::Range(0, 256));
        app.add_option("--allow-origin", options.allow_origins,
                       "A web page origin (scheme://host[:port]) allowed to connect; repeatable. "
                       "With tokens, only these pages may connect once one is given; without, "
                       "loopback pages and these")
            ->allow_extra_args(false);
        app.add_option("--static-dir", options.static_dir,
                       "Serve the files of DIR at /app/ (e.g. a page under development)")
            ->check(CLI::ExistingDirectory);
        app.add_option("--idle-timeout", options.idle_timeout_seconds,
                       "Ping a client idle for half of SECS, close it when nothing came back "
                       "in SECS (default 0: never)")
            ->check(CLI::Validator(
                [](const std::string& text) -> std::string {
                    int seconds = -1;
                    try {
                        seconds = std::stoi(text);
                    } catch (const std::exception&) {
                    }
                    return seconds == 0 || (seconds >= 2 && seconds <= 65535)
                               ? std::string()
                               : "give 0 (never) or 2 to 65535 seconds, not \"" + text + "\"";
                },
                "SECS"));
        app.add_option("--long-poll-timeout", options.long_poll_seconds,
                       "Seconds a live /v1/shape request is held when nothing changes "
                       "(default 20)")
            ->check(CLI::Range(1, 40));
        app.add_option("--sse-timeout", options.sse_seconds,
                       "Seconds a /v1/shape Server-Sent Events response lasts (default 60)")
            ->check(CLI::Range(2, 3600));
        std::string chunk_bytes = "10MB";
        app.add_option("--shape-chunk-bytes", chunk_bytes,
                       "End a /v1/shape snapshot chunk past this size (default 10MB)");
        app.add_option("--max-shapes", options.max_shapes,
                       "/v1/shape shapes held at once (default 10000)")
            ->check(CLI::Range(1, 10000000));
        app.add_option("--ready-file", options.ready_file,
                       "Write the bound HOST:PORT to PATH once listening");
        pgsync::tool::add_config_option(app, config_path);
        pgsync::tool::add_common_flags(app, common);
        if (!pgsync::tool::parse(app, argc, argv)) return 0;
        pgsync::tool::apply_common_flags(common);

        using pgsync::tool::given;
        if (auto config = pgsync::tool::load_config(config_path)) {
            const auto& serve = config->serve;
            if (!given(app, "--dbname")) options.conninfo = config->resolved_dsn();
            // serve.source makes a replica: the file's source.slot is then pgsync-stream's.
            if (!given(app, "--slot") && !given(app, "--source")) {
                if (serve.source.set)
                    source = serve.source.value;
                else
                    options.slot = config->source.slot.value;
            }
            if (!given(app, "--publication"))
                options.publication = config->source.publication.value;
            if (!given(app, "--listen")) listen = serve.listen.value;
            if (!given(app, "--storage-dir")) options.storage_dir = serve.storage_dir.value;
            if (!given(app, "--jwt-secret-env")) jwt_env = serve.auth.jwt_secret_env.value;
            if (!given(app, "--api-key-env")) api_env = serve.auth.api_key_env.value;
            if (!given(app, "--insecure")) options.insecure = serve.auth.insecure.value;
            if (!given(app, "--jwt-public-key-file"))
                options.jwt_public_key_file = serve.auth.jwt_public_key_file.value;
            if (!given(app, "--jwks-file")) options.jwks_file = serve.auth.jwks_file.value;
            if (!given(app, "--jwt-claim")) options.jwt_claim = serve.auth.jwt_claim.value;
            if (!given(app, "--jwt-issuer")) options.jwt_issuer = serve.auth.jwt_issuer.value;
            if (!given(app, "--jwt-audience")) options.jwt_audience = serve.auth.jwt_audience.value;
            if (!given(app, "--retain-bytes")) retain_bytes = serve.retain_bytes.value;
            if (!given(app, "--retain-age")) retain_age = serve.retain_age.value;
            if (!given(app, "--client-queue-bytes")) queue_bytes = serve.client_queue_bytes.value;
            if (!given(app, "--client-timeout"))
                options.client_timeout_seconds = serve.client_timeout.value;
            if (!given(app, "--max-clients")) options.max_clients = serve.max_clients.value;
            if (!given(app, "--load-jobs")) options.load_jobs = serve.load_jobs.value;
            if (!given(app, "--threads")) options.threads = serve.threads.value;
            options.tables = config->tables;
            if (serve.auth.row_webhook)
                options.row_webhook = pgsync::serve::row_webhook_options(*serve.auth.row_webhook);
        }
        options.jwt_secret = secret_from(jwt_env, "--jwt-secret-env");
        options.api_key = secret_from(api_env, "--api-key-env");
        options.retain_bytes = size_option(retain_bytes, "--retain-bytes");
        options.client_queue_bytes = size_option(queue_bytes, "--client-queue-bytes");
        options.segment_bytes = size_option(segment_bytes, "--segment-bytes");
        options.shape_chunk_bytes = size_option(chunk_bytes, "--shape-chunk-bytes");
        auto age = pgsync::parse_duration(retain_age);
        if (!age || age->count() == 0)
            throw pgsync::usage_error("invalid --retain-age \"" + retain_age + "\"",
                                      "Give a duration with a unit (s, m, h, d), e.g. 7d.");
        options.retain_age = *age;

        check_flags(options, listen, source);
        if (options.threads == 0) options.threads = pgsync::serve::available_cpus();

        pgsync::tool::install_stop_signals();
        options.stop = &pgsync::tool::g_stop_requested;
        pgsync::serve::run_server(options);
        return 0;
    });
}
