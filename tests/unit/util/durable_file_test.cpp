// write_file_durably replaces a file whole, leaves no temporary behind, keeps its temporary out of
// the caller's names (a name ending in .tmp is somebody's name), and names what failed.
#include "util/durable_file.h"
#include "util/error.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace fs = std::filesystem;

TEST_CASE("durable file: replaces whole, no temporary left, .tmp names untouched", "[util]") {
    const fs::path dir = fs::temp_directory_path() / ("pgsync-durable-" + std::to_string(getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    const std::string a = (dir / "a").string(), a_tmp = (dir / "a.tmp").string();
    pgsync::write_file_durably(a_tmp, "kept\n");
    pgsync::write_file_durably(a, "first\n");
    pgsync::write_file_durably(a, "second\n");
    CHECK(pgsync::read_small_file(a) == std::optional<std::string>("second\n"));
    CHECK(pgsync::read_small_file(a_tmp) == std::optional<std::string>("kept\n"));
    CHECK(pgsync::read_small_file((dir / "missing").string()) == std::nullopt);
    size_t files = 0;
    for (const auto& entry : fs::directory_iterator(dir)) {
        ++files;
        CHECK(entry.path().filename().string()[0] != '.');
    }
    CHECK(files == 2);
    fs::remove_all(dir);
}

TEST_CASE("durable file: a missing directory is an error naming the file", "[util]") {
    try {
        pgsync::write_file_durably("/nonexistent-pgsync-dir/x", "y");
        FAIL("no error");
    } catch (const pgsync::Error& e) {
        CHECK(std::string(e.what()).find("/nonexistent-pgsync-dir/.x.tmp") != std::string::npos);
    }
}
