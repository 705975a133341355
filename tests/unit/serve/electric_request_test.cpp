// ShapeRequest: the /v1/shape query string decodes as the Electric client encodes it, each
// parameter follows Electric's rules with Electric's field names and messages, the POST subset
// body is checked member by member, and the size limits hold.
#include "serve/electric/shape_request.h"

#include <catch2/catch.hpp>
#include <random>
#include <string>
#include <vector>

using namespace pgsync;
using namespace pgsync::serve;
using namespace pgsync::serve::electric;

namespace {

using Start = ShapeRequest::Start;

ShapeRequest parse_ok(std::string_view query, bool for_delete = false) {
    ShapeRequest request;
    RequestError error;
    bool ok = parse_shape_request(parse_query_string(query), for_delete, request, error);
    INFO(query);
    INFO(error.field << ": " << error.message);
    REQUIRE(ok);
    return request;
}

RequestError parse_error(std::string_view query, bool for_delete = false) {
    ShapeRequest request;
    RequestError error;
    bool ok = parse_shape_request(parse_query_string(query), for_delete, request, error);
    INFO(query);
    REQUIRE_FALSE(ok);
    return error;
}

void check_error(std::string_view query, const std::string& field, const std::string& message,
                 bool for_delete = false) {
    INFO(query);
    RequestError error = parse_error(query, for_delete);
    CHECK(error.field == field);
    CHECK(error.message == message);
}

Subset body_ok(std::string_view body) {
    Subset subset;
    RequestError error;
    bool ok = parse_subset_body(body, subset, error);
    INFO(body);
    INFO(error.field << ": " << error.message);
    REQUIRE(ok);
    return subset;
}

RequestError body_error(std::string_view body) {
    Subset subset;
    RequestError error;
    INFO(body);
    REQUIRE_FALSE(parse_subset_body(body, subset, error));
    return error;
}

std::string table_error(std::string_view text) {
    TableRef table;
    std::string error;
    INFO(text);
    REQUIRE_FALSE(parse_table_name(text, table, error));
    return error;
}

std::string columns_error(std::string_view text) {
    std::vector<std::string> columns;
    std::string error;
    INFO(text);
    REQUIRE_FALSE(parse_columns(text, columns, error));
    return error;
}

using Params = std::vector<std::optional<std::string>>;

} // namespace

TEST_CASE("electric offsets: text round-trips and 0_inf is the snapshot end", "[electric]") {
    CHECK(offset_text(LogOffset{Lsn(23886648), 4}) == "23886648_4");
    CHECK(offset_text(LogOffset{}) == "0_0");
    CHECK(offset_text(kSnapshotEnd) == "0_inf");
    CHECK(parse_offset("0_inf") == kSnapshotEnd);
    CHECK(parse_offset("23886648_4") == LogOffset{Lsn(23886648), 4});
    CHECK(parse_offset("0_0") == LogOffset{});
    LogOffset largest{Lsn(UINT64_MAX), UINT64_MAX};
    CHECK(parse_offset(offset_text(largest)) == largest);
    // Snapshot chunks order before the snapshot end, and the end before any real change.
    CHECK(LogOffset{Lsn(0), 5} < kSnapshotEnd);
    CHECK(kSnapshotEnd < LogOffset{Lsn(1), 0});
}

TEST_CASE("electric offsets: parse_offset refuses -1, now and anything not offset_text",
          "[electric]") {
    for (const char* bad : {"-1", "now", "", "inf", "_inf", "1_inf", "0_INF", "0_inff", "0_in",
                            "0_18446744073709551615", "1_", "_1", "1", "1_2_3", " 1_2", "1_-2"}) {
        INFO(bad);
        CHECK_FALSE(parse_offset(bad));
    }
}

TEST_CASE("electric query string: split on ampersand, then on the first equals sign",
          "[electric]") {
    auto params = parse_query_string("a=1&b=x=y&c=&d&=e&&f=2&");
    REQUIRE(params.size() == 6);
    CHECK((params[0].name == "a" && params[0].value == "1"));
    CHECK((params[1].name == "b" && params[1].value == "x=y"));
    CHECK((params[2].name == "c" && params[2].value.empty()));
    CHECK((params[3].name == "d" && params[3].value.empty()));
    CHECK((params[4].name.empty() && params[4].value == "e"));
    CHECK((params[5].name == "f" && params[5].value == "2"));
    CHECK(parse_query_string("").empty());
    CHECK(parse_query_string("&&").empty());
}

