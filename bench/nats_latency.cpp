// The subscriber of bench/publish's latency phase: a JetStream ordered consumer on the control
// subject (begin and commit records) of a stream pgsync-publish writes, timing each commit record
// as it arrives against its "commit_time" (PostgreSQL's clock, the same machine): commit to
// NATS subscriber, the whole transaction stored in the stream before its commit record.
#include <nats/nats.h>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

#include "latency.h"

namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

[[noreturn]] void fail(const std::string& message) {
    std::fprintf(stderr, "pgsync_nats_latency: error: %s\n", message.c_str());
    std::exit(1);
}

struct State {
    std::mutex mutex;
    Histogram latency;
    uint64_t messages = 0, commits = 0, unparsed = 0;
    std::atomic<double> last_arrival{0};
};

void on_message(natsConnection*, natsSubscription*, natsMsg* message, void* closure) {
    const int64_t now = realtime_us();
    auto* state = static_cast<State*>(closure);
    const std::string_view data(natsMsg_GetData(message), size_t(natsMsg_GetDataLength(message)));
    std::lock_guard lock(state->mutex);
    ++state->messages;
    if (data.starts_with("{\"op\":\"commit\"")) {
        constexpr std::string_view kField = "\"commit_time\":\"";
        const size_t at = data.find(kField);
        const int64_t commit =
            at == std::string_view::npos
                ? -1
                : parse_timestamp_us(data.data() + at + kField.size(), data.data() + data.size());
        if (commit < 0) {
            ++state->unparsed;
        } else {
            ++state->commits;
            state->latency.add(now - commit);
        }
    }
    state->last_arrival = monotonic_s();
    natsMsg_Destroy(message);
}

} // namespace

int main(int argc, char** argv) {
    std::string urls, stream, subject = "pgsync._txn";
    double idle_exit = 3, max_seconds = 300;
    bool core = false; // a core NATS subscription: at the server, before JetStream stored it
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) fail("option \"" + arg + "\" needs a value");
            return argv[++i];
        };
        if (arg == "--nats") urls = value();
        else if (arg == "--stream") stream = value();
        else if (arg == "--subject") subject = value();
        else if (arg == "--idle-exit") idle_exit = std::atof(value().c_str());
        else if (arg == "--max-seconds") max_seconds = std::atof(value().c_str());
        else if (arg == "--core") core = true;
        else fail("unknown option \"" + arg + "\" (--nats URLS --stream S [--subject S] "
                  "[--idle-exit SECONDS] [--max-seconds SECONDS] [--core])");
    }
    if (urls.empty() || stream.empty()) fail("--nats and --stream are required");
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);

    natsOptions* options = nullptr;
    std::vector<std::string> list;
    for (size_t start = 0; start <= urls.size();) {
        size_t end = urls.find(',', start);
        if (end == std::string::npos) end = urls.size();
        list.push_back(urls.substr(start, end - start));
        start = end + 1;
    }
    std::vector<const char*> servers;
    for (const auto& url : list) servers.push_back(url.c_str());
    natsConnection* connection = nullptr;
    if (natsOptions_Create(&options) != NATS_OK ||
        natsOptions_SetServers(options, servers.data(), int(servers.size())) != NATS_OK ||
        natsConnection_Connect(&connection, options) != NATS_OK)
        fail(std::string("could not connect to NATS: ") + nats_GetLastError(nullptr));
    jsCtx* js = nullptr;
    if (natsConnection_JetStream(&js, connection, nullptr) != NATS_OK) fail("no JetStream context");

    // The stream is created by pgsync-publish as the pipeline starts: wait for it.
    State state;
    jsSubOptions sub_options;
    jsSubOptions_Init(&sub_options);
    sub_options.Stream = stream.c_str();
    sub_options.Ordered = true;
    sub_options.Config.DeliverPolicy = js_DeliverNew;
    natsSubscription* subscription = nullptr;
    const double start = monotonic_s();
    jsErrCode code = jsErrCode(0);
    while (core ? natsConnection_Subscribe(&subscription, connection, subject.c_str(), on_message,
                                           &state) != NATS_OK
                : js_Subscribe(&subscription, js, subject.c_str(), on_message, &state, nullptr,
                               &sub_options, &code) != NATS_OK) {
        if (g_stop || monotonic_s() - start > 30)
            fail("could not subscribe to \"" + subject + "\" in stream \"" + stream +
                 "\": " + nats_GetLastError(nullptr));
        usleep(100000);
    }
    natsSubscription_SetPendingLimits(subscription, -1, -1);
    std::printf("{\"ready\":true}\n");
    std::fflush(stdout);

    while (!g_stop) {
        usleep(100000);
        const double now = monotonic_s(), last = state.last_arrival;
        if (last > 0 && now - last > idle_exit) break;
        if (now - start > max_seconds) break;
    }
    natsSubscription_Unsubscribe(subscription);
    natsSubscription_Destroy(subscription);
    std::lock_guard lock(state.mutex);
    std::printf("{\"messages\":%llu,\"commits\":%llu,\"unparsed\":%llu,\"p50_ms\":%.2f,"
                "\"p99_ms\":%.2f,\"max_ms\":%.2f}\n",
                (unsigned long long)state.messages, (unsigned long long)state.commits,
                (unsigned long long)state.unparsed, state.latency.quantile_ms(0.5),
                state.latency.quantile_ms(0.99), state.latency.max_ms());
    jsCtx_Destroy(js);
    natsConnection_Destroy(connection);
    natsOptions_Destroy(options);
    return 0;
}
