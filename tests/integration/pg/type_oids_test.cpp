// pg/type_oids.h names PostgreSQL's built-in type OIDs: each constant is the OID the server's
// pg_type gives that type, so code that switches on them (filter/pg_input.cpp, the type catalog,
// the wal2json format) means the type it names.
#include "pg/type_oids.h"
#include "pg_test.h"

#include <catch2/catch.hpp>
#include <utility>

using namespace pgsync;
using namespace pgsync::test;

TEST_CASE("every named type OID is the server's pg_type OID of that type", "[pg]") {
    const std::pair<uint32_t, const char*> named[] = {
        {pg::kBoolOid, "boolean"},
        {pg::kByteaOid, "bytea"},
        {pg::kNameOid, "name"},
        {pg::kInt8Oid, "bigint"},
        {pg::kInt2Oid, "smallint"},
        {pg::kInt2VectorOid, "int2vector"},
        {pg::kInt4Oid, "integer"},
        {pg::kTextOid, "text"},
        {pg::kOidOid, "oid"},
        {pg::kOidVectorOid, "oidvector"},
        {pg::kJsonOid, "json"},
        {pg::kFloat4Oid, "real"},
        {pg::kFloat8Oid, "double precision"},
        {pg::kBpcharArrayOid, "character[]"},
        {pg::kBpcharOid, "character"},
        {pg::kVarcharOid, "character varying"},
        {pg::kDateOid, "date"},
        {pg::kTimestampOid, "timestamp without time zone"},
        {pg::kTimestampTzOid, "timestamp with time zone"},
        {pg::kNumericOid, "numeric"},
        {pg::kUuidOid, "uuid"},
        {pg::kJsonbOid, "jsonb"},
    };
    auto db = connect_test_db();
    for (const auto& [oid, type] : named) {
        INFO(type);
        auto r = db.exec_params("SELECT pg_catalog.format_type($1::oid, NULL)",
                                {std::to_string(oid)}, "could not look up a type");
        CHECK(r.str(0, 0) == type);
    }
}
