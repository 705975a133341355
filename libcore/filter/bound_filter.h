// A filter bound to one table: every column reference resolved to a column of the table with a
// supported type, every literal and parameter converted to that column's type (as PostgreSQL
// casts an unknown-typed literal), ready to evaluate on rows (filter/evaluator.h), to render as
// SQL (filter/render_sql.h) and to index (filter/shape_index.h).
#pragma once

#include "filter/expr.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace pgsync::filter {

// The types a filter may compare; anything else is refused when binding, with the column named.
enum class ColumnType { Bool, Int, Numeric, Float, Text, Uuid, Date, Timestamp, TimestampTz };

// Maps a PostgreSQL base type OID to a ColumnType, or nullopt when filters cannot use it.
std::optional<ColumnType> column_type_of(uint32_t type_oid);

struct TableColumn {
    std::string name;
    uint32_t type_oid = 0; // the base type's OID (a domain resolved to its base)
    bool key = false;      // part of the replica identity
};

struct BoundNode; // the compiled tree; defined in filter/bound_filter_impl.h

// Immutable once bound; cheap to share between subscriptions of the same shape.
class BoundFilter {
public:
    BoundFilter(std::vector<TableColumn> columns, std::shared_ptr<const BoundNode> root,
                std::vector<int> referenced);
    const std::vector<TableColumn>& columns() const { return m_columns; }
    const BoundNode& root() const { return *m_root; }
    // Table column indexes the filter reads, ascending, no duplicates.
    const std::vector<int>& referenced() const { return m_referenced; }
    // A canonical text of the bound tree (same meaning gives the same text): the shape's identity.
    std::string canonical() const;
    // Columns the filter fixes to one value (`column = constant` ANDed at the top): the leading
    // columns an index may have before the ones an ordered window sorts by. Ascending.
    std::vector<int> equality_columns() const;

private:
    std::vector<TableColumn> m_columns;
    std::shared_ptr<const BoundNode> m_root;
    std::vector<int> m_referenced;
};

struct BindError {
    size_t position = 0; // byte offset in the where text
    std::string message; // e.g. "column \"grup\" does not exist (did you mean \"group_name\"?)"
};

struct BindResult {
    std::optional<BoundFilter> filter;
    BindError error;
    bool ok() const { return filter.has_value(); }
};

// Binds expr to a table's columns. params are the client's $1..$n values as text (a JSON string,
// number or boolean given as its text; a JSON null as nullopt). Errors: unknown column, column of
// an unsupported type, $n without a value, a value that is not valid input for its column's type
// ("invalid input syntax for type integer: \"abc\""), LIKE on a non-text column.
BindResult bind(const Expr& expr, const std::vector<TableColumn>& columns,
                const std::vector<std::optional<std::string>>& params);

} // namespace pgsync::filter
