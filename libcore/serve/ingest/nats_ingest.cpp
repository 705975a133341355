// The replica ingest's loop: an ordered JetStream consumer from the sequence after the one made
// durable, canonical copies batched into the log's writer, periodic syncs each followed by the
// sequence mark, and resubscription after a reconnect, a gap or a stall.
#include "serve/ingest/nats_ingest.h"

#include "nats/nats_connection.h"
#include "record/record_scan.h"
#include "util/durable_file.h"
#include "util/error.h"
#include "util/log.h"

#include <algorithm>
#include <limits>
#include <nats/nats.h>
#include <nlohmann/json.hpp>
#include <thread>

namespace pgsync::serve {

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kBatchBytes = 256 * 1024; // records handed to the log's writer at once
constexpr auto kInfoInterval = std::chrono::seconds(1);
constexpr auto kStallTimeout = std::chrono::seconds(5); // behind and nothing arrived: resubscribe

// The stream sequence of the last record of a whole transaction that the log made durable, with
// the epoch it belongs to: DIR/replica-sequence, replaced durably after each sync.
class SequenceMark {
public:
    explicit SequenceMark(const std::string& dir) : m_path(dir + "/replica-sequence") {}
    uint64_t read(const std::string& epoch) const {
        auto text = read_small_file(m_path);
        if (!text) return 0;
        try {
            auto json = nlohmann::json::parse(*text);
            if (json.at("epoch").get<std::string>() != epoch) return 0;
            return json.at("sequence").get<uint64_t>();
        } catch (const nlohmann::json::exception&) {
            return 0;
        }
    }
    void write(const std::string& epoch, uint64_t sequence) {
        write_file_durably(m_path,
                           nlohmann::json{{"epoch", epoch}, {"sequence", sequence}}.dump() + "\n");
    }

private:
    std::string m_path;
};

struct SubscriptionHandle {
    natsSubscription* handle = nullptr;
    SubscriptionHandle() = default;
    SubscriptionHandle(const SubscriptionHandle&) = delete;
    SubscriptionHandle& operator=(const SubscriptionHandle&) = delete;
    ~SubscriptionHandle() { reset(); }
    void reset() {
        if (handle) {
            natsSubscription_Unsubscribe(handle); // the ephemeral consumer goes with it
            natsSubscription_Destroy(handle);
            handle = nullptr;
        }
    }
};

struct MessageHandle {
    natsMsg* handle = nullptr;
    ~MessageHandle() { natsMsg_Destroy(handle); }
};

// A record a log can start with: a begin, or a message outside any transaction.
bool starts_transaction(const record::ScannedRecord& record) {
    return record.op == "begin" || (record.op == "message" && !record.transactional());
}

bool ends_transaction(const record::ScannedRecord& record) {
    return record.op == "commit" || (record.op == "message" && !record.transactional());
}

} // namespace

struct NatsIngest::Impl {
    NatsIngestOptions options;
    nats::Connection connection;
    nats::JetStream js;
    nats::StreamInfo info;
    std::string epoch;

    Impl(NatsIngestOptions o, nats::Connection c)
        : options(std::move(o)), connection(std::move(c)), js(connection) {}

    std::string stream_name() const { return "\"" + options.source.stream + "\""; }

    // Reads the stream's info into info; false when NATS did not answer (a leader election, a
    // lost connection: tried again later). Throws when the stream is gone or is another stream of
    // the same name.
    bool refresh_info() {
        std::optional<nats::StreamInfo> now;
        try {
            now = js.stream_info(options.source.stream);
        } catch (const Error& error) {
            log::debug(std::string("replica: could not read the stream's info: ") + error.what());
            return false;
        }
        if (!now)
            throw Error("stream " + stream_name() + " no longer exists on NATS at \"" +
                            options.source.urls + "\"",
                        "Create it again with pgsync-publish --create-stream, then restart "
                        "pgsync-serve: its log starts a new epoch and clients refetch.");
        if (now->created_ns != info.created_ns)
            throw Error("stream " + stream_name() + " was deleted and created again",
                        "Restart pgsync-serve: its log starts a new epoch for the new stream "
                        "and clients refetch.");
        info = *now;
        return true;
    }

