// Sizes and durations as people write them in flags and pgsync.yaml: "64MB", "1GB", "512kB" (base
// 1024, PostgreSQL's spelling; a bare number is bytes) and "30s", "15m", "12h", "7d" (and "500ms"
// where milliseconds matter).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace pgsync {

std::optional<uint64_t> parse_size(std::string_view text);
std::optional<std::chrono::seconds> parse_duration(std::string_view text);
// As parse_duration, also with "ms"; a bare "0" is zero (no unit needed to say "never").
std::optional<std::chrono::milliseconds> parse_milliseconds(std::string_view text);

} // namespace pgsync
