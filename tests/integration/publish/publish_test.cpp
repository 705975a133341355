// pgsync-publish against real nats-server processes: subjects, headers and acknowledgements read
// back through a JetStream consumer, each error case, and the fault test of issue 13.
#include "nats_cluster.h"
#include "pg_test.h"
#include "stream_support.h"
#include "util/lsn.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <nats/nats.h>
#include <netinet/in.h>
#include <random>
#include <set>
#include <stdexcept>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

using namespace pgsync;
using namespace pgsync::test;
using nlohmann::json;

namespace {

struct StreamMessage {
    uint64_t sequence = 0;
    std::string subject;
    std::string data;
    std::map<std::string, std::string> headers;
};

// Every message of the stream, or of the subjects filter covers, through a pull consumer.
std::vector<StreamMessage> read_jetstream(const std::string& url, const std::string& stream,
                                          const std::string& filter = ">") {
    natsOptions* opts = nullptr;
    natsOptions_Create(&opts);
    std::vector<std::string> urls;
    for (size_t start = 0; start <= url.size();) {
        size_t end = url.find(',', start);
        if (end == std::string::npos) end = url.size();
        urls.push_back(url.substr(start, end - start));
        start = end + 1;
    }
    std::vector<const char*> list;
    for (auto& u : urls) list.push_back(u.c_str());
    natsOptions_SetServers(opts, list.data(), int(list.size()));
    natsConnection* nc = nullptr;
    if (natsConnection_Connect(&nc, opts) != NATS_OK) {
        natsOptions_Destroy(opts);
        throw std::runtime_error("read_jetstream: cannot connect to " + url);
    }
    natsOptions_Destroy(opts);
    jsCtx* js = nullptr;
    natsConnection_JetStream(&js, nc, nullptr);
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream.c_str();
    natsSubscription* sub = nullptr;
    jsErrCode code;
    const std::string durable = "test_reader";
    if (js_PullSubscribe(&sub, js, filter.c_str(), durable.c_str(), nullptr, &so, &code) != NATS_OK)
        throw std::runtime_error(std::string("read_jetstream: subscribe: ") +
                                 nats_GetLastError(nullptr));
    std::vector<StreamMessage> out;
    while (true) {
        natsMsgList list{};
        natsStatus s = natsSubscription_Fetch(&list, sub, 1000, 1000, &code);
        if (s == NATS_TIMEOUT || list.Count == 0) {
            natsMsgList_Destroy(&list);
            break;
        }
        for (int i = 0; i < list.Count; ++i) {
            natsMsg* m = list.Msgs[i];
            StreamMessage message;
            jsMsgMetaData* meta = nullptr;
            if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
                message.sequence = meta->Sequence.Stream;
                jsMsgMetaData_Destroy(meta);
            }
            message.subject = natsMsg_GetSubject(m);
            message.data.assign(natsMsg_GetData(m), size_t(natsMsg_GetDataLength(m)));
            const char** keys = nullptr;
            int count = 0;
            if (natsMsgHeader_Keys(m, &keys, &count) == NATS_OK) {
                for (int k = 0; k < count; ++k) {
                    const char* value = nullptr;
                    if (natsMsgHeader_Get(m, keys[k], &value) == NATS_OK)
                        message.headers[keys[k]] = value;
                }
                free(keys);
            }
            natsMsg_Ack(m, nullptr);
            out.push_back(std::move(message));
        }
        natsMsgList_Destroy(&list);
    }
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
    js_DeleteConsumer(js, stream.c_str(), durable.c_str(), nullptr, nullptr);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return out;
}

// Creates a stream with the given subjects (and limits) through cnats, for the error cases.
void create_stream(const std::string& url, const std::string& name, const std::string& subject,
                   int64_t max_bytes = -1) {
    natsConnection* nc = nullptr;
    REQUIRE(natsConnection_ConnectTo(&nc, url.substr(0, url.find(',')).c_str()) == NATS_OK);
    jsCtx* js = nullptr;
    natsConnection_JetStream(&js, nc, nullptr);
    jsStreamConfig config;
    jsStreamConfig_Init(&config);
    const char* subjects[] = {subject.c_str()};
    config.Name = name.c_str();
    config.Subjects = subjects;
    config.SubjectsLen = 1;
    config.Storage = js_FileStorage;
    config.MaxBytes = max_bytes;
    config.Discard = js_DiscardNew;
    jsStreamInfo* info = nullptr;
    REQUIRE(js_AddStream(&info, js, &config, nullptr, nullptr) == NATS_OK);
    jsStreamInfo_Destroy(info);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

std::vector<Lsn> read_acks(const std::string& path) {
    std::vector<Lsn> out;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) out.push_back(*Lsn::parse(line));
    return out;
}

