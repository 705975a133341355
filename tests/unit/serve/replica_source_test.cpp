// --source's text and a replica's epoch: what every replica of one stream must agree on.
#include "serve/ingest/replica_source.h"

#include <catch2/catch.hpp>

using namespace pgsync::serve;

TEST_CASE("a replica source is nats:// servers, comma-separated, and a stream name",
          "[serve][replica]") {
    std::string why;
    auto one = parse_replica_source("nats://127.0.0.1:4222/PGSYNC", why);
    REQUIRE(one);
    CHECK(one->urls == "nats://127.0.0.1:4222");
    CHECK(one->stream == "PGSYNC");
    auto three = parse_replica_source("nats://a:1,b:2,nats://c:3/S", why);
    REQUIRE(three);
    CHECK(three->urls == "nats://a:1,nats://b:2,nats://c:3");
    CHECK(three->stream == "S");
    for (const char* bad : {"", "nats://a:1", "nats://a:1/", "tls://a:1/S", "nats://a:1/S.T",
                            "nats://a:1/S*", "nats://,a:1/S"}) {
        INFO(bad);
        CHECK(!parse_replica_source(bad, why));
        CHECK(!why.empty());
    }
}

TEST_CASE("a replica's epoch depends on the stream's name and creation time only",
          "[serve][replica]") {
    const std::string epoch = replica_epoch("PGSYNC", 1764680000123456789);
    CHECK(epoch.size() == 16);
    CHECK(epoch.find_first_not_of("0123456789ABCDEF") == std::string::npos);
    CHECK(epoch == replica_epoch("PGSYNC", 1764680000123456789));
    CHECK(epoch != replica_epoch("PGSYNC", 1764680000123456790));
    CHECK(epoch != replica_epoch("OTHER", 1764680000123456789));
}
