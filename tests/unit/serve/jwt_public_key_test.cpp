// JwtVerifier with an identity provider's keys: RS256 and ES256 tokens verify against a PEM key or
// a JWKS chosen by kid, each key only for its own algorithm (the HS/RS confusion is refused), with
// iss, aud and the grants' claim name checked; unusable key files are configuration errors. The
// keys are generated here with libcrypto, and the tokens signed here, independently of cjose.
#include "pg_test.h"
#include "process.h"
#include "serve/access/auth.h"
#include "util/error.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <string>

using nlohmann::json;
using pgsync::serve::AuthResult;
using pgsync::serve::JwtOptions;
using pgsync::serve::JwtVerifier;

namespace {

constexpr int64_t kNow = 1767225600; // 2026-01-01T00:00:00Z
constexpr const char* kGrants =
    R"({"tables":{"public.messages":{"where":"group_name = $1","params":["x"]}}})";

struct PkeyFree {
    void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

EVP_PKEY* rsa_key() {
    static Pkey key(EVP_RSA_gen(2048));
    return key.get();
}
EVP_PKEY* other_rsa_key() {
    static Pkey key(EVP_RSA_gen(2048));
    return key.get();
}
EVP_PKEY* ec_key() {
    static Pkey key(EVP_EC_gen("P-256"));
    return key.get();
}
EVP_PKEY* other_ec_key() {
    static Pkey key(EVP_EC_gen("P-256"));
    return key.get();
}

// The signature JWS wants: PKCS#1 v1.5 for RSA, r||s (32 bytes each) for ECDSA.
std::string sign(EVP_PKEY* key, std::string_view input) {
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    REQUIRE(EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) == 1);
    size_t length = 0;
    auto* data = reinterpret_cast<const unsigned char*>(input.data());
    REQUIRE(EVP_DigestSign(ctx.get(), nullptr, &length, data, input.size()) == 1);
    std::string signature(length, '\0');
    REQUIRE(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                           data, input.size()) == 1);
    signature.resize(length);
    if (!EVP_PKEY_is_a(key, "EC")) return signature;
    const unsigned char* der = reinterpret_cast<const unsigned char*>(signature.data());
    std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> parsed(
        d2i_ECDSA_SIG(nullptr, &der, long(signature.size())), ECDSA_SIG_free);
    REQUIRE(parsed);
    std::string raw(64, '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(parsed.get()), reinterpret_cast<unsigned char*>(raw.data()), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(parsed.get()), reinterpret_cast<unsigned char*>(raw.data()) + 32,
                 32);
    return raw;
}

std::string token(EVP_PKEY* key, const json& header, const json& claims) {
    const std::string input = pgsync::serve::base64url_encode(header.dump()) + "." +
                              pgsync::serve::base64url_encode(claims.dump());
    return input + "." + pgsync::serve::base64url_encode(sign(key, input));
}

std::string hs256_token(const json& header, const json& claims, const std::string& secret) {
    const std::string input = pgsync::serve::base64url_encode(header.dump()) + "." +
                              pgsync::serve::base64url_encode(claims.dump());
    unsigned char digest[32];
    unsigned int length = 0;
    HMAC(EVP_sha256(), secret.data(), int(secret.size()),
         reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest, &length);
    return input + "." +
           pgsync::serve::base64url_encode(
               std::string_view(reinterpret_cast<char*>(digest), length));
}

json claims(json extra = json::object()) {
    json out = {{"sub", "u42"}, {"exp", kNow + 600}, {"pgsync", json::parse(kGrants)}};
    out.update(extra);
    return out;
}

std::string public_pem(EVP_PKEY* key) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    REQUIRE(PEM_write_bio_PUBKEY(bio.get(), key) == 1);
    char* data = nullptr;
    long length = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, size_t(length));
}

std::string bn_param(EVP_PKEY* key, const char* name, int width = 0) {
    BIGNUM* bn = nullptr;
    REQUIRE(EVP_PKEY_get_bn_param(key, name, &bn) == 1);
    std::string bytes(size_t(std::max(width, BN_num_bytes(bn))), '\0');
    BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(bytes.data()), int(bytes.size()));
    BN_free(bn);
    return pgsync::serve::base64url_encode(bytes);
}

