// Connection setup (connection-string merging, pinned settings) and query helpers.
#include "pg/connection.h"

#include <cstdlib>
#include <cstring>

namespace pgsync::pg {

const std::vector<std::pair<std::string, std::string>>& pinned_settings() {
    static const std::vector<std::pair<std::string, std::string>> settings = {
        {"DateStyle", "ISO"},        {"IntervalStyle", "postgres"}, {"TimeZone", "UTC"},
        {"extra_float_digits", "3"}, {"bytea_output", "hex"},       {"lc_monetary", "C"},
        {"client_encoding", "UTF8"},
    };
    return settings;
}

namespace {

bool looks_like_conninfo(std::string_view s) {
    return s.find('=') != std::string_view::npos || s.starts_with("postgres://") ||
           s.starts_with("postgresql://");
}

// Values inside libpq's "options" are split on spaces; backslash-escape them.
std::string escape_option_value(std::string_view value) {
    std::string out;
    for (char c : value) {
        if (c == ' ' || c == '\\') out += '\\';
        out += c;
    }
    return out;
}

} // namespace

std::string one_line(std::string_view message) {
    std::string out;
    bool pending_space = false;
    for (char c : message) {
        if (c == '\n' || c == '\r') {
            pending_space = !out.empty();
            continue;
        }
        if (pending_space) {
            out += ' ';
            pending_space = false;
        }
        out += c;
    }
    return out;
}

Connection Connection::open(const ConnectOptions& options) {
    std::vector<std::pair<std::string, std::string>> params;
    const std::string& info = options.conninfo;
    if (!info.empty() && looks_like_conninfo(info)) {
        char* err = nullptr;
        PQconninfoOption* parsed = PQconninfoParse(info.c_str(), &err);
        if (!parsed) {
            std::string why = err ? one_line(err) : "out of memory";
            if (err) PQfreemem(err);
            throw usage_error("invalid connection string: " + why,
                              "Give a libpq connection string such as \"host=localhost "
                              "dbname=app\" or a URI such as postgresql://user@host/app.");
        }
        for (PQconninfoOption* o = parsed; o->keyword; ++o)
            if (o->val) params.emplace_back(o->keyword, o->val);
        PQconninfoFree(parsed);
    } else if (!info.empty()) {
        params.emplace_back("dbname", info);
    }

    auto find = [&](const char* key) -> std::string* {
        for (auto& [k, v] : params)
            if (k == key) return &v;
        return nullptr;
    };

    // Keep the user's own options (or PGOPTIONS) and append ours; later -c settings win.
    std::string opts;
    if (auto* user = find("options"))
        opts = *user;
    else if (const char* env = std::getenv("PGOPTIONS"))
        opts = env;
    for (const auto& [name, value] : pinned_settings())
        if (options.pin_settings || name == "client_encoding")
            opts += " -c " + name + "=" + escape_option_value(value);
    for (const auto& [name, value] : options.settings)
        opts += " -c " + name + "=" + escape_option_value(value);
    if (auto* o = find("options"))
        *o = opts;
    else
        params.emplace_back("options", opts);

    if (auto* enc = find("client_encoding"))
        *enc = "UTF8";
    else
        params.emplace_back("client_encoding", "UTF8");
    if (!find("application_name") && !std::getenv("PGAPPNAME") && !options.application_name.empty())
        params.emplace_back("application_name", options.application_name);
    if (options.replication) {
        if (auto* r = find("replication"))
            *r = "database";
        else
            params.emplace_back("replication", "database");
    }

    std::vector<const char*> keys, values;
    for (auto& [k, v] : params) {
        keys.push_back(k.c_str());
        values.push_back(v.c_str());
    }
    keys.push_back(nullptr);
    values.push_back(nullptr);

    Connection conn(PQconnectdbParams(keys.data(), values.data(), 0));
    if (!conn.m_conn) throw Error("could not connect to the database: out of memory");
    if (PQstatus(conn.raw()) != CONNECTION_OK) {
        throw QueryError("could not connect to the database: " + conn.error_message(), "",
                         "Check the connection string given with -d/--dbname and the PG* "
                         "environment variables (PGHOST, PGPORT, PGUSER, PGDATABASE).");
    }
    // Assert what the server reports back; a pooler or an odd server could ignore options.
    for (const char* name : {"TimeZone", "DateStyle", "IntervalStyle", "client_encoding"}) {
        if (!options.pin_settings && std::string_view(name) != "client_encoding") continue;
        const char* value = PQparameterStatus(conn.raw(), name);
        std::string want;
        for (const auto& [k, v] : pinned_settings())
            if (k == name) want = v;
        if (value && std::string_view(name) == "DateStyle") {
            if (!std::string_view(value).starts_with("ISO"))
                throw Error(std::string("the server did not accept DateStyle=ISO (it reports \"") +
                            value + "\")");
        } else if (value && strcasecmp(value, want.c_str()) != 0) {
            throw Error(std::string("the server did not accept ") + name + "=" + want +
                            " (it reports \"" + value + "\")",
                        "A connection pooler may be rewriting startup options; connect to "
                        "PostgreSQL directly.");
        }
    }
    return conn;
}

std::string Connection::error_message() const {
    if (!m_conn) return "no connection";
    std::string msg = one_line(PQerrorMessage(m_conn.get()));
    return msg.empty() ? "unknown error" : msg;
}

std::string Connection::describe() const {
    if (!m_conn) return "(not connected)";
    auto v = [](const char* s) { return s ? std::string(s) : std::string(); };
    return "host=" + v(PQhost(m_conn.get())) + " port=" + v(PQport(m_conn.get())) +
           " dbname=" + v(PQdb(m_conn.get())) + " user=" + v(PQuser(m_conn.get()));
}

[[noreturn]] void throw_result_error(PGconn* conn, PGresult* result, std::string_view what) {
    std::string sqlstate;
    std::string message;
    std::string hint;
    if (result) {
        if (const char* s = PQresultErrorField(result, PG_DIAG_SQLSTATE)) sqlstate = s;
        if (const char* s = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY)) message = s;
        if (const char* s = PQresultErrorField(result, PG_DIAG_MESSAGE_DETAIL))
            message += std::string(" (") + s + ")";
        if (const char* s = PQresultErrorField(result, PG_DIAG_MESSAGE_HINT)) hint = s;
    }
    if (message.empty()) message = one_line(PQerrorMessage(conn));
    if (message.empty()) message = "unknown error";
    PQclear(result);
    std::string full = what.empty() ? message : std::string(what) + ": " + message;
    throw QueryError(full, sqlstate, hint);
}

