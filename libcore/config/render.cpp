// Writing pgsync.yaml text: the effective configuration with its defaults and masked secrets, and
// the commented starting file. Output is plain YAML written here (yaml-cpp's emitter would bring
// the library into a second file and cannot write the trailing comments).
#include "config/render.h"

#include <charconv>
#include <cstdlib>

namespace pgsync::config {

namespace {

constexpr const char* kMask = "****";

bool plain_safe(const std::string& s) {
    if (s.empty()) return false;
    const char first = s[0];
    if (!((first >= 'a' && first <= 'z') || (first >= 'A' && first <= 'Z') || first == '_' ||
          first == '/' || s.rfind("./", 0) == 0))
        return false;
    for (char c : s)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '/' || c == '-'))
            return false;
    std::string lower;
    for (char c : s)
        lower += (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c;
    for (const char* reserved : {"true", "false", "null", "yes", "no", "on", "off", "y", "n"})
        if (lower == reserved) return false;
    return true;
}

// A YAML scalar that reads back as exactly this string.
std::string scalar(const std::string& s) {
    if (plain_safe(s)) return s;
    std::string out = "\"";
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += char(c);
        } else if (c == '\n')
            out += "\\n";
        else if (c == '\t')
            out += "\\t";
        else if (c < 0x20 || c == 0x7F) {
            const char* hex = "0123456789abcdef";
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        } else
            out += char(c);
    }
    return out + '"';
}

std::string number(double value) {
    char buffer[64];
    auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
    return ec == std::errc() ? std::string(buffer, end) : "10";
}

std::string flow_list(const std::vector<Value<std::string>>& values) {
    std::string out = "[";
    for (std::size_t i = 0; i < values.size(); ++i)
        out += (i ? ", " : "") + scalar(values[i].value);
    return out + "]";
}

class Writer {
public:
    void line(int indent, const std::string& key, const std::string& value, bool from_file,
              const std::string& note = {}) {
        m_out.append(std::size_t(indent), ' ') += key + ':';
        if (!value.empty()) m_out += ' ' + value;
        std::string comment = from_file ? note : note.empty() ? "default" : "default, " + note;
        if (!comment.empty()) m_out += "   # " + comment;
        m_out += '\n';
    }
    void text(const std::string& s) { m_out += s; }
    void string(int indent, const char* key, const Value<std::string>& v,
                const std::string& note = {}) {
        line(indent, key, v.set || !v.value.empty() ? scalar(v.value) : "null", v.set, note);
    }
    void environment(int indent, const char* key, const Value<std::string>& v) {
        if (!v.set) return line(indent, key, "null", false);
        line(indent, key, scalar(v.value), true,
             std::getenv(v.value.c_str()) ? "(set)" : "(not set)");
    }
    std::string take() { return std::move(m_out); }

private:
    std::string m_out;
};

void render_table(Writer& w, const Table& table) {
    w.text("  - name: " + scalar(table.name.value) + '\n');
    if (table.columns)
        w.line(4, "columns", flow_list(*table.columns), true);
    else
        w.line(4, "columns", "null", false, "every column");
    w.line(4, "live_queries", table.live_queries.empty() ? "[]" : "", !table.live_queries.empty());
    for (const LiveQuery& query : table.live_queries) {
        std::string conditions = "[";
        for (std::size_t i = 0; i < query.conditions.size(); ++i)
            conditions += (i ? ", [" : "[") + scalar(query.conditions[i].column.value) + ", " +
                          scalar(query.conditions[i].op.value) + "]";
        w.text("      - conditions: " + conditions + "]\n");
    }
    w.line(4, "channels", table.channels.empty() ? "[]" : "", !table.channels.empty());
    for (const Channel& channel : table.channels) {
        w.text("      - name: " + scalar(channel.name.value) + '\n');
        const bool given = !channel.operations.empty() && channel.operations.front().set;
        w.line(8, "operations", flow_list(channel.operations), given);
        if (channel.where.set) w.line(8, "where", scalar(channel.where.value), true);
    }
}

// A URL's password (scheme://user:password@host) masked.
std::string mask_url_password(const std::string& url) {
    const std::size_t start = url.find("://");
    if (start == std::string::npos) return url;
    const std::size_t authority_end = url.find_first_of("/?#", start + 3);
    const std::size_t at =
        url.rfind('@', authority_end == std::string::npos ? url.size() : authority_end);
    if (at == std::string::npos || at < start + 3) return url;
    const std::size_t colon = url.find(':', start + 3);
    if (colon >= at) return url;
    return url.substr(0, colon + 1) + kMask + url.substr(at);
}

