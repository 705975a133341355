// append_value_text undoes record::ValueWriter: PostgreSQL's text of a value, mapped to JSON and
// back, comes out byte for byte as it went in, for every JSON kind and the array, record and
// hstore literals; tokens that do not fit the type are refused. No database: the catalog is built
// here.
#include "pg/type_catalog.h"
#include "record/value_json.h"
#include "serve/electric/value_text.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using pgsync::pg::CompositeField;
using pgsync::pg::JsonKind;
using pgsync::pg::NumberType;
using pgsync::pg::TypeCatalog;
using pgsync::pg::TypeInfo;
using pgsync::record::ValueOptions;
using pgsync::record::ValueWriter;
using pgsync::serve::electric::append_value_text;

namespace {

enum : uint32_t {
    kBool = 16,
    kBytea = 17,
    kInt8 = 20,
    kInt2 = 21,
    kInt2Vector = 22,
    kInt4 = 23,
    kText = 25,
    kJson = 114,
    kJsonArray = 199,
    kBox = 603,
    kFloat4 = 700,
    kFloat8 = 701,
    kBoolArray = 1000,
    kInt2VectorArray = 1006,
    kInt4Array = 1007,
    kTextArray = 1009,
    kBoxArray = 1020,
    kFloat8Array = 1022,
    kBpchar = 1042,
    kDate = 1082,
    kTime = 1083,
    kTimestamp = 1114,
    kTimestampTz = 1184,
    kTimestampTzArray = 1185,
    kInterval = 1186,
    kNumericArray = 1231,
    kTimeTz = 1266,
    kNumeric = 1700,
    kUuid = 2950,
    kJsonb = 3802,
    kJsonbArray = 3807,
    kAddr = 90001,
    kAddrArray = 90002,
    kOuter = 90003,
    kHstore = 90004,
    kPosInt = 90005,
    kPosIntArray = 90006,
    kEmpty = 90007,
    kMood = 90008,
    kOrphanDomain = 90009,
};

TypeInfo scalar(uint32_t oid, const char* name, JsonKind kind,
                NumberType number = NumberType::None) {
    TypeInfo info;
    info.oid = oid;
    info.schema = "pg_catalog";
    info.name = name;
    info.kind = kind;
    info.number = number;
    return info;
}

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

const TypeCatalog& catalog() {
    static TypeCatalog types = [] {
        TypeCatalog c;
        c.add(scalar(kBool, "bool", JsonKind::Bool));
        c.add(scalar(kBytea, "bytea", JsonKind::Text));
        c.add(scalar(kInt2, "int2", JsonKind::Number, NumberType::Int2));
        c.add(scalar(kInt4, "int4", JsonKind::Number, NumberType::Int4));
        c.add(scalar(kInt8, "int8", JsonKind::Number, NumberType::Int8));
        c.add(scalar(kFloat4, "float4", JsonKind::Number, NumberType::Float4));
        c.add(scalar(kFloat8, "float8", JsonKind::Number, NumberType::Float8));
        c.add(scalar(kNumeric, "numeric", JsonKind::Number, NumberType::Numeric));
        c.add(scalar(kText, "text", JsonKind::Text));
        c.add(scalar(kBpchar, "bpchar", JsonKind::Text));
        c.add(scalar(kUuid, "uuid", JsonKind::Text));
        c.add(scalar(kBox, "box", JsonKind::Text));
        c.add(scalar(kTime, "time", JsonKind::Text));
        c.add(scalar(kTimeTz, "timetz", JsonKind::Text));
        c.add(scalar(kInterval, "interval", JsonKind::Text));
        c.add(scalar(kJson, "json", JsonKind::Json));
        c.add(scalar(kJsonb, "jsonb", JsonKind::Jsonb));
        c.add(scalar(kDate, "date", JsonKind::Date));
        c.add(scalar(kTimestamp, "timestamp", JsonKind::Timestamp));
        c.add(scalar(kTimestampTz, "timestamptz", JsonKind::TimestampTz));
        TypeInfo mood = scalar(kMood, "mood", JsonKind::Text);
        mood.typtype = 'e';
        c.add(mood);
        TypeInfo hstore = scalar(kHstore, "hstore", JsonKind::Hstore);
        hstore.schema = "public";
        c.add(hstore);
        c.add(domain(kPosInt, "posint", kInt4));
        c.add(domain(kOrphanDomain, "orphan", 99999));
        c.add(array(kPosIntArray, "_posint", kPosInt));
        c.add(array(kBoolArray, "_bool", kBool));
        c.add(array(kInt4Array, "_int4", kInt4));
        c.add(array(kTextArray, "_text", kText));
        c.add(array(kFloat8Array, "_float8", kFloat8));
        c.add(array(kNumericArray, "_numeric", kNumeric));
        c.add(array(kBoxArray, "_box", kBox, ';'));
        c.add(array(kJsonArray, "_json", kJson));
        c.add(array(kJsonbArray, "_jsonb", kJsonb));
        c.add(array(kTimestampTzArray, "_timestamptz", kTimestampTz));
        TypeInfo vector = array(kInt2Vector, "int2vector", kInt2);
        vector.vector_syntax = true;
        c.add(vector);
        c.add(array(kInt2VectorArray, "_int2vector", kInt2Vector));
        c.add(composite(kAddr, "addr",
                        {{"street", kText},
                         {"n", kInt4},
                         {"tags", kTextArray},
                         {"at", kTimestampTz},
                         {"j", kJsonb},
                         {"flag", kBool},
                         {"raw", kJson}}));
        c.add(array(kAddrArray, "_addr", kAddr));
        c.add(composite(kOuter, "outer", {{"a", kAddr}, {"list", kAddrArray}, {"h", kHstore}}));
        c.add(composite(kEmpty, "nothing", {}));
        return c;
    }();
    return types;
}

std::string back_to_text(uint32_t type, std::string_view token) {
    std::string out;
    INFO("token: " << token);
    REQUIRE(append_value_text(out, catalog().get(type), token));
    return out;
}

bool fits(uint32_t type, std::string_view token) {
    std::string out;
    return append_value_text(out, catalog().get(type), token);
}

// Maps each text to JSON with ValueWriter (also with numbers as strings) and back, and requires
// the text it started from.
void require_round_trip(uint32_t type, const std::vector<std::string>& texts) {
    for (bool numbers_as_strings : {false, true}) {
        ValueWriter writer(catalog(), ValueOptions{numbers_as_strings});
        for (const std::string& text : texts) {
            std::string json;
            writer.append(json, catalog().get(type), text);
            INFO("type " << catalog().get(type).name << ", text: " << text << ", json: " << json);
            CHECK(back_to_text(type, json) == text);
        }
    }
}

} // namespace

