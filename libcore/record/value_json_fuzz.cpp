// libFuzzer target for the literal parsers behind ValueWriter: arbitrary bytes as the text of an
// array of a composite type whose fields cover every literal grammar (array, record, hstore,
// box's ';' delimiter, int2vector). Any outcome but pgsync::Error or valid output is a bug.
#include "pg/type_catalog.h"
#include "record/value_json.h"
#include "util/error.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

using pgsync::pg::CompositeField;
using pgsync::pg::JsonKind;
using pgsync::pg::NumberType;
using pgsync::pg::TypeCatalog;
using pgsync::pg::TypeInfo;

enum : uint32_t {
    kBool = 16,
    kInt8 = 20,
    kInt2 = 21,
    kInt2Vector = 22,
    kInt4 = 23,
    kText = 25,
    kJson = 114,
    kBox = 603,
    kBoxArray = 1020,
    kTextArray = 1009,
    kTimestampTz = 1184,
    kNumeric = 1700,
    kHstore = 90001,
    kInner = 90002,
    kInnerArray = 90003,
    kOuter = 90004,
    kOuterArray = 90005,
    kDomain = 90006,
};

TypeInfo type(uint32_t oid, const char* name, JsonKind kind, NumberType number = NumberType::None) {
    TypeInfo info;
    info.oid = oid;
    info.name = name;
    info.kind = kind;
    info.number = number;
    return info;
}

TypeInfo array_of(uint32_t oid, const char* name, uint32_t element, char delimiter = ',') {
    TypeInfo info = type(oid, name, JsonKind::Array);
    info.element_oid = element;
    info.element_delimiter = delimiter;
    info.vector_syntax = oid == kInt2Vector;
    return info;
}

TypeInfo composite(uint32_t oid, const char* name,
                   std::initializer_list<std::pair<const char*, uint32_t>> fields) {
    TypeInfo info = type(oid, name, JsonKind::Composite);
    info.typtype = 'c';
    for (auto [field_name, field_type] : fields) {
        CompositeField field;
        field.name = field_name;
        field.type_oid = field_type;
        info.fields.push_back(field);
    }
    return info;
}

const TypeCatalog& catalog() {
    static const TypeCatalog types = [] {
        TypeCatalog c;
        c.add(type(kBool, "bool", JsonKind::Bool));
        c.add(type(kInt2, "int2", JsonKind::Number, NumberType::Int2));
        c.add(type(kInt4, "int4", JsonKind::Number, NumberType::Int4));
        c.add(type(kInt8, "int8", JsonKind::Number, NumberType::Int8));
        c.add(type(kNumeric, "numeric", JsonKind::Number, NumberType::Numeric));
        c.add(type(kText, "text", JsonKind::Text));
        c.add(type(kJson, "json", JsonKind::Json));
        c.add(type(kBox, "box", JsonKind::Text));
        c.add(type(kTimestampTz, "timestamptz", JsonKind::TimestampTz));
        c.add(type(kHstore, "hstore", JsonKind::Hstore));
        c.add(array_of(kInt2Vector, "int2vector", kInt2));
        c.add(array_of(kBoxArray, "_box", kBox, ';'));
        c.add(array_of(kTextArray, "_text", kText));
        TypeInfo domain = type(kDomain, "dom", JsonKind::Text);
        domain.typtype = 'd';
        domain.domain_base_oid = kInt8;
        c.add(domain);
        c.add(composite(kInner, "inner", {{"b", kBool}, {"h", kHstore}, {"v", kInt2Vector}}));
        c.add(array_of(kInnerArray, "_inner", kInner));
        c.add(composite(kOuter, "outer",
                        {{"i", kInt4},
                         {"n", kNumeric},
                         {"t", kText},
                         {"j", kJson},
                         {"ts", kTimestampTz},
                         {"boxes", kBoxArray},
                         {"texts", kTextArray},
                         {"inner", kInner},
                         {"inners", kInnerArray},
                         {"d", kDomain}}));
        c.add(array_of(kOuterArray, "_outer", kOuter));
        return c;
    }();
    return types;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const pgsync::record::ValueWriter writer(catalog());
    static const pgsync::record::ValueWriter strings(catalog(), {true});
    std::string_view text(reinterpret_cast<const char*>(data), size);
    std::string out;
    try {
        (size % 2 ? strings : writer).append(out, kOuterArray, text);
    } catch (const pgsync::Error&) {
        return 0;
    }
    // Whatever was accepted came out as one JSON array.
    if (out.empty() || out.front() != '[' || out.back() != ']') std::abort();
    return 0;
}
