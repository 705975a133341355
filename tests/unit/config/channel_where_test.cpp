// tables[].channels[].where: read into the model, checked with the filter grammar, its errors at
// the line (and, for a plain scalar, the column) of the fault.
#include "config/load.h"

#include <catch2/catch.hpp>

using namespace pgsync::config;

namespace {

std::string problems(const std::string& text) {
    return format_text(load_text(text, "t.yaml").diagnostics);
}

const std::string kHead = "tables:\n  - name: messages\n    channels:\n      - name: c\n";

} // namespace

TEST_CASE("a channel's where is read with its position", "[config][channel]") {
    LoadResult result = load_text(kHead + "        where: group_name = 'party' and likes > 2\n",
                                  "t.yaml");
    REQUIRE(format_text(result.diagnostics) == "");
    const Channel& channel = result.config.tables.at(0).channels.at(0);
    CHECK(channel.where.set);
    CHECK(channel.where.value == "group_name = 'party' and likes > 2");
    CHECK(channel.where.origin.line == 5);
    CHECK(channel.where.origin.column == 16);
}

TEST_CASE("a channel's where with a syntax error is reported at its line and column",
          "[config][channel]") {
    CHECK(problems(kHead + "        where: likes > 2 ; drop table x\n") ==
          "t.yaml:5:26: error: invalid \"where\" in \"tables[0].channels[0]\": unexpected \";\" at "
          "position 10: only one condition is allowed, without \";\"\n"
          "hint: Write a filter as a client's where, e.g. where: \"group_name = 'party'\".\n");
    // A quoted scalar: the line is exact, the column the value's.
    CHECK(problems(kHead + "        operations: [insert]\n        where: \"likes >\"\n") ==
          "t.yaml:6:16: error: invalid \"where\" in \"tables[0].channels[0]\": unexpected end of "
          "input at position 7: expected a constant or a $n parameter\n"
          "hint: Write a filter as a client's where, e.g. where: \"group_name = 'party'\".\n");
}

TEST_CASE("a channel's where must be a non-empty string without parameters", "[config][channel]") {
    CHECK(problems(kHead + "        where: [a]\n") ==
          "t.yaml:5:16: error: \"where\" in \"tables[0].channels[0]\" must be a string, not a "
          "list\n");
    CHECK(problems(kHead + "        where: group_name = $1\n") ==
          "t.yaml:5:29: error: \"where\" in \"tables[0].channels[0]\" must not use parameters "
          "($n)\n"
          "hint: A channel has no client to supply values: write the value itself.\n");
}

TEST_CASE("a channel's where names only columns the table replicates", "[config][channel]") {
    CHECK(problems("tables:\n  - name: messages\n    columns: [message_id, likes]\n"
                   "    channels:\n      - name: c\n        where: likes > 1 or sender = 'x'\n") ==
          "t.yaml:6:29: error: column \"sender\" in \"where\" of \"tables[0].channels[0]\" is not "
          "in the table's \"columns\"\n"
          "hint: Add it to \"columns\", or correct the name.\n");
}
