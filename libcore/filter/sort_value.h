// A column's values as an ordered window sorts them: read from a cell's JSON token (as
// record/value_json writes it), owned, and compared in PostgreSQL's order for the type: numbers
// exactly (numeric 1.50 = 1.5, NaN above everything), times as instants, text bytewise, which is
// what PostgreSQL does under COLLATE "C" (the order windows ask the database for).
#pragma once

#include "filter/decimal.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pgsync::filter {

struct SortValue {
    bool null = false;
    bool boolean = false;
    int64_t integer = 0; // integers; dates (days); timestamps (microseconds)
    double real = 0;
    OwnedDecimal decimal;
    std::string bytes; // text; uuid (16 bytes)
};

class SortColumn {
public:
    // How a column of this base type sorts; nullopt when the server cannot compare its values.
    static std::optional<SortColumn> of(uint32_t type_oid);
    bool is_text() const;
    // False when the token is not a value of the type. "null" reads as a NULL value.
    bool read(std::string_view json, SortValue& out) const;
    // <0, 0, >0 for non-NULL values.
    int compare(const SortValue& a, const SortValue& b) const;

private:
    explicit SortColumn(char kind) : m_kind(kind) {}
    char m_kind; // a CompareKind (filter/bound_filter_impl.h)
};

} // namespace pgsync::filter
