// Ordered windows: after every transaction, a client that applied the window's frames holds
// exactly SELECT … WHERE … ORDER BY … LIMIT n of a model table, in order, whatever mix of
// inserts, updates in and out of the filter, ties and deletes came; refills are asked for only
// when the held rows no longer tell; and the index check names the index to create.
#include "filter/where_parser.h"
#include "record/record_scan.h"
#include "serve/shapes/order_by.h"
#include "serve/windows/window.h"
#include "serve/windows/window_order.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

using namespace pgsync;
using namespace pgsync::serve;
using nlohmann::json;

namespace {

// messages(id int primary key, grp int, ts int, body text), REPLICA IDENTITY FULL.
std::shared_ptr<TableSchema> messages(std::vector<TableIndex> indexes) {
    auto t = std::make_shared<TableSchema>();
    t->schema = "public";
    t->name = "messages";
    t->schema_json = "\"public\"";
    t->name_json = "\"messages\"";
    t->replica_identity = 'f';
    t->columns = {{"id", 23, true}, {"grp", 23, false}, {"ts", 23, false}, {"body", 25, false}};
    t->declared_type_oids = {23, 23, 23, 25};
    t->json_names = {"\"id\"", "\"grp\"", "\"ts\"", "\"body\""};
    t->key_columns = {0};
    t->attnums = {1, 2, 3, 4};
    t->indexes = std::move(indexes);
    return t;
}

TableIndex index_of(std::vector<int> columns, std::vector<char> descending,
                    std::vector<char> c_collation = {}) {
    TableIndex index;
    index.name = "ix";
    index.columns = columns;
    index.descending = descending;
    index.nulls_first = descending; // PostgreSQL's default: NULLS FIRST with DESC
    index.c_collation = c_collation.empty() ? std::vector<char>(columns.size(), 0) : c_collation;
    return index;
}

std::shared_ptr<const Shape> shape_of(std::shared_ptr<TableSchema> table,
                                      const std::string& where) {
    auto parsed = filter::parse_where(where);
    REQUIRE(parsed.ok());
    auto bound = filter::bind(*parsed.expr, table->columns, {});
    REQUIRE(bound.ok());
    auto shape = std::make_shared<Shape>();
    REQUIRE_FALSE(make_shape(*shape, table, std::move(bound.filter), {}));
    return shape;
}

std::optional<WindowOrderProblem> order_of(const TableSchema& table, const std::string& text,
                                           std::vector<int> equalities, WindowOrder& out) {
    std::vector<OrderTerm> terms;
    std::string error;
    REQUIRE(parse_order_by(text, table, terms, error));
    return make_window_order(table, terms, equalities, out);
}

struct ModelRow {
    int grp, ts;
    std::string body;
};

std::string row_json(int id, const ModelRow& r) {
    return "{\"id\":" + std::to_string(id) + ",\"grp\":" + std::to_string(r.grp) +
           ",\"ts\":" + std::to_string(r.ts) + ",\"body\":" + json(r.body).dump() + "}";
}

std::string record_line(const std::string& op, const std::string& rest) {
    return "{\"op\":\"" + op +
           R"(","xid":5,"commit_lsn":"0/10","lsn":"0/8","seq":0,"schema":"public","table":"messages")" +
           rest + ",\"identity\":\"full\"}";
}

// The rows a client holds, in order, by applying frames as pgsync-serve(1) says.
struct Client {
    std::vector<json> rows; // {"key":…, "new":…}
    long find(const json& key) const {
        for (size_t i = 0; i < rows.size(); ++i)
            if (rows[i]["key"] == key) return long(i);
        return -1;
    }
    void apply(const std::string& tail) {
        json frame = json::parse("{" + tail.substr(1));
        const long at = find(frame["key"]);
        if (at >= 0) rows.erase(rows.begin() + at);
        if (frame["op"] == "delete") {
            CHECK(at >= 0); // a window never deletes a row the client was not sent
            return;
        }
        auto position = rows.end();
        if (!frame["before"].is_null()) {
            const long before = find(frame["before"]);
            REQUIRE(before >= 0); // the row it names is already where it belongs
            position = rows.begin() + before;
        }
        rows.insert(position, json{{"key", frame["key"]}, {"new", frame["new"]}});
    }
    std::vector<int> ids() const {
        std::vector<int> out;
        for (const auto& row : rows)
            out.push_back(row["key"]["id"].get<int>());
        return out;
    }
};

