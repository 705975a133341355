// record_meaning: record kinds, schema changes, truncates and the load-snapshot test.
#include "serve/shapes/record_meaning.h"

namespace pgsync::serve {

RecordKind record_kind(const record::ScannedRecord& record) {
    const std::string_view op = record.op;
    if (op == "insert" || op == "update" || op == "delete") return RecordKind::Row;
    if (op == "commit") return RecordKind::Commit;
    if (op == "relation") return RecordKind::Relation;
    if (op == "truncate") return RecordKind::Truncate;
    return RecordKind::Other;
}

bool changes_schema(const record::ScannedRecord& record, const TableSchema& table) {
    return record_kind(record) == RecordKind::Relation &&
           table.is(record.schema_token, record.table_token) &&
           !relation_matches(table, record.columns);
}

bool truncates(const record::ScannedRecord& record, const TableSchema& table) {
    if (record_kind(record) != RecordKind::Truncate) return false;
    bool ours = false;
    record::for_each_element(record.relations, [&](std::string_view element) {
        std::string_view schema, name;
        record::for_each_member(element, [&](std::string_view key, std::string_view value) {
            if (key == "\"schema\"") schema = value;
            if (key == "\"table\"") name = value;
        });
        if (table.is(schema, name)) ours = true;
    });
    return ours;
}

ShapeOp row_meaning(const Shape& shape, const RowImages& row,
                    const std::optional<LoadSnapshot>& load, Lsn commit_lsn, uint32_t xid) {
    if (load && load->saw(commit_lsn, xid)) return ShapeOp::None;
    return classify(shape, row);
}

} // namespace pgsync::serve
