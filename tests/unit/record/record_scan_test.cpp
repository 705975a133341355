// scan_record reads back exactly what the native formatter writes, and rejects (never crashes on)
// malformed, truncated or foreign lines; the JSON token walkers handle any valid JSON.
#include "change_builders.h"
#include "pg/type_catalog.h"
#include "record/formatter.h"
#include "record/json_text.h"
#include "record/record_scan.h"

#include <catch2/catch.hpp>
#include <sstream>
#include <string>
#include <vector>

using namespace pgsync;
using namespace pgsync::record;
using namespace pgsync::record::testing;
using pgsync::pg::JsonKind;
using pgsync::pg::NumberType;
using pgsync::pg::TypeInfo;

namespace {

const pg::TypeCatalog& catalog() {
    static const pg::TypeCatalog types = [] {
        pg::TypeCatalog c;
        c.add(scalar(23, "int4", JsonKind::Number, NumberType::Int4));
        c.add(scalar(25, "text", JsonKind::Text));
        return c;
    }();
    return types;
}

RelationInfo relation(const char* schema, const char* name, char identity,
                      const ValueWriter& writer) {
    RelationInfo rel;
    rel.oid = 16384;
    rel.schema = schema;
    rel.name = name;
    rel.replica_identity = identity;
    rel.json_names = "\"schema\":";
    append_json_string(rel.json_names, rel.schema);
    rel.json_names += ",\"table\":";
    append_json_string(rel.json_names, rel.name);
    const std::pair<const char*, uint32_t> columns[] = {{"id", 23}, {"body", 25}};
    for (auto [column_name, oid] : columns) {
        ColumnInfo column;
        column.name = column_name;
        column.type_oid = oid;
        column.type_name = oid == 23 ? "integer" : "text";
        column.key = oid == 23;
        column.type = &writer.resolve(oid);
        append_json_string(column.json_key, column.name);
        column.json_key += ':';
        rel.columns.push_back(column);
    }
    return rel;
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        lines.push_back(line);
    return lines;
}

// One transaction with every kind of record, and a non-transactional message, as the native
// formatter writes them.
std::vector<std::string> native_lines() {
    ValueWriter values(catalog());
    auto formatter = make_native_formatter(values);
    RelationInfo rel = relation("public", "messages", 'f', values);
    RelationInfo odd = relation("my \"schema\"", "t\\1", 'd', values);
    TxnInfo t = txn(751, "0/16B37A0", "0/16B37D0", 848534589668017);
    std::string out;
    formatter->begin(out, t);
    formatter->relation(out, t, rel);
    // row() keeps spans of the values: they live here.
    const std::vector<Value> inserted = {text("1"), text("hi\n\"there\"")};
    const std::vector<Value> updated = {text("2"), kToast};
    const std::vector<Value> old_key = {text("2"), text("before")};
    const std::vector<Value> old_full = {text("3"), kNull};
    RowChange insert = row(RowOp::Insert, rel, "0/16B3748", inserted);
    insert.seq = 0;
    formatter->row(out, t, insert);
    RowChange update = row(RowOp::Update, rel, "0/16B3770", updated, OldKind::Key, old_key);
    update.seq = 1;
    formatter->row(out, t, update);
    RowChange remove = row(RowOp::Delete, odd, "0/16B3780", {}, OldKind::Full, old_full);
    remove.seq = 2;
    formatter->row(out, t, remove);
    TruncateChange truncate{lsn("0/16B3790"), 3, {&rel, &odd}, true, false};
    formatter->truncate(out, t, truncate);
    formatter->message(out, &t, {lsn("0/16B3798"), 4, true, "app", "tx"});
    formatter->commit(out, t);
    formatter->message(out, nullptr, {lsn("0/16B3900"), 0, false, "app", "\xff\xfe"});
    return lines_of(out);
}

} // namespace

