// The line pgsync-init prints and pgsync-snapshot reads from its stdin.
#pragma once

#include "util/lsn.h"

#include <optional>
#include <string>
#include <string_view>

namespace pgsync::snapshot {

struct InitLine {
    std::string slot;
    std::string publication;
    Lsn consistent_point;
    std::optional<std::string> snapshot; // null when pgsync-init reused an existing slot
};

// Parses the line; throws a usage Error naming what is wrong.
InitLine parse_init_line(std::string_view line);

// Reads one line from a descriptor without reading past it. nullopt at end of input.
std::optional<std::string> read_line(int fd, size_t max_bytes = 65536);

} // namespace pgsync::snapshot
