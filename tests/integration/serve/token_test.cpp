// POST /v1/token end to end: a backend with the API key (as a bearer or in x-api-key) gets a token
// for a user, which then subscribes on /v1/ws within its grants; a missing or wrong key, a bad
// body, another method or a server without a secret are refused with a one-line JSON error. And
// an identity provider's RS256 token, verified with --jwt-public-key-file, subscribes too.
#include "pg_test.h"
#include "serve/access/auth.h"
#include "serve_support.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <set>

using namespace pgsync;
using namespace pgsync::test;
using nlohmann::json;

namespace {

const std::string kSecret = "token-test-secret-of-enough-length";
const std::string kApiKey = "token-test-api-key";

struct Fixture {
    Fixture() {
        table = unique_name("tok");
        slot = unique_name("tokslot");
        pub = unique_name("tokpub");
        dir = test_tmp_dir() + "/" + unique_name("serve");
        db.exec("CREATE TABLE " + table + " (id int PRIMARY KEY, grp text)");
        db.exec("ALTER TABLE " + table + " REPLICA IDENTITY FULL");
        create_slot(slot, pub, {table});
    }
    ~Fixture() {
        server.reset();
        drop_slot(slot);
    }
    void start(bool with_secret = true) {
        ServeConfig config;
        config.insecure = false;
        config.extra_args = {"--api-key-env", "PGSYNC_TEST_API_KEY"};
        config.env = {{"PGSYNC_TEST_API_KEY", kApiKey}};
        if (with_secret) {
            config.extra_args.insert(config.extra_args.end(),
                                     {"--jwt-secret-env", "PGSYNC_TEST_JWT"});
            config.env["PGSYNC_TEST_JWT"] = kSecret;
        }
        server = std::make_unique<ServeProcess>(slot, pub, dir, config);
    }
    HttpResponse post(const std::string& body, const HttpHeaders& headers) {
        HttpHeaders all = headers;
        all.emplace_back("Content-Type", "application/json");
        return http_request("POST", "127.0.0.1", server->port(), "/v1/token", all, 10000, body);
    }

    pg::Connection db = connect_test_db();
    std::string table, slot, pub, dir;
    std::unique_ptr<ServeProcess> server;
};

int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// A refusal's body: one line of JSON with "error" (and "hint" when there is one).
json error_of(const HttpResponse& response) {
    REQUIRE(!response.body.empty());
    CHECK(response.body.back() == '\n');
    CHECK(response.body.find('\n') == response.body.size() - 1);
    json body = json::parse(response.body);
    CHECK(body["error"].is_string());
    return body;
}

// An RS256 token as an identity provider signs it.
std::string rs256_token(EVP_PKEY* key, const json& claims) {
    const std::string input =
        pgsync::serve::base64url_encode(json{{"alg", "RS256"}, {"kid", "idp-1"}}.dump()) + "." +
        pgsync::serve::base64url_encode(claims.dump());
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    REQUIRE(EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) == 1);
    size_t length = 0;
    auto* data = reinterpret_cast<const unsigned char*>(input.data());
    REQUIRE(EVP_DigestSign(ctx.get(), nullptr, &length, data, input.size()) == 1);
    std::string signature(length, '\0');
    REQUIRE(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                           data, input.size()) == 1);
    return input + "." + pgsync::serve::base64url_encode(signature.substr(0, length));
}

} // namespace

TEST_CASE("a token from POST /v1/token subscribes on /v1/ws within its grants",
          "[serve][integration][auth][token]") {
    Fixture f;
    f.db.exec("INSERT INTO " + f.table + " VALUES (1, 'a'), (2, 'b'), (3, 'a')");
    f.start();
    const json request = {{"userId", "u42"},
                          {"tables", {{f.table, {{"where", "grp = $1"}, {"params", {"a"}}}}}},
                          {"ttl", 600}};
    for (const HttpHeaders& key :
         {HttpHeaders{{"Authorization", "Bearer " + kApiKey}}, HttpHeaders{{"x-api-key", kApiKey}},
          HttpHeaders{{"X-API-Key", kApiKey}}}) {
        const int64_t before = unix_now();
        HttpResponse response = f.post(request.dump(), key);
        REQUIRE(response.status == 200);
        CHECK(response.header("content-type") == "application/json");
        CHECK(response.header("cache-control") == "no-store");
        json answer = json::parse(response.body);
        REQUIRE(answer["token"].is_string());
        CHECK(answer["expires_at"].get<int64_t>() >= before + 600);
        CHECK(answer["expires_at"].get<int64_t>() <= unix_now() + 600);

        auto client = ServeClient::connect(
            f.server->port(), "/v1/ws",
            {{"Authorization", "Bearer " + answer["token"].get<std::string>()}});
        client.send({{"type", "subscribe"}, {"id", "s"}, {"table", f.table}});
        std::set<int> ids;
        for (const auto& frame : client.until("up-to-date", "s"))
            if (frame.value("type", "") == "change") ids.insert(frame["new"]["id"].get<int>());
        CHECK(ids == std::set<int>{1, 3}); // the grant's filter holds
    }
    CHECK(metric(f.server->port(), "pgsync_serve_tokens_issued_total") == 3);
}

