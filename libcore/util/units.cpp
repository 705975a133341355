// Parsing of sizes and durations.
#include "util/units.h"

#include <charconv>
#include <strings.h>

namespace pgsync {

namespace {
// The leading number and the unit after it (spaces between them allowed).
bool split(std::string_view text, uint64_t& number, std::string_view& unit) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (ec != std::errc() || end == text.data()) return false;
    unit = text.substr(size_t(end - text.data()));
    while (!unit.empty() && unit.front() == ' ')
        unit.remove_prefix(1);
    return true;
}

bool same(std::string_view a, const char* b) {
    return a.size() == std::char_traits<char>::length(b) && strncasecmp(a.data(), b, a.size()) == 0;
}
} // namespace

std::optional<uint64_t> parse_size(std::string_view text) {
    uint64_t number = 0;
    std::string_view unit;
    if (!split(text, number, unit)) return std::nullopt;
    uint64_t factor = 0;
    if (unit.empty() || same(unit, "B"))
        factor = 1;
    else if (same(unit, "kB") || same(unit, "K") || same(unit, "KiB"))
        factor = 1ull << 10;
    else if (same(unit, "MB") || same(unit, "M") || same(unit, "MiB"))
        factor = 1ull << 20;
    else if (same(unit, "GB") || same(unit, "G") || same(unit, "GiB"))
        factor = 1ull << 30;
    else if (same(unit, "TB") || same(unit, "T") || same(unit, "TiB"))
        factor = 1ull << 40;
    else
        return std::nullopt;
    if (number > UINT64_MAX / factor) return std::nullopt;
    return number * factor;
}

std::optional<std::chrono::seconds> parse_duration(std::string_view text) {
    uint64_t number = 0;
    std::string_view unit;
    if (!split(text, number, unit)) return std::nullopt;
    uint64_t factor = 0;
    if (same(unit, "s") || same(unit, "sec"))
        factor = 1;
    else if (same(unit, "m") || same(unit, "min"))
        factor = 60;
    else if (same(unit, "h"))
        factor = 3600;
    else if (same(unit, "d"))
        factor = 86400;
    else
        return std::nullopt;
    if (number > uint64_t(INT64_MAX) / factor) return std::nullopt;
    return std::chrono::seconds(int64_t(number * factor));
}

std::optional<std::chrono::milliseconds> parse_milliseconds(std::string_view text) {
    if (text == "0") return std::chrono::milliseconds(0);
    uint64_t number = 0;
    std::string_view unit;
    if (!split(text, number, unit)) return std::nullopt;
    if (same(unit, "ms")) {
        if (number > uint64_t(INT64_MAX)) return std::nullopt;
        return std::chrono::milliseconds(int64_t(number));
    }
    const std::optional<std::chrono::seconds> seconds = parse_duration(text);
    if (!seconds || seconds->count() > INT64_MAX / 1000) return std::nullopt;
    return std::chrono::milliseconds(*seconds);
}

} // namespace pgsync
