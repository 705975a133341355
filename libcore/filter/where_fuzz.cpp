// libFuzzer target for the where-clause parser and everything after it: arbitrary bytes as a
// client's where text. A crash, an exception, an error without a message, or a filter that
// evaluates to Yes on a row its ShapeIndex does not offer as a candidate is a bug.
#include "filter/bound_filter.h"
#include "filter/evaluator.h"
#include "filter/render_sql.h"
#include "filter/shape_index.h"
#include "filter/where_parser.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

using namespace pgsync::filter;

namespace {

const std::vector<TableColumn> kColumns = {
    {"id", 20, true},        {"flag", 16, false},   {"small", 21, false}, {"n", 23, false},
    {"amount", 1700, false}, {"ratio", 701, false}, {"r4", 700, false},   {"name", 25, false},
    {"label", 1043, false},  {"uid", 2950, false},  {"day", 1082, false}, {"at", 1114, false},
    {"ts", 1184, false},     {"obj", 26, false},    {"blob", 17, false},  {"code", 1042, false},
};

const std::vector<std::optional<std::string>> kParams = {
    "1",   "abc",  std::nullopt, "2026-11-19T00:00:00Z",
    "1.5", "true", "%a_\\%",     "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
};

// Rows as record/value_json writes them: one with values, one of NULLs, one absent, one odd.
const std::vector<std::vector<Cell>>& rows() {
    static const std::vector<std::vector<Cell>> all = [] {
        using K = Cell::Kind;
        std::vector<std::vector<Cell>> result;
        result.push_back({{K::Json, "1"},
                          {K::Json, "true"},
                          {K::Json, "-5"},
                          {K::Json, "42"},
                          {K::Json, "1.50"},
                          {K::Json, "\"NaN\""},
                          {K::Json, "1.1"},
                          {K::Json, "\"ab\\\"c\\u00e9\""},
                          {K::Json, "\"Abc\""},
                          {K::Json, "\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\""},
                          {K::Json, "\"2026-11-19\""},
                          {K::Json, "\"2026-11-19T10:00:00.5\""},
                          {K::Json, "\"2026-11-19T10:00:00+00:00\""},
                          {K::Json, "7"},
                          {K::Json, "\"\\\\x00\""},
                          {K::Json, "\"a  \""}});
        result.push_back(std::vector<Cell>(kColumns.size(), Cell{K::Null, {}}));
        result.push_back(std::vector<Cell>(kColumns.size(), Cell{K::Absent, {}}));
        result.push_back(std::vector<Cell>(kColumns.size(), Cell{K::Json, "\"infinity\""}));
        return result;
    }();
    return all;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    ParseResult parsed = parse_where(text);
    if (!parsed.ok()) {
        if (parsed.error.message.empty() || parsed.error.position > text.size() + 1) std::abort();
        return 0;
    }
    BindResult bound = bind(*parsed.expr, kColumns, kParams);
    if (!bound.ok()) {
        if (bound.error.message.empty() || bound.error.position > text.size()) std::abort();
        return 0;
    }
    const BoundFilter& filter = *bound.filter;
    // Binding is deterministic: the clone binds to the same shape.
    if (bind(*parsed.expr->clone(), kColumns, kParams).filter->canonical() != filter.canonical())
        std::abort();
    SqlFilter sql = render_sql(filter, 3);
    if (size_t(std::count(sql.sql.begin(), sql.sql.end(), '$')) != sql.params.size()) std::abort();

    ShapeIndex index;
    index.add(1, &filter);
    std::vector<ShapeIndex::ShapeId> candidates;
    for (const auto& row : rows()) {
        Match match = evaluate(filter, row);
        candidates.clear();
        index.candidates(row, candidates);
        bool offered = std::find(candidates.begin(), candidates.end(), 1u) != candidates.end();
        if (match != Match::No && !offered) std::abort();
    }
    index.remove(1);
    if (index.size() != 0) std::abort();
    return 0;
}