json jwk(EVP_PKEY* key, const std::string& kid, json extra = json::object()) {
    json out;
    if (EVP_PKEY_is_a(key, "EC"))
        out = {{"kty", "EC"},
               {"crv", "P-256"},
               {"x", bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, 32)},
               {"y", bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, 32)}};
    else
        out = {{"kty", "RSA"},
               {"n", bn_param(key, OSSL_PKEY_PARAM_RSA_N)},
               {"e", bn_param(key, OSSL_PKEY_PARAM_RSA_E)}};
    if (!kid.empty()) out["kid"] = kid;
    out.update(extra);
    return out;
}

std::string write_file(const std::string& name, const std::string& content) {
    const std::string dir = pgsync::test::test_tmp_dir() + "/" + pgsync::test::unique_name("jwt");
    std::filesystem::create_directories(dir);
    const std::string path = dir + "/" + name;
    std::ofstream(path, std::ios::binary) << content;
    return path;
}

JwtVerifier with_pem(EVP_PKEY* key, JwtOptions options = {}) {
    options.public_key_file = write_file("key.pem", public_pem(key));
    return JwtVerifier(std::move(options));
}

JwtVerifier with_jwks(const json& keys, JwtOptions options = {}) {
    options.jwks_file = write_file("jwks.json", json{{"keys", keys}}.dump());
    return JwtVerifier(std::move(options));
}

std::string refusal(const AuthResult& result) {
    CHECK_FALSE(result.principal);
    return result.error;
}

const json kRs256 = {{"alg", "RS256"}, {"typ", "JWT"}};
const json kEs256 = {{"alg", "ES256"}, {"typ", "JWT"}};

// The message and exit code of the pgsync::Error a configuration throws.
std::pair<std::string, int> load_error(JwtOptions options) {
    try {
        JwtVerifier verifier(std::move(options));
    } catch (const pgsync::Error& e) {
        return {e.what(), e.exit_code()};
    }
    return {"", 0};
}

} // namespace

TEST_CASE("an RS256 token verifies against the RSA public key of a PEM file", "[auth][jwk]") {
    auto result = with_pem(rsa_key()).verify(token(rsa_key(), kRs256, claims()), kNow);
    REQUIRE(result.principal);
    CHECK(result.principal->subject == "u42");
    CHECK(result.principal->expires_at == kNow + 600);
    REQUIRE(result.principal->tables.size() == 1);
    CHECK(result.principal->tables[0].where == "group_name = $1");
    // Signed by another RSA key: refused.
    CHECK(refusal(with_pem(rsa_key()).verify(token(other_rsa_key(), kRs256, claims()), kNow)) ==
          "bad signature");
}

TEST_CASE("an ES256 token verifies against the EC P-256 public key of a PEM file", "[auth][jwk]") {
    auto result = with_pem(ec_key()).verify(token(ec_key(), kEs256, claims()), kNow);
    REQUIRE(result.principal);
    CHECK(result.principal->subject == "u42");
    CHECK(refusal(with_pem(ec_key()).verify(token(other_ec_key(), kEs256, claims()), kNow)) ==
          "bad signature");
}

TEST_CASE("each key verifies only its own algorithm", "[auth][jwk]") {
    // An RSA key never checks ES256 (nor an EC key RS256), whatever the token claims.
    CHECK(refusal(with_pem(rsa_key()).verify(token(ec_key(), kEs256, claims()), kNow)) ==
          "no key configured for JWT algorithm \"ES256\"");
    CHECK(refusal(with_pem(ec_key()).verify(token(rsa_key(), kRs256, claims()), kNow)) ==
          "no key configured for JWT algorithm \"RS256\"");
    // An RS256 header over an ECDSA signature, and the other way round.
    CHECK(refusal(with_pem(rsa_key()).verify(token(ec_key(), kRs256, claims()), kNow)) ==
          "bad signature");
    CHECK(refusal(with_pem(ec_key()).verify(token(rsa_key(), kEs256, claims()), kNow)) ==
          "bad signature");
    // Only RS256 and ES256 with public keys: RS384, PS256, none stay refused.
    for (const char* alg : {"RS384", "PS256", "ES384", "none", "EdDSA"})
        CHECK(refusal(with_pem(rsa_key()).verify(token(rsa_key(), json{{"alg", alg}}, claims()),
                                                 kNow)) ==
              std::string("unsupported JWT algorithm \"") + alg + "\"");
}

