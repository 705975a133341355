// pgsync.yaml from bytes to Config: parse (yaml_document), then read every section with typed
// checks (reader), reporting every problem; the tables section lives in load_tables.cpp.
#include "config/load.h"

#include "config/load_publish.h"
#include "config/load_tables.h"
#include "config/reader.h"
#include "config/yaml_document.h"
#include "util/error.h"
#include "util/log.h"
#include "util/units.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace pgsync::config {

namespace {

bool is_variable_name(std::string_view s) {
    if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
    for (char c : s)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    return true;
}

// The names of environment variables are checked so a secret pasted into "dsn_env" is caught.
void check_variable_name(Reader& reader, const Value<std::string>& value, const char* key,
                         const std::string& context) {
    if (!value.set || is_variable_name(value.value)) return;
    reader.error(
        value.origin, subject(key, context) + " must name an environment variable",
        "An environment variable name has letters, digits and underscores, e.g. PGSYNC_DSN.");
}

// A section's mapping, or nullptr when it is absent, empty (null) or not a mapping (reported).
const YamlNode* section(Reader& reader, const YamlNode& parent, const char* key,
                        const std::string& context) {
    const YamlNode* node = Reader::find(parent, key);
    if (!node || node->kind == YamlNode::Kind::Null) return nullptr;
    if (!reader.expect(*node, NodeType::Mapping, key, context)) return nullptr;
    return node;
}

void read_source(Reader& reader, const YamlNode& root, Source& source) {
    const YamlNode* node = section(reader, root, "source", "");
    if (!node) return;
    reader.check_keys(*node, "source", {"dsn", "dsn_env", "slot", "publication"});
    reader.read(*node, "dsn", "source", source.dsn);
    reader.read(*node, "dsn_env", "source", source.dsn_env);
    reader.read(*node, "slot", "source", source.slot);
    reader.read(*node, "publication", "source", source.publication);
    check_variable_name(reader, source.dsn_env, "dsn_env", "source");
    if (source.dsn.set && source.dsn_env.set)
        reader.error(source.dsn_env.origin, "\"source\" has both \"dsn\" and \"dsn_env\"",
                     "Give the connection string in \"dsn\" or the name of the variable holding it "
                     "in \"dsn_env\", not both.");
    if (source.slot.set) {
        const std::string& slot = source.slot.value;
        bool valid = slot.size() <= 63;
        for (char c : slot)
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) valid = false;
        if (!valid)
            reader.error(
                source.slot.origin, "invalid replication slot name \"" + slot + '"',
                "A slot name has lower-case letters, digits and underscores, at most 63 of "
                "them.");
    }
}

void read_stream(Reader& reader, const YamlNode& root, Stream& stream) {
    const YamlNode* node = section(reader, root, "stream", "");
    if (!node) return;
    reader.check_keys(*node, "stream", {"format", "ack_file", "status_interval", "spill_dir"});
    reader.read(*node, "format", "stream", stream.format);
    reader.read(*node, "ack_file", "stream", stream.ack_file);
    reader.read(*node, "status_interval", "stream", stream.status_interval);
    reader.read(*node, "spill_dir", "stream", stream.spill_dir);
    const std::string& format = stream.format.value;
    if (stream.format.set && format != "native" && format != "wal2json" && format != "debezium")
        reader.error(stream.format.origin, "unknown format \"" + format + "\" in \"stream\"",
                     "Valid formats are " + quoted_list({"native", "wal2json", "debezium"}) + ".");
    if (stream.status_interval.set) {
        const double interval = stream.status_interval.value;
        if (!(interval > 0))
            reader.error(stream.status_interval.origin,
                         "\"status_interval\" in \"stream\" must be greater than 0");
        else if (!std::isfinite(interval))
            reader.error(stream.status_interval.origin,
                         "\"status_interval\" in \"stream\" must be finite");
    }
}

void read_snapshot(Reader& reader, const YamlNode& root, Snapshot& snapshot) {
    const YamlNode* node = section(reader, root, "snapshot", "");
    if (!node) return;
    reader.check_keys(*node, "snapshot", {"jobs", "numbers_as_strings"});
    reader.read(*node, "jobs", "snapshot", snapshot.jobs, 1, 64);
    reader.read(*node, "numbers_as_strings", "snapshot", snapshot.numbers_as_strings);
}

