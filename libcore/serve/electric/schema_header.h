// The electric-schema header of a shape: for each selected column, Electric's description
// {"type", "dims", "not_null", "pk_index", "max_length", "length", "precision", "scale",
// "fields", "type_mod"} read from the catalog, exactly as Electric writes it (see
// ../shared/reference/electric-shape-protocol.md §3.6): the client parses values by it.
#pragma once

#include "pg/connection.h"
#include "serve/shapes/table_schema.h"

#include <string>
#include <vector>

namespace pgsync::serve::electric {

// The header's JSON (one line, keys in column order) for table's columns at the indexes in
// selected. pk_index follows table.key_columns (the key Electric messages carry). Arrays: "type"
// is the element type's name and "dims" at least 1. Domains, enums and composites: their own type
// name. Throws pgsync::Error when the catalog query fails.
std::string read_schema_header(pg::Connection& conn, const TableSchema& table,
                               const std::vector<int>& selected);

} // namespace pgsync::serve::electric