TEST_CASE("an HS256 token signed with the public key's PEM text is refused", "[auth][jwk]") {
    // The HS/RS confusion: a verifier that used the public key as an HMAC secret would accept it.
    const std::string pem = public_pem(rsa_key());
    const std::string forged =
        hs256_token({{"alg", "HS256"}}, claims({{"pgsync", {{"tables", "*"}}}}), pem);
    CHECK(refusal(with_pem(rsa_key()).verify(forged, kNow)) ==
          "no key configured for JWT algorithm \"HS256\"");
    JwtOptions with_secret;
    with_secret.secret = "the-real-hs256-secret-of-this-server";
    CHECK(refusal(with_pem(rsa_key(), with_secret).verify(forged, kNow)) == "bad signature");
    // The same with the JWKS's JSON text as the secret.
    const json keys = json::array({jwk(rsa_key(), "k1")});
    const std::string jwks_text = json{{"keys", keys}}.dump();
    CHECK(refusal(with_jwks(keys).verify(hs256_token({{"alg", "HS256"}}, claims(), jwks_text),
                                         kNow)) == "no key configured for JWT algorithm \"HS256\"");
    // And the secret still verifies HS256 next to the public key, and only HS256.
    CHECK(with_pem(rsa_key(), with_secret)
              .verify(hs256_token({{"alg", "HS256"}}, claims(), with_secret.secret), kNow)
              .principal);
    CHECK(with_pem(rsa_key(), with_secret)
              .verify(token(rsa_key(), kRs256, claims()), kNow)
              .principal);
}

TEST_CASE("a JWKS key is chosen by kid", "[auth][jwk]") {
    const json keys = json::array(
        {jwk(rsa_key(), "a"), jwk(other_rsa_key(), "b"), jwk(ec_key(), "c", {{"alg", "ES256"}})});
    JwtVerifier verifier = with_jwks(keys);
    auto with_kid = [](const json& header, const char* kid) {
        json out = header;
        out["kid"] = kid;
        return out;
    };
    CHECK(verifier.verify(token(rsa_key(), with_kid(kRs256, "a"), claims()), kNow).principal);
    CHECK(verifier.verify(token(other_rsa_key(), with_kid(kRs256, "b"), claims()), kNow).principal);
    CHECK(verifier.verify(token(ec_key(), with_kid(kEs256, "c"), claims()), kNow).principal);
    // The kid names the other key: its signature does not verify.
    CHECK(refusal(verifier.verify(token(other_rsa_key(), with_kid(kRs256, "a"), claims()), kNow)) ==
          "bad signature");
    CHECK(refusal(verifier.verify(token(rsa_key(), with_kid(kRs256, "zz"), claims()), kNow)) ==
          "no RS256 key with kid \"zz\"");
    // kid "c" is an ES256 key: an RS256 token cannot use it.
    CHECK(refusal(verifier.verify(token(rsa_key(), with_kid(kRs256, "c"), claims()), kNow)) ==
          "no RS256 key with kid \"c\"");
    // Without a kid: tried only against the one key of its algorithm.
    CHECK(refusal(verifier.verify(token(rsa_key(), kRs256, claims()), kNow)) ==
          "token has no \"kid\" to choose among 2 RS256 keys");
    CHECK(verifier.verify(token(ec_key(), kEs256, claims()), kNow).principal);
    CHECK(refusal(verifier.verify(token(other_ec_key(), kEs256, claims()), kNow)) ==
          "bad signature");
    CHECK(refusal(verifier.verify(token(rsa_key(), {{"alg", "RS256"}, {"kid", 7}}, claims()),
                                  kNow)) == "malformed token: \"kid\" is not a string");
}

TEST_CASE("JWKS keys bound to another algorithm, or for encryption, are not used", "[auth][jwk]") {
    const json keys = json::array(
        {jwk(rsa_key(), "rs384", {{"alg", "RS384"}}), jwk(other_rsa_key(), "enc", {{"use", "enc"}}),
         jwk(ec_key(), "ec", {{"alg", "RS256"}}), jwk(other_ec_key(), "ok")});
    JwtVerifier verifier = with_jwks(keys);
    CHECK(refusal(verifier.verify(token(rsa_key(), {{"alg", "RS256"}, {"kid", "rs384"}}, claims()),
                                  kNow)) == "no key configured for JWT algorithm \"RS256\"");
    CHECK(refusal(verifier.verify(token(ec_key(), {{"alg", "ES256"}, {"kid", "ec"}}, claims()),
                                  kNow)) == "no ES256 key with kid \"ec\"");
    CHECK(verifier.verify(token(other_ec_key(), {{"alg", "ES256"}, {"kid", "ok"}}, claims()), kNow)
              .principal);
}

