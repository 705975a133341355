// JwtVerifier accepts exactly the HS256 tokens signed with its secret that are in their validity
// window, turns pgsync.tables into grants by PostgreSQL's identifier rules, and refuses everything
// else with a short reason; api_key_matches compares keys.
#include "serve/access/auth.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string>

using pgsync::serve::api_key_matches;
using pgsync::serve::AuthResult;
using pgsync::serve::JwtVerifier;
using pgsync::serve::sign_hs256;

namespace {

constexpr int64_t kNow = 1767225600; // 2026-01-01T00:00:00Z
const std::string kSecret = "test-secret-with-enough-entropy";

// Independent of auth.cpp's encoder, so the tests can build tokens auth.cpp would never sign.
std::string b64url(std::string_view bytes) {
    static const char* alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < bytes.size(); i += 3) {
        uint32_t v = uint32_t(uint8_t(bytes[i])) << 16 | uint32_t(uint8_t(bytes[i + 1])) << 8 |
                     uint8_t(bytes[i + 2]);
        for (int shift : {18, 12, 6, 0})
            out += alphabet[(v >> shift) & 63];
    }
    if (bytes.size() - i == 1) {
        uint32_t v = uint32_t(uint8_t(bytes[i])) << 16;
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
    } else if (bytes.size() - i == 2) {
        uint32_t v = uint32_t(uint8_t(bytes[i])) << 16 | uint32_t(uint8_t(bytes[i + 1])) << 8;
        for (int shift : {18, 12, 6})
            out += alphabet[(v >> shift) & 63];
    }
    return out;
}

// A token with any header, correctly HS256-signed with secret.
std::string token_with_header(std::string_view header, std::string_view claims,
                              const std::string& secret = kSecret) {
    std::string input = b64url(header) + "." + b64url(claims);
    unsigned char digest[32];
    unsigned int length = 0;
    HMAC(EVP_sha256(), secret.data(), int(secret.size()),
         reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest, &length);
    return input + "." + b64url(std::string_view(reinterpret_cast<char*>(digest), length));
}

AuthResult verify(const std::string& token, int64_t now = kNow) {
    return JwtVerifier(kSecret).verify(token, now);
}

AuthResult verify_claims(const std::string& claims, int64_t now = kNow) {
    return verify(sign_hs256(claims, kSecret), now);
}

std::string refusal(const AuthResult& result) {
    CHECK_FALSE(result.principal);
    return result.error;
}

constexpr const char* kTablesClaim = R"("pgsync":{"tables":{"public.messages":{}}})";

} // namespace

TEST_CASE("a signed token round-trips to its subject, expiry and grants", "[auth]") {
    auto result = verify_claims(R"({"sub":"alice","exp":1767229200,"pgsync":{"tables":{
        "public.messages":{"where":"group_name = $1","params":["party_chat"]},
        "groups":{}}}})");
    REQUIRE(result.principal);
    CHECK(result.error.empty());
    const auto& principal = *result.principal;
    CHECK(principal.subject == "alice");
    CHECK(principal.expires_at == 1767229200);
    CHECK_FALSE(principal.all_tables);
    REQUIRE(principal.tables.size() == 2);
    // Grants come in the order of their keys' text (nlohmann::json keeps objects sorted).
    const auto& groups = principal.tables[0];
    const auto& messages = principal.tables[1];
    CHECK(groups.schema == "public");
    CHECK(groups.name == "groups");
    CHECK(groups.where.empty());
    CHECK(groups.params.empty());
    CHECK(messages.schema == "public");
    CHECK(messages.name == "messages");
    CHECK(messages.where == "group_name = $1");
    REQUIRE(messages.params.size() == 1);
    CHECK(messages.params[0] == "party_chat");
}

