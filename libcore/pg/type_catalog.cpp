// Loading types from pg_type (breadth first, one query per level of nesting) and linking them so
// that the value writer follows pointers, never map lookups, on the hot path.
#include "pg/type_catalog.h"

#include "pg/connection.h"
#include "pg/type_oids.h"
#include "record/json_text.h"
#include "util/error.h"

#include <cstdlib>
#include <unordered_set>

namespace pgsync::pg {

namespace {

// to_json() consults casts to json only for types created after initdb.
constexpr uint32_t kFirstNormalObjectId = 16384;
// Guards against a hand-made catalog whose domains form a cycle.
constexpr int kMaxDomainDepth = 64;

// One row per type, or per (composite type, attribute). The element delimiter is the element
// type's typdelim, which array_out() uses. Only a cast to json by a function counts
// (find_coercion_pathway's FUNC path). %IS_ARRAY% is replaced by is_array_test().
constexpr const char* kTypeQuery = R"SQL(
SELECT t.oid, n.nspname, t.typname, t.typtype, t.typbasetype, t.typelem,
       coalesce(e.typdelim, ',') AS element_delimiter, %IS_ARRAY% AS is_array,
       jc.proname AS json_cast, a.attname, a.atttypid
  FROM pg_catalog.pg_type t
  JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
  LEFT JOIN pg_catalog.pg_type e ON e.oid = t.typelem
  LEFT JOIN LATERAL (
        SELECT p.proname
          FROM pg_catalog.pg_cast c JOIN pg_catalog.pg_proc p ON p.oid = c.castfunc
         WHERE c.castsource = t.oid AND c.casttarget = 'pg_catalog.json'::pg_catalog.regtype
           AND c.castmethod = 'f' AND t.oid >= 16384
         LIMIT 1) jc ON true
  LEFT JOIN pg_catalog.pg_attribute a
         ON t.typtype = 'c' AND a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE t.oid = ANY ($1::pg_catalog.oid[])
 ORDER BY t.oid, a.attnum
)SQL";

// What PostgreSQL's get_element_type() calls a "true array". Since 14 that is a type whose
// subscript handler is array_subscript_handler (point and name have a typelem but are not
// arrays); before, a varlena type with a typelem.
std::string type_query(int server_version) {
    std::string query = kTypeQuery;
    const char* test =
        server_version >= 140000
            ? "t.typsubscript = 'pg_catalog.array_subscript_handler'::pg_catalog.regproc"
            : "(t.typlen = -1 AND t.typelem <> 0)";
    query.replace(query.find("%IS_ARRAY%"), 10, test);
    return query;
}

uint32_t parse_oid(std::string_view text) {
    return static_cast<uint32_t>(std::strtoul(std::string(text).c_str(), nullptr, 10));
}

std::string oid_array_literal(const std::vector<uint32_t>& oids) {
    std::string out = "{";
    for (size_t i = 0; i < oids.size(); ++i) {
        if (i) out += ',';
        out += std::to_string(oids[i]);
    }
    return out + "}";
}

void set_number(TypeInfo& info, NumberType number) {
    info.kind = JsonKind::Number;
    info.number = number;
}

// The mapping of a type that is not a domain, from what pg_type says about it.
void categorize(TypeInfo& info, bool is_array, std::string_view json_cast) {
    switch (info.oid) {
    case kBoolOid:
        info.kind = JsonKind::Bool;
        return;
    case kInt2Oid:
        return set_number(info, NumberType::Int2);
    case kInt4Oid:
        return set_number(info, NumberType::Int4);
    case kInt8Oid:
        return set_number(info, NumberType::Int8);
    case kFloat4Oid:
        return set_number(info, NumberType::Float4);
    case kFloat8Oid:
        return set_number(info, NumberType::Float8);
    case kNumericOid:
        return set_number(info, NumberType::Numeric);
    case kDateOid:
        info.kind = JsonKind::Date;
        return;
    case kTimestampOid:
        info.kind = JsonKind::Timestamp;
        return;
    case kTimestampTzOid:
        info.kind = JsonKind::TimestampTz;
        return;
    case kJsonOid:
        info.kind = JsonKind::Json;
        return;
    case kJsonbOid:
        info.kind = JsonKind::Jsonb;
        return;
    default:
        break;
    }
    // anyarray and record name no element type or fields: their values map as Text.
    if (is_array && info.element_oid != 0) {
        info.kind = JsonKind::Array;
        info.vector_syntax = info.oid == kInt2VectorOid || info.oid == kOidVectorOid;
        return;
    }
    if (info.typtype == 'c') {
        info.kind = JsonKind::Composite;
        return;
    }
    info.kind = JsonKind::Text;
    if (info.oid >= kFirstNormalObjectId && !json_cast.empty()) {
        // hstore's cast is hstore_to_json(), which we reproduce; any other cast is user code.
        if (info.name == "hstore" && json_cast == "hstore_to_json")
            info.kind = JsonKind::Hstore;
        else
            info.has_json_cast = true;
    }
}

} // namespace

