// ValueWriter turns PostgreSQL text output into to_json()'s JSON for each type kind, and parses
// the array, record and hstore literal grammars (quotes, escapes, NULL, nesting, delimiters),
// rejecting malformed text with an error naming the type. No database: the catalog is built here.
#include "change_builders.h"
#include "pg/type_catalog.h"
#include "record/value_json.h"
#include "util/error.h"

#include <catch2/catch.hpp>
#include <string>

using pgsync::pg::CompositeField;
using pgsync::pg::JsonKind;
using pgsync::pg::NumberType;
using pgsync::pg::TypeCatalog;
using pgsync::pg::TypeInfo;
using pgsync::record::ValueOptions;
using pgsync::record::ValueWriter;
using pgsync::record::testing::scalar;

namespace {

enum : uint32_t {
    kBool = 16,
    kInt8 = 20,
    kInt2 = 21,
    kInt2Vector = 22,
    kInt4 = 23,
    kText = 25,
    kJson = 114,
    kFloat8 = 701,
    kBox = 603,
    kInt4Array = 1007,
    kTextArray = 1009,
    kBoxArray = 1020,
    kDate = 1082,
    kTimestamp = 1114,
    kTimestampTz = 1184,
    kNumeric = 1700,
    kJsonb = 3802,
    kAddr = 90001,
    kAddrArray = 90002,
    kOuter = 90003,
    kHstore = 90004,
    kMoney2 = 90005,
    kMoney3 = 90006,
    kMoney2Array = 90007,
    kWithArray = 90008,
    kJsonArray = 90009,
    kTimestampTzArray = 90010,
    kHstoreArray = 90011,
    kEmpty = 90012,
};

TypeInfo array(uint32_t oid, const char* name, uint32_t element, char delimiter = ',') {
    TypeInfo info = scalar(oid, name, JsonKind::Array);
    info.element_oid = element;
    info.element_delimiter = delimiter;
    return info;
}

TypeInfo composite(uint32_t oid, const char* name,
                   std::vector<std::pair<std::string, uint32_t>> fields) {
    TypeInfo info = scalar(oid, name, JsonKind::Composite);
    info.typtype = 'c';
    for (auto& [field_name, type] : fields) {
        CompositeField field;
        field.name = field_name;
        field.type_oid = type;
        info.fields.push_back(std::move(field));
    }
    return info;
}

TypeInfo domain(uint32_t oid, const char* name, uint32_t base) {
    TypeInfo info = scalar(oid, name, JsonKind::Text);
    info.typtype = 'd';
    info.domain_base_oid = base;
    return info;
}

// A catalog in the shape TypeCatalog::load gives, added in an order that forces relinking.
TypeCatalog& catalog() {
    static TypeCatalog types = [] {
        TypeCatalog c;
        c.add(array(kAddrArray, "_addr", kAddr));
        c.add(composite(kOuter, "outer", {{"id", kInt4}, {"home", kAddr}, {"tags", kTextArray}}));
        c.add(composite(kAddr, "addr", {{"street", kText}, {"zip", kText}}));
        c.add(composite(kWithArray, "with \"quotes\"", {{"a\"b", kInt4Array}, {"j", kJson}}));
        c.add(composite(kEmpty, "nothing", {}));
        c.add(domain(kMoney3, "money3", kMoney2));
        c.add(domain(kMoney2, "money2", kNumeric));
        c.add(array(kMoney2Array, "_money2", kMoney2));
        c.add(scalar(kBool, "bool", JsonKind::Bool));
        c.add(scalar(kInt2, "int2", JsonKind::Number, NumberType::Int2));
        c.add(scalar(kInt4, "int4", JsonKind::Number, NumberType::Int4));
        c.add(scalar(kInt8, "int8", JsonKind::Number, NumberType::Int8));
        c.add(scalar(kFloat8, "float8", JsonKind::Number, NumberType::Float8));
        c.add(scalar(kNumeric, "numeric", JsonKind::Number, NumberType::Numeric));
        c.add(scalar(kText, "text", JsonKind::Text));
        c.add(scalar(kBox, "box", JsonKind::Text));
        c.add(scalar(kJson, "json", JsonKind::Json));
        c.add(scalar(kJsonb, "jsonb", JsonKind::Jsonb));
        c.add(scalar(kDate, "date", JsonKind::Date));
        c.add(scalar(kTimestamp, "timestamp", JsonKind::Timestamp));
        c.add(scalar(kTimestampTz, "timestamptz", JsonKind::TimestampTz));
        TypeInfo hstore = scalar(kHstore, "hstore", JsonKind::Hstore);
        hstore.schema = "public";
        c.add(hstore);
        c.add(array(kInt4Array, "_int4", kInt4));
        c.add(array(kTextArray, "_text", kText));
        c.add(array(kBoxArray, "_box", kBox, ';'));
        c.add(array(kJsonArray, "_json", kJson));
        c.add(array(kTimestampTzArray, "_timestamptz", kTimestampTz));
        c.add(array(kHstoreArray, "_hstore", kHstore));
        TypeInfo vector = array(kInt2Vector, "int2vector", kInt2);
        vector.vector_syntax = true;
        c.add(vector);
        return c;
    }();
    return types;
}

std::string to_json(uint32_t type, std::string_view text, ValueOptions options = {}) {
    ValueWriter writer(catalog(), options);
    std::string out;
    writer.append(out, type, text);
    return out;
}

} // namespace

