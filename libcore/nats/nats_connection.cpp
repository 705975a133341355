// cnats handles owned by RAII classes, and cnats' statuses and JetStream error codes mapped to
// pgsync::Error with hints.
#include "nats/nats_connection.h"

#include "util/error.h"

#include <nats/nats.h>

namespace pgsync::nats {

namespace {

std::string last_error_text(natsStatus status) {
    natsStatus last = NATS_OK;
    const char* text = nats_GetLastError(&last);
    if (text && *text) return text;
    return natsStatus_GetText(status);
}

// An error of a JetStream API request (stream info, create, get message).
Error api_error(const std::string& what, natsStatus status, jsErrCode code) {
    if (status == NATS_NO_RESPONDERS || code == JSNotEnabledErr || code == JSNotEnabledForAccountErr)
        return Error(what + ": JetStream is not enabled on the NATS server",
                     "Start nats-server with JetStream (-js, or a jetstream block in its "
                     "configuration file).");
    if (status == NATS_TIMEOUT)
        return Error(what + ": no answer from JetStream in time",
                     "Check that the NATS cluster has a quorum: a replicated stream needs a "
                     "majority of its servers running.");
    if (status == NATS_CONNECTION_CLOSED || status == NATS_CONNECTION_DISCONNECTED)
        return Error(what + ": the connection to NATS was lost",
                     "Check that nats-server is running.");
    return Error(what + ": " + last_error_text(status));
}

// Owns a natsOptions for the duration of connect().
struct OptionsHandle {
    natsOptions* handle = nullptr;
    ~OptionsHandle() { natsOptions_Destroy(handle); }
};

void check(natsStatus status, const char* step) {
    if (status != NATS_OK)
        throw Error(std::string("could not set up the NATS client: ") + step + ": " +
                    natsStatus_GetText(status));
}

StreamInfo to_info(const jsStreamInfo* info) {
    StreamInfo out;
    const jsStreamConfig* config = info->Config;
    out.name = config->Name ? config->Name : "";
    for (int i = 0; i < config->SubjectsLen; ++i) out.subjects.emplace_back(config->Subjects[i]);
    out.created_ns = info->Created;
    out.first_seq = info->State.FirstSeq;
    out.last_seq = info->State.LastSeq;
    out.messages = info->State.Msgs;
    out.bytes = info->State.Bytes;
    out.max_msg_size = config->MaxMsgSize;
    out.max_bytes = config->MaxBytes;
    out.max_msgs = config->MaxMsgs;
    out.discard = config->Discard == js_DiscardNew ? Discard::New : Discard::Old;
    out.replicas = config->Replicas;
    out.duplicate_window_ns = config->Duplicates;
    out.file_storage = config->Storage == js_FileStorage;
    return out;
}

struct StreamInfoHandle {
    jsStreamInfo* handle = nullptr;
    ~StreamInfoHandle() { jsStreamInfo_Destroy(handle); }
};

} // namespace

std::vector<std::string> split_urls(const std::string& urls) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= urls.size()) {
        size_t end = urls.find(',', start);
        if (end == std::string::npos) end = urls.size();
        std::string url = urls.substr(start, end - start);
        const auto first = url.find_first_not_of(" \t");
        const auto last = url.find_last_not_of(" \t");
        if (first != std::string::npos) out.push_back(url.substr(first, last - first + 1));
        start = end + 1;
    }
    return out;
}

std::string_view message_header(natsMsg* message, const char* key) {
    const char* value = nullptr;
    if (natsMsgHeader_Get(message, key, &value) != NATS_OK || !value) return {};
    return value;
}

std::string status_text(int status) {
    return natsStatus_GetText(static_cast<natsStatus>(status));
}

std::optional<std::string> StoredMessage::header(const std::string& key) const {
    for (const auto& h : headers)
        if (h.key == key) return h.value;
    return std::nullopt;
}

// ---- Connection