// Native records of a few transactions on the test database, via pgsync-stream -o.
std::string native_records(pg::Connection& db, const std::vector<std::string>& statements,
                           const std::vector<std::string>& tables) {
    auto fixture = make_stream_fixture(db, tables);
    for (const auto& s : statements) db.exec(s);
    // The slot decodes everything other tests write meanwhile (large transactions among them):
    // under a loaded ctest run that can take longer than a minute.
    ProcessOptions options;
    options.timeout_seconds = 240;
    auto r = stream_to_now(db, fixture, {}, options);
    drop_stream_fixture(db, fixture);
    REQUIRE(r.exit_code == 0);
    return r.out;
}

ProcessResult publish(const std::vector<std::string>& args, const std::string& input) {
    std::vector<std::string> argv{tool_path("pgsync-publish")};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessOptions options;
    options.stdin_data = input;
    options.timeout_seconds = 60;
    return run_process(argv, options);
}

} // namespace

TEST_CASE("pgsync-publish routes rows to table subjects and control records to _txn, with ids, "
          "offsets and headers, and acknowledges each stored transaction",
          "[publish]") {
    NatsCluster nats(1);
    auto db = connect_test_db();
    const std::string t = unique_name("pub_route");
    db.exec("CREATE TABLE " + t + " (id int PRIMARY KEY, v text)");
    const std::string input =
        native_records(db,
                       {"INSERT INTO " + t + " VALUES (1, 'a'), (2, 'b')",
                        "UPDATE " + t + " SET v = 'c' WHERE id = 1",
                        "DELETE FROM " + t + " WHERE id = 2"},
                       {t});
    const std::string ack = test_tmp_dir() + "/" + t + ".ack";
    std::remove(ack.c_str());
    auto r = publish({"--nats", nats.url(), "--create-stream", "--ack-file", ack}, input);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);

    auto lines = parse_ndjson(input);
    auto messages = read_jetstream(nats.url(), "PGSYNC");
    REQUIRE(messages.size() == lines.size()); // no channels: one message per record
    std::vector<Lsn> ends;
    for (size_t i = 0; i < messages.size(); ++i) {
        const auto& m = messages[i];
        const json record = json::parse(m.data);
        CHECK(record == lines[i]); // the payload is the record as written, in order
        const std::string op = record["op"];
        if (op == "insert" || op == "update" || op == "delete") {
            CHECK(m.subject == "pgsync.public." + t + "." + op);
            CHECK(m.headers.at("Pgsync-Table") == "public." + t);
        } else {
            CHECK(m.subject == "pgsync._txn");
        }
        CHECK(m.headers.at("Pgsync-Op") == op);
        CHECK(m.headers.at("Pgsync-Copy") == "0");
        CHECK(m.headers.at("Pgsync-Commit-Lsn") == record["commit_lsn"]);
        // Nats-Msg-Id is "<commit_lsn>:<op>:<rank>" and Pgsync-Offset "<lsn decimal>_<op>".
        const std::string id = m.headers.at("Nats-Msg-Id");
        const std::string commit_lsn = record["commit_lsn"];
        CHECK(id.rfind(commit_lsn + ":", 0) == 0);
        const std::string offset = m.headers.at("Pgsync-Offset");
        CHECK(offset.substr(0, offset.find('_')) ==
              std::to_string(Lsn::parse(commit_lsn)->value()));
        if (op == "begin") CHECK(id == commit_lsn + ":0:0");
        if (op == "commit") ends.push_back(*Lsn::parse(record["end_lsn"].get<std::string>()));
    }
    REQUIRE(ends.size() == 3);
    auto acks = read_acks(ack);
    REQUIRE(!acks.empty());
    CHECK(acks.back() == ends.back()); // every transaction stored: the last end_lsn acknowledged

    // Run again on the same input: everything is in the stream, nothing is published twice.
    auto again = publish({"--nats", nats.url(), "--ack-file", ack}, input);
    INFO(again.err);
    REQUIRE(again.exit_code == 0);
    CHECK(read_jetstream(nats.url(), "PGSYNC").size() == messages.size());
    CHECK(read_acks(ack).back() == ends.back());
}