TEST_CASE("electric query string: percent escapes and plus signs decode in names and values",
          "[electric]") {
    auto params = parse_query_string(
        "params%5B1%5D=a+b&where=a%3D%241+and+b%3D%242&x%2By=%2B%2b&up=%C3%A9%c3%a9&nul=a%00b");
    REQUIRE(params.size() == 5);
    CHECK(params[0].name == "params[1]");
    CHECK(params[0].value == "a b");
    CHECK(params[1].value == "a=$1 and b=$2");
    CHECK(params[2].name == "x+y");
    CHECK(params[2].value == "++");
    CHECK(params[3].value == "\xC3\xA9\xC3\xA9");
    CHECK(params[4].value == std::string("a\0b", 3));
}

TEST_CASE("electric query string: malformed percent escapes are kept as they are", "[electric]") {
    auto params = parse_query_string("a=%&b=%4&c=%zz&d=100%&e=%4g%41&f%=1");
    REQUIRE(params.size() == 6);
    CHECK(params[0].value == "%");
    CHECK(params[1].value == "%4");
    CHECK(params[2].value == "%zz");
    CHECK(params[3].value == "100%");
    CHECK(params[4].value == "%4gA");
    CHECK(params[5].name == "f%");
}

TEST_CASE("electric table names: unquoted parts fold to lower case, quoted parts keep theirs",
          "[electric]") {
    struct Case {
        const char* text;
        const char* schema;
        const char* name;
    };
    for (const Case& c : std::vector<Case>{
             {"items", "public", "items"},
             {"Items", "public", "items"},
             {"Sales.Items", "sales", "items"},
             {"_a$1", "public", "_a$1"},
             {"\"Items\"", "public", "Items"},
             {"\"My Schema\".\"Items\"", "My Schema", "Items"},
             {"electric_test.\"issues for 123_0_abc\"", "electric_test", "issues for 123_0_abc"},
             {"\"a.b\"", "public", "a.b"},
             {"\"say \"\"hi\"\"\"", "public", "say \"hi\""},
             {"\"\"\"\"", "public", "\""},
             {"s.\"X\"", "s", "X"},
             {"\"\xC3\xA9t\xC3\xA9\"", "public", "\xC3\xA9t\xC3\xA9"},
         }) {
        INFO(c.text);
        TableRef table;
        std::string error;
        REQUIRE(parse_table_name(c.text, table, error));
        CHECK(table.schema == c.schema);
        CHECK(table.name == c.name);
    }
}

TEST_CASE("electric table names: malformed names are refused with the reason", "[electric]") {
    CHECK(table_error("") == "invalid table name \"\": a name is empty");
    CHECK(table_error("a..b") == "invalid table name \"a..b\": a name is empty");
    CHECK(table_error(".a") == "invalid table name \".a\": a name is empty");
    CHECK(table_error("a.") == "invalid table name \"a.\": a name is empty");
    CHECK(table_error("a.b.c") == "invalid table name \"a.b.c\": more than one \".\" outside "
                                  "quotes (the form is name or schema.name)");
    CHECK(table_error("\"abc") == "invalid table name \"\"abc\": unterminated quoted identifier");
    CHECK(table_error("\"a\"\"") ==
          "invalid table name \"\"a\"\"\": unterminated quoted identifier");
    CHECK(table_error("\"\"") == "invalid table name \"\"\"\": zero-length delimited identifier");
    CHECK(table_error("1abc") ==
          "invalid table name \"1abc\": an unquoted name cannot start with \"1\"");
    CHECK(table_error("$a").find("cannot start with \"$\"") != std::string::npos);
    CHECK(table_error("my-table") ==
          "invalid table name \"my-table\": unexpected \"-\" in an unquoted name (it holds "
          "letters, digits, \"_\" and \"$\"; quote other names)");
    CHECK(table_error("\"a\"b") ==
          "invalid table name \"\"a\"b\": unexpected \"b\" after a quoted name");
    CHECK(table_error("a b").find("unexpected \" \"") != std::string::npos);
    CHECK(table_error("a\tb").find("unexpected byte 0x09") != std::string::npos);
    CHECK(table_error(std::string("\"a\0b\"", 5)).find("cannot hold byte 0x00") !=
          std::string::npos);
    // PostgreSQL also takes other letters unquoted and folds them by locale; here unquoted names
    // are ASCII, so their folding never depends on a locale (quote the others).
    CHECK(table_error("\xC3\xA9t\xC3\xA9").find("cannot start with byte 0xc3") !=
          std::string::npos);
}

TEST_CASE("electric table names: each part holds at most 63 bytes", "[electric]") {
    TableRef table;
    std::string error;
    std::string name63(63, 'a');
    REQUIRE(parse_table_name(name63 + "." + name63, table, error));
    CHECK(table.schema == name63);
    CHECK(table.name == name63);
    REQUIRE(parse_table_name("\"" + std::string(63, 'B') + "\"", table, error));
    CHECK(table.name == std::string(63, 'B'));
    CHECK(table_error(std::string(64, 'a')).find("is longer than 63 bytes") != std::string::npos);
    CHECK(table_error("\"" + std::string(64, 'B') + "\"").find("is longer than 63 bytes") !=
          std::string::npos);
    // A quoted "" counts as the one byte it stands for.
    std::string quotes62 = "\"" + std::string(62, 'x') + "\"\"\"";
    REQUIRE(parse_table_name(quotes62, table, error));
    CHECK(table.name.size() == 63);
}

