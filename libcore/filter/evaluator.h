// Evaluates a bound filter on one image of a row, in C++, agreeing with PostgreSQL's WHERE on
// every supported operator and type (tests/integration/filter/differential_test.cpp shows it).
#pragma once

#include "filter/bound_filter.h"

#include <cstdint>
#include <span>
#include <string_view>

namespace pgsync::filter {

// One column of a row image as a native change record carries it.
struct Cell {
    enum class Kind : char {
        Null,   // SQL NULL
        Absent, // not in this image: an unchanged TOAST value, or outside a key-only old image
        Json,   // the value's JSON token exactly as record/value_json writes it
    };
    Kind kind = Kind::Absent;
    // Json: e.g. 42, 12.50, "text with \"escapes\"", true, "2026-11-19T00:00:00+00:00"
    std::string_view json;
};

// Yes/No as WHERE would decide (NULL comparisons are not true); Unknown when the result depends
// on a column Absent from this image.
enum class Match { Yes, No, Unknown };

// row has one Cell per table column (BoundFilter::columns order). Never throws: a value that does
// not parse for its type compares as not matching.
Match evaluate(const BoundFilter& filter, std::span<const Cell> row);

// What evaluating the filter costs per row, in units of one comparison: a LIKE counts the words
// of its matcher's state (filter/like_match.h) times 8, an IN list the steps of its binary
// search. pgsync-serve sums it per connection to keep one client from slowing the others.
uint64_t evaluation_cost(const BoundFilter& filter);

} // namespace pgsync::filter
