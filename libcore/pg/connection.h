// Connections to PostgreSQL: RAII over PGconn/PGresult, libpq connection strings and PG* variables,
// and the pinned session settings every pgsync connection runs with (cdc-hard-cases T18).
#pragma once

#include "util/error.h"

#include <libpq-fe.h>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgsync::pg {

// A query or connection failure, with the server's SQLSTATE when there is one ("" otherwise).
class QueryError : public Error {
public:
    QueryError(std::string message, std::string sqlstate, std::string hint = {})
        : Error(std::move(message), std::move(hint)), m_sqlstate(std::move(sqlstate)) {}
    const std::string& sqlstate() const { return m_sqlstate; }

private:
    std::string m_sqlstate;
};

class Result {
public:
    Result() = default;
    explicit Result(PGresult* result) : m_result(result, &PQclear) {}

    PGresult* raw() const { return m_result.get(); }
    int rows() const { return m_result ? PQntuples(m_result.get()) : 0; }
    int columns() const { return m_result ? PQnfields(m_result.get()) : 0; }
    bool is_null(int row, int column) const { return PQgetisnull(m_result.get(), row, column); }
    std::string_view get(int row, int column) const {
        return {PQgetvalue(m_result.get(), row, column),
                size_t(PQgetlength(m_result.get(), row, column))};
    }
    std::string str(int row, int column) const { return std::string(get(row, column)); }
    std::optional<std::string> opt(int row, int column) const {
        if (is_null(row, column)) return std::nullopt;
        return str(row, column);
    }
    int column_index(const char* name) const { return PQfnumber(m_result.get(), name); }

private:
    std::unique_ptr<PGresult, void (*)(PGresult*)> m_result{nullptr, &PQclear};
};

struct ConnectOptions {
    std::string conninfo;         // a libpq connection string, URI, or a bare database name
    bool replication = false;     // adds replication=database (walsender for logical decoding)
    std::string application_name; // used unless the user set one
    // Extra "-c name=value" settings after the pinned ones (e.g. lock_timeout).
    std::vector<std::pair<std::string, std::string>> settings;
    // false: the settings that shape values' text (DateStyle, TimeZone, extra_float_digits, ...)
    // are left at the server's defaults for the role and database, as a plain client such as
    // pg_recvlogical gets them; client_encoding stays UTF8.
    bool pin_settings = true;
};

// The settings pinned on every connection so that the text of values never depends on the
// server's or the user's defaults (T18).
const std::vector<std::pair<std::string, std::string>>& pinned_settings();

class Connection {
public:
    static Connection open(const ConnectOptions& options);

    Connection() = default;
    Connection(Connection&&) = default;
    Connection& operator=(Connection&&) = default;

    PGconn* raw() const { return m_conn.get(); }
    explicit operator bool() const { return bool(m_conn); }
    void close() { m_conn.reset(); }

    // Runs SQL (possibly several statements); throws QueryError on failure.
    Result exec(std::string_view sql, std::string_view what = {});
    // Runs one statement with text parameters ($1..$n); nullopt is SQL NULL.
    Result exec_params(std::string_view sql, const std::vector<std::optional<std::string>>& params,
                       std::string_view what = {});
    // Runs SQL and returns the first column of the first row.
    std::string query_value(std::string_view sql, std::string_view what = {});

    int server_version() const { return PQserverVersion(m_conn.get()); }
    int backend_pid() const { return PQbackendPID(m_conn.get()); }
    std::string error_message() const; // libpq's last error, folded to one line
    std::string describe() const;      // "host=… port=… dbname=… user=…" for messages

private:
    explicit Connection(PGconn* conn) : m_conn(conn, &PQfinish) {}
    Result check(PGresult* result, std::string_view sql, std::string_view what);

    std::unique_ptr<PGconn, void (*)(PGconn*)> m_conn{nullptr, &PQfinish};
};

// Throws QueryError from a failed PGresult (or a null one on connection loss).
[[noreturn]] void throw_result_error(PGconn* conn, PGresult* result, std::string_view what);

// Identifier and literal quoting done here (not by the server) so SQL is built in one way (T17).
std::string quote_ident(std::string_view identifier);
std::string quote_literal(std::string_view literal);

// Folds libpq's multi-line messages into one line, trimming the trailing newline.
std::string one_line(std::string_view message);

} // namespace pgsync::pg