TEST_CASE("electric table names: a refused name leaves the output as it was", "[electric]") {
    TableRef table{"keep", "me"};
    std::string error;
    REQUIRE_FALSE(parse_table_name("a.b.c", table, error));
    CHECK(table.schema == "keep");
    CHECK(table.name == "me");
}

TEST_CASE("electric columns: quoted names split only on commas outside quotes", "[electric]") {
    std::vector<std::string> columns;
    std::string error;
    REQUIRE(parse_columns("\"id\",\"has,comma\",\"has\"\"quote\"", columns, error));
    CHECK(columns == std::vector<std::string>{"id", "has,comma", "has\"quote"});
    REQUIRE(parse_columns("\"Title\"", columns, error));
    CHECK(columns == std::vector<std::string>{"Title"});
}

TEST_CASE("electric columns: unquoted names are lower-cased and spaces around names trimmed",
          "[electric]") {
    std::vector<std::string> columns;
    std::string error;
    REQUIRE(parse_columns("id, Title", columns, error));
    CHECK(columns == std::vector<std::string>{"id", "title"});
    REQUIRE(parse_columns("  id ,\t\"A b\" , c$1  ", columns, error));
    CHECK(columns == std::vector<std::string>{"id", "A b", "c$1"});
    // Different case in quotes is a different column.
    REQUIRE(parse_columns("\"Id\",id", columns, error));
    CHECK(columns == std::vector<std::string>{"Id", "id"});
}

TEST_CASE("electric columns: empty lists, empty names, bad names and duplicates are refused",
          "[electric]") {
    CHECK(columns_error("") == "invalid column list \"\": it names no column");
    CHECK(columns_error("   ") == "invalid column list \"   \": it names no column");
    CHECK(columns_error("a,,b") == "invalid column list \"a,,b\": column 2: a name is empty");
    CHECK(columns_error("a,") == "invalid column list \"a,\": column 2: a name is empty");
    CHECK(columns_error(",a") == "invalid column list \",a\": column 1: a name is empty");
    CHECK(columns_error("a, ,b") == "invalid column list \"a, ,b\": column 2: a name is empty");
    CHECK(columns_error("\"\"") ==
          "invalid column list \"\"\"\": column 1: zero-length delimited identifier");
    CHECK(columns_error("\"id\",\"x") ==
          "invalid column list \"\"id\",\"x\": column 2: unterminated quoted identifier");
    CHECK(columns_error("first name").find("column 1: unexpected \" \" in an unquoted name") !=
          std::string::npos);
    CHECK(columns_error("\"a\" b").find("column 1: unexpected \" \" after a quoted name") !=
          std::string::npos);
    CHECK(columns_error("\"a\"b").find("column 1: unexpected \"b\" after a quoted name") !=
          std::string::npos);
    CHECK(columns_error("id,2nd").find("column 2: an unquoted name cannot start with \"2\"") !=
          std::string::npos);
    CHECK(columns_error("id;drop").find("column 1: unexpected \";\"") != std::string::npos);
    CHECK(columns_error(std::string(64, 'c')).find("is longer than 63 bytes") != std::string::npos);
    CHECK(columns_error("id,ID") == "invalid column list \"id,ID\": column \"id\" is named twice");
    CHECK(columns_error("\"id\",id").find("column \"id\" is named twice") != std::string::npos);
    CHECK(columns_error("\"a,b\",\"a,b\"").find("column \"a,b\" is named twice") !=
          std::string::npos);
}

TEST_CASE("electric request: the client's own example URL decodes to its shape", "[electric]") {
    ShapeRequest request =
        parse_ok("columns=%22id%22&handle=potato&log=full&offset=-1&params%5B1%5D=test1"
                 "&params%5B2%5D=test2&table=foo&where=a%3D%241+and+b%3D%242");
    CHECK(request.has_table);
    CHECK(request.table.schema == "public");
    CHECK(request.table.name == "foo");
    CHECK(request.start == Start::Beginning);
    CHECK(request.handle.empty()); // ignored with offset=-1
    CHECK(request.columns == std::vector<std::string>{"id"});
    CHECK(request.where == "a=$1 and b=$2");
    CHECK(request.params == Params{"test1", "test2"});
    CHECK_FALSE(request.live);
    CHECK_FALSE(request.sse);
    CHECK_FALSE(request.replica_full);
    CHECK_FALSE(request.changes_only);
    CHECK_FALSE(request.cursor);
    CHECK_FALSE(request.subset.present);
    CHECK(request.secret.empty());
}

