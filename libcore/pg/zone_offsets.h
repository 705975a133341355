// A time zone's offset from UTC at an instant, from the server's own time zone database: what a
// session with that TimeZone shows after a timestamptz ("-05", "+05:30"). For text that must match
// such a session (wal2json's commit time). Asked a UTC day at a time, then kept.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace pgsync::pg {

class Connection;

class ZoneOffsets {
public:
    // zone: a TimeZone value as the server reports it ("America/New_York", "<-05>+05").
    explicit ZoneOffsets(std::string zone);

    // Seconds east of UTC at pg_micros (microseconds since 2000-01-01 00:00 UTC). The first time
    // a UTC day is asked for, runs one short transaction on conn (which must not be in one);
    // throws pg::QueryError when that fails.
    int32_t at(Connection& conn, int64_t pg_micros);

    const std::string& zone() const { return m_zone; }

private:
    struct Change {
        int32_t second_of_day; // the offset holds from here to the next change
        int32_t offset;
    };

    std::string m_zone;
    bool m_utc = false;
    std::unordered_map<int64_t, std::vector<Change>> m_days;
};

} // namespace pgsync::pg