Connection Connection::connect(const std::string& urls, const ConnectOptions& options) {
    OptionsHandle opts;
    check(natsOptions_Create(&opts.handle), "options");
    // Split here: cnats 3.4.1's natsOptions_SetURL accepts a comma-separated list but then
    // fails to connect to any of it ("No server available"); natsOptions_SetServers works.
    std::vector<std::string> list = split_urls(urls);
    std::vector<const char*> servers;
    for (const auto& url : list) servers.push_back(url.c_str());
    natsStatus status = servers.empty()
                            ? NATS_INVALID_ARG
                            : natsOptions_SetServers(opts.handle, servers.data(),
                                                     static_cast<int>(servers.size()));
    if (status != NATS_OK)
        throw usage_error("invalid NATS server list \"" + urls + "\": " + last_error_text(status),
                          "Give one or more URLs separated by commas, e.g. "
                          "nats://127.0.0.1:4222,nats://127.0.0.1:4223.");
    check(natsOptions_SetName(opts.handle, options.name.c_str()), "name");
    check(natsOptions_SetTimeout(opts.handle, options.connect_timeout_ms), "timeout");
    check(natsOptions_SetMaxReconnect(opts.handle, options.max_reconnect), "reconnect");
    check(natsOptions_SetReconnectWait(opts.handle, options.reconnect_wait_ms), "reconnect wait");
    // Publishes made while reconnecting are buffered; a full buffer fails them at once, which the
    // publisher reports, rather than growing without bound.
    check(natsOptions_SetReconnectBufSize(opts.handle, 64 * 1024 * 1024), "reconnect buffer");
    natsConnection* handle = nullptr;
    status = natsConnection_Connect(&handle, opts.handle);
    if (status != NATS_OK) {
        natsConnection_Destroy(handle);
        if (status == NATS_NO_SERVER)
            throw Error("could not connect to NATS at \"" + urls + "\": no server is reachable",
                        "Check that nats-server is running and that " + options.address_from +
                            " gives its address.");
        throw Error("could not connect to NATS at \"" + urls + "\": " + last_error_text(status),
                    "Check that nats-server is running and reachable.");
    }
    return Connection(handle, urls);
}

Connection::Connection(Connection&& other) noexcept
    : m_handle(std::exchange(other.m_handle, nullptr)), m_urls(std::move(other.m_urls)) {}

Connection& Connection::operator=(Connection&& other) noexcept {
    if (this != &other) {
        natsConnection_Destroy(m_handle);
        m_handle = std::exchange(other.m_handle, nullptr);
        m_urls = std::move(other.m_urls);
    }
    return *this;
}

Connection::~Connection() {
    if (m_handle) {
        natsConnection_Close(m_handle);
        natsConnection_Destroy(m_handle);
    }
}

int64_t Connection::max_payload() const {
    return natsConnection_GetMaxPayload(m_handle);
}

std::string Connection::connected_url() const {
    char buffer[512] = {};
    if (natsConnection_GetConnectedUrl(m_handle, buffer, sizeof buffer) != NATS_OK) return {};
    return buffer;
}

bool Connection::flush(int64_t timeout_ms) {
    return natsConnection_FlushTimeout(m_handle, timeout_ms) == NATS_OK;
}

// ---- JetStream

namespace {

void on_ack(jsCtx*, natsMsg* message, jsPubAck* ack, jsPubAckErr* error, void* closure) {
    auto* options = static_cast<JetStreamOptions*>(closure);
    PublishResult result;
    if (ack) {
        result.sequence = ack->Sequence;
        result.duplicate = ack->Duplicate;
    } else if (error) {
        result.status = error->Err == NATS_OK ? NATS_ERR : error->Err;
        result.error_code = error->ErrCode;
        result.error_text = error->ErrText ? error->ErrText : natsStatus_GetText(error->Err);
    } else {
        result.status = NATS_ERR;
        result.error_text = "no acknowledgement";
    }
    if (options->on_publish) options->on_publish(message, result, options->closure);
    natsMsg_Destroy(message);
}

} // namespace

JetStream::JetStream(Connection& connection, const JetStreamOptions& options)
    : m_urls(connection.urls()), m_options(std::make_unique<JetStreamOptions>(options)) {
    jsOptions opts;
    jsOptions_Init(&opts);
    opts.Wait = options.wait_ms;
    if (options.max_pending > 0) opts.PublishAsync.MaxPending = options.max_pending;
    opts.PublishAsync.StallWait = options.stall_wait_ms;
    opts.PublishAsync.AckHandler = on_ack;
    opts.PublishAsync.AckHandlerClosure = m_options.get();
    natsStatus status = natsConnection_JetStream(&m_handle, connection.get(), &opts);
    if (status != NATS_OK)
        throw Error("could not open a JetStream context: " + last_error_text(status));
}

JetStream::JetStream(JetStream&& other) noexcept
    : m_handle(std::exchange(other.m_handle, nullptr)), m_urls(std::move(other.m_urls)),
      m_options(std::move(other.m_options)) {}

JetStream& JetStream::operator=(JetStream&& other) noexcept {
    if (this != &other) {
        jsCtx_Destroy(m_handle);
        m_handle = std::exchange(other.m_handle, nullptr);
        m_urls = std::move(other.m_urls);
        m_options = std::move(other.m_options);
    }
    return *this;
}

JetStream::~JetStream() {
    jsCtx_Destroy(m_handle);
}

