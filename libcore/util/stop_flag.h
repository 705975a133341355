// StopFlag: a flag a signal handler sets and any thread reads (SIGINT/SIGTERM stops, SIGHUP
// reopens). A lock-free atomic is async-signal-safe to store and, unlike volatile sig_atomic_t,
// is no data race when the loop threads of pgsync-serve or the jobs of pgsync-snapshot read it.
#pragma once

#include <atomic>

namespace pgsync {

using StopFlag = std::atomic<int>;
static_assert(StopFlag::is_always_lock_free, "a signal handler may only store lock-free atomics");

} // namespace pgsync
