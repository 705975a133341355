// ShapeIndex; see filter/shape_index.h. A shape is filed under one equality of its top-level AND
// (the first), so it sits in exactly one place and candidates() never returns it twice.
#include "filter/shape_index.h"

#include "filter/bound_filter_impl.h"
#include "filter/cell_value.h"
#include "filter/pg_input.h"

#include <algorithm>

namespace pgsync::filter {

namespace {

// The equality `column = constant` a shape can be filed under, or null.
const BoundNode* indexable_equality(const BoundNode& root) {
    auto usable = [](const BoundNode& node) {
        return node.kind == BoundNode::Kind::Compare && node.op == CompareOp::Eq &&
               node.compare != CompareKind::None && !node.values[0].null;
    };
    if (usable(root)) return &root;
    if (root.kind == BoundNode::Kind::And)
        for (const BoundNode& child : root.children)
            if (usable(child)) return &child;
    return nullptr;
}

void erase_id(std::vector<ShapeIndex::ShapeId>& ids, ShapeIndex::ShapeId id) {
    auto found = std::find(ids.begin(), ids.end(), id);
    if (found == ids.end()) return;
    *found = ids.back();
    ids.pop_back();
}

} // namespace

void ShapeIndex::add(ShapeId id, const BoundFilter* filter) {
    remove(id);
    Entry entry;
    entry.filter = filter;
    const BoundNode* equality = filter ? indexable_equality(filter->root()) : nullptr;
    if (equality && index_key_of_value(equality->compare, equality->values[0], entry.key)) {
        entry.column = equality->column;
        ColumnIndex& column = m_by_value[entry.column];
        column.type_oid = filter->columns()[size_t(entry.column)].type_oid;
        column.by_value[entry.key].push_back(id);
        ++column.shapes;
    } else {
        m_unindexed.push_back(id);
    }
    m_entries.emplace(id, std::move(entry));
}

void ShapeIndex::remove(ShapeId id) {
    auto found = m_entries.find(id);
    if (found == m_entries.end()) return;
    const Entry& entry = found->second;
    if (entry.column >= 0) {
        auto column = m_by_value.find(entry.column);
        auto bucket = column->second.by_value.find(entry.key);
        erase_id(bucket->second, id);
        if (bucket->second.empty()) column->second.by_value.erase(bucket);
        if (--column->second.shapes == 0) m_by_value.erase(column);
    } else {
        erase_id(m_unindexed, id);
    }
    m_entries.erase(found);
}

size_t ShapeIndex::size() const {
    return m_entries.size();
}

void ShapeIndex::candidates(std::span<const Cell> row, std::vector<ShapeId>& out) const {
    thread_local std::string key;
    for (const auto& [column, index] : m_by_value) {
        const Cell cell = size_t(column) < row.size() ? row[size_t(column)] : Cell{};
        if (cell.kind == Cell::Kind::Null) continue; // `column = constant` is never true
        if (cell.kind == Cell::Kind::Absent) {
            // The image lacks the column: every shape filed under it may match (Unknown).
            for (const auto& [value, ids] : index.by_value)
                out.insert(out.end(), ids.begin(), ids.end());
            continue;
        }
        if (!index_key_of_cell(base_kind(index.type_oid), cell.json, key)) continue;
        auto bucket = index.by_value.find(key);
        if (bucket != index.by_value.end())
            out.insert(out.end(), bucket->second.begin(), bucket->second.end());
    }
    out.insert(out.end(), m_unindexed.begin(), m_unindexed.end());
}

} // namespace pgsync::filter
