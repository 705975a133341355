// A table with a column of every filterable type, and helpers that parse and bind a where clause
// against it, for the filter unit tests.
#pragma once

#include "filter/bound_filter.h"
#include "filter/evaluator.h"
#include "filter/where_parser.h"

#include <catch2/catch.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace filter_test {

using pgsync::filter::BoundFilter;
using pgsync::filter::Cell;
using pgsync::filter::TableColumn;

inline const std::vector<TableColumn>& columns() {
    static const std::vector<TableColumn> all = {
        {"id", 20, true},         {"flag", 16, false},     {"small", 21, false},
        {"n", 23, false},         {"amount", 1700, false}, {"ratio", 701, false},
        {"r4", 700, false},       {"name", 25, false},     {"label", 1043, false},
        {"uid", 2950, false},     {"day", 1082, false},    {"at", 1114, false},
        {"ts", 1184, false},      {"obj", 26, false},      {"group_name", 25, false},
        {"payload", 3802, false}, {"code", 1042, false},   {"Mixed", 25, false},
    };
    return all;
}

inline int column_index(const std::string& name) {
    for (size_t i = 0; i < columns().size(); ++i)
        if (columns()[i].name == name) return int(i);
    FAIL("no column " << name);
    return -1;
}

using Params = std::vector<std::optional<std::string>>;

// Parses and binds; fails the test with the message when either step fails.
inline BoundFilter bound(const std::string& where, const Params& params = {}) {
    auto parsed = pgsync::filter::parse_where(where);
    INFO(where);
    REQUIRE(parsed.ok());
    auto result = pgsync::filter::bind(*parsed.expr, columns(), params);
    INFO(result.error.message);
    REQUIRE(result.ok());
    return *result.filter;
}

// The bind error message (the test fails if binding succeeds).
inline std::string bind_error(const std::string& where, const Params& params = {}) {
    auto parsed = pgsync::filter::parse_where(where);
    INFO(where);
    REQUIRE(parsed.ok());
    auto result = pgsync::filter::bind(*parsed.expr, columns(), params);
    REQUIRE_FALSE(result.ok());
    return result.error.message;
}

// A row builder: every cell Absent unless set.
class Row {
public:
    Row() : m_cells(columns().size()) {}
    Row& json(const std::string& column, std::string token) {
        m_tokens.push_back(std::make_unique<std::string>(std::move(token)));
        m_cells[size_t(column_index(column))] = {Cell::Kind::Json, *m_tokens.back()};
        return *this;
    }
    Row& null(const std::string& column) {
        m_cells[size_t(column_index(column))] = {Cell::Kind::Null, {}};
        return *this;
    }
    Row& all_null() {
        for (Cell& cell : m_cells)
            cell = {Cell::Kind::Null, {}};
        return *this;
    }
    const std::vector<Cell>& cells() const { return m_cells; }

private:
    std::vector<Cell> m_cells;
    std::vector<std::unique_ptr<std::string>> m_tokens;
};

} // namespace filter_test
