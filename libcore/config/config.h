// The configuration every tool reads (pgsync.yaml, see pgsync.yaml(5)): the model after loading,
// with the position of every value so diagnostics can say FILE:LINE:COLUMN.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace pgsync::config {

// Where a value came from: a file position (1-based), or a default / the environment / a flag.
struct Origin {
    std::string file;
    int line = 0; // 0: not from a file
    int column = 0;
};

template <typename T> struct Value {
    Value() = default;
    // Value<int>{1} is a default; Value<int>{3, true, origin} a value read from the file.
    Value(T v, bool given = false, Origin where = {})
        : value(std::move(v)), set(given), origin(std::move(where)) {}

    T value{};
    bool set = false; // given in the file (else the default applies)
    Origin origin;
};

struct Condition { // one [column, operator] pair of a live query
    Value<std::string> column;
    Value<std::string> op; // = < <= > >=
};

struct LiveQuery {
    std::vector<Condition> conditions;
    Origin origin;
};

struct Channel {
    Value<std::string> name;
    std::vector<Value<std::string>> operations; // insert, update, delete, truncate
    Value<std::string> where; // a filter in the suite's grammar (filter/where_parser.h), or unset
    Origin origin;
};

struct Table {
    Value<std::string> name; // schema.table (or table: public)
    std::optional<std::vector<Value<std::string>>> columns;
    std::vector<LiveQuery> live_queries;
    std::vector<Channel> channels;
    Origin origin;
};

struct Source {
    Value<std::string> dsn;
    Value<std::string> dsn_env; // the variable holding the DSN (a secret)
    Value<std::string> slot;
    Value<std::string> publication;
};

struct Stream {
    Value<std::string> format{"native"};
    Value<std::string> ack_file;
    Value<double> status_interval{10};
    Value<std::string> spill_dir;
};

struct Snapshot {
    Value<int> jobs{1};
    Value<bool> numbers_as_strings{false};
};

// serve.auth.row_webhook: the app's endpoint that authorises each row before it reaches a user.
struct RowWebhook {
    Value<std::string> url;           // http:// or https://, required
    Value<std::string> timeout{"2s"}; // a duration (util/units.h, with ms)
    Value<int> concurrency{16};
    Value<std::string> cache_ttl{"60s"}; // a duration; 0 turns the cache off
    Value<int> batch_size{1};
    Value<std::string> on_deny{"cancel"}; // cancel | drop
    Value<std::string> source_db_id;      // empty: the database's name
    Value<std::string> secret_env; // the variable holding the bearer token sent with each call
    Origin origin;
};

struct ServeAuth {
    Value<std::string> jwt_secret_env;
    Value<std::string> api_key_env;
    Value<bool> insecure{false};
    // Tokens from an identity provider (pgsync-serve(1), ACCESS CONTROL).
    Value<std::string> jwt_public_key_file; // PEM: RSA (RS256) or EC P-256 (ES256)
    Value<std::string> jwks_file;           // {"keys":[...]}
    Value<std::string> jwt_claim{"pgsync"}; // the claim holding {"tables": ...}
    Value<std::string> jwt_issuer;          // required "iss" when set
    Value<std::string> jwt_audience;        // required "aud" when set
    std::optional<RowWebhook> row_webhook; // absent: no per-row authorisation
};

struct Serve {
    Value<std::string> listen{"127.0.0.1:8080"};
    Value<std::string> storage_dir{"./pgsync-data"};
    Value<std::string> source; // a replica's nats://host:port[,…]/STREAM, instead of source.slot
    ServeAuth auth;
    Value<std::string> retain_bytes{"1GB"};      // a size (util/units.h)
    Value<std::string> retain_age{"7d"};         // a duration
    Value<std::string> client_queue_bytes{"4MB"};
    Value<double> client_timeout{30}; // seconds a client may leave its full queue unread
    Value<int> max_clients{20000};
    Value<int> load_jobs{2};
    Value<int> threads{0}; // event-loop threads; 0: one per CPU
};

// pgsync-publish (pgsync.yaml(5), PUBLISH): read by load_publish.cpp.
struct Publish {
    Value<std::string> nats; // "nats://a:4222,nats://b:4222"
    Value<std::string> stream{"PGSYNC"};
    Value<std::string> ack_file;
    Value<std::string> subject_prefix{"pgsync"};
    Value<std::string> channel_subject{"{prefix}.{channel}"};
    Value<std::string> table_subject{"{prefix}.{schema}.{table}.{op}"};
    Value<int> max_in_flight{1024};
    Value<double> ack_timeout{10}; // seconds
    Value<bool> create_stream{false};
    Value<int> replicas{1};
};

struct Config {
    std::string file;
    Source source;
    std::vector<Table> tables;
    Stream stream;
    Snapshot snapshot;
    Serve serve;
    Publish publish;

    // The connection string to use: source.dsn, else the variable named by source.dsn_env (empty
    // when neither is set: libpq's PG* variables apply). Throws a usage Error when dsn_env names
    // a variable that is not set.
    std::string resolved_dsn() const;
};

} // namespace pgsync::config