TEST_CASE("record_scan: every native record kind scans to its fields", "[record_scan]") {
    const std::vector<std::string> lines = native_lines();
    REQUIRE(lines.size() == 9);
    ScannedRecord r;

    REQUIRE(scan_record(lines[0], r));
    CHECK(r.op == "begin");
    CHECK(r.xid == 751);
    CHECK(r.commit_lsn == lsn("0/16B37A0"));
    CHECK(r.seq == -1);
    CHECK(r.transactional());

    REQUIRE(scan_record(lines[1], r));
    CHECK(r.op == "relation");
    CHECK(r.schema == "public");
    CHECK(r.table == "messages");
    CHECK(r.table_token == "\"messages\"");
    CHECK(r.columns.substr(0, 16) == "[{\"name\":\"id\",\"t");
    CHECK(r.columns.back() == ']');
    CHECK(r.seq == -1);

    REQUIRE(scan_record(lines[2], r));
    CHECK(r.op == "insert");
    CHECK(r.lsn == lsn("0/16B3748"));
    CHECK(r.seq == 0);
    CHECK(r.new_object == "{\"id\":1,\"body\":\"hi\\n\\\"there\\\"\"}");
    CHECK(r.old_object.empty());
    CHECK(r.identity.empty());

    REQUIRE(scan_record(lines[3], r));
    CHECK(r.op == "update");
    CHECK(r.seq == 1);
    CHECK(r.new_object == "{\"id\":2}");
    CHECK(r.unchanged_toast == "[\"body\"]");
    CHECK(r.old_object == "{\"id\":2}");
    CHECK(r.identity == "key");

    REQUIRE(scan_record(lines[4], r));
    CHECK(r.op == "delete");
    CHECK(r.seq == 2);
    CHECK(r.schema_token == "\"my \\\"schema\\\"\"");
    CHECK(r.schema == "my \\\"schema\\\""); // raw: it has escapes
    CHECK(r.table == "t\\\\1");
    CHECK(r.new_object.empty());
    CHECK(r.old_object == "{\"id\":3,\"body\":null}");
    CHECK(r.identity == "full");
    std::string unescaped;
    REQUIRE(unescape_json_string(r.schema_token, unescaped));
    CHECK(unescaped == "my \"schema\"");

    REQUIRE(scan_record(lines[5], r));
    CHECK(r.op == "truncate");
    CHECK(r.seq == 3);
    CHECK(r.relations == "[{\"schema\":\"public\",\"table\":\"messages\"},"
                         "{\"schema\":\"my \\\"schema\\\"\",\"table\":\"t\\\\1\"}]");

    REQUIRE(scan_record(lines[6], r));
    CHECK(r.op == "message");
    CHECK(r.seq == 4);
    CHECK(r.xid == 751);
    CHECK(r.lsn == lsn("0/16B3798"));

    REQUIRE(scan_record(lines[7], r));
    CHECK(r.op == "commit");
    CHECK(r.end_lsn == lsn("0/16B37D0"));
    CHECK(r.seq == -1);

    REQUIRE(scan_record(lines[8], r));
    CHECK(r.op == "message");
    CHECK_FALSE(r.transactional());
    CHECK(r.xid == 0);
    CHECK(r.seq == -1);
    CHECK(r.lsn == lsn("0/16B3900"));
}

TEST_CASE("record_scan: every proper prefix of a native line is rejected", "[record_scan]") {
    ScannedRecord r;
    for (const std::string& line : native_lines()) {
        for (size_t n = 0; n < line.size(); ++n) {
            INFO(line.substr(0, n));
            CHECK_FALSE(scan_record(std::string_view(line).substr(0, n), r));
        }
    }
}

TEST_CASE("record_scan: damaged lines are rejected or scan within the line", "[record_scan]") {
    ScannedRecord r;
    const char replacements[] = {'"', '\\', '{', '}', '[', ']', ',', ':', '0', 'x', '\0', '\n'};
    size_t accepted = 0, rejected = 0;
    for (const std::string& line : native_lines()) {
        for (size_t i = 0; i < line.size(); ++i) {
            for (char c : replacements) {
                std::string damaged = line;
                damaged[i] = c;
                if (!scan_record(damaged, r)) {
                    ++rejected;
                    continue;
                }
                ++accepted; // e.g. a digit changed: still a record, its fields inside the line
                const char* begin = damaged.data();
                const char* end = begin + damaged.size();
                CHECK((r.op.data() >= begin && r.op.data() + r.op.size() <= end));
                CHECK((r.new_object.empty() ||
                       (r.new_object.data() >= begin && r.new_object.data() < end)));
            }
        }
    }
    CHECK(rejected > accepted);
}

