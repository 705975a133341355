// The publish loop: read a record, number it (OffsetTracker), skip it when the stream has it,
// route it, publish one message per subject with its headers and the chained expectation, and
// turn acks into acknowledgements for pgsync-stream.
#include "publish/publisher.h"

#include "changelog/log_offset.h"
#include "nats/nats_connection.h"
#include "publish/ack_progress.h"
#include "publish/ack_writer.h"
#include "publish/message_key.h"
#include "record/record_scan.h"
#include "util/error.h"
#include "util/log.h"

#include <cerrno>
#include <exception>
#include <charconv>
#include <chrono>
#include <cstring>
#include <poll.h>
#include <unistd.h>

namespace pgsync::publish {

namespace {

using namespace std::chrono_literals;

constexpr const char* kChainHeader = "Nats-Expected-Last-Sequence";

// What the ack callback needs: the progress, and how to number a message from its expectation.
struct AckContext {
    AckProgress progress;
    uint64_t first_expected = 0; // the stream's last sequence at start
    std::string stream;
    double ack_timeout_seconds = 0;
};

std::pair<std::string, std::string> describe_failure(const AckContext& context,
                                                     std::string_view message_id,
                                                     const nats::PublishResult& result) {
    const std::string what = "JetStream did not store message \"" + std::string(message_id) +
                             "\" in stream \"" + context.stream + "\"";
    const std::string& text = result.error_text;
    if (result.error_code == 10071 /* JSStreamWrongLastSequenceErr */)
        return {what + ": " + text,
                "The stream's last message is not the one published before it: another client "
                "wrote to the stream, or a message before it was lost. Run pgsync-publish again: "
                "it resumes after the stream's last message."};
    if (text.find("maximum bytes") != std::string::npos ||
        text.find("maximum messages") != std::string::npos ||
        result.error_code == 10047 /* JSStorageResourcesExceededErr */)
        return {"stream \"" + context.stream + "\" is full: " + text,
                "Raise the stream's max_bytes or max_msgs, or let it discard old messages "
                "(discard: old); nothing past the last stored transaction was acknowledged."};
    if (result.error_code == 10054 /* JSStreamMessageExceedsMaximumErr */)
        return {what + ": " + text,
                "Raise the stream's max_msg_size, or the server's max_payload (up to 64MB)."};
    if (result.status == 26 /* NATS_TIMEOUT */) {
        char seconds[32];
        std::snprintf(seconds, sizeof seconds, "%g", context.ack_timeout_seconds);
        return {what + ": no acknowledgement within " + seconds + " seconds",
                "Check the NATS cluster: a replicated stream needs a majority of its servers "
                "running. Raise --ack-timeout if it is only slow."};
    }
    if (result.status == 30 /* NATS_NO_RESPONDERS */)
        return {what + ": no stream answered (no responders)",
                "The stream may be electing a leader, or was deleted. Run pgsync-publish "
                "again."};
    return {what + ": " + (text.empty() ? nats::status_text(result.status) : text), ""};
}

void on_publish(__natsMsg* message, const nats::PublishResult& result, void* closure) {
    auto* context = static_cast<AckContext*>(closure);
    // Message i expects the stream to end at first_expected + i, so a message stored (not a
    // duplicate, whose sequence is the original's) is at first_expected + i + 1: no header
    // lookup on the common path.
    if (result.status == 0 && result.error_code == 0 && !result.duplicate &&
        result.sequence > context->first_expected) {
        context->progress.acked(result.sequence - context->first_expected - 1);
        return;
    }
    const std::string_view expected = nats::message_header(message, kChainHeader);
    uint64_t value = 0;
    for (char c : expected) value = value * 10 + uint64_t(c - '0');
    const uint64_t index = value - context->first_expected;
    if (result.status == 0 && result.error_code == 0) {
        context->progress.acked(index);
    } else {
        auto [error, hint] =
            describe_failure(*context, nats::message_header(message, "Nats-Msg-Id"), result);
        context->progress.failed(index, std::move(error), std::move(hint));
    }
}

// Reads lines from a descriptor, waiting at most a given time for more.
class LineReader {
public:
    explicit LineReader(int fd) : m_fd(fd) {}
    enum class Status { Line, Idle, End };
    Status next(std::string_view& line, int timeout_ms) {
        while (true) {
            const size_t newline = m_buffer.find('\n', m_start);
            if (newline != std::string::npos) {
                line = std::string_view(m_buffer).substr(m_start, newline - m_start);
                m_start = newline + 1;
                ++m_line_number;
                return Status::Line;
            }
            if (m_eof) {
                if (m_start < m_buffer.size()) { // a last line without its newline
                    line = std::string_view(m_buffer).substr(m_start);
                    m_start = m_buffer.size();
                    ++m_line_number;
                    return Status::Line;
                }
                return Status::End;
            }
            m_buffer.erase(0, m_start);
            m_start = 0;
            pollfd pfd{m_fd, POLLIN, 0};
            const int ready = ::poll(&pfd, 1, timeout_ms);
            if (ready < 0 && errno != EINTR)
                throw Error(std::string("could not read standard input: ") + std::strerror(errno));
            if (ready <= 0) return Status::Idle;
            const size_t old = m_buffer.size();
            m_buffer.resize(old + kChunk);
            const ssize_t n = ::read(m_fd, m_buffer.data() + old, kChunk);
            m_buffer.resize(old + (n > 0 ? size_t(n) : 0));
            if (n == 0) m_eof = true;
            if (n < 0 && errno != EINTR && errno != EAGAIN)
                throw Error(std::string("could not read standard input: ") + std::strerror(errno));
            if (n < 0) return Status::Idle;
        }
    }
    uint64_t line_number() const { return m_line_number; }

private:
    static constexpr size_t kChunk = 256 * 1024;
    int m_fd;
    std::string m_buffer;
    size_t m_start = 0;
    bool m_eof = false;
    uint64_t m_line_number = 0;
};

// Opens (or creates) the stream and checks it takes our subjects.
nats::StreamInfo open_stream(nats::JetStream& js, const PublishOptions& options) {
    const std::string wanted = options.layout.stream_subject();
    auto info = js.stream_info(options.stream);
    if (!info) {
        if (!options.create_stream)
            throw Error("stream \"" + options.stream + "\" does not exist on NATS at \"" +
                            options.nats_urls + "\"",
                        "Create it with --create-stream (and --replicas N for a cluster), or give "
                        "the name of an existing stream with --stream.");
        nats::StreamSpec spec;
        spec.name = options.stream;
        spec.subjects = {wanted};
        spec.replicas = options.replicas;
        spec.duplicate_window_ns = options.duplicate_window_seconds * 1'000'000'000LL;
        info = js.create_stream(spec);
        log::info("created stream \"" + options.stream + "\" (subjects \"" + wanted + "\", " +
                  "replicas: " + std::to_string(options.replicas) + ")");
    }
    bool covered = false;
    for (const auto& subject : info->subjects) covered = covered || subject_covers(subject, wanted);
    if (!covered) {
        std::string list;
        for (const auto& subject : info->subjects) list += (list.empty() ? "\"" : ", \"") + subject + "\"";
        throw Error("stream \"" + options.stream + "\" does not take subjects \"" + wanted +
                        "\" (its subjects: " + (list.empty() ? "none" : list) + ")",
                    "Add \"" + wanted + "\" to the stream's subjects, or set "
                    "publish.subject_prefix to a prefix the stream takes.");
    }
    return *info;
}

// The key of the stream's last message: input at or before it is in the stream already.
std::optional<MessageKey> last_key(nats::JetStream& js, const PublishOptions& options,
                                   const nats::StreamInfo& info) {
    if (info.messages == 0 || info.last_seq == 0) return std::nullopt;
    auto message = js.get_message(options.stream, info.last_seq);
    if (!message) return std::nullopt;
    auto id = message->header("Nats-Msg-Id");
    auto key = id ? MessageKey::parse(*id) : std::nullopt;
    if (!key)
        throw Error("the last message of stream \"" + options.stream + "\" (sequence " +
                        std::to_string(info.last_seq) + ") was not written by pgsync-publish",
                    "pgsync-publish must be the only writer of its stream: give --stream a stream "
                    "of its own.");
    return key;
}

size_t header_bytes(const std::string& subject, size_t payload, size_t headers) {
    return subject.size() + payload + headers + 64;
}

} // namespace

PublishStats run_publish(const PublishOptions& options, int input_fd) {
    // Connect, check the stream, and find where it ends.
    // The callback's context outlives the connection (destroyed after it, in reverse order), so
    // no ack that cnats delivers while closing finds it gone.
    auto context = std::make_unique<AckContext>();
    nats::ConnectOptions connect_options;
    connect_options.name = "pgsync-publish";
    connect_options.address_from = "--nats (or publish.nats, or NATS_URL)";
    nats::Connection connection = nats::Connection::connect(options.nats_urls, connect_options);
    context->stream = options.stream;
    context->ack_timeout_seconds = options.ack_timeout_seconds;
    nats::JetStreamOptions js_options;
    // Our own bound (AckProgress) keeps below cnats', so a publish never stalls and times out.
    js_options.max_pending = int64_t(options.max_in_flight) + 64;
    js_options.on_publish = on_publish;
    js_options.closure = context.get();
    nats::JetStream js(connection, js_options);
    const nats::StreamInfo info = open_stream(js, options);
    const std::optional<MessageKey> resume_after = last_key(js, options, info);
    context->first_expected = info.last_seq;
    int64_t max_message = connection.max_payload();
    if (info.max_msg_size > 0 && info.max_msg_size < max_message) max_message = info.max_msg_size;
    log::info("publishing to stream \"" + options.stream + "\" at " + connection.connected_url() +
              (resume_after ? " after message \"" + resume_after->message_id() + "\""
                            : std::string(" from its start")));

    AckWriter acks(options.ack_file);
    PublishStats stats;
    AckProgress& progress = context->progress;
    LineReader input(input_fd);
    record::ScannedRecord record;
    serve::OffsetTracker tracker;
    Router router(options.layout, options.config);
    std::vector<std::string> subjects;
    std::string table, message_id, offset_text, commit_lsn, op;
    char number[24];
    std::optional<MessageKey> last_published = resume_after;
    uint64_t published = 0; // messages handed to NATS
    std::optional<std::pair<std::string, std::string>> own_failure;
    std::exception_ptr route_error; // rethrown as it came (a where that does not bind: exit 2)
    // Our own ack timeout (AckProgress::overdue) rather than cnats' per-publish MaxWait, which
    // allocates a timer entry per message and later delivers a timeout message for each one,
    // acked or not: a third of the client's CPU per message (bench/publish).
    const auto ack_timeout = std::chrono::duration_cast<AckProgress::Clock::duration>(
        std::chrono::duration<double>(options.ack_timeout_seconds));
    auto check_overdue = [&] {
        if (auto key = progress.overdue(ack_timeout)) {
            nats::PublishResult timeout;
            timeout.status = 26; // NATS_TIMEOUT
            auto [error, hint] = describe_failure(*context, key->message_id(), timeout);
            progress.fail(std::move(error), std::move(hint));
        }
    };
    // A FIFO that was full keeps its ack in AckWriter: retried here, so an idle publisher does not
    // hold it back until the next transaction settles.
    auto flush_acks = [&] {
        if (auto settled = progress.take_settled()) {
            acks.write(*settled);
            stats.acknowledged = *settled;
        } else {
            acks.retry();
        }
    };

    while (!(options.stop && *options.stop)) {
        if (progress.failure()) break;
        std::string_view line;
        const auto status = input.next(line, 100);
        flush_acks();
        if (status == LineReader::Status::End) break;
        if (status == LineReader::Status::Idle) {
            check_overdue();
            continue;
        }
        ++stats.records;
        serve::LogOffset offset;
        uint32_t rank = 0;
        if (!scan_record(line, record) || !tracker.next(record, offset, rank)) {
            own_failure.emplace("line " + std::to_string(input.line_number()) +
                                    " of standard input is not a native change record in order",
                                "pgsync-publish reads what pgsync-stream writes in its native "
                                "format (--format native, the default).");
            break;
        }
        try {
            router.route(record, subjects, table);
        } catch (const Error&) {
            // A channel's where that does not fit its table: reported once what is in flight
            // settled and was acknowledged, like any other failure.
            route_error = std::current_exception();
            break;
        }
        const bool commit = record.op == "commit";
        bool skipped = true;
        for (uint32_t copy = 0; copy < subjects.size(); ++copy) {
            const MessageKey key{offset, rank, copy};
            if (last_published && key <= *last_published) continue; // in the stream already
            skipped = false;
            message_id = key.message_id();
            offset_text = offset.str();
            nats::OutgoingMessage message(subjects[copy], line);
            message.set_header("Nats-Msg-Id", message_id);
            message.set_header("Pgsync-Offset", offset_text);
            op.assign(record.op);
            message.set_header("Pgsync-Op", op.c_str());
            if (!table.empty()) message.set_header("Pgsync-Table", table);
            if (record.transactional()) {
                commit_lsn.clear();
                record.commit_lsn.append_to(commit_lsn);
                message.set_header("Pgsync-Commit-Lsn", commit_lsn);
            }
            *std::to_chars(number, number + sizeof number - 1, copy).ptr = '\0';
            message.set_header("Pgsync-Copy", number);
            *std::to_chars(number, number + sizeof number - 1, info.last_seq + published).ptr = '\0';
            message.set_header(kChainHeader, number);
            const size_t size = header_bytes(subjects[copy], line.size(), message_id.size() * 2 +
                                                                              offset_text.size() +
                                                                              table.size() + 200);
            if (int64_t(size) > max_message) {
                own_failure.emplace(
                    "record on line " + std::to_string(input.line_number()) + " (\"" +
                        message_id + "\") is " + std::to_string(line.size()) +
                        " bytes, over the " + std::to_string(max_message) +
                        " bytes the NATS server or stream takes in one message",
                    "Raise max_payload in nats-server's configuration (at most 64MB) and the "
                    "stream's max_msg_size, if set; nothing from this record on was published or "
                    "acknowledged.");
                break;
            }
            progress.wait_for_room(options.max_in_flight, ack_timeout);
            check_overdue();
            if (progress.failure()) break;
            progress.published(published, key, AckProgress::Clock::now());
            const int rc = js.publish_async(message.handle(), 0);
            if (rc != 0) {
                progress.failed(published, "could not publish message \"" + message_id +
                                               "\" to NATS: " + nats::status_text(rc),
                                "Check that the NATS servers are running.");
                break;
            }
            ++published;
            ++stats.messages;
            last_published = key;
        }
        if (own_failure || progress.failure()) break;
        if (skipped) ++stats.skipped;
        if (commit) progress.transaction_end(published, record.end_lsn);
    }

    // Whatever ended the loop: let what is in flight settle, acknowledge what was stored.
    const bool drained = progress.wait_drained(ack_timeout);
    check_overdue();
    flush_acks();
    log::debug("published " + std::to_string(stats.messages) + " messages for " +
               std::to_string(stats.records) + " records (" + std::to_string(stats.skipped) +
               " already in the stream); acknowledged up to " +
               (stats.acknowledged.is_valid() ? stats.acknowledged.str() : std::string("nothing")));
    if (auto failure = progress.failure()) throw Error(failure->first, failure->second);
    if (own_failure) throw Error(own_failure->first, own_failure->second);
    if (route_error) std::rethrow_exception(route_error);
    if (!drained)
        throw Error("JetStream did not acknowledge " + std::to_string(progress.in_flight()) +
                        " messages in stream \"" + options.stream + "\" in time",
                    "Check the NATS cluster; nothing past the last stored transaction was "
                    "acknowledged.");
    return stats;
}

} // namespace pgsync::publish
