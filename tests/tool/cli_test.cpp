// Every tool answers --help and --version, rejects bad flags with exit 2 and a "Try" line, and
// turns bad connection strings and unreachable servers into one-line errors with the right code.
#include "process.h"

#include <catch2/catch.hpp>

using namespace pgsync::test;

namespace {
const char* kTools[] = {"pgsync-init", "pgsync-snapshot", "pgsync-stream", "pgsync-serve"};
}

TEST_CASE("every tool's --help prints usage on stdout and exits 0", "[tool]") {
    for (const char* tool : kTools) {
        INFO(tool);
        auto r = run_process({tool_path(tool), "--help"});
        CHECK(r.exit_code == 0);
        CHECK(r.out.find("Usage:") != std::string::npos);
        CHECK(r.out.find("--dbname") != std::string::npos);
        CHECK(r.err.empty());
    }
}

TEST_CASE("every tool's --version prints the suite version and exits 0", "[tool]") {
    for (const char* tool : kTools) {
        INFO(tool);
        auto r = run_process({tool_path(tool), "--version"});
        CHECK(r.exit_code == 0);
        CHECK(r.out == std::string(tool) + " (pgsync) " PGSYNC_VERSION "\n");
    }
}

TEST_CASE("an unknown flag exits 2 with one error line and a Try line", "[tool]") {
    for (const char* tool : kTools) {
        INFO(tool);
        // Required options are given so that the unknown flag is the only problem.
        std::vector<std::string> args = {tool_path(tool), "--no-such-flag"};
        if (std::string(tool) != "pgsync-snapshot") args.insert(args.begin() + 1, {"-S", "s"});
        if (std::string(tool) == "pgsync-stream" || std::string(tool) == "pgsync-serve")
            args.insert(args.begin() + 1, {"-P", "p"});
        auto r = run_process(args);
        CHECK(r.exit_code == 2);
        CHECK(r.err.find(std::string(tool) + ": error: ") == 0);
        CHECK(r.err.find("--no-such-flag") != std::string::npos);
        CHECK(r.err.find("Try \"" + std::string(tool) + " --help\" for more information.") !=
              std::string::npos);
        CHECK(r.out.empty());
    }
}

