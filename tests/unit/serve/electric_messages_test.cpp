// Electric's change and control messages as a client reads them (reference
// electric-shape-protocol.md §3.2-3.4, errata 8 and 11-13): the key format, values as text, what
// each operation sends under replica default and full, key-changing updates and the headers.
#include "pg/type_catalog.h"
#include "serve/electric/messages.h"
#include "serve/shapes/shape.h"
#include "serve/shapes/table_schema.h"
#include "serve/shapes/xid_snapshot.h"
#include "util/error.h"

#include <catch2/catch.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

using namespace pgsync;
using namespace pgsync::serve;
using namespace pgsync::serve::electric;
using filter::Cell;
using nlohmann::json;

namespace {

enum : uint32_t { kBool = 16, kInt4 = 23, kText = 25 };

std::shared_ptr<const pg::TypeCatalog> types() {
    auto catalog = std::make_shared<pg::TypeCatalog>();
    auto scalar = [](uint32_t oid, const char* name, pg::JsonKind kind,
                     pg::NumberType number = pg::NumberType::None) {
        pg::TypeInfo info;
        info.oid = oid;
        info.schema = "pg_catalog";
        info.name = name;
        info.kind = kind;
        info.number = number;
        return info;
    };
    catalog->add(scalar(kBool, "bool", pg::JsonKind::Bool));
    catalog->add(scalar(kInt4, "int4", pg::JsonKind::Number, pg::NumberType::Int4));
    catalog->add(scalar(kText, "text", pg::JsonKind::Text));
    return catalog;
}

struct Column {
    std::string name;
    uint32_t type;
};

std::shared_ptr<TableSchema> table_of(const std::string& schema, const std::string& name,
                                      const std::vector<Column>& columns,
                                      const std::vector<int>& key_columns) {
    auto table = std::make_shared<TableSchema>();
    table->schema = schema;
    table->name = name;
    table->schema_json = json(schema).dump();
    table->name_json = json(name).dump();
    for (const Column& column : columns) {
        table->columns.push_back({column.name, column.type, false});
        table->declared_type_oids.push_back(column.type);
        table->json_names.push_back(json(column.name).dump());
    }
    table->key_columns = key_columns;
    for (int k : key_columns)
        table->columns[size_t(k)].key = true;
    return table;
}

// public.t: id int4 (the key), title text, done bool, body text.
std::shared_ptr<TableSchema> items() {
    return table_of("public", "t",
                    {{"id", kInt4}, {"title", kText}, {"done", kBool}, {"body", kText}}, {0});
}

MessageContext context_for(std::shared_ptr<TableSchema> table, bool replica_full,
                           const std::vector<std::string>& columns = {}) {
    auto shape = std::make_shared<Shape>();
    REQUIRE_FALSE(make_shape(*shape, table, std::nullopt, columns));
    return make_message_context(shape, types(), replica_full);
}

Cell value(std::string_view token) {
    return {Cell::Kind::Json, token};
}
const Cell kNull{Cell::Kind::Null, {}};
const Cell kAbsent{Cell::Kind::Absent, {}};

RowImages inserted(std::vector<Cell> cells) {
    RowImages row;
    row.op = RowImages::Op::Insert;
    row.old_cells.assign(cells.size(), kAbsent);
    row.new_cells = std::move(cells);
    return row;
}

RowImages updated(std::vector<Cell> old_cells, std::vector<Cell> new_cells, bool old_full) {
    RowImages row;
    row.op = RowImages::Op::Update;
    row.has_old = true;
    row.old_full = old_full;
    row.unchanged.assign(new_cells.size(), 0);
    for (size_t i = 0; i < new_cells.size(); ++i)
        if (new_cells[i].kind == Cell::Kind::Absent) row.unchanged[i] = 1;
    row.old_cells = std::move(old_cells);
    row.new_cells = std::move(new_cells);
    return row;
}

RowImages deleted(std::vector<Cell> old_cells, bool old_full) {
    RowImages row;
    row.op = RowImages::Op::Delete;
    row.has_old = true;
    row.old_full = old_full;
    row.new_cells.assign(old_cells.size(), kAbsent);
    row.old_cells = std::move(old_cells);
    return row;
}

// append_change's output as the JSON array it becomes inside a response ("[" + it + "]" after
// the leading comma), requiring as many messages as it reports.
json render(const MessageContext& context, ShapeOp op, const RowImages& row,
            const ChangeOrigin* origin) {
    std::string out;
    const int count = append_change(out, context, op, row, origin);
    REQUIRE(count > 0);
    REQUIRE(out.front() == ',');
    json messages = json::parse("[" + out.substr(1) + "]");
    REQUIRE(messages.size() == size_t(count));
    return messages;
}

json render_one(const MessageContext& context, ShapeOp op, const RowImages& row,
                const ChangeOrigin* origin = nullptr) {
    json messages = render(context, op, row, origin);
    REQUIRE(messages.size() == 1);
    return messages[0];
}

const ChangeOrigin kOrigin{771, Lsn(0x16B374D848), 4};

} // namespace

