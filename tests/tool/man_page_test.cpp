// Every man page renders without a groff warning: "groff -man -ww -Tutf8" (all warnings on, the
// UTF-8 device "man" uses) prints nothing on stderr, so a stray non-ASCII byte, an unknown escape
// or a bad macro call fails here rather than on a reader's terminal.
#include "process.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>

using namespace pgsync::test;

TEST_CASE("every man page renders with groff -man -ww -Tutf8 without a warning", "[tool][man]") {
    std::vector<std::string> pages;
    for (const auto& entry : std::filesystem::directory_iterator(man_dir())) {
        const std::string ext = entry.path().extension().string();
        if (entry.is_regular_file() && ext.size() == 2 && ext[1] >= '1' && ext[1] <= '8')
            pages.push_back(entry.path().string());
    }
    std::sort(pages.begin(), pages.end());
    // The suite's seven pages: six tools (pgsync-publish too) and pgsync.yaml(5); a wrong
    // directory must not pass.
    REQUIRE(std::find(pages.begin(), pages.end(), man_dir() + "/pgsync-publish.1") != pages.end());
    REQUIRE(pages.size() >= 7);
    for (const std::string& page : pages) {
        INFO(page);
        auto r = run_process({"groff", "-man", "-ww", "-Tutf8", page});
        REQUIRE(r.exit_code == 0); // groff-base (scripts/install-deps) provides groff
        CHECK(r.err.empty());
        CHECK(r.out.size() > 1000);
    }
}