TEST_CASE("electric value text: numbers and booleans come back as PostgreSQL prints them",
          "[electric]") {
    require_round_trip(kInt2, {"-32768", "32767", "0"});
    require_round_trip(kInt4, {"-2147483648", "2147483647", "42"});
    require_round_trip(kInt8, {"-9223372036854775808", "9223372036854775807", "9007199254740993"});
    require_round_trip(kFloat4, {"NaN", "Infinity", "-Infinity", "-0", "0.1", "3.4028235e+38",
                                 "1e-45", "1.17549435e-38"});
    require_round_trip(kFloat8, {"NaN", "Infinity", "-Infinity", "-0", "0.1", "1e+308", "4.9e-324",
                                 "-1.7976931348623157e+308", "123456789012345680000"});
    require_round_trip(kNumeric, {"NaN", "Infinity", "-Infinity", "0.10", "-0.0000000001",
                                  "1234567890.1234567890", std::string(400, '9'), "0"});
    require_round_trip(kBool, {"t", "f"});
    require_round_trip(kPosInt, {"5", "2147483647"});
}

TEST_CASE("electric value text: strings are unescaped, any JSON escape decoded", "[electric]") {
    require_round_trip(kText, {"", "plain", "it's \"quoted\" \\ back\\slash", "new\nline\ttab\r",
                               "\x01\x1f\x7f", "caf\xc3\xa9 \xf0\x9f\x98\x80", "{a,b}", "NULL"});
    require_round_trip(kBpchar, {"ab   ", "     "});
    require_round_trip(kUuid, {"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"});
    require_round_trip(kBytea, {"\\xdeadbeef", "\\x"});
    require_round_trip(kTime, {"24:00:00", "12:34:56.5"});
    require_round_trip(kTimeTz, {"23:59:59.999999-12:34", "12:00:00+05:30:15", "00:00:00+14"});
    require_round_trip(kInterval, {"1 mon -5 days 10:00:04.99", "-178000000 years", "00:00:00"});
    require_round_trip(kMood, {"happy", "très \"sad\""});
    require_round_trip(kDate,
                       {"2024-02-29", "infinity", "-infinity", "4713-01-01 BC", "5874897-12-31"});
    // Escapes escape_json never writes, as another JSON writer may.
    CHECK(back_to_text(kText, R"("\/\u00e9\u00E9\ud83d\ude00\b\f")") ==
          "/\xc3\xa9\xc3\xa9\xf0\x9f\x98\x80\b\f");
}

