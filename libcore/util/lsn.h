// Lsn: a WAL position. Parsed from and formatted to PostgreSQL's "X/X" text in this one place.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pgsync {

class Lsn {
public:
    constexpr Lsn() = default;
    constexpr explicit Lsn(uint64_t value) : m_value(value) {}

    // Parses "16/B374D848"; nullopt when the text is not an LSN.
    static std::optional<Lsn> parse(std::string_view text);

    constexpr uint64_t value() const { return m_value; }
    constexpr bool is_valid() const { return m_value != 0; }
    std::string str() const;
    // Appends the "X/X" text to out without allocating (hot paths: one per record).
    void append_to(std::string& out) const;

    constexpr auto operator<=>(const Lsn&) const = default;

private:
    uint64_t m_value = 0;
};

} // namespace pgsync
