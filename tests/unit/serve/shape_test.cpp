// What a logged row change means for a shape: enter/leave on update (F7), key-only deletes when
// the old image cannot tell, only selected columns in the frame, and the xid visibility test the
// initial load's hand-off relies on.
#include "filter/where_parser.h"
#include "record/record_scan.h"
#include "serve/shapes/shape.h"
#include "serve/shapes/xid_snapshot.h"

#include <catch2/catch.hpp>

using namespace pgsync;
using namespace pgsync::serve;

namespace {

std::shared_ptr<TableSchema> tasks(char identity) {
    auto t = std::make_shared<TableSchema>();
    t->schema = "public";
    t->name = "tasks";
    t->schema_json = "\"public\"";
    t->name_json = "\"tasks\"";
    t->replica_identity = identity;
    t->columns = {{"id", 23, true}, {"owner", 23, false}, {"secret", 25, false}};
    t->declared_type_oids = {23, 23, 25};
    t->json_names = {"\"id\"", "\"owner\"", "\"secret\""};
    t->key_columns = {0};
    return t;
}

Shape shape_of(std::shared_ptr<TableSchema> table, const std::string& where,
               std::vector<std::string> columns = {}) {
    std::optional<filter::BoundFilter> bound;
    if (!where.empty()) {
        auto parsed = filter::parse_where(where);
        REQUIRE(parsed.ok());
        auto result = filter::bind(*parsed.expr, table->columns, {});
        REQUIRE(result.ok());
        bound = std::move(result.filter);
    }
    Shape shape;
    REQUIRE_FALSE(make_shape(shape, table, std::move(bound), columns));
    return shape;
}

RowImages row_of(const TableSchema& table, const std::string& line) {
    record::ScannedRecord scanned;
    REQUIRE(record::scan_record(line, scanned));
    RowImages row;
    REQUIRE(read_row(table, scanned, row));
    return row;
}

const char* kPrefix =
    R"("xid":5,"commit_lsn":"0/10","lsn":"0/8","seq":0,"schema":"public","table":"tasks")";

std::string line(const std::string& op, const std::string& rest) {
    return "{\"op\":\"" + op + "\"," + kPrefix + rest + "}";
}

} // namespace

TEST_CASE("shape: updates entering and leaving a filter become insert and delete",
          "[serve][shape]") {
    auto table = tasks('f');
    Shape shape = shape_of(table, "owner = 1");
    auto leave = row_of(
        *table,
        line(
            "update",
            R"(,"new":{"id":7,"owner":2,"secret":"s"},"old":{"id":7,"owner":1,"secret":"s"},"identity":"full")"));
    CHECK(classify(shape, leave) == ShapeOp::Delete);
    auto enter = row_of(
        *table,
        line(
            "update",
            R"(,"new":{"id":7,"owner":1,"secret":"s"},"old":{"id":7,"owner":2,"secret":"s"},"identity":"full")"));
    CHECK(classify(shape, enter) == ShapeOp::Insert);
    auto inside = row_of(
        *table,
        line(
            "update",
            R"(,"new":{"id":7,"owner":1,"secret":"t"},"old":{"id":7,"owner":1,"secret":"s"},"identity":"full")"));
    CHECK(classify(shape, inside) == ShapeOp::Update);
    auto outside = row_of(
        *table,
        line(
            "update",
            R"(,"new":{"id":7,"owner":3,"secret":"t"},"old":{"id":7,"owner":2,"secret":"s"},"identity":"full")"));
    CHECK(classify(shape, outside) == ShapeOp::None);
    auto insert_other = row_of(*table, line("insert", R"(,"new":{"id":8,"owner":2,"secret":"x"})"));
    CHECK(classify(shape, insert_other) == ShapeOp::None);
}

TEST_CASE("shape: without an old image, a delete is sent key-only and an update by its new row",
          "[serve][shape]") {
    auto table = tasks('d');
    Shape shape = shape_of(table, "owner = 1");
    CHECK(shape.needs_old_image);
    auto del = row_of(*table, line("delete", R"(,"old":{"id":7},"identity":"key")"));
    CHECK(classify(shape, del) == ShapeOp::Delete); // may have matched: the client drops it if held
    auto upd_in = row_of(*table, line("update", R"(,"new":{"id":7,"owner":1,"secret":"s"})"));
    CHECK(classify(shape, upd_in) == ShapeOp::Update);
    auto upd_out = row_of(*table, line("update", R"(,"new":{"id":7,"owner":2,"secret":"s"})"));
    CHECK(classify(shape, upd_out) == ShapeOp::Delete);
    // A filter on the key alone is exact even so.
    Shape by_key = shape_of(table, "id = 7");
    CHECK_FALSE(by_key.needs_old_image);
    auto other = row_of(*table, line("delete", R"(,"old":{"id":8},"identity":"key")"));
    CHECK(classify(by_key, other) == ShapeOp::None);
}

TEST_CASE("shape: frames carry the key and only the selected columns, never other old values",
          "[serve][shape]") {
    auto table = tasks('f');
    Shape shape = shape_of(table, "owner = 1", {"owner"});
    auto leave = row_of(
        *table,
        line(
            "update",
            R"(,"new":{"id":7,"owner":2,"secret":"s"},"old":{"id":7,"owner":1,"secret":"s"},"identity":"full")"));
    std::string tail;
    append_change_tail(tail, shape, ShapeOp::Delete, leave, "E:16_2", false);
    CHECK(tail == R"(,"op":"delete","offset":"E:16_2","key":{"id":7},"old":{"owner":1}})");
    auto insert = row_of(*table, line("insert", R"(,"new":{"id":9,"owner":1,"secret":"x"})"));
    tail.clear();
    append_change_tail(tail, shape, ShapeOp::Insert, insert, {}, true);
    CHECK(tail == R"(,"op":"insert","snapshot":true,"key":{"id":9},"new":{"owner":1}})");
}

TEST_CASE("shape: unknown columns are refused by name", "[serve][shape]") {
    Shape shape;
    auto problem = make_shape(shape, tasks('f'), std::nullopt, {"id", "nope"});
    REQUIRE(problem);
    CHECK(*problem == "column \"nope\" does not exist in table \"public.tasks\"");
}

TEST_CASE("xid snapshot: visibility as PostgreSQL decides it, across an epoch", "[serve][shape]") {
    auto s = XidSnapshot::parse("100:105:101,103");
    REQUIRE(s);
    CHECK(s->visible(99));
    CHECK(s->visible(100));
    CHECK_FALSE(s->visible(101)); // in progress at the snapshot
    CHECK(s->visible(102));
    CHECK_FALSE(s->visible(103));
    CHECK_FALSE(s->visible(105)); // started after it
    CHECK_FALSE(s->visible(200));
    // xmax just past a wraparound: 32-bit xids from before it are the previous epoch's.
    auto w = XidSnapshot::parse("4294967290:4294967301:");
    REQUIRE(w);
    CHECK(w->visible(4294967289u));
    CHECK(w->visible(2u));       // 4294967298, committed before the snapshot
    CHECK_FALSE(w->visible(5u)); // 4294967301 = xmax
    CHECK_FALSE(XidSnapshot::parse("5:3:"));
    CHECK_FALSE(XidSnapshot::parse("x:3:"));
    CHECK_FALSE(XidSnapshot::parse("1:3:a"));
}