// Computed outside pgsync with:
//   b64u() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
//   H=$(printf '%s' '{"alg":"HS256","typ":"JWT"}' | b64u)
//   P=$(printf '%s' "$CLAIMS" | b64u)
//   S=$(printf '%s' "$H.$P" | openssl dgst -sha256 -hmac 'known-vector-secret' -binary | b64u)
TEST_CASE("sign and verify agree with an HS256 token computed by openssl", "[auth]") {
    const std::string claims =
        R"({"sub":"vector","pgsync":{"tables":{"public.messages":{"where":"group_name = $1","params":["party_chat"]}}}})";
    const std::string token =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
        "eyJzdWIiOiJ2ZWN0b3IiLCJwZ3N5bmMiOnsidGFibGVzIjp7InB1YmxpYy5tZXNzYWdlcyI6eyJ3aGVyZSI6Imdyb3"
        "VwX25hbWUgPSAkMSIsInBhcmFtcyI6WyJwYXJ0eV9jaGF0Il19fX19."
        "OflwIfmhQmciJUcDjzM7UOUhWxKRrGCzCumIGJR_d9s";
    CHECK(sign_hs256(claims, "known-vector-secret") == token);
    auto result = JwtVerifier("known-vector-secret").verify(token, kNow);
    REQUIRE(result.principal);
    CHECK(result.principal->subject == "vector");
    CHECK(result.principal->expires_at == 0);
    REQUIRE(result.principal->tables.size() == 1);
    CHECK(result.principal->tables[0].params[0] == "party_chat");
    CHECK(refusal(JwtVerifier("known-vector-secreT").verify(token, kNow)) == "bad signature");
}

TEST_CASE("a token whose payload was swapped after signing is refused", "[auth]") {
    std::string token =
        sign_hs256(R"({"sub":"alice","pgsync":{"tables":{"a":{"where":"x = 1"}}}})", kSecret);
    std::string widened = b64url(R"({"sub":"alice","pgsync":{"tables":"*"}})");
    std::size_t first = token.find('.');
    std::size_t second = token.find('.', first + 1);
    token.replace(first + 1, second - first - 1, widened);
    CHECK(refusal(verify(token)) == "bad signature");
}

TEST_CASE("changing any one character of the signature is noticed", "[auth]") {
    std::string token = sign_hs256(std::string("{") + kTablesClaim + "}", kSecret);
    REQUIRE(verify(token).principal);
    std::size_t start = token.rfind('.') + 1;
    for (std::size_t i = start; i < token.size(); ++i) {
        std::string tampered = token;
        tampered[i] = tampered[i] == 'A' ? 'B' : 'A';
        auto result = verify(tampered);
        CHECK_FALSE(result.principal);
        CHECK((result.error == "bad signature" ||
               result.error == "malformed token: signature is not base64url"));
    }
    CHECK_FALSE(verify(token.substr(0, token.size() - 1)).principal);
}

TEST_CASE("a token signed with another secret is refused", "[auth]") {
    std::string token = sign_hs256(std::string("{") + kTablesClaim + "}", "other-secret");
    CHECK(refusal(verify(token)) == "bad signature");
}

TEST_CASE("an empty secret verifies nothing", "[auth]") {
    std::string token = sign_hs256(std::string("{") + kTablesClaim + "}", "");
    CHECK(refusal(JwtVerifier("").verify(token, kNow)) == "no JWT secret configured");
}

