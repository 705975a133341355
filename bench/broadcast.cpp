// The broadcaster of bench/serve: the floor any WebSocket fan-out server stands on, measured on
// the same machine in the same run. The same clients, frame bytes and batching per transaction as
// pgsync-serve, but no filtering, JSON rendering per shape, log or database: raw epoll and send(2).
//
// N event-loop threads each own their connections (dealt round robin by the acceptor, the main
// thread). A client subscribes with pgsync-serve's subscribe frame; only the shape ("params":[n,)
// and the id are read. Commands on stdin, one per line:
//   run RATE SECONDS ROWS_PER_TXN SHAPES   generate RATE rows/s in evenly spaced transactions and
//                                          print {"type":"done",...} when finished
//   quit                                   exit
// The generator renders each transaction's frames once and hands them to every loop thread, which
// appends each row's frame to its subscribers' buffers, then one up-to-date frame to each client it
// touched, and writes each of them once: pgsync-serve's batching (see Loop::fan_out).
#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <memory>
#include <mutex>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <random>
#include <sched.h>
#include <string>
#include <string_view>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "ws_frame.h"

namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) {
    g_stop = 1;
}

constexpr uint32_t kMaxShapes = 1000000;
// A client this far behind is dropped, as pgsync-serve drops a slow consumer.
constexpr size_t kMaxQueuedBytes = 64 << 20;
constexpr uint64_t kWakeTag = UINT64_MAX;
// What pgsync-serve's offsets look like: a 16-hex-digit log epoch, then "<commit lsn>_<op>" with
// the LSN in decimal, starting where a fresh cluster's WAL is (about 22,000,000).
constexpr const char* kEpoch = "5EB1C0DE2026BEEF";

// One transaction, rendered once and shared read-only by every loop thread.
struct Batch {
    struct Row {
        uint32_t shape, at, size;
    };
    std::string bytes; // the rows' frames, WebSocket header included, then the up-to-date frame
    std::vector<Row> rows;
    uint32_t up_to_date_at = 0;
};

// State every thread reads: subscribers per shape (for the expected count) and the last commit.
struct Shared {
    std::unique_ptr<std::atomic<int>[]> subscribers { new std::atomic<int>[ kMaxShapes + 1 ]() };
    std::atomic<uint64_t> commit_lsn{22000000};
    std::atomic<bool> stop{false};
};

void append_frame(std::string& out, std::string_view payload) {
    out += char(0x81); // FIN, text
    if (payload.size() < 126) {
        out += char(payload.size());
    } else if (payload.size() < 65536) {
        out += char(126);
        out += char(payload.size() >> 8);
        out += char(payload.size() & 0xff);
    } else {
        out += char(127);
        for (int shift = 56; shift >= 0; shift -= 8)
            out += char((payload.size() >> shift) & 0xff);
    }
    out += payload;
}

void append_up_to_date(std::string& out, std::string_view id_json, uint64_t lsn, unsigned op) {
    char text[160];
    int n = std::snprintf(text, sizeof text,
                          "{\"type\":\"up-to-date\",\"id\":%.*s,\"offset\":\"%s:%llu_%u\"}",
                          int(id_json.size()), id_json.data(), kEpoch, (unsigned long long)lsn, op);
    append_frame(out, std::string_view(text, size_t(n)));
}

struct Connection {
    int fd = -1;
    bool upgraded = false;
    const Batch* up_to_date_of = nullptr; // touched: owes the up-to-date of this transaction
    bool want_write = false;              // EPOLLOUT is armed
    uint32_t shape = 0;                   // 0: not subscribed
    uint32_t shape_slot = 0;              // its index in the loop's list for that shape
    std::string in;                       // bytes received and not parsed yet
    std::string out; // bytes to send from `sent` on; cleared (capacity kept) when done
    size_t sent = 0;
};

