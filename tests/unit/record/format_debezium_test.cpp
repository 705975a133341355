// The debezium formatter writes Debezium's PostgreSQL change event values (JsonConverter, schemas
// off): field order, source block, sequence, before images per replica identity, unchanged TOAST
// placeholder, truncate and message events; row values use pgsync's mapping.
#include "change_builders.h"
#include "pg/type_catalog.h"
#include "record/formatter.h"

#include <catch2/catch.hpp>
#include <chrono>
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
        c.add(scalar(16, "bool", JsonKind::Bool));
        c.add(scalar(23, "int4", JsonKind::Number, NumberType::Int4));
        c.add(scalar(25, "text", JsonKind::Text));
        c.add(scalar(114, "json", JsonKind::Json));
        c.add(scalar(1184, "timestamptz", JsonKind::TimestampTz));
        c.add(scalar(1700, "numeric", JsonKind::Number, NumberType::Numeric));
        TypeInfo ints = scalar(1007, "_int4", JsonKind::Array);
        ints.element_oid = 23;
        c.add(ints);
        return c;
    }();
    return types;
}

struct Col {
    const char* name;
    uint32_t oid;
    bool key = false;
};

RelationInfo relation(const char* schema, const char* name, char identity, std::vector<Col> cols,
                      const ValueWriter& writer) {
    RelationInfo rel;
    rel.schema = schema;
    rel.name = name;
    rel.replica_identity = identity;
    for (const Col& c : cols) {
        ColumnInfo column;
        column.name = c.name;
        column.type_oid = c.oid;
        column.key = c.key;
        column.type = &writer.resolve(c.oid);
        rel.columns.push_back(column);
    }
    return rel;
}

// 2026-11-21 00:03:09.668017 UTC in microseconds since 2000-01-01: 1795219389668 ms since 1970.
constexpr int64_t kTime = 848534589668017;

// The source block up to "sequence"'s opening bracket for kTime, server "srv", database "db1".
const std::string kSourceHead =
    "{\"version\":\"pgsync-" PGSYNC_VERSION "\",\"connector\":\"postgresql\","
    "\"name\":\"srv\",\"ts_ms\":1795219389668,\"snapshot\":\"false\","
    "\"db\":\"db1\",\"sequence\":\"[";

struct Fixture {
    ValueWriter values{catalog()};
    FormatOptions options = [] {
        FormatOptions o;
        o.source_name = "srv";
        o.database = "db1";
        return o;
    }();
    std::unique_ptr<Formatter> formatter = make_debezium_formatter(values, options);
    RelationInfo customers = relation(
        "public", "customers", 'd',
        {{"id", 23, true}, {"name", 25}, {"bio", 25}, {"price", 1700}, {"seen", 1184}}, values);
};

} // namespace

TEST_CASE("debezium: an insert is a create event with before null and pgsync's value mapping",
          "[record][debezium]") {
    Fixture f;
    TxnInfo t = txn(555, "0/16B3748", "0/16B3778", kTime);
    std::vector<Value> values = {text("1"), text("Anne \"A\"\n"), kNull, text("NaN"),
                                 text("2024-01-02 01:04:05.5+00")};
    std::string out;
    f.formatter->begin(out, t);
    f.formatter->relation(out, t, f.customers);
    f.formatter->row(out, t, row(RowOp::Insert, f.customers, "0/16B3718", values));
    f.formatter->commit(out, t);
    CHECK(out == "{\"before\":null,\"after\":{\"id\":1,\"name\":\"Anne \\\"A\\\"\\n\",\"bio\":null,"
                 "\"price\":\"NaN\",\"seen\":\"2024-01-02T01:04:05.5+00:00\"},\"source\":" +
                     kSourceHead +
                     "null,\\\"23803672\\\"]\",\"schema\":\"public\",\"table\":\"customers\","
                     "\"txId\":555,\"lsn\":23803672,\"xmin\":null},\"op\":\"c\","
                     "\"ts_ms\":1795219389668,\"transaction\":null}\n");
}

