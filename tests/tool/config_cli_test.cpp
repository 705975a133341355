// pgsync-config as a user runs it: exit codes 0/2, diagnostics with FILE:LINE:COLUMN on stderr or
// JSON on stdout, "did you mean" for commands, show masking secrets, init writing a valid file,
// and every tool refusing an invalid --config file with exit 2.
#include "pg_test.h"
#include "process.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

using namespace pgsync::test;

namespace {
std::string write_file(const std::string& name, const std::string& text) {
    const std::string path = test_tmp_dir() + "/" + unique_name(name) + ".yaml";
    std::ofstream(path) << text;
    return path;
}
const char* kGood =
    "source:\n  dsn: \"host=db user=sync password=hunter2 dbname=app\"\n  slot: app_slot\n"
    "  publication: app_pub\ntables:\n  - name: public.messages\n";
const char* kBad = "source:\n  publicaton: p\nsnapshot:\n  jobs: many\n";
} // namespace

TEST_CASE("pgsync-config suggests the command a typo meant", "[tool][config]") {
    auto r = run_process({tool_path("pgsync-config"), "valdiate", "x.yaml"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("unknown command \"valdiate\"") != std::string::npos);
    CHECK(r.err.find("Did you mean \"validate\"?") != std::string::npos);
    auto none = run_process({tool_path("pgsync-config")});
    CHECK(none.exit_code == 2);
}

TEST_CASE("validate exits 0 for a valid file and 2 with every problem of an invalid one",
          "[tool][config]") {
    auto ok = run_process({tool_path("pgsync-config"), "validate", write_file("good", kGood)});
    CHECK(ok.exit_code == 0);
    CHECK(ok.out.empty());
    const std::string bad = write_file("bad", kBad);
    auto r = run_process({tool_path("pgsync-config"), "validate", bad});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find(bad + ":2:3: error: unknown key \"publicaton\" in \"source\"") !=
          std::string::npos);
    CHECK(r.err.find("hint: Did you mean \"publication\"?") != std::string::npos);
    CHECK(r.err.find(bad + ":4:9: error: ") != std::string::npos); // jobs: many, in the same run
}

TEST_CASE("validate refuses an unclosed quote instead of joining the next lines into the dsn",
          "[tool][config]") {
    for (const char quote : {'"', '\''}) {
        INFO(quote);
        const std::string file =
            write_file("unclosed", std::string("source:\n  dsn: ") + quote +
                                       "host=db dbname=app\n  slot: app_slot\n  publication: "
                                       "app_pub\ntables:\n  - name: public.messages\n");
        auto r = run_process({tool_path("pgsync-config"), "validate", file});
        CHECK(r.exit_code == 2);
        CHECK(r.err.find(file + ":2:8: error: invalid YAML: unterminated " +
                         (quote == '"' ? "double" : "single") + "-quoted string\n") == 0);
        CHECK(r.err.find("hint: The string runs on into line 3, which is not indented more than "
                         "its key; add the closing " +
                         std::string(1, quote) + " where the value ends.") != std::string::npos);
        CHECK(r.out.empty());
    }
}

TEST_CASE("validate --format json prints the diagnostics as JSON on stdout", "[tool][config]") {
    const std::string bad = write_file("badjson", kBad);
    auto r = run_process({tool_path("pgsync-config"), "validate", "--format", "json", bad});
    CHECK(r.exit_code == 2);
    auto j = nlohmann::json::parse(r.out);
    REQUIRE(j.is_array());
    REQUIRE(j.size() >= 2);
    CHECK(j[0]["file"] == bad);
    CHECK(j[0]["line"] == 2);
    CHECK(j[0]["column"] == 3);
    CHECK(j[0]["severity"] == "error");
    CHECK(j[0]["message"] == "unknown key \"publicaton\" in \"source\"");
    auto ok = run_process(
        {tool_path("pgsync-config"), "validate", "--format", "json", write_file("g", kGood)});
    CHECK(ok.exit_code == 0);
    CHECK(nlohmann::json::parse(ok.out) == nlohmann::json::array());
}

TEST_CASE("show prints the effective configuration with the password masked", "[tool][config]") {
    const std::string good = write_file("show", kGood);
    auto r = run_process({tool_path("pgsync-config"), "show", good});
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("hunter2") == std::string::npos);
    CHECK(r.out.find("****") != std::string::npos);
    CHECK(r.out.find("app_slot") != std::string::npos);
    CHECK(r.out.find("# default") != std::string::npos);
    auto plain = run_process({tool_path("pgsync-config"), "show", "--no-mask", good});
    CHECK(plain.out.find("hunter2") != std::string::npos);
}

TEST_CASE("init writes a starting file that validates, and will not overwrite without --force",
          "[tool][config]") {
    auto r = run_process({tool_path("pgsync-config"), "init"});
    REQUIRE(r.exit_code == 0);
    const std::string path = write_file("init", r.out);
    CHECK(run_process({tool_path("pgsync-config"), "validate", path}).exit_code == 0);
    auto again = run_process({tool_path("pgsync-config"), "init", path});
    CHECK(again.exit_code == 2);
    CHECK(again.err.find("already exists") != std::string::npos);
    CHECK(again.err.find("--force") != std::string::npos);
    CHECK(run_process({tool_path("pgsync-config"), "init", "--force", path}).exit_code == 0);
}

TEST_CASE("every tool refuses an invalid --config file with exit 2 and its diagnostics",
          "[tool][config]") {
    const std::string bad = write_file("badtool", kBad);
    for (const char* tool : {"pgsync-init", "pgsync-snapshot", "pgsync-stream"}) {
        INFO(tool);
        auto r = run_process({tool_path(tool), "--config", bad, "-S", "s", "-P", "p", "-t", "t"});
        if (std::string(tool) == "pgsync-snapshot")
            r = run_process({tool_path(tool), "--config", bad, "-t", "t", "--no-init-line"});
        if (std::string(tool) == "pgsync-stream")
            r = run_process({tool_path(tool), "--config", bad, "-S", "s", "-P", "p"});
        CHECK(r.exit_code == 2);
        CHECK(r.err.find("publicaton") != std::string::npos);
        CHECK(r.out.empty());
    }
    auto missing = run_process(
        {tool_path("pgsync-stream"), "--config", "/nonexistent/pgsync.yaml", "-S", "s", "-P", "p"});
    CHECK(missing.exit_code == 2);
    CHECK(missing.err.find("/nonexistent/pgsync.yaml") != std::string::npos);
}
