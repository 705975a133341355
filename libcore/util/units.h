// Sizes and durations as people write them in flags and pgsync.yaml: "64MB", "1GB", "512kB" (base
// 1024, PostgreSQL's spelling; a bare number is bytes) and "30s", "15m", "12h", "7d".
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace pgsync {

std::optional<uint64_t> parse_size(std::string_view text);
std::optional<std::chrono::seconds> parse_duration(std::string_view text);

} // namespace pgsync