TEST_CASE("a PEM key and a JWKS together: each token by a key of its algorithm", "[auth][jwk]") {
    JwtOptions options;
    options.public_key_file = write_file("key.pem", public_pem(ec_key()));
    options.jwks_file =
        write_file("jwks.json", json{{"keys", json::array({jwk(rsa_key(), "r1")})}}.dump());
    options.secret = "a-secret-for-hs256-tokens-only!!";
    JwtVerifier verifier(options);
    CHECK(verifier.verify(token(ec_key(), kEs256, claims()), kNow).principal);
    CHECK(verifier.verify(token(ec_key(), {{"alg", "ES256"}, {"kid", "any"}}, claims()), kNow)
              .principal);
    CHECK(verifier.verify(token(rsa_key(), {{"alg", "RS256"}, {"kid", "r1"}}, claims()), kNow)
              .principal);
    CHECK(
        verifier.verify(hs256_token({{"alg", "HS256"}}, claims(), options.secret), kNow).principal);
}

TEST_CASE("exp, nbf and malformed tokens are refused with public keys as with the secret",
          "[auth][jwk]") {
    JwtVerifier verifier = with_pem(rsa_key());
    CHECK(refusal(verifier.verify(token(rsa_key(), kRs256, claims({{"exp", kNow}})), kNow)) ==
          "token expired");
    CHECK(refusal(verifier.verify(token(rsa_key(), kRs256, claims({{"nbf", kNow + 31}})), kNow)) ==
          "token not yet valid");
    CHECK(refusal(verifier.verify(token(rsa_key(), {{"alg", "RS256"}, {"crit", {"exp"}}}, claims()),
                                  kNow)) == "unsupported JWT header \"crit\"");
    std::string good = token(rsa_key(), kRs256, claims());
    std::string tampered = good;
    const size_t last = tampered.size() - 5;
    tampered[last] = tampered[last] == 'A' ? 'B' : 'A';
    CHECK(refusal(verifier.verify(tampered, kNow)) == "bad signature");
    // A payload swapped after signing.
    const size_t first = good.find('.');
    const size_t second = good.find('.', first + 1);
    std::string swapped = good;
    swapped.replace(first + 1, second - first - 1,
                    pgsync::serve::base64url_encode(claims({{"sub", "admin"}}).dump()));
    CHECK(refusal(verifier.verify(swapped, kNow)) == "bad signature");
    CHECK(refusal(verifier.verify(good.substr(0, second), kNow)) ==
          "malformed token: expected three dot-separated parts");
    CHECK(refusal(verifier.verify(good.substr(0, second + 1), kNow)) == "bad signature");
}

TEST_CASE("iss and aud are checked when configured", "[auth][jwk]") {
    JwtOptions options;
    options.issuer = "https://idp.example.com/";
    options.audience = "https://sync.example.com";
    JwtVerifier verifier = with_pem(ec_key(), options);
    auto verify = [&](json extra) {
        return verifier.verify(token(ec_key(), kEs256, claims(std::move(extra))), kNow);
    };
    CHECK(verify({{"iss", options.issuer}, {"aud", options.audience}}).principal);
    CHECK(verify({{"iss", options.issuer}, {"aud", {"other", options.audience}}}).principal);
    CHECK(refusal(verify({{"aud", options.audience}})) == "token has no \"iss\" (issuer)");
    CHECK(refusal(verify({{"iss", "https://evil.example.com/"}, {"aud", options.audience}})) ==
          "token issuer \"https://evil.example.com/\" is not \"https://idp.example.com/\"");
    CHECK(refusal(verify({{"iss", options.issuer}})) == "token has no \"aud\" (audience)");
    CHECK(refusal(verify({{"iss", options.issuer}, {"aud", "other"}})) ==
          "token audience \"other\" does not name \"https://sync.example.com\"");
    CHECK(refusal(verify({{"iss", options.issuer}, {"aud", {"a", "b"}}})) ==
          "token audience [\"a\",\"b\"] does not name \"https://sync.example.com\"");
    // Without the options, iss and aud are not looked at.
    CHECK(with_pem(ec_key()).verify(token(ec_key(), kEs256, claims({{"aud", 5}})), kNow).principal);
}

