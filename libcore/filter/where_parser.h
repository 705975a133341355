// Parses a client's where clause into an expression tree. The grammar is a small allow-list of
// SQL: column references (quoted or not), literals, $n parameters, = <> != < <= > >=, AND OR NOT,
// [NOT] IN (…), IS [NOT] NULL, [NOT] BETWEEN … AND …, [NOT] LIKE / ILIKE, parentheses. Anything
// else is an error naming the byte position.
#pragma once

#include "filter/expr.h"

#include <memory>
#include <string>
#include <string_view>

namespace pgsync::filter {

struct ParseError {
    size_t position = 0; // 0-based byte offset into the text
    std::string message; // e.g. "unexpected \";\" at position 14"; lower case, no period
};

struct ParseResult {
    std::unique_ptr<Expr> expr; // null on error
    ParseError error;
    bool ok() const { return expr != nullptr; }
};

// Never throws for bad input; bounded nesting depth (an error past 64 levels) and length.
ParseResult parse_where(std::string_view text);

} // namespace pgsync::filter
