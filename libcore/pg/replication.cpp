// Replication commands over libpq's simple-query protocol on a walsender connection.
#include "pg/replication.h"

#include <chrono>
#include <poll.h>

namespace pgsync::pg {

SystemIdentity identify_system(Connection& replication) {
    Result r = replication.exec("IDENTIFY_SYSTEM", "could not identify the system");
    if (r.rows() != 1 || r.columns() < 4)
        throw Error("could not identify the system: unexpected reply with " +
                    std::to_string(r.rows()) + " rows and " + std::to_string(r.columns()) +
                    " columns");
    SystemIdentity id;
    id.system_id = r.str(0, 0);
    id.timeline = std::stoi(r.str(0, 1));
    if (auto lsn = Lsn::parse(r.get(0, 2))) id.wal_position = *lsn;
    if (!r.is_null(0, 3)) id.database = r.str(0, 3);
    return id;
}

std::string check_slot_name(std::string_view name) {
    if (name.empty()) return "it is empty";
    if (name.size() > 63) return "it is longer than 63 characters";
    for (char c : name)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return "it may contain only lower-case letters, digits and underscores";
    return {};
}

std::optional<CreatedSlot> create_logical_slot(Connection& replication, const std::string& name,
                                               const std::string& plugin, double timeout_seconds) {
    const std::string sql = "CREATE_REPLICATION_SLOT " + quote_ident(name) + " LOGICAL " +
                            quote_ident(plugin) + " (SNAPSHOT 'export')";
    PGconn* conn = replication.raw();
    if (!PQsendQuery(conn, sql.c_str()))
        throw QueryError("could not create replication slot \"" + name +
                             "\": " + replication.error_message(),
                         "");

    using clock = std::chrono::steady_clock;
    const auto deadline = clock::now() + std::chrono::milliseconds(int64_t(timeout_seconds * 1000));
    while (PQisBusy(conn)) {
        auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
        if (left <= 0) {
            // Cancel, then drain: the server drops a slot whose creation did not finish.
            if (PGcancel* cancel = PQgetCancel(conn)) {
                char buf[256];
                PQcancel(cancel, buf, sizeof buf);
                PQfreeCancel(cancel);
            }
            while (PGresult* res = PQgetResult(conn))
                PQclear(res);
            return std::nullopt;
        }
        pollfd pfd{PQsocket(conn), POLLIN, 0};
        poll(&pfd, 1, int(std::min<long long>(left, 500)));
        if (!PQconsumeInput(conn))
            throw QueryError("could not create replication slot \"" + name +
                                 "\": " + replication.error_message(),
                             "");
    }
    PGresult* res = PQgetResult(conn);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        std::string what = "could not create replication slot \"" + name + "\"";
        while (PGresult* extra = PQgetResult(conn))
            PQclear(extra);
        throw_result_error(conn, res, what);
    }
    Result r(res);
    while (PGresult* extra = PQgetResult(conn))
        PQclear(extra);
    CreatedSlot slot;
    slot.name = r.str(0, 0);
    if (auto lsn = Lsn::parse(r.get(0, 1))) slot.consistent_point = *lsn;
    if (!r.is_null(0, 2)) slot.snapshot = r.str(0, 2);
    slot.plugin = r.is_null(0, 3) ? plugin : r.str(0, 3);
    return slot;
}

} // namespace pgsync::pg