TEST_CASE("electric messages: a key is the quoted relation then each key value in quotes",
          "[electric]") {
    auto single = context_for(items(), false);
    json message =
        render_one(single, ShapeOp::Insert,
                   inserted({value("1"), value("\"a\""), value("true"), value("\"x\"")}));
    CHECK(message["key"] == "\"public\".\"t\"/\"1\"");

    auto composite = context_for(
        table_of("public", "t", {{"a", kInt4}, {"b", kText}, {"c", kInt4}}, {0, 1}), false);
    message = render_one(composite, ShapeOp::Insert,
                         inserted({value("1"), value("\"abc\""), value("7")}));
    CHECK(message["key"] == "\"public\".\"t\"/\"1\"/\"abc\"");
}

TEST_CASE("electric messages: a slash in a key value is doubled, an empty one stays quoted",
          "[electric]") {
    auto context = context_for(
        table_of("public", "t", {{"a", kText}, {"b", kText}, {"c", kText}}, {0, 1, 2}), false);
    json message = render_one(context, ShapeOp::Insert,
                              inserted({value("\"a/b\""), value("\"//\""), value("\"\"")}));
    CHECK(message["key"] == "\"public\".\"t\"/\"a//b\"/\"////\"/\"\"");
    // The value itself is sent as it is.
    CHECK(message["value"]["a"] == "a/b");
}

TEST_CASE("electric messages: a NULL key part is an unquoted underscore", "[electric]") {
    // A table without a primary key: every column is part of the key, and may be NULL.
    auto context = context_for(
        table_of("public", "t", {{"a", kInt4}, {"b", kText}, {"c", kInt4}}, {0, 1, 2}), false);
    json message = render_one(context, ShapeOp::Insert, inserted({value("1"), kNull, value("2")}));
    CHECK(message["key"] == "\"public\".\"t\"/\"1\"/_/\"2\"");
    CHECK(message["value"]["b"].is_null());
}

TEST_CASE("electric messages: dots and slashes in the schema or table name are doubled in the key",
          "[electric]") {
    // Electric's key (Changes.build_key) escapes the relation's parts so that they cannot run
    // into the separators; the relation header keeps the names as they are.
    auto context =
        context_for(table_of("my.app", "a/b.c", {{"id", kInt4}, {"title", kText}}, {0}), false);
    json message =
        render_one(context, ShapeOp::Insert, inserted({value("1"), value("\"t\"")}), &kOrigin);
    CHECK(message["key"] == "\"my..app\".\"a//b..c\"/\"1\"");
    CHECK(message["headers"]["relation"] == json::array({"my.app", "a/b.c"}));
}

TEST_CASE("electric messages: the key is the same for a snapshot row and a live change",
          "[electric]") {
    auto context = context_for(items(), false);
    auto row = inserted({value("5"), value("\"a\""), value("false"), kNull});
    json snapshot = render_one(context, ShapeOp::Insert, row);
    json live = render_one(context, ShapeOp::Insert, row, &kOrigin);
    json removed = render_one(context, ShapeOp::Delete, deleted(row.new_cells, true), &kOrigin);
    CHECK(snapshot["key"] == live["key"]);
    CHECK(snapshot["key"] == removed["key"]);
}

