// Window orders: type checks, the index check and its hint, and sort-key comparison.
#include "serve/windows/window_order.h"

#include "pg/identifier.h"

#include <algorithm>

namespace pgsync::serve {

namespace {

// Whether index serves the columns in order after leading columns the filter fixes, scanned
// forward or backward (all columns the same way).
bool index_serves(const TableIndex& index, const std::vector<WindowOrder::Column>& terms,
                  const std::vector<int>& equality_columns) {
    size_t lead = 0;
    while (lead < index.columns.size() &&
           std::count(equality_columns.begin(), equality_columns.end(), index.columns[lead]))
        ++lead;
    // An equality column may also be a term: then it may stand among the leading ones.
    for (size_t start = 0; start <= lead; ++start) {
        if (start + terms.size() > index.columns.size()) break;
        int way = 0; // 1 forward, -1 backward
        bool ok = true;
        for (size_t i = 0; i < terms.size() && ok; ++i) {
            const size_t at = start + i;
            const auto& term = terms[i];
            if (index.columns[at] != term.column)
                ok = false;
            else if (term.sort.is_text() && !index.c_collation[at])
                ok = false;
            else {
                const bool same = bool(index.descending[at]) == term.descending &&
                                  bool(index.nulls_first[at]) == term.nulls_first;
                const bool reversed = bool(index.descending[at]) != term.descending &&
                                      bool(index.nulls_first[at]) != term.nulls_first;
                const int here = same ? 1 : reversed ? -1 : 0;
                if (here == 0 || (way != 0 && here != way)) ok = false;
                way = here;
            }
        }
        if (ok) return true;
    }
    return false;
}

std::string index_hint(const TableSchema& table, const std::vector<WindowOrder::Column>& terms,
                       const std::vector<int>& equality_columns) {
    std::string columns;
    for (int column : equality_columns) {
        columns += columns.empty() ? "" : ", ";
        columns += pg::display_ident(table.columns[size_t(column)].name);
    }
    for (const auto& term : terms) {
        if (std::count(equality_columns.begin(), equality_columns.end(), term.column)) continue;
        columns += columns.empty() ? "" : ", ";
        columns += pg::display_ident(table.columns[size_t(term.column)].name);
        if (term.sort.is_text()) columns += " COLLATE \"C\"";
        if (term.descending) columns += " DESC";
        if (term.nulls_first != term.descending)
            columns += term.nulls_first ? " NULLS FIRST" : " NULLS LAST";
    }
    return "Create an index that serves it: CREATE INDEX ON " + table.display_name() + " (" +
           columns + ");";
}

} // namespace

std::optional<WindowOrderProblem> make_window_order(const TableSchema& table,
                                                    const std::vector<OrderTerm>& terms,
                                                    const std::vector<int>& equality_columns,
                                                    WindowOrder& out) {
    out = WindowOrder{};
    if (terms.empty())
        return WindowOrderProblem{"\"order_by\" names no column",
                                  "Name at least one column, e.g. \"created_at desc\"."};
    // False when the column's type cannot be compared here.
    auto add = [&](int column, bool descending, bool nulls_first) {
        auto sort = filter::SortColumn::of(table.columns[size_t(column)].type_oid);
        if (!sort) return false;
        for (const auto& existing : out.columns)
            if (existing.column == column) return true; // said once is enough
        out.columns.push_back({column, *sort, descending, nulls_first});
        return true;
    };
    for (const OrderTerm& term : terms)
        if (!add(term.column, term.descending(), term.nulls_first()))
            return WindowOrderProblem{"column \"" + table.columns[size_t(term.column)].name +
                                          "\" is of a type that cannot order a window",
                                      "Order by a column of a number, text, uuid, boolean, date "
                                      "or timestamp type."};
    const size_t client_terms = out.columns.size();
    for (int key : table.key_columns)
        if (!add(key, false, false))
            return WindowOrderProblem{"key column \"" + table.columns[size_t(key)].name +
                                          "\" of table \"" + table.display_name() +
                                          "\" is of a type that cannot break ties in a window",
                                      "Give the table a primary key of a number, text or uuid "
                                      "type."};
    const std::vector<WindowOrder::Column> ordered(out.columns.begin(),
                                                   out.columns.begin() + long(client_terms));
    bool served = false;
    for (const TableIndex& index : table.indexes)
        served = served || index_serves(index, ordered, equality_columns);
    if (!served) {
        std::string said;
        for (const auto& term : ordered) {
            said += said.empty() ? "" : ", ";
            said += table.columns[size_t(term.column)].name + (term.descending ? " desc" : "");
        }
        return WindowOrderProblem{"no index of table \"" + table.display_name() +
                                      "\" serves the order \"" + said +
                                      "\" after the filter's "
                                      "equalities, so every refill would read the table",
                                  index_hint(table, ordered, equality_columns), true};
    }
    for (const auto& column : out.columns) {
        if (!out.sql.empty()) out.sql += ", ";
        out.sql += pg::quote_ident(table.columns[size_t(column.column)].name);
        if (column.sort.is_text()) out.sql += " COLLATE \"C\"";
        out.sql += column.descending ? " DESC" : " ASC";
        out.sql += column.nulls_first ? " NULLS FIRST" : " NULLS LAST";
        out.identity += std::to_string(column.column) + (column.descending ? "d" : "a") +
                        (column.nulls_first ? "f" : "l") + ",";
    }
    return std::nullopt;
}

bool read_sort_key(const WindowOrder& order, const std::vector<filter::Cell>& cells, SortKey& out) {
    out.resize(order.columns.size());
    for (size_t i = 0; i < order.columns.size(); ++i) {
        const filter::Cell& cell = cells[size_t(order.columns[i].column)];
        if (cell.kind == filter::Cell::Kind::Absent) return false;
        if (cell.kind == filter::Cell::Kind::Null) {
            out[i] = filter::SortValue{};
            out[i].null = true;
            continue;
        }
        if (!order.columns[i].sort.read(cell.json, out[i])) return false;
    }
    return true;
}

int compare_sort_keys(const WindowOrder& order, const SortKey& a, const SortKey& b) {
    for (size_t i = 0; i < order.columns.size(); ++i) {
        const auto& column = order.columns[i];
        int result;
        if (a[i].null || b[i].null) {
            if (a[i].null && b[i].null) continue;
            // NULLs stand first or last whatever the direction says of the rest.
            result = a[i].null ? (column.nulls_first ? -1 : 1) : (column.nulls_first ? 1 : -1);
            return result;
        }
        result = column.sort.compare(a[i], b[i]);
        if (result != 0) return column.descending ? -result : result;
    }
    return 0;
}

} // namespace pgsync::serve