TEST_CASE("electric request: a GET needs a table", "[electric]") {
    check_error("offset=-1", "table", "can't be blank");
    check_error("offset=-1&table=", "table", "can't be blank");
    RequestError error = parse_error("offset=-1&table=a.b.c");
    CHECK(error.field == "table");
    CHECK(error.message.rfind("invalid table name \"a.b.c\": ", 0) == 0);
    ShapeRequest request = parse_ok("offset=-1&table=Sales.%22Items%22");
    CHECK(request.table.schema == "sales");
    CHECK(request.table.name == "Items");
}

TEST_CASE("electric request: a GET needs an offset in one of its three forms", "[electric]") {
    check_error("table=t", "offset", "can't be blank");
    check_error("table=t&offset=", "offset", "can't be blank");
    for (const char* bad :
         {"-2", "NOW", "1", "1_", "0_INF", "abc", "-1_0", "1_2%20", "0_18446744073709551615"}) {
        INFO(bad);
        check_error(std::string("table=t&handle=h&offset=") + bad, "offset", "has invalid format");
    }
    CHECK(parse_ok("table=t&offset=-1").start == Start::Beginning);
    CHECK(parse_ok("table=t&offset=now").start == Start::Now);
    ShapeRequest at = parse_ok("table=t&offset=26800584_4&handle=h1");
    CHECK(at.start == Start::At);
    CHECK(at.offset == LogOffset{Lsn(26800584), 4});
    CHECK(at.handle == "h1");
    ShapeRequest end = parse_ok("table=t&offset=0_inf&handle=h1");
    CHECK(end.start == Start::At);
    CHECK(end.offset == kSnapshotEnd);
}

TEST_CASE("electric request: handle is required at an offset and ignored with -1 or now",
          "[electric]") {
    check_error("table=t&offset=0_0", "handle", "can't be blank when offset != -1");
    check_error("table=t&offset=0_0&handle=", "handle", "can't be blank when offset != -1");
    CHECK(parse_ok("table=t&offset=-1&handle=old").handle.empty());
    CHECK(parse_ok("table=t&offset=now&handle=old").handle.empty());
    CHECK(parse_ok("table=t&offset=5_0&handle=cur").handle == "cur");
}

TEST_CASE("electric request: live is true when present with any value but false", "[electric]") {
    CHECK(parse_ok("table=t&offset=0_0&handle=h&live").live);
    CHECK(parse_ok("table=t&offset=0_0&handle=h&live=").live);
    CHECK(parse_ok("table=t&offset=0_0&handle=h&live=true").live);
    CHECK(parse_ok("table=t&offset=0_0&handle=h&live=1").live);
    CHECK_FALSE(parse_ok("table=t&offset=0_0&handle=h&live=false").live);
    CHECK_FALSE(parse_ok("table=t&offset=0_0&handle=h").live);
}

TEST_CASE("electric request: live is refused with offset -1 and now", "[electric]") {
    check_error("table=t&offset=-1&live=true", "live", "can't be true when offset == -1");
    check_error("table=t&offset=-1&live", "live", "can't be true when offset == -1");
    check_error("table=t&offset=now&live=true", "live", "can't be true when offset == now");
    CHECK_FALSE(parse_ok("table=t&offset=-1&live=false").live);
}

TEST_CASE("electric request: live_sse or its experimental alias asks for SSE, only with live",
          "[electric]") {
    const std::string base = "table=t&offset=0_0&handle=h&live=true";
    CHECK(parse_ok(base + "&live_sse=true").sse);
    CHECK(parse_ok(base + "&experimental_live_sse=true").sse);
    CHECK(parse_ok(base + "&live_sse=true&experimental_live_sse=true").sse);
    CHECK_FALSE(parse_ok(base + "&live_sse=false").sse);
    CHECK_FALSE(parse_ok(base).sse);
    // The errata's order: SSE parameters appended after the sorted ones.
    CHECK(parse_ok("handle=h&live=true&offset=0_0&table=t&live_sse=true&experimental_live_sse=true")
              .sse);
    check_error("table=t&offset=0_0&handle=h&live_sse=true", "live_sse",
                "can't be true unless live is also true");
    check_error("table=t&offset=0_0&handle=h&live=false&experimental_live_sse=true", "live_sse",
                "can't be true unless live is also true");
}

