// The hub without a database: a change log in a temporary directory and tables handed in through
// the read_tables seam. A resumed subscription is served by catch-up, then by the live dispatch,
// and both say the same thing of the same records (one interpretation); unsubscribing cancels a
// queued load; forged offsets are refused.
#include "changelog/change_log.h"
#include "process.h"
#include "serve/hub/hub.h"
#include "serve/hub/loader.h"
#include "serve/metrics.h"
#include "serve/protocol/frames.h"
#include "ws_client.h"

#include <arpa/inet.h>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <sys/socket.h>
#include <set>
#include <thread>
#include <unistd.h>

using namespace pgsync;
using namespace pgsync::serve;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string head(uint32_t xid, uint64_t commit) {
    return ",\"xid\":" + std::to_string(xid) + ",\"commit_lsn\":\"" + Lsn(commit).str() + "\"";
}

// One transaction of rows on public.messages (id int4 key, grp text), REPLICA IDENTITY FULL.
// Each row: {op, id, grp, old_grp} (old_grp for updates and deletes).
struct Row {
    std::string op;
    int id;
    std::string grp;
    std::string old_grp;
};

std::string transaction(uint32_t xid, uint64_t commit, const std::vector<Row>& rows,
                        bool relation = false) {
    std::string text =
        "{\"op\":\"begin\"" + head(xid, commit) + ",\"commit_time\":\"2026-11-20T10:00:00Z\"}\n";
    if (relation)
        text += "{\"op\":\"relation\"" + head(xid, commit) +
                ",\"schema\":\"public\",\"table\":\"messages\",\"replica_identity\":\"full\","
                "\"columns\":[{\"name\":\"id\",\"type\":\"integer\",\"type_oid\":23,\"key\":true},"
                "{\"name\":\"grp\",\"type\":\"text\",\"type_oid\":25,\"key\":false}]}\n";
    uint32_t seq = 0;
    for (const Row& row : rows) {
        text += "{\"op\":\"" + row.op + "\"" + head(xid, commit) + ",\"lsn\":\"" +
                Lsn(commit - 0x40 + seq).str() + "\",\"seq\":" + std::to_string(seq) +
                ",\"schema\":\"public\",\"table\":\"messages\"";
        const std::string image = "{\"id\":" + std::to_string(row.id) + ",\"grp\":\"";
        if (row.op != "delete") text += ",\"new\":" + image + row.grp + "\"}";
        if (row.op != "insert")
            text += ",\"old\":" + image + row.old_grp + "\"},\"identity\":\"full\"";
        text += "}\n";
        ++seq;
    }
    return text + "{\"op\":\"commit\"" + head(xid, commit) + ",\"end_lsn\":\"" +
           Lsn(commit + 0x30).str() + "\",\"commit_time\":\"2026-11-20T10:00:00Z\"}\n";
}

TableSchema messages() {
    TableSchema table;
    table.schema = "public";
    table.name = "messages";
    table.schema_json = "\"public\"";
    table.name_json = "\"messages\"";
    table.replica_identity = 'f';
    table.columns = {{"id", 23, true}, {"grp", 25, false}};
    table.declared_type_oids = {23, 25};
    table.json_names = {"\"id\"", "\"grp\""};
    table.key_columns = {0};
    return table;
}