TEST_CASE("pgsync-publish sends a change to each channel it belongs to, canonical copy first, and "
          "the rest to its table subject",
          "[publish][channel]") {
    NatsCluster nats(1);
    auto db = connect_test_db();
    const std::string t = unique_name("pub_chan");
    db.exec("CREATE TABLE " + t + " (id int PRIMARY KEY, room text, body text)");
    const std::string config = test_tmp_dir() + "/" + t + ".yaml";
    std::ofstream(config) << "tables:\n  - name: " << t << "\n    channels:\n"
                          << "      - name: chat-added\n"
                          << "        operations: [insert]\n"
                          << "        where: room = 'a'\n"
                          << "      - name: chat-log\n"
                          << "        operations: [insert, delete]\n";
    // The relation record comes with the first change; the inserts in one transaction, the
    // update and the delete in their own.
    const std::string input = native_records(
        db,
        {"INSERT INTO " + t + " VALUES (1, 'a', 'hello'), (2, 'b', 'hi'), (3, 'a', 'hey')",
         "UPDATE " + t + " SET body = 'bye' WHERE id = 1", "DELETE FROM " + t + " WHERE id = 2"},
        {t});
    auto r = publish({"--config", config, "--nats", nats.url(), "--create-stream"}, input);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);

    // A consumer of pgsync.chat-added sees the inserts whose room is 'a', and nothing else.
    auto added = read_jetstream(nats.url(), "PGSYNC", "pgsync.chat-added");
    REQUIRE(added.size() == 2);
    for (const auto& m : added) {
        const json record = json::parse(m.data);
        CHECK(record["op"] == "insert");
        CHECK(record["new"]["room"] == "a");
        CHECK(m.headers.at("Pgsync-Table") == "public." + t);
    }
    CHECK(json::parse(added[0].data)["new"]["id"] == 1);
    CHECK(json::parse(added[1].data)["new"]["id"] == 3);

    // In stream order: a row in both channels is two messages, chat-added (canonical, first in
    // the file) then chat-log flagged as copy 1 with ":1" on its id; the update has no channel.
    auto all = read_jetstream(nats.url(), "PGSYNC");
    std::vector<std::string> seen; // "subject copy id" of every change message
    std::map<std::string, std::string> canonical_id; // Pgsync-Offset -> canonical Nats-Msg-Id
    for (const auto& m : all) {
        const json record = json::parse(m.data);
        const std::string op = record["op"];
        if (op != "insert" && op != "update" && op != "delete") {
            CHECK(m.subject == "pgsync._txn");
            continue;
        }
        const std::string id = m.headers.at("Nats-Msg-Id");
        const std::string copy = m.headers.at("Pgsync-Copy");
        const std::string row = std::to_string(op == "delete" ? record["old"]["id"].get<int>()
                                                              : record["new"]["id"].get<int>());
        seen.push_back(op + " " + row + " " + m.subject + " " + copy);
        const std::string& offset = m.headers.at("Pgsync-Offset");
        if (copy == "0") {
            canonical_id[offset] = id;
        } else {
            // The copy's id is the canonical one's with ":<copy>" appended.
            REQUIRE(canonical_id.count(offset) == 1);
            CHECK(id == canonical_id[offset] + ":" + copy);
        }
    }
    const std::vector<std::string> expected{
        "insert 1 pgsync.chat-added 0",
        "insert 1 pgsync.chat-log 1",
        "insert 2 pgsync.chat-log 0",
        "insert 3 pgsync.chat-added 0",
        "insert 3 pgsync.chat-log 1",
        "update 1 pgsync.public." + t + ".update 0",
        "delete 2 pgsync.chat-log 0",
    };
    CHECK(seen == expected);
    CHECK(all.size() == parse_ndjson(input).size() + 2); // two records sent twice
}

