// Relation cache: shape comparison by name, type OID, typmod and key flag, never by position alone.
#include "decode/relation_cache.h"

#include "record/json_text.h"
#include "util/error.h"

namespace pgsync::decode {
namespace {

bool same_shape(const record::RelationInfo& a, const record::RelationInfo& b) {
    if (a.schema != b.schema || a.name != b.name || a.replica_identity != b.replica_identity ||
        a.columns.size() != b.columns.size())
        return false;
    for (size_t i = 0; i < a.columns.size(); ++i) {
        const auto &x = a.columns[i], &y = b.columns[i];
        if (x.name != y.name || x.type_oid != y.type_oid || x.typmod != y.typmod || x.key != y.key)
            return false;
    }
    return true;
}

} // namespace

RelationCache::Applied RelationCache::apply(const Relation& message, pg::Connection& sql) {
    std::unique_ptr<record::RelationInfo> info = build(message, sql);
    auto it = m_relations.find(message.oid);
    if (it == m_relations.end()) {
        const auto* raw = info.get();
        m_relations.emplace(message.oid, std::move(info));
        return {raw, true};
    }
    const bool changed = !same_shape(*it->second, *info);
    *it->second = std::move(*info); // in place: pointers handed out stay valid
    return {it->second.get(), changed};
}

std::unique_ptr<record::RelationInfo> RelationCache::build(const Relation& message,
                                                           pg::Connection& sql) {
    auto info = std::make_unique<record::RelationInfo>();
    info->oid = message.oid;
    info->schema = message.schema.empty() ? "pg_catalog" : std::string(message.schema);
    info->name = std::string(message.name);
    info->replica_identity = message.replica_identity;
    info->json_names = "\"schema\":";
    record::append_json_string(info->json_names, info->schema);
    info->json_names += ",\"table\":";
    record::append_json_string(info->json_names, info->name);

    std::vector<uint32_t> oids;
    std::string oid_list = "{", typmod_list = "{";
    bool need_names = false;
    for (const auto& c : message.columns) {
        oids.push_back(c.type_oid);
        if (!m_type_names.count({c.type_oid, c.typmod})) {
            oid_list += (need_names ? "," : "") + std::to_string(c.type_oid);
            typmod_list += (need_names ? "," : "") + std::to_string(c.typmod);
            need_names = true;
        }
    }
    m_catalog.load(sql, oids);
    if (need_names) {
        pg::Result r = sql.exec_params(
            "SELECT t.oid, t.typmod, pg_catalog.format_type(t.oid, NULLIF(t.typmod, -1)) "
            "FROM unnest($1::oid[], $2::int4[]) AS t(oid, typmod)",
            {oid_list + "}", typmod_list + "}"}, "could not name column types");
        for (int i = 0; i < r.rows(); ++i)
            m_type_names[{uint32_t(std::stoul(r.str(i, 0))), std::stoi(r.str(i, 1))}] = r.str(i, 2);
    }
    for (const auto& c : message.columns) {
        record::ColumnInfo col;
        col.name = std::string(c.name);
        col.type_oid = c.type_oid;
        col.typmod = c.typmod;
        col.key = c.key;
        col.type_name = m_type_names[{c.type_oid, c.typmod}];
        col.type = &m_values.resolve(c.type_oid);
        record::append_json_string(col.json_key, col.name);
        col.json_key += ':';
        info->columns.push_back(std::move(col));
    }
    return info;
}

const record::RelationInfo& RelationCache::get(uint32_t oid) const {
    auto it = m_relations.find(oid);
    if (it == m_relations.end())
        throw Error("pgoutput sent a change for relation OID " + std::to_string(oid) +
                    " before describing it");
    return *it->second;
}

} // namespace pgsync::decode