TEST_CASE("electric messages: values are PostgreSQL text in JSON strings, or null", "[electric]") {
    auto context = context_for(items(), false);
    json message =
        render_one(context, ShapeOp::Insert,
                   inserted({value("42"), value("\"say \\\"hi\\\"\""), value("true"), kNull}));
    CHECK(message["value"] ==
          json({{"id", "42"}, {"title", "say \"hi\""}, {"done", "t"}, {"body", nullptr}}));
    message = render_one(context, ShapeOp::Insert,
                         inserted({value("-7"), value("\"\""), value("false"), value("\"b\"")}));
    CHECK(message["value"] == json({{"id", "-7"}, {"title", ""}, {"done", "f"}, {"body", "b"}}));
}

TEST_CASE("electric messages: a live insert carries txids, the lsn as a decimal string and "
          "op_position",
          "[electric]") {
    auto context = context_for(items(), false);
    json message =
        render_one(context, ShapeOp::Insert,
                   inserted({value("1"), value("\"a\""), value("true"), kNull}), &kOrigin);
    const json& headers = message["headers"];
    CHECK(headers["operation"] == "insert");
    CHECK(headers["relation"] == json::array({"public", "t"}));
    REQUIRE(headers["txids"].is_array());
    REQUIRE(headers["txids"].size() == 1);
    CHECK(headers["txids"][0].is_number_unsigned());
    CHECK(headers["txids"][0] == 771);
    CHECK(headers["lsn"].is_string());
    CHECK(headers["lsn"] == "97500059720"); // 16/B374D848
    CHECK(headers["op_position"].is_number_unsigned());
    CHECK(headers["op_position"] == 4);
    CHECK_FALSE(headers.contains("last"));
    CHECK_FALSE(message.contains("old_value"));
}

TEST_CASE("electric messages: a snapshot row has no txids, lsn or op_position", "[electric]") {
    auto context = context_for(items(), false);
    json message = render_one(context, ShapeOp::Insert,
                              inserted({value("1"), value("\"a\""), value("true"), kNull}));
    CHECK(message["headers"] ==
          json({{"operation", "insert"}, {"relation", json::array({"public", "t"})}}));
    CHECK(message["value"].size() == 4);
}

TEST_CASE("electric messages: an insert sends every selected column of the new row", "[electric]") {
    auto context = context_for(items(), false);
    json message =
        render_one(context, ShapeOp::Insert,
                   inserted({value("1"), value("\"a\""), value("true"), kNull}), &kOrigin);
    CHECK(message["value"] ==
          json({{"id", "1"}, {"title", "a"}, {"done", "t"}, {"body", nullptr}}));
}

TEST_CASE("electric messages: a default-replica update sends the key and the changed columns "
          "when the old row is full",
          "[electric]") {
    auto context = context_for(items(), false);
    auto row = updated({value("1"), value("\"a\""), value("false"), kNull},
                       {value("1"), value("\"b\""), value("false"), value("\"x\"")}, true);
    json message = render_one(context, ShapeOp::Update, row, &kOrigin);
    CHECK(message["key"] == "\"public\".\"t\"/\"1\"");
    CHECK(message["value"] == json({{"id", "1"}, {"title", "b"}, {"body", "x"}}));
    CHECK(message["headers"]["operation"] == "update");
    CHECK_FALSE(message.contains("old_value"));
}

TEST_CASE("electric messages: a default-replica update without a full old row sends what the "
          "new row holds but not unchanged TOAST values",
          "[electric]") {
    auto context = context_for(items(), false);
    // Replica identity default: the old image is the key alone; body is an unchanged TOAST value.
    auto row = updated({value("1"), kAbsent, kAbsent, kAbsent},
                       {value("1"), value("\"b\""), value("false"), kAbsent}, false);
    json message = render_one(context, ShapeOp::Update, row, &kOrigin);
    CHECK(message["value"] == json({{"id", "1"}, {"title", "b"}, {"done", "f"}}));
    CHECK_FALSE(message.contains("old_value"));
}

