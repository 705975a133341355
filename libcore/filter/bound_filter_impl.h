// The compiled form of a bound filter (private to libcore/filter): column indexes instead of
// names, constants already converted to the column's type, and how each comparison reads a cell.
#pragma once

#include "filter/bound_filter.h"
#include "filter/decimal.h"
#include "filter/like_match.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace pgsync::filter {

// How a comparison reads the cell and compares it with its constants. An integer column compared
// with a number that is not an integer of its range (int_col < 1.5) compares as Decimal, exactly.
enum class CompareKind : char {
    None, // IS NULL on a column of any type: the value is never read
    Bool,
    Int,
    Decimal,
    Float8,
    Float4,
    Text,
    Uuid,
    Date,
    Timestamp,
    TimestampTz,
};

// One constant converted to its comparison's kind. null: an SQL NULL (a comparison with it is
// never true).
struct BoundValue {
    bool null = false;
    bool boolean = false;
    int64_t integer = 0; // Int; Date (days); Timestamp, TimestampTz (microseconds)
    double real = 0;     // Float8, Float4 (a float4 constant already rounded to float)
    OwnedDecimal decimal;
    std::string bytes; // Text: the value; Uuid: the 16 bytes
    std::string input; // the value as PostgreSQL input text, for render_sql and canonical()
};

struct BoundNode {
    using Kind = Expr::Kind;
    Kind kind = Kind::Constant;
    std::vector<BoundNode> children; // And, Or: two or more; Not: one
    int column = -1;
    CompareOp op = CompareOp::Eq;
    CompareKind compare = CompareKind::None;
    std::vector<BoundValue> values; // Compare: 1; In: the list; Between: low, high; Like: pattern
    bool negated = false;
    bool case_insensitive = false;
    bool value = true; // Constant
    // Like: the compiled pattern (null when the pattern is NULL).
    std::shared_ptr<const LikePattern> like;
    // In: the index keys (filter/cell_value.h) of the non-NULL values, sorted, so a list costs a
    // binary search, not a scan; in_has_null: the list holds a NULL.
    std::vector<std::string> in_keys;
    bool in_has_null = false;
};

// The most values an IN list may bind (bind refuses longer ones).
inline constexpr size_t kMaxInValues = 1000;

// The SQL type name a comparison's constants are cast to in render_sql.
const char* cast_type_name(CompareKind kind, uint32_t column_type_oid);

} // namespace pgsync::filter
