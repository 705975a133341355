// The order of an ordered window (/v1/ws subscribe with order_by and limit): the client's terms,
// then the table's key ascending so that ties break the same way every time, each column compared
// in C++ exactly as the database sorts it (filter/sort_value.h; text under COLLATE "C"), and the
// check that an index serves it, so that a refill reads a few index entries, never the table.
#pragma once

#include "filter/evaluator.h"
#include "filter/sort_value.h"
#include "serve/shapes/order_by.h"
#include "serve/shapes/table_schema.h"

#include <optional>
#include <string>
#include <vector>

namespace pgsync::serve {

struct WindowOrder {
    struct Column {
        int column = -1;
        filter::SortColumn sort;
        bool descending = false;
        bool nulls_first = false;
    };
    std::vector<Column> columns; // the terms, then the key columns not among them
    std::string sql;             // the ORDER BY the database is asked for
    std::string identity;        // the same order gives the same text
};

struct WindowOrderProblem {
    std::string message;        // "column \"body\" of type jsonb cannot order a window"
    std::string hint;           // a full sentence: what to do ("Create it: CREATE INDEX …")
    bool missing_index = false; // no index serves it (one may have been made since the tables
                                // were read)
};

// The order of terms on table, for a filter that fixes equality_columns (an index may lead with
// them); a problem when a column cannot be compared or no index serves the order.
std::optional<WindowOrderProblem> make_window_order(const TableSchema& table,
                                                    const std::vector<OrderTerm>& terms,
                                                    const std::vector<int>& equality_columns,
                                                    WindowOrder& out);

using SortKey = std::vector<filter::SortValue>;

// A row's sort key from its cells (one per table column); false when a column it sorts by is
// Absent or does not read as its type.
bool read_sort_key(const WindowOrder& order, const std::vector<filter::Cell>& cells, SortKey& out);

// <0 when a sorts before b.
int compare_sort_keys(const WindowOrder& order, const SortKey& a, const SortKey& b);

} // namespace pgsync::serve