TEST_CASE("electric request: a cursor that is not a decimal number is as good as none",
          "[electric]") {
    const std::string base = "table=t&offset=0_0&handle=h&live&cursor=";
    CHECK_FALSE(parse_ok(base).cursor);
    CHECK(parse_ok(base + "1713349200").cursor == uint64_t(1713349200));
    CHECK(parse_ok(base + "0").cursor == uint64_t(0));
    CHECK(parse_ok(base + "18446744073709551615").cursor == UINT64_MAX);
    for (const char* junk : {"-5", "+5", "abc", "12x", " 12", "18446744073709551616", "1.5"}) {
        INFO(junk);
        CHECK_FALSE(parse_ok(base + junk).cursor);
    }
}

TEST_CASE("electric request: params must be numbered 1 to n without gaps", "[electric]") {
    CHECK(parse_ok("table=t&offset=-1&params[2]=b&params[1]=a").params == Params{"a", "b"});
    CHECK(parse_ok("table=t&offset=-1&params%5B1%5D=").params == Params{""});
    // A repeated index keeps the last value, as Electric does.
    CHECK(parse_ok("table=t&offset=-1&params[1]=a&params[1]=z").params == Params{"z"});
    check_error("table=t&offset=-1&params[1]=a&params[3]=c", "params", "missing $2");
    check_error("table=t&offset=-1&params[2]=b", "params", "missing $1");
    check_error("table=t&offset=-1&params[0]=x", "params",
                "has an invalid key \"0\": keys are 1 to 1000");
    check_error("table=t&offset=-1&params[01]=x", "params",
                "has an invalid key \"01\": keys are 1 to 1000");
    check_error("table=t&offset=-1&params[a]=x", "params",
                "has an invalid key \"a\": keys are 1 to 1000");
    check_error("table=t&offset=-1&params[]=x", "params",
                "has an invalid key \"\": keys are 1 to 1000");
    check_error("table=t&offset=-1&params[-1]=x", "params",
                "has an invalid key \"-1\": keys are 1 to 1000");
    check_error("table=t&offset=-1&params[1001]=x", "params", "can't hold more than 1000 values");
    check_error("table=t&offset=-1&params[99999999999999999999]=x", "params",
                "can't hold more than 1000 values");
    // Only "params[...]" is a parameter value; look-alikes are unknown and ignored.
    CHECK(parse_ok("table=t&offset=-1&params_1=x&paramsx[1]=y&params[1=z").params.empty());
}

TEST_CASE("electric request: params may also be one JSON object", "[electric]") {
    CHECK(parse_ok("table=t&offset=-1&params=%7B%221%22%3A%22a%22%2C%222%22%3A%22b%22%7D").params ==
          Params{"a", "b"});
    CHECK(parse_ok(R"(table=t&offset=-1&params={"2":null,"1":"x"})").params ==
          Params{"x", std::nullopt});
    CHECK(parse_ok(R"(table=t&offset=-1&params={"1":42,"2":true,"3":1.5})").params ==
          Params{"42", "true", "1.5"});
    CHECK(parse_ok(R"(table=t&offset=-1&params={})").params.empty());
    check_error(R"(table=t&offset=-1&params={"1":"a","3":"c"})", "params", "missing $2");
    check_error(R"(table=t&offset=-1&params={"x":"a"})", "params",
                "has an invalid key \"x\": keys are 1 to 1000");
    check_error(R"(table=t&offset=-1&params={"1":["a"]})", "params",
                "has a value that is not a string, number, boolean or null");
    check_error("table=t&offset=-1&params=abc", "params", "must be a JSON object");
    check_error("table=t&offset=-1&params", "params", "must be a JSON object");
    check_error("table=t&offset=-1&params=\"a\"", "params", "must be a JSON object");
    check_error(R"(table=t&offset=-1&params={"1":"a"}&params[2]=b)", "params",
                "can't be given both as a JSON object and by index");
}

TEST_CASE("electric request: columns reach the request, malformed lists are refused",
          "[electric]") {
    CHECK(parse_ok("table=t&offset=-1&columns=id%2C+Title").columns ==
          std::vector<std::string>{"id", "title"});
    CHECK(parse_ok("table=t&offset=-1").columns.empty());
    RequestError error = parse_error("table=t&offset=-1&columns=");
    CHECK(error.field == "columns");
    CHECK(error.message == "invalid column list \"\": it names no column");
    CHECK(parse_error("table=t&offset=-1&columns=a,a").field == "columns");
}

TEST_CASE("electric request: replica and log accept only their documented values", "[electric]") {
    CHECK(parse_ok("table=t&offset=-1&replica=full").replica_full);
    CHECK_FALSE(parse_ok("table=t&offset=-1&replica=default").replica_full);
    CHECK(parse_ok("table=t&offset=-1&log=changes_only").changes_only);
    CHECK_FALSE(parse_ok("table=t&offset=-1&log=full").changes_only);
    check_error("table=t&offset=-1&replica=FULL", "replica", "must be one of default, full");
    check_error("table=t&offset=-1&replica=", "replica", "must be one of default, full");
    check_error("table=t&offset=-1&log=changes", "log", "must be one of full, changes_only");
    check_error("table=t&offset=-1&log", "log", "must be one of full, changes_only");
}