TEST_CASE("only alg HS256 is accepted with a secret", "[auth]") {
    std::string claims = std::string("{") + kTablesClaim + "}";
    CHECK(refusal(verify(b64url(R"({"alg":"none","typ":"JWT"})") + "." + b64url(claims) + ".")) ==
          "unsupported JWT algorithm \"none\"");
    CHECK(refusal(verify(token_with_header(R"({"alg":"none"})", claims))) ==
          "unsupported JWT algorithm \"none\"");
    CHECK(refusal(verify(token_with_header(R"({"alg":"HS512","typ":"JWT"})", claims))) ==
          "unsupported JWT algorithm \"HS512\"");
    // RS256 and ES256 need a public key (jwt_public_key_test.cpp); never the secret.
    CHECK(refusal(verify(token_with_header(R"({"alg":"RS256"})", claims))) ==
          "no key configured for JWT algorithm \"RS256\"");
    CHECK(refusal(verify(token_with_header(R"({"alg":"ES256"})", claims))) ==
          "no key configured for JWT algorithm \"ES256\"");
    CHECK(refusal(verify(token_with_header(R"({"alg":"hs256"})", claims))) ==
          "unsupported JWT algorithm \"hs256\"");
    CHECK(refusal(verify(token_with_header(R"({"typ":"JWT"})", claims))) ==
          "malformed token: header has no \"alg\"");
    CHECK(refusal(verify(token_with_header(R"({"alg":null})", claims))) ==
          "malformed token: \"alg\" is not a string");
    CHECK(refusal(verify(token_with_header(R"({"alg":"HS256","crit":["exp"]})", claims))) ==
          "unsupported JWT header \"crit\"");
    // typ is optional, and other header fields are ignored.
    CHECK(verify(token_with_header(R"({"alg":"HS256"})", claims)).principal);
    CHECK(verify(token_with_header(R"({"alg":"HS256","kid":"k1"})", claims)).principal);
}

TEST_CASE("exp is optional but refused from the second it names", "[auth]") {
    auto claims = [](std::string exp) { return "{\"exp\":" + exp + "," + kTablesClaim + "}"; };
    CHECK(refusal(verify_claims(claims(std::to_string(kNow)))) == "token expired");
    CHECK(refusal(verify_claims(claims(std::to_string(kNow - 3600)))) == "token expired");
    CHECK(refusal(verify_claims(claims("0"))) == "token expired");
    auto valid = verify_claims(claims(std::to_string(kNow + 1)));
    REQUIRE(valid.principal);
    CHECK(valid.principal->expires_at == kNow + 1);
    CHECK(verify_claims(claims(std::to_string(kNow) + ".5")).error == "token expired");
    CHECK(verify_claims(claims(std::to_string(kNow + 1) + ".5")).principal);
    CHECK(verify_claims(claims("1e300")).principal);
    CHECK(refusal(verify_claims(claims("\"1767229200\""))) ==
          "malformed token: \"exp\" is not a number");
}

TEST_CASE("nbf is enforced with 30 seconds of leeway", "[auth]") {
    auto claims = [](int64_t nbf) {
        return "{\"nbf\":" + std::to_string(nbf) + "," + kTablesClaim + "}";
    };
    CHECK(verify_claims(claims(kNow - 100)).principal);
    CHECK(verify_claims(claims(kNow + 30)).principal);
    CHECK(refusal(verify_claims(claims(kNow + 31))) == "token not yet valid");
    CHECK(refusal(verify_claims(claims(kNow + 86400))) == "token not yet valid");
    CHECK(refusal(verify_claims(std::string("{\"nbf\":true,") + kTablesClaim + "}")) ==
          "malformed token: \"nbf\" is not a number");
}