struct World {
    explicit World(const std::string& conninfo = "host=/nonexistent",
                   size_t queue_bytes = 4u << 20) {
        // A directory of its own: ctest runs this binary's cases in parallel.
        static std::atomic<int> worlds{0};
        dir = test::test_tmp_dir() + "/hub_test_" + std::to_string(getpid()) + "_" +
              std::to_string(worlds++);
        fs::remove_all(dir);
        ChangeLogOptions options;
        options.dir = dir;
        log = ChangeLog::open(options, {"7300000000000000001", "chat", "slot"});
        log->on_append([](const std::vector<LogRecord>&) {});
        hub_options.publication = "pub";
        hub_options.storage_dir = dir;
        hub_options.client_queue_bytes = queue_bytes;
        // No initial load here: a loader that never reaches a database is enough for catch-up.
        loader = std::make_unique<Loader>(conninfo, "pub", 1, *log, queue_bytes,
                                          std::chrono::seconds(30), [](size_t) {});
        hub = std::make_unique<Hub>(
            hub_options, *log, *loader, metrics,
            [] { return std::vector<TableSchema>{messages()}; }, [](Session&) {});
        session.id = 1;
        session.insecure = true;
        hub->on_open(session);
    }
    ~World() {
        hub->on_close(session);
        hub.reset();
        loader.reset();
        log.reset();
        fs::remove_all(dir);
    }
    void append(const std::string& text) {
        log->writer().write(text);
        log->writer().sync();
    }
    // Frames the session has queued, parsed from their WebSocket framing; the output is then
    // consumed as a socket would.
    std::vector<json> drain() {
        std::vector<json> out;
        while (!session.output.empty()) {
            std::string_view span = session.output.next(std::string_view::npos);
            for (const std::string& payload : test::server_text_payloads(span))
                out.push_back(json::parse(payload));
            size_t frames = 0;
            session.output.consumed(span.size(), [&](const FrameMark& m) {
                Hub::on_frame_written(m);
                ++frames;
            });
            hub->on_written(session, span.size(), frames);
        }
        return out;
    }
    // Runs loader results and dispatch until an up-to-date for id arrives (or 5 s pass).
    std::vector<json> until_up_to_date(const std::string& id) {
        std::vector<json> frames;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (std::chrono::steady_clock::now() < deadline) {
            auto results = loader->take_results(0);
            hub->on_load_results(std::move(results));
            hub->pump(1024);
            for (auto& frame : drain())
                pending.push_back(frame);
            while (!pending.empty()) {
                json frame = pending.front();
                pending.erase(pending.begin());
                frames.push_back(frame);
                if (frame["type"] == "up-to-date" && frame["id"] == id) return frames;
                if (frame["type"] == "error") return frames;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        FAIL("no up-to-date for " << id << "; frames: " << json(frames).dump());
        return frames;
    }
    void send(const json& frame) { hub->on_text(session, frame.dump()); }

    std::string dir;
    std::unique_ptr<ChangeLog> log;
    HubOptions hub_options;
    Metrics metrics;
    std::unique_ptr<Loader> loader;
    std::unique_ptr<Hub> hub;
    Session session;
    std::vector<json> pending; // drained, not yet looked at
};

std::vector<std::pair<std::string, int>> ops(const std::vector<json>& frames) {
    std::vector<std::pair<std::string, int>> out;
    for (const auto& frame : frames)
        if (frame["type"] == "change") out.emplace_back(frame["op"], frame["key"]["id"]);
    return out;
}

} // namespace

TEST_CASE("hub: catch-up and live dispatch give the same changes of the same records", "[serve]") {
    World world;
    const std::vector<Row> first = {{"insert", 1, "a", ""}, {"insert", 2, "b", ""}};
    const std::vector<Row> second = {
        {"update", 1, "b", "a"}, {"update", 2, "a", "b"}, {"insert", 3, "a", ""}};
    world.append(transaction(1000, 0x10000, first, true));
    world.append(transaction(1001, 0x10100, second));
    const std::string start = client_offset(world.log->epoch(), LogOffset{});

    // From the start of the log: both transactions by catch-up.
    world.send({{"type", "subscribe"},
                {"id", "caught"},
                {"table", "public.messages"},
                {"where", "grp = 'a'"},
                {"offset", start}});
    auto caught = world.until_up_to_date("caught");
    caught = world.until_up_to_date("caught");
    REQUIRE(ops(caught).size() == 3);
    const auto expected =
        std::vector<std::pair<std::string, int>>{{"delete", 1}, {"insert", 2}, {"insert", 3}};
    CHECK(ops(caught) == expected);

    // The same two transactions again, read live by the dispatcher.
    world.send({{"type", "subscribe"},
                {"id", "live"},
                {"table", "public.messages"},
                {"where", "grp = 'a'"},
                {"offset", client_offset(world.log->epoch(), world.log->end())}});
    world.until_up_to_date("live");
    world.append(transaction(1002, 0x10200, first));
    world.append(transaction(1003, 0x10300, second));
    std::vector<json> live_frames = world.until_up_to_date("live");
    auto more = world.until_up_to_date("live");
    live_frames.insert(live_frames.end(), more.begin(), more.end());
    std::vector<json> live_only;
    for (const auto& frame : live_frames)
        if (frame["id"] == "live") live_only.push_back(frame);
    CHECK(ops(live_only) == std::vector<std::pair<std::string, int>>{
                                {"insert", 1}, {"delete", 1}, {"insert", 2}, {"insert", 3}});
}

TEST_CASE("hub: a catch-up parked by a full client resumes as soon as the client reads, and "
          "delivers every row once",
          "[serve]") {
    World world("host=/nonexistent", 16 * 1024);
    // 300 transactions of 10 rows: many times what a 16 kB queue holds.
    for (uint32_t t = 0; t < 300; ++t) {
        std::vector<Row> rows;
        for (int i = 0; i < 10; ++i)
            rows.push_back({"insert", int(t) * 10 + i, "a", ""});
        world.append(transaction(2000 + t, 0x100000 + uint64_t(t) * 0x100, rows, t == 0));
    }
    world.send({{"type", "subscribe"},
                {"id", "s"},
                {"table", "public.messages"},
                {"offset", client_offset(world.log->epoch(), LogOffset{})}});

    // Nobody reads: the loader fills the queue, then parks the catch-up instead of polling it.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!world.session.catch_up_parked->load() && std::chrono::steady_clock::now() < deadline) {
        world.hub->on_load_results(world.loader->take_results(0));
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    REQUIRE(world.session.catch_up_parked->load());
    world.hub->on_load_results(world.loader->take_results(0)); // what it read before parking
    std::vector<json> frames = world.drain();
    // The write that emptied the queue unparked it (Loader::unpark), without waiting out the
    // loader's fallback delay.
    CHECK_FALSE(world.session.catch_up_parked->load());

    const std::string end = client_offset(world.log->epoch(), world.log->end());
    while (frames.empty() || frames.back()["type"] != "up-to-date" ||
           frames.back()["offset"] != end) {
        auto more = world.until_up_to_date("s");
        frames.insert(frames.end(), more.begin(), more.end());
    }
    std::set<int> ids;
    size_t changes = 0;
    for (const auto& frame : frames)
        if (frame["type"] == "change") {
            ++changes;
            ids.insert(frame["key"]["id"].get<int>());
        }
    CHECK(changes == 3000);
    CHECK(ids.size() == 3000);
}

TEST_CASE("hub: forged offsets are bad-offset, unsubscribing cancels a queued load", "[serve]") {
    // A "server" that accepts connections and never answers: a load's connect waits there, so
    // the connection's other loads stay queued.
    int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::listen(listener, 16) == 0);
    socklen_t length = sizeof address;
    ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
    World world("host=127.0.0.1 port=" + std::to_string(ntohs(address.sin_port)) +
                " connect_timeout=2");
    world.append(transaction(1000, 0x10000, {{"insert", 1, "a", ""}}, true));
    world.send({{"type", "subscribe"},
                {"id", "future"},
                {"table", "public.messages"},
                {"offset", world.log->epoch() + ":99999999999_1"}});
    auto frames = world.drain();
    REQUIRE(frames.size() == 1);
    CHECK(frames[0]["code"] == "bad-offset");

    // Initial loads wait for a database that is not there: they queue, and go on unsubscribe.
    for (int i = 0; i < 5; ++i)
        world.send(
            {{"type", "subscribe"}, {"id", "s" + std::to_string(i)}, {"table", "public.messages"}});
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const size_t queued = world.loader->queued();
    CHECK(queued >= 4);
    for (int i = 0; i < 5; ++i)
        world.send({{"type", "unsubscribe"}, {"id", "s" + std::to_string(i)}});
    CHECK(world.loader->queued() == 0);
    ::close(listener);
}
