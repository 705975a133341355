// pg/zone_offsets against the server's time zone database: offsets on both sides of a daylight
// saving change, half-hour zones, and a zone name that is also an abbreviation ("CET", which AT
// TIME ZONE would read as a fixed +01).
#include "pg/zone_offsets.h"
#include "pg_test.h"

#include <catch2/catch.hpp>

using namespace pgsync;
using namespace pgsync::test;

namespace {

// Microseconds since 2000-01-01 00:00 UTC of a UTC time.
int64_t at(pg::Connection& db, const std::string& utc) {
    return std::stoll(db.query_value("SELECT (extract(epoch FROM timestamptz '" + utc +
                                     "+00') - 946684800)::int8 * 1000000"));
}

} // namespace

TEST_CASE("zone offsets: what a session in the zone shows, across a DST change", "[pg]") {
    auto db = connect_test_db();
    pg::ZoneOffsets paris("Europe/Paris");
    // 2024-03-31 01:00 UTC: Paris goes from +01 to +02.
    CHECK(paris.at(db, at(db, "2024-03-31 00:59:59")) == 3600);
    CHECK(paris.at(db, at(db, "2024-03-31 01:00:00")) == 7200);
    CHECK(paris.at(db, at(db, "2024-10-27 00:59:59")) == 7200);
    CHECK(paris.at(db, at(db, "2024-10-27 01:00:00")) == 3600);
    pg::ZoneOffsets cet("CET");
    CHECK(cet.at(db, at(db, "2024-07-01 12:00:00")) == 7200);
    pg::ZoneOffsets kolkata("Asia/Kolkata");
    CHECK(kolkata.at(db, at(db, "2024-07-01 12:00:00")) == 5 * 3600 + 1800);
    pg::ZoneOffsets new_york("America/New_York");
    CHECK(new_york.at(db, at(db, "1999-12-31 23:59:59")) == -5 * 3600);
    pg::ZoneOffsets posix("<-03>+03");
    CHECK(posix.at(db, at(db, "2024-07-01 12:00:00")) == -3 * 3600);
    // The connection is left as it was: its own TimeZone, and no transaction open.
    CHECK(db.query_value("SHOW TimeZone") == "UTC");
    CHECK(PQtransactionStatus(db.raw()) == PQTRANS_IDLE);
}