TEST_CASE("electric messages: a full-replica update sends the whole new row and the changed "
          "columns' old values",
          "[electric]") {
    auto context = context_for(items(), true);
    auto row = updated({value("1"), value("\"a\""), value("false"), kNull},
                       {value("1"), value("\"b\""), value("false"), value("\"x\"")}, true);
    json message = render_one(context, ShapeOp::Update, row, &kOrigin);
    CHECK(message["value"] == json({{"id", "1"}, {"title", "b"}, {"done", "f"}, {"body", "x"}}));
    CHECK(message["old_value"] == json({{"title", "a"}, {"body", nullptr}}));
    CHECK(message["headers"]["operation"] == "update");
}

TEST_CASE("electric messages: a full-replica update leaves unchanged TOAST values out of value "
          "and old_value",
          "[electric]") {
    auto context = context_for(items(), true);
    auto row = updated({value("1"), value("\"a\""), value("false"), value("\"long\"")},
                       {value("1"), value("\"b\""), value("false"), kAbsent}, true);
    json message = render_one(context, ShapeOp::Update, row, &kOrigin);
    CHECK(message["value"] == json({{"id", "1"}, {"title", "b"}, {"done", "f"}}));
    CHECK(message["old_value"] == json({{"title", "a"}}));
}

TEST_CASE("electric messages: a full-replica update of a table without a full old row has no "
          "old_value",
          "[electric]") {
    auto context = context_for(items(), true);
    auto row = updated({value("1"), kAbsent, kAbsent, kAbsent},
                       {value("1"), value("\"b\""), value("true"), kNull}, false);
    json message = render_one(context, ShapeOp::Update, row, &kOrigin);
    CHECK(message["value"] ==
          json({{"id", "1"}, {"title", "b"}, {"done", "t"}, {"body", nullptr}}));
    CHECK_FALSE(message.contains("old_value"));
}

TEST_CASE("electric messages: a default-replica delete sends only the key columns", "[electric]") {
    auto context = context_for(items(), false);
    json message = render_one(
        context, ShapeOp::Delete,
        deleted({value("3"), value("\"a\""), value("true"), value("\"x\"")}, true), &kOrigin);
    CHECK(message["key"] == "\"public\".\"t\"/\"3\"");
    CHECK(message["value"] == json({{"id", "3"}}));
    CHECK(message["headers"]["operation"] == "delete");
    CHECK(message["headers"]["op_position"] == 4);
}

TEST_CASE("electric messages: a full-replica delete sends the whole old row", "[electric]") {
    auto context = context_for(items(), true);
    json message =
        render_one(context, ShapeOp::Delete,
                   deleted({value("3"), value("\"a\""), value("true"), kNull}, true), &kOrigin);
    CHECK(message["key"] == "\"public\".\"t\"/\"3\"");
    CHECK(message["value"] ==
          json({{"id", "3"}, {"title", "a"}, {"done", "t"}, {"body", nullptr}}));
    CHECK_FALSE(message.contains("old_value"));
}