// host:port or [v6 address]:port, with a port of 1..65535.
bool valid_listen(std::string_view text) {
    std::string_view host, port;
    if (!text.empty() && text[0] == '[') {
        const std::size_t close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
            return false;
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        const std::size_t colon = text.rfind(':');
        if (colon == std::string_view::npos) return false;
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos) return false; // a bare IPv6 address
    }
    if (host.empty() || port.empty() || port.size() > 5) return false;
    for (char c : host)
        if (c == ' ' || c == '/' || c == '[' || c == ']') return false;
    int number = 0;
    for (char c : port) {
        if (c < '0' || c > '9') return false;
        number = number * 10 + (c - '0');
    }
    return number >= 1 && number <= 65535;
}

// A duration with milliseconds ("500ms", "2s"), or a bare 0 where zero is allowed.
void read_milliseconds(Reader& reader, const YamlNode& mapping, const char* key,
                       const std::string& context, Value<std::string>& out, bool zero_allowed) {
    const YamlNode* node = Reader::find(mapping, key);
    if (!node || node->kind == YamlNode::Kind::Null) return;
    const NodeType type = node_type(*node);
    if (type != NodeType::Integer && type != NodeType::Number &&
        !reader.expect(*node, NodeType::String, key, context))
        return;
    const std::optional<std::chrono::milliseconds> parsed = parse_milliseconds(node->text);
    if (!parsed) {
        reader.error(node->origin,
                     "invalid duration \"" + node->text + "\" for " + subject(key, context),
                     "Write a number with a unit: ms, s, m or h, e.g. 500ms or 2s.");
        return;
    }
    if (parsed->count() == 0 && !zero_allowed) {
        reader.error(node->origin, subject(key, context) + " must be longer than 0",
                     "Write a number with a unit: ms, s, m or h, e.g. 500ms or 2s.");
        return;
    }
    out = Value<std::string>{node->text, true, node->origin};
}

void read_row_webhook(Reader& reader, const YamlNode& auth, ServeAuth& out) {
    const std::string context = "serve.auth.row_webhook";
    const YamlNode* node = section(reader, auth, "row_webhook", "serve.auth");
    if (!node) return;
    RowWebhook& webhook = out.row_webhook.emplace();
    webhook.origin = node->origin;
    reader.check_keys(
        *node, context,
        {"url", "timeout", "concurrency", "cache_ttl", "batch_size", "on_deny", "source_db_id",
         "secret_env"});
    if (!Reader::given(*node, "url"))
        reader.error(node->origin, "\"row_webhook\" in \"serve.auth\" has no \"url\"",
                     "Give the app's endpoint that authorises rows, e.g. url: "
                     "https://app.example/authorize-row.");
    reader.read(*node, "url", context, webhook.url);
    if (webhook.url.set) {
        std::string scheme = webhook.url.value.substr(0, webhook.url.value.find("://"));
        for (char& c : scheme)
            if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
        const bool has_host = webhook.url.value.find("://") != std::string::npos &&
                              webhook.url.value.find("://") + 3 < webhook.url.value.size();
        if ((scheme != "http" && scheme != "https") || !has_host)
            reader.error(webhook.url.origin,
                         "\"url\" in \"" + context + "\" must be an http:// or https:// URL",
                         "Give the app's endpoint, e.g. https://app.example/authorize-row.");
    }
    read_milliseconds(reader, *node, "timeout", context, webhook.timeout, false);
    if (webhook.timeout.set &&
        *parse_milliseconds(webhook.timeout.value) > std::chrono::minutes(10))
        reader.error(webhook.timeout.origin,
                     "\"timeout\" in \"" + context + "\" must be at most 10m",
                     "Rows wait for the webhook's answer: a few seconds at most is usual.");
    reader.read(*node, "concurrency", context, webhook.concurrency, 1, 1024);
    read_milliseconds(reader, *node, "cache_ttl", context, webhook.cache_ttl, true);
    reader.read(*node, "batch_size", context, webhook.batch_size, 1, 1000);
    reader.read(*node, "on_deny", context, webhook.on_deny);
    if (webhook.on_deny.set && webhook.on_deny.value != "cancel" && webhook.on_deny.value != "drop")
        reader.error(webhook.on_deny.origin,
                     "unknown value \"" + webhook.on_deny.value + "\" for \"on_deny\" in \"" +
                         context + '"',
                     "Valid values are \"cancel\" (end the subscription) and \"drop\" (skip the "
                     "row).");
    reader.read(*node, "source_db_id", context, webhook.source_db_id);
    reader.read(*node, "secret_env", context, webhook.secret_env);
    check_variable_name(reader, webhook.secret_env, "secret_env", context);
}