TEST_CASE("pgsync-init without --slot is a usage error", "[tool][init]") {
    auto r = run_process({tool_path("pgsync-init"), "-P", "p", "-t", "x"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("--slot is required") != std::string::npos);
}

TEST_CASE("pgsync-init without tables or --all-tables is a usage error", "[tool][init]") {
    auto r = run_process({tool_path("pgsync-init"), "-S", "s", "-P", "p"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("name the tables to publish with --table, or use --all-tables") !=
          std::string::npos);
}

TEST_CASE("pgsync-init rejects --table together with --all-tables", "[tool][init]") {
    auto r =
        run_process({tool_path("pgsync-init"), "-S", "s", "-P", "p", "-t", "x", "--all-tables"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("excludes") != std::string::npos);
}

TEST_CASE("an invalid slot name is a usage error that says the rule", "[tool][init]") {
    auto r = run_process({tool_path("pgsync-init"), "-d", "dbname=x host=/nonexistent", "-S",
                          "Bad-Name", "-P", "p", "-t", "x"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("invalid slot name \"Bad-Name\"") != std::string::npos);
    CHECK(r.err.find("lower-case letters, digits and underscores") != std::string::npos);
}

TEST_CASE("pgsync-snapshot -j out of range is a usage error", "[tool][snapshot]") {
    auto r = run_process({tool_path("pgsync-snapshot"), "-t", "x", "-j", "0"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("--jobs") != std::string::npos);
}

TEST_CASE("a malformed connection string exits 2 and names the problem", "[tool]") {
    for (const char* tool : kTools) {
        INFO(tool);
        std::vector<std::string> args = {tool_path(tool), "-d", "host='unterminated"};
        if (std::string(tool) == "pgsync-init")
            args.insert(args.end(), {"-S", "s", "-P", "p", "-t", "x"});
        else if (std::string(tool) == "pgsync-stream")
            args.insert(args.end(), {"-S", "s", "-P", "p", "--no-loop"});
        else if (std::string(tool) == "pgsync-serve")
            args.insert(args.end(), {"-S", "s", "-P", "p", "--insecure"});
        else
            args.insert(args.end(), {"-t", "x", "--no-init-line"});
        auto r = run_process(args);
        CHECK(r.exit_code == 2);
        CHECK(r.err.find("invalid connection string") != std::string::npos);
        CHECK(r.err.find("hint: ") != std::string::npos);
    }
}

TEST_CASE("an unreachable server exits 1 with a connection hint", "[tool]") {
    for (const char* tool : kTools) {
        INFO(tool);
        std::vector<std::string> args = {tool_path(tool), "-d",
                                         "host=/nonexistent-socket-dir port=1 dbname=x"};
        if (std::string(tool) == "pgsync-init")
            args.insert(args.end(), {"-S", "s", "-P", "p", "-t", "x"});
        else if (std::string(tool) == "pgsync-stream")
            args.insert(args.end(), {"-S", "s", "-P", "p", "--no-loop"});
        else if (std::string(tool) == "pgsync-serve")
            args.insert(args.end(), {"-S", "s", "-P", "p", "--insecure"});
        else
            args.insert(args.end(), {"-t", "x", "--no-init-line"});
        auto r = run_process(args);
        CHECK(r.exit_code == 1);
        CHECK(r.err.find("could not connect to the database") != std::string::npos);
        CHECK(r.err.find("hint: Check the connection string") != std::string::npos);
    }
}

TEST_CASE("pgsync-snapshot rejects a pipe that does not carry a pgsync-init line",
          "[tool][snapshot]") {
    ProcessOptions garbage;
    garbage.stdin_data = "this is not json\n";
    auto r =
        run_process({tool_path("pgsync-snapshot"), "-d", "host=/nonexistent", "-t", "x"}, garbage);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("does not start with a pgsync-init line") != std::string::npos);

    ProcessOptions no_snapshot;
    no_snapshot.stdin_data =
        R"({"slot":"s","publication":"p","consistent_point":"0/1","snapshot":null})"
        "\n";
    r = run_process({tool_path("pgsync-snapshot"), "-d", "host=/nonexistent", "-t", "x"},
                    no_snapshot);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("carries no snapshot") != std::string::npos);

    ProcessOptions bad_lsn;
    bad_lsn.stdin_data = R"({"consistent_point":"zz","snapshot":"x"})"
                         "\n";
    r = run_process({tool_path("pgsync-snapshot"), "-d", "host=/nonexistent", "-t", "x"}, bad_lsn);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("is not an LSN") != std::string::npos);
}

TEST_CASE("pgsync-stream rejects bad LSNs, formats, sizes and missing options with exit 2",
          "[tool][stream]") {
    const std::string tool = tool_path("pgsync-stream");
    auto r = run_process({tool, "-S", "s", "-P", "p", "--endpos", "12"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("invalid --endpos \"12\"") != std::string::npos);
    CHECK(r.err.find("hint: Give an LSN as PostgreSQL prints it") != std::string::npos);
    r = run_process({tool, "-S", "s", "-P", "p", "--start", "0/XYZ"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("invalid --start \"0/XYZ\"") != std::string::npos);
    r = run_process({tool, "-S", "s", "-P", "p", "--format", "avro"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("--format") != std::string::npos);
    r = run_process({tool, "-S", "s"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("--publication is required") != std::string::npos);
    r = run_process({tool, "-S", "s", "-P", "p", "-s", "0"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("--status-interval") != std::string::npos);
    for (const char* size : {"10", "1XB", "-1"}) {
        r = run_process({tool, "-S", "s", "-P", "p", "--catch-up-batch", size});
        CHECK(r.exit_code == 2);
        CHECK(r.err.find("invalid --catch-up-batch \"" + std::string(size) + "\"") !=
              std::string::npos);
    }
}

TEST_CASE("pgsync-stream's ack file must be a regular file or a FIFO", "[tool][stream]") {
    auto r = run_process({tool_path("pgsync-stream"), "-d", "host=/nonexistent", "-S", "s", "-P",
                          "p", "--ack-file", "/", "--no-loop"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("\"/\"") != std::string::npos);
}

TEST_CASE("pgsync-publish answers --help and --version, and rejects bad flags with exit 2",
          "[tool][publish]") {
    auto help = run_process({tool_path("pgsync-publish"), "--help"});
    CHECK(help.exit_code == 0);
    CHECK(help.out.find("Usage:") != std::string::npos);
    CHECK(help.out.find("--nats") != std::string::npos);
    CHECK(help.out.find("--ack-file") != std::string::npos);
    auto version = run_process({tool_path("pgsync-publish"), "--version"});
    CHECK(version.exit_code == 0);
    CHECK(version.out == "pgsync-publish (pgsync) " PGSYNC_VERSION "\n");
    auto bad = run_process({tool_path("pgsync-publish"), "--nats", "nats://x", "--no-such-flag"});
    CHECK(bad.exit_code == 2);
    CHECK(bad.err.find("pgsync-publish: error: ") == 0);
    CHECK(bad.err.find("Try \"pgsync-publish --help\" for more information.") !=
          std::string::npos);
}

TEST_CASE("pgsync-publish without --nats is a usage error, an unreachable server exits 1",
          "[tool][publish]") {
    ProcessOptions no_env;
    no_env.env["NATS_URL"] = "";
    auto missing = run_process({tool_path("pgsync-publish")}, no_env);
    CHECK(missing.exit_code == 2);
    CHECK(missing.err.find("--nats is required") != std::string::npos);
    auto unreachable = run_process({tool_path("pgsync-publish"), "--nats", "nats://127.0.0.1:1"});
    CHECK(unreachable.exit_code == 1);
    CHECK(unreachable.err.find("could not connect to NATS") != std::string::npos);
    CHECK(unreachable.err.find("hint: Check that nats-server is running") != std::string::npos);
}
