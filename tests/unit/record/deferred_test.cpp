// Deferred rendering (streamed transactions rendered as their chunks arrive): changes rendered
// before the commit and expanded at it give the very bytes that rendering them at the commit gives,
// in every format that supports it; seq is numbered over what is expanded, so changes dropped with
// an aborted subtransaction leave no gap.
#include "change_builders.h"
#include "pg/type_catalog.h"
#include "record/formatter.h"
#include "record/json_text.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using namespace pgsync;
using namespace pgsync::record;
using namespace pgsync::record::testing;

namespace {

const pg::TypeCatalog& catalog() {
    static const pg::TypeCatalog types = [] {
        pg::TypeCatalog c;
        c.add(scalar(23, "int4", pg::JsonKind::Number, pg::NumberType::Int4));
        c.add(scalar(25, "text", pg::JsonKind::Text));
        return c;
    }();
    return types;
}

RelationInfo table(const ValueWriter& values) {
    RelationInfo rel;
    rel.oid = 16384;
    rel.schema = "public";
    rel.name = "t";
    rel.json_names = "\"schema\":\"public\",\"table\":\"t\"";
    for (auto [name, oid, key] : {std::tuple{"id", 23u, true}, std::tuple{"v", 25u, false}}) {
        ColumnInfo column;
        column.name = name;
        column.type_oid = oid;
        column.type_name = oid == 23 ? "integer" : "text";
        column.key = key;
        column.type = &values.resolve(oid);
        append_json_string(column.json_key, column.name);
        column.json_key += ':';
        rel.columns.push_back(column);
    }
    return rel;
}

// The transaction's changes, each rendered by `render` with its 0-based seq.
template <typename Render> void changes(const RelationInfo& rel, Render&& render) {
    const std::vector<Value> a{text("1"), text("caf\xc3\xa9 \"quoted\"")}, b{text("2"), kNull};
    RowChange insert = row(RowOp::Insert, rel, "0/1000", a);
    RowChange update = row(RowOp::Update, rel, "0/1100", b, OldKind::Key, a);
    RowChange remove = row(RowOp::Delete, rel, "0/1200", {}, OldKind::Full, b);
    TruncateChange truncate{lsn("0/1300"), 0, {&rel}, true, false};
    MessageChange message{lsn("0/1400"), 0, true, "prefix", "content"};
    render([&](Formatter& f, std::string& out, const TxnInfo& txn, uint32_t seq) {
        insert.seq = seq;
        f.row(out, txn, insert);
    });
    render([&](Formatter& f, std::string& out, const TxnInfo& txn, uint32_t seq) {
        update.seq = seq;
        f.row(out, txn, update);
    });
    render([&](Formatter& f, std::string& out, const TxnInfo& txn, uint32_t seq) {
        remove.seq = seq;
        f.row(out, txn, remove);
    });
    render([&](Formatter& f, std::string& out, const TxnInfo& txn, uint32_t seq) {
        truncate.seq = seq;
        f.truncate(out, txn, truncate);
    });
    render([&](Formatter& f, std::string& out, const TxnInfo& txn, uint32_t seq) {
        message.seq = seq;
        f.message(out, &txn, message);
    });
}

} // namespace

TEST_CASE("deferred: rendered before the commit and expanded at it, the bytes are the same",
          "[record][deferred]") {
    for (const char* format : {"native", "wal2json"}) {
        INFO(format);
        ValueWriter values{catalog()};
        const RelationInfo rel = table(values);
        const TxnInfo committed = txn(777, "0/2000", "0/2030", 848534589668017);

        auto direct = make_formatter(format, values);
        REQUIRE(direct->supports_deferred());
        std::string expected;
        direct->begin(expected, committed);
        uint32_t seq = 0;
        changes(rel, [&](auto&& render) { render(*direct, expected, committed, seq++); });
        direct->commit(expected, committed);

        auto deferred = make_formatter(format, values);
        TxnInfo pending;
        pending.xid = 777;
        pending.deferred = true;
        std::vector<std::string> kept;
        changes(rel, [&](auto&& render) {
            kept.emplace_back();
            render(*deferred, kept.back(), pending, 0);
        });
        std::string got;
        deferred->begin(got, committed);
        seq = 0;
        for (const std::string& bytes : kept)
            deferred->expand(got, bytes, committed, seq);
        deferred->commit(got, committed);
        CHECK(got == expected);
        CHECK(got.find('\0') == std::string::npos);
    }
}

TEST_CASE("deferred: seq counts only the changes expanded, as after a subtransaction's abort",
          "[record][deferred]") {
    ValueWriter values{catalog()};
    const RelationInfo rel = table(values);
    auto f = make_formatter("native", values);
    TxnInfo pending;
    pending.xid = 9;
    pending.deferred = true;
    std::vector<std::string> kept;
    changes(rel, [&](auto&& render) {
        kept.emplace_back();
        render(*f, kept.back(), pending, 0);
    });
    const TxnInfo committed = txn(9, "0/3000", "0/3030", 0);
    std::string out;
    uint32_t seq = 0;
    f->expand(out, kept[0], committed, seq);
    f->expand(out, kept[2], committed, seq); // kept[1] was dropped
    CHECK(seq == 2);
    CHECK(out.find("\"lsn\":\"0/1000\",\"seq\":0") != std::string::npos);
    CHECK(out.find("\"lsn\":\"0/1200\",\"seq\":1") != std::string::npos);
    CHECK(out.find("\"xid\":9,\"commit_lsn\":\"0/3000\"") != std::string::npos);
}

TEST_CASE("deferred: debezium does not defer, so its changes are rendered at the commit",
          "[record][deferred]") {
    ValueWriter values{catalog()};
    CHECK_FALSE(make_formatter("debezium", values)->supports_deferred());
}