TEST_CASE("numbers stay bare when they are JSON numbers, else become strings", "[value_json]") {
    CHECK(to_json(kInt4, "-2147483648") == "-2147483648");
    CHECK(to_json(kInt8, "9223372036854775807") == "9223372036854775807");
    CHECK(to_json(kNumeric, "0.10") == "0.10");
    CHECK(to_json(kNumeric, "NaN") == "\"NaN\"");
    CHECK(to_json(kNumeric, "-Infinity") == "\"-Infinity\"");
    CHECK(to_json(kFloat8, "-0") == "-0");
    CHECK(to_json(kFloat8, "1e+308") == "1e+308");
    CHECK(to_json(kFloat8, "Infinity") == "\"Infinity\"");
}

TEST_CASE("numbers_as_strings quotes int8 and numeric only, also inside containers",
          "[value_json]") {
    ValueOptions strings{true};
    CHECK(to_json(kInt8, "9007199254740993", strings) == "\"9007199254740993\"");
    CHECK(to_json(kNumeric, "1.50", strings) == "\"1.50\"");
    CHECK(to_json(kMoney3, "1.50", strings) == "\"1.50\"");
    CHECK(to_json(kInt2, "7", strings) == "7");
    CHECK(to_json(kInt4, "7", strings) == "7");
    CHECK(to_json(kFloat8, "0.1", strings) == "0.1");
    CHECK(to_json(kMoney2Array, "{1.00,NULL}", strings) == "[\"1.00\",null]");
}

TEST_CASE("booleans, text and json map as to_json maps them", "[value_json]") {
    CHECK(to_json(kBool, "t") == "true");
    CHECK(to_json(kBool, "f") == "false");
    CHECK_THROWS_AS(to_json(kBool, "yes"), pgsync::Error);
    CHECK(to_json(kText, "a\"b\n") == "\"a\\\"b\\n\"");
    CHECK(to_json(kBox, "(1,1),(0,0)") == "\"(1,1),(0,0)\"");
    CHECK(to_json(kJson, "{\"a\":1,\"a\":2}") == "{\"a\":1,\"a\":2}");
    CHECK(to_json(kJson, " [1, 2] ") == " [1, 2] ");
    CHECK(to_json(kJsonb, "null") == "null");
}

TEST_CASE("dates pass through, timestamps get 'T' and minutes in the offset", "[value_json]") {
    CHECK(to_json(kDate, "2024-02-29") == "\"2024-02-29\"");
    CHECK(to_json(kDate, "0001-01-01 BC") == "\"0001-01-01 BC\"");
    CHECK(to_json(kDate, "infinity") == "\"infinity\"");
    CHECK(to_json(kTimestamp, "2024-01-01 00:00:00") == "\"2024-01-01T00:00:00\"");
    CHECK(to_json(kTimestamp, "294276-12-31 23:59:59.999999") ==
          "\"294276-12-31T23:59:59.999999\"");
    CHECK(to_json(kTimestamp, "-infinity") == "\"-infinity\"");
    CHECK(to_json(kTimestampTz, "2024-01-01 00:00:00+00") == "\"2024-01-01T00:00:00+00:00\"");
    CHECK(to_json(kTimestampTz, "2024-01-01 00:00:00.5-03") == "\"2024-01-01T00:00:00.5-03:00\"");
    CHECK(to_json(kTimestampTz, "2024-01-01 00:00:00+05:30") == "\"2024-01-01T00:00:00+05:30\"");
    CHECK(to_json(kTimestampTz, "1900-01-01 00:00:00+00:19:32") ==
          "\"1900-01-01T00:00:00+00:19:32\"");
    CHECK(to_json(kTimestampTz, "0044-03-15 12:00:00+00 BC") == "\"0044-03-15T12:00:00+00:00 BC\"");
    CHECK(to_json(kTimestampTz, "infinity") == "\"infinity\"");
}

