// Table name display and resolution.
#include "pg/identifier.h"

namespace pgsync::pg {

std::string display_ident(std::string_view identifier) {
    bool plain = !identifier.empty() && !(identifier[0] >= '0' && identifier[0] <= '9');
    for (char c : identifier)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) plain = false;
    return plain ? std::string(identifier) : quote_ident(identifier);
}

std::string TableName::display() const {
    return display_ident(schema) + "." + display_ident(name);
}

ResolvedTable resolve_table(Connection& conn, std::string_view user_text) {
    const std::string text(user_text);
    Result r;
    try {
        r = conn.exec_params(
            "SELECT n.nspname, c.relname, c.oid, c.relkind, c.relreplident "
            "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.oid = pg_catalog.to_regclass($1)",
            {text});
    } catch (const QueryError& e) {
        throw usage_error("invalid table name \"" + text + "\": " + e.what(),
                          "Write a table as name or schema.name; quote mixed-case or unusual "
                          "names with double quotes, e.g. '\"My Schema\".\"Orders\"'.");
    }
    if (r.rows() == 0)
        throw usage_error("table \"" + text + "\" does not exist",
                          "Check the name and the schema; list tables with psql's \\dt *.*");
    ResolvedTable t;
    t.name = {r.str(0, 0), r.str(0, 1)};
    t.oid = uint32_t(std::stoul(r.str(0, 2)));
    t.kind = r.get(0, 3)[0];
    t.replica_identity = r.get(0, 4)[0];
    if (t.kind != 'r' && t.kind != 'p')
        throw usage_error("\"" + text + "\" is not a table",
                          "Only ordinary and partitioned tables can be published.");
    return t;
}

} // namespace pgsync::pg
