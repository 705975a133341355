// The row webhook client against a real HTTP server in the test process: verdicts, every way a
// webhook fails (closed), coalescing, the cache, batching, the concurrency cap, per-shard results
// and a prompt shutdown.
#include "http_server.h"
#include "serve/access/row_webhook.h"
#include "util/error.h"

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <condition_variable>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

using namespace pgsync::serve;
using pgsync::test::HttpServer;
using pgsync::test::HttpServerRequest;
using pgsync::test::HttpServerResponse;
using namespace std::chrono_literals;
using Kind = RowVerdict::Kind;

namespace {

// Counts wakes per shard; collect() waits for them.
struct Inbox {
    std::mutex mutex;
    std::condition_variable changed;
    std::map<size_t, int> wakes;

    void wake(size_t shard) {
        {
            std::lock_guard lock(mutex);
            ++wakes[shard];
        }
        changed.notify_all();
    }
    int wakes_of(size_t shard) {
        std::lock_guard lock(mutex);
        return wakes.count(shard) ? wakes[shard] : 0;
    }
};

// A webhook whose wakes go to inbox.
std::unique_ptr<RowWebhook> make_webhook(RowWebhookOptions options, Inbox& inbox) {
    return std::make_unique<RowWebhook>(std::move(options),
                                        [&inbox](size_t shard) { inbox.wake(shard); });
}

RowWebhookOptions options_for(const HttpServer& server) {
    RowWebhookOptions options;
    options.url = server.url("/check");
    options.timeout = 5s; // only the timeout test waits for a timeout
    options.source_db_id = "appdb";
    return options;
}

RowCheck check(uint64_t ticket, std::string user, std::string row_json, size_t shard = 0) {
    RowCheck c;
    c.ticket = ticket;
    c.shard = shard;
    c.user_id = std::move(user);
    c.schema = "public";
    c.table = "messages";
    c.row_json = std::move(row_json);
    return c;
}

// Takes verdicts for shard until `count` have come (or 5 s pass), keyed by ticket.
std::map<uint64_t, RowVerdict> collect(RowWebhook& webhook, Inbox& inbox, size_t shard,
                                       size_t count) {
    std::map<uint64_t, RowVerdict> verdicts;
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (verdicts.size() < count && std::chrono::steady_clock::now() < deadline) {
        for (RowVerdict& verdict : webhook.take_results(shard)) {
            const uint64_t ticket = verdict.ticket;
            CHECK(verdicts.emplace(ticket, std::move(verdict)).second); // one verdict per ticket
        }
        std::unique_lock lock(inbox.mutex);
        inbox.changed.wait_for(lock, 20ms);
    }
    return verdicts;
}

RowVerdict one_verdict(RowWebhook& webhook, Inbox& inbox, RowCheck c) {
    const uint64_t ticket = c.ticket;
    const size_t shard = c.shard;
    std::vector<RowCheck> checks;
    checks.push_back(std::move(c));
    webhook.submit(std::move(checks));
    std::map<uint64_t, RowVerdict> verdicts = collect(webhook, inbox, shard, 1);
    REQUIRE(verdicts.count(ticket) == 1);
    return verdicts[ticket];
}

HttpServerResponse answer(bool authorized) {
    return {200,
            authorized ? R"({"delivery_authorized":true})" : R"({"delivery_authorized":false})"};
}

bool even(const nlohmann::json& request) {
    return request.at("row").at("n").get<int>() % 2 == 0;
}

// Authorises the rows whose "n" is even, one request object or a batch of them.
HttpServerResponse even_rows(const HttpServerRequest& request) {
    const nlohmann::json body = nlohmann::json::parse(request.body);
    if (!body.is_array()) return answer(even(body));
    nlohmann::json answers = nlohmann::json::array();
    for (const nlohmann::json& item : body)
        answers.push_back({{"delivery_authorized", even(item)}});
    return HttpServerResponse{200, answers.dump()};
}

} // namespace

