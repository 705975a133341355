// Zone offsets asked of the server: the offset at every minute of a UTC day, under SET LOCAL
// TimeZone, so that the answer is exactly what a session in that zone shows (AT TIME ZONE would
// read names such as "CET" as fixed abbreviations instead).
#include "pg/zone_offsets.h"

#include "pg/connection.h"

namespace pgsync::pg {

namespace {

constexpr int64_t kMicrosPerDay = 86400LL * 1000000LL;
// Days kept; a stream reads commit times in order, so only a backlog of many days fills this.
constexpr size_t kMaxDays = 64;

} // namespace

ZoneOffsets::ZoneOffsets(std::string zone)
    : m_zone(std::move(zone)),
      m_utc(m_zone == "UTC" || m_zone == "Etc/UTC" || m_zone == "GMT" || m_zone == "Etc/GMT") {}

int32_t ZoneOffsets::at(Connection& conn, int64_t pg_micros) {
    if (m_utc) return 0;
    int64_t day = pg_micros / kMicrosPerDay;
    int64_t of_day = pg_micros % kMicrosPerDay;
    if (of_day < 0) {
        of_day += kMicrosPerDay;
        --day;
    }
    auto it = m_days.find(day);
    if (it == m_days.end()) {
        if (m_days.size() >= kMaxDays) m_days.clear();
        // Zone changes fall on whole minutes (since the 1970s, in every zone); the rows are the
        // minutes where the offset differs from the minute before, the first one always.
        conn.exec("BEGIN", "could not read time zone offsets");
        conn.exec_params("SELECT pg_catalog.set_config('TimeZone', $1, true)", {m_zone},
                         "could not read time zone offsets");
        Result r = conn.exec_params(
            "SELECT m * 60, o FROM (SELECT m, o, pg_catalog.lag(o) OVER (ORDER BY m) AS p "
            "FROM (SELECT m, pg_catalog.date_part('timezone', pg_catalog.to_timestamp("
            "946684800 + $1::int8 * 86400 + m * 60))::int4 AS o "
            "FROM pg_catalog.generate_series(0, 1439) AS m) AS minutes) AS changes "
            "WHERE p IS NULL OR o <> p ORDER BY m",
            {std::to_string(day)}, "could not read time zone offsets");
        conn.exec("COMMIT", "could not read time zone offsets");
        std::vector<Change> changes;
        for (int i = 0; i < r.rows(); ++i)
            changes.push_back({std::stoi(r.str(i, 0)), std::stoi(r.str(i, 1))});
        if (changes.empty()) changes.push_back({0, 0});
        it = m_days.emplace(day, std::move(changes)).first;
    }
    const int32_t second = int32_t(of_day / 1000000);
    int32_t offset = it->second.front().offset;
    for (const Change& change : it->second)
        if (change.second_of_day <= second) offset = change.offset;
    return offset;
}

} // namespace pgsync::pg