void read_serve(Reader& reader, const YamlNode& root, Serve& serve) {
    const YamlNode* node = section(reader, root, "serve", "");
    if (!node) return;
    reader.check_keys(*node, "serve",
                      {"listen", "storage_dir", "source", "auth", "retain_bytes", "retain_age",
                       "client_queue_bytes", "client_timeout", "max_clients", "load_jobs",
                       "threads"});
    reader.read(*node, "listen", "serve", serve.listen);
    reader.read(*node, "storage_dir", "serve", serve.storage_dir);
    reader.read(*node, "source", "serve", serve.source);
    if (serve.source.set && serve.source.value.rfind("nats://", 0) != 0)
        reader.error(serve.source.origin,
                     "\"source\" in \"serve\" must be nats://HOST:PORT[,HOST:PORT...]/STREAM");
    reader.read(*node, "retain_bytes", "serve", serve.retain_bytes);
    reader.read(*node, "retain_age", "serve", serve.retain_age);
    reader.read(*node, "client_queue_bytes", "serve", serve.client_queue_bytes);
    reader.read(*node, "client_timeout", "serve", serve.client_timeout);
    if (serve.client_timeout.set &&
        !(serve.client_timeout.value >= 0.1 && serve.client_timeout.value <= 86400))
        reader.error(serve.client_timeout.origin,
                     "\"client_timeout\" in \"serve\" must be between 0.1 and 86400 seconds");
    reader.read(*node, "max_clients", "serve", serve.max_clients, 1, 1000000);
    reader.read(*node, "load_jobs", "serve", serve.load_jobs, 1, 64);
    reader.read(*node, "threads", "serve", serve.threads, 0, 256);
    for (auto* size : {&serve.retain_bytes, &serve.client_queue_bytes})
        if (size->set && !parse_size(size->value))
            reader.error(size->origin, "invalid size \"" + size->value + "\" in \"serve\"",
                         "Write a number of bytes with an optional unit: kB, MB, GB or TB (base "
                         "1024), e.g. 64MB.");
    if (serve.retain_age.set && !parse_duration(serve.retain_age.value))
        reader.error(serve.retain_age.origin,
                     "invalid duration \"" + serve.retain_age.value + "\" in \"serve\"",
                     "Write a number with a unit: s, m, h or d, e.g. 7d.");
    if (serve.listen.set && !valid_listen(serve.listen.value))
        reader.error(serve.listen.origin,
                     "invalid listen address \"" + serve.listen.value + "\" in \"serve\"",
                     "Write host:port with a port between 1 and 65535, e.g. 127.0.0.1:8080 or "
                     "[::1]:8080.");
    const YamlNode* auth = section(reader, *node, "auth", "serve");
    if (!auth) return;
    reader.check_keys(*auth, "serve.auth",
                      {"jwt_secret_env", "api_key_env", "insecure", "jwt_public_key_file",
                       "jwks_file", "jwt_claim", "jwt_issuer", "jwt_audience", "row_webhook"});
    reader.read(*auth, "jwt_secret_env", "serve.auth", serve.auth.jwt_secret_env);
    reader.read(*auth, "api_key_env", "serve.auth", serve.auth.api_key_env);
    reader.read(*auth, "insecure", "serve.auth", serve.auth.insecure);
    reader.read(*auth, "jwt_public_key_file", "serve.auth", serve.auth.jwt_public_key_file);
    reader.read(*auth, "jwks_file", "serve.auth", serve.auth.jwks_file);
    reader.read(*auth, "jwt_claim", "serve.auth", serve.auth.jwt_claim);
    reader.read(*auth, "jwt_issuer", "serve.auth", serve.auth.jwt_issuer);
    reader.read(*auth, "jwt_audience", "serve.auth", serve.auth.jwt_audience);
    if (serve.auth.jwt_claim.set && serve.auth.jwt_claim.value.empty())
        reader.error(serve.auth.jwt_claim.origin,
                     "\"jwt_claim\" in \"serve.auth\" must not be empty",
                     "Name the claim that holds the grants, e.g. pgsync or "
                     "https://example.com/pgsync.");
    check_variable_name(reader, serve.auth.jwt_secret_env, "jwt_secret_env", "serve.auth");
    check_variable_name(reader, serve.auth.api_key_env, "api_key_env", "serve.auth");
    read_row_webhook(reader, *auth, serve.auth);
}

} // namespace