TEST_CASE("electric value text: timestamps lose the T and the offset's :00 again", "[electric]") {
    require_round_trip(kTimestamp, {"2024-01-02 03:04:05", "2024-02-29 23:59:59.5",
                                    "0001-01-01 00:00:00 BC", "infinity", "-infinity",
                                    "294276-12-31 23:59:59.999999", "10000-01-01 00:00:00.5"});
    require_round_trip(kTimestampTz, {"2024-01-02 03:04:05+00", "2024-01-02 03:04:05.123456+05:30",
                                      "1900-01-01 00:00:00+00:19:32", "0044-03-15 12:00:00+00 BC",
                                      "2024-06-01 12:00:00-03:30", "2024-01-01 00:00:00+05",
                                      "2024-01-01 00:00:00-10", "2024-01-01 00:00:00+05:00:30",
                                      "infinity", "-infinity", "294276-12-31 23:59:59.999999+00"});
    CHECK(back_to_text(kTimestampTz, "\"2024-01-02T03:04:05+00:00\"") == "2024-01-02 03:04:05+00");
    CHECK(back_to_text(kTimestampTz, "\"2024-01-02T03:04:05-00:30\"") ==
          "2024-01-02 03:04:05-00:30");
}

TEST_CASE("electric value text: json is verbatim, jsonb gets jsonb's spacing", "[electric]") {
    require_round_trip(kJson,
                       {" [1, 2.50, {\"x\" : \"\\u00e9\\n\"}]\n ", "{\"a\":1,\"a\":2}", "null",
                        "\"\\u0000\"", "1e400", "{\"n\":123456789012345678901234567890}"});
    require_round_trip(kJsonb, {"{\"a\": 1, \"b\": [1, 2]}", "[]", "{}", "null", "1e400",
                                "\"str, with: punctuation\"",
                                "{\"a\": {\"b\": [true, false, null]}, \"c d\": \"e\\\"f\"}"});
    CHECK(back_to_text(kJsonb, R"({"a":1,"b":[1,2],"c":{"d:e":"f, g"}})") ==
          R"({"a": 1, "b": [1, 2], "c": {"d:e": "f, g"}})");
    CHECK(back_to_text(kJsonb, "{ \"a\" :\n 1 }") == "{\"a\": 1}");
}

