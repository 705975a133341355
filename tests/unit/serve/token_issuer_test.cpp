// issue_token (POST /v1/token's logic) signs exactly what the request asks for, as a token the
// server's own verifier accepts with the same grants, and refuses every malformed request with a
// one-line reason.
#include "serve/access/auth.h"
#include "serve/access/token_issuer.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>

using pgsync::serve::issue_token;
using pgsync::serve::IssueResult;
using pgsync::serve::JwtOptions;
using pgsync::serve::JwtVerifier;
using pgsync::serve::TokenIssuerOptions;

namespace {

constexpr int64_t kNow = 1767225600;
const std::string kSecret = "issuer-test-secret-of-32-bytes!!";

TokenIssuerOptions issuer() {
    TokenIssuerOptions options;
    options.secret = kSecret;
    return options;
}

std::string refusal(const std::string& body) {
    IssueResult result = issue_token(body, issuer(), kNow);
    CHECK_FALSE(result.issued);
    CHECK_FALSE(result.hint.empty());
    return result.error;
}

} // namespace

TEST_CASE("an issued token verifies to the requested user, grants and lifetime", "[token]") {
    IssueResult result = issue_token(
        R"({"userId":"u42","tables":{"public.messages":{"where":"group_name = $1","params":["x"]},"groups":{}},"ttl":600})",
        issuer(), kNow);
    REQUIRE(result.issued);
    CHECK(result.error.empty());
    CHECK(result.issued->expires_at == kNow + 600);
    auto verified = JwtVerifier(kSecret).verify(result.issued->token, kNow);
    REQUIRE(verified.principal);
    CHECK(verified.principal->subject == "u42");
    CHECK(verified.principal->expires_at == kNow + 600);
    REQUIRE(verified.principal->tables.size() == 2);
    CHECK(verified.principal->tables[0].name == "groups");
    CHECK(verified.principal->tables[1].name == "messages");
    CHECK(verified.principal->tables[1].where == "group_name = $1");
    REQUIRE(verified.principal->tables[1].params.size() == 1);
    CHECK(verified.principal->tables[1].params[0] == "x");
    // It expires when it says.
    CHECK(JwtVerifier(kSecret).verify(result.issued->token, kNow + 600).error == "token expired");
}

TEST_CASE("ttl defaults to an hour and a star grants every table", "[token]") {
    for (const char* tables : {R"("*")", R"({"*":{}})"}) {
        IssueResult result =
            issue_token(std::string(R"({"userId":"u1","tables":)") + tables + "}", issuer(), kNow);
        REQUIRE(result.issued);
        CHECK(result.issued->expires_at == kNow + 3600);
        auto verified = JwtVerifier(kSecret).verify(result.issued->token, kNow);
        REQUIRE(verified.principal);
        CHECK(verified.principal->all_tables);
    }
}

TEST_CASE("the claim name, issuer and audience of the verifier go into the token", "[token]") {
    TokenIssuerOptions options = issuer();
    options.claim = "https://example.com/pgsync";
    options.issuer = "pgsync-serve";
    options.audience = "chat";
    IssueResult result =
        issue_token(R"({"userId":"u1","tables":{"public.messages":{}}})", options, kNow);
    REQUIRE(result.issued);
    JwtOptions verifier_options;
    verifier_options.secret = kSecret;
    verifier_options.claim = options.claim;
    verifier_options.issuer = options.issuer;
    verifier_options.audience = options.audience;
    auto verified = JwtVerifier(verifier_options).verify(result.issued->token, kNow);
    REQUIRE(verified.principal);
    CHECK(verified.principal->tables.size() == 1);
    // A verifier reading "pgsync" finds no grants there.
    CHECK(JwtVerifier(kSecret).verify(result.issued->token, kNow).error ==
          "token has no pgsync.tables claim");
}

