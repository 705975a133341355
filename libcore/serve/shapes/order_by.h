// An ORDER BY list a client wrote (Electric's subset__order_by, a /v1/ws window's order_by):
// column names, quoted or not, each with ASC or DESC and NULLS FIRST or LAST, comma-separated;
// nothing else. Checked against the table's columns, so the client's text never reaches the
// database: the SQL is rendered from the parsed terms with quoted identifiers.
#pragma once

#include "serve/shapes/table_schema.h"

#include <string>
#include <string_view>
#include <vector>

namespace pgsync::serve {

struct OrderTerm {
    enum class Direction { Unsaid, Asc, Desc };
    enum class Nulls { Unsaid, First, Last };
    int column = -1; // index into TableSchema::columns
    Direction direction = Direction::Unsaid;
    Nulls nulls = Nulls::Unsaid;

    bool descending() const { return direction == Direction::Desc; }
    // PostgreSQL's default: NULLS FIRST for DESC, LAST otherwise.
    bool nulls_first() const {
        return nulls == Nulls::First || (nulls == Nulls::Unsaid && descending());
    }
};

// The terms, or false with error naming the position and what is wrong ("At location 7: column
// \"x\" does not exist in table \"public.t\"").
bool parse_order_by(std::string_view text, const TableSchema& table, std::vector<OrderTerm>& terms,
                    std::string& error);

// The terms as SQL, as written ("\"title\" DESC NULLS LAST, \"id\"").
std::string order_by_sql(const std::vector<OrderTerm>& terms, const TableSchema& table);

} // namespace pgsync::serve