TEST_CASE("electric messages: an update that changes the key is a delete then an insert one "
          "op_position apart",
          "[electric]") {
    const std::vector<Cell> old_row{value("1"), value("\"a\""), value("false"), kNull};
    const std::vector<Cell> new_row{value("2"), value("\"a\""), value("true"), kNull};
    const std::string old_key = "\"public\".\"t\"/\"1\"";
    const std::string new_key = "\"public\".\"t\"/\"2\"";
    for (bool replica_full : {false, true}) {
        INFO("replica full: " << replica_full);
        auto context = context_for(items(), replica_full);
        std::string out;
        REQUIRE(append_change(out, context, ShapeOp::Update, updated(old_row, new_row, true),
                              &kOrigin) == 2);
        json messages = json::parse("[" + out.substr(1) + "]");
        REQUIRE(messages.size() == 2);
        const json& removal = messages[0];
        const json& insertion = messages[1];

        CHECK(removal["key"] == old_key);
        CHECK(removal["headers"]["operation"] == "delete");
        CHECK(removal["headers"]["key_change_to"] == new_key);
        CHECK_FALSE(removal["headers"].contains("key_change_from"));
        CHECK(removal["headers"]["op_position"] == 4);
        if (replica_full)
            CHECK(removal["value"] ==
                  json({{"id", "1"}, {"title", "a"}, {"done", "f"}, {"body", nullptr}}));
        else
            CHECK(removal["value"] == json({{"id", "1"}}));

        CHECK(insertion["key"] == new_key);
        CHECK(insertion["headers"]["operation"] == "insert");
        CHECK(insertion["headers"]["key_change_from"] == old_key);
        CHECK_FALSE(insertion["headers"].contains("key_change_to"));
        CHECK(insertion["headers"]["op_position"] == 5);
        CHECK(insertion["value"] ==
              json({{"id", "2"}, {"title", "a"}, {"done", "t"}, {"body", nullptr}}));
        CHECK_FALSE(insertion.contains("old_value"));

        for (const json& message : messages) {
            CHECK(message["headers"]["txids"] == json::array({771}));
            CHECK(message["headers"]["lsn"] == "97500059720");
            CHECK(message["headers"]["relation"] == json::array({"public", "t"}));
        }
    }
}

TEST_CASE("electric messages: a NULL key part changing to a value changes the key", "[electric]") {
    auto context =
        context_for(table_of("public", "t", {{"a", kInt4}, {"b", kText}}, {0, 1}), false);
    std::string out;
    REQUIRE(append_change(out, context, ShapeOp::Update,
                          updated({value("1"), kNull}, {value("1"), value("\"x\"")}, true),
                          &kOrigin) == 2);
    json messages = json::parse("[" + out.substr(1) + "]");
    CHECK(messages[0]["key"] == "\"public\".\"t\"/\"1\"/_");
    CHECK(messages[1]["key"] == "\"public\".\"t\"/\"1\"/\"x\"");
}

TEST_CASE("electric messages: selected columns restrict value and old_value but the key uses "
          "the key columns",
          "[electric]") {
    auto old_row = std::vector<Cell>{value("1"), value("\"a\""), value("false"), value("\"x\"")};
    auto new_row = std::vector<Cell>{value("1"), value("\"b\""), value("true"), value("\"y\"")};

    auto with_key = context_for(items(), true, {"title", "id"});
    json message = render_one(with_key, ShapeOp::Insert, inserted(new_row), &kOrigin);
    CHECK(message["value"] == json({{"id", "1"}, {"title", "b"}}));
    message = render_one(with_key, ShapeOp::Update, updated(old_row, new_row, true), &kOrigin);
    CHECK(message["value"] == json({{"id", "1"}, {"title", "b"}}));
    CHECK(message["old_value"] == json({{"title", "a"}}));
    message = render_one(with_key, ShapeOp::Delete, deleted(old_row, true), &kOrigin);
    CHECK(message["value"] == json({{"id", "1"}, {"title", "a"}}));

    // Without the key among the columns the key is still built from it.
    auto without_key = context_for(items(), false, {"done"});
    message = render_one(without_key, ShapeOp::Insert, inserted(new_row), &kOrigin);
    CHECK(message["key"] == "\"public\".\"t\"/\"1\"");
    CHECK(message["value"] == json({{"done", "t"}}));
    message = render_one(without_key, ShapeOp::Update, updated(old_row, new_row, true), &kOrigin);
    CHECK(message["key"] == "\"public\".\"t\"/\"1\"");
    CHECK(message["value"] == json({{"done", "t"}}));
    message = render_one(without_key, ShapeOp::Delete, deleted(old_row, true), &kOrigin);
    CHECK(message["key"] == "\"public\".\"t\"/\"1\"");
    CHECK(message["value"] == json::object());
}