TEST_CASE("the webhook authorises or denies a row, and the request carries the row as JSON",
          "[webhook]") {
    HttpServer server(even_rows);
    Inbox inbox;
    auto webhook = make_webhook(options_for(server), inbox);

    const RowVerdict authorized = one_verdict(*webhook, inbox, check(7, "u42", R"({"n":2})"));
    CHECK(authorized.ticket == 7);
    CHECK(authorized.kind == Kind::Authorized);
    const RowVerdict denied = one_verdict(*webhook, inbox, check(8, "u42", R"({"n":3})"));
    CHECK(denied.kind == Kind::Denied);
    CHECK(denied.reason == "webhook " + server.url("/check") + ": delivery not authorized");

    const std::vector<std::string> bodies = server.bodies();
    REQUIRE(bodies.size() == 2);
    const nlohmann::json first = nlohmann::json::parse(bodies[0]);
    CHECK(first == nlohmann::json::parse(R"({"userId":"u42","sourceDbId":"appdb",
        "schema":"public","table":"messages","row":{"n":2}})"));
    CHECK(first.at("row").is_object()); // embedded, not a string
    // Both calls went over one kept-alive connection.
    CHECK(server.connections() == 1);
    CHECK(webhook->stats().calls == 2);
    CHECK(webhook->stats().checks == 2);
}

TEST_CASE("a webhook that does not answer in time fails closed with a timeout", "[webhook]") {
    HttpServer server([](const HttpServerRequest&) {
        HttpServerResponse response = answer(true);
        response.delay = 5s;
        return response;
    });
    Inbox inbox;
    RowWebhookOptions options = options_for(server);
    options.timeout = 200ms;
    auto webhook = make_webhook(options, inbox);
    const auto start = std::chrono::steady_clock::now();
    const RowVerdict verdict = one_verdict(*webhook, inbox, check(1, "u", "{}"));
    CHECK(std::chrono::steady_clock::now() - start < 2s);
    CHECK(verdict.kind == Kind::Failed);
    CHECK(verdict.reason == "webhook " + server.url("/check") + ": timed out after 200 ms");
    CHECK(webhook->stats().failures == 1);
}

TEST_CASE("an error status, garbage or a wrong answer fails closed and says which", "[webhook]") {
    std::atomic<int> mode{0};
    HttpServer server([&](const HttpServerRequest&) -> HttpServerResponse {
        switch (mode.load()) {
        case 0:
            return {500, R"({"delivery_authorized":true})"};
        case 1:
            return {200, "<html>oops</html>", "text/html"};
        case 2:
            return {200, R"({"authorized":true})"};
        case 3:
            return {200, R"({"delivery_authorized":"yes"})"};
        case 4:
            return {200, R"([{"delivery_authorized":true}])"};
        default:
            return {204, ""};
        }
    });
    Inbox inbox;
    auto webhook = make_webhook(options_for(server), inbox);
    const std::string prefix = "webhook " + server.url("/check") + ": ";
    std::vector<std::string> reasons;
    for (int i = 0; i <= 5; ++i) {
        mode = i;
        const RowVerdict verdict = one_verdict(*webhook, inbox, check(uint64_t(i), "u", "{}"));
        CHECK(verdict.kind == Kind::Failed);
        CHECK(verdict.reason.find('\n') == std::string::npos);
        reasons.push_back(verdict.reason);
    }
    CHECK(reasons[0] == prefix + "HTTP 500");
    CHECK(reasons[1].rfind(prefix + "answer is not JSON: parse error at line 1, column 1", 0) == 0);
    CHECK(reasons[2] == prefix + "the answer has no \"delivery_authorized\"");
    CHECK(reasons[3] == prefix + "\"delivery_authorized\" in the answer is not true or false");
    CHECK(reasons[4] == prefix + "the answer is not an object");
    CHECK(reasons[5].rfind(prefix + "answer is not JSON", 0) == 0); // an empty body
    CHECK(webhook->stats().failures == 6);
}

TEST_CASE("a webhook that refuses the connection fails closed", "[webhook]") {
    Inbox inbox;
    RowWebhookOptions options;
    options.url = "http://127.0.0.1:" + std::to_string(pgsync::test::closed_port()) + "/check";
    auto webhook = make_webhook(options, inbox);
    const RowVerdict verdict = one_verdict(*webhook, inbox, check(1, "u", "{}"));
    CHECK(verdict.kind == Kind::Failed);
    INFO(verdict.reason);
    CHECK(verdict.reason.rfind("webhook " + options.url + ": ", 0) == 0);
    CHECK(verdict.reason.find("onnect") != std::string::npos);
}

