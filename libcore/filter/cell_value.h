// Reading one cell's JSON token (as record/value_json writes it) for a comparison, comparing it
// with a bound constant, and the canonical keys ShapeIndex files equalities under. No allocation
// except when a JSON string holds escapes (then a per-thread buffer is reused).
#pragma once

#include "filter/bound_filter_impl.h"
#include "filter/decimal.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace pgsync::filter {

struct CellValue {
    bool boolean = false;
    int64_t integer = 0;
    double real = 0;
    Decimal decimal;
    std::string_view text; // Text: into the token or the per-thread unescape buffer
    unsigned char uuid[16] = {};
};

// False when the token is not a value of that kind (a value the evaluator then treats as not
// matching). Text views stay valid until the next read_cell on this thread.
bool read_cell(CompareKind kind, std::string_view json, CellValue& out);

// <0, 0, >0 in PostgreSQL's order for the kind (NaN equal to NaN and above everything).
int compare_cell(CompareKind kind, const CellValue& cell, const BoundValue& value);

// The key an equality on a column of this type is filed under, from a bound constant (false for
// NULL) or from a cell (false when the cell holds no comparable value). Equal values of the
// column's type give equal keys: numeric 1.50 and 1.5, an int column's 5 and 5.0.
bool index_key_of_value(CompareKind kind, const BoundValue& value, std::string& key);
bool index_key_of_cell(CompareKind kind, std::string_view json, std::string& key);

// An int column compared with integers and one compared with decimals file their keys alike.
CompareKind index_kind(CompareKind kind);

// Unescapes a JSON string token (quotes included); false if it is not one.
bool json_string_value(std::string_view json, std::string_view& out);

} // namespace pgsync::filter
