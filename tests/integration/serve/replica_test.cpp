// pgsync-serve replicas (--source): two servers read one JetStream stream, filled here in
// pgsync-publish's wire format by the test's own writer (tests/support/replica_support.h), and a
// client moves between them with its offset; a restarted replica resumes where it was; NATS lost
// and back; a missing stream or unreachable NATS is a clear error.
#include "nats_cluster.h"
#include "pg_test.h"
#include "replica_support.h"
#include "serve_support.h"
#include "stream_support.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

using namespace pgsync;
using namespace pgsync::test;
using nlohmann::json;

namespace {

constexpr int kTimeoutMs = 30000;

// The table's rows as the client sees them: key text -> n.
std::map<std::string, int> table_rows(pg::Connection& db, const std::string& table) {
    auto result = db.exec("SELECT id, n FROM " + table);
    std::map<std::string, int> out;
    for (int r = 0; r < PQntuples(result.raw()); ++r)
        out[json{{"id", std::stoi(PQgetvalue(result.raw(), r, 0))}}.dump()] =
            std::stoi(PQgetvalue(result.raw(), r, 1));
    return out;
}

// A client of one table that fails on a lost or repeated change: an insert of a row it holds, an
// update or delete of one it does not.
struct Client {
    std::optional<ServeClient> connection;
    std::string table;
    std::map<std::string, int> rows;
    std::string offset;
    std::map<std::string, std::string> history; // each key's frames, for a failure's message

    void apply(const json& frame) {
        INFO(frame.dump());
        if (frame.contains("key")) history[frame["key"].dump()] += frame.dump() + "\n";
        INFO("its frames:\n" << (frame.contains("key") ? history[frame["key"].dump()] : ""));
        REQUIRE(frame.value("type", "") != "error");
        REQUIRE(frame.value("type", "") != "must-refetch");
        if (frame.value("type", "") == "up-to-date") offset = frame["offset"];
        if (frame.value("type", "") != "change") return;
        const std::string key = frame["key"].dump();
        const std::string op = frame["op"];
        if (op == "insert") {
            REQUIRE(!rows.count(key)); // a duplicate
            rows[key] = frame["new"]["n"].get<int>();
        } else if (op == "update") {
            REQUIRE(rows.count(key)); // a lost insert
            if (frame["new"].contains("n")) rows[key] = frame["new"]["n"].get<int>();
        } else {
            REQUIRE(rows.erase(key) == 1);
        }
    }
    void subscribe(int port, bool resume) {
        connection = ServeClient::connect(port);
        json frame = {{"type", "subscribe"}, {"id", "s"}, {"table", table}};
        if (resume) frame["offset"] = offset;
        connection->send(frame);
    }
    // Reads frames until an up-to-date finds the rows equal to want (its offset is where a
    // resume starts), or fails after the timeout.
    void read_until(const std::map<std::string, int>& want) {
        const auto deadline =
            std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
        for (;;) {
            REQUIRE(std::chrono::steady_clock::now() < deadline);
            auto frame = connection->next(1000);
            if (!frame) continue;
            apply(*frame);
            if (frame->value("type", "") == "up-to-date" && rows == want) return;
        }
    }
    std::string epoch() const { return offset.substr(0, offset.find(':')); }
};

ServeConfig replica_config(const std::string& source) {
    return {{"--source", source}, {}, true};
}

// A table, its publication and slot, and a stream the test writes what the slot gives into.
struct ReplicaFixture {
    pg::Connection db = connect_test_db();
    std::string table = unique_name("rep");
    StreamFixture slot;
    NatsCluster nats;
    std::string stream = unique_name("REP");
    std::string source;
    std::unique_ptr<StreamWriter> writer;

    explicit ReplicaFixture(int nodes = 1) : nats(nodes) {
        db.exec("CREATE TABLE " + table + " (id int PRIMARY KEY, n int NOT NULL)");
        db.exec("INSERT INTO " + table + " SELECT g, 0 FROM generate_series(1, 200) g");
        slot = make_stream_fixture(db, {table});
        writer = std::make_unique<StreamWriter>(nats.url(), stream);
        writer->create_stream(nodes);
        source = nats.url() + "/" + stream;
    }
    ~ReplicaFixture() { drop_stream_fixture(db, slot); }
    std::string dir(const std::string& name) { return test_tmp_dir() + "/" + unique_name(name); }
    // Inserts, updates and deletes, then what the slot has now into the stream.
    void write_and_publish(int round) {
        const std::string r = std::to_string(round);
        db.exec("INSERT INTO " + table + " SELECT g, " + r + " FROM generate_series(" +
                std::to_string(1000 * round) + ", " + std::to_string(1000 * round + 49) + ") g");
        db.exec("UPDATE " + table + " SET n = n + 1 WHERE id % 7 = " + std::to_string(round % 7));
        db.exec("DELETE FROM " + table + " WHERE id % 11 = " + std::to_string(round % 11));
        publish();
    }
    void publish() {
        ProcessOptions options; // the slot decodes what other tests write meanwhile
        options.timeout_seconds = 240;
        ProcessResult streamed = stream_to_now(db, slot, {}, options);
        REQUIRE(streamed.exit_code == 0);
        writer->publish(streamed.out);
    }
};

} // namespace

