// A subset snapshot's ORDER BY (Electric's subset__order_by): column names, quoted or not, each
// with ASC or DESC and NULLS FIRST or LAST, comma-separated; nothing else. Checked against the
// table's columns and rendered as SQL with quoted identifiers, so the client's text never
// reaches the database.
#pragma once

#include "serve/shapes/table_schema.h"

#include <string>
#include <string_view>

namespace pgsync::serve::electric {

// The ORDER BY list as SQL ("\"title\" DESC NULLS LAST, \"id\""), or false with error naming the
// position and what is wrong.
bool render_order_by(std::string_view text, const TableSchema& table, std::string& sql,
                     std::string& error);

} // namespace pgsync::serve::electric