TEST_CASE("electric messages: an operation that means nothing appends nothing", "[electric]") {
    auto context = context_for(items(), false);
    std::string out = ",{\"before\":1}";
    CHECK(append_change(out, context, ShapeOp::None,
                        inserted({value("1"), value("\"a\""), value("true"), kNull}),
                        &kOrigin) == 0);
    CHECK(out == ",{\"before\":1}");
}

TEST_CASE("electric messages: mark_last marks only the last message of a transaction",
          "[electric]") {
    auto context = context_for(items(), false);
    std::string out;
    REQUIRE(append_change(out, context, ShapeOp::Insert,
                          inserted({value("1"), value("\"a\""), value("true"), kNull}),
                          &kOrigin) == 1);
    ChangeOrigin second = kOrigin;
    second.op_position = 6;
    REQUIRE(append_change(out, context, ShapeOp::Update,
                          updated({value("1"), value("\"a\""), value("true"), kNull},
                                  {value("9"), value("\"a\""), value("true"), kNull}, true),
                          &second) == 2);
    mark_last(out);
    json messages = json::parse("[" + out.substr(1) + "]");
    REQUIRE(messages.size() == 3);
    CHECK_FALSE(messages[0]["headers"].contains("last"));
    CHECK_FALSE(messages[1]["headers"].contains("last"));
    CHECK(messages[2]["headers"]["last"] == true);
    CHECK(messages[2]["headers"]["op_position"] == 7);
}

TEST_CASE("electric messages: a value that does not fit its column type is an error naming the "
          "column",
          "[electric]") {
    auto context = context_for(items(), false);
    std::string out;
    try {
        append_change(out, context, ShapeOp::Insert,
                      inserted({value("1"), value("\"a\""), value("1"), kNull}), &kOrigin);
        FAIL("no error");
    } catch (const Error& e) {
        CHECK_THAT(e.what(), Catch::Contains("\"done\"") && Catch::Contains("\"bool\""));
    }
}

TEST_CASE("electric messages: a context needs every column's type in the catalog", "[electric]") {
    auto table = table_of("public", "t", {{"id", kInt4}, {"shape", 600}}, {0});
    auto shape = std::make_shared<Shape>();
    REQUIRE_FALSE(make_shape(*shape, table, std::nullopt, {}));
    CHECK_THROWS_AS(make_message_context(shape, types(), false), Error);
}

TEST_CASE("electric messages: up-to-date carries global_last_seen_lsn as a decimal string",
          "[electric]") {
    json message = json::parse(up_to_date_message(Lsn(0x16B374D848)));
    CHECK(
        message ==
        json({{"headers", {{"control", "up-to-date"}, {"global_last_seen_lsn", "97500059720"}}}}));
    message = json::parse(up_to_date_message(Lsn(UINT64_MAX)));
    CHECK(message["headers"]["global_last_seen_lsn"] == "18446744073709551615");
}

TEST_CASE("electric messages: snapshot-end carries xmin, xmax and the xip list as strings",
          "[electric]") {
    XidSnapshot snapshot;
    snapshot.xmin = 4294967301; // past the first epoch: xid8 values
    snapshot.xmax = 4294967310;
    snapshot.xip = {4294967301, 4294967305};
    json message = json::parse(snapshot_end_message(snapshot));
    CHECK(message == json({{"headers",
                            {{"control", "snapshot-end"},
                             {"xmin", "4294967301"},
                             {"xmax", "4294967310"},
                             {"xip_list", json::array({"4294967301", "4294967305"})}}}}));

    snapshot.xip.clear();
    message = json::parse(snapshot_end_message(snapshot));
    CHECK(message["headers"]["xip_list"] == json::array());
}

TEST_CASE("electric messages: the must-refetch body is a one-message array", "[electric]") {
    json body = json::parse(kMustRefetchBody);
    CHECK(body == json::parse(R"([{"headers":{"control":"must-refetch"}}])"));
}