TEST_CASE("a client moves from one replica to another with its offset and ends with the table's "
          "rows, nothing lost and nothing twice, the epoch the same on both",
          "[serve][integration][replica]") {
    ReplicaFixture f;
    f.write_and_publish(1);
    ServeProcess first("", f.slot.publication, f.dir("replica1"), replica_config(f.source));
    ServeProcess second("", f.slot.publication, f.dir("replica2"), replica_config(f.source));

    Client client;
    client.table = f.table;
    client.subscribe(first.port(), false);
    client.read_until(table_rows(f.db, f.table));
    f.write_and_publish(2);
    client.read_until(table_rows(f.db, f.table));
    const std::string first_epoch = client.epoch();

    // Gone while more changes are written; back on the other replica with its offset.
    client.connection.reset();
    f.write_and_publish(3);
    client.subscribe(second.port(), true);
    client.read_until(table_rows(f.db, f.table));
    CHECK(client.epoch() == first_epoch);
    f.write_and_publish(4);
    client.read_until(table_rows(f.db, f.table));

    // And back to the first.
    client.connection.reset();
    f.write_and_publish(5);
    client.subscribe(first.port(), true);
    client.read_until(table_rows(f.db, f.table));

    // A replica does not read a slot: the slot-lag chore stays quiet, the stream's lag is shown.
    CHECK(metric(first.port(), "pgsync_serve_replica_lag_messages") >= 0);
    CHECK(first.err().find("replication_slots") == std::string::npos);
    CHECK(first.stop() == 0);
    CHECK(second.stop() == 0);
}

TEST_CASE("a restarted replica resumes the stream after the sequence it made durable",
          "[serve][integration][replica]") {
    ReplicaFixture f;
    f.write_and_publish(1);
    const std::string dir = f.dir("replica");
    Client client;
    client.table = f.table;
    {
        ServeProcess replica("", f.slot.publication, dir, replica_config(f.source));
        client.subscribe(replica.port(), false);
        client.read_until(table_rows(f.db, f.table));
        client.connection.reset();
        CHECK(replica.stop() == 0);
    }
    const uint64_t before = f.writer->last_sequence();
    f.write_and_publish(2);
    ServeProcess replica("", f.slot.publication, dir, replica_config(f.source));
    client.subscribe(replica.port(), true);
    client.read_until(table_rows(f.db, f.table));
    INFO(replica.err());
    CHECK(replica.err().find("from sequence " + std::to_string(before + 1) + " ") !=
          std::string::npos);
}