TEST_CASE("identical checks waiting or in flight share one call", "[webhook]") {
    HttpServer server([](const HttpServerRequest&) {
        HttpServerResponse response = answer(true);
        response.delay = 500ms; // the second submit must come while the call is in flight
        return response;
    });
    Inbox inbox;
    auto webhook = make_webhook(options_for(server), inbox);
    std::vector<RowCheck> checks;
    for (uint64_t ticket = 0; ticket < 60; ++ticket)
        checks.push_back(check(ticket, "u1", R"({"id":1,"text":"hi"})"));
    webhook->submit(std::move(checks));
    REQUIRE(server.wait_for_requests(1, 5s));
    // These arrive while the first call is in flight, and join it.
    checks.clear();
    for (uint64_t ticket = 60; ticket < 100; ++ticket)
        checks.push_back(check(ticket, "u1", R"({"id":1,"text":"hi"})"));
    webhook->submit(std::move(checks));
    const std::map<uint64_t, RowVerdict> verdicts = collect(*webhook, inbox, 0, 100);
    REQUIRE(verdicts.size() == 100);
    for (const auto& [ticket, verdict] : verdicts)
        CHECK(verdict.kind == Kind::Authorized);
    CHECK(server.requests() == 1);
    CHECK(webhook->stats().calls == 1);
    CHECK(webhook->stats().coalesced == 99);
}

TEST_CASE("a verdict is cached per user, table and row until its TTL passes", "[webhook]") {
    HttpServer server(even_rows);
    Inbox inbox;
    RowWebhookOptions options = options_for(server);
    options.cache_ttl = 800ms;
    auto webhook = make_webhook(options, inbox);

    CHECK_FALSE(webhook->cached(check(1, "u1", R"({"n":2})")));
    CHECK(one_verdict(*webhook, inbox, check(1, "u1", R"({"n":2})")).kind == Kind::Authorized);
    CHECK(one_verdict(*webhook, inbox, check(2, "u1", R"({"n":3})")).kind == Kind::Denied);
    REQUIRE(server.requests() == 2);

    const std::optional<RowVerdict> hit = webhook->cached(check(3, "u1", R"({"n":2})"));
    REQUIRE(hit);
    CHECK(hit->ticket == 3);
    CHECK(hit->kind == Kind::Authorized);
    const std::optional<RowVerdict> denied = webhook->cached(check(4, "u1", R"({"n":3})"));
    REQUIRE(denied);
    CHECK(denied->kind == Kind::Denied);
    CHECK(denied->reason == "webhook " + server.url("/check") + ": delivery not authorized");
    CHECK_FALSE(webhook->cached(check(5, "u2", R"({"n":2})"))); // another user
    CHECK_FALSE(webhook->cached(check(6, "u1", R"({"n":4})"))); // another row version
    RowCheck other_table = check(7, "u1", R"({"n":2})");
    other_table.table = "rooms";
    CHECK_FALSE(webhook->cached(other_table));
    // A check submitted despite a cached verdict is answered from the cache too.
    CHECK(one_verdict(*webhook, inbox, check(8, "u1", R"({"n":2})")).kind == Kind::Authorized);
    CHECK(server.requests() == 2);
    CHECK(webhook->stats().cache_hits == 3);

    std::this_thread::sleep_for(1000ms);
    CHECK_FALSE(webhook->cached(check(9, "u1", R"({"n":2})")));
    CHECK(one_verdict(*webhook, inbox, check(9, "u1", R"({"n":2})")).kind == Kind::Authorized);
    CHECK(server.requests() == 3);
}

TEST_CASE("a cache TTL of 0 caches nothing, and a full cache drops its oldest verdict",
          "[webhook]") {
    HttpServer server(even_rows);
    Inbox inbox;
    RowWebhookOptions options = options_for(server);
    options.cache_ttl = 0ms;
    auto uncached = make_webhook(options, inbox);
    CHECK(one_verdict(*uncached, inbox, check(1, "u", R"({"n":2})")).kind == Kind::Authorized);
    CHECK_FALSE(uncached->cached(check(2, "u", R"({"n":2})")));

    options.cache_ttl = 60s;
    options.max_cache_entries = 2;
    auto small = make_webhook(options, inbox);
    for (int n : {2, 4, 6})
        one_verdict(*small, inbox, check(uint64_t(n), "u", "{\"n\":" + std::to_string(n) + "}"));
    CHECK_FALSE(small->cached(check(10, "u", R"({"n":2})")));
    CHECK(small->cached(check(11, "u", R"({"n":4})")));
    CHECK(small->cached(check(12, "u", R"({"n":6})")));
}

TEST_CASE("a Failed verdict is never cached", "[webhook]") {
    std::atomic<bool> fail{true};
    HttpServer server([&](const HttpServerRequest&) -> HttpServerResponse {
        if (fail) return {500, "down"};
        return answer(true);
    });
    Inbox inbox;
    auto webhook = make_webhook(options_for(server), inbox);
    CHECK(one_verdict(*webhook, inbox, check(1, "u", "{}")).kind == Kind::Failed);
    CHECK_FALSE(webhook->cached(check(2, "u", "{}")));
    fail = false;
    CHECK(one_verdict(*webhook, inbox, check(2, "u", "{}")).kind == Kind::Authorized);
    CHECK(server.requests() == 2);
    CHECK(webhook->cached(check(3, "u", "{}")));
}

