// "Did you mean": edit distance counts a transposition as one edit and stays within the limit.
#include "util/suggest.h"

#include <catch2/catch.hpp>

TEST_CASE("edit distance counts insertions, deletions, substitutions and transpositions",
          "[suggest]") {
    CHECK(pgsync::edit_distance("publicaton", "publication") == 1);
    CHECK(pgsync::edit_distance("valdiate", "validate") == 1);
    CHECK(pgsync::edit_distance("", "abc") == 3);
    CHECK(pgsync::edit_distance("slot", "slot") == 0);
    CHECK(pgsync::edit_distance("kitten", "sitting") == 3);
}

TEST_CASE("closest_word suggests only within the distance limit", "[suggest]") {
    std::vector<std::string> keys = {"dsn", "dsn_env", "slot", "publication"};
    CHECK(pgsync::closest_word("publicaton", keys) == "publication");
    CHECK(pgsync::closest_word("solt", keys) == "slot");
    CHECK_FALSE(pgsync::closest_word("database", keys));
}