    // Throws when the stream dropped sequence (its limits), which the log needs next.
    void check_holds(uint64_t sequence) const {
        if (sequence < info.first_seq)
            throw Error("stream " + stream_name() + " no longer holds sequence " +
                            std::to_string(sequence) + ", where this replica's log continues",
                        "Keep the stream longer (its max_age, max_bytes or max_msgs), or empty "
                        "--storage-dir so that the replica starts over from what the stream "
                        "holds (clients then refetch).");
    }

    // An ordered consumer delivering every subject of the stream from sequence on.
    void subscribe(SubscriptionHandle& sub, uint64_t sequence) {
        sub.reset();
        jsSubOptions sub_options;
        jsSubOptions_Init(&sub_options);
        sub_options.Stream = options.source.stream.c_str();
        sub_options.Ordered = true;
        sub_options.Config.DeliverPolicy = js_DeliverByStartSequence;
        sub_options.Config.OptStartSeq = sequence;
        jsErrCode code = static_cast<jsErrCode>(0);
        natsStatus status =
            js_SubscribeSync(&sub.handle, js.get(), ">", nullptr, &sub_options, &code);
        if (status != NATS_OK) {
            sub.handle = nullptr;
            log::debug("could not subscribe to stream " + stream_name() + " from sequence " +
                       std::to_string(sequence) + ": " + natsStatus_GetText(status));
        }
    }
};

NatsIngest::NatsIngest(NatsIngestOptions options) {
    nats::ConnectOptions connect_options;
    connect_options.name = "pgsync-serve";
    connect_options.address_from = "--source (or serve.source)";
    connect_options.reconnect_wait_ms = options.reconnect_wait.count();
    nats::Connection connection = nats::Connection::connect(options.source.urls, connect_options);
    m_impl = std::make_unique<Impl>(std::move(options), std::move(connection));
    Impl& impl = *m_impl;
    auto info = impl.js.stream_info(impl.options.source.stream);
    if (!info)
        throw Error("stream " + impl.stream_name() + " does not exist on NATS at \"" +
                        impl.options.source.urls + "\"",
                    "Check the name after the servers in --source, or create the stream with "
                    "pgsync-publish --create-stream.");
    impl.info = *info;
    impl.epoch = replica_epoch(impl.options.source.stream, info->created_ns);
}

NatsIngest::~NatsIngest() = default;

const std::string& NatsIngest::epoch() const {
    return m_impl->epoch;
}

LogIdentity NatsIngest::identity(const std::string& database) const {
    return {"nats:" + std::to_string(m_impl->info.created_ns), database,
            "nats:" + m_impl->options.source.stream};
}

