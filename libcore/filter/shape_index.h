// ShapeIndex: which shapes of one table a changed row may match, without trying every shape. A
// shape whose filter is an AND with an equality `column = constant` is filed under (column, value);
// the others are always candidates. Lookup cost grows with the number of indexed columns, not the
// number of shapes (as Electric does it).
#pragma once

#include "filter/bound_filter.h"
#include "filter/evaluator.h"

#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace pgsync::filter {

// All shapes of one index belong to the same table. A row image that lacks an indexed column
// (Absent) gets every shape filed under that column as a candidate.
class ShapeIndex {
public:
    using ShapeId = uint64_t;

    // The filter must outlive its entry (callers keep it in the shape). A null filter: matches all.
    void add(ShapeId id, const BoundFilter* filter);
    void remove(ShapeId id);
    size_t size() const;

    // Appends (unsorted, no duplicates) the ids of shapes whose filter may match row; the caller
    // still evaluates each. row: one Cell per table column.
    void candidates(std::span<const Cell> row, std::vector<ShapeId>& out) const;

private:
    struct Entry {
        const BoundFilter* filter = nullptr;
        int column = -1; // the indexed column, or -1
        std::string key; // the canonical value it is filed under
    };
    std::unordered_map<ShapeId, Entry> m_entries;
    struct ColumnIndex {
        uint32_t type_oid = 0; // how a row's cell of the column is read into a key
        size_t shapes = 0;
        std::unordered_map<std::string, std::vector<ShapeId>> by_value; // canonical value -> shapes
    };
    std::unordered_map<int, ColumnIndex> m_by_value; // indexed column -> its shapes
    std::vector<ShapeId> m_unindexed;
};

} // namespace pgsync::filter
