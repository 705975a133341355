// The floor bench/publish compares pgsync-publish with: cnats alone, async-publishing each line of
// a file (pgsync-stream's output) as one message into a fresh stream, with as many headers as
// pgsync-publish sets (a unique Nats-Msg-Id and the Nats-Expected-Last-Sequence chain among them,
// so the servers do the same work) and the same bound on publishes in flight.
#include <nats/nats.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include "latency.h"

namespace {

[[noreturn]] void fail(const std::string& message) {
    std::fprintf(stderr, "pgsync_nats_floor: error: %s\n", message.c_str());
    std::exit(1);
}

void check(natsStatus status, const char* what) {
    if (status != NATS_OK) fail(std::string(what) + ": " + nats_GetLastError(nullptr));
}

std::string read_file(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail("could not open \"" + path + "\": " + std::strerror(errno));
    struct stat st {};
    ::fstat(fd, &st);
    std::string out(size_t(st.st_size), '\0');
    size_t done = 0;
    while (done < out.size()) {
        const ssize_t n = ::read(fd, out.data() + done, out.size() - done);
        if (n <= 0) fail("could not read \"" + path + "\"");
        done += size_t(n);
    }
    ::close(fd);
    return out;
}

struct Counts {
    uint64_t acked = 0, failed = 0;
    std::string first_error;
};

void on_ack(jsCtx*, natsMsg* message, jsPubAck* ack, jsPubAckErr* error, void* closure) {
    auto* counts = static_cast<Counts*>(closure); // cnats calls this from one thread
    if (ack) {
        ++counts->acked;
    } else {
        if (counts->failed++ == 0 && error && error->ErrText) counts->first_error = error->ErrText;
    }
    natsMsg_Destroy(message);
}

// The value of "op" in a native record, for a subject like pgsync-publish's.
std::string_view op_of(std::string_view line) {
    const size_t at = line.find("\"op\":\"");
    if (at == std::string_view::npos) return "x";
    const size_t start = at + 6, end = line.find('"', start);
    return line.substr(start, end == std::string_view::npos ? 0 : end - start);
}

} // namespace

int main(int argc, char** argv) {
    std::string urls, stream = "FLOOR", file, prefix = "floor";
    int replicas = 3;
    int64_t in_flight = 1024;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) fail("option \"" + arg + "\" needs a value");
            return argv[++i];
        };
        if (arg == "--nats") urls = value();
        else if (arg == "--stream") stream = value();
        else if (arg == "--file") file = value();
        else if (arg == "--prefix") prefix = value();
        else if (arg == "--replicas") replicas = std::atoi(value().c_str());
        else if (arg == "--max-in-flight") in_flight = std::atoll(value().c_str());
        else fail("unknown option \"" + arg + "\" (--nats URLS --stream S --file F "
                  "[--prefix P] [--replicas N] [--max-in-flight N])");
    }
    if (urls.empty() || file.empty()) fail("--nats and --file are required");
    const std::string data = read_file(file);
    std::vector<std::string_view> lines;
    for (size_t start = 0; start < data.size();) {
        size_t end = data.find('\n', start);
        if (end == std::string::npos) end = data.size();
        lines.emplace_back(data.data() + start, end - start);
        start = end + 1;
    }

    natsOptions* options = nullptr;
    check(natsOptions_Create(&options), "options");
    std::vector<std::string> list;
    for (size_t start = 0; start <= urls.size();) {
        size_t end = urls.find(',', start);
        if (end == std::string::npos) end = urls.size();
        list.push_back(urls.substr(start, end - start));
        start = end + 1;
    }
    std::vector<const char*> servers;
    for (const auto& url : list) servers.push_back(url.c_str());
    check(natsOptions_SetServers(options, servers.data(), int(servers.size())), "servers");
    natsConnection* connection = nullptr;
    check(natsConnection_Connect(&connection, options), "connect");

    Counts counts;
    jsOptions js_options;
    jsOptions_Init(&js_options);
    js_options.PublishAsync.MaxPending = in_flight;
    js_options.PublishAsync.AckHandler = on_ack;
    js_options.PublishAsync.AckHandlerClosure = &counts;
    js_options.PublishAsync.StallWait = 60000;
    jsCtx* js = nullptr;
    check(natsConnection_JetStream(&js, connection, &js_options), "jetstream");

    const std::string subjects = prefix + ".>";
    const char* subject_list[] = {subjects.c_str()};
    jsStreamConfig config;
    jsStreamConfig_Init(&config);
    config.Name = stream.c_str();
    config.Subjects = subject_list;
    config.SubjectsLen = 1;
    config.Storage = js_FileStorage;
    config.Replicas = replicas;
    jsStreamInfo* info = nullptr;
    jsErrCode code = jsErrCode(0);
    check(js_AddStream(&info, js, &config, nullptr, &code), "create stream");
    const uint64_t first_expected = info->State.LastSeq;
    jsStreamInfo_Destroy(info);

    // Headers as pgsync-publish sets them, values of about the same length.
    const double start = monotonic_s();
    std::string subject, id;
    char number[32];
    for (size_t i = 0; i < lines.size(); ++i) {
        const std::string_view line = lines[i];
        subject.assign(prefix).append(".t.").append(op_of(line));
        natsMsg* message = nullptr;
        check(natsMsg_Create(&message, subject.c_str(), nullptr, line.data(), int(line.size())),
              "message");
        std::snprintf(number, sizeof number, "%zu", i);
        id.assign("0/1A2B3C4D:").append(number).append(":0");
        check(natsMsgHeader_Set(message, "Nats-Msg-Id", id.c_str()), "header");
        check(natsMsgHeader_Set(message, "Pgsync-Offset", "439041101_12345"), "header");
        check(natsMsgHeader_Set(message, "Pgsync-Op", "insert"), "header");
        check(natsMsgHeader_Set(message, "Pgsync-Table", "public.bench_p"), "header");
        check(natsMsgHeader_Set(message, "Pgsync-Commit-Lsn", "0/1A2B3C4D"), "header");
        check(natsMsgHeader_Set(message, "Pgsync-Copy", "0"), "header");
        std::snprintf(number, sizeof number, "%llu", (unsigned long long)(first_expected + i));
        check(natsMsgHeader_Set(message, "Nats-Expected-Last-Sequence", number), "header");
        check(js_PublishMsgAsync(js, &message, nullptr), "publish");
    }
    jsPubOptions wait;
    jsPubOptions_Init(&wait);
    wait.MaxWait = 120000;
    check(js_PublishAsyncComplete(js, &wait), "waiting for acks");
    const double seconds = monotonic_s() - start;

    if (counts.failed)
        fail(std::to_string(counts.failed) + " publishes failed, the first: " + counts.first_error);
    std::printf("{\"messages\":%llu,\"seconds\":%.3f,\"per_second\":%.0f}\n",
                (unsigned long long)counts.acked, seconds, double(counts.acked) / seconds);
    js_DeleteStream(js, stream.c_str(), nullptr, nullptr);
    jsCtx_Destroy(js);
    natsConnection_Destroy(connection);
    natsOptions_Destroy(options);
    return 0;
}
