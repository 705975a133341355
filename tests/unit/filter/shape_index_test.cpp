// ShapeIndex offers a row only the shapes filed under its value of an indexed column plus the
// unindexed ones, with keys that meet across spellings of one value (1.50 and 1.5, JSON escapes,
// uuid case), and its lookup does not grow with the number of shapes.
#include "filter/shape_index.h"
#include "filter_fixture.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <memory>

using namespace filter_test;
using pgsync::filter::ShapeIndex;

namespace {

std::vector<ShapeIndex::ShapeId> sorted_candidates(const ShapeIndex& index, const Row& row) {
    std::vector<ShapeIndex::ShapeId> out;
    index.candidates(row.cells(), out);
    std::sort(out.begin(), out.end());
    return out;
}

} // namespace

TEST_CASE("shape index: 10,000 shapes on distinct values give one bucket plus unindexed",
          "[filter]") {
    std::vector<std::unique_ptr<BoundFilter>> filters;
    ShapeIndex index;
    for (int i = 0; i < 10000; ++i) {
        filters.push_back(std::make_unique<BoundFilter>(
            bound("group_name = $1 AND n > 0", {"group-" + std::to_string(i)})));
        index.add(ShapeIndex::ShapeId(i), filters.back().get());
    }
    filters.push_back(std::make_unique<BoundFilter>(bound("n > 5 OR group_name = 'x'")));
    index.add(50000, filters.back().get());
    index.add(50001, nullptr); // no filter: every row
    CHECK(index.size() == 10002);

    Row row;
    row.json("group_name", "\"group-4242\"").json("n", "7");
    CHECK(sorted_candidates(index, row) == std::vector<ShapeIndex::ShapeId>{4242, 50000, 50001});
    Row other;
    other.json("group_name", "\"nobody\"").json("n", "7");
    CHECK(sorted_candidates(index, other) == std::vector<ShapeIndex::ShapeId>{50000, 50001});
    Row null_group;
    null_group.null("group_name").json("n", "7");
    CHECK(sorted_candidates(index, null_group) == std::vector<ShapeIndex::ShapeId>{50000, 50001});
    // A row image without the column may match any shape filed under it.
    CHECK(sorted_candidates(index, Row().json("n", "7")).size() == 10002);

    index.remove(4242);
    CHECK(sorted_candidates(index, row) == std::vector<ShapeIndex::ShapeId>{50000, 50001});
    index.add(4242, filters[4242].get());
    CHECK(sorted_candidates(index, row) == std::vector<ShapeIndex::ShapeId>{4242, 50000, 50001});
    index.add(4242, filters[4243].get()); // re-adding replaces
    CHECK(sorted_candidates(index, row) == std::vector<ShapeIndex::ShapeId>{50000, 50001});
    CHECK(index.size() == 10002);
}

TEST_CASE("shape index: keys meet across spellings of the same value", "[filter]") {
    BoundFilter numeric = bound("amount = 1.50");
    BoundFilter integer = bound("n = 5.0 AND name = 'a'");
    BoundFilter text = bound("name = 'say \"hi\"'");
    BoundFilter uuid = bound("uid = 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'");
    BoundFilter ts = bound("ts = '2026-11-19 11:00:00+01'");
    BoundFilter nan = bound("ratio = 'NaN'");
    ShapeIndex index;
    index.add(1, &numeric);
    index.add(2, &integer);
    index.add(3, &text);
    index.add(4, &uuid);
    index.add(5, &ts);
    index.add(6, &nan);
    Row row;
    row.json("amount", "1.5")
        .json("n", "5")
        .json("name", "\"say \\\"hi\\\"\"")
        .json("uid", "\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"")
        .json("ts", "\"2026-11-19T10:00:00+00:00\"")
        .json("ratio", "\"NaN\"");
    CHECK(sorted_candidates(index, row) == std::vector<ShapeIndex::ShapeId>{1, 2, 3, 4, 5, 6});
    Row miss;
    miss.json("amount", "1.51")
        .json("n", "6")
        .json("name", "\"say hi\"")
        .json("uid", "\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12\"")
        .json("ts", "\"2026-11-19T10:00:01+00:00\"")
        .json("ratio", "1");
    CHECK(sorted_candidates(index, miss).empty());
    for (ShapeIndex::ShapeId id = 1; id <= 6; ++id)
        index.remove(id);
    CHECK(index.size() == 0);
    CHECK(sorted_candidates(index, row).empty());
}

TEST_CASE("shape index: shapes without a top-level equality are always candidates", "[filter]") {
    BoundFilter range = bound("n > 5");
    BoundFilter either = bound("n = 1 OR n = 2");
    BoundFilter negated = bound("NOT n = 1");
    BoundFilter null_equality = bound("n = NULL");
    ShapeIndex index;
    index.add(1, &range);
    index.add(2, &either);
    index.add(3, &negated);
    index.add(4, &null_equality);
    CHECK(sorted_candidates(index, Row().json("n", "1")) ==
          std::vector<ShapeIndex::ShapeId>{1, 2, 3, 4});
}
