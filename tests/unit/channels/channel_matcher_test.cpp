// ChannelMatcher on native records: the op must be listed, inserts and updates match on the new
// row, deletes on the old one (a key-only old row cannot match a where on other columns),
// truncates by the tables they name; wheres bound to the columns relation records teach it.
#include "channels/channel_matcher.h"
#include "config/load.h"
#include "record/record_scan.h"
#include "util/error.h"

#include <catch2/catch.hpp>

using namespace pgsync;
using namespace pgsync::channels;

namespace {

const char* kRelation =
    R"({"op":"relation","xid":7,"commit_lsn":"0/20","schema":"public","table":"messages",)"
    R"("replica_identity":"default","columns":[{"name":"id","type":"int8","type_oid":20,"key":true},)"
    R"({"name":"group_name","type":"text","type_oid":25,"key":false},)"
    R"({"name":"likes","type":"int4","type_oid":23,"key":false}]})";

std::string row(const std::string& op, const std::string& table, const std::string& images) {
    return R"({"op":")" + op + R"(","xid":7,"commit_lsn":"0/20","lsn":"0/18","seq":1,)" +
           R"("schema":"public","table":")" + table + R"(",)" + images + "}";
}

record::ScannedRecord scan(const std::string& line) {
    record::ScannedRecord out;
    REQUIRE(record::scan_record(line, out));
    return out;
}

std::vector<size_t> match(ChannelMatcher& matcher, const std::string& line) {
    std::vector<size_t> out;
    matcher.match(scan(line), out);
    return out;
}

Channel channel(std::string name, uint8_t ops, std::string where = {},
                std::string table = "messages") {
    return Channel{std::move(name), {"public", std::move(table)}, ops, std::move(where)};
}

const std::string kParty = R"("new":{"id":1,"group_name":"party","likes":3})";

} // namespace

TEST_CASE("a channel of inserts matches inserts of its table only", "[channel]") {
    ChannelMatcher matcher({channel("chat-added", kInsert)});
    const std::string relation = kRelation;
    matcher.learn(scan(relation));
    CHECK(match(matcher, row("insert", "messages", kParty)) == std::vector<size_t>{0});
    CHECK(match(matcher, row("update", "messages", kParty)).empty());
    CHECK(match(matcher, row("delete", "messages", R"("old":{"id":1},"identity":"key")")).empty());
    CHECK(match(matcher, row("insert", "groups", R"("new":{"id":1})")).empty());
    CHECK(match(matcher, relation).empty());
}

TEST_CASE("a channel's where decides on the new row of inserts and updates", "[channel]") {
    ChannelMatcher matcher({channel("party", kInsert | kUpdate, "group_name = 'party'"),
                            channel("popular", kInsert, "likes >= 10"), channel("all", 15)});
    matcher.learn(scan(kRelation));
    CHECK(match(matcher, row("insert", "messages", kParty)) == std::vector<size_t>{0, 2});
    CHECK(match(matcher, row("insert", "messages",
                             R"("new":{"id":2,"group_name":"work","likes":12})")) ==
          std::vector<size_t>{1, 2});
    // An update that leaves the where is not the channel's (an event feed, not a shape).
    CHECK(match(matcher, row("update", "messages",
                             R"("new":{"id":1,"group_name":"work","likes":3},)"
                             R"("old":{"id":1,"group_name":"party","likes":3},"identity":"full")")) ==
          std::vector<size_t>{2});
}

TEST_CASE("a delete matches on its old row, and a key-only old row cannot match other columns",
          "[channel]") {
    ChannelMatcher matcher({channel("party-gone", kDelete, "group_name = 'party'"),
                            channel("id-gone", kDelete, "id = 1")});
    matcher.learn(scan(kRelation));
    CHECK(match(matcher, row("delete", "messages",
                             R"("old":{"id":1,"group_name":"party","likes":3},"identity":"full")")) ==
          std::vector<size_t>{0, 1});
    CHECK(match(matcher, row("delete", "messages", R"("old":{"id":1},"identity":"key")")) ==
          std::vector<size_t>{1});
}

TEST_CASE("an update's unchanged TOASTed value is taken from its full old row", "[channel]") {
    ChannelMatcher matcher({channel("party", kUpdate, "group_name = 'party'")});
    matcher.learn(scan(kRelation));
    CHECK(match(matcher, row("update", "messages",
                             R"("new":{"id":1,"likes":4},"unchanged_toast":["group_name"],)"
                             R"("old":{"id":1,"group_name":"party","likes":3},"identity":"full")")) ==
          std::vector<size_t>{0});
    CHECK(match(matcher, row("update", "messages",
                             R"("new":{"id":1,"likes":4},"unchanged_toast":["group_name"])"))
              .empty());
}

TEST_CASE("a truncate matches the channels of the tables it names that list truncate",
          "[channel]") {
    ChannelMatcher matcher({channel("added", kInsert), channel("cleared", kTruncate),
                            channel("groups", kTruncate, {}, "groups")});
    const std::string truncate =
        R"({"op":"truncate","xid":7,"commit_lsn":"0/20","lsn":"0/18","seq":1,"relations":[)"
        R"({"schema":"public","table":"messages"},{"schema":"public","table":"groups"}],)"
        R"("cascade":false,"restart_identity":false})";
    CHECK(match(matcher, truncate) == std::vector<size_t>{1, 2});
}

TEST_CASE("a where on an unknown column, or a row before the relation record, is an error",
          "[channel]") {
    ChannelMatcher bad({channel("c", kInsert, "sender = 'x'")});
    CHECK_THROWS_WITH(bad.learn(scan(kRelation)),
                      Catch::Contains("channel \"c\"") && Catch::Contains("sender"));
    ChannelMatcher early({channel("c", kInsert, "likes > 1")});
    CHECK_THROWS_WITH(match(early, row("insert", "messages", kParty)),
                      Catch::Contains("before its relation record"));
    // Without a where, the columns are not needed.
    ChannelMatcher plain({channel("c", kInsert)});
    CHECK(match(plain, row("insert", "messages", kParty)) == std::vector<size_t>{0});
}

TEST_CASE("channels come from the config with their table, operations and where", "[channel]") {
    auto loaded = config::load_text("tables:\n  - name: app.messages\n    channels:\n"
                                    "      - name: chat-added\n        operations: [insert]\n"
                                    "        where: likes > 1\n      - name: chat-all\n",
                                    "t.yaml");
    REQUIRE(config::format_text(loaded.diagnostics) == "");
    std::vector<Channel> channels = from_config(loaded.config);
    REQUIRE(channels.size() == 2);
    CHECK(channels[0].name == "chat-added");
    CHECK(channels[0].table == config::TableName{"app", "messages"});
    CHECK(channels[0].ops == kInsert);
    CHECK(channels[0].where == "likes > 1");
    CHECK(channels[1].ops == (kInsert | kUpdate | kDelete | kTruncate));
    CHECK(find_channel(channels, "chat-all") == &channels[1]);
    CHECK(find_channel(channels, "nope") == nullptr);
    CHECK(channel_names(channels) == "\"chat-added\", \"chat-all\"");
}