class Loop {
public:
    explicit Loop(Shared& shared) : m_shared(shared) {
        m_epoll = ::epoll_create1(EPOLL_CLOEXEC);
        m_wake = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        epoll_event event{};
        event.events = EPOLLIN;
        event.data.u64 = kWakeTag;
        ::epoll_ctl(m_epoll, EPOLL_CTL_ADD, m_wake, &event);
    }
    void post_connection(int fd) {
        post([&] { m_new_fds.push_back(fd); });
    }
    void post_batch(const std::shared_ptr<const Batch>& batch) {
        post([&] { m_batches.push_back(batch); });
    }
    void wake() {
        uint64_t one = 1;
        (void)!::write(m_wake, &one, sizeof one);
    }
    void run();

private:
    // A wake-up only when the inbox was empty: the loop takes the whole inbox on each wake-up.
    template <class F> void post(F push) {
        bool was_empty;
        {
            std::lock_guard lock(m_mutex);
            was_empty = m_new_fds.empty() && m_batches.empty();
            push();
        }
        if (was_empty) wake();
    }
    void take_inbox();
    void add(int fd);
    void on_event(uint32_t index, uint32_t events);
    bool parse(uint32_t index);
    bool upgrade(Connection& c);
    bool on_text(uint32_t index, std::string_view text);
    void fan_out(const std::vector<std::shared_ptr<const Batch>>& batches);
    bool flush(uint32_t index);
    void unsubscribe(Connection& c);
    void close(uint32_t index);

    Shared& m_shared;
    int m_epoll = -1, m_wake = -1;
    std::mutex m_mutex;
    std::vector<int> m_new_fds;
    std::vector<std::shared_ptr<const Batch>> m_batches;
    std::vector<int> m_taken_fds;
    std::vector<std::shared_ptr<const Batch>> m_taken_batches;
    std::vector<Connection> m_connections;
    std::vector<uint32_t> m_free;
    std::vector<std::vector<uint32_t>> m_by_shape; // connection indices per shape
    std::vector<uint32_t> m_touched;
    std::vector<char> m_read_buffer = std::vector<char>(64 * 1024);
};

void Loop::run() {
    std::vector<epoll_event> events(1024);
    while (!m_shared.stop.load(std::memory_order_relaxed)) {
        int n = ::epoll_wait(m_epoll, events.data(), int(events.size()), 200);
        for (int i = 0; i < n; ++i) {
            if (events[size_t(i)].data.u64 == kWakeTag)
                take_inbox();
            else
                on_event(uint32_t(events[size_t(i)].data.u64), events[size_t(i)].events);
        }
    }
    for (Connection& c : m_connections)
        if (c.fd >= 0) ::close(c.fd);
}

void Loop::take_inbox() {
    uint64_t count;
    (void)!::read(m_wake, &count, sizeof count);
    {
        std::lock_guard lock(m_mutex);
        m_taken_fds.swap(m_new_fds);
        m_taken_batches.swap(m_batches);
    }
    for (int fd : m_taken_fds)
        add(fd);
    fan_out(m_taken_batches);
    m_taken_fds.clear();
    m_taken_batches.clear();
}

void Loop::add(int fd) {
    uint32_t index;
    if (m_free.empty()) {
        index = uint32_t(m_connections.size());
        m_connections.emplace_back();
    } else {
        index = m_free.back();
        m_free.pop_back();
    }
    m_connections[index].fd = fd;
    epoll_event event{};
    event.events = EPOLLIN | EPOLLRDHUP;
    event.data.u64 = index;
    ::epoll_ctl(m_epoll, EPOLL_CTL_ADD, fd, &event);
}

void Loop::on_event(uint32_t index, uint32_t events) {
    if (m_connections[index].fd < 0) return;
    if ((events & EPOLLOUT) && !flush(index)) return close(index);
    if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) return;
    while (true) {
        Connection& c = m_connections[index];
        ssize_t n = ::recv(c.fd, m_read_buffer.data(), m_read_buffer.size(), 0);
        if (n > 0) {
            c.in.append(m_read_buffer.data(), size_t(n));
            if (!parse(index)) return close(index);
            if (size_t(n) < m_read_buffer.size()) return;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        } else {
            return close(index); // end of stream or reset
        }
    }
}