TEST_CASE("a malformed token request is refused with a reason", "[token]") {
    CHECK(refusal("").substr(0, 26) == "the body is not valid JSON");
    CHECK(refusal("{").substr(0, 26) == "the body is not valid JSON");
    CHECK(refusal("[]") == "the body is not a JSON object");
    CHECK(refusal(R"({"tables":"*"})") == "\"userId\" is missing");
    CHECK(refusal(R"({"userId":"","tables":"*"})") == "\"userId\" must be a non-empty string");
    CHECK(refusal(R"({"userId":42,"tables":"*"})") == "\"userId\" must be a non-empty string");
    CHECK(refusal(R"({"userId":")" + std::string(257, 'u') + R"(","tables":"*"})") ==
          "\"userId\" is longer than 256 bytes");
    CHECK(
        issue_token(R"({"userId":")" + std::string(256, 'u') + R"(","tables":"*"})", issuer(), kNow)
            .issued);
    CHECK(refusal(R"({"userId":"u"})") == "\"tables\" is missing");
    CHECK(refusal(R"({"userId":"u","tables":[]})") == "tables is not an object or \"*\"");
    CHECK(refusal(R"({"userId":"u","tables":{"bad name!":{}}})") ==
          "invalid table name \"bad name!\" in tables");
    CHECK(refusal(R"({"userId":"u","tables":{"t":{"filter":"x = 1"}}})") ==
          "unknown key \"filter\" for table \"t\"");
    CHECK(refusal(R"({"userId":"u","tables":{"t":{},"public.t":{}}})") ==
          "table \"public.t\" is granted twice in tables");
    CHECK(refusal(R"({"userId":"u","tables":{"*":{},"t":{}}})") ==
          "\"*\" cannot be combined with other tables in tables");
    CHECK(refusal(R"({"userId":"u","tables":{"t":{"where":"x = = 1"}}})").substr(0, 41) ==
          "the filter for table \"public.t\" does not ");
    CHECK(
        refusal(R"({"userId":"u","tables":{"t":{"where":"a = $1 and b = $2","params":["x"]}}})") ==
        "the filter for table \"public.t\" uses $2 but has 1 parameter");
    CHECK(refusal(R"({"userId":"u","tables":{"t":{"where":"a = $1"}}})") ==
          "the filter for table \"public.t\" uses $1 but has 0 parameters");
    CHECK(refusal(R"({"userId":"u","tables":{"t":{"params":[{}]}}})") ==
          "a parameter for table \"t\" is not a string, number, boolean or null");
    for (const char* ttl : {"0", "-1", "86401", "\"3600\"", "1.5", "null"})
        CHECK(refusal(std::string(R"({"userId":"u","tables":"*","ttl":)") + ttl + "}") ==
              "\"ttl\" must be an integer from 1 to 86400 seconds");
    CHECK(issue_token(R"({"userId":"u","tables":"*","ttl":86400})", issuer(), kNow).issued);
    CHECK(issue_token(R"({"userId":"u","tables":"*","ttl":1})", issuer(), kNow).issued);
    CHECK(refusal(R"({"userId":"u","tables":"*","sub":"admin"})") ==
          "unknown key \"sub\" in the body; expected \"userId\", \"tables\", \"channels\" and \"ttl\"");
    CHECK(refusal(R"({"userId":"u","userId":"admin","tables":"*"})") ==
          "the body has the key \"userId\" twice in one object");
}

TEST_CASE("without a secret no token is issued", "[token]") {
    IssueResult result = issue_token(R"({"userId":"u","tables":"*"})", TokenIssuerOptions{}, kNow);
    CHECK_FALSE(result.issued);
    CHECK(result.error == "the server has no JWT secret to sign tokens with");
}

TEST_CASE("a token request may grant channels, alone or beside tables", "[token]") {
    IssueResult both = issue_token(R"({"userId":"u7","tables":{"groups":{}},"channels":["chat-added"]})",
                                   issuer(), kNow);
    REQUIRE(both.issued);
    auto verified = JwtVerifier(kSecret).verify(both.issued->token, kNow);
    REQUIRE(verified.principal);
    REQUIRE(verified.principal->tables.size() == 1);
    CHECK(grants_channel(*verified.principal, "chat-added"));
    CHECK_FALSE(grants_channel(*verified.principal, "chat-all"));

    IssueResult only = issue_token(R"({"userId":"u7","channels":["chat-added"]})", issuer(), kNow);
    REQUIRE(only.issued);
    verified = JwtVerifier(kSecret).verify(only.issued->token, kNow);
    REQUIRE(verified.principal);
    CHECK(verified.principal->tables.empty());
    CHECK_FALSE(verified.principal->all_tables);
    CHECK(grants_channel(*verified.principal, "chat-added"));

    // The channels claim is checked as the verifier checks it.
    IssueResult bad = issue_token(R"({"userId":"u7","channels":"chat-added"})", issuer(), kNow);
    CHECK_FALSE(bad.issued);
    CHECK_FALSE(bad.error.empty());
}
