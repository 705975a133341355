// The wall clock in Unix seconds: what token expiry (exp, nbf) and Electric's cursors count in.
#pragma once

#include <chrono>
#include <cstdint>

namespace pgsync {

inline int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

} // namespace pgsync
