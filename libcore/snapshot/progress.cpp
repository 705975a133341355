// Progress drawing: "\r" + one status line, erased before each finished-table line.
#include "snapshot/progress.h"

#include <cstdio>
#include <unistd.h>

namespace pgsync::snapshot {
namespace {
void write_stderr(const std::string& s) {
    size_t done = 0;
    while (done < s.size()) {
        ssize_t n = ::write(STDERR_FILENO, s.data() + done, s.size() - done);
        if (n <= 0) return;
        done += size_t(n);
    }
}

std::string human(double v) {
    char buf[32];
    if (v >= 1e6)
        std::snprintf(buf, sizeof buf, "%.1fM", v / 1e6);
    else if (v >= 1e4)
        std::snprintf(buf, sizeof buf, "%.0fk", v / 1e3);
    else
        std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
}
} // namespace

Progress::Progress(std::vector<std::unique_ptr<Table>>& tables, bool enabled)
    : m_tables(tables), m_enabled(enabled) {
    if (!m_enabled) return;
    m_thread = std::thread([this] {
        std::unique_lock lock(m_mutex);
        while (!m_done) {
            m_wake.wait_for(lock, std::chrono::milliseconds(500));
            if (!m_done) draw(false);
        }
    });
}

Progress::~Progress() {
    if (!m_enabled) return;
    {
        std::lock_guard lock(m_mutex);
        m_done = true;
    }
    m_wake.notify_all();
    m_thread.join();
    write_stderr("\r\033[K");
}

void Progress::table_started(size_t table) {
    Table& t = *m_tables[table];
    bool expected = false;
    if (t.started_flag.compare_exchange_strong(expected, true))
        t.started = std::chrono::steady_clock::now();
}

std::string Progress::format_table(const Table& t,
                                   std::chrono::steady_clock::time_point now) const {
    double secs = std::chrono::duration<double>(now - t.started).count();
    double rows = double(t.rows.load());
    double rate = secs > 0 ? rows / secs : 0;
    std::string s = t.name + " " + human(rows) + " rows";
    if (t.estimated_rows > 0) {
        double pct = std::min(100.0, 100.0 * rows / t.estimated_rows);
        char buf[64];
        std::snprintf(buf, sizeof buf, " %.0f%%", pct);
        s += buf;
        if (rate > 0 && rows < t.estimated_rows) {
            std::snprintf(buf, sizeof buf, " ETA %.0fs", (t.estimated_rows - rows) / rate);
            s += buf;
        }
    }
    s += " " + human(rate) + " rows/s";
    return s;
}

void Progress::item_finished(size_t table) {
    Table& t = *m_tables[table];
    if (t.items_left.fetch_sub(1) != 1 || !m_enabled) return;
    std::lock_guard lock(m_mutex);
    auto now = std::chrono::steady_clock::now();
    double secs = std::chrono::duration<double>(now - t.started).count();
    char buf[128];
    std::snprintf(buf, sizeof buf, ": %llu rows in %.1f s", (unsigned long long)t.rows.load(),
                  secs);
    write_stderr("\r\033[K" + t.name + buf + "\n");
}

void Progress::draw(bool) {
    auto now = std::chrono::steady_clock::now();
    std::string line;
    for (const auto& t : m_tables) {
        if (!t->started_flag || t->items_left.load() == 0) continue;
        if (!line.empty()) line += " | ";
        line += format_table(*t, now);
    }
    if (!line.empty()) write_stderr("\r\033[K" + line);
}

} // namespace pgsync::snapshot