TEST_CASE("POST /v1/token refuses a missing or wrong API key, bad bodies and other methods",
          "[serve][integration][auth][token]") {
    Fixture f;
    f.start();
    const std::string good = R"({"userId":"u1","tables":"*"})";
    const HttpHeaders key = {{"x-api-key", kApiKey}};

    HttpResponse none = f.post(good, {});
    CHECK(none.status == 401);
    CHECK(error_of(none)["error"] == "an API key is required for /v1/token");
    HttpResponse wrong = f.post(good, {{"x-api-key", kApiKey + "x"}});
    CHECK(wrong.status == 401);
    CHECK(error_of(wrong)["error"] == "invalid API key");
    HttpResponse wrong_bearer = f.post(good, {{"Authorization", "Bearer nope"}});
    CHECK(wrong_bearer.status == 401);
    // The JWT secret is not the API key.
    CHECK(f.post(good, {{"Authorization", "Bearer " + kSecret}}).status == 401);

    HttpResponse not_json = f.post("{\"userId\":", key);
    CHECK(not_json.status == 400);
    json body = error_of(not_json);
    CHECK(body["error"].get<std::string>().rfind("the body is not valid JSON", 0) == 0);
    CHECK(body["hint"].is_string());
    HttpResponse bad_ttl = f.post(R"({"userId":"u1","tables":"*","ttl":86401})", key);
    CHECK(bad_ttl.status == 400);
    CHECK(error_of(bad_ttl)["error"] == "\"ttl\" must be an integer from 1 to 86400 seconds");
    HttpResponse bad_filter = f.post(R"({"userId":"u1","tables":{"t":{"where":"a = $1"}}})", key);
    CHECK(bad_filter.status == 400);
    CHECK(error_of(bad_filter)["error"] ==
          "the filter for table \"public.t\" uses $1 but has 0 parameters");
    HttpResponse no_length = f.post("", key); // the client sends no Content-Length without a body
    CHECK(no_length.status == 411);
    HttpResponse empty = f.post("", {{"x-api-key", kApiKey}, {"Content-Length", "0"}});
    CHECK(empty.status == 400);
    CHECK(error_of(empty)["error"].get<std::string>().rfind("the body is not valid JSON", 0) == 0);
    HttpResponse huge = f.post(R"({"userId":")" + std::string(70000, 'u') + R"("})", key);
    CHECK(huge.status == 413);

    HttpResponse get = http_get("127.0.0.1", f.server->port(), "/v1/token", key);
    CHECK(get.status == 405);
    CHECK(get.header("allow") == "POST");
    error_of(get);

    // The server still answers: nothing above broke a connection it needs.
    CHECK(f.post(good, key).status == 200);
    CHECK(metric(f.server->port(), "pgsync_serve_tokens_issued_total") == 1);
    CHECK(metric(f.server->port(), "pgsync_serve_token_requests_refused_total") == 11);
}

TEST_CASE("without a JWT secret POST /v1/token answers 501 with a hint",
          "[serve][integration][auth][token]") {
    Fixture f;
    f.start(false);
    HttpResponse response = f.post(R"({"userId":"u1","tables":"*"})", {{"x-api-key", kApiKey}});
    CHECK(response.status == 501);
    json body = error_of(response);
    CHECK(body["error"] == "/v1/token is disabled: the server has no JWT secret");
    CHECK(body["hint"] == "Start pgsync-serve with --jwt-secret-env (and --api-key-env).");
}

TEST_CASE(
    "an identity provider's RS256 token subscribes, but HS256 made with its public key does not",
    "[serve][integration][auth][token]") {
    Fixture f;
    f.db.exec("INSERT INTO " + f.table + " VALUES (1, 'a'), (2, 'b')");
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_RSA_gen(2048), EVP_PKEY_free);
    REQUIRE(key);
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    REQUIRE(PEM_write_bio_PUBKEY(bio.get(), key.get()) == 1);
    char* pem_data = nullptr;
    const std::string pem(pem_data, size_t(BIO_get_mem_data(bio.get(), &pem_data)));
    const std::string pem_file = f.dir + "-idp.pem";
    std::ofstream(pem_file) << pem;
    ServeConfig config;
    config.insecure = false;
    config.extra_args = {"--jwt-public-key-file",      pem_file,         "--jwt-claim",
                         "https://example.com/pgsync", "--jwt-audience", "sync"};
    f.server = std::make_unique<ServeProcess>(f.slot, f.pub, f.dir, config);

    const json claims = {{"sub", "auth0|u42"},
                         {"aud", {"sync", "https://example.eu.auth0.com/userinfo"}},
                         {"exp", unix_now() + 600},
                         {"https://example.com/pgsync",
                          {{"tables", {{f.table, {{"where", "grp = $1"}, {"params", {"b"}}}}}}}}};
    auto client =
        ServeClient::connect(f.server->port(), "/v1/ws",
                             {{"Authorization", "Bearer " + rs256_token(key.get(), claims)}});
    client.send({{"type", "subscribe"}, {"id", "s"}, {"table", f.table}});
    std::set<int> ids;
    for (const auto& frame : client.until("up-to-date", "s"))
        if (frame.value("type", "") == "change") ids.insert(frame["new"]["id"].get<int>());
    CHECK(ids == std::set<int>{2});

    // The algorithm confusion: HS256 with the public key's PEM text as the secret.
    const std::string input = pgsync::serve::base64url_encode(R"({"alg":"HS256"})") + "." +
                              pgsync::serve::base64url_encode(claims.dump());
    unsigned char digest[32];
    unsigned int length = 0;
    HMAC(EVP_sha256(), pem.data(), int(pem.size()),
         reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest, &length);
    const std::string forged =
        input + "." +
        pgsync::serve::base64url_encode(std::string_view(reinterpret_cast<char*>(digest), length));
    auto refused = WsClient::connect("127.0.0.1", f.server->port(), "/v1/ws?token=" + forged);
    CHECK(refused.status == 401);
    // Without the audience, refused too.
    json no_audience = claims;
    no_audience.erase("aud");
    auto wrong = WsClient::connect("127.0.0.1", f.server->port(),
                                   "/v1/ws?token=" + rs256_token(key.get(), no_audience));
    CHECK(wrong.status == 401);
}