TEST_CASE("array literals: quoting, escapes, NULL versus \"NULL\", empty strings",
          "[value_json][array]") {
    CHECK(
        to_json(kTextArray, R"~({"a,b",c,NULL,"NULL","","x\"y","back\\slash"," sp",null,NuLl})~") ==
        R"~(["a,b","c",null,"NULL","","x\"y","back\\slash"," sp",null,null])~");
    CHECK(to_json(kTextArray, R"~({"{}","a}b"})~") == R"~(["{}","a}b"])~");
    CHECK(to_json(kTextArray, R"~({a\,b,\NULL})~") == R"~(["a,b","NULL"])~");
    CHECK(to_json(kTextArray, "{ a , b }") == R"~(["a","b"])~");
    CHECK(to_json(kTextArray, "{\"\xc3\xa9\t\"}") == "[\"\xc3\xa9\\t\"]");
    CHECK(to_json(kInt4Array, "{}") == "[]");
    CHECK(to_json(kInt4Array, "{1,-2,NULL}") == "[1,-2,null]");
}

TEST_CASE("array literals: nesting, bounds prefix and the ',' delimiter of box",
          "[value_json][array]") {
    CHECK(to_json(kInt4Array, "{{1,2},{3,NULL}}") == "[[1,2],[3,null]]");
    CHECK(to_json(kInt4Array, "{{{1},{2}},{{3},{4}}}") == "[[[1],[2]],[[3],[4]]]");
    CHECK(to_json(kInt4Array, "[0:1]={7,8}") == "[7,8]");
    CHECK(to_json(kInt4Array, "[-3:-2][1:2]={{1,2},{3,4}}") == "[[1,2],[3,4]]");
    CHECK(to_json(kBoxArray, "{(1,1),(0,0);(3,3),(2,2)}") == R"~(["(1,1),(0,0)","(3,3),(2,2)"])~");
    CHECK(to_json(kMoney2Array, "{1.00,2.00}") == "[1.00,2.00]");
    CHECK(to_json(kJsonArray, R"~({"{\"a\": [1]}",null,"\"s\""})~") ==
          R"~([{"a": [1]},null,"s"])~");
    CHECK(to_json(kTimestampTzArray, R"~({"2024-01-01 00:00:00+00",infinity})~") ==
          R"~(["2024-01-01T00:00:00+00:00","infinity"])~");
    CHECK(to_json(kInt2Vector, "1 2 -3") == "[1,2,-3]");
    CHECK(to_json(kInt2Vector, "") == "[]");
}

TEST_CASE("record literals: quotes, doubled quotes, backslashes and NULL fields",
          "[value_json][record]") {
    CHECK(to_json(kAddr, R"~(("1 ""Main"", St",))~") ==
          R"~({"street":"1 \"Main\", St","zip":null})~");
    CHECK(to_json(kAddr, R"~(("",""))~") == R"~({"street":"","zip":""})~");
    CHECK(to_json(kAddr, "(,)") == R"~({"street":null,"zip":null})~");
    CHECK(to_json(kAddr, R"~((a\\b,"c\"d"))~") == R"~({"street":"a\\b","zip":"c\"d"})~");
    CHECK(to_json(kAddr, R"~((a"b,c"d,x))~") == R"~({"street":"ab,cd","zip":"x"})~");
    CHECK(to_json(kAddr, "( x ,y )") == R"~({"street":" x ","zip":"y "})~");
    CHECK(to_json(kEmpty, "()") == "{}");
}

TEST_CASE("record literals nest: composites in composites, arrays in both directions",
          "[value_json][record]") {
    // Texts as record_out prints them (checked against PostgreSQL 15).
    CHECK(to_json(kOuter, R"~((1,"(""""""2 Elm"""""",)","{a,""b c"",NULL}"))~") ==
          R"~({"id":1,"home":{"street":"\"2 Elm\"","zip":null},"tags":["a","b c",null]})~");
    CHECK(to_json(kOuter, R"~((1,"(""2 Elm"",)",{}))~") ==
          R"~({"id":1,"home":{"street":"2 Elm","zip":null},"tags":[]})~");
    CHECK(to_json(kOuter, "(1,,)") == R"~({"id":1,"home":null,"tags":null})~");
    CHECK(
        to_json(kAddrArray, R"~({"(a,b)",NULL,"(\"x,y\",)","(\"a\\\\b\"\"\",\"\")"})~") ==
        R"~([{"street":"a","zip":"b"},null,{"street":"x,y","zip":null},{"street":"a\\b\"","zip":""}])~");
    CHECK(to_json(kWithArray, R"~(("{1,2}","{""k"": 1}"))~") == R"~({"a\"b":[1,2],"j":{"k": 1}})~");
}