void NatsIngest::run(ChangeLog& log, const StopFlag& stop) {
    Impl& impl = *m_impl;
    ChunkSink& writer = log.writer();
    SequenceMark mark(impl.options.storage_dir);
    const bool log_empty = log.end().is_zero();
    // The sequence of the last record taken (written or skipped) and of the last record ending a
    // transaction that was written; only the latter, once synced, may be remembered: a restart
    // resumes at a transaction's begin, and the log cut anything after its last whole one.
    uint64_t taken = log_empty ? 0 : mark.read(impl.epoch);
    uint64_t boundary = taken, remembered = taken;
    if (!impl.refresh_info())
        throw Error("could not read stream " + impl.stream_name() + " from NATS at \"" +
                        impl.options.source.urls + "\"",
                    "Check that the NATS cluster has a quorum.");
    if (log_empty)
        taken = std::max(taken, impl.info.first_seq ? impl.info.first_seq - 1 : 0);
    else
        impl.check_holds(taken + 1);
    // A new log starts at a transaction's begin: records before it are skipped.
    bool at_start = log_empty;
    log::info("replica: reading stream " + impl.stream_name() + " from sequence " +
              std::to_string(taken + 1) + " (its last is " + std::to_string(impl.info.last_seq) +
              ")");

    SubscriptionHandle sub;
    impl.subscribe(sub, taken + 1);
    std::string batch;
    bool unsynced = false;
    record::ScannedRecord record;
    OffsetTracker tracker; // numbers only the first record of a new log
    auto last_sync = Clock::now();
    auto last_info = Clock::now();
    auto last_progress = Clock::now();

    auto write_batch = [&] {
        if (batch.empty()) return;
        writer.write(batch);
        batch.clear();
        unsynced = true;
    };
    auto sync = [&] {
        write_batch();
        if (unsynced) {
            writer.sync();
            unsynced = false;
        }
        if (boundary != remembered) {
            mark.write(impl.epoch, boundary);
            remembered = boundary;
        }
        last_sync = Clock::now();
    };
    bool was_connected = true;
    while (!stop) {
        const auto now = Clock::now();
        if (now - last_sync >= impl.options.sync_interval) sync();
        const bool connected =
            natsConnection_Status(impl.connection.get()) == NATS_CONN_STATUS_CONNECTED;
        if (connected != was_connected) {
            was_connected = connected;
            m_connected = connected;
            if (connected) {
                log::info("replica: connected to NATS again at " + impl.connection.connected_url() +
                          "; reading stream " + impl.stream_name() + " from sequence " +
                          std::to_string(taken + 1));
                impl.subscribe(sub, taken + 1);
                last_progress = now;
            } else {
                log::warning("replica: lost the connection to NATS at \"" +
                             impl.options.source.urls +
                             "\"; serving what the log holds while reconnecting");
            }
        }
        if (!connected) {
            sync();
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            continue;
        }
        if (now - last_info >= kInfoInterval) {
            last_info = now;
            if (impl.refresh_info()) {
                m_lag = int64_t(impl.info.last_seq) - int64_t(taken);
                // Behind, nothing arrived for a while: the consumer is gone (a server restart
                // loses ephemeral consumers), or never came up. A new one resumes after taken.
                if (impl.info.last_seq > taken &&
                    (!sub.handle || now - last_progress >= kStallTimeout)) {
                    impl.check_holds(taken + 1);
                    log::debug("replica: resubscribing from sequence " + std::to_string(taken + 1));
                    impl.subscribe(sub, taken + 1);
                    last_progress = now;
                }
            }
        }
        if (!sub.handle) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            continue;
        }
        MessageHandle message;
        natsStatus status = natsSubscription_NextMsg(&message.handle, sub.handle, 100);
        if (status == NATS_TIMEOUT) {
            write_batch();
            continue;
        }
        if (status != NATS_OK) {
            log::debug(std::string("replica: the consumer ended: ") + natsStatus_GetText(status));
            sub.reset(); // a new one after the next info read
            continue;
        }
        jsMsgMetaData* meta = nullptr;
        if (natsMsg_GetMetaData(&meta, message.handle) != NATS_OK) continue; // not a stream message
        const uint64_t sequence = meta->Sequence.Stream;
        jsMsgMetaData_Destroy(meta);
        if (sequence <= taken) continue; // a new consumer's overlap
        if (sequence != taken + 1) {
            // A gap (the ordered consumer resets itself on one; this is the safety net).
            log::debug("replica: expected sequence " + std::to_string(taken + 1) + ", got " +
                       std::to_string(sequence) + "; resubscribing");
            impl.subscribe(sub, taken + 1);
            continue;
        }
        last_progress = Clock::now();
        taken = sequence;
        const char* copy = nullptr;
        if (natsMsgHeader_Get(message.handle, "Pgsync-Copy", &copy) == NATS_OK && copy &&
            std::string_view(copy) != "0")
            continue; // a channel's copy of a record
        const std::string_view line(natsMsg_GetData(message.handle),
                                    size_t(natsMsg_GetDataLength(message.handle)));
        if (!record::scan_record(line, record))
            throw Error("message " + std::to_string(sequence) + " of stream " + impl.stream_name() +
                            " is not a native change record",
                        "Only pgsync-publish may write to the stream that pgsync-serve --source "
                        "reads.");
        if (at_start) {
            if (!starts_transaction(record)) continue; // the rest of a transaction begun before
            at_start = false;
            if (sequence != 1) {
                // Offsets of records the stream no longer holds are not in this log: a client
                // resuming from one is refused (it refetches) instead of missing them.
                LogOffset first;
                uint32_t rank = 0;
                if (tracker.next(record, first, rank) && first.lsn.value() > 0)
                    log.start_after(
                        {Lsn(first.lsn.value() - 1), std::numeric_limits<uint64_t>::max()});
            }
        }
        batch.append(line);
        batch += '\n';
        if (ends_transaction(record)) boundary = sequence;
        int pending_messages = 0, pending_bytes = 0;
        if (batch.size() >= kBatchBytes ||
            natsSubscription_GetPending(sub.handle, &pending_messages, &pending_bytes) != NATS_OK ||
            pending_messages == 0)
            write_batch();
    }
    sync();
}

} // namespace pgsync::serve