Result Connection::check(PGresult* result, std::string_view sql, std::string_view what) {
    ExecStatusType status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_COPY_OUT ||
        status == PGRES_COPY_IN || status == PGRES_COPY_BOTH)
        return Result(result);
    std::string context = what.empty() ? "query failed" : std::string(what);
    (void)sql;
    throw_result_error(m_conn.get(), result, context);
}

Result Connection::exec(std::string_view sql, std::string_view what) {
    std::string text(sql);
    return check(PQexec(m_conn.get(), text.c_str()), sql, what);
}

Result Connection::exec_params(std::string_view sql,
                               const std::vector<std::optional<std::string>>& params,
                               std::string_view what) {
    std::string text(sql);
    std::vector<const char*> values;
    for (const auto& p : params)
        values.push_back(p ? p->c_str() : nullptr);
    return check(PQexecParams(m_conn.get(), text.c_str(), int(values.size()), nullptr,
                              values.data(), nullptr, nullptr, 0),
                 sql, what);
}

std::string Connection::query_value(std::string_view sql, std::string_view what) {
    Result r = exec(sql, what);
    if (r.rows() < 1 || r.columns() < 1) return {};
    return r.str(0, 0);
}

std::string quote_ident(std::string_view identifier) {
    std::string out = "\"";
    for (char c : identifier) {
        if (c == '"') out += '"';
        out += c;
    }
    out += '"';
    return out;
}

std::string quote_literal(std::string_view literal) {
    bool has_backslash = literal.find('\\') != std::string_view::npos;
    std::string out = has_backslash ? "E'" : "'";
    for (char c : literal) {
        if (c == '\'' || (has_backslash && c == '\\')) out += c;
        out += c;
    }
    out += '\'';
    return out;
}

} // namespace pgsync::pg