TEST_CASE("a channel's where on a domain column is refused when its relation record arrives, "
          "with a hint, exit 2",
          "[publish][channel]") {
    NatsCluster nats(1);
    auto db = connect_test_db();
    const std::string t = unique_name("pub_dom");
    const std::string domain = t + "_room";
    db.exec("CREATE DOMAIN " + domain + " AS text");
    db.exec("CREATE TABLE " + t + " (id int PRIMARY KEY, room " + domain + ")");
    const std::string config = test_tmp_dir() + "/" + t + ".yaml";
    std::ofstream(config) << "tables:\n  - name: " << t << "\n    channels:\n"
                          << "      - name: room-a\n"
                          << "        operations: [insert]\n"
                          << "        where: room = 'a'\n";
    const std::string input =
        native_records(db, {"INSERT INTO " + t + " VALUES (1, 'a')"}, {t});
    auto r = publish({"--config", config, "--nats", nats.url(), "--create-stream"}, input);
    INFO(r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("the where of channel \"room-a\" does not fit table \"public." + t + "\"") !=
          std::string::npos);
    CHECK(r.err.find("hint: pgsync-publish binds a channel's where to the column types") !=
          std::string::npos);
    CHECK(r.err.find("domain") != std::string::npos);
    // Nothing of the table's transaction reached the stream: the relation record stopped it.
    for (const auto& m : read_jetstream(nats.url(), "PGSYNC"))
        CHECK(json::parse(m.data)["op"] != "insert");
    db.exec("DROP TABLE " + t + "; DROP DOMAIN " + domain);
}

TEST_CASE("pgsync-publish stops with a clear error and a hint, acknowledging nothing past it",
          "[publish]") {
    NatsCluster nats(1);
    auto db = connect_test_db();
    const std::string t = unique_name("pub_err");
    db.exec("CREATE TABLE " + t + " (id int PRIMARY KEY, v text)");
    std::vector<std::string> statements;
    for (int i = 0; i < 40; ++i)
        statements.push_back("INSERT INTO " + t + " VALUES (" + std::to_string(i) + ", repeat('x', 400))");
    statements.push_back("INSERT INTO " + t + " VALUES (1000, repeat('y', 1100000))");
    const std::string input = native_records(db, statements, {t});
    const std::string small = input.substr(0, input.find("\"id\":1000") - 300);
    const std::string small_input = small.substr(0, small.rfind('\n') + 1);

    SECTION("NATS unreachable") {
        auto r = publish({"--nats", "nats://127.0.0.1:1"}, small_input);
        CHECK(r.exit_code == 1);
        CHECK(r.err.find("could not connect to NATS at \"nats://127.0.0.1:1\"") != std::string::npos);
        CHECK(r.err.find("hint: ") != std::string::npos);
    }
    SECTION("stream missing") {
        auto r = publish({"--nats", nats.url(), "--stream", "NOPE"}, small_input);
        CHECK(r.exit_code == 1);
        CHECK(r.err.find("stream \"NOPE\" does not exist") != std::string::npos);
        CHECK(r.err.find("--create-stream") != std::string::npos);
    }
    SECTION("stream misconfigured: its subjects do not cover ours") {
        create_stream(nats.url(), "OTHER", "other.>");
        auto r = publish({"--nats", nats.url(), "--stream", "OTHER"}, small_input);
        CHECK(r.exit_code == 1);
        CHECK(r.err.find("does not take subjects \"pgsync.>\" (its subjects: \"other.>\")") !=
              std::string::npos);
    }
    SECTION("stream full (max_bytes, discard new)") {
        create_stream(nats.url(), "FULL", "pgsync.>", 8000);
        const std::string ack = test_tmp_dir() + "/" + t + "_full.ack";
        std::remove(ack.c_str());
        auto r = publish({"--nats", nats.url(), "--stream", "FULL", "--ack-file", ack,
                          "--max-in-flight", "4"},
                         small_input);
        CHECK(r.exit_code == 1);
        CHECK(r.err.find("stream \"FULL\" is full") != std::string::npos);
        // Every acknowledged end_lsn is of a transaction whose commit is in the stream.
        auto messages = read_jetstream(nats.url(), "FULL");
        std::set<Lsn> stored_ends;
        for (const auto& m : messages) {
            auto record = json::parse(m.data);
            if (record["op"] == "commit") stored_ends.insert(*Lsn::parse(record["end_lsn"].get<std::string>()));
        }
        for (Lsn a : read_acks(ack)) CHECK(stored_ends.count(a) == 1);
        CHECK(messages.size() < parse_ndjson(small_input).size());
    }
    SECTION("a record over the server's max_payload") {
        const std::string ack = test_tmp_dir() + "/" + t + "_big.ack";
        std::remove(ack.c_str());
        auto r = publish({"--nats", nats.url(), "--create-stream", "--ack-file", ack}, input);
        CHECK(r.exit_code == 1);
        CHECK(r.err.find("bytes, over the 1048576 bytes") != std::string::npos);
        CHECK(r.err.find("max_payload") != std::string::npos);
        // The transactions before it are stored and acknowledged; the big one is not.
        auto records = parse_ndjson(input);
        auto commits = records_of(records, "commit");
        auto acks = read_acks(ack);
        REQUIRE(!acks.empty());
        CHECK(acks.back() == *Lsn::parse(commits[commits.size() - 2]["end_lsn"].get<std::string>()));
    }
    SECTION("input that is not native records: exit 1 with the line number") {
        auto r = publish({"--nats", nats.url(), "--create-stream"},
                         small_input.substr(0, small_input.find('\n') + 1) + "not json\n");
        CHECK(r.exit_code == 1);
        CHECK(r.err.find("line 2 of standard input is not a native change record") !=
              std::string::npos);
    }
    SECTION("usage errors exit 2") {
        CHECK(publish({}, "").exit_code == 2);
        CHECK(publish({"--nats", nats.url(), "--replicas", "3"}, "").exit_code == 2);
    }
}