TEST_CASE("electric request: secret or its old name api_secret carries the secret", "[electric]") {
    CHECK(parse_ok("table=t&offset=-1&secret=s3").secret == "s3");
    CHECK(parse_ok("table=t&offset=-1&api_secret=old").secret == "old");
    CHECK(parse_ok("table=t&offset=-1&api_secret=old&secret=new").secret == "new");
    CHECK(parse_ok("table=t&offset=-1&secret=a%2Bb%3D").secret == "a+b=");
}

TEST_CASE("electric request: unknown parameters are ignored", "[electric]") {
    ShapeRequest request =
        parse_ok("cache-buster=1713349200-abc&customParam=test-value&expired_handle=old"
                 "&queryable_columns=id&experimental_compaction=true&offset=-1&table=t"
                 "&subset__where_expr=%7B%7D&subset__order_by_expr=%7B%7D&Table=other");
    CHECK(request.table.name == "t");
    CHECK_FALSE(request.subset.present);
}

TEST_CASE("electric request: a repeated parameter counts with its last value", "[electric]") {
    ShapeRequest request = parse_ok("table=a&table=b&offset=now&offset=-1");
    CHECK(request.table.name == "b");
    CHECK(request.start == Start::Beginning);
}

TEST_CASE("electric request: the first bad parameter in a fixed order is the one reported",
          "[electric]") {
    check_error("offset=bad&table=a.b.c&log=x", "table",
                "invalid table name \"a.b.c\": more than one \".\" outside quotes (the form is "
                "name or schema.name)");
    check_error("log=x&offset=bad&table=t", "offset", "has invalid format");
    check_error("log=x&replica=x&table=t&offset=-1", "replica", "must be one of default, full");
}

TEST_CASE("electric request: a refused request leaves the output as it was", "[electric]") {
    ShapeRequest request;
    request.handle = "keep";
    request.where = "x = 1";
    RequestError error;
    REQUIRE_FALSE(parse_shape_request(parse_query_string("table=t&offset=-1&where=y&log=bad"),
                                      false, request, error));
    CHECK(request.handle == "keep");
    CHECK(request.where == "x = 1");
}

TEST_CASE("electric request: subset parameters fill the subset and mark it present", "[electric]") {
    ShapeRequest request =
        parse_ok("table=t&offset=0_0&handle=h&log=changes_only&subset__where=a+%3E+%241"
                 "&subset__params=%7B%221%22%3A%225%22%7D&subset__limit=10&subset__offset=0"
                 "&subset__order_by=a+DESC&subset__where_expr=%7B%7D");
    const Subset& subset = request.subset;
    CHECK(subset.present);
    CHECK(subset.where == "a > $1");
    CHECK(subset.params == Params{"5"});
    CHECK(subset.limit == uint64_t(10));
    CHECK(subset.offset == uint64_t(0));
    CHECK(subset.order_by == "a DESC");
    // Shape params and subset params stay apart.
    CHECK(request.params.empty());

    CHECK(parse_ok("table=t&offset=-1&subset__where=x").subset.present);
    CHECK(parse_ok("table=t&offset=-1&subset__order_by=x").subset.present);
    ShapeRequest indexed = parse_ok("table=t&offset=-1&subset__params[1]=a&subset__params[2]=b");
    CHECK(indexed.subset.present);
    CHECK(indexed.subset.params == Params{"a", "b"});
}

TEST_CASE("electric request: subset limit and offset need order_by and well-formed numbers",
          "[electric]") {
    const std::string base = "table=t&offset=-1&subset__order_by=id";
    for (const char* bad : {"0", "-1", "", "abc", "1.5", "+3", "18446744073709551616"}) {
        INFO(bad);
        check_error(base + "&subset__limit=" + bad, "subset__limit", "must be a positive integer");
    }
    for (const char* bad : {"-1", "", "x", "2e3"}) {
        INFO(bad);
        check_error(base + "&subset__offset=" + bad, "subset__offset",
                    "must be a non-negative integer");
    }
    check_error("table=t&offset=-1&subset__limit=5", "subset",
                "order_by is required with limit or offset");
    check_error("table=t&offset=-1&subset__offset=5", "subset",
                "order_by is required with limit or offset");
    check_error("table=t&offset=-1&subset__offset=5&subset__order_by=", "subset",
                "order_by is required with limit or offset");
    check_error("table=t&offset=-1&subset__params=%5B", "subset__params", "must be a JSON object");
    check_error("table=t&offset=-1&subset__params[2]=b", "subset__params", "missing $1");
    check_error("table=t&offset=-1&subset__params=%7B%7D&subset__params[1]=b", "subset__params",
                "can't be given both as a JSON object and by index");
}