TEST_CASE("batches POST arrays of up to batch_size checks and match answers to tickets",
          "[webhook]") {
    HttpServer server(even_rows);
    Inbox inbox;
    RowWebhookOptions options = options_for(server);
    options.batch_size = 10;
    auto webhook = make_webhook(options, inbox);
    std::vector<RowCheck> checks;
    for (int n = 0; n < 25; ++n)
        checks.push_back(check(uint64_t(1000 + n), "u", "{\"n\":" + std::to_string(n) + "}"));
    webhook->submit(std::move(checks));
    const std::map<uint64_t, RowVerdict> verdicts = collect(*webhook, inbox, 0, 25);
    REQUIRE(verdicts.size() == 25);
    for (const auto& [ticket, verdict] : verdicts)
        CHECK(verdict.kind == ((ticket - 1000) % 2 == 0 ? Kind::Authorized : Kind::Denied));
    CHECK(server.requests() == 3);
    std::vector<size_t> sizes;
    for (const std::string& body : server.bodies())
        sizes.push_back(nlohmann::json::parse(body).size());
    std::sort(sizes.begin(), sizes.end());
    CHECK(sizes == std::vector<size_t>{5, 10, 10});
}

TEST_CASE("a batch answered with the wrong number of verdicts fails every check in it",
          "[webhook]") {
    HttpServer server([](const HttpServerRequest&) {
        return HttpServerResponse{200, R"([{"delivery_authorized":true}])"};
    });
    Inbox inbox;
    RowWebhookOptions options = options_for(server);
    options.batch_size = 10;
    auto webhook = make_webhook(options, inbox);
    std::vector<RowCheck> checks;
    for (int n = 0; n < 3; ++n)
        checks.push_back(check(uint64_t(n), "u", "{\"n\":" + std::to_string(n) + "}"));
    webhook->submit(std::move(checks));
    const std::map<uint64_t, RowVerdict> verdicts = collect(*webhook, inbox, 0, 3);
    REQUIRE(verdicts.size() == 3);
    for (const auto& [ticket, verdict] : verdicts) {
        CHECK(verdict.kind == Kind::Failed);
        CHECK(verdict.reason ==
              "webhook " + server.url("/check") + ": answer is an array of 1 for a batch of 3");
    }
}

TEST_CASE("no more calls than concurrency are in flight, over kept-alive connections",
          "[webhook]") {
    std::atomic<RowWebhook*> watched{nullptr};
    std::atomic<uint64_t> most_in_flight{0}; // as the client counts them, seen from the server
    HttpServer server([&](const HttpServerRequest&) {
        if (RowWebhook* webhook = watched.load()) {
            const uint64_t now = webhook->stats().in_flight;
            uint64_t most = most_in_flight.load();
            while (now > most && !most_in_flight.compare_exchange_weak(most, now)) {
            }
        }
        HttpServerResponse response = answer(true);
        response.delay = 60ms;
        return response;
    });
    Inbox inbox;
    RowWebhookOptions options = options_for(server);
    options.concurrency = 3;
    auto webhook = make_webhook(options, inbox);
    watched = webhook.get();
    std::vector<RowCheck> checks;
    for (int n = 0; n < 15; ++n)
        checks.push_back(check(uint64_t(n), "u", "{\"n\":" + std::to_string(n) + "}"));
    webhook->submit(std::move(checks));
    const std::map<uint64_t, RowVerdict> verdicts = collect(*webhook, inbox, 0, 15);
    watched = nullptr;
    REQUIRE(verdicts.size() == 15);
    CHECK(server.requests() == 15);
    CHECK(server.max_concurrent() == 3);
    CHECK(most_in_flight == 3);
    CHECK(server.connections() <= 3);
    CHECK(webhook->stats().in_flight == 0);
}