void TypeCatalog::load(Connection& conn, const std::vector<uint32_t>& oids) {
    std::vector<uint32_t> wanted;
    std::unordered_set<uint32_t> seen;
    for (uint32_t oid : oids)
        if (oid != 0 && !m_types.count(oid) && seen.insert(oid).second) wanted.push_back(oid);

    const std::string query = type_query(conn.server_version());
    while (!wanted.empty()) {
        Result result =
            conn.exec_params(query, {oid_array_literal(wanted)}, "could not read type information");
        std::vector<uint32_t> next;
        auto reach = [&](uint32_t oid) {
            if (oid != 0 && !m_types.count(oid) && seen.insert(oid).second) next.push_back(oid);
        };
        std::unordered_set<uint32_t> found;
        int rows = result.rows();
        for (int row = 0; row < rows;) {
            TypeInfo info;
            info.oid = parse_oid(result.get(row, 0));
            info.schema = result.str(row, 1);
            info.name = result.str(row, 2);
            info.typtype = result.get(row, 3).empty() ? 'b' : result.get(row, 3)[0];
            uint32_t base = parse_oid(result.get(row, 4));
            uint32_t element = parse_oid(result.get(row, 5));
            bool is_array = result.get(row, 7) == "t";
            std::string json_cast = result.str(row, 8);
            if (info.typtype == 'd') {
                info.domain_base_oid = base;
                reach(base);
            } else if (is_array && element != 0) {
                info.element_oid = element;
                info.element_delimiter = result.get(row, 6).empty() ? ',' : result.get(row, 6)[0];
                reach(element);
            }
            if (info.typtype != 'd') categorize(info, is_array, json_cast);
            // The composite's attributes follow on rows with the same type OID.
            for (; row < rows && parse_oid(result.get(row, 0)) == info.oid; ++row) {
                if (result.is_null(row, 9)) continue;
                CompositeField field;
                field.name = result.str(row, 9);
                field.type_oid = parse_oid(result.get(row, 10));
                reach(field.type_oid);
                info.fields.push_back(std::move(field));
            }
            found.insert(info.oid);
            insert(std::move(info));
        }
        for (uint32_t oid : wanted)
            if (!found.count(oid)) {
                link();
                throw Error("type with OID " + std::to_string(oid) + " does not exist");
            }
        wanted = std::move(next);
    }
    link();
}

const TypeInfo* TypeCatalog::find(uint32_t oid) const {
    auto it = m_types.find(oid);
    return it == m_types.end() ? nullptr : it->second.get();
}

const TypeInfo& TypeCatalog::get(uint32_t oid) const {
    if (const TypeInfo* info = find(oid)) return *info;
    throw Error("type with OID " + std::to_string(oid) + " is not in the type catalog");
}

void TypeCatalog::add(TypeInfo info) {
    insert(std::move(info));
    link();
}

void TypeCatalog::insert(TypeInfo info) {
    for (CompositeField& field : info.fields) {
        field.json_key.clear();
        record::append_json_string(field.json_key, field.name);
        field.json_key += ':';
    }
    auto& slot = m_types[info.oid];
    if (slot)
        *slot = std::move(info); // in place: references held elsewhere stay valid
    else
        slot = std::make_unique<TypeInfo>(std::move(info));
}

// Sets every type's resolved/element/field pointers from what is loaded now. Cheap enough to redo
// after each add(): catalogs hold hundreds of types, and adds happen once per new type.
void TypeCatalog::link() {
    for (auto& [oid, info] : m_types) {
        const TypeInfo* type = info.get();
        int depth = 0;
        while (type && type->is_domain() && depth++ < kMaxDomainDepth)
            type = find(type->domain_base_oid);
        info->resolved = type && !type->is_domain() ? type : nullptr;
        if (info->is_domain() && info->resolved) {
            info->kind = info->resolved->kind;
            info->number = info->resolved->number;
        }
    }
    // Element and field pointers go straight to the mapping type (through any domain).
    auto mapping = [this](uint32_t oid) -> const TypeInfo* {
        const TypeInfo* type = find(oid);
        return type ? type->resolved : nullptr;
    };
    for (auto& [oid, info] : m_types) {
        info->element = info->element_oid ? mapping(info->element_oid) : nullptr;
        for (CompositeField& field : info->fields)
            field.type = mapping(field.type_oid);
    }
}

} // namespace pgsync::pg
