// The where-clause expression tree: what a client's filter means, independent of its text. Built
// by the parser (filter/where_parser.h), bound to a table (filter/bound_filter.h), evaluated in C++
// and rendered back to SQL. Client text never reaches the database (cdc-hard-cases F5).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace pgsync::filter {

// A constant on the right of an operator: a literal from the text or a $n parameter.
struct Operand {
    enum class Kind { String, Number, Boolean, Null, Param };
    Kind kind = Kind::Null;
    std::string text;    // String: the unescaped value; Number: as written; Boolean: "true"/"false"
    int param = 0;       // Param: n of $n (1-based)
    size_t position = 0; // byte offset in the where text, for error messages
};

enum class CompareOp { Eq, Ne, Lt, Le, Gt, Ge };

struct Expr {
    enum class Kind { And, Or, Not, Compare, In, IsNull, Between, Like, Constant };
    Kind kind = Kind::Constant;
    std::vector<std::unique_ptr<Expr>> children; // And/Or: two or more; Not: one
    std::string column;                          // the column name, already case-folded/unquoted
    size_t column_position = 0;
    CompareOp op = CompareOp::Eq;  // Compare
    std::vector<Operand> operands; // Compare: 1; In: the list; Between: low, high; Like: pattern
    bool negated = false;          // NOT IN, IS NOT NULL, NOT BETWEEN, NOT LIKE
    bool case_insensitive = false; // ILIKE
    bool value = true;             // Constant (TRUE / FALSE literal as a whole condition)

    std::unique_ptr<Expr> clone() const;
};

// AND of two trees (the mandatory filter of a token and the client's own): a node, never text.
std::unique_ptr<Expr> conjoin(std::unique_ptr<Expr> a, std::unique_ptr<Expr> b);

} // namespace pgsync::filter
