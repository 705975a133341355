// date, timestamp and timestamptz values for filters: PostgreSQL's input forms that a client or
// to_json() writes (ISO dates, "YYYY-MM-DD HH:MM:SS.ffffff+hh", ISO 8601 with T and Z, BC, the
// infinities), as integers that compare like PostgreSQL compares the values.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

namespace pgsync::filter {

// Infinities sort outside every finite value, as in PostgreSQL.
constexpr int64_t kPlusInfinity = std::numeric_limits<int64_t>::max();
constexpr int64_t kMinusInfinity = std::numeric_limits<int64_t>::min();

enum class DateTimeStatus { Ok, Syntax, FieldOutOfRange, OutOfRange, TooPrecise };

// Days since 2000-01-01 (PostgreSQL's epoch). Accepts [-+]infinity, YYYY-MM-DD with an optional
// " BC"/" AD", surrounding whitespace. A time of day is refused rather than dropped.
DateTimeStatus parse_date(std::string_view text, int64_t& days);

// Microseconds since 2000-01-01 00:00 (UTC for timestamptz). A date alone means midnight; an
// offset (Z, UTC, +hh, +hh:mm, +hhmm, +hh:mm:ss) is applied for timestamptz and ignored for
// timestamp, as PostgreSQL does; no offset means UTC, the session TimeZone pgsync pins.
DateTimeStatus parse_timestamp(std::string_view text, bool with_zone, int64_t& micros);

// PostgreSQL's ISO output of a value (what date_out / timestamp_out print under DateStyle ISO and
// TimeZone UTC), valid input for the type.
void append_date(std::string& out, int64_t days);
void append_timestamp(std::string& out, int64_t micros, bool with_zone);

} // namespace pgsync::filter