// Every password of a comma-separated NATS URL list (nats://user:password@host:4222,...).
std::string mask_nats_passwords(const std::string& urls) {
    std::string out;
    for (std::size_t start = 0; start <= urls.size();) {
        std::size_t end = urls.find(',', start);
        if (end == std::string::npos) end = urls.size();
        if (start > 0) out += ',';
        out += mask_url_password(urls.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

void render_row_webhook(Writer& w, const std::optional<RowWebhook>& webhook, bool mask_secrets) {
    if (!webhook) return w.line(4, "row_webhook", "null", false, "no per-row authorisation");
    w.text("    row_webhook:\n");
    Value<std::string> url = webhook->url;
    if (mask_secrets) url.value = mask_url_password(url.value);
    w.string(6, "url", url);
    w.string(6, "timeout", webhook->timeout);
    w.line(6, "concurrency", std::to_string(webhook->concurrency.value), webhook->concurrency.set);
    w.string(6, "cache_ttl", webhook->cache_ttl);
    w.line(6, "batch_size", std::to_string(webhook->batch_size.value), webhook->batch_size.set);
    w.string(6, "on_deny", webhook->on_deny);
    w.string(6, "source_db_id", webhook->source_db_id,
             webhook->source_db_id.set ? "" : "the database's name");
    if (webhook->secret_env.set) w.environment(6, "secret_env", webhook->secret_env);
}

} // namespace

std::string mask_password(const std::string& dsn) {
    std::string out = dsn;
    if (dsn.rfind("postgresql://", 0) == 0 || dsn.rfind("postgres://", 0) == 0) {
        const std::size_t start = dsn.find("://") + 3;
        const std::size_t authority_end = std::min(dsn.find('/', start), dsn.find('?', start));
        const std::size_t at =
            dsn.rfind('@', authority_end == std::string::npos ? dsn.size() : authority_end);
        if (at != std::string::npos && at >= start) {
            const std::size_t colon = dsn.find(':', start);
            if (colon < at) out = dsn.substr(0, colon + 1) + kMask + dsn.substr(at);
        }
        // ?password=… among the query parameters.
        for (std::size_t p = out.find('?'); p != std::string::npos; p = out.find('&', p + 1)) {
            if (out.compare(p + 1, 9, "password=") != 0) continue;
            const std::size_t value = p + 10;
            const std::size_t end = out.find('&', value);
            out = out.substr(0, value) + kMask + (end == std::string::npos ? "" : out.substr(end));
        }
        return out;
    }
    // keyword = value pairs; a value is 'quoted' (with \ escapes) or runs to the next space.
    std::size_t i = 0;
    const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
    while (i < out.size()) {
        while (i < out.size() && space(out[i]))
            ++i;
        const std::size_t key_start = i;
        while (i < out.size() && out[i] != '=' && !space(out[i]))
            ++i;
        const std::string keyword = out.substr(key_start, i - key_start);
        while (i < out.size() && space(out[i]))
            ++i;
        if (i >= out.size() || out[i] != '=') break; // not conninfo: leave the rest as it is
        ++i;
        while (i < out.size() && space(out[i]))
            ++i;
        const std::size_t value_start = i;
        if (i < out.size() && out[i] == '\'') {
            for (++i; i < out.size() && out[i] != '\''; ++i)
                if (out[i] == '\\') ++i;
            if (i < out.size()) ++i;
        } else {
            for (; i < out.size() && !space(out[i]); ++i)
                if (out[i] == '\\') ++i;
        }
        i = std::min(i, out.size());
        if (keyword == "password") {
            out.replace(value_start, i - value_start, kMask);
            i = value_start + std::string(kMask).size();
        }
    }
    return out;
}

std::string render_effective(const Config& config, bool mask_secrets) {
    Writer w;
    w.text("# Effective configuration of \"" + config.file +
           "\": values marked \"# default\" are not in the file.\n");
    w.text("source:\n");
    Value<std::string> dsn = config.source.dsn;
    if (mask_secrets && dsn.set) dsn.value = mask_password(dsn.value);
    w.string(2, "dsn", dsn);
    w.environment(2, "dsn_env", config.source.dsn_env);
    w.string(2, "slot", config.source.slot);
    w.string(2, "publication", config.source.publication);
    w.line(0, "tables", config.tables.empty() ? "[]" : "", !config.tables.empty());
    for (const Table& table : config.tables)
        render_table(w, table);
    const Stream& stream = config.stream;
    w.text("stream:\n");
    w.string(2, "format", stream.format);
    w.string(2, "ack_file", stream.ack_file);
    w.line(2, "status_interval", number(stream.status_interval.value), stream.status_interval.set);
    w.string(2, "spill_dir", stream.spill_dir);
    w.text("snapshot:\n");
    w.line(2, "jobs", std::to_string(config.snapshot.jobs.value), config.snapshot.jobs.set);
    w.line(2, "numbers_as_strings", config.snapshot.numbers_as_strings.value ? "true" : "false",
           config.snapshot.numbers_as_strings.set);
    const Serve& serve = config.serve;
    w.text("serve:\n");
    w.string(2, "listen", serve.listen);
    w.string(2, "storage_dir", serve.storage_dir);
    w.string(2, "source", serve.source);
    w.string(2, "retain_bytes", serve.retain_bytes);
    w.string(2, "retain_age", serve.retain_age);
    w.string(2, "client_queue_bytes", serve.client_queue_bytes);
    w.line(2, "client_timeout", number(serve.client_timeout.value), serve.client_timeout.set);
    w.line(2, "max_clients", std::to_string(serve.max_clients.value), serve.max_clients.set);
    w.line(2, "load_jobs", std::to_string(serve.load_jobs.value), serve.load_jobs.set);
    w.line(2, "threads", std::to_string(serve.threads.value), serve.threads.set,
           serve.threads.value == 0 ? "one per CPU" : "");
    w.text("  auth:\n");
    w.environment(4, "jwt_secret_env", serve.auth.jwt_secret_env);
    w.environment(4, "api_key_env", serve.auth.api_key_env);
    w.line(4, "insecure", serve.auth.insecure.value ? "true" : "false", serve.auth.insecure.set);
    w.string(4, "jwt_public_key_file", serve.auth.jwt_public_key_file);
    w.string(4, "jwks_file", serve.auth.jwks_file);
    w.string(4, "jwt_claim", serve.auth.jwt_claim);
    w.string(4, "jwt_issuer", serve.auth.jwt_issuer);
    w.string(4, "jwt_audience", serve.auth.jwt_audience);
    render_row_webhook(w, serve.auth.row_webhook, mask_secrets);
    const Publish& publish = config.publish;
    w.text("publish:\n");
    Value<std::string> nats = publish.nats;
    if (mask_secrets) nats.value = mask_nats_passwords(nats.value);
    w.string(2, "nats", nats, nats.set ? "" : "--nats or $NATS_URL");
    w.string(2, "stream", publish.stream);
    w.string(2, "ack_file", publish.ack_file);
    w.string(2, "subject_prefix", publish.subject_prefix);
    w.string(2, "channel_subject", publish.channel_subject);
    w.string(2, "table_subject", publish.table_subject);
    w.line(2, "max_in_flight", std::to_string(publish.max_in_flight.value),
           publish.max_in_flight.set);
    w.line(2, "ack_timeout", number(publish.ack_timeout.value), publish.ack_timeout.set);
    w.line(2, "create_stream", publish.create_stream.value ? "true" : "false",
           publish.create_stream.set);
    w.line(2, "replicas", std::to_string(publish.replicas.value), publish.replicas.set);
    return w.take();
}

std::string starter_file() {
    return R"(# pgsync.yaml: the one configuration file of the pgsync tools (see pgsync.yaml(5)).
# Every tool reads it with --config FILE; a flag given on the command line wins over the file.
# Check it with "pgsync-config validate pgsync.yaml"; "pgsync-config show" prints every value.

# The database to replicate from.
source:
  # The connection string (libpq conninfo or postgresql:// URI). Keep passwords out of this
  # file: give dsn_env instead, or leave both out so libpq's PG* variables and ~/.pgpass apply.
  # dsn: "host=127.0.0.1 port=5432 dbname=app user=sync"
  # The name of an environment variable holding the connection string (not the string itself).
  dsn_env: PGSYNC_DSN
  # The logical replication slot pgsync-init creates and pgsync-stream reads.
  slot: pgsync_slot
  # The publication naming the tables to replicate.
  publication: pgsync_pub

# The tables to replicate. "name" is "table" (schema public) or "schema.table"; double-quote an
# identifier with capitals or spaces, e.g. '"My Schema"."T"'.
tables:
  - name: public.messages
    # The columns to replicate, all when left out; conditions may use only these.
    columns: [message_id, group_name, sender_name, message_text, message_timestamp]
    # Queries clients subscribe to: each condition is [column, operator] with one of
    # =, <, <=, >, >=; a live query has at most one inequality (<, <=, >, >=).
    live_queries:
      - conditions: [[group_name, "="], [message_timestamp, ">"]]
    # Named feeds of changes; operations are insert, update, delete and truncate (all four when
    # left out). Channel names are unique in the file.
    channels:
      - name: messages-added
        operations: [insert]

# pgsync-stream: the change stream.
stream:
  # The record format: native, wal2json or debezium.
  format: native
  # A file where the consumer writes the last position it has processed; pgsync confirms to the
  # server only positions written there. Leave out to confirm what is written to the output.
  # ack_file: ./pgsync.ack
  # Seconds between status updates to the server (a number greater than 0).
  status_interval: 10
  # A directory for transactions too large to hold in memory.
  # spill_dir: ./pgsync-spill

# pgsync-snapshot: the initial copy.
snapshot:
  # Tables copied at once, from 1 to 64.
  jobs: 1
  # Write numeric values as JSON strings, so consumers lose no precision.
  numbers_as_strings: false

# The server that pushes changes to clients.
serve:
  # host:port to listen on, e.g. 127.0.0.1:8080 or [::1]:8080.
  listen: 127.0.0.1:8080
  # Where the server keeps its log of changes.
  storage_dir: ./pgsync-data
  # A replica reads the NATS JetStream stream pgsync-publish writes instead of source.slot.
  # source: nats://127.0.0.1:4222/PGSYNC
  # The log keeps at most this much (kB, MB, GB, TB) and this long (s, m, h, d); clients
  # resuming from older offsets must refetch.
  retain_bytes: 1GB
  retain_age: 7d
  # A client whose unsent frames pass this size is disconnected (it resumes from its offsets).
  client_queue_bytes: 4MB
  # Seconds such a client may leave its queue unread before it is disconnected.
  client_timeout: 30
  # Connections accepted at once, and database connections for initial loads.
  max_clients: 20000
  load_jobs: 2
  # Event-loop threads serving the connections; 0: one per CPU the server may use.
  threads: 0
  auth:
    # The names of environment variables holding the secrets (never the secrets themselves).
    jwt_secret_env: PGSYNC_JWT_SECRET
    # api_key_env: PGSYNC_API_KEY
    # true accepts clients without authentication: for local development only.
    insecure: false
    # Tokens from an identity provider (Auth0, Clerk, Supabase Auth, Firebase...): its public
    # key as PEM (RSA: RS256, EC P-256: ES256) and/or its JWKS document, the claim that holds
    # the grants, and the issuer and audience every token must name.
    # jwt_public_key_file: /etc/pgsync/idp.pem
    # jwks_file: /etc/pgsync/jwks.json
    # jwt_claim: https://example.com/pgsync
    # jwt_issuer: https://example.auth0.com/
    # jwt_audience: https://sync.example.com
    # The app's endpoint that authorises each row before it reaches a user: pgsync-serve POSTs
    # {"userId", "sourceDbId", "schema", "table", "row"} and delivers the row only on
    # {"delivery_authorized": true}; a timeout, an error or any other answer delivers nothing.
    # row_webhook:
    #   url: https://app.example/authorize-row
    #   timeout: 2s          # per call (ms, s, m)
    #   concurrency: 16      # calls in flight at most
    #   cache_ttl: 60s       # a verdict is reused this long per user and row; 0: never
    #   batch_size: 1        # more than 1: POST arrays of up to this many rows
    #   on_deny: cancel      # cancel the subscription, or drop only the row

# pgsync-publish: the change stream into a NATS JetStream stream (pgsync-publish(1)).
publish:
  # NATS server URLs, comma-separated; --nats and $NATS_URL apply when left out.
  # nats: nats://127.0.0.1:4222
  # The JetStream stream; its subjects must cover "<subject_prefix>.>".
  stream: PGSYNC
  # The FIFO or file pgsync-stream reads with --ack-file: a transaction's end_lsn is written
  # there once JetStream stored it.
  # ack_file: ./pgsync.acks
  # Subjects: a change goes to {prefix}.{channel} for each channel it belongs to, else to its
  # table's subject; begin, commit and relation records go to {prefix}._txn.
  subject_prefix: pgsync
  # channel_subject: "{prefix}.{channel}"
  # table_subject: "{prefix}.{schema}.{table}.{op}"
  # Messages published and not yet acknowledged, at most; seconds to wait for an acknowledgement.
  max_in_flight: 1024
  ack_timeout: 10
)";
}

} // namespace pgsync::config
