// RelationCache: what the stream knows about each published table, keyed by OID (R11), built from
// pgoutput Relation messages with the column types loaded into the TypeCatalog. It tells whether a
// Relation message changes a table's shape (R9, R10) or only repeats it (a new session resends
// all).
#pragma once

#include "decode/pgoutput.h"
#include "pg/connection.h"
#include "pg/type_catalog.h"
#include "record/change.h"
#include "record/value_json.h"

#include <map>
#include <memory>
#include <unordered_map>

namespace pgsync::decode {

class RelationCache {
public:
    RelationCache(pg::TypeCatalog& catalog, const record::ValueWriter& values)
        : m_catalog(catalog), m_values(values) {}

    struct Applied {
        const record::RelationInfo* info = nullptr;
        bool changed = false; // new to this process, or its shape differs from the last one seen
    };
    // Applies a Relation message; loads the column types through `sql` (a normal connection).
    Applied apply(const Relation& message, pg::Connection& sql);
    // The table a Relation message describes, without recording it: a streamed transaction's own
    // view of its tables until it commits (the cache's may differ meanwhile).
    std::unique_ptr<record::RelationInfo> build(const Relation& message, pg::Connection& sql);

    // The relation for a DML message; throws when the server did not send it first.
    const record::RelationInfo& get(uint32_t oid) const;

private:
    pg::TypeCatalog& m_catalog;
    const record::ValueWriter& m_values;
    std::unordered_map<uint32_t, std::unique_ptr<record::RelationInfo>> m_relations;
    std::map<std::pair<uint32_t, int32_t>, std::string> m_type_names; // format_type cache
};

} // namespace pgsync::decode
