// The exit-code contract: one enum holds every code the tools return, with the numbers that the
// man pages' EXIT STATUS sections document.
#include "stream/slot_check.h"
#include "util/error.h"

#include <catch2/catch.hpp>

using namespace pgsync;

TEST_CASE("exit codes: the enum holds the documented numbers 0, 1, 2 and 3", "[util][error]") {
    STATIC_REQUIRE(kExitOk == 0);
    STATIC_REQUIRE(kExitRuntime == 1);
    STATIC_REQUIRE(kExitUsage == 2);
    STATIC_REQUIRE(kExitSlotLost == 3);
}

TEST_CASE("exit codes: a lost slot's error carries kExitSlotLost from the one enum",
          "[util][error]") {
    Error e = stream::slot_lost_error("s1", "wal_status is \"lost\"");
    CHECK(e.exit_code() == kExitSlotLost);
    CHECK(std::string(e.what()) == "replication slot \"s1\" can no longer stream: wal_status is "
                                   "\"lost\"");
    CHECK(usage_error("bad").exit_code() == kExitUsage);
    CHECK(Error("failed").exit_code() == kExitRuntime);
}