TEST_CASE("SIGTERM while publishing: pgsync-publish waits for what is in flight, acknowledges the "
          "last stored transaction and exits 0 promptly",
          "[publish]") {
    NatsCluster nats(1);
    auto db = connect_test_db();
    const std::string t = unique_name("pub_term");
    db.exec("CREATE TABLE " + t + " (id int PRIMARY KEY, v text)");
    std::vector<std::string> statements;
    for (int i = 0; i < 400; ++i)
        statements.push_back("INSERT INTO " + t + " SELECT g, 'x' FROM generate_series(" +
                             std::to_string(i * 10) + ", " + std::to_string(i * 10 + 9) + ") g");
    const std::string input = native_records(db, statements, {t});
    const std::string dir = test_tmp_dir() + "/" + t;
    run_process({"mkdir", "-p", dir});
    const std::string data = dir + "/data", ack = dir + "/ack";
    run_process({"rm", "-f", data, ack});
    run_process({"mkfifo", data});
    // The input never ends (the FIFO stays open): only the signal stops pgsync-publish.
    LiveProcess publisher({"/bin/sh", "-c",
                           "exec " + shell_quote(tool_path("pgsync-publish")) + " --nats " +
                               shell_quote(nats.url()) + " --create-stream --ack-file " +
                               shell_quote(ack) + " < " + shell_quote(data)});
    const int fd = ::open(data.c_str(), O_WRONLY);
    REQUIRE(fd >= 0);
    size_t written = 0;
    while (written < input.size()) {
        const ssize_t n = ::write(fd, input.data() + written, input.size() - written);
        REQUIRE(n > 0);
        written += size_t(n);
    }
    // The FIFO holds at most 64 kB: most of the input is read, and much of it in flight.
    publisher.signal(SIGTERM);
    const auto signalled = std::chrono::steady_clock::now();
    const int code = publisher.wait(30);
    const auto took = std::chrono::steady_clock::now() - signalled;
    ::close(fd);
    INFO(publisher.err());
    CHECK(code == 0);
    CHECK(took < std::chrono::seconds(5));

    // Every message in the stream was acknowledged by JetStream before the exit: the last
    // acknowledgement is the end of the last transaction whose commit is in the stream.
    auto messages = read_jetstream(nats.url(), "PGSYNC");
    REQUIRE(!messages.empty());
    Lsn last_stored_end;
    for (const auto& m : messages) {
        const json record = json::parse(m.data);
        if (record["op"] == "commit") last_stored_end = *Lsn::parse(record["end_lsn"].get<std::string>());
    }
    REQUIRE(last_stored_end.is_valid());
    auto acks = read_acks(ack);
    REQUIRE(!acks.empty());
    CHECK(acks.back() == last_stored_end);
    // The payloads are the input's first records, in order, none left out.
    const auto lines = parse_ndjson(input);
    REQUIRE(messages.size() <= lines.size());
    for (size_t i = 0; i < messages.size(); ++i) CHECK(json::parse(messages[i].data) == lines[i]);
}

