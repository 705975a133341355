// Small builders of change records for the format tests (values, positions, transactions, rows).
#pragma once

#include "pg/type_catalog.h"
#include "record/change.h"
#include "util/lsn.h"

#include <string_view>
#include <vector>

namespace pgsync::record::testing {

// A built-in scalar type as the catalog would load it.
inline pg::TypeInfo scalar(uint32_t oid, const char* name, pg::JsonKind kind,
                           pg::NumberType number = pg::NumberType::None) {
    pg::TypeInfo info;
    info.oid = oid;
    info.schema = "pg_catalog";
    info.name = name;
    info.kind = kind;
    info.number = number;
    return info;
}

inline Value text(std::string_view s) {
    return {ValueKind::Text, s};
}
inline const Value kNull{ValueKind::Null, {}};
inline const Value kToast{ValueKind::UnchangedToast, {}};

inline Lsn lsn(const char* s) {
    return *Lsn::parse(s);
}

inline TxnInfo txn(uint32_t xid, const char* commit_lsn, const char* end_lsn, int64_t commit_time) {
    TxnInfo t;
    t.xid = xid;
    t.commit_lsn = lsn(commit_lsn);
    t.end_lsn = lsn(end_lsn);
    t.commit_time = commit_time;
    return t;
}

inline RowChange row(RowOp op, const RelationInfo& rel, const char* at,
                     const std::vector<Value>& new_values, OldKind old_kind = OldKind::None,
                     const std::vector<Value>& old_values = {}) {
    RowChange change;
    change.op = op;
    change.relation = &rel;
    change.lsn = lsn(at);
    change.old_kind = old_kind;
    change.old_values = old_values;
    change.new_values = new_values;
    return change;
}

} // namespace pgsync::record::testing