TEST_CASE("debezium: before follows the old image the server sent", "[record][debezium]") {
    Fixture f;
    TxnInfo t = txn(556, "0/2000", "0/2030", kTime);
    std::string out;
    std::string tail = "\\\"]\",\"schema\":\"public\",\"table\":\"customers\",\"txId\":556,";
    SECTION("no old image: before is null, an unchanged TOASTed value is Debezium's placeholder") {
        std::vector<Value> values = {text("1"), text("B"), kToast, text("12.50"), kNull};
        f.formatter->row(out, t, row(RowOp::Update, f.customers, "0/1F00", values));
        CHECK(out == "{\"before\":null,\"after\":{\"id\":1,\"name\":\"B\","
                     "\"bio\":\"__debezium_unavailable_value\",\"price\":12.50,\"seen\":null},"
                     "\"source\":" +
                         kSourceHead + "null,\\\"7936" + tail +
                         "\"lsn\":7936,\"xmin\":null},\"op\":\"u\",\"ts_ms\":1795219389668,"
                         "\"transaction\":null}\n");
    }
    SECTION("key image: before holds the key columns only") {
        std::vector<Value> old_values = {text("1"), kNull, kNull, kNull, kNull};
        std::vector<Value> values = {text("2"), text("B"), kToast, text("1"), kNull};
        f.formatter->row(
            out, t, row(RowOp::Update, f.customers, "0/1F00", values, OldKind::Key, old_values));
        f.formatter->row(out, t,
                         row(RowOp::Delete, f.customers, "0/1F80", {}, OldKind::Key, old_values));
        CHECK(out == "{\"before\":{\"id\":1},\"after\":{\"id\":2,\"name\":\"B\","
                     "\"bio\":\"__debezium_unavailable_value\",\"price\":1,\"seen\":null},"
                     "\"source\":" +
                         kSourceHead + "null,\\\"7936" + tail +
                         "\"lsn\":7936,\"xmin\":null},\"op\":\"u\",\"ts_ms\":1795219389668,"
                         "\"transaction\":null}\n"
                         "{\"before\":{\"id\":1},\"after\":null,\"source\":" +
                         kSourceHead + "null,\\\"8064" + tail +
                         "\"lsn\":8064,\"xmin\":null},\"op\":\"d\",\"ts_ms\":1795219389668,"
                         "\"transaction\":null}\n");
    }
    SECTION("full image: before is the whole old row, which also supplies unchanged TOAST") {
        RelationInfo full = f.customers;
        full.replica_identity = 'f';
        for (ColumnInfo& column : full.columns)
            column.key = true;
        std::vector<Value> old_values = {text("1"), text("A"), text("long"), kNull, kNull};
        std::vector<Value> values = {text("1"), text("B"), kToast, kNull, kNull};
        f.formatter->row(out, t,
                         row(RowOp::Update, full, "0/1F00", values, OldKind::Full, old_values));
        CHECK(out == "{\"before\":{\"id\":1,\"name\":\"A\",\"bio\":\"long\",\"price\":null,"
                     "\"seen\":null},\"after\":{\"id\":1,\"name\":\"B\",\"bio\":\"long\","
                     "\"price\":null,\"seen\":null},\"source\":" +
                         kSourceHead + "null,\\\"7936" + tail +
                         "\"lsn\":7936,\"xmin\":null},\"op\":\"u\",\"ts_ms\":1795219389668,"
                         "\"transaction\":null}\n");
    }
}

TEST_CASE("debezium: sequence starts with the previous transaction's commit end LSN",
          "[record][debezium]") {
    Fixture f;
    TxnInfo first = txn(700, "0/3000", "0/3030", kTime);
    TxnInfo second = txn(701, "0/4000", "0/4030", kTime + 1000);
    std::vector<Value> values = {text("1"), kNull, kNull, kNull, kNull};
    std::string out;
    f.formatter->begin(out, first);
    f.formatter->row(out, first, row(RowOp::Insert, f.customers, "0/2F00", values));
    f.formatter->commit(out, first);
    out.clear();
    f.formatter->begin(out, second);
    f.formatter->row(out, second, row(RowOp::Insert, f.customers, "0/3F00", values));
    f.formatter->commit(out, second);
    CHECK(out ==
          "{\"before\":null,\"after\":{\"id\":1,\"name\":null,\"bio\":null,\"price\":null,"
          "\"seen\":null},\"source\":{\"version\":\"pgsync-" PGSYNC_VERSION "\","
          "\"connector\":\"postgresql\",\"name\":\"srv\",\"ts_ms\":1795219389669,"
          "\"snapshot\":\"false\",\"db\":\"db1\",\"sequence\":\"[\\\"12336\\\",\\\"16128\\\"]\","
          "\"schema\":\"public\",\"table\":\"customers\",\"txId\":701,\"lsn\":16128,"
          "\"xmin\":null},\"op\":\"c\",\"ts_ms\":1795219389669,\"transaction\":null}\n");
}

