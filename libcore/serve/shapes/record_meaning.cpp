// record_meaning: record kinds, schema changes, truncates and the load-snapshot test.
#include "serve/shapes/record_meaning.h"

#include <algorithm>

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

void change_candidates(const filter::ShapeIndex& index, const std::vector<uint64_t>& needs_old,
                       const RowImages& row, std::vector<uint64_t>& out) {
    out.clear();
    index.candidates(row.new_cells, out);
    if (row.has_old || row.op == RowImages::Op::Update) index.candidates(row.old_cells, out);
    if (!row.old_full && row.op != RowImages::Op::Insert)
        out.insert(out.end(), needs_old.begin(), needs_old.end());
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
}

ShapeOp row_meaning(const Shape& shape, const RowImages& row,
                    const std::optional<LoadSnapshot>& load, Lsn commit_lsn, uint32_t xid) {
    if (load && load->saw(commit_lsn, xid)) return ShapeOp::None;
    return classify(shape, row);
}

} // namespace pgsync::serve