TEST_CASE("tokens that are not three base64url JSON parts are refused as malformed", "[auth]") {
    std::string good = sign_hs256(std::string("{") + kTablesClaim + "}", kSecret);
    std::string header = good.substr(0, good.find('.'));
    std::string parts = "malformed token: expected three dot-separated parts";
    CHECK(refusal(verify("")) == parts);
    CHECK(refusal(verify("abc")) == parts);
    CHECK(refusal(verify("a.b")) == parts);
    CHECK(refusal(verify(good + ".")) == parts);
    CHECK(refusal(verify(good + ".extra")) == parts);
    CHECK(refusal(verify("..")) == "malformed token: header is not valid JSON");
    CHECK(refusal(verify("eyJhbGciOiJIUzI1NiJ9+." + good.substr(good.find('.') + 1))) ==
          "malformed token: header is not base64url");
    CHECK(refusal(verify("eyJhbGciOiJIUzI1NiJ9=." + good.substr(good.find('.') + 1))) ==
          "malformed token: header is not base64url");
    CHECK(refusal(verify(b64url("{\"alg\":") + ".e30.")) ==
          "malformed token: header is not valid JSON");
    CHECK(refusal(verify(b64url("[\"HS256\"]") + ".e30.")) ==
          "malformed token: header is not a JSON object");
    CHECK(refusal(verify(b64url(R"({"alg":"none","alg":"HS256"})") + ".e30.")) ==
          "malformed token: header has key \"alg\" twice");
    CHECK(refusal(verify(header + ".e30.abc$")) == "malformed token: signature is not base64url");
    // Signed correctly, so the payload itself is what is refused.
    CHECK(refusal(verify(sign_hs256("not json", kSecret))) ==
          "malformed token: payload is not valid JSON");
    CHECK(refusal(verify(sign_hs256("[1,2]", kSecret))) ==
          "malformed token: payload is not a JSON object");
    CHECK(refusal(verify(sign_hs256(R"({"sub":"a","sub":"b","pgsync":{"tables":"*"}})",
                                    kSecret))) == "malformed token: payload has key \"sub\" twice");
    CHECK(refusal(verify(sign_hs256(R"({"sub":7,"pgsync":{"tables":"*"}})", kSecret))) ==
          "malformed token: \"sub\" is not a string");
}

TEST_CASE("tokens over 16 KB are refused before any parsing", "[auth]") {
    std::string padding(16 * 1024, 'x');
    std::string big =
        sign_hs256(R"({"pad":")" + padding + R"(","pgsync":{"tables":"*"}})", kSecret);
    CHECK(refusal(verify(big)) == "token too long (more than 16384 bytes)");
    std::string fits = sign_hs256(
        R"({"pad":")" + std::string(11 * 1024, 'x') + R"(","pgsync":{"tables":"*"}})", kSecret);
    REQUIRE(fits.size() <= 16 * 1024);
    CHECK(verify(fits).principal);
}

TEST_CASE("pgsync.tables is required", "[auth]") {
    CHECK(refusal(verify_claims(R"({"sub":"a"})")) == "token has no pgsync.tables claim");
    CHECK(refusal(verify_claims(R"({"pgsync":{}})")) == "token has no pgsync.tables claim");
    CHECK(refusal(verify_claims(R"({"pgsync":"all"})")) ==
          "malformed token: \"pgsync\" claim is not an object");
    CHECK(refusal(verify_claims(R"({"pgsync":{"tables":["public.messages"]}})")) ==
          "malformed token: pgsync.tables is not an object or \"*\"");
    CHECK(refusal(verify_claims(R"({"pgsync":{"tables":"public.messages"}})")) ==
          "malformed token: pgsync.tables is not an object or \"*\"");
}

TEST_CASE("the star key grants every table with no filter, alone and unfiltered", "[auth]") {
    for (const char* claims :
         {R"({"pgsync":{"tables":"*"}})", R"({"pgsync":{"tables":{"*":{}}}})"}) {
        auto result = verify_claims(claims);
        REQUIRE(result.principal);
        CHECK(result.principal->all_tables);
        CHECK(result.principal->tables.empty());
    }
    CHECK(refusal(verify_claims(R"({"pgsync":{"tables":{"*":{},"public.a":{}}}})")) ==
          "malformed token: \"*\" cannot be combined with other tables in pgsync.tables");
    CHECK(refusal(verify_claims(R"({"pgsync":{"tables":{"*":{"where":"a = 1"}}}})")) ==
          "malformed token: the \"*\" grant takes no filter");
}