TEST_CASE("debezium: a truncate is one t event per table with before and after null",
          "[record][debezium]") {
    Fixture f;
    RelationInfo other = relation("s\"q", "o\\t", 'd', {{"a", 23, true}}, f.values);
    TruncateChange change;
    change.lsn = lsn("0/5000");
    change.relations = {&f.customers, &other};
    TxnInfo t = txn(800, "0/5100", "0/5130", kTime);
    std::string out;
    f.formatter->truncate(out, t, change);
    std::string source_tail = "null,\\\"20480\\\"]\",";
    CHECK(out == "{\"before\":null,\"after\":null,\"source\":" + kSourceHead + source_tail +
                     "\"schema\":\"public\",\"table\":\"customers\",\"txId\":800,\"lsn\":20480,"
                     "\"xmin\":null},\"op\":\"t\",\"ts_ms\":1795219389668,\"transaction\":null}\n"
                     "{\"before\":null,\"after\":null,\"source\":" +
                     kSourceHead + source_tail +
                     "\"schema\":\"s\\\"q\",\"table\":\"o\\\\t\",\"txId\":800,\"lsn\":20480,"
                     "\"xmin\":null},\"op\":\"t\",\"ts_ms\":1795219389668,\"transaction\":null}\n");
}

TEST_CASE("debezium: messages are m events with the content in base64", "[record][debezium]") {
    Fixture f;
    TxnInfo t = txn(900, "0/6100", "0/6130", kTime);
    MessageChange in_txn;
    in_txn.lsn = lsn("0/6000");
    in_txn.transactional = true;
    in_txn.prefix = "foo";
    in_txn.content = "bar";
    std::string out;
    f.formatter->message(out, &t, in_txn);
    CHECK(out == "{\"op\":\"m\",\"ts_ms\":1795219389668,\"source\":" + kSourceHead +
                     "null,\\\"24576\\\"]\",\"schema\":\"\",\"table\":\"\",\"txId\":900,"
                     "\"lsn\":24576,\"xmin\":null},\"message\":{\"prefix\":\"foo\","
                     "\"content\":\"YmFy\"}}\n");

    // Without a transaction there is no commit time: both ts_ms are the clock's, as in Debezium.
    f.formatter->commit(out, t);
    out.clear();
    MessageChange outside;
    outside.lsn = lsn("0/7000");
    outside.prefix = "p";
    outside.content = std::string_view("\xff\x00", 2);
    using namespace std::chrono;
    auto ms = [] {
        return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
    };
    int64_t before = ms();
    f.formatter->message(out, nullptr, outside);
    int64_t after = ms();
    const std::string head = "{\"op\":\"m\",\"ts_ms\":";
    REQUIRE(out.starts_with(head));
    std::string stamp = out.substr(head.size(), out.find(',', head.size()) - head.size());
    int64_t stamp_ms = std::stoll(stamp);
    CHECK(stamp_ms >= before);
    CHECK(stamp_ms <= after);
    CHECK(out == head + stamp +
                     ",\"source\":{\"version\":\"pgsync-" PGSYNC_VERSION "\","
                     "\"connector\":\"postgresql\",\"name\":\"srv\",\"ts_ms\":" +
                     stamp +
                     ",\"snapshot\":\"false\",\"db\":\"db1\",\"sequence\":"
                     "\"[\\\"24880\\\",\\\"28672\\\"]\",\"schema\":\"\",\"table\":\"\","
                     "\"txId\":null,\"lsn\":28672,\"xmin\":null},\"message\":{\"prefix\":\"p\","
                     "\"content\":\"/wA=\"}}\n");
}