// Sec-WebSocket-Accept = base64(SHA-1(key + the GUID of RFC 6455)). False for a request to refuse;
// true, not upgraded yet, while its head is incomplete.
bool Loop::upgrade(Connection& c) {
    size_t end = c.in.find("\r\n\r\n");
    if (end == std::string::npos) return c.in.size() < 16384;
    std::string_view head(c.in.data(), end + 2);
    std::string key;
    for (size_t at = 0; at < head.size();) {
        size_t eol = head.find("\r\n", at);
        std::string_view line = head.substr(at, eol - at);
        at = eol + 2;
        constexpr std::string_view kName = "sec-websocket-key:";
        if (line.size() > kName.size() &&
            std::equal(kName.begin(), kName.end(), line.begin(), [](char a, char b) {
                return a == std::tolower(static_cast<unsigned char>(b));
            })) {
            line.remove_prefix(kName.size());
            while (!line.empty() && line.front() == ' ')
                line.remove_prefix(1);
            while (!line.empty() && line.back() == ' ')
                line.remove_suffix(1);
            key = line;
        }
    }
    if (key.empty()) return false;
    key += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(key.data()), key.size(), digest);
    unsigned char accept[32];
    int length = EVP_EncodeBlock(accept, digest, SHA_DIGEST_LENGTH);
    c.out += "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: ";
    c.out.append(reinterpret_cast<char*>(accept), size_t(length));
    c.out += "\r\n\r\n";
    c.in.erase(0, end + 4);
    c.upgraded = true;
    return true;
}

// Client frames are masked (RFC 6455 5.3). False when the connection must close.
bool Loop::parse(uint32_t index) {
    Connection& c = m_connections[index];
    if (!c.upgraded) {
        if (!upgrade(c)) return false;
        if (!c.upgraded) return true; // the request's head is not all here yet
    }
    size_t at = 0;
    bool keep = true;
    while (keep && c.in.size() - at >= 2) {
        auto* p = reinterpret_cast<unsigned char*>(c.in.data() + at);
        size_t available = c.in.size() - at;
        WsFrameHead frame;
        if (!read_frame_head(p, available, frame)) break;
        if (!frame.masked) return false; // an unmasked client frame
        const int opcode = frame.opcode;
        const uint64_t length = frame.length;
        const size_t head = frame.size;
        if (length > (1 << 20)) return false;
        if (available < head + 4 + length) break;
        unsigned char* mask = p + head;
        char* payload = c.in.data() + at + head + 4;
        for (size_t i = 0; i < length; ++i)
            payload[i] = char(payload[i] ^ mask[i % 4]);
        at += head + 4 + size_t(length);
        std::string_view text(payload, size_t(length));
        if (opcode == 0x1) {
            keep = on_text(index, text);
        } else if (opcode == 0x8) { // close: answer with the same code, then close
            std::string_view code = text.substr(0, 2);
            c.out += char(0x88);
            c.out += char(code.size());
            c.out += code;
            flush(index);
            return false;
        } else if (opcode == 0x9) { // ping: pong with its payload
            if (length > 125) return false;
            c.out += char(0x8A);
            c.out += char(length);
            c.out += text;
        }
    }
    m_connections[index].in.erase(0, at);
    return keep && flush(index);
}