TEST_CASE("electric value text: arrays come back with array_out's quoting and nesting",
          "[electric]") {
    require_round_trip(kInt4Array, {"{}", "{1,2,3}", "{NULL,-1,NULL}", "{{1,2},{3,4}}",
                                    "{{{1,2}},{{3,NULL}}}", "{{{{{{1}}}}}}"});
    require_round_trip(kTextArray,
                       {"{a,b}", R"({"a b","c\"d","","NULL","null","x,y","{z}","back\\slash"})",
                        "{\"tab\there\",\"new\nline\",caf\xc3\xa9,NULLS,nul}",
                        R"({{a,"b c"},{NULL,""}})"});
    require_round_trip(kBoolArray, {"{t,f,NULL}"});
    require_round_trip(kFloat8Array, {"{NaN,Infinity,-Infinity,-1.5,1e+100}"});
    require_round_trip(kNumericArray, {"{1.50,NaN,-0.000001,NULL}"});
    require_round_trip(kPosIntArray, {"{1,NULL,3}"});
    require_round_trip(kBoxArray, {"{(1,1),(0,0);(2,2),(1,1)}"});
    require_round_trip(kTimestampTzArray,
                       {R"({"2024-01-02 03:04:05+00",infinity,NULL,"0044-03-15 12:00:00+00 BC"})"});
    require_round_trip(kJsonbArray, {R"({"{\"a\": 1}","[1, 2]",NULL,"\"s\"",3,[]})"});
    require_round_trip(kJsonArray, {R"({"{\"a\":1}"," 1 ",NULL,"[1,2]"})"});
    require_round_trip(kInt2Vector, {"1 2 3", "", "-5"});
    require_round_trip(kInt2VectorArray, {R"({"1 2",3,NULL})"});
}

TEST_CASE("electric value text: composites come back as record literals", "[electric]") {
    require_round_trip(kAddr, {R"~(("Main St",12,"{a,""b c""}","2024-01-02 03:04:05+00",)~"
                               R"~("{""k"": [1, 2]}",t,"{""x"":1}"))~",
                               "(,,,,,,)", R"~(("",0,{},infinity,[null],f,1))~",
                               R"~(("a\\b ""q""",-1,"{NULL,""""}",,"""s""",,))~"});
    require_round_trip(kOuter, {R"~(("(x,1,,,,t,)","{""(y,2,,,,f,)"",NULL}","""a""=>""1"""))~",
                                "(,{},)", "(,,\"\")"});
    require_round_trip(kEmpty, {"()"});
    require_round_trip(kAddrArray, {R"~({"(x,1,{a},,,t,)",NULL,"(,,,,,,)"})~"});
}

TEST_CASE("electric value text: hstore comes back as hstore_out prints it", "[electric]") {
    require_round_trip(kHstore, {"", R"("a"=>"1", "b c"=>NULL)",
                                 R"("q\"uote"=>"back\\slash", "NULL"=>"NULL", ""=>"")"});
}

TEST_CASE("electric value text: what ValueWriter cannot tell apart comes back one way",
          "[electric]") {
    // A json or jsonb element or field whose value is JSON null reads as SQL NULL: to_json gives
    // null for both.
    CHECK(back_to_text(kJsonbArray, "[null,1]") == "{NULL,1}");
    // The bounds of an array whose lower bound is not 1 are not in the JSON.
    ValueWriter writer(catalog());
    std::string json;
    writer.append(json, catalog().get(kInt4Array), "[0:1]={1,2}");
    CHECK(back_to_text(kInt4Array, json) == "{1,2}");
}

TEST_CASE("electric value text: tokens that do not fit the type are refused", "[electric]") {
    CHECK_FALSE(fits(kBool, "\"t\""));
    CHECK_FALSE(fits(kBool, "1"));
    CHECK_FALSE(fits(kInt4, "NaN"));
    CHECK_FALSE(fits(kInt4, "[1]"));
    CHECK_FALSE(fits(kInt4, "01"));
    CHECK_FALSE(fits(kText, "1"));
    CHECK_FALSE(fits(kText, "\"unterminated"));
    CHECK_FALSE(fits(kText, R"("bad \x escape")"));
    CHECK_FALSE(fits(kText, R"("lone \udc00 surrogate")"));
    CHECK_FALSE(fits(kText, R"("half \ud83d pair")"));
    CHECK_FALSE(fits(kText, R"("a" "b")"));
    CHECK_FALSE(fits(kText, "\"ends in \\\""));
    CHECK_FALSE(fits(kTimestampTz, "20240101"));
    CHECK_FALSE(fits(kJsonb, "{} x"));
    CHECK_FALSE(fits(kJsonb, "{\"a\": 1"));
    CHECK_FALSE(fits(kJson, ""));
    CHECK_FALSE(fits(kJson, "nope"));
    CHECK_FALSE(fits(kInt4Array, "\"{1,2}\""));
    CHECK_FALSE(fits(kInt4Array, "[1,[2]]"));
    CHECK_FALSE(fits(kInt4Array, "[1,2"));
    CHECK_FALSE(fits(kInt4Array, "[1,,2]"));
    CHECK_FALSE(fits(kInt4Array, "[1,2] x"));
    CHECK_FALSE(fits(kInt4Array, "[\"x\"]"));
    CHECK_FALSE(fits(kInt4Array, "[[[[[[[1]]]]]]]")); // seven dimensions; PostgreSQL allows six
    CHECK_FALSE(fits(kInt2Vector, "[1,null]"));
    CHECK_FALSE(fits(kAddr, "{}"));
    CHECK_FALSE(fits(kAddr, R"({"street":"x"})"));
    CHECK_FALSE(fits(kEmpty, R"({"x":1})"));
    CHECK_FALSE(fits(kAddr, R"({"n":1,"street":"x","tags":null,"at":null,"j":null,"flag":null,)"
                            R"("raw":null})"));
    CHECK_FALSE(fits(kAddr, R"({"street":"x","n":1,"tags":null,"at":null,"j":null,"flag":null,)"
                            R"("raw":null,"extra":1})"));
    CHECK_FALSE(fits(kHstore, R"({"a":1})"));
    CHECK_FALSE(fits(kHstore, R"({"a":"1",})"));
    CHECK_FALSE(fits(kHstore, "[]"));
    CHECK_FALSE(fits(kOrphanDomain, "1"));
    // Tokens that do fit, for contrast: whitespace around a token is not part of the value.
    CHECK(back_to_text(kInt4Array, " [ 1 , null ] ") == "{1,NULL}");
    CHECK(back_to_text(kAddr, R"({"street":"x","n":1,"tags":null,"at":null,"j":null,)"
                              R"("flag":null,"raw":null})") == "(x,1,,,,,)");
}