TEST_CASE("record_scan: records that are not native are rejected", "[record_scan]") {
    ScannedRecord r;
    const char* bad[] = {
        "",
        "{}",
        "[]",
        "{\"op\":\"begin\"}",                                           // no xid
        "{\"op\":\"begin\",\"xid\":1}",                                 // no commit_lsn
        "{\"op\":\"begin\",\"xid\":-1,\"commit_lsn\":\"0/1\"}",         // negative xid
        "{\"op\":\"begin\",\"xid\":4294967296,\"commit_lsn\":\"0/1\"}", // past uint32
        "{\"op\":\"begin\",\"xid\":1.5,\"commit_lsn\":\"0/1\"}",
        "{\"op\":\"begin\",\"xid\":1,\"commit_lsn\":\"nope\"}",
        "{\"op\":\"begin\",\"xid\":1,\"xid\":2,\"commit_lsn\":\"0/1\"}", // duplicate
        "{\"op\":\"begin\",\"xid\":1,\"commit_lsn\":\"0/1\"} x",         // trailing junk
        "{\"op\":\"upsert\",\"xid\":1,\"commit_lsn\":\"0/1\"}",
        "{\"op\":\"commit\",\"xid\":1,\"commit_lsn\":\"0/1\"}", // no end_lsn
        "{\"op\":\"insert\",\"xid\":1,\"commit_lsn\":\"0/1\",\"lsn\":\"0/1\",\"seq\":0,"
        "\"schema\":\"s\",\"table\":\"t\"}", // no new
        "{\"op\":\"insert\",\"xid\":1,\"commit_lsn\":\"0/1\",\"lsn\":\"0/1\",\"seq\":0,"
        "\"schema\":\"s\",\"table\":\"t\",\"new\":[]}", // new not an object
        "{\"op\":\"delete\",\"xid\":1,\"commit_lsn\":\"0/1\",\"lsn\":\"0/1\",\"seq\":0,"
        "\"schema\":\"s\",\"table\":\"t\",\"old\":{}}",   // old without identity
        "{\"op\":\"message\",\"lsn\":\"0/1\",\"seq\":0}", // non-transactional with a seq
        "{\"op\":\"message\",\"xid\":1,\"lsn\":\"0/1\"}", // xid without commit_lsn
        "{\"op\":\"insert\",\"lsn\":\"0/1\",\"seq\":0,\"schema\":\"s\",\"table\":\"t\","
        "\"new\":{}}", // a row outside a transaction
    };
    for (const char* line : bad) {
        INFO(line);
        CHECK_FALSE(scan_record(line, r));
    }
    // Whitespace and members pgsync does not write are fine.
    CHECK(scan_record(" { \"op\" : \"begin\" , \"xid\" : 7 , \"commit_lsn\" : \"0/1\" ,"
                      " \"extra\" : [1, {\"a\": null}] } ",
                      r));
    CHECK(r.xid == 7);
}