TEST_CASE("an initial load on a replica while a writer runs switches to the stream without a gap",
          "[serve][integration][replica]") {
    ReplicaFixture f;
    ServeProcess replica("", f.slot.publication, f.dir("replica"), replica_config(f.source));
    // pgsync-stream runs live; its records go into the stream as they come.
    LiveProcess stream({tool_path("pgsync-stream"), "-d", test_dsn(), "-S", f.slot.slot, "-P",
                        f.slot.publication});
    std::atomic<bool> stop{false};
    std::thread publisher([&] {
        while (!stop)
            if (auto line = stream.read_line(0.2)) f.writer->publish_line(*line);
    });
    std::thread writer([&] {
        auto w = connect_test_db();
        std::mt19937 rng(7);
        while (!stop) {
            const std::string id = std::to_string(rng() % 400 + 1);
            switch (rng() % 3) {
            case 0:
                w.exec("INSERT INTO " + f.table + " VALUES (" + id + ", 0) ON CONFLICT DO NOTHING");
                break;
            case 1:
                w.exec("UPDATE " + f.table + " SET n = n + 1 WHERE id = " + id);
                break;
            default:
                w.exec("DELETE FROM " + f.table + " WHERE id = " + id);
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    Client client;
    client.table = f.table;
    client.subscribe(replica.port(), false);
    std::this_thread::sleep_for(std::chrono::seconds(2));
    stop = true;
    writer.join();
    // What the writer did last still reaches the stream while the client reads.
    stop = false;
    std::thread drain([&] {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (!stop && std::chrono::steady_clock::now() < deadline)
            if (auto line = stream.read_line(0.2)) f.writer->publish_line(*line);
    });
    client.read_until(table_rows(f.db, f.table));
    stop = true;
    drain.join();
    publisher.join();
}

TEST_CASE("a replica cut off from NATS keeps serving, is not ready, and catches up once NATS is "
          "back",
          "[serve][integration][replica]") {
    ReplicaFixture f;
    f.write_and_publish(1);
    ServeProcess replica("", f.slot.publication, f.dir("replica"), replica_config(f.source));
    Client client;
    client.table = f.table;
    client.subscribe(replica.port(), false);
    client.read_until(table_rows(f.db, f.table));
    CHECK(http_get("127.0.0.1", replica.port(), "/v1/health").status == 200);

    f.writer.reset();
    f.nats.kill("n1");
    int status = 0;
    for (int i = 0; i < 100 && status != 503; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        status = http_get("127.0.0.1", replica.port(), "/v1/health").status;
    }
    CHECK(status == 503);
    // Still serving what its log holds: a new client loads and is up to date.
    Client other;
    other.table = f.table;
    other.subscribe(replica.port(), false);
    other.read_until(table_rows(f.db, f.table));

    f.nats.restart("n1");
    f.writer = std::make_unique<StreamWriter>(f.nats.url(), f.stream);
    f.write_and_publish(2);
    client.read_until(table_rows(f.db, f.table));
    for (int i = 0; i < 100 && status != 200; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        status = http_get("127.0.0.1", replica.port(), "/v1/health").status;
    }
    CHECK(status == 200);
    const std::string err = replica.err();
    CHECK(err.find("lost the connection to NATS") != std::string::npos);
    CHECK(err.find("connected to NATS again") != std::string::npos);
}

TEST_CASE("pgsync-serve --source names a missing stream or unreachable NATS: a clear error, exit 1",
          "[serve][integration][replica]") {
    ReplicaFixture f;
    const std::string dir = f.dir("replica");
    auto run = [&](const std::string& source) {
        return run_process({tool_path("pgsync-serve"), "-d", test_dsn(), "-P", f.slot.publication,
                            "--source", source, "--insecure", "--listen", "127.0.0.1:0",
                            "--storage-dir", dir});
    };
    ProcessResult missing = run(f.nats.url() + "/NO_SUCH_STREAM");
    CHECK(missing.exit_code == 1);
    CHECK(missing.err.find("error: stream \"NO_SUCH_STREAM\" does not exist") != std::string::npos);
    CHECK(missing.err.find("hint:") != std::string::npos);
    ProcessResult unreachable = run("nats://127.0.0.1:1/" + f.stream);
    CHECK(unreachable.exit_code == 1);
    CHECK(unreachable.err.find("could not connect to NATS") != std::string::npos);
    ProcessResult both =
        run_process({tool_path("pgsync-serve"), "-d", test_dsn(), "-P", f.slot.publication, "-S",
                     f.slot.slot, "--source", f.source, "--insecure"});
    CHECK(both.exit_code == 2);
    CHECK(both.err.find("--source and --slot cannot be used together") != std::string::npos);
}

TEST_CASE("a replica catches up a backlog of tens of thousands of records while it answers "
          "clients",
          "[serve][integration][replica]") {
    ReplicaFixture f;
    f.db.exec("INSERT INTO " + f.table + " SELECT g, 1 FROM generate_series(10000, 29999) g");
    f.db.exec("UPDATE " + f.table + " SET n = n + 1 WHERE id >= 10000");
    f.publish();
    const uint64_t messages = f.writer->last_sequence();
    CHECK(messages > 40000);
    const auto started = std::chrono::steady_clock::now();
    ServeProcess replica("", f.slot.publication, f.dir("replica"), replica_config(f.source));
    // The event loops are not the ingest's: they answer while it reads the backlog.
    HttpResponse health = http_get("127.0.0.1", replica.port(), "/v1/health");
    CHECK(health.status == 200);
    // Every record reaches the log: a client resuming from its start gets each change once.
    Client client;
    client.table = f.table;
    client.subscribe(replica.port(), false);
    client.read_until(table_rows(f.db, f.table));
    Client resumed;
    resumed.table = f.table;
    resumed.offset = client.epoch() + ":0_0";
    resumed.subscribe(replica.port(), true);
    size_t changes = 0;
    const auto deadline = started + std::chrono::milliseconds(kTimeoutMs);
    while (changes < 40000 && std::chrono::steady_clock::now() < deadline)
        if (auto frame = resumed.connection->next(1000))
            changes += frame->value("type", "") == "change";
    const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started);
    WARN("read " << messages << " messages and served their changes in " << seconds.count()
                 << " s");
    while (auto frame = resumed.connection->next(1000))
        changes += frame->value("type", "") == "change";
    CHECK(changes == 40000);
}

TEST_CASE("replicas of an R3 stream on a 3-node NATS cluster go on when the stream's leader is "
          "killed",
          "[serve][integration][replica]") {
    ReplicaFixture f(3);
    f.write_and_publish(1);
    ServeProcess first("", f.slot.publication, f.dir("replica1"), replica_config(f.source));
    ServeProcess second("", f.slot.publication, f.dir("replica2"), replica_config(f.source));
    Client client;
    client.table = f.table;
    client.subscribe(first.port(), false);
    client.read_until(table_rows(f.db, f.table));

    const std::string leader = f.nats.leader(f.stream);
    REQUIRE(!leader.empty());
    f.nats.kill(leader);
    f.write_and_publish(2);
    client.read_until(table_rows(f.db, f.table));
    client.connection.reset();
    f.write_and_publish(3);
    client.subscribe(second.port(), true);
    client.read_until(table_rows(f.db, f.table));
    f.nats.restart(leader);
}

// (A shorter name than most: Catch2 2.13's console reporter crashes wrapping this one's longer
// form when the test reports anything.)
TEST_CASE("replicas fed by pgsync-stream | pgsync-publish with channels serve a moving client the "
          "table's rows",
          "[serve][integration][replica]") {
    auto db = connect_test_db();
    const std::string table = unique_name("pipe");
    db.exec("CREATE TABLE " + table + " (id int PRIMARY KEY, n int NOT NULL)");
    db.exec("INSERT INTO " + table + " SELECT g, 0 FROM generate_series(1, 100) g");
    StreamFixture slot = make_stream_fixture(db, {table});
    NatsCluster nats(1);
    const std::string stream = unique_name("PIPE");
    const std::string dir = test_tmp_dir() + "/" + unique_name("pipeline");
    std::filesystem::create_directories(dir);
    const std::string config = dir + "/pgsync.yaml", acks = dir + "/acks", data = dir + "/data";
    {
        // Two channels cover every insert: each is published twice, the replicas take one.
        std::ofstream out(config);
        out << "source:\n  dsn: \"" << test_dsn() << "\"\n  slot: " << slot.slot
            << "\n  publication: " << slot.publication << "\ntables:\n  - name: public." << table
            << "\n    channels:\n      - name: added\n        operations: [insert]\n"
            << "      - name: changed\n        operations: [insert, update, delete]\n";
    }
    run_process({"mkfifo", acks});
    run_process({"mkfifo", data});
    LiveProcess publisher(
        {"/bin/sh", "-c",
         "exec " + shell_quote(tool_path("pgsync-publish")) + " --config " + shell_quote(config) +
             " --nats " + shell_quote(nats.url()) + " --stream " + stream +
             " --create-stream --ack-file " + shell_quote(acks) + " < " + shell_quote(data)});
    LiveProcess streamer({tool_path("pgsync-stream"), "-d", test_dsn(), "-S", slot.slot, "-P",
                          slot.publication, "--ack-file", acks, "-s", "0.2", "-o", data});
    const std::string source = nats.url() + "/" + stream;
    // The stream exists once pgsync-publish made it.
    for (int i = 0; i < 100; ++i) {
        ProcessResult probe = run_process({tool_path("pgsync-serve"), "-d", test_dsn(), "-P",
                                           slot.publication, "--source", source, "--insecure",
                                           "--listen", "127.0.0.1:0", "--storage-dir",
                                           dir + "/probe", "--ready-file", dir + "/probe.ready"},
                                          {"", true, {}, 0.5});
        if (probe.err.find("does not exist") == std::string::npos) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ServeProcess first("", slot.publication, dir + "/replica1", replica_config(source));
    ServeProcess second("", slot.publication, dir + "/replica2", replica_config(source));

    auto write = [&](int round) {
        db.exec("INSERT INTO " + table + " SELECT g, " + std::to_string(round) +
                " FROM generate_series(" + std::to_string(1000 * round) + ", " +
                std::to_string(1000 * round + 29) + ") g");
        db.exec("UPDATE " + table + " SET n = n + 1 WHERE id % 5 = " + std::to_string(round % 5));
        db.exec("DELETE FROM " + table + " WHERE id % 13 = " + std::to_string(round % 13));
    };
    Client client;
    client.table = table;
    write(1);
    client.subscribe(first.port(), false);
    client.read_until(table_rows(db, table));
    write(2);
    client.read_until(table_rows(db, table));
    client.connection.reset();
    write(3);
    client.subscribe(second.port(), true);
    client.read_until(table_rows(db, table));
    write(4);
    client.read_until(table_rows(db, table));
    CHECK(first.stop() == 0);
    CHECK(second.stop() == 0);
    streamer.signal(SIGTERM);
    CHECK(streamer.wait(20) == 0);
    publisher.wait(20);
    drop_stream_fixture(db, slot);
}
