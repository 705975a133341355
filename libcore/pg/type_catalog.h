// TypeCatalog: what pgsync knows about PostgreSQL types, keyed by OID and loaded from pg_type: how
// each type's text output maps to JSON (as to_json() maps it), plus the names for metadata.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace pgsync::pg {

class Connection;

// How to_json() renders a type (PostgreSQL 15's json_categorize_type, after looking through
// domains). Everything without a category of its own is Text: enums, ranges, multiranges, uuid,
// bytea, money, interval, time, timetz, bit, inet, geometric types, xml, tsvector, oid, ...
enum class JsonKind : uint8_t {
    Bool,
    Number,      // int2, int4, int8, float4, float8, numeric: bare when a valid JSON number
    Date,        // same text as DateStyle ISO
    Timestamp,   // XSD style: 'T' between date and time
    TimestampTz, // XSD style, and the offset always with minutes ("+00:00")
    Json,        // embedded verbatim
    Jsonb,       // embedded verbatim
    Array,       // element by element with the element type's mapping
    Composite,   // an object of the fields in attnum order
    Hstore,      // the hstore extension's cast to json (hstore_to_json)
    Text,        // a JSON string of the text
};

// Which number type, for --numbers-as-strings (int8 and numeric can exceed a double's precision).
enum class NumberType : uint8_t { None, Int2, Int4, Int8, Float4, Float8, Numeric };

struct TypeInfo;

struct CompositeField {
    std::string name;
    uint32_t type_oid = 0;
    std::string json_key;           // name as a JSON string followed by ':', built by the catalog
    const TypeInfo* type = nullptr; // set when the catalog links (null while not loaded)
};

struct TypeInfo {
    uint32_t oid = 0;
    std::string schema;
    std::string name;
    char typtype = 'b';           // pg_type.typtype: b c d e m p r
    uint32_t domain_base_oid = 0; // domains: pg_type.typbasetype (the next level down); else 0

    // The mapping. For a domain the catalog copies the kind of its ultimate base type here, and the
    // writer follows `resolved`, so one TypeInfo per column serves both metadata and mapping.
    JsonKind kind = JsonKind::Text;
    NumberType number = NumberType::None;
    uint32_t element_oid = 0;           // Array: the element type
    char element_delimiter = ',';       // Array: the element type's typdelim (';' for box)
    bool vector_syntax = false;         // Array: int2vector/oidvector text ("1 2 3", no braces)
    std::vector<CompositeField> fields; // Composite: non-dropped attributes in attnum order
    // A user type with its own cast to json (other than hstore's): to_json() calls that cast,
    // which cannot be reproduced from the text, so such types map as Text.
    bool has_json_cast = false;

    // Set by the catalog when it links types: the type whose mapping applies (the ultimate base of
    // a domain, else this type) and an array's element type. Null until linked.
    const TypeInfo* resolved = nullptr;
    const TypeInfo* element = nullptr;

    bool is_domain() const { return typtype == 'd'; }
    // int8 and numeric: quoted always when numbers are written as strings.
    bool is_wide_number() const {
        return number == NumberType::Int8 || number == NumberType::Numeric;
    }
};

// Owns TypeInfo objects at stable addresses: a TypeInfo reference stays valid (and sees updates)
// until clear() or the catalog's end; replacing a type with add() updates it in place. Reading is
// safe from many threads; load(), add() and clear() need the catalog to themselves.
class TypeCatalog {
public:
    TypeCatalog() = default;
    TypeCatalog(TypeCatalog&&) = default;
    TypeCatalog& operator=(TypeCatalog&&) = default;
    TypeCatalog(const TypeCatalog&) = delete;
    TypeCatalog& operator=(const TypeCatalog&) = delete;

    // Loads the given types and every type they reach (array elements, domain bases, composite
    // fields), one query per level of nesting, skipping types already loaded (so a changed
    // composite is re-read only after clear() or by add()). Throws pgsync::Error when an OID does
    // not name a type.
    void load(Connection& conn, const std::vector<uint32_t>& oids);

    const TypeInfo* find(uint32_t oid) const;
    // Throws pgsync::Error naming the OID when the type is not loaded.
    const TypeInfo& get(uint32_t oid) const;

    // Adds or replaces one type, then links references between loaded types. A type may name types
    // that are not there yet; the writer reports them when it needs them.
    void add(TypeInfo info);
    void clear() { m_types.clear(); }
    size_t size() const { return m_types.size(); }

private:
    void insert(TypeInfo info);
    void link();

    std::unordered_map<uint32_t, std::unique_ptr<TypeInfo>> m_types;
};

} // namespace pgsync::pg