TEST_CASE("a NATS server without JetStream is a clear error, exit 1", "[publish]") {
    // A free port: bind to 0, read it, let it go.
    const int probe = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(probe, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    socklen_t length = sizeof address;
    REQUIRE(::getsockname(probe, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    const std::string port = std::to_string(ntohs(address.sin_port));
    ::close(probe);
    LiveProcess server({"nats-server", "-a", "127.0.0.1", "-p", port});
    const std::string url = "nats://127.0.0.1:" + port;
    bool ready = false;
    for (int i = 0; i < 100 && !ready; ++i) {
        natsConnection* nc = nullptr;
        ready = natsConnection_ConnectTo(&nc, url.c_str()) == NATS_OK;
        natsConnection_Destroy(nc);
        if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    REQUIRE(ready);
    for (bool create : {false, true}) {
        std::vector<std::string> args{"--nats", url};
        if (create) args.push_back("--create-stream");
        auto r = publish(args, "");
        INFO(r.err);
        CHECK(r.exit_code == 1);
        CHECK(r.err.find("JetStream is not enabled on the NATS server") != std::string::npos);
        CHECK(r.err.find("hint: Start nats-server with JetStream (-js") != std::string::npos);
    }
    server.signal(SIGTERM);
    server.wait(10);
}

TEST_CASE("faults: kill -9 of pgsync-publish, pgsync-stream, the stream's NATS leader and a "
          "PostgreSQL crash leave every committed row in an R3 stream once, in commit order",
          "[publish][chaos]") {
    NatsCluster nats(3);
    PrivateCluster cluster; // restarted with -m immediate: a cluster of its own
    const std::string dsn = cluster.dsn(), dir = cluster.dir(), pgdata = cluster.data_dir();
    auto open_db = [&] { return cluster.connect(); };
    {
        auto db = open_db();
        db.exec("CREATE TABLE chaos (id bigint PRIMARY KEY, v text); CREATE PUBLICATION p FOR "
                "TABLE chaos");
        db.exec("SELECT pg_create_logical_replication_slot('s', 'pgoutput')");
    }
    const std::string acks = dir + "/acks", data = dir + "/data.pipe";
    run_process({"mkfifo", acks});

    std::atomic<bool> stop{false};
    std::atomic<long> next_id{1};
    std::thread writer([&] {
        std::optional<pg::Connection> w;
        while (!stop) {
            try {
                if (!w) w.emplace(open_db());
                long id = next_id++;
                w->exec("BEGIN; INSERT INTO chaos VALUES (" + std::to_string(id) + ", 'a'), (" +
                        std::to_string(-id) + ", 'b'); COMMIT");
                std::this_thread::sleep_for(std::chrono::milliseconds(2));
            } catch (const std::exception&) {
                w.reset(); // PostgreSQL is restarting: the table is the truth about what committed
                std::this_thread::sleep_for(std::chrono::milliseconds(200));
            }
        }
    });

    const std::string stream_cmd = "exec " + shell_quote(tool_path("pgsync-stream")) + " -d " +
                                   shell_quote(dsn) + " -S s -P p --ack-file " + shell_quote(acks) +
                                   " -s 0.2 -o " + shell_quote(data);
    const std::string publish_cmd = "exec " + shell_quote(tool_path("pgsync-publish")) +
                                    " --nats " + shell_quote(nats.url()) +
                                    " --create-stream --replicas 3 --ack-timeout 3 --ack-file " +
                                    shell_quote(acks) + " < " + shell_quote(data) + " 2>>" +
                                    shell_quote(dir + "/publish.log");
    std::mt19937 rng(13);
    int kills[4] = {0, 0, 0, 0};
    // A killed pgsync-stream's walsender holds the slot until the server notices; end it so the
    // next run need not wait for that.
    auto release_slot = [&] {
        for (int i = 0; i < 50; ++i) {
            try {
                auto db = open_db();
                db.exec("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
                        "WHERE active_pid IS NOT NULL");
                if (db.query_value("SELECT count(*) FROM pg_replication_slots WHERE active") == "0")
                    return;
            } catch (const std::exception&) {
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    };
    for (int round = 0; round < 8; ++round) {
        release_slot();
        run_process({"rm", "-f", data});
        run_process({"mkfifo", data});
        LiveProcess publisher({"/bin/sh", "-c", publish_cmd});
        LiveProcess stream({"/bin/sh", "-c", stream_cmd});
        std::this_thread::sleep_for(std::chrono::milliseconds(1200 + rng() % 1200));
        const int victim = round < 4 ? round : int(rng() % 4);
        ++kills[victim];
        std::string killed_node;
        if (victim == 0) {
            publisher.signal(SIGKILL);
        } else if (victim == 1) {
            stream.signal(SIGKILL);
        } else if (victim == 2) {
            killed_node = nats.leader("PGSYNC");
            if (!killed_node.empty()) nats.kill(killed_node);
            std::this_thread::sleep_for(std::chrono::milliseconds(1500));
        } else {
            run_process({"runuser", "-u", "postgres", "--", "/usr/lib/postgresql/15/bin/pg_ctl",
                         "-D", pgdata, "-m", "immediate", "-w", "restart", "-l",
                         dir + "/server.log"},
                        {"", true, {}, 60});
            std::this_thread::sleep_for(std::chrono::milliseconds(800));
        }
        stream.signal(SIGKILL);
        publisher.signal(SIGKILL);
        stream.wait(20);
        publisher.wait(20);
        if (!killed_node.empty()) nats.restart(killed_node);
    }
    stop = true;
    writer.join();
    REQUIRE(!nats.leader("PGSYNC").empty());

    // A last, clean run publishes the rest.
    Lsn end;
    release_slot();
    {
        auto db = open_db();
        end = *Lsn::parse(db.query_value("SELECT pg_current_wal_insert_lsn()::text"));
        auto r = run_shell(shell_quote(tool_path("pgsync-stream")) + " -d " + shell_quote(dsn) +
                               " -S s -P p --ack-file " + shell_quote(acks) +
                               " --no-loop --endpos " + end.str() + " | " +
                               shell_quote(tool_path("pgsync-publish")) + " --nats " +
                               shell_quote(nats.url()) + " --ack-file " + shell_quote(acks),
                           {"", true, {}, 180}); // the whole backlog into R3, on a loaded machine
        INFO(r.err);
        REQUIRE(r.exit_code == 0);
    }
    // Every message once, in order: offsets strictly increase, no Nats-Msg-Id twice.
    auto messages = read_jetstream(nats.url(), "PGSYNC");
    std::vector<long> delivered;
    std::set<std::string> ids;
    std::string last_offset_lsn;
    Lsn last_commit, last_end;
    bool ordered = true;
    for (const auto& m : messages) {
        CHECK(ids.insert(m.headers.at("Nats-Msg-Id")).second);
        auto record = json::parse(m.data);
        if (record.contains("commit_lsn")) {
            const Lsn commit = *Lsn::parse(record["commit_lsn"].get<std::string>());
            if (commit < last_commit) ordered = false;
            last_commit = commit;
        }
        if (record["op"] == "insert") delivered.push_back(record["new"]["id"].get<long>());
        if (record["op"] == "commit") last_end = *Lsn::parse(record["end_lsn"].get<std::string>());
    }
    CHECK(ordered);
    std::set<long> delivered_set(delivered.begin(), delivered.end());
    CHECK(delivered_set.size() == delivered.size()); // exactly once
    std::set<long> committed;
    auto db = open_db();
    auto rows = db.exec("SELECT id FROM chaos");
    for (int i = 0; i < rows.rows(); ++i) committed.insert(std::stol(rows.str(i, 0)));
    const Lsn confirmed = *Lsn::parse(
        db.query_value("SELECT confirmed_flush_lsn::text FROM pg_replication_slots"));
    INFO("kills: publish " << kills[0] << ", stream " << kills[1] << ", nats leader " << kills[2]
                           << ", postgres " << kills[3] << "; messages " << messages.size());
    CHECK(committed.size() > 100);
    CHECK(delivered_set == committed);
    // The slot followed the acknowledgements: never past the last transaction in the stream.
    CHECK(confirmed <= std::max(last_end, end));
}
