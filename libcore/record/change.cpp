// Commit time formatting for records.
#include "record/change.h"

#include <cstdio>
#include <ctime>

namespace pgsync::record {

std::string format_commit_time(int64_t pg_micros) {
    int64_t unix_micros = pg_micros + kPgEpochOffsetMicros;
    int64_t secs = unix_micros / 1000000;
    int64_t frac = unix_micros % 1000000;
    if (frac < 0) {
        frac += 1000000;
        --secs;
    }
    time_t t = time_t(secs);
    struct tm tm {};
    gmtime_r(&t, &tm);
    char buf[48];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long long)frac);
    return buf;
}

} // namespace pgsync::record