TEST_CASE("a check waiting for a free slot does not spend its timeout waiting", "[webhook]") {
    HttpServer server([](const HttpServerRequest&) {
        HttpServerResponse response = answer(true);
        response.delay = 100ms;
        return response;
    });
    Inbox inbox;
    RowWebhookOptions options = options_for(server);
    options.concurrency = 1;
    options.timeout = 600ms; // each call takes 100 ms; the eighth ends 800 ms after submit
    auto webhook = make_webhook(options, inbox);
    std::vector<RowCheck> checks;
    for (int n = 0; n < 8; ++n)
        checks.push_back(check(uint64_t(n), "u", "{\"n\":" + std::to_string(n) + "}"));
    webhook->submit(std::move(checks));
    const std::map<uint64_t, RowVerdict> verdicts = collect(*webhook, inbox, 0, 8);
    REQUIRE(verdicts.size() == 8);
    for (const auto& [ticket, verdict] : verdicts) {
        INFO(verdict.reason);
        CHECK(verdict.kind == Kind::Authorized);
    }
    CHECK(server.max_concurrent() == 1);
}

TEST_CASE("verdicts go to their shard, each shard woken when its list stops being empty",
          "[webhook]") {
    HttpServer server(even_rows);
    Inbox inbox;
    RowWebhookOptions options = options_for(server);
    options.batch_size = 8; // one call answers all: one delivery, one wake per shard
    auto webhook = make_webhook(options, inbox);
    std::vector<RowCheck> checks;
    for (int n = 0; n < 6; ++n)
        checks.push_back(
            check(uint64_t(n), "u", "{\"n\":" + std::to_string(n) + "}", size_t(n % 3)));
    webhook->submit(std::move(checks));
    {
        std::unique_lock lock(inbox.mutex);
        REQUIRE(inbox.changed.wait_for(lock, 5s, [&] { return inbox.wakes.size() == 3; }));
    }
    for (size_t shard = 0; shard < 3; ++shard) {
        CHECK(inbox.wakes_of(shard) == 1);
        const std::vector<RowVerdict> taken = webhook->take_results(shard);
        REQUIRE(taken.size() == 2);
        for (const RowVerdict& verdict : taken)
            CHECK(verdict.ticket % 3 == shard);
        CHECK(webhook->take_results(shard).empty());
    }
    CHECK(inbox.wakes_of(3) == 0);
    CHECK(webhook->take_results(3).empty());
}

TEST_CASE("destroying the webhook with calls in flight returns promptly", "[webhook]") {
    HttpServer server([](const HttpServerRequest&) {
        HttpServerResponse response = answer(true);
        response.delay = 10s;
        return response;
    });
    Inbox inbox;
    RowWebhookOptions options = options_for(server);
    options.timeout = 30s;
    auto webhook = make_webhook(options, inbox);
    std::vector<RowCheck> checks;
    for (int n = 0; n < 5; ++n)
        checks.push_back(check(uint64_t(n), "u", "{\"n\":" + std::to_string(n) + "}"));
    webhook->submit(std::move(checks));
    REQUIRE(server.wait_for_requests(5, 5s));
    CHECK(webhook->stats().in_flight == 5);
    const auto start = std::chrono::steady_clock::now();
    webhook.reset();
    CHECK(std::chrono::steady_clock::now() - start < 1s);
    CHECK(inbox.wakes.empty());
}

TEST_CASE("a URL that is not http or https is refused", "[webhook]") {
    RowWebhookOptions options;
    options.url = "ftp://example.com/check";
    CHECK_THROWS_AS(RowWebhook(options, [](size_t) {}), pgsync::Error);
    options.url = "HTTPS://example.com/check";
    CHECK_NOTHROW(RowWebhook(options, [](size_t) {}));
}

TEST_CASE("row webhook: with a secret, each call carries it as a bearer token, and only then",
          "[serve][webhook]") {
    std::mutex mutex;
    std::vector<std::string> authorizations;
    HttpServer server([&](const HttpServerRequest& request) {
        std::string authorization = "(none)";
        for (const auto& [name, value] : request.headers)
            if (name == "authorization" || name == "Authorization") authorization = value;
        std::lock_guard lock(mutex);
        authorizations.push_back(authorization);
        HttpServerResponse response;
        response.body = R"({"delivery_authorized":true})";
        return response;
    });
    for (const std::string secret : {"s3cret-token", ""}) {
        Inbox inbox;
        RowWebhookOptions options = options_for(server);
        options.secret = secret;
        auto webhook = make_webhook(options, inbox);
        webhook->submit({check(1, "u1", R"({"id":1})")});
        REQUIRE(collect(*webhook, inbox, 0, 1).at(1).kind == Kind::Authorized);
    }
    std::lock_guard lock(mutex);
    REQUIRE(authorizations.size() == 2);
    CHECK(authorizations[0] == "Bearer s3cret-token");
    CHECK(authorizations[1] == "(none)");
}
