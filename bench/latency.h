// What the bench load generators share: the clocks, PostgreSQL's timestamptz text to
// microseconds (latency = arrival - the row's "ts"), and the latency histogram.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <vector>

inline int64_t realtime_us() {
    timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return int64_t(t.tv_sec) * 1000000 + t.tv_nsec / 1000;
}

inline double monotonic_s() {
    timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return double(t.tv_sec) + double(t.tv_nsec) / 1e9;
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
inline int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = unsigned(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + int64_t(doe) - 719468;
}

inline int digits(const char* p, int n) {
    int v = 0;
    for (int i = 0; i < n; ++i) v = v * 10 + (p[i] - '0');
    return v;
}

// "2026-11-21T01:51:19.808571+00:00" (also a space for T, no or fewer fraction digits, "Z",
// "+05:30", "+05") to microseconds since the epoch; -1 when it is not that.
inline int64_t parse_timestamp_us(const char* p, const char* end) {
    if (end - p < 19 || p[4] != '-' || p[7] != '-' || p[13] != ':' || p[16] != ':') return -1;
    int64_t days = days_from_civil(digits(p, 4), unsigned(digits(p + 5, 2)),
                                   unsigned(digits(p + 8, 2)));
    int64_t us = (days * 86400 + digits(p + 11, 2) * 3600 + digits(p + 14, 2) * 60 +
                  digits(p + 17, 2)) * 1000000;
    const char* q = p + 19;
    if (q < end && *q == '.') {
        ++q;
        int64_t scale = 100000;
        while (q < end && *q >= '0' && *q <= '9') {
            us += (*q - '0') * scale;
            scale /= 10;
            ++q;
        }
    }
    if (q < end && (*q == '+' || *q == '-')) {
        int sign = *q == '+' ? 1 : -1;
        int offset_s = 0;
        if (end - q >= 3) offset_s = digits(q + 1, 2) * 3600;
        if (end - q >= 6 && q[3] == ':') offset_s += digits(q + 4, 2) * 60;
        us -= int64_t(sign) * offset_s * 1000000;
    }
    return us;
}

// Latencies in a histogram: 10 us buckets below 100 ms, 1 ms buckets up to 120 s, then one.
class Histogram {
public:
    Histogram() : m_counts(kFine + kCoarse + 1, 0) {}
    void add(int64_t us) {
        if (us < 0) us = 0;
        size_t i = us < 100000 ? size_t(us / 10)
                   : us < 120000000 ? kFine + size_t((us - 100000) / 1000)
                                    : kFine + kCoarse;
        ++m_counts[i];
        ++m_total;
        m_max = std::max(m_max, us);
    }
    void merge(const Histogram& other) {
        for (size_t i = 0; i < m_counts.size(); ++i) m_counts[i] += other.m_counts[i];
        m_total += other.m_total;
        m_max = std::max(m_max, other.m_max);
    }
    void clear() {
        std::fill(m_counts.begin(), m_counts.end(), 0);
        m_total = 0;
        m_max = 0;
    }
    uint64_t total() const { return m_total; }
    double max_ms() const { return double(m_max) / 1000; }
    // The upper edge of the bucket holding the q-th quantile, in ms.
    double quantile_ms(double q) const {
        if (m_total == 0) return 0;
        uint64_t rank = uint64_t(q * double(m_total));
        if (rank >= m_total) rank = m_total - 1;
        uint64_t seen = 0;
        for (size_t i = 0; i < m_counts.size(); ++i) {
            seen += m_counts[i];
            if (seen > rank) {
                double upper_us = i < kFine ? double(i + 1) * 10
                                            : 100000.0 + double(i - kFine + 1) * 1000;
                return std::min(upper_us / 1000, max_ms());
            }
        }
        return max_ms();
    }

private:
    static constexpr size_t kFine = 10000;
    static constexpr size_t kCoarse = 119900;
    std::vector<uint32_t> m_counts;
    uint64_t m_total = 0;
    int64_t m_max = 0;
};
