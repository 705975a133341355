// A small RAII wrapper over cnats (NATS's own C client): a connection to a list of servers, its
// JetStream context, stream info, stream creation and get-message. Every failure becomes a
// pgsync::Error naming what failed, with a hint; used by pgsync-publish and pgsync-serve replicas.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// cnats' opaque types, so that users of this header need not include nats.h.
struct __natsConnection;
struct __jsCtx;
struct __natsMsg;

namespace pgsync::nats {

struct ConnectOptions {
    std::string name = "pgsync";       // shown by the server's monitoring (connz)
    int64_t connect_timeout_ms = 2000; // per server, at connect and at each reconnect
    // After a lost connection cnats reconnects to any server of the list (and those the cluster
    // announced); -1: forever. Publishes in between are buffered up to the reconnect buffer.
    int max_reconnect = -1;
    int64_t reconnect_wait_ms = 250;
    // Where the user gave the address, for the hint when no server answers.
    std::string address_from = "the NATS URL";
};

// Called on a cnats thread for each asynchronous publish, in the order the acks arrive: stored
// (status and error_code 0) or failed. closure is what the caller gave in JetStreamOptions; the
// message is cnats' and valid only during the call.
struct PublishResult {
    uint64_t sequence = 0; // the stream sequence it was stored at (or the original's: duplicate)
    bool duplicate = false;
    int error_code = 0;    // JetStream's error code (jsErrCode) or 0
    int status = 0;        // cnats status (natsStatus), 0 when the publish succeeded
    std::string error_text;
};
using PublishCallback = void (*)(__natsMsg* message, const PublishResult& result, void* closure);

struct JetStreamOptions {
    int64_t wait_ms = 5000;          // API requests (stream info, get message, create)
    int64_t max_pending = 0;         // > 0: async publishes in flight before js_PublishMsgAsync waits
    int64_t stall_wait_ms = 200;     // how long a publish waits for room before NATS_TIMEOUT
    PublishCallback on_publish = nullptr; // required for async publishing
    void* closure = nullptr;
};

enum class Discard { Old, New };

struct StreamInfo {
    std::string name;
    std::vector<std::string> subjects;
    int64_t created_ns = 0; // stream info "created", nanoseconds since the epoch (UTC)
    uint64_t first_seq = 0, last_seq = 0, messages = 0, bytes = 0;
    int32_t max_msg_size = -1; // -1: the server's max payload applies
    int64_t max_bytes = -1, max_msgs = -1;
    Discard discard = Discard::Old;
    int64_t replicas = 1;
    int64_t duplicate_window_ns = 0;
    bool file_storage = true;
};

struct StreamSpec {
    std::string name;
    std::vector<std::string> subjects; // e.g. {"pgsync.>"}
    int64_t replicas = 1;
    int64_t duplicate_window_ns = 120'000'000'000; // JetStream's default, two minutes
    int64_t max_bytes = -1;
    Discard discard = Discard::Old;
};

struct Header {
    std::string key, value;
};

struct StoredMessage {
    uint64_t sequence = 0;
    std::string subject;
    std::string data;
    std::vector<Header> headers;
    // The first value of header key, or nullopt.
    std::optional<std::string> header(const std::string& key) const;
};

// A connection to one of urls ("nats://a:4222,nats://b:4222": any of them; the rest of the
// cluster is learned from the server). Closed and destroyed with the object.
class Connection {
public:
    // Throws pgsync::Error when no server of the list can be reached.
    static Connection connect(const std::string& urls, const ConnectOptions& options = {});

    Connection(Connection&&) noexcept;
    Connection& operator=(Connection&&) noexcept;
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    ~Connection();

    __natsConnection* get() const { return m_handle; }
    const std::string& urls() const { return m_urls; }
    int64_t max_payload() const;      // the connected server's max_payload, in bytes
    std::string connected_url() const; // empty while disconnected
    // Flushes what is buffered to the server and waits for its answer; false on timeout/closed.
    bool flush(int64_t timeout_ms);

private:
    Connection(__natsConnection* handle, std::string urls) : m_handle(handle), m_urls(std::move(urls)) {}
    __natsConnection* m_handle = nullptr;
    std::string m_urls;
};

// A JetStream context on a connection (which must outlive it).
class JetStream {
public:
    JetStream(Connection& connection, const JetStreamOptions& options = {});
    JetStream(JetStream&&) noexcept;
    JetStream& operator=(JetStream&&) noexcept;
    JetStream(const JetStream&) = delete;
    JetStream& operator=(const JetStream&) = delete;
    ~JetStream();

    __jsCtx* get() const { return m_handle; }

    // The stream's info, or nullopt when it does not exist. Throws pgsync::Error when JetStream
    // is not enabled on the server, or on a timeout or a lost connection.
    std::optional<StreamInfo> stream_info(const std::string& stream);
    // Creates the stream (file storage); throws pgsync::Error when that fails (e.g. more replicas
    // than servers, or the subjects overlap another stream's).
    StreamInfo create_stream(const StreamSpec& spec);
    // The message stored at sequence, or nullopt when there is none (deleted or out of range).
    std::optional<StoredMessage> get_message(const std::string& stream, uint64_t sequence);
    // Publishes message asynchronously (cnats takes it: *message is null afterwards, even on
    // failure); the outcome goes to JetStreamOptions::on_publish. Waits up to stall_wait_ms when
    // max_pending publishes are in flight. Returns cnats' status (0 when queued).
    // max_wait_ms > 0: cnats fails the publish with a timeout when no ack came by then.
    int publish_async(__natsMsg*& message, int64_t max_wait_ms);
    // Waits up to timeout_ms for every async publish to be acked or failed; false on timeout.
    bool wait_published(int64_t timeout_ms);

    const std::string& urls() const { return m_urls; }

private:
    __jsCtx* m_handle = nullptr;
    std::string m_urls;
    // On the heap: cnats keeps its address as the ack callback's closure, so moves keep it.
    std::unique_ptr<JetStreamOptions> m_options;
};

// A message to publish, with headers; owns the natsMsg until it is handed to publish_async.
class OutgoingMessage {
public:
    // Throws pgsync::Error if cnats cannot create it (out of memory).
    OutgoingMessage(const std::string& subject, std::string_view data);
    OutgoingMessage(OutgoingMessage&& other) noexcept : m_handle(std::exchange(other.m_handle, nullptr)) {}
    OutgoingMessage& operator=(OutgoingMessage&&) = delete;
    OutgoingMessage(const OutgoingMessage&) = delete;
    ~OutgoingMessage();
    void set_header(const char* key, const char* value);
    void set_header(const char* key, const std::string& value) { set_header(key, value.c_str()); }
    __natsMsg*& handle() { return m_handle; }

private:
    __natsMsg* m_handle = nullptr;
};

// The first value of a header of a message cnats handed to a callback (valid while it is), or
// an empty view.
std::string_view message_header(__natsMsg* message, const char* key);

// "nats://a:4222, nats://b:4222" -> its URLs, white space trimmed, empty entries dropped.
std::vector<std::string> split_urls(const std::string& urls);

// cnats' text for a status (NATS_TIMEOUT -> "Timeout").
std::string status_text(int status);

} // namespace pgsync::nats
