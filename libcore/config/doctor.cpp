// The database checks of pgsync-config doctor: each one reads the catalogs, never changes
// anything, and ends in a pass, a warning or a failure with the SQL that fixes it.
#include "config/doctor.h"

#include "pg/identifier.h"
#include "pg/server_readiness.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>

namespace pgsync::config {

namespace {

// Retained WAL above this is worth a warning: the slot's consumer is far behind or gone.
constexpr long long kRetainedWalWarnBytes = 1LL << 30;

using Results = std::vector<CheckResult>;

// Identifiers for the SQL in fixes, quoted exactly when PostgreSQL's quote_ident() would quote
// them (not a plain lower-case word, or a keyword that is not unreserved), so fixes stay readable
// and still run as printed.
class SqlNames {
public:
    explicit SqlNames(pg::Connection& conn) {
        pg::Result r =
            conn.exec("SELECT word FROM pg_catalog.pg_get_keywords() WHERE catcode <> 'U'",
                      "could not read the keyword list");
        for (int i = 0; i < r.rows(); ++i)
            m_keywords.insert(r.str(i, 0));
    }
    std::string ident(std::string_view name) const {
        if (pg::display_ident(name) == name && !m_keywords.count(std::string(name)))
            return std::string(name);
        return pg::quote_ident(name);
    }
    std::string table(const pg::TableName& name) const {
        return ident(name.schema) + "." + ident(name.name);
    }

private:
    std::set<std::string> m_keywords;
};

struct Context {
    pg::Connection& conn;
    const Config& config;
    SqlNames names;
    Results out;

