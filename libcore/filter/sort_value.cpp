// Sort values: filter/cell_value reads the token, this file owns and compares the result.
#include "filter/sort_value.h"

#include "filter/bound_filter_impl.h"
#include "filter/cell_value.h"
#include "filter/pg_input.h"

#include <cmath>
#include <cstring>

namespace pgsync::filter {

namespace {

template <typename T> int three_way(T a, T b) {
    return a < b ? -1 : (b < a ? 1 : 0);
}

} // namespace

std::optional<SortColumn> SortColumn::of(uint32_t type_oid) {
    CompareKind kind = base_kind(type_oid);
    if (kind == CompareKind::None) return std::nullopt;
    return SortColumn(char(kind));
}

bool SortColumn::is_text() const {
    return CompareKind(m_kind) == CompareKind::Text;
}

bool SortColumn::read(std::string_view json, SortValue& out) const {
    out = SortValue{};
    if (json == "null") {
        out.null = true;
        return true;
    }
    CellValue cell;
    const CompareKind kind = CompareKind(m_kind);
    if (!read_cell(kind, json, cell)) return false;
    out.boolean = cell.boolean;
    out.integer = cell.integer;
    out.real = cell.real;
    if (kind == CompareKind::Decimal) out.decimal = OwnedDecimal::from(cell.decimal);
    if (kind == CompareKind::Text) out.bytes.assign(cell.text);
    if (kind == CompareKind::Uuid) out.bytes.assign(reinterpret_cast<const char*>(cell.uuid), 16);
    return true;
}

int SortColumn::compare(const SortValue& a, const SortValue& b) const {
    switch (CompareKind(m_kind)) {
    case CompareKind::None:
        return 0;
    case CompareKind::Bool:
        return three_way(int(a.boolean), int(b.boolean));
    case CompareKind::Int:
    case CompareKind::Date:
    case CompareKind::Timestamp:
    case CompareKind::TimestampTz:
        return three_way(a.integer, b.integer);
    case CompareKind::Decimal:
        return compare_decimal(a.decimal.view(), b.decimal.view());
    case CompareKind::Float8:
    case CompareKind::Float4: {
        const bool a_nan = std::isnan(a.real), b_nan = std::isnan(b.real);
        if (a_nan || b_nan) return three_way(int(a_nan), int(b_nan)); // NaN above everything
        return three_way(a.real, b.real);
    }
    case CompareKind::Text:
    case CompareKind::Uuid: {
        const size_t common = std::min(a.bytes.size(), b.bytes.size());
        const int result = common ? std::memcmp(a.bytes.data(), b.bytes.data(), common) : 0;
        if (result != 0) return result < 0 ? -1 : 1;
        return three_way(a.bytes.size(), b.bytes.size());
    }
    }
    return 0;
}

} // namespace pgsync::filter