// A subscribe frame: a scan for "params":[<shape>, and "id", not a JSON parser (a bench helper).
bool Loop::on_text(uint32_t index, std::string_view text) {
    Connection& c = m_connections[index];
    if (text.find("\"type\":\"subscribe\"") == std::string_view::npos) return true;
    size_t id_at = text.find("\"id\":\"");
    size_t params_at = text.find("\"params\":[");
    std::string_view id_json = "\"?\"";
    if (id_at != std::string_view::npos) {
        size_t end = text.find('"', id_at + 6);
        if (end != std::string_view::npos) id_json = text.substr(id_at + 5, end + 1 - (id_at + 5));
    }
    uint64_t shape = 0;
    for (size_t i = params_at == std::string_view::npos ? text.size() : params_at + 10;
         i < text.size() && text[i] >= '0' && text[i] <= '9' && shape <= kMaxShapes; ++i)
        shape = shape * 10 + uint64_t(text[i] - '0');
    // Frames are rendered once for every client, so every subscription must carry the same id.
    const char* problem = shape < 1 || shape > kMaxShapes
                              ? "params[0] must be a shape from 1 to 1000000"
                          : id_json != "\"s1\"" ? "the broadcaster serves only the id \\\"s1\\\""
                                                : nullptr;
    if (problem) {
        char error[256];
        int n = std::snprintf(
            error, sizeof error,
            "{\"type\":\"error\",\"id\":%.*s,\"code\":\"bad-request\",\"message\":\"%s\"}",
            int(id_json.size()), id_json.data(), problem);
        append_frame(c.out, std::string_view(error, size_t(n)));
        return true;
    }
    unsubscribe(c);
    if (m_by_shape.size() <= shape) m_by_shape.resize(shape + 1);
    c.shape = uint32_t(shape);
    c.shape_slot = uint32_t(m_by_shape[shape].size());
    m_by_shape[shape].push_back(index);
    m_shared.subscribers[shape].fetch_add(1, std::memory_order_relaxed);
    // Op 21: the commit of a 10-row transaction, the bench's (only the frame's length matters).
    append_up_to_date(c.out, id_json, m_shared.commit_lsn.load(std::memory_order_relaxed), 21);
    return true;
}

void Loop::unsubscribe(Connection& c) {
    if (c.shape == 0) return;
    auto& list = m_by_shape[c.shape];
    uint32_t moved = list.back();
    list[c.shape_slot] = moved;
    m_connections[moved].shape_slot = c.shape_slot;
    list.pop_back();
    m_shared.subscribers[c.shape].fetch_sub(1, std::memory_order_relaxed);
    c.shape = 0;
}

// The hot path: memcpy of shared frames into each subscriber's buffer, then per touched client
// one up-to-date (of the last transaction that touched it) and one send. Transactions taken in one
// wake-up share that send, as in pgsync-serve when it is behind: it writes a session's whole queue
// at once and takes back an up-to-date not yet written when more rows follow it
// (OutputQueue::retract_up_to_date). Keeping up, that is one send per client per transaction.
void Loop::fan_out(const std::vector<std::shared_ptr<const Batch>>& batches) {
    for (const auto& batch : batches) {
        for (const Batch::Row& row : batch->rows) {
            if (row.shape >= m_by_shape.size()) continue;
            std::string_view frame(batch->bytes.data() + row.at, row.size);
            for (uint32_t index : m_by_shape[row.shape]) {
                Connection& c = m_connections[index];
                if (!c.up_to_date_of) m_touched.push_back(index);
                c.up_to_date_of = batch.get();
                c.out += frame;
            }
        }
    }
    for (uint32_t index : m_touched) {
        Connection& c = m_connections[index];
        const Batch& batch = *c.up_to_date_of;
        c.up_to_date_of = nullptr;
        c.out.append(batch.bytes, batch.up_to_date_at);
        if (!flush(index)) close(index);
    }
    m_touched.clear();
}

// Writes what the socket takes; the rest waits for EPOLLOUT. False when the connection is lost.
bool Loop::flush(uint32_t index) {
    Connection& c = m_connections[index];
    while (c.sent < c.out.size()) {
        ssize_t n = ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
        if (n > 0)
            c.sent += size_t(n);
        else if (n < 0 && errno == EINTR)
            continue;
        else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        else
            return false;
    }
    const bool done = c.sent == c.out.size();
    if (done) {
        c.out.clear();
        c.sent = 0;
    } else if (c.sent >= c.out.size() / 2) { // keep the buffer from growing by its sent head
        c.out.erase(0, c.sent);
        c.sent = 0;
    }
    if (c.out.size() - c.sent > kMaxQueuedBytes) return false;
    if (done == c.want_write) {
        c.want_write = !done;
        epoll_event event{};
        event.events = EPOLLIN | EPOLLRDHUP | (done ? 0u : uint32_t(EPOLLOUT));
        event.data.u64 = index;
        ::epoll_ctl(m_epoll, EPOLL_CTL_MOD, c.fd, &event);
    }
    return true;
}