std::optional<StreamInfo> JetStream::stream_info(const std::string& stream) {
    StreamInfoHandle info;
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus status = js_GetStreamInfo(&info.handle, m_handle, stream.c_str(), nullptr, &code);
    if (status == NATS_NOT_FOUND || code == JSStreamNotFoundErr) return std::nullopt;
    if (status != NATS_OK)
        throw api_error("could not read stream \"" + stream + "\" from NATS at \"" + m_urls + "\"",
                        status, code);
    return to_info(info.handle);
}

StreamInfo JetStream::create_stream(const StreamSpec& spec) {
    jsStreamConfig config;
    jsStreamConfig_Init(&config);
    std::vector<const char*> subjects;
    for (const auto& s : spec.subjects) subjects.push_back(s.c_str());
    config.Name = spec.name.c_str();
    config.Subjects = subjects.data();
    config.SubjectsLen = static_cast<int>(subjects.size());
    config.Storage = js_FileStorage;
    config.Replicas = spec.replicas;
    config.Duplicates = spec.duplicate_window_ns;
    config.MaxBytes = spec.max_bytes;
    config.Discard = spec.discard == Discard::New ? js_DiscardNew : js_DiscardOld;
    StreamInfoHandle info;
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus status = js_AddStream(&info.handle, m_handle, &config, nullptr, &code);
    const std::string what = "could not create stream \"" + spec.name + "\"";
    if (status != NATS_OK) {
        if (code == JSStreamReplicasNotSupportedErr || code == JSClusterNoPeersErr ||
            code == JSInsufficientResourcesErr)
            throw Error(what + ": " + last_error_text(status),
                        "Give --replicas at most the number of servers in the NATS cluster (1 "
                        "for a single server).");
        if (code == JSStreamSubjectOverlapErr)
            throw Error(what + ": " + last_error_text(status),
                        "Another stream already takes these subjects: use it with --stream, or "
                        "choose another publish.subject_prefix.");
        throw api_error(what, status, code);
    }
    return to_info(info.handle);
}

std::optional<StoredMessage> JetStream::get_message(const std::string& stream, uint64_t sequence) {
    natsMsg* message = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus status = js_GetMsg(&message, m_handle, stream.c_str(), sequence, nullptr, &code);
    if (status == NATS_NOT_FOUND || code == JSNoMessageFoundErr) return std::nullopt;
    if (status != NATS_OK)
        throw api_error("could not read message " + std::to_string(sequence) + " of stream \"" +
                            stream + "\"",
                        status, code);
    StoredMessage out;
    out.sequence = natsMsg_GetSequence(message);
    if (out.sequence == 0) out.sequence = sequence;
    out.subject = natsMsg_GetSubject(message);
    const char* data = natsMsg_GetData(message);
    out.data.assign(data ? data : "", static_cast<size_t>(natsMsg_GetDataLength(message)));
    const char** keys = nullptr;
    int count = 0;
    if (natsMsgHeader_Keys(message, &keys, &count) == NATS_OK) {
        for (int i = 0; i < count; ++i) {
            const char** values = nullptr;
            int value_count = 0;
            if (natsMsgHeader_Values(message, keys[i], &values, &value_count) == NATS_OK) {
                for (int j = 0; j < value_count; ++j) out.headers.push_back({keys[i], values[j]});
                free(values);
            }
        }
        free(keys);
    }
    natsMsg_Destroy(message);
    return out;
}

int JetStream::publish_async(natsMsg*& message, int64_t max_wait_ms) {
    jsPubOptions opts;
    jsPubOptions_Init(&opts);
    if (max_wait_ms > 0) opts.MaxWait = max_wait_ms;
    natsStatus status = js_PublishMsgAsync(m_handle, &message, &opts);
    natsMsg_Destroy(message); // no effect when cnats took it
    message = nullptr;
    return status;
}

bool JetStream::wait_published(int64_t timeout_ms) {
    jsPubOptions opts;
    jsPubOptions_Init(&opts);
    opts.MaxWait = timeout_ms > 0 ? timeout_ms : 1;
    return js_PublishAsyncComplete(m_handle, &opts) == NATS_OK;
}

// ---- OutgoingMessage

OutgoingMessage::OutgoingMessage(const std::string& subject, std::string_view data) {
    natsStatus status = natsMsg_Create(&m_handle, subject.c_str(), nullptr, data.data(),
                                       static_cast<int>(data.size()));
    if (status != NATS_OK)
        throw Error("could not create a NATS message for subject \"" + subject +
                    "\": " + natsStatus_GetText(status));
}

OutgoingMessage::~OutgoingMessage() {
    natsMsg_Destroy(m_handle);
}

void OutgoingMessage::set_header(const char* key, const char* value) {
    natsStatus status = natsMsgHeader_Set(m_handle, key, value);
    if (status != NATS_OK)
        throw Error(std::string("could not set NATS header \"") + key +
                    "\": " + natsStatus_GetText(status));
}

} // namespace pgsync::nats
