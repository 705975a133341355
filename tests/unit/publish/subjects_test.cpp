// Subjects: which stream filters cover which subjects, how names become NATS tokens, and the
// Router's choice of subjects (channels in file order, else the table subject; control records to
// _txn).
#include "config/load.h"
#include "publish/subjects.h"
#include "record/record_scan.h"
#include "util/error.h"

#include <catch2/catch.hpp>

using namespace pgsync;
using namespace pgsync::publish;

namespace {

record::ScannedRecord scan(const std::string& line) {
    record::ScannedRecord out;
    REQUIRE(record::scan_record(line, out));
    return out;
}

const std::string kRelation =
    R"({"op":"relation","xid":7,"commit_lsn":"0/20","schema":"public","table":"messages",)"
    R"("replica_identity":"default","columns":[{"name":"id","type":"int8","type_oid":20,"key":true},)"
    R"({"name":"room","type":"text","type_oid":25,"key":false}]})";

std::string row(const std::string& op, const std::string& images,
                const std::string& table = "messages", const std::string& schema = "public") {
    return R"({"op":")" + op + R"(","xid":7,"commit_lsn":"0/20","lsn":"0/18","seq":1,"schema":")" +
           schema + R"(","table":")" + table + R"(",)" + images + "}";
}

// The subjects (and table) the router gives a line.
std::vector<std::string> route(Router& router, const std::string& line,
                               std::string* table = nullptr) {
    std::vector<std::string> subjects;
    std::string scratch;
    router.route(scan(line), subjects, table ? *table : scratch);
    return subjects;
}

config::Config load(const std::string& text) {
    auto loaded = config::load_text(text, "t.yaml");
    REQUIRE(config::format_text(loaded.diagnostics) == "");
    return loaded.config;
}

} // namespace

TEST_CASE("subject_covers: literal tokens, a star for one token, > for one or more at the end",
          "[publish]") {
    CHECK(subject_covers("pgsync.>", "pgsync.>"));
    CHECK(subject_covers(">", "pgsync.>"));
    CHECK(subject_covers("pgsync.>", "pgsync.a.b"));
    CHECK(subject_covers("pgsync.*", "pgsync.a"));
    CHECK(subject_covers("pgsync.a", "pgsync.a"));
    CHECK(subject_covers("*.>", "pgsync.>"));
    // A * covers one token, never the "one or more" a > names.
    CHECK_FALSE(subject_covers("pgsync.*", "pgsync.>"));
    CHECK_FALSE(subject_covers("pgsync.*", "pgsync.a.b"));
    // > needs at least one token after the prefix.
    CHECK_FALSE(subject_covers("pgsync.>", "pgsync"));
    CHECK_FALSE(subject_covers("pgsync.a", "pgsync.b"));
    CHECK_FALSE(subject_covers("pgsync.a", "pgsync.a.b"));
    CHECK_FALSE(subject_covers("pgsync.a.b", "pgsync.a"));
    CHECK_FALSE(subject_covers("other.>", "pgsync.>"));
    CHECK_FALSE(subject_covers("pgsync.>", "pgsyncx.a"));
}

TEST_CASE("encode_token percent-encodes what NATS forbids in a token, and percent itself",
          "[publish]") {
    CHECK(encode_token("messages") == "messages");
    CHECK(encode_token("chat-added_2") == "chat-added_2");
    CHECK(encode_token("a.b") == "a%2Eb");
    CHECK(encode_token("a*") == "a%2A");
    CHECK(encode_token(">") == "%3E");
    CHECK(encode_token("my table") == "my%20table");
    CHECK(encode_token("tab\there") == "tab%09here");
    CHECK(encode_token("line\nbreak") == "line%0Abreak");
    CHECK(encode_token("100%") == "100%25");
    CHECK(encode_token("\x7f") == "%7F");
    // Bytes of UTF-8 names pass unchanged: NATS allows them.
    CHECK(encode_token("caf\xc3\xa9") == "caf\xc3\xa9");
    // Decoding is unambiguous: "%2E" as a name is not "." as a name.
    CHECK(encode_token("%2E") != encode_token("."));
}