LoadResult load_text(std::string_view text, const std::string& name) {
    LoadResult result;
    result.config.file = name;
    std::optional<YamlNode> root = parse_yaml(text, name, result.diagnostics);
    if (!root || root->kind == YamlNode::Kind::Null) return result; // comments only: all defaults
    Reader reader(result.diagnostics);
    if (root->kind != YamlNode::Kind::Mapping) {
        reader.error(root->origin,
                     "the file must be a mapping of sections, not " + type_phrase(node_type(*root)),
                     "A configuration starts with sections such as \"source:\" and \"tables:\".");
        return result;
    }
    reader.check_keys(*root, "", {"source", "tables", "stream", "snapshot", "serve", "publish"});
    read_source(reader, *root, result.config.source);
    read_tables(reader, *root, result.config.tables);
    read_stream(reader, *root, result.config.stream);
    read_snapshot(reader, *root, result.config.snapshot);
    read_serve(reader, *root, result.config.serve);
    read_publish(reader, *root, result.config.publish);
    // In file order, like a compiler's, whatever order the checks ran in.
    std::stable_sort(result.diagnostics.begin(), result.diagnostics.end(),
                     [](const Diagnostic& a, const Diagnostic& b) {
                         return std::pair{a.origin.line, a.origin.column} <
                                std::pair{b.origin.line, b.origin.column};
                     });
    return result;
}

LoadResult load_file(const std::string& path) {
    auto fail = [&](std::string message) {
        LoadResult result;
        result.config.file = path;
        result.diagnostics.push_back(
            Diagnostic{Severity::Error, Origin{path, 0, 0}, std::move(message), {}});
        return result;
    };
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec))
        return fail("could not read file \"" + path + "\": it is a directory");
    std::ifstream in(path, std::ios::binary);
    if (!in) return fail("could not open file \"" + path + "\": " + std::strerror(errno));
    // Read one byte past the limit, so an oversized file is reported without reading all of it.
    std::string text(kMaxFileBytes + 1, '\0');
    in.read(text.data(), std::streamsize(text.size()));
    if (in.bad()) return fail("could not read file \"" + path + "\": " + std::strerror(errno));
    text.resize(std::size_t(in.gcount()));
    return load_text(text, path);
}

Config load_or_throw(const std::string& path) {
    LoadResult result = load_file(path);
    std::size_t errors = 0;
    std::string hint;
    for (const Diagnostic& d : result.diagnostics) {
        if (d.severity == Severity::Error)
            ++errors;
        else
            log::warning(d.origin.file + ':' + std::to_string(d.origin.line) + ':' +
                             std::to_string(d.origin.column) + ": " + d.message,
                         d.hint);
    }
    if (errors == 0) return std::move(result.config);
    // The tool prints "hint: " before this text; each diagnostic follows on indented lines.
    std::string listing = "Correct these problems (\"pgsync-config validate\" checks a file):";
    const std::string text = format_text(result.diagnostics);
    std::size_t start = 0;
    while (start < text.size()) {
        const std::size_t end = text.find('\n', start);
        const std::string line = text.substr(start, end - start);
        listing += (line.rfind("hint: ", 0) == 0 ? "\n    " : "\n  ") + line;
        start = end == std::string::npos ? text.size() : end + 1;
    }
    throw usage_error("configuration file \"" + path + "\" is not valid: " +
                          std::to_string(errors) + (errors == 1 ? " error" : " errors"),
                      listing);
}

} // namespace pgsync::config