void Loop::close(uint32_t index) {
    Connection& c = m_connections[index];
    unsubscribe(c);
    ::close(c.fd);
    c = Connection();
    m_free.push_back(index);
}

// "2026-12-02T04:19:20.123456+00:00", as PostgreSQL's to_json prints a timestamptz in UTC (trailing
// zeros of the fraction dropped).
size_t format_timestamp(char* out, int64_t us) {
    time_t seconds = time_t(us / 1000000);
    int fraction = int(us % 1000000);
    tm t{};
    gmtime_r(&seconds, &t);
    size_t n = std::strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &t);
    if (fraction) {
        int digits = 6;
        while (fraction % 10 == 0)
            fraction /= 10, --digits;
        n += size_t(std::snprintf(out + n, 16, ".%0*d", digits, fraction));
    }
    std::memcpy(out + n, "+00:00", 6);
    return n + 6;
}

struct Run {
    double rate = 0, seconds = 0;
    int rows_per_txn = 0, shapes = 0;
};

// Paced on an evenly spaced schedule; a late wake-up sends only the transactions then due.
void generate(Shared& shared, const std::vector<std::unique_ptr<Loop>>& loops, Run run,
              uint64_t& next_id) {
    std::mt19937_64 random(std::random_device{}());
    const double interval_ns = 1e9 * run.rows_per_txn / run.rate;
    const auto count = uint64_t(run.seconds * run.rate / run.rows_per_txn + 0.5);
    timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    const int64_t start_ns = int64_t(start.tv_sec) * 1000000000 + start.tv_nsec;
    uint64_t rows = 0, expected = 0, transactions = 0;
    double lag_ns = 0;
    char payload[512], ts[48];
    for (; transactions < count && !shared.stop.load() && !g_stop; ++transactions) {
        const int64_t due = start_ns + int64_t(double(transactions) * interval_ns);
        timespec wake{time_t(due / 1000000000), long(due % 1000000000)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &wake, nullptr) == EINTR) {
        }
        timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        lag_ns += double(int64_t(now.tv_sec) * 1000000000 + now.tv_nsec - due);
        timespec real;
        clock_gettime(CLOCK_REALTIME, &real);
        size_t ts_size = format_timestamp(ts, int64_t(real.tv_sec) * 1000000 + real.tv_nsec / 1000);
        // The LSN moves about as far as such a transaction moves the WAL, so offsets grow alike.
        const uint64_t step = 200ull * unsigned(run.rows_per_txn);
        const uint64_t lsn = shared.commit_lsn.fetch_add(step) + step;
        auto batch = std::make_shared<Batch>();
        batch->bytes.reserve(size_t(run.rows_per_txn) * 240 + 80);
        for (int r = 0; r < run.rows_per_txn; ++r) {
            const auto shape = uint32_t(1 + random() % unsigned(run.shapes));
            const unsigned long long id = ++next_id;
            int n = std::snprintf(
                payload, sizeof payload,
                "{\"type\":\"change\",\"id\":\"s1\",\"op\":\"insert\",\"offset\":\"%s:%llu_%d\","
                "\"key\":{\"id\":%llu},\"new\":{\"id\":%llu,\"shape\":%u,\"v\":%u,"
                "\"ts\":\"%.*s\",\"payload\":\"x\"}}",
                kEpoch, (unsigned long long)lsn, 2 * r + 2, id, id, shape, unsigned(random() % 101),
                int(ts_size), ts);
            const auto at = uint32_t(batch->bytes.size());
            append_frame(batch->bytes, std::string_view(payload, size_t(n)));
            batch->rows.push_back({shape, at, uint32_t(batch->bytes.size() - at)});
            expected += uint64_t(shared.subscribers[shape].load(std::memory_order_relaxed));
            ++rows;
        }
        batch->up_to_date_at = uint32_t(batch->bytes.size());
        append_up_to_date(batch->bytes, "\"s1\"", lsn, 2 * unsigned(run.rows_per_txn) + 1);
        std::shared_ptr<const Batch> shared_batch = std::move(batch);
        for (const auto& loop : loops)
            loop->post_batch(shared_batch);
    }
    timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    const double seconds = double(int64_t(end.tv_sec) * 1000000000 + end.tv_nsec - start_ns) / 1e9;
    std::printf("{\"type\":\"done\",\"rows\":%llu,\"expected\":%llu,\"transactions\":%llu,"
                "\"seconds\":%.3f,\"lag_ms\":%.3f}\n",
                (unsigned long long)rows, (unsigned long long)expected,
                (unsigned long long)transactions, seconds,
                transactions ? lag_ns / double(transactions) / 1e6 : 0.0);
    std::fflush(stdout);
}