TEST_CASE("record_scan: skip_json_value finds the end of any JSON value", "[record_scan]") {
    auto end_of = [](std::string_view text) { return skip_json_value(text, 0); };
    constexpr size_t npos = std::string_view::npos;
    CHECK(end_of("\"a\\\"b\\u00e9\\\\\",") == 14);
    CHECK(end_of("-12.5e+3]") == 8);
    CHECK(end_of("0,") == 1);
    CHECK(end_of("true}") == 4);
    CHECK(end_of("false") == 5);
    CHECK(end_of("null ") == 4);
    CHECK(end_of("{ \"a\" : [1, {\"b\":[]}, \"]\"] , \"c\":{} }x") == 37);
    CHECK(end_of("[ ]") == 3);
    for (const char* bad :
         {"",          "-",     "1.",      "1e",       ".5",         "+1",
          "tru",       "nul",   "\"abc",   "\"a\\x\"", "\"a\\u12\"", "\"tab\there\"",
          "[1,]",      "[1 2]", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{a:1}",
          "{\"a\":1]", "[1}",   "}",       "x"}) {
        INFO(bad);
        CHECK(end_of(bad) == npos);
    }
    // Hostile nesting costs bounded stack: rejected past the limit, accepted within it.
    CHECK(end_of(std::string(100000, '[')) == npos);
    std::string deep = std::string(kMaxJsonDepth, '[') + "1" + std::string(kMaxJsonDepth, ']');
    CHECK(end_of(deep) == deep.size());
    CHECK(end_of("[" + deep + "]") == npos);
    // A value ends where its token does; what follows is the container's business.
    CHECK(end_of("01") == 1);
    CHECK_FALSE(for_each_element("[01]", [](std::string_view) {}));
}

TEST_CASE("record_scan: for_each_member and for_each_element walk raw JSON", "[record_scan]") {
    std::vector<std::pair<std::string, std::string>> members;
    CHECK(for_each_member(
        " {\"id\":1, \"b\\\"q\" : \"x,}\" ,\"n\":{\"m\":[1,2]},\"z\":null} ",
        [&](std::string_view key, std::string_view value) { members.emplace_back(key, value); }));
    REQUIRE(members.size() == 4);
    CHECK(members[0] == std::pair<std::string, std::string>{"\"id\"", "1"});
    CHECK(members[1] == std::pair<std::string, std::string>{"\"b\\\"q\"", "\"x,}\""});
    CHECK(members[2] == std::pair<std::string, std::string>{"\"n\"", "{\"m\":[1,2]}"});
    CHECK(members[3] == std::pair<std::string, std::string>{"\"z\"", "null"});
    CHECK(for_each_member("{}", [](std::string_view, std::string_view) { FAIL("no members"); }));
    CHECK_FALSE(for_each_member("{\"a\":1", [](std::string_view, std::string_view) {}));
    CHECK_FALSE(for_each_member("[1]", [](std::string_view, std::string_view) {}));
    CHECK_FALSE(for_each_member("{\"a\":1} {}", [](std::string_view, std::string_view) {}));

    int calls = 0; // a bool-returning fn stops the walk
    CHECK_FALSE(for_each_member("{\"a\":1,\"b\":2}", [&](std::string_view, std::string_view) {
        ++calls;
        return false;
    }));
    CHECK(calls == 1);

    std::vector<std::string> elements;
    CHECK(for_each_element("[\"a\", 2 ,[3,[4]], {\"k\":\"]\"},true]",
                           [&](std::string_view element) { elements.emplace_back(element); }));
    CHECK(elements == std::vector<std::string>{"\"a\"", "2", "[3,[4]]", "{\"k\":\"]\"}", "true"});
    CHECK(for_each_element("[]", [](std::string_view) { FAIL("no elements"); }));
    CHECK_FALSE(for_each_element("[1,", [](std::string_view) {}));
    CHECK_FALSE(for_each_element("{}", [](std::string_view) {}));
}

TEST_CASE("record_scan: unescape_json_string decodes escapes and refuses lone surrogates",
          "[record_scan]") {
    std::string out;
    REQUIRE(unescape_json_string("\"a\\\"b\\\\c\\/d\\n\\t\\u00e9\\ud83d\\ude00\"", out));
    CHECK(out == "a\"b\\c/d\n\t\xc3\xa9\xf0\x9f\x98\x80");
    REQUIRE(unescape_json_string("\"\"", out));
    CHECK(out.empty());
    CHECK_FALSE(unescape_json_string("\"\\ud83d\"", out));
    CHECK_FALSE(unescape_json_string("\"\\ude00x\"", out));
    CHECK_FALSE(unescape_json_string("\"abc", out));
    CHECK_FALSE(unescape_json_string("\"a\"b\"", out));
}
