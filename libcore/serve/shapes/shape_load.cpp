// The initial load of a shape: transaction, publication check, snapshot, cursor, rows.
#include "serve/shapes/shape_load.h"

#include "filter/evaluator.h"
#include "filter/render_sql.h"
#include "pg/identifier.h"
#include "util/error.h"
#include "util/log.h"

#include <libpq-fe.h>

namespace pgsync::serve {

namespace {

void begin(LoadConnection& worker, const std::string& conninfo) {
    const char* kBegin = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
    if (worker.conn && PQstatus(worker.conn.raw()) == CONNECTION_OK) {
        try {
            worker.conn.exec(kBegin);
            return;
        } catch (const std::exception&) {
            if (PQstatus(worker.conn.raw()) == CONNECTION_OK) throw;
            log::info("a loader's database connection was closed; opening a new one");
        }
    }
    worker.conn = pg::Connection::open({conninfo, false, "pgsync-serve loader", {}});
    worker.conn.exec(kBegin);
}

} // namespace

LoadStart begin_shape_load(LoadConnection& worker, const std::string& conninfo,
                           const std::string& publication, const Shape& shape,
                           LoadSnapshot& snapshot, const LoadSubset* subset) {
    const TableSchema& table = *shape.table;
    begin(worker, conninfo);
    pg::Connection& conn = worker.conn;
    try {
        // The publication as of this transaction's snapshot, not as it was when the table was
        // first read: a table dropped from it, a narrowed column list or row filter apply at once.
        pg::Result entry = conn.exec_params(
            "SELECT coalesce(pt.rowfilter, ''), a.name FROM pg_catalog.pg_publication_tables pt "
            "LEFT JOIN LATERAL unnest(pt.attnames) AS a(name) ON true "
            "WHERE pt.pubname = $1 AND pt.schemaname = $2 AND pt.tablename = $3",
            {publication, table.schema, table.name}, "could not read the publication's entry");
        if (PQntuples(entry.raw()) == 0) {
            conn.exec("ROLLBACK");
            return LoadStart::Unpublished;
        }
        const std::string row_filter = PQgetvalue(entry.raw(), 0, 0);
        for (const auto& column : table.columns) {
            bool published = false;
            for (int r = 0; r < PQntuples(entry.raw()) && !published; ++r)
                published = column.name == PQgetvalue(entry.raw(), r, 1);
            if (!published) {
                conn.exec("ROLLBACK");
                return LoadStart::PublicationChanged;
            }
        }

        worker.catalog.load(conn, table.declared_type_oids);
        std::string where;
        std::vector<std::optional<std::string>> params;
        if (shape.filter) {
            filter::SqlFilter sql = filter::render_sql(*shape.filter, 1);
            where = sql.sql;
            for (auto& p : sql.params)
                params.emplace_back(std::move(p));
        }
        if (subset && subset->filter) {
            filter::SqlFilter sql = filter::render_sql(*subset->filter, int(params.size()) + 1);
            where = where.empty() ? sql.sql : where + " AND " + sql.sql;
            for (auto& p : sql.params)
                params.emplace_back(std::move(p));
        }
        if (!row_filter.empty()) // the publication's own filter: catalog text, not a client's
            where = where.empty() ? "(" + row_filter + ")" : where + " AND (" + row_filter + ")";
        std::string select = "SELECT ";
        for (size_t i = 0; i < table.columns.size(); ++i) {
            if (i) select += ", ";
            select += pg::quote_ident(table.columns[i].name);
        }
        select += " FROM " + table.sql_name();
        if (!where.empty()) select += " WHERE " + where;
        if (subset) {
            if (!subset->order_by_sql.empty()) select += " ORDER BY " + subset->order_by_sql;
            if (subset->limit) select += " LIMIT " + std::to_string(*subset->limit);
            if (subset->offset) select += " OFFSET " + std::to_string(*subset->offset);
        }

        // The insert position, not the write position: under synchronous_commit = off a
        // transaction the snapshot sees may have its commit record past what was written (issue 9).
        pg::Result snap = conn.exec("SELECT pg_catalog.pg_current_snapshot()::text, "
                                    "pg_catalog.pg_current_wal_insert_lsn()::text",
                                    "could not take the load's snapshot");
        auto xids = XidSnapshot::parse(PQgetvalue(snap.raw(), 0, 0));
        auto lsn = Lsn::parse(PQgetvalue(snap.raw(), 0, 1));
        if (!xids || !lsn) throw Error("could not parse pg_current_snapshot()");
        conn.exec_params("DECLARE pgsync_load NO SCROLL CURSOR FOR " + select, params,
                         "could not start the initial load");
        snapshot = LoadSnapshot{std::move(*xids), *lsn};
        return LoadStart::Started;
    } catch (...) {
        worker.conn.close(); // reopened by the next load
        throw;
    }
}

bool read_shape_rows(LoadConnection& worker, const Shape& shape,
                     const std::function<void(const RowImages&)>& row_callback) {
    const TableSchema& table = *shape.table;
    pg::Connection& conn = worker.conn;
    record::ValueWriter values(worker.catalog);
    thread_local RowImages row;
    thread_local std::string scratch;
    thread_local std::vector<size_t> starts, lengths;
    row.op = RowImages::Op::Insert;
    starts.resize(table.columns.size());
    lengths.resize(table.columns.size());
    try {
        pg::Result rows = conn.exec("FETCH 1000 FROM pgsync_load", "could not read the rows");
        const int n = PQntuples(rows.raw());
        for (int r = 0; r < n; ++r) {
            scratch.clear();
            row.new_cells.assign(table.columns.size(), filter::Cell{});
            for (size_t c = 0; c < table.columns.size(); ++c) {
                if (PQgetisnull(rows.raw(), r, int(c))) {
                    row.new_cells[c].kind = filter::Cell::Kind::Null;
                    continue;
                }
                starts[c] = scratch.size();
                values.append(scratch, table.declared_type_oids[c],
                              std::string_view(PQgetvalue(rows.raw(), r, int(c)),
                                               size_t(PQgetlength(rows.raw(), r, int(c)))));
                lengths[c] = scratch.size() - starts[c];
                row.new_cells[c].kind = filter::Cell::Kind::Json;
            }
            for (size_t c = 0; c < table.columns.size(); ++c)
                if (row.new_cells[c].kind == filter::Cell::Kind::Json)
                    row.new_cells[c].json = std::string_view(scratch).substr(starts[c], lengths[c]);
            // Fail closed: a row the database returned that the evaluator does not match (a
            // collation, a cast, a bug on either side) is never sent.
            if (shape.filter &&
                filter::evaluate(*shape.filter, row.new_cells) != filter::Match::Yes)
                throw Error("the database returned a row of table \"" + table.display_name() +
                            "\" that the subscription's filter does not match; the load was "
                            "stopped and nothing of that row was sent");
            row_callback(row);
        }
        if (n == 0) {
            conn.exec("COMMIT");
            return false;
        }
        return true;
    } catch (...) {
        worker.conn.close();
        throw;
    }
}

void abandon_shape_load(LoadConnection& worker) {
    try {
        worker.conn.exec("ROLLBACK");
    } catch (const std::exception&) {
        worker.conn.close();
    }
}

} // namespace pgsync::serve