TEST_CASE("without channels, rows and truncates go to their table subject and the rest to _txn",
          "[publish]") {
    Router router(SubjectLayout{}, nullptr);
    std::string table;
    CHECK(route(router, kRelation, &table) == std::vector<std::string>{"pgsync._txn"});
    CHECK(table.empty());
    CHECK(route(router, row("insert", R"("new":{"id":1,"room":"a"})"), &table) ==
          std::vector<std::string>{"pgsync.public.messages.insert"});
    CHECK(table == "public.messages");
    CHECK(route(router, row("delete", R"("old":{"id":1},"identity":"key")")) ==
          std::vector<std::string>{"pgsync.public.messages.delete"});
    CHECK(route(router, R"({"op":"begin","xid":7,"commit_lsn":"0/20","commit_time":"x"})") ==
          std::vector<std::string>{"pgsync._txn"});
    CHECK(route(router, R"({"op":"message","lsn":"0/30","transactional":false,"prefix":"p",)"
                        R"("content":""})") == std::vector<std::string>{"pgsync._txn"});
    // A truncate of several tables: the first table's subject.
    CHECK(route(router,
                R"({"op":"truncate","xid":7,"commit_lsn":"0/20","lsn":"0/18","seq":1,"relations":[)"
                R"({"schema":"app","table":"groups"},{"schema":"public","table":"messages"}],)"
                R"("cascade":false,"restart_identity":false})",
                &table) == std::vector<std::string>{"pgsync.app.groups.truncate"});
    CHECK(table == "app.groups");
    // Names NATS forbids in a token are encoded; escaped JSON names are unescaped first.
    CHECK(route(router, row("insert", R"("new":{})", "my.t\u002a", "s p")) ==
          std::vector<std::string>{"pgsync.s%20p.my%2Et%2A.insert"});
}

TEST_CASE("the subject templates and prefix of the publish section shape every subject",
          "[publish]") {
    SubjectLayout layout;
    layout.prefix = "app.cdc";
    layout.table_subject = "{prefix}.rows.{table}.{op}.{schema}";
    Router router(layout, nullptr);
    CHECK(route(router, row("update", R"("new":{"id":1})")) ==
          std::vector<std::string>{"app.cdc.rows.messages.update.public"});
    CHECK(route(router, kRelation) == std::vector<std::string>{"app.cdc._txn"});
    CHECK(layout.stream_subject() == "app.cdc.>");
}

TEST_CASE("a change goes to every channel it belongs to, in file order, else to its table subject",
          "[publish]") {
    const config::Config config = load("tables:\n  - name: messages\n    channels:\n"
                                       "      - name: room.a\n"
                                       "        operations: [insert]\n"
                                       "        where: room = 'a'\n"
                                       "      - name: chat-log\n"
                                       "        operations: [insert, delete]\n");
    Router router(SubjectLayout{}, &config);
    route(router, kRelation); // teaches the where its columns
    CHECK(route(router, row("insert", R"("new":{"id":1,"room":"a"})")) ==
          std::vector<std::string>{"pgsync.room%2Ea", "pgsync.chat-log"});
    CHECK(route(router, row("insert", R"("new":{"id":2,"room":"b"})")) ==
          std::vector<std::string>{"pgsync.chat-log"});
    CHECK(route(router, row("update", R"("new":{"id":1,"room":"a"})")) ==
          std::vector<std::string>{"pgsync.public.messages.update"});
    CHECK(route(router, row("delete", R"("old":{"id":2},"identity":"key")")) ==
          std::vector<std::string>{"pgsync.chat-log"});
    // Other tables are untouched by the channels.
    CHECK(route(router, row("insert", R"("new":{"id":1})", "groups")) ==
          std::vector<std::string>{"pgsync.public.groups.insert"});
}

TEST_CASE("a channel's where on a domain column is a usage error whose hint names the domain",
          "[publish]") {
    const config::Config config = load("tables:\n  - name: messages\n    channels:\n"
                                       "      - name: room-a\n"
                                       "        where: room = 'a'\n");
    Router router(SubjectLayout{}, &config);
    const std::string relation =
        R"({"op":"relation","xid":7,"commit_lsn":"0/20","schema":"public","table":"messages",)"
        R"("replica_identity":"default","columns":[{"name":"id","type":"int8","type_oid":20,)"
        R"("key":true},{"name":"room","type":"room_name","type_oid":16500,"key":false}]})";
    try {
        route(router, relation);
        FAIL("no error");
    } catch (const Error& error) {
        CHECK(error.exit_code() == kExitUsage);
        CHECK_THAT(error.what(), Catch::Contains("channel \"room-a\""));
        CHECK_THAT(error.hint(), Catch::Contains("domain"));
    }
    // A where on an unknown column is the matcher's error as it is, without that hint.
    const config::Config unknown = load("tables:\n  - name: messages\n    channels:\n"
                                        "      - name: c\n"
                                        "        where: sender = 'x'\n");
    Router other(SubjectLayout{}, &unknown);
    try {
        route(other, kRelation);
        FAIL("no error");
    } catch (const Error& error) {
        CHECK_THAT(error.what(), Catch::Contains("sender"));
        CHECK_THAT(error.hint(), !Catch::Contains("domain"));
    }
}
