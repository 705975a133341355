// pgsync-serve's usage errors: each names what is wrong, gives a hint and exits 2, before any
// connection is made.
#include "process.h"

#include <catch2/catch.hpp>
#include <fstream>

using namespace pgsync::test;

namespace {
ProcessResult serve(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    args.insert(args.begin(), {tool_path("pgsync-serve"), "-d", "host=/nonexistent dbname=x"});
    ProcessOptions options;
    options.env = std::move(env);
    return run_process(args, options);
}
} // namespace

TEST_CASE("pgsync-serve refuses to start without an authentication setting", "[tool][serve]") {
    auto r = serve({"-S", "s", "-P", "p"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("no authentication configured") != std::string::npos);
    CHECK(r.err.find("hint: Give --jwt-secret-env") != std::string::npos);
}

TEST_CASE("pgsync-serve allows --insecure only on loopback, and says so", "[tool][serve]") {
    auto r = serve({"-S", "s", "-P", "p", "--insecure", "--listen", "0.0.0.0:8080"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("--insecure is allowed only on a loopback address, not \"0.0.0.0\"") !=
          std::string::npos);
    // On loopback it goes on (to fail connecting here), after a warning.
    r = serve({"-S", "s", "-P", "p", "--insecure", "--listen", "127.0.0.1:0"});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("warning: --insecure: no authentication") != std::string::npos);
}

TEST_CASE("pgsync-serve names a secret variable that is not set", "[tool][serve]") {
    auto r = serve({"-S", "s", "-P", "p", "--jwt-secret-env", "PGSYNC_TEST_SURELY_UNSET_VAR"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("--jwt-secret-env names \"PGSYNC_TEST_SURELY_UNSET_VAR\", which is not set") !=
          std::string::npos);
}

TEST_CASE("pgsync-serve rejects bad listen addresses, sizes and durations", "[tool][serve]") {
    std::map<std::string, std::string> env = {{"PGSYNC_TEST_SECRET", "s3cret"}};
    const std::vector<std::string> base = {
        "-S", "s", "-P", "p", "--jwt-secret-env", "PGSYNC_TEST_SECRET"};
    auto with = [&](std::vector<std::string> extra) {
        auto args = base;
        args.insert(args.end(), extra.begin(), extra.end());
        return serve(args, env);
    };
    auto r = with({"--listen", "nowhere"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("invalid --listen \"nowhere\"") != std::string::npos);
    r = with({"--listen", "127.0.0.1:99999"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("invalid port") != std::string::npos);
    r = with({"--retain-bytes", "lots"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("invalid --retain-bytes \"lots\"") != std::string::npos);
    r = with({"--retain-age", "7 fortnights"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("invalid --retain-age") != std::string::npos);
    r = with({"--client-queue-bytes", "0"});
    CHECK(r.exit_code == 2);
    r = with({"--max-clients", "0"});
    CHECK(r.exit_code == 2);
}

TEST_CASE("pgsync-serve needs a slot and a publication", "[tool][serve]") {
    auto r = serve({"-P", "p", "--insecure"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("--slot is required") != std::string::npos);
    r = serve({"-S", "s", "--insecure"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("--publication is required") != std::string::npos);
}

TEST_CASE("pgsync-serve resolves --listen names, and refuses one that does not resolve",
          "[tool][serve]") {
    std::map<std::string, std::string> env = {{"PGSYNC_TEST_SECRET", "s3cret"}};
    auto r = serve({"-S", "s", "-P", "p", "--jwt-secret-env", "PGSYNC_TEST_SECRET", "--listen",
                    "no-such-host.invalid:8080"},
                   env);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("could not resolve the host \"no-such-host.invalid\" of --listen") !=
          std::string::npos);
    // localhost is a loopback name: --insecure goes on (to fail connecting here).
    r = serve({"-S", "s", "-P", "p", "--insecure", "--listen", "localhost:0"});
    CHECK(r.exit_code == 1);
}

TEST_CASE("pgsync-serve warns about a short JWT secret and checks its new flags", "[tool][serve]") {
    std::map<std::string, std::string> env = {{"PGSYNC_TEST_SECRET", "s3cret"}};
    auto r = serve({"-S", "s", "-P", "p", "--jwt-secret-env", "PGSYNC_TEST_SECRET"}, env);
    CHECK(r.exit_code == 1); // no database here
    CHECK(r.err.find("warning: the JWT secret is 6 bytes long; use at least 32 random bytes") !=
          std::string::npos);
    r = serve({"-S", "s", "-P", "p", "--insecure", "--idle-timeout", "1"});
    CHECK(r.exit_code == 2);
    r = serve({"-S", "s", "-P", "p", "--insecure", "--static-dir", "/nonexistent-pgsync-dir"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("Try \"pgsync-serve --help\"") != std::string::npos);
}

TEST_CASE("pgsync-serve refuses JWT key files it cannot read or parse, naming them",
          "[tool][serve][auth]") {
    const std::string dir = test_tmp_dir();
    const std::string garbage = dir + "/serve-cli-garbage-key.pem";
    const std::string bad_jwks = dir + "/serve-cli-bad-jwks.json";
    run_shell("mkdir -p '" + dir + "' && echo 'not a key' > '" + garbage + "' && echo '{\"keys\":[]}' > '" +
              bad_jwks + "'");
    auto r = serve({"-S", "s", "-P", "p", "--jwt-public-key-file", "/nonexistent/idp.pem"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("error: could not load JWT public key file \"/nonexistent/idp.pem\": No such "
                     "file or directory") != std::string::npos);
    CHECK(r.err.find("hint: Give a PEM file") != std::string::npos);
    r = serve({"-S", "s", "-P", "p", "--jwt-public-key-file", garbage});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("could not load JWT public key file \"" + garbage +
                     "\": no PEM public key or certificate in it") != std::string::npos);
    r = serve({"-S", "s", "-P", "p", "--jwks-file", bad_jwks});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("could not load JWKS file \"" + bad_jwks +
                     "\": no RS256 or ES256 signing key in it") != std::string::npos);
    r = serve({"-S", "s", "-P", "p", "--insecure", "--jwt-claim", ""});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("--jwt-claim must not be empty") != std::string::npos);
    // A usable key file counts as authentication: the server goes on (to fail on the database).
    const std::string good = dir + "/serve-cli-good-key.pem";
    REQUIRE(run_shell("openssl ecparam -name prime256v1 -genkey -noout | openssl ec -pubout -out '" +
                      good + "' 2>/dev/null")
                .exit_code == 0);
    r = serve({"-S", "s", "-P", "p", "--jwt-public-key-file", good});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("no authentication configured") == std::string::npos);
}

TEST_CASE("pgsync-serve --source takes nats://HOST:PORT/STREAM and not together with --slot",
          "[tool][serve][replica]") {
    auto r = serve({"-S", "s", "-P", "p", "--insecure", "--source", "nats://127.0.0.1:4222/S"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("error: --source and --slot cannot be used together") != std::string::npos);
    CHECK(r.err.find("hint: Give --slot") != std::string::npos);
    for (const char* bad : {"http://127.0.0.1:4222/S", "nats://127.0.0.1:4222", "nats://a:1/A.B",
                            "nats://a:1,,b:2/S"}) {
        INFO(bad);
        r = serve({"-P", "p", "--insecure", "--source", bad});
        CHECK(r.exit_code == 2);
        CHECK(r.err.find(std::string("error: invalid --source \"") + bad + "\"") !=
              std::string::npos);
        CHECK(r.err.find("hint: Give nats://HOST:PORT") != std::string::npos);
    }
    // Without --slot or --source, the hint names both.
    r = serve({"-P", "p", "--insecure"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("--source nats://HOST:PORT/STREAM") != std::string::npos);
}

TEST_CASE("pgsync-serve with serve.source in its config file is a replica and leaves source.slot "
          "to pgsync-stream",
          "[tool][serve][replica]") {
    const std::string path = test_tmp_dir() + "/replica-config.yaml";
    {
        std::ofstream out(path);
        out << "source:\n  slot: s\n  publication: p\nserve:\n  source: nats://127.0.0.1:1/S\n"
               "  auth:\n    insecure: true\n";
    }
    // Past the flags (no "--source and --slot"), it fails on the database it cannot reach.
    auto r = serve({"--config", path, "--listen", "127.0.0.1:0"});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("cannot be used together") == std::string::npos);
    // --slot on the command line wins over the file's serve.source.
    r = serve({"--config", path, "-S", "s2", "--listen", "127.0.0.1:0"});
    CHECK(r.exit_code == 1);
}