TEST_CASE("electric request: a DELETE needs a table or a handle and no offset", "[electric]") {
    ShapeRequest by_handle = parse_ok("handle=h-1", true);
    CHECK_FALSE(by_handle.has_table);
    CHECK(by_handle.handle == "h-1");
    ShapeRequest by_table = parse_ok("table=foo", true);
    CHECK(by_table.has_table);
    CHECK(by_table.table.name == "foo");
    CHECK(by_table.handle.empty());
    // The handle names the shape to delete even beside offset=-1.
    ShapeRequest both = parse_ok("table=foo&handle=h-2&offset=-1", true);
    CHECK(both.handle == "h-2");
    check_error("", "table", "can't be blank when handle is not given", true);
    check_error("handle=&table=", "table", "can't be blank when handle is not given", true);
    check_error("handle=h&offset=junk", "offset", "has invalid format", true);
    check_error("handle=h&table=1x", "table",
                "invalid table name \"1x\": an unquoted name cannot start with \"1\"", true);
}

TEST_CASE("electric request: names and values up to 64 KiB pass, longer ones are refused",
          "[electric]") {
    std::string where(kMaxParamBytes, 'x');
    CHECK(parse_ok("table=t&offset=-1&where=" + where).where.size() == kMaxParamBytes);
    check_error("table=t&offset=-1&where=" + where + "x", "where", "is longer than 65536 bytes");
    // Unknown parameters are held to the limit too: nothing that large is read at all.
    check_error("table=t&offset=-1&junk=" + where + "x", "junk", "is longer than 65536 bytes");
    check_error("table=t&offset=-1&" + where + "x=1", "query",
                "has a parameter name longer than 65536 bytes");
}

TEST_CASE("electric request: 1000 params are accepted, a 1001st is refused in either form",
          "[electric]") {
    std::string query = "table=t&offset=-1";
    std::string object = "{";
    for (int i = 1; i <= 1000; ++i) {
        query += "&params[" + std::to_string(i) + "]=v" + std::to_string(i);
        object += (i > 1 ? ",\"" : "\"") + std::to_string(i) + "\":\"v\"";
    }
    ShapeRequest request = parse_ok(query);
    REQUIRE(request.params.size() == 1000);
    CHECK(request.params[999] == "v1000");
    CHECK(parse_ok("table=t&offset=-1&params=" + object + "}").params.size() == 1000);
    check_error(query + "&params[1001]=x", "params", "can't hold more than 1000 values");
    check_error("table=t&offset=-1&params=" + object + ",\"1001\":\"v\"}", "params",
                "can't hold more than 1000 values");
}

TEST_CASE("electric subset body: every member is read", "[electric]") {
    Subset subset = body_ok(R"({"where":"a > $1 AND b = $2","params":{"1":"5","2":null},)"
                            R"("limit":100,"offset":20,"order_by":"a ASC",)"
                            R"("where_expr":{"type":"x"},"order_by_expr":[],"other":1})");
    CHECK(subset.present);
    CHECK(subset.where == "a > $1 AND b = $2");
    CHECK(subset.params == Params{"5", std::nullopt});
    CHECK(subset.limit == uint64_t(100));
    CHECK(subset.offset == uint64_t(20));
    CHECK(subset.order_by == "a ASC");
}

TEST_CASE("electric subset body: an empty object is a subset with nothing set", "[electric]") {
    Subset subset = body_ok("{}");
    CHECK(subset.present);
    CHECK(subset.where.empty());
    CHECK(subset.params.empty());
    CHECK_FALSE(subset.limit);
    CHECK_FALSE(subset.offset);
    CHECK(subset.order_by.empty());
    Subset nulls =
        body_ok(R"({"where":null,"params":null,"limit":null,"offset":null,"order_by":null})");
    CHECK(nulls.where.empty());
    CHECK_FALSE(nulls.limit);
}

TEST_CASE("electric subset body: params become text, as an object or an array", "[electric]") {
    CHECK(body_ok(R"({"params":{"1":"a","2":7,"3":false,"4":null,"5":-2.5}})").params ==
          Params{"a", "7", "false", std::nullopt, "-2.5"});
    CHECK(body_ok(R"({"params":["a",1,true,null]})").params ==
          Params{"a", "1", "true", std::nullopt});
    CHECK(body_ok(R"({"params":{"1":"\u00e9"}})").params == Params{"\xC3\xA9"});
}