void usage(FILE* out) {
    std::fputs(
        "Usage: pgsync_broadcast [--listen HOST:PORT] [--threads N] [--ready-file PATH]\n"
        "\n"
        "A minimal WebSocket broadcaster for bench/serve: pgsync-serve's frames to its\n"
        "subscribers with raw epoll and no filtering, rendering or logging.\n"
        "Commands on stdin: \"run RATE SECONDS ROWS_PER_TXN SHAPES\" (rows per second in\n"
        "transactions of random shapes; prints {\"type\":\"done\",...}), \"quit\".\n"
        "\n"
        "Options:\n"
        "  --listen HOST:PORT  IPv4 address to listen on (default 127.0.0.1:0, any free port)\n"
        "  --threads N         event-loop threads (default: the CPUs it may run on)\n"
        "  --ready-file PATH   write \"HOST:PORT\" there once listening\n"
        "  -h, --help          show this help\n",
        out);
}

[[noreturn]] void usage_error(const std::string& message) {
    std::fprintf(
        stderr,
        "pgsync_broadcast: error: %s\nTry \"pgsync_broadcast --help\" for more information.\n",
        message.c_str());
    std::exit(2);
}

int fail(const std::string& message, const char* hint) {
    std::fprintf(stderr, "pgsync_broadcast: error: %s: %s\nhint: %s\n", message.c_str(),
                 std::strerror(errno), hint);
    return 1;
}

} // namespace