TEST_CASE("the grants are read from the configured claim", "[auth][jwk]") {
    JwtOptions options;
    options.claim = "https://example.com/pgsync";
    JwtVerifier verifier = with_pem(rsa_key(), options);
    json namespaced = {{"sub", "u42"}, {"https://example.com/pgsync", json::parse(kGrants)}};
    auto result = verifier.verify(token(rsa_key(), kRs256, namespaced), kNow);
    REQUIRE(result.principal);
    REQUIRE(result.principal->tables.size() == 1);
    CHECK(result.principal->tables[0].name == "messages");
    CHECK(refusal(verifier.verify(token(rsa_key(), kRs256, claims()), kNow)) ==
          "token has no https://example.com/pgsync.tables claim");
    json bad = {{"https://example.com/pgsync", {{"tables", 3}}}};
    CHECK(refusal(verifier.verify(token(rsa_key(), kRs256, bad), kNow)) ==
          "malformed token: https://example.com/pgsync.tables is not an object or \"*\"");
}

TEST_CASE("a key file that cannot be used is a configuration error naming it", "[auth][jwk]") {
    JwtOptions missing;
    missing.public_key_file = "/nonexistent/idp.pem";
    auto [message, code] = load_error(missing);
    CHECK(message ==
          "could not load JWT public key file \"/nonexistent/idp.pem\": No such file or directory");
    CHECK(code == 2);

    JwtOptions garbage;
    garbage.public_key_file = write_file("garbage.pem", "not a key\n");
    CHECK(load_error(garbage).first == "could not load JWT public key file \"" +
                                           garbage.public_key_file +
                                           "\": no PEM public key or certificate in it");

    JwtOptions short_rsa;
    Pkey small(EVP_RSA_gen(1024));
    short_rsa.public_key_file = write_file("small.pem", public_pem(small.get()));
    CHECK(load_error(short_rsa).first == "could not load JWT public key file \"" +
                                             short_rsa.public_key_file +
                                             "\": the RSA key has 1024 bits, fewer than 2048");

    JwtOptions p384;
    Pkey other_curve(EVP_EC_gen("P-384"));
    p384.public_key_file = write_file("p384.pem", public_pem(other_curve.get()));
    CHECK(load_error(p384).first == "could not load JWT public key file \"" + p384.public_key_file +
                                        "\": the EC key is not on curve P-256 (ES256 needs P-256)");

    auto jwks_error = [](const std::string& text) {
        JwtOptions options;
        options.jwks_file = write_file("jwks.json", text);
        auto [message, code] = load_error(options);
        CHECK(code == 2);
        const std::string prefix = "could not load JWKS file \"" + options.jwks_file + "\": ";
        REQUIRE(message.substr(0, prefix.size()) == prefix);
        return message.substr(prefix.size());
    };
    CHECK(jwks_error("{").substr(0, 14) == "not valid JSON");
    CHECK(jwks_error("[]") == "no \"keys\" array");
    CHECK(jwks_error(R"({"keys":{}})") == "no \"keys\" array");
    CHECK(jwks_error(R"({"keys":[]})") == "no RS256 or ES256 signing key in it");
    CHECK(jwks_error(R"({"keys":[{"kty":"oct","k":"c2VjcmV0"}]})") ==
          "no RS256 or ES256 signing key in it");
    CHECK(jwks_error(R"({"keys":[7]})") == "key 0 is not an object");
    CHECK(jwks_error(json{{"keys", {jwk(rsa_key(), "a", {{"kid", 5}})}}}.dump()) ==
          "key 0 has a \"kid\" that is not a string");
    CHECK(jwks_error(json{{"keys", {jwk(rsa_key(), "a", {{"d", "AQAB"}})}}}.dump()) ==
          "key 0 holds a private key");
    CHECK(jwks_error(R"({"keys":[{"kty":"RSA","n":"!!","e":"AQAB"}]})").substr(0, 7) == "key 0: ");
}