TEST_CASE("table keys follow PostgreSQL identifier rules", "[auth]") {
    auto result = verify_claims(R"({"pgsync":{"tables":{
        "Messages":{}, "Sales.Orders":{}, "\"My Schema\".\"Tab\"\"le\"":{}, "\"CamelCase\"":{}}}})");
    REQUIRE(result.principal);
    const auto& tables = result.principal->tables;
    REQUIRE(tables.size() == 4);
    auto has = [&](const std::string& schema, const std::string& name) {
        for (const auto& table : tables)
            if (table.schema == schema && table.name == name) return true;
        return false;
    };
    CHECK(has("public", "messages"));
    CHECK(has("sales", "orders"));
    CHECK(has("My Schema", "Tab\"le"));
    CHECK(has("public", "CamelCase"));

    for (const char* bad : {"a.b.c", "", ".a", "a.", "\"unterminated", "1abc", "a b"}) {
        nlohmann::json claims = {{"pgsync", {{"tables", {{bad, nlohmann::json::object()}}}}}};
        CHECK(refusal(verify_claims(claims.dump())) ==
              std::string("malformed token: invalid table name \"") + bad + "\" in pgsync.tables");
    }
}

TEST_CASE("one table granted under two spellings is refused", "[auth]") {
    CHECK(refusal(verify_claims(
              R"({"pgsync":{"tables":{"Messages":{"where":"a = 1"},"public.messages":{}}}})")) ==
          "malformed token: table \"public.messages\" is granted twice in pgsync.tables");
}

TEST_CASE("grant objects take only where and params of the right kinds", "[auth]") {
    auto result = verify_claims(R"({"pgsync":{"tables":{"t":{"where":"a = $1 and b = $2",
        "params":["text", 42, -1.5, 12345678901234567890, true, false, null]}}}})");
    REQUIRE(result.principal);
    const auto& params = result.principal->tables.at(0).params;
    REQUIRE(params.size() == 7);
    CHECK(params[0] == "text");
    CHECK(params[1] == "42");
    CHECK(params[2] == "-1.5");
    CHECK(params[3] == "12345678901234567890");
    CHECK(params[4] == "true");
    CHECK(params[5] == "false");
    CHECK_FALSE(params[6].has_value());

    CHECK(refusal(verify_claims(R"({"pgsync":{"tables":{"t":"a = 1"}}})")) ==
          "malformed token: grant for table \"t\" is not an object");
    CHECK(refusal(verify_claims(R"({"pgsync":{"tables":{"t":{"filter":"a = 1"}}}})")) ==
          "malformed token: unknown key \"filter\" for table \"t\"");
    CHECK(refusal(verify_claims(R"({"pgsync":{"tables":{"t":{"where":1}}}})")) ==
          "malformed token: \"where\" for table \"t\" is not a string");
    CHECK(refusal(verify_claims(R"({"pgsync":{"tables":{"t":{"params":"x"}}}})")) ==
          "malformed token: \"params\" for table \"t\" is not an array");
    for (const char* bad : {"[[1]]", R"([{"a":1}])"})
        CHECK(refusal(verify_claims(std::string(R"({"pgsync":{"tables":{"t":{"params":)") + bad +
                                    "}}}}")) ==
              "malformed token: a parameter for table \"t\" is not a string, number, boolean or "
              "null");
}

TEST_CASE("api_key_matches accepts only the exact key", "[auth]") {
    CHECK(api_key_matches("k-0123456789abcdef", "k-0123456789abcdef"));
    CHECK_FALSE(api_key_matches("k-0123456789abcdeF", "k-0123456789abcdef"));
    CHECK_FALSE(api_key_matches("k-0123456789abcde", "k-0123456789abcdef"));
    CHECK_FALSE(api_key_matches("k-0123456789abcdef0", "k-0123456789abcdef"));
    CHECK_FALSE(api_key_matches("", "k-0123456789abcdef"));
    CHECK_FALSE(api_key_matches("", ""));
    CHECK(api_key_matches(std::string_view("a\0b", 3), std::string_view("a\0b", 3)));
    CHECK_FALSE(api_key_matches(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
}
