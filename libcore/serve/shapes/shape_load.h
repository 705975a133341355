// A shape's initial load, the one way both kinds of client get one (the WebSocket hub's loader and
// the Electric shape registry): a REPEATABLE READ READ ONLY transaction that checks the
// publication's entry for the table as of its snapshot, records pg_current_snapshot() and the WAL
// insert position with it (what the log must add after the load: LoadSnapshot), and reads the
// shape's rows through a cursor with the filter rendered as SQL with bound parameters. Rows come
// back as RowImages of native JSON cells, each checked against the filter (fail closed).
#pragma once

#include "pg/connection.h"
#include "pg/type_catalog.h"
#include "record/value_json.h"
#include "serve/shapes/record_meaning.h"
#include "serve/shapes/shape.h"

#include <functional>
#include <optional>
#include <string>

namespace pgsync::serve {

// A connection for loads, opened again when the server closed it while idle (a restart,
// pg_terminate_backend), rather than failing the next load.
struct LoadConnection {
    pg::Connection conn;
    pg::TypeCatalog catalog; // the types of the tables loaded so far
};

enum class LoadStart { Started, Unpublished, PublicationChanged };

// A part of the shape's rows (an Electric subset snapshot): a further filter, an order (SQL
// rendered from checked column names) and a window.
struct LoadSubset {
    const filter::BoundFilter* filter = nullptr;
    std::string order_by_sql;
    std::optional<uint64_t> limit, offset;
};

// Begins the transaction and declares the cursor; on anything but Started the transaction is
// rolled back. Throws pgsync::Error when the database fails (the connection is then closed).
LoadStart begin_shape_load(LoadConnection& worker, const std::string& conninfo,
                           const std::string& publication, const Shape& shape,
                           LoadSnapshot& snapshot, const LoadSubset* subset = nullptr);

// Reads up to 1,000 rows: row(images) for each, with images.new_cells pointing into a buffer
// valid during the call. Returns false when the rows are exhausted (the transaction is then
// committed). Throws pgsync::Error when a row the database returned fails the filter.
bool read_shape_rows(LoadConnection& worker, const Shape& shape,
                     const std::function<void(const RowImages&)>& row);

// Ends a load early.
void abandon_shape_load(LoadConnection& worker);

} // namespace pgsync::serve