TEST_CASE("hstore text maps as hstore_to_json, with its spaces", "[value_json][hstore]") {
    CHECK(to_json(kHstore, R"~("a"=>"1", "b c"=>NULL)~") == R"~({"a": "1", "b c": null})~");
    CHECK(to_json(kHstore, "") == "{}");
    CHECK(to_json(kHstore, R"~("q\"k"=>"back\\slash", "n"=>"NULL")~") ==
          R"~({"q\"k": "back\\slash", "n": "NULL"})~");
    CHECK(to_json(kHstore, "a=>1,b=>null") == R"~({"a": "1", "b": null})~");
    CHECK(to_json(kHstoreArray, R"~({"\"a\"=>\"1\"",NULL})~") == R"~([{"a": "1"},null])~");
}

TEST_CASE("domains resolve to their base type's mapping, recursively", "[value_json]") {
    const TypeInfo& money3 = catalog().get(kMoney3);
    CHECK(money3.is_domain());
    CHECK(money3.name == "money3");
    CHECK(money3.kind == JsonKind::Number);
    CHECK(money3.resolved == &catalog().get(kNumeric));
    ValueWriter writer(catalog());
    CHECK(&writer.resolve(kMoney3) == &catalog().get(kNumeric));
    CHECK(to_json(kMoney3, "1.50") == "1.50");
}

TEST_CASE("malformed array text throws an error naming the type", "[value_json][array]") {
    for (const char* bad : {"", "1,2", "{1,2", "{1,2}}", "{1,,2}", "{,1}", "{1,}", "{\"a}",
                            "{{1},2}", "{1,{2}}", "{1}x", "[0:1]{1,2}", "[0:1={1}", "[a]={1}",
                            "{a\"b\"}", "{a\\", "{{{{{{{1}}}}}}}", "{1 2"}) {
        INFO(bad);
        try {
            to_json(kInt4Array, bad);
            FAIL("no error");
        } catch (const pgsync::Error& e) {
            CHECK_THAT(e.what(), Catch::Contains("malformed array literal for type \"_int4\""));
        }
    }
}

TEST_CASE("malformed record and hstore text throws an error naming the type", "[value_json]") {
    for (const char* bad : {"", "a,b", "(a,b", "(a)", "(a,b,c)", "(a,b)x", "(\"a,b)", "(a\\"}) {
        INFO(bad);
        try {
            to_json(kAddr, bad);
            FAIL("no error");
        } catch (const pgsync::Error& e) {
            CHECK_THAT(e.what(), Catch::Contains("malformed record literal for type \"addr\""));
        }
    }
    for (const char* bad : {"a", "a=>", "\"a\"=>\"b", "a=>b c=>d", "a>b"})
        CHECK_THROWS_WITH(to_json(kHstore, bad),
                          Catch::Contains("malformed hstore literal for type \"hstore\""));
}

TEST_CASE("types that are not loaded are named in the error", "[value_json]") {
    CHECK_THROWS_WITH(catalog().get(424242), Catch::Contains("OID 424242"));
    TypeCatalog partial;
    partial.add(array(1007, "_int4", 23));
    partial.add(composite(90001, "addr", {{"street", 25}}));
    partial.add(domain(90002, "dom", 1700));
    ValueWriter writer(partial);
    std::string out;
    CHECK_THROWS_WITH(writer.append(out, 1007, "{1}"),
                      Catch::Contains("element type (OID 23) of type \"_int4\""));
    CHECK_THROWS_WITH(writer.append(out, 90001, "(x)"),
                      Catch::Contains("field \"street\" of type \"addr\""));
    CHECK_THROWS_WITH(writer.append(out, 90002, "1"), Catch::Contains("domain \"dom\""));
    partial.add(scalar(23, "int4", JsonKind::Number, NumberType::Int4));
    out.clear();
    writer.append(out, 1007, "{1}");
    CHECK(out == "[1]");
}

TEST_CASE("replacing a type with add() keeps references valid and updates them", "[value_json]") {
    TypeCatalog types;
    types.add(scalar(25, "text", JsonKind::Text));
    types.add(composite(90001, "addr", {{"a", 25}}));
    const TypeInfo& addr = types.get(90001);
    types.add(composite(90001, "addr", {{"a", 25}, {"b", 25}})); // ALTER TYPE addr ADD ATTRIBUTE
    CHECK(&types.get(90001) == &addr);
    ValueWriter writer(types);
    std::string out;
    writer.append(out, addr, "(x,y)");
    CHECK(out == R"~({"a":"x","b":"y"})~");
}