// SELECT id … WHERE grp = 1 ORDER BY ts DESC, id LIMIT n of the model.
std::vector<int> expected(const std::map<int, ModelRow>& model, size_t n) {
    std::vector<std::pair<int, int>> rows; // (ts, id)
    for (const auto& [id, row] : model)
        if (row.grp == 1) rows.emplace_back(row.ts, id);
    std::sort(rows.begin(), rows.end(), [](auto a, auto b) {
        return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    std::vector<int> out;
    for (size_t i = 0; i < rows.size() && i < n; ++i)
        out.push_back(rows[i].second);
    return out;
}

std::vector<OwnedRow> query(const std::map<int, ModelRow>& model, size_t n) {
    std::vector<OwnedRow> out;
    for (int id : expected(model, n)) {
        const ModelRow& r = model.at(id);
        out.push_back(
            {std::to_string(id), std::to_string(r.grp), std::to_string(r.ts), json(r.body).dump()});
    }
    return out;
}

} // namespace

TEST_CASE("window: a client applying its frames holds the query's result after every "
          "transaction, against a random model",
          "[serve][window]") {
    auto table = messages({index_of({1, 2}, {0, 1})});
    auto shape = shape_of(table, "grp = 1");
    WindowOrder order;
    REQUIRE_FALSE(order_of(*table, "ts desc", shape->filter->equality_columns(), order));
    const size_t limit = 5;
    Window window(shape, order, limit);
    std::map<int, ModelRow> model;
    std::mt19937 random(GENERATE(1u, 2u, 3u, 4u, 5u));
    Client client, late;
    size_t fills = 0, transactions = 0;
    auto settle = [&] {
        if (window.needs_fill()) {
            ++fills;
            window.fill(query(model, window.fill_rows()));
        }
        REQUIRE_FALSE(window.needs_fill());
        for (const std::string& tail : window.take_changes())
            client.apply(tail);
        REQUIRE(client.ids() == expected(model, limit));
        for (const auto& row : client.rows) // the whole row, as it is now
            CHECK(row["new"] ==
                  json::parse(row_json(row["key"]["id"], model.at(row["key"]["id"]))));
    };
    settle();
    for (int step = 0; step < 400; ++step) {
        const int ops = 1 + int(random() % 4);
        for (int op = 0; op < ops; ++op) {
            const int id = 1 + int(random() % 30);
            ModelRow next{1 + int(random() % 2), int(random() % 12),
                          "m" + std::to_string(random() % 5)};
            auto it = model.find(id);
            std::string line;
            if (it == model.end()) {
                line = record_line("insert", ",\"new\":" + row_json(id, next));
                model[id] = next;
            } else if (random() % 3 == 0) {
                line = record_line("delete", ",\"old\":" + row_json(id, it->second));
                model.erase(it);
            } else {
                line = record_line("update", ",\"new\":" + row_json(id, next) +
                                                 ",\"old\":" + row_json(id, it->second));
                it->second = next;
            }
            record::ScannedRecord scanned;
            REQUIRE(record::scan_record(line, scanned));
            RowImages row;
            REQUIRE(read_row(*table, scanned, row));
            window.apply(classify(*shape, row), row, row_keys(*table, row));
        }
        settle();
        ++transactions;
    }
    // A subscriber that joins now gets the same rows from the snapshot.
    for (const std::string& tail : window.snapshot())
        late.apply(tail);
    CHECK(late.ids() == client.ids());
    // The margin absorbs most departures: far fewer refills than transactions.
    CHECK(fills < transactions / 4);
}

TEST_CASE("window: a row past the last one held is not placed, and a refill brings it",
          "[serve][window]") {
    auto table = messages({index_of({2}, {0})});
    auto shape = shape_of(table, "grp = 1");
    WindowOrder order;
    REQUIRE_FALSE(order_of(*table, "ts", {}, order));
    Window window(shape, order, 2); // holds 2 + 10 margin; asks for 13
    std::map<int, ModelRow> model;
    for (int id = 1; id <= 20; ++id)
        model[id] = {1, id, "b"};
    std::vector<OwnedRow> rows;
    for (int id = 1; id <= 13; ++id)
        rows.push_back({std::to_string(id), "1", std::to_string(id), "\"b\""});
    window.fill(std::move(rows));
    CHECK(window.held() == 12);
    CHECK_FALSE(window.needs_fill());
    for (const auto& tail : window.take_changes())
        (void)tail;
    // Delete ten rows: two are still held, no query yet.
    for (int id = 1; id <= 10; ++id) {
        record::ScannedRecord scanned;
        std::string line = record_line("delete", ",\"old\":" + row_json(id, model[id]));
        REQUIRE(record::scan_record(line, scanned));
        RowImages row;
        REQUIRE(read_row(*table, scanned, row));
        window.apply(classify(*shape, row), row, row_keys(*table, row));
    }
    CHECK(window.held() == 2);
    CHECK_FALSE(window.needs_fill());
    // One more leaves fewer than the limit, with rows past the bound: only the database knows.
    record::ScannedRecord scanned;
    std::string line = record_line("delete", ",\"old\":" + row_json(11, model[11]));
    REQUIRE(record::scan_record(line, scanned));
    RowImages row;
    REQUIRE(read_row(*table, scanned, row));
    window.apply(classify(*shape, row), row, row_keys(*table, row));
    CHECK(window.needs_fill());
}

TEST_CASE("window: the order needs an index after the filter's equalities, and says which",
          "[serve][window]") {
    WindowOrder order;
    auto bare = messages({});
    auto problem = order_of(*bare, "ts desc", {1}, order);
    REQUIRE(problem);
    CHECK(problem->message ==
          "no index of table \"public.messages\" serves the order \"ts desc\" after the filter's "
          "equalities, so every refill would read the table");
    CHECK(problem->hint ==
          "Create an index that serves it: CREATE INDEX ON public.messages (grp, ts DESC);");
    // Scanned backwards, an ascending index serves a descending order.
    CHECK_FALSE(order_of(*messages({index_of({1, 2}, {0, 0})}), "ts desc", {1}, order));
    CHECK(order.sql == "\"ts\" DESC NULLS FIRST, \"id\" ASC NULLS LAST");
    // Not when the directions are mixed against the index.
    CHECK(order_of(*messages({index_of({2, 0}, {0, 0})}), "ts desc, id asc", {}, order));
    // Without the equality, an index that leads with grp does not serve it.
    CHECK(order_of(*messages({index_of({1, 2}, {0, 0})}), "ts", {}, order));
    // Text sorts bytewise, so its index must too.
    CHECK(order_of(*messages({index_of({3}, {0})}), "body", {}, order)->hint ==
          "Create an index that serves it: CREATE INDEX ON public.messages (body COLLATE \"C\");");
    CHECK_FALSE(order_of(*messages({index_of({3}, {0}, {1})}), "body", {}, order));
    CHECK(order.sql == "\"body\" COLLATE \"C\" ASC NULLS LAST, \"id\" ASC NULLS LAST");
}