int main(int argc, char** argv) {
    std::string host = "127.0.0.1", ready_file;
    int port = 0, threads = 0;
    cpu_set_t cpus;
    if (sched_getaffinity(0, sizeof cpus, &cpus) == 0) threads = CPU_COUNT(&cpus);
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "-h" || arg == "--help") {
            usage(stdout);
            return 0;
        }
        if (arg != "--listen" && arg != "--threads" && arg != "--ready-file")
            usage_error("unknown option \"" + std::string(arg) + "\"");
        if (i + 1 >= argc) usage_error("option \"" + std::string(arg) + "\" needs a value");
        std::string value = argv[++i];
        char* end = nullptr;
        if (arg == "--listen") {
            size_t colon = value.rfind(':');
            long p =
                colon == std::string::npos ? -1 : std::strtol(value.c_str() + colon + 1, &end, 10);
            in_addr probe{};
            if (p < 0 || p > 65535 || *end ||
                inet_pton(AF_INET, value.substr(0, colon).c_str(), &probe) != 1)
                usage_error("--listen needs IPV4:PORT, not \"" + value + "\"");
            host = value.substr(0, colon);
            port = int(p);
        } else if (arg == "--threads") {
            long n = std::strtol(value.c_str(), &end, 10);
            if (n < 1 || n > 256 || *end)
                usage_error("--threads needs a number from 1 to 256, not \"" + value + "\"");
            threads = int(n);
        } else {
            ready_file = value;
        }
    }
    threads = std::max(threads, 1);
    // One descriptor per client: raise the soft limit as far as the hard one allows.
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
        limit.rlim_cur = limit.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &limit);
    }
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGPIPE, SIG_IGN);

    int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(uint16_t(port));
    inet_pton(AF_INET, host.c_str(), &address.sin_addr);
    socklen_t length = sizeof address;
    if (::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listener, SOMAXCONN) != 0 ||
        ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0)
        return fail("could not listen on " + host + ":" + std::to_string(port),
                    "Choose another port, or port 0 for any free one.");
    port = ntohs(address.sin_port);
    if (!ready_file.empty()) {
        // Written whole under another name, then renamed: a reader never sees half of it.
        std::string temporary = ready_file + ".tmp";
        FILE* file = std::fopen(temporary.c_str(), "w");
        if (!file || std::fprintf(file, "%s:%d\n", host.c_str(), port) < 0 ||
            std::fclose(file) != 0 || std::rename(temporary.c_str(), ready_file.c_str()) != 0)
            return fail("could not write \"" + ready_file + "\"",
                        "Check that its directory exists and is writable.");
    }

    Shared shared;
    std::vector<std::unique_ptr<Loop>> loops;
    std::vector<std::thread> loop_threads;
    for (int i = 0; i < threads; ++i)
        loops.push_back(std::make_unique<Loop>(shared));
    for (auto& loop : loops)
        loop_threads.emplace_back([&loop] { loop->run(); });

    // The main thread accepts and reads commands; a run goes on in a thread of its own.
    int epoll = ::epoll_create1(EPOLL_CLOEXEC);
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = listener;
    ::epoll_ctl(epoll, EPOLL_CTL_ADD, listener, &event);
    event.data.fd = 0;
    ::fcntl(0, F_SETFL, ::fcntl(0, F_GETFL) | O_NONBLOCK);
    ::epoll_ctl(epoll, EPOLL_CTL_ADD, 0, &event); // fails for /dev/null: no commands then
    std::thread generator;
    std::string commands;
    uint64_t next_id = 0;
    size_t next_loop = 0;
    bool quit = false, told_emfile = false;
    while (!quit && !g_stop) {
        epoll_event ready[8];
        int n = ::epoll_wait(epoll, ready, 8, 200);
        for (int i = 0; i < n; ++i) {
            if (ready[i].data.fd == listener) {
                int fd;
                while ((fd = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >=
                       0) {
                    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    loops[next_loop++ % loops.size()]->post_connection(fd);
                }
                if (errno == EMFILE && !told_emfile) {
                    told_emfile = true;
                    std::fprintf(stderr,
                                 "pgsync_broadcast: error: could not accept a connection: %s\n",
                                 std::strerror(errno));
                }
                continue;
            }
            char chunk[4096];
            ssize_t got;
            while ((got = ::read(0, chunk, sizeof chunk)) > 0)
                commands.append(chunk, size_t(got));
            if (got == 0) ::epoll_ctl(epoll, EPOLL_CTL_DEL, 0, nullptr); // no more commands
            for (size_t eol; !quit && (eol = commands.find('\n')) != std::string::npos;) {
                std::string line = commands.substr(0, eol);
                commands.erase(0, eol + 1);
                Run run;
                if (line == "quit") {
                    quit = true;
                } else if (std::sscanf(line.c_str(), "run %lf %lf %d %d", &run.rate, &run.seconds,
                                       &run.rows_per_txn, &run.shapes) == 4 &&
                           run.rate > 0 && run.seconds > 0 && run.rows_per_txn > 0 &&
                           run.shapes > 0 && run.shapes <= int(kMaxShapes)) {
                    if (generator.joinable()) generator.join(); // one run at a time, in order
                    generator = std::thread([&, run] { generate(shared, loops, run, next_id); });
                } else if (!line.empty()) {
                    std::fprintf(stderr,
                                 "pgsync_broadcast: error: unknown command \"%s\"\n"
                                 "hint: The commands are \"run RATE SECONDS ROWS_PER_TXN SHAPES\" "
                                 "and \"quit\".\n",
                                 line.c_str());
                }
            }
        }
    }
    shared.stop = true;
    if (generator.joinable()) generator.join();
    for (auto& loop : loops)
        loop->wake();
    for (auto& thread : loop_threads)
        thread.join();
    return 0;
}
