// Client frames: what parses into a request, and the error code and message for what does not;
// the subscription filter: live_queries allow-list and the token's filter ANDed as a tree (F5).
#include "filter/evaluator.h"
#include "serve/access/subscription_filter.h"
#include "serve/protocol/client_frame.h"

#include <catch2/catch.hpp>

using namespace pgsync;
using namespace pgsync::serve;

namespace {
FrameError error_of(std::string_view text, bool raw = false) {
    auto frame = parse_client_frame(text, raw);
    REQUIRE(std::holds_alternative<FrameError>(frame));
    return std::get<FrameError>(frame);
}

TableSchema messages() {
    TableSchema t;
    t.schema = "public";
    t.name = "messages";
    t.columns = {{"id", 23, true}, {"grp", 25, false}, {"n", 23, false}};
    return t;
}
} // namespace

TEST_CASE("client frames: a full subscribe parses", "[serve][client_frame]") {
    auto frame = parse_client_frame(
        R"({"type":"subscribe","id":"s1","table":"Public.\"Messages\"","where":"grp = $1","params":["a",2,true,null],"columns":["id"],"offset":"E:1_2"})",
        false);
    REQUIRE(std::holds_alternative<SubscribeRequest>(frame));
    auto& s = std::get<SubscribeRequest>(frame);
    CHECK(s.id == "s1");
    CHECK(s.table.schema == "public");
    CHECK(s.table.name == "Messages");
    REQUIRE(s.where);
    CHECK(s.params == std::vector<std::optional<std::string>>{"a", "2", "true", std::nullopt});
    CHECK(s.columns == std::vector<std::string>{"id"});
    CHECK(s.offset == "E:1_2");
}

TEST_CASE("client frames: every malformed frame gets a code and a message",
          "[serve][client_frame]") {
    CHECK(error_of("nope").code == "bad-frame");
    CHECK(error_of("[1,2]").message == "a frame must be a JSON object");
    CHECK(error_of(R"({"id":"x"})").message == "a frame needs \"type\": a string");
    CHECK(error_of(R"({"type":"dance"})").message ==
          "unknown frame type \"dance\" (subscribe, ack, unsubscribe or auth)");
    CHECK(error_of(R"({"type":"subscribe","table":"t"})").code == "bad-frame");
    CHECK(error_of(R"({"type":"subscribe","id":")" + std::string(65, 'x') + R"(","table":"t"})")
              .code == "bad-frame");
    auto bad_table = error_of(R"({"type":"subscribe","id":"a","table":"t; DROP TABLE x"})");
    CHECK(bad_table.code == "unknown-table");
    CHECK(bad_table.id == "a");
    auto bad_where =
        error_of(R"({"type":"subscribe","id":"a","table":"t","where":"1=1) OR (1=1"})");
    CHECK(bad_where.code == "bad-filter");
    CHECK(error_of(R"({"type":"subscribe","id":"a","table":"t","params":[{"x":1}]})").code ==
          "bad-frame");
    CHECK(error_of(R"({"type":"subscribe","id":"a","table":"t","offset":5})").code == "bad-offset");
    CHECK(error_of(R"({"type":"ack","id":"a"})").message == "ack needs \"offset\": a string");
    CHECK(error_of(R"({"type":"subscribe","id":"a","table":"t"})", true).message ==
          "unknown frame type \"subscribe\" on /v1/stream (only \"ack\")");
    auto ack = parse_client_frame(R"({"type":"ack","offset":"E:1_1"})", true);
    REQUIRE(std::holds_alternative<AckRequest>(ack));
}

TEST_CASE("subscription filter: the token's filter is ANDed as a tree and cannot be escaped",
          "[serve][client_frame]") {
    TableSchema table = messages();
    TableGrant grant{"public", "messages", "grp = $1", {"mine"}};
    const char* text =
        R"({"type":"subscribe","id":"a","table":"messages","where":"n > $1 OR true","params":[5]})";
    // With a key-only old image, a grant on grp could not keep deletes within it: refused.
    auto keyed = parse_client_frame(text, false);
    FilterResult refused =
        subscription_filter(std::get<SubscribeRequest>(keyed), table, &grant, nullptr);
    CHECK(refused.error_code == "forbidden");
    CHECK(refused.error_message.find("REPLICA IDENTITY FULL") != std::string::npos);
    table.replica_identity = 'f';
    auto frame = parse_client_frame(text, false);
    auto& request = std::get<SubscribeRequest>(frame);
    FilterResult result = subscription_filter(request, table, &grant, nullptr);
    REQUIRE(result.ok());
    REQUIRE(result.filter);
    using K = filter::Cell::Kind;
    std::vector<filter::Cell> theirs = {{K::Json, "1"}, {K::Json, "\"other\""}, {K::Json, "9"}};
    std::vector<filter::Cell> ours = {{K::Json, "1"}, {K::Json, "\"mine\""}, {K::Json, "1"}};
    CHECK(filter::evaluate(*result.filter, theirs) == filter::Match::No);
    CHECK(filter::evaluate(*result.filter, ours) == filter::Match::Yes);
}

TEST_CASE("subscription filter: live_queries accept only their conditions, in any order",
          "[serve][client_frame]") {
    TableSchema table = messages();
    config::Table configured;
    config::LiveQuery query;
    query.conditions.push_back(
        {config::Value<std::string>("grp"), config::Value<std::string>("=")});
    query.conditions.push_back({config::Value<std::string>("n"), config::Value<std::string>(">")});
    configured.live_queries.push_back(query);
    auto check = [&](const std::string& where) {
        auto frame =
            parse_client_frame(R"({"type":"subscribe","id":"a","table":"messages","where":")" +
                                   where + R"(","params":["x",1]})",
                               false);
        auto& request = std::get<SubscribeRequest>(frame);
        return subscription_filter(request, table, nullptr, &configured);
    };
    CHECK(check("grp = $1 AND n > $2").ok());
    CHECK(check("n > $2 AND grp = $1").ok());
    CHECK(check("grp = $1").error_code == "not-allowed");
    CHECK(check("grp = $1 AND n >= $2").error_code == "not-allowed");
    CHECK(check("grp = $1 OR n > $2").error_code == "not-allowed");
}