    void add(CheckStatus status, std::string name, std::string message, std::string fix = {},
             Origin origin = {}) {
        out.push_back(
            {status, std::move(name), std::move(message), std::move(fix), std::move(origin)});
    }
};

// A configured table as found in the database (resolved is empty when it was not found).
struct TableState {
    const Table* table = nullptr;
    std::optional<pg::ResolvedTable> resolved;
    std::set<std::string> columns;
};

// The leaf partitions of a table, or the table itself when it has none (pg_partition_tree()
// returns nothing for a table that is not partitioned).
std::string leaves_sql(const std::string& oid) {
    return "SELECT relid FROM pg_catalog.pg_partition_tree(" + oid +
           "::regclass) WHERE isleaf "
           "UNION SELECT " +
           oid +
           "::regclass WHERE NOT EXISTS "
           "(SELECT 1 FROM pg_catalog.pg_inherits h WHERE h.inhparent = " +
           oid + ")";
}

bool connection_lost(pg::Connection& conn) {
    return PQstatus(conn.raw()) != CONNECTION_OK;
}

// Runs one check: a query that fails becomes a failed check; a lost connection propagates.
template <typename F>
void guarded(Context& ctx, const char* name, const Origin& origin, F&& check) {
    try {
        check();
    } catch (const pg::QueryError& e) {
        if (connection_lost(ctx.conn)) throw;
        ctx.add(CheckStatus::Fail, name, std::string("could not run the check: ") + e.what(), {},
                origin);
    }
}

std::string in_quotes(std::string_view text) {
    return "\"" + std::string(text) + "\"";
}

std::string join(const std::vector<std::string>& parts, std::string_view separator = ", ") {
    std::string out;
    for (size_t i = 0; i < parts.size(); ++i)
        out += (i ? std::string(separator) : "") + parts[i];
    return out;
}

std::string oid_array(const std::vector<uint32_t>& oids) {
    std::string out = "{";
    for (size_t i = 0; i < oids.size(); ++i)
        out += (i ? "," : "") + std::to_string(oids[i]);
    return out + "}";
}

// The server's prerequisites, judged and worded by pg/server_readiness (as pgsync-init's
// preflight reports them); only the configuration's position is added here.
void check_server(Context& ctx) {
    const Value<std::string>& slot = ctx.config.source.slot;
    const pg::ServerSettings settings = pg::read_server_settings(ctx.conn, slot.value);
    for (pg::ReadinessCheck& check : pg::judge_server_settings(settings)) {
        const CheckStatus status = check.status == pg::ReadinessStatus::Fail   ? CheckStatus::Fail
                                   : check.status == pg::ReadinessStatus::Warn ? CheckStatus::Warn
                                                                               : CheckStatus::Pass;
        Origin origin;
        if (check.name == "replication_slots" && settings.slot_exists) origin = slot.origin;
        ctx.add(status, std::move(check.name), std::move(check.message), std::move(check.fix),
                std::move(origin));
    }
}

// Finds the table; a name that does not resolve is a failed check, not an exception.
void check_table_exists(Context& ctx, TableState& state) {
    const Table& table = *state.table;
    try {
        state.resolved = pg::resolve_table(ctx.conn, table.name.value);
    } catch (const pg::QueryError&) {
        throw;
    } catch (const Error& e) {
        if (connection_lost(ctx.conn)) throw pg::QueryError(ctx.conn.error_message(), "");
        // resolve_table() quotes the name as typed; one already in double quotes stays as it is.
        const std::string& text = table.name.value;
        std::string message = e.what();
        if (message == "table " + in_quotes(text) + " does not exist")
            message = "table " + (text.find('"') == std::string::npos ? in_quotes(text) : text) +
                      " does not exist";
        ctx.add(CheckStatus::Fail, "table", message,
                "correct the table name in the configuration, or create the table",
                table.name.origin);
        return;
    }
    ctx.add(CheckStatus::Pass, "table",
            state.resolved->name.display() +
                (state.resolved->kind == 'p' ? " exists (partitioned)" : " exists"),
            {}, table.name.origin);
}

void check_columns(Context& ctx, TableState& state) {
    const Table& table = *state.table;
    const pg::ResolvedTable& resolved = *state.resolved;
    pg::Result r = ctx.conn.exec_params(
        "SELECT attname FROM pg_catalog.pg_attribute "
        "WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        {std::to_string(resolved.oid)}, "could not read columns");
    for (int i = 0; i < r.rows(); ++i)
        state.columns.insert(r.str(i, 0));

    // The configured columns, then every column a live query filters on.
    std::vector<const Value<std::string>*> wanted;
    if (table.columns)
        for (const auto& c : *table.columns)
            wanted.push_back(&c);
    for (const auto& query : table.live_queries)
        for (const auto& condition : query.conditions)
            wanted.push_back(&condition.column);
    std::vector<std::string> missing;
    Origin origin = table.origin;
    for (const auto* column : wanted) {
        const std::string name = in_quotes(column->value);
        if (state.columns.count(column->value) ||
            std::find(missing.begin(), missing.end(), name) != missing.end())
            continue;
        if (missing.empty()) origin = column->origin;
        missing.push_back(name);
    }
    const std::string display = resolved.name.display();
    if (!missing.empty()) {
        ctx.add(CheckStatus::Fail, "columns",
                (missing.size() == 1 ? "column " : "columns ") + join(missing) + " of table " +
                    display + (missing.size() == 1 ? " does not exist" : " do not exist"),
                "correct the column names in the configuration, or add them with ALTER TABLE " +
                    ctx.names.table(resolved.name) + " ADD COLUMN …",
                origin);
        return;
    }
    ctx.add(CheckStatus::Pass, "columns",
            table.columns ? "all " + std::to_string(table.columns->size()) +
                                " configured columns exist in " + display
                          : "all columns of " + display + " are streamed",
            {}, table.origin);
}

void check_primary_key(Context& ctx, TableState& state) {
    const pg::ResolvedTable& resolved = *state.resolved;
    pg::Result r = ctx.conn.exec_params(
        "SELECT a.attname FROM pg_catalog.pg_index i "
        "CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n) "
        "JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
        "WHERE i.indrelid = $1 AND i.indisprimary ORDER BY k.n",
        {std::to_string(resolved.oid)}, "could not read the primary key");
    if (r.rows() == 0) {
        ctx.add(CheckStatus::Warn, "primary_key",
                "table " + resolved.name.display() + " has no primary key",
                "ALTER TABLE " + ctx.names.table(resolved.name) + " ADD PRIMARY KEY (…)",
                state.table->name.origin);
        return;
    }
    std::vector<std::string> columns;
    for (int i = 0; i < r.rows(); ++i)
        columns.push_back(r.str(i, 0));
    ctx.add(CheckStatus::Pass, "primary_key",
            resolved.name.display() + " has primary key (" + join(columns) + ")", {},
            state.table->name.origin);
}

// Replica identity of every leaf partition (or the table itself): without one, UPDATE and DELETE
// fail on the publisher once published (R3); without FULL, deletes carry only the key, so live
// queries filtering on other columns cannot be evaluated on them.
void check_replica_identity(Context& ctx, TableState& state) {
    const Table& table = *state.table;
    const pg::ResolvedTable& resolved = *state.resolved;
    pg::Result r = ctx.conn.exec_params(
        "SELECT n.nspname, c.relname, c.relreplident, a.attname "
        "FROM (" +
            leaves_sql("$1::oid") +
            ") t(relid) "
            "JOIN pg_catalog.pg_class c ON c.oid = t.relid "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_catalog.pg_index i ON i.indrelid = c.oid AND "
            "  ((c.relreplident = 'd' AND i.indisprimary) OR (c.relreplident = 'i' AND "
            "i.indisreplident)) "
            "LEFT JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n) ON true "
            "LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum "
            "ORDER BY 1, 2, k.n",
        {std::to_string(resolved.oid)}, "could not read replica identities");

    struct Leaf {
        pg::TableName name;
        char identity;
        std::vector<std::string> key;
    };
    std::vector<Leaf> leaves;
    for (int i = 0; i < r.rows(); ++i) {
        pg::TableName name{r.str(i, 0), r.str(i, 1)};
        if (leaves.empty() || !(leaves.back().name == name))
            leaves.push_back({name, r.get(i, 2)[0], {}});
        if (!r.is_null(i, 3)) leaves.back().key.push_back(r.str(i, 3));
    }
    const std::string display = resolved.name.display();
    if (leaves.empty()) {
        ctx.add(CheckStatus::Pass, "replica_identity", display + " has no partitions yet", {},
                table.name.origin);
        return;
    }

    auto what = [&](const Leaf& leaf) {
        return leaf.name == resolved.name ? "table " + display
                                          : "partition " + leaf.name.display() + " of " + display;
    };
    std::vector<std::string> problems, fixes;
    for (const Leaf& leaf : leaves) {
        if (leaf.identity == 'f' || !leaf.key.empty()) continue;
        problems.push_back(what(leaf) + (leaf.identity == 'n' ? " has REPLICA IDENTITY NOTHING"
                                         : leaf.identity == 'i'
                                             ? " has lost its REPLICA IDENTITY index"
                                             : " has REPLICA IDENTITY DEFAULT but no primary key"));
        fixes.push_back("ALTER TABLE " + ctx.names.table(leaf.name) + " REPLICA IDENTITY FULL;");
    }
    if (!problems.empty()) {
        ctx.add(CheckStatus::Fail, "replica_identity",
                join(problems, "; ") + ": UPDATE and DELETE would fail once it is published",
                "add a primary key, or run " + join(fixes, " ") +
                    " (or REPLICA IDENTITY USING INDEX on a unique, non-partial index over NOT "
                    "NULL columns)",
                table.name.origin);
        return;
    }

    // Columns live queries filter on that some non-FULL leaf does not carry in its old key.
    for (const Leaf& leaf : leaves) {
        if (leaf.identity == 'f') continue;
        std::vector<std::string> non_key;
        Origin origin = table.name.origin;
        for (const auto& query : table.live_queries)
            for (const auto& condition : query.conditions) {
                const std::string& column = condition.column.value;
                if (std::find(leaf.key.begin(), leaf.key.end(), column) != leaf.key.end() ||
                    std::find(non_key.begin(), non_key.end(), in_quotes(column)) != non_key.end())
                    continue;
                if (non_key.empty()) origin = condition.column.origin;
                non_key.push_back(in_quotes(column));
            }
        if (non_key.empty()) continue;
        ctx.add(CheckStatus::Warn, "replica_identity",
                "live queries filter on non-key " +
                    std::string(non_key.size() == 1 ? "column " : "columns ") + join(non_key) +
                    " but " + what(leaf) + " has REPLICA IDENTITY " +
                    (leaf.identity == 'i' ? "USING INDEX" : "DEFAULT") +
                    " (key: " + join(leaf.key) +
                    "): deleted rows carry only the key, so these filters cannot be evaluated on "
                    "deletes",
                "ALTER TABLE " + ctx.names.table(leaf.name) + " REPLICA IDENTITY FULL", origin);
        return;
    }
    const Leaf& first = leaves.front();
    bool all_full =
        std::all_of(leaves.begin(), leaves.end(), [](const Leaf& l) { return l.identity == 'f'; });
    ctx.add(CheckStatus::Pass, "replica_identity",
            display + (all_full            ? " has REPLICA IDENTITY FULL"
                       : leaves.size() > 1 ? " has a replica identity on every partition"
                       : first.identity == 'i'
                           ? " has REPLICA IDENTITY USING INDEX (key: " + join(first.key) + ")"
                           : " has REPLICA IDENTITY DEFAULT (key: " + join(first.key) + ")"),
            {}, table.name.origin);
}

// A btree index serves a live query when its leading key columns are the query's equality
// columns in any order, followed by its range column if it has one: then the initial load reads
// only matching rows instead of scanning the table.
void check_indexes(Context& ctx, TableState& state) {
    const Table& table = *state.table;
    const pg::ResolvedTable& resolved = *state.resolved;
    pg::Result r = ctx.conn.exec_params(
        "SELECT ic.relname, coalesce(a.attname::text, '') "
        "FROM pg_catalog.pg_index i "
        "JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid "
        "JOIN pg_catalog.pg_am am ON am.oid = ic.relam "
        "CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n) "
        "LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
        "WHERE i.indrelid = $1 AND i.indisvalid AND i.indpred IS NULL AND am.amname = 'btree' "
        "AND k.n <= i.indnkeyatts ORDER BY ic.relname, k.n",
        {std::to_string(resolved.oid)}, "could not read indexes");
    std::vector<std::pair<std::string, std::vector<std::string>>> indexes; // name, key columns
    for (int i = 0; i < r.rows(); ++i) {
        if (indexes.empty() || indexes.back().first != r.get(i, 0))
            indexes.push_back({r.str(i, 0), {}});
        indexes.back().second.push_back(r.str(i, 1)); // "" for an expression: matches nothing
    }

    const std::string display = resolved.name.display();
    for (size_t q = 0; q < table.live_queries.size(); ++q) {
        const LiveQuery& query = table.live_queries[q];
        std::set<std::string> equality;
        std::vector<std::string> ranges, shown;
        bool known = true;
        for (const auto& c : query.conditions) {
            if (!state.columns.count(c.column.value)) known = false;
            if (c.op.value == "=") equality.insert(c.column.value);
            shown.push_back(c.column.value + " " + c.op.value);
        }
        if (!known) continue; // reported by the columns check
        for (const auto& c : query.conditions)
            if (c.op.value != "=" && !equality.count(c.column.value) &&
                std::find(ranges.begin(), ranges.end(), c.column.value) == ranges.end())
                ranges.push_back(c.column.value);
        const std::string described = "live query (" + join(shown) + ") on " + display;
        if (equality.empty() && ranges.empty()) {
            ctx.add(CheckStatus::Pass, "index", described + " has no conditions: nothing to index",
                    {}, query.origin);
            continue;
        }
        const std::string* serving = nullptr;
        for (const auto& [name, columns] : indexes) {
            if (columns.size() < equality.size() + (ranges.empty() ? 0 : 1)) continue;
            std::set<std::string> prefix(columns.begin(), columns.begin() + long(equality.size()));
            if (prefix != equality) continue;
            if (!ranges.empty() &&
                std::find(ranges.begin(), ranges.end(), columns[equality.size()]) == ranges.end())
                continue;
            serving = &name;
            break;
        }
        if (serving) {
            ctx.add(CheckStatus::Pass, "index",
                    "index " + in_quotes(*serving) + " serves " + described, {}, query.origin);
            continue;
        }
        std::vector<std::string> key;
        for (const auto& c : query.conditions)
            if (c.op.value == "=" &&
                std::find(key.begin(), key.end(), ctx.names.ident(c.column.value)) == key.end())
                key.push_back(ctx.names.ident(c.column.value));
        if (!ranges.empty()) key.push_back(ctx.names.ident(ranges.front()));
        ctx.add(CheckStatus::Warn, "index",
                "no index serves " + described + ": its initial load would scan the whole table",
                "CREATE INDEX CONCURRENTLY ON " + ctx.names.table(resolved.name) + " (" +
                    join(key) + ")",
                query.origin);
    }
}

void check_publication(Context& ctx, const std::vector<TableState>& tables) {
    const Value<std::string>& publication = ctx.config.source.publication;
    std::vector<uint32_t> oids;
    std::vector<std::string> sql_names, display_names;
    for (const auto& t : tables)
        if (t.resolved) {
            oids.push_back(t.resolved->oid);
            sql_names.push_back(ctx.names.table(t.resolved->name));
            display_names.push_back(t.resolved->name.display());
        }
    if (publication.value.empty()) {
        ctx.add(CheckStatus::Warn, "publication", "no publication configured",
                "set source.publication in the configuration", publication.origin);
        return;
    }
    const std::string pub = in_quotes(publication.value),
                      pub_sql = ctx.names.ident(publication.value);
    pg::Result p = ctx.conn.exec_params(
        "SELECT pubinsert, pubupdate, pubdelete, pubtruncate FROM pg_catalog.pg_publication "
        "WHERE pubname = $1",
        {publication.value}, "could not read the publication");
    if (p.rows() == 0) {
        ctx.add(CheckStatus::Fail, "publication", "publication " + pub + " does not exist",
                sql_names.empty()
                    ? "create the tables, then CREATE PUBLICATION " + pub_sql + " FOR TABLE …"
                    : "CREATE PUBLICATION " + pub_sql + " FOR TABLE " + join(sql_names) +
                          "; before the slot is created, or run pgsync-init",
                publication.origin);
        return;
    }

    // A table is covered when each of its leaf partitions (or itself) is published, directly or
    // through an ancestor published with publish_via_partition_root.
    pg::Result c = ctx.conn.exec_params(
        "SELECT u.n, bool_and(EXISTS ("
        "  SELECT 1 FROM (SELECT l.relid UNION SELECT relid FROM "
        "    pg_catalog.pg_partition_ancestors(l.relid)) a(relid) "
        "  JOIN pg_catalog.pg_class c ON c.oid = a.relid "
        "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "  JOIN pg_catalog.pg_publication_tables pt ON pt.pubname = $2 "
        "    AND pt.schemaname = n.nspname AND pt.tablename = c.relname)) "
        "FROM unnest($1::oid[]) WITH ORDINALITY AS u(oid, n) "
        "CROSS JOIN LATERAL (" +
            leaves_sql("u.oid") +
            ") l(relid) "
            "GROUP BY u.n ORDER BY u.n",
        {oid_array(oids), publication.value}, "could not read the publication's tables");
    std::vector<std::string> missing, missing_sql;
    for (int i = 0; i < c.rows(); ++i)
        if (c.get(i, 1) != "t") {
            size_t index = std::stoul(c.str(i, 0)) - 1;
            missing.push_back(display_names[index]);
            missing_sql.push_back(sql_names[index]);
        }
    if (!missing.empty()) {
        ctx.add(CheckStatus::Fail, "publication",
                "publication " + pub + " does not cover " + join(missing),
                "ALTER PUBLICATION " + pub_sql + " ADD TABLE " + join(missing_sql) +
                    "; then snapshot the added tables",
                publication.origin);
        return;
    }
    std::vector<std::string> not_published;
    const char* operations[] = {"insert", "update", "delete", "truncate"};
    for (int i = 0; i < 4; ++i)
        if (p.get(0, i) != "t") not_published.push_back(operations[i]);
    if (!not_published.empty()) {
        ctx.add(CheckStatus::Warn, "publication",
                "publication " + pub + " does not publish " + join(not_published),
                "ALTER PUBLICATION " + pub_sql +
                    " SET (publish = 'insert, update, delete, truncate')",
                publication.origin);
        return;
    }
    ctx.add(CheckStatus::Pass, "publication",
            "publication " + pub + " covers all " + std::to_string(oids.size()) +
                (oids.size() == 1 ? " configured table" : " configured tables"),
            {}, publication.origin);
}

// Slot health (S5, S8): it exists, decodes with pgoutput in this database, is not lost, and how
// much WAL it holds back.
void check_slot(Context& ctx) {
    const Value<std::string>& slot = ctx.config.source.slot;
    const std::string name = in_quotes(slot.value);
    pg::Result r = ctx.conn.exec_params(
        "SELECT s.slot_type, s.plugin, s.database, current_database(), s.wal_status, s.active_pid, "
        "pg_catalog.pg_wal_lsn_diff(w.lsn, s.restart_lsn)::bigint, "
        "pg_catalog.pg_size_pretty(pg_catalog.pg_wal_lsn_diff(w.lsn, s.restart_lsn)) "
        "FROM pg_catalog.pg_replication_slots s, "
        "LATERAL (SELECT CASE WHEN pg_catalog.pg_is_in_recovery() "
        "  THEN pg_catalog.pg_last_wal_receive_lsn() ELSE pg_catalog.pg_current_wal_lsn() END) "
        "w(lsn) "
        "WHERE s.slot_name = $1",
        {slot.value}, "could not read the replication slot");
    const std::string drop =
        "SELECT pg_drop_replication_slot(" + pg::quote_literal(slot.value) + ");";
    if (r.rows() == 0) {
        ctx.add(CheckStatus::Warn, "slot", "replication slot " + name + " does not exist",
                "create it with pgsync-init (it creates the publication first, then the slot)",
                slot.origin);
        return;
    }
    if (r.get(0, 0) != "logical" || r.get(0, 1) != "pgoutput" || r.get(0, 2) != r.get(0, 3)) {
        std::string why = r.get(0, 0) != "logical" ? "is a physical slot"
                          : r.get(0, 1) != "pgoutput"
                              ? "uses plugin " + in_quotes(r.get(0, 1)) + ", not pgoutput"
                              : "belongs to database " + in_quotes(r.get(0, 2)) + ", not " +
                                    in_quotes(r.get(0, 3));
        ctx.add(CheckStatus::Fail, "slot", "replication slot " + name + " " + why,
                "use another slot name, or " + drop + " then create it with pgsync-init",
                slot.origin);
        return;
    }
    const std::string wal_status = r.opt(0, 4).value_or("lost");
    if (wal_status == "lost") {
        ctx.add(CheckStatus::Fail, "slot",
                "replication slot " + name + " is lost: the WAL it needs was removed",
                "drop, recreate, re-snapshot: " + drop +
                    " then run pgsync-init to create it again and take a new snapshot",
                slot.origin);
        return;
    }
    const std::string active = r.is_null(0, 5) ? "not active" : "active for PID " + r.str(0, 5);
    if (wal_status == "unreserved")
        ctx.add(CheckStatus::Warn, "slot",
                "replication slot " + name +
                    " is about to be lost: wal_status is \"unreserved\", " + active,
                "start pgsync-stream on it now, or raise max_slot_wal_keep_size", slot.origin);
    else
        ctx.add(CheckStatus::Pass, "slot",
                "replication slot " + name + ": pgoutput, wal_status " + in_quotes(wal_status) +
                    ", " + active,
                {}, slot.origin);

    if (r.is_null(0, 6)) return;
    const long long retained = std::stoll(r.str(0, 6));
    const std::string size = "replication slot " + name + " retains " + r.str(0, 7) + " of WAL (" +
                             std::to_string(retained) + " bytes)";
    if (retained > kRetainedWalWarnBytes)
        ctx.add(CheckStatus::Warn, "slot_wal", size,
                "run pgsync-stream to consume it, or " + drop + " if nothing uses the slot",
                slot.origin);
    else
        ctx.add(CheckStatus::Pass, "slot_wal", size, {}, slot.origin);
}

const char* status_word(CheckStatus status, bool upper) {
    switch (status) {
    case CheckStatus::Pass:
        return "pass";
    case CheckStatus::Warn:
        return "warn"; // only a failure shouts: pass, warn, FAIL
    case CheckStatus::Fail:
        return upper ? "FAIL" : "fail";
    }
    return "";
}

} // namespace

std::vector<CheckResult> check_database(pg::Connection& conn, const Config& config) {
    Context ctx{conn, config, SqlNames(conn), {}};
    guarded(ctx, "server", {}, [&] { check_server(ctx); });

    std::vector<TableState> tables;
    for (const Table& table : config.tables)
        tables.push_back({&table, {}, {}});
    for (TableState& state : tables) {
        const Origin& origin = state.table->name.origin;
        guarded(ctx, "table", origin, [&] { check_table_exists(ctx, state); });
        if (!state.resolved) continue;
        guarded(ctx, "columns", origin, [&] { check_columns(ctx, state); });
        guarded(ctx, "primary_key", origin, [&] { check_primary_key(ctx, state); });
        guarded(ctx, "replica_identity", origin, [&] { check_replica_identity(ctx, state); });
        guarded(ctx, "index", origin, [&] { check_indexes(ctx, state); });
    }

    guarded(ctx, "publication", config.source.publication.origin,
            [&] { check_publication(ctx, tables); });
    if (!config.source.slot.value.empty())
        guarded(ctx, "slot", config.source.slot.origin, [&] { check_slot(ctx); });
    return std::move(ctx.out);
}

bool has_failures(const std::vector<CheckResult>& results) {
    return std::any_of(results.begin(), results.end(),
                       [](const CheckResult& r) { return r.status == CheckStatus::Fail; });
}

std::string format_checks_text(const std::vector<CheckResult>& results) {
    std::string out;
    int counts[3] = {0, 0, 0};
    for (const auto& r : results) {
        ++counts[int(r.status)];
        out += std::string(status_word(r.status, true)) + "  " + r.name + ": " + r.message + "\n";
        if (r.status == CheckStatus::Pass) continue;
        if (!r.fix.empty()) out += "      fix: " + r.fix + "\n";
        if (r.origin.line > 0)
            out += "      at: " + r.origin.file + ":" + std::to_string(r.origin.line) + ":" +
                   std::to_string(r.origin.column) + "\n";
    }
    out += std::to_string(counts[0]) + " passed, " + std::to_string(counts[1]) +
           (counts[1] == 1 ? " warning, " : " warnings, ") + std::to_string(counts[2]) +
           " failed\n";
    return out;
}

std::string format_checks_json(const std::vector<CheckResult>& results) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const auto& r : results) {
        nlohmann::ordered_json item = {{"status", status_word(r.status, false)},
                                       {"name", r.name},
                                       {"message", r.message},
                                       {"fix", r.fix}};
        if (r.origin.line > 0) {
            item["file"] = r.origin.file;
            item["line"] = r.origin.line;
            item["column"] = r.origin.column;
        } else {
            item["file"] = nullptr;
            item["line"] = nullptr;
            item["column"] = nullptr;
        }
        out.push_back(std::move(item));
    }
    return out.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

} // namespace pgsync::config