TEST_CASE("electric subset body: anything but a JSON object is refused", "[electric]") {
    for (const char* bad : {"[]", "1", "\"x\"", "null", "true"}) {
        RequestError error = body_error(bad);
        CHECK(error.field == "body");
        CHECK(error.message == "must be a JSON object");
    }
    for (const char* bad : {"", "{", "{\"where\":}", "{} {}", "{'a':1}", "{\"a\":\"\xff\"}"}) {
        RequestError error = body_error(bad);
        CHECK(error.field == "body");
        CHECK(error.message == "is not valid JSON");
    }
}

TEST_CASE("electric subset body: a member of the wrong type is named", "[electric]") {
    struct Case {
        const char* body;
        const char* field;
        const char* message;
    };
    for (const Case& c : std::vector<Case>{
             {R"({"where":1})", "where", "must be a string"},
             {R"({"order_by":["a"]})", "order_by", "must be a string"},
             {R"({"params":"a"})", "params", "must be a JSON object"},
             {R"({"params":{"1":{"x":1}}})", "params",
              "has a value that is not a string, number, boolean or null"},
             {R"({"params":{"2":"b"}})", "params", "missing $1"},
             {R"({"params":{"one":"b"}})", "params",
              "has an invalid key \"one\": keys are 1 to 1000"},
             {R"({"limit":0,"order_by":"a"})", "limit", "must be a positive integer"},
             {R"({"limit":-1,"order_by":"a"})", "limit", "must be a positive integer"},
             {R"({"limit":1.5,"order_by":"a"})", "limit", "must be a positive integer"},
             {R"({"limit":"10","order_by":"a"})", "limit", "must be a positive integer"},
             {R"({"offset":-1,"order_by":"a"})", "offset", "must be a non-negative integer"},
             {R"({"offset":true,"order_by":"a"})", "offset", "must be a non-negative integer"},
             {R"({"limit":5})", "subset", "order_by is required with limit or offset"},
             {R"({"offset":0,"order_by":""})", "subset",
              "order_by is required with limit or offset"},
         }) {
        INFO(c.body);
        RequestError error = body_error(c.body);
        CHECK(error.field == c.field);
        CHECK(error.message == c.message);
    }
}

TEST_CASE("electric subset body: a refused body leaves the subset as it was", "[electric]") {
    Subset subset;
    subset.where = "keep";
    RequestError error;
    REQUIRE_FALSE(parse_subset_body(R"({"where":"new","limit":0})", subset, error));
    CHECK(subset.where == "keep");
    CHECK_FALSE(subset.present);
}

TEST_CASE("electric subset body: oversized strings and over 1000 params are refused",
          "[electric]") {
    std::string long_text(kMaxParamBytes + 1, 'x');
    RequestError where = body_error("{\"where\":\"" + long_text + "\"}");
    CHECK(where.field == "where");
    CHECK(where.message == "is longer than 65536 bytes");
    RequestError param = body_error("{\"params\":[\"" + long_text + "\"]}");
    CHECK(param.field == "params");
    CHECK(param.message == "has a value longer than 65536 bytes");
    std::string array = "{\"params\":[";
    for (int i = 0; i < 1001; ++i)
        array += i ? ",1" : "1";
    RequestError many = body_error(array + "]}");
    CHECK(many.field == "params");
    CHECK(many.message == "can't hold more than 1000 values");
}

TEST_CASE("electric subset body: deeply nested JSON is refused without harm", "[electric]") {
    std::string deep =
        "{\"where_expr\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
    CHECK(body_ok(deep).present);
    RequestError error = body_error(std::string(100000, '['));
    CHECK(error.field == "body");
}

TEST_CASE("electric request: random query strings either parse or name a field and a reason",
          "[electric]") {
    // Pieces the parser treats specially, so random strings reach its corners quickly.
    const std::vector<std::string> pieces = {
        "&",      "=",      "%",        "%5B",      "%5D",      "%22",     "+",  "table",
        "offset", "handle", "live",     "live_sse", "params",   "params[", "]",  "1",
        "0",      "-1",     "now",      "_",        "0_inf",    "columns", "\"", ",",
        ".",      "where",  "subset__", "limit",    "order_by", "{",       "}",  ":",
        "null",   "a",      "Z",        "%00",      "$"};
    std::mt19937 random(12345);
    size_t parsed = 0;
    for (int i = 0; i < 20000; ++i) {
        std::string query;
        size_t length = random() % 24;
        for (size_t j = 0; j < length; ++j)
            query += pieces[random() % pieces.size()];
        ShapeRequest request;
        RequestError error;
        INFO(query);
        if (parse_shape_request(parse_query_string(query), i % 2 == 1, request, error)) {
            ++parsed;
            CHECK((request.has_table || !request.handle.empty()));
        } else {
            CHECK_FALSE(error.field.empty());
            CHECK_FALSE(error.message.empty());
        }
        Subset subset;
        if (!parse_subset_body(query, subset, error)) CHECK_FALSE(error.message.empty());
    }
    CHECK(parsed > 0);
}
