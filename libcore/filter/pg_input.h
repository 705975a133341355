// Converts a filter constant to a column's type the way PostgreSQL's input functions cast an
// unknown-typed literal (boolin, int4in, numeric_in, float8in, uuid_in, date_in, timestamp_in,
// textin), with their error wording: `invalid input syntax for type integer: "abc"`.
#pragma once

#include "filter/bound_filter_impl.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace pgsync::filter {

// The comparison kind of a column of type_oid (Int for the integer types), None if unsupported.
CompareKind base_kind(uint32_t type_oid);

// PostgreSQL's name of the type, for messages ("integer", "timestamp with time zone").
std::string type_display_name(uint32_t type_oid);

// Text given as a string literal or parameter, cast to the column's type. kind is the column's
// base kind except for an integer column compared as Decimal (the value is then read as the
// integer type and widened). Fills value (and value.input); false with a message otherwise.
bool convert_text(std::string_view text, CompareKind kind, uint32_t type_oid, bool like_pattern,
                  BoundValue& value, std::string& error);

// A numeric literal written in the where clause (digits, decimals, exponent, leading minus).
bool convert_number(std::string_view text, CompareKind kind, uint32_t type_oid, BoundValue& value,
                    std::string& error);

// True when number is an integer within the range of the integer type type_oid (5, 5.0, 1e2).
bool number_fits_integer(std::string_view number, uint32_t type_oid);

} // namespace pgsync::filter
