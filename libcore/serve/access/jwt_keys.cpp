// Public keys for RS256 and ES256 tokens: PEM files through libcrypto, JWKS files through
// nlohmann/json, both turned into cjose JWKs (cjose checks the signatures). Loading errors are
// pgsync::Error with exit code 2 (they are configuration errors); verifying never throws.
#include "serve/access/jwt_keys.h"

#include "util/error.h"

#include <cerrno>
#include <cjose/base64.h>
#include <cjose/jwk.h>
#include <cjose/jws.h>
#include <cjose/util.h>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sstream>

namespace pgsync::serve {

namespace {

using nlohmann::json;

// RFC 7518 §3.3: RS256 keys shorter than this must not be used.
constexpr int kMinRsaBits = 2048;
constexpr size_t kMaxKeyFileBytes = 1024 * 1024;

struct JwkRelease {
    void operator()(cjose_jwk_t* jwk) const { cjose_jwk_release(jwk); }
};
using JwkPtr = std::unique_ptr<cjose_jwk_t, JwkRelease>;
struct JwsRelease {
    void operator()(cjose_jws_t* jws) const { cjose_jws_release(jws); }
};
using JwsPtr = std::unique_ptr<cjose_jws_t, JwsRelease>;
struct BioFree {
    void operator()(BIO* bio) const { BIO_free(bio); }
};
struct PkeyFree {
    void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
struct X509Free {
    void operator()(X509* certificate) const { X509_free(certificate); }
};
struct BnFree {
    void operator()(BIGNUM* bn) const { BN_free(bn); }
};
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;

Error key_file_error(const std::string& what, const std::string& path, const std::string& why,
                     const std::string& hint) {
    return usage_error("could not load " + what + " \"" + path + "\": " + why, hint);
}

std::string read_file(const std::string& path, const std::string& what, const std::string& hint) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        const int saved = errno;
        throw key_file_error(what, path, saved ? std::strerror(saved) : "cannot open", hint);
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) throw key_file_error(what, path, "read error", hint);
    std::string out = text.str();
    if (out.size() > kMaxKeyFileBytes) throw key_file_error(what, path, "larger than 1MB", hint);
    return out;
}

std::string base64url(const unsigned char* data, size_t length) {
    char* out = nullptr;
    size_t out_length = 0;
    cjose_err err{};
    if (!cjose_base64url_encode(data, length, &out, &out_length, &err)) return {};
    std::string text(out, out_length);
    cjose_get_dealloc()(out);
    return text;
}

std::string bn_base64url(const BIGNUM* bn, int width = 0) {
    std::vector<unsigned char> bytes(size_t(std::max(BN_num_bytes(bn), width)));
    if (width > 0 ? BN_bn2binpad(bn, bytes.data(), width) < 0 : BN_bn2bin(bn, bytes.data()) < 0)
        return {};
    return base64url(bytes.data(), bytes.size());
}

// The JWK (as JSON) of an RSA or EC P-256 public key; empty with why set when it is neither.
std::string jwk_json_of(EVP_PKEY* key, std::string& why) {
    if (EVP_PKEY_is_a(key, "RSA")) {
        BIGNUM* n = nullptr;
        BIGNUM* e = nullptr;
        EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n);
        EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e);
        BnPtr n_owned(n), e_owned(e);
        if (!n || !e) {
            why = "the RSA key has no modulus or exponent";
            return {};
        }
        return json{{"kty", "RSA"}, {"n", bn_base64url(n)}, {"e", bn_base64url(e)}}.dump();
    }
    if (EVP_PKEY_is_a(key, "EC")) {
        char group[64] = {};
        size_t group_length = 0;
        if (!EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                            &group_length) ||
            std::string_view(group, group_length) != "prime256v1") {
            why = "the EC key is not on curve P-256 (ES256 needs P-256)";
            return {};
        }
        BIGNUM* x = nullptr;
        BIGNUM* y = nullptr;
        EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &x);
        EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &y);
        BnPtr x_owned(x), y_owned(y);
        if (!x || !y) {
            why = "the EC key has no public point";
            return {};
        }
        return json{
            {"kty", "EC"}, {"crv", "P-256"}, {"x", bn_base64url(x, 32)}, {"y", bn_base64url(y, 32)}}
            .dump();
    }
    why = "the key is neither RSA nor EC (only RS256 and ES256 are verified with public keys)";
    return {};
}

JwkPtr import_jwk(const std::string& jwk_json, std::string& why) {
    cjose_err err{};
    JwkPtr jwk(cjose_jwk_import(jwk_json.data(), jwk_json.size(), &err));
    if (!jwk) why = err.message ? err.message : "cjose could not import the key";
    return jwk;
}

} // namespace

struct PublicKeys::Key {
    std::string alg;                // RS256 or ES256: the only algorithm this key verifies
    std::optional<std::string> kid; // a JWKS key's
    bool from_jwks = false;
    JwkPtr jwk;
};

PublicKeys::PublicKeys() = default;
PublicKeys::~PublicKeys() = default;

bool PublicKeys::empty() const {
    return m_keys.empty();
}

size_t PublicKeys::size() const {
    return m_keys.size();
}

void PublicKeys::add_pem_file(const std::string& path) {
    const std::string what = "JWT public key file";
    const std::string hint = "Give a PEM file with an RSA or EC P-256 public key (\"-----BEGIN "
                             "PUBLIC KEY-----\") or a certificate, e.g. from openssl pkey -pubout.";
    const std::string text = read_file(path, what, hint);
    std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(text.data(), int(text.size())));
    PkeyPtr key(bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr);
    if (!key) {
        bio.reset(BIO_new_mem_buf(text.data(), int(text.size())));
        std::unique_ptr<X509, X509Free> certificate(
            bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
        if (certificate) key.reset(X509_get_pubkey(certificate.get()));
    }
    ERR_clear_error(); // the failed attempts' queue is not ours to leave behind
    if (!key) throw key_file_error(what, path, "no PEM public key or certificate in it", hint);
    if (EVP_PKEY_is_a(key.get(), "RSA") && EVP_PKEY_get_bits(key.get()) < kMinRsaBits)
        throw key_file_error(what, path,
                             "the RSA key has " + std::to_string(EVP_PKEY_get_bits(key.get())) +
                                 " bits, fewer than " + std::to_string(kMinRsaBits),
                             hint);
    std::string why;
    std::string jwk_json = jwk_json_of(key.get(), why);
    if (jwk_json.empty()) throw key_file_error(what, path, why, hint);
    auto out = std::make_unique<Key>();
    out->alg = EVP_PKEY_is_a(key.get(), "RSA") ? "RS256" : "ES256";
    out->jwk = import_jwk(jwk_json, why);
    if (!out->jwk) throw key_file_error(what, path, why, hint);
    m_keys.push_back(std::move(out));
}

void PublicKeys::add_jwks_file(const std::string& path) {
    add_jwks(read_file(path, "JWKS file",
                       "Give a file with the JSON document of the identity "
                       "provider's jwks_uri ({\"keys\":[...]})."),
             path);
}

void PublicKeys::add_jwks(std::string_view text, const std::string& name) {
    const std::string what = "JWKS file";
    const std::string hint =
        "Give the JSON document of the identity provider's jwks_uri ({\"keys\":[...]}).";
    json document;
    try {
        document = json::parse(text);
    } catch (const json::exception& e) {
        // nlohmann's message says where: "parse error at line 1, column 5: ..."
        std::string message = e.what();
        if (auto colon = message.find(": "); colon != std::string::npos)
            message = message.substr(colon + 2);
        throw key_file_error(what, name, "not valid JSON: " + message, hint);
    }
    auto keys = document.is_object() ? document.find("keys") : document.end();
    if (!document.is_object() || keys == document.end() || !keys->is_array())
        throw key_file_error(what, name, "no \"keys\" array", hint);
    size_t added = 0;
    size_t index = 0;
    for (const json& key : *keys) {
        const std::string which = "key " + std::to_string(index++);
        auto string_member = [&](const char* member) -> std::optional<std::string> {
            auto it = key.find(member);
            if (it == key.end()) return std::nullopt;
            if (!it->is_string())
                throw key_file_error(
                    what, name, which + " has a \"" + member + "\" that is not a string", hint);
            return it->get<std::string>();
        };
        if (!key.is_object()) throw key_file_error(what, name, which + " is not an object", hint);
        if (key.contains("d"))
            throw key_file_error(what, name, which + " holds a private key",
                                 "Give the public keys only (the document of the provider's "
                                 "jwks_uri): pgsync-serve never signs with them.");
        const auto kty = string_member("kty");
        const auto use = string_member("use");
        const auto alg = string_member("alg");
        const auto crv = string_member("crv");
        auto kid = string_member("kid");
        if (use && *use != "sig") continue; // an encryption key
        std::string bound;
        if (kty == "RSA" && (!alg || *alg == "RS256"))
            bound = "RS256";
        else if (kty == "EC" && crv == "P-256" && (!alg || *alg == "ES256"))
            bound = "ES256";
        else
            continue; // another algorithm, curve or key type (a JWKS never carries a secret)
        std::string why;
        auto out = std::make_unique<Key>();
        out->alg = bound;
        out->kid = std::move(kid);
        out->from_jwks = true;
        out->jwk = import_jwk(key.dump(), why);
        if (!out->jwk) throw key_file_error(what, name, which + ": " + why, hint);
        if (bound == "RS256") {
            cjose_err err{};
            const size_t bits = cjose_jwk_get_keysize(out->jwk.get(), &err);
            if (bits < size_t(kMinRsaBits))
                throw key_file_error(what, name,
                                     which + " is an RSA key of " + std::to_string(bits) +
                                         " bits, fewer than " + std::to_string(kMinRsaBits),
                                     hint);
        }
        m_keys.push_back(std::move(out));
        ++added;
    }
    if (added == 0) throw key_file_error(what, name, "no RS256 or ES256 signing key in it", hint);
}

std::string PublicKeys::verify(std::string_view token, std::string_view alg,
                               const std::optional<std::string>& kid) const {
    std::vector<const Key*> candidates;
    const Key* only_jwks_key = nullptr;
    size_t jwks_keys_of_alg = 0;
    bool any_of_alg = false;
    for (const auto& key : m_keys) {
        if (key->alg != alg) continue;
        any_of_alg = true;
        if (!key->from_jwks) {
            candidates.push_back(key.get()); // the operator's one key: whatever the kid
        } else {
            ++jwks_keys_of_alg;
            only_jwks_key = key.get();
            if (kid && key->kid == kid) candidates.push_back(key.get());
        }
    }
    if (!kid && jwks_keys_of_alg == 1) candidates.push_back(only_jwks_key);
    if (candidates.empty()) {
        if (!any_of_alg) return "no key configured for JWT algorithm \"" + std::string(alg) + "\"";
        if (kid) return "no " + std::string(alg) + " key with kid \"" + *kid + "\"";
        return "token has no \"kid\" to choose among " + std::to_string(jwks_keys_of_alg) + " " +
               std::string(alg) + " keys";
    }
    const std::string compact(token);
    for (const Key* key : candidates) {
        // A fresh import per key: cjose keeps the digest of a verification in the JWS.
        cjose_err err{};
        JwsPtr jws(cjose_jws_import(compact.data(), compact.size(), &err));
        if (!jws) return "malformed token: " + std::string(err.message ? err.message : "not a JWS");
        if (cjose_jws_verify(jws.get(), key->jwk.get(), &err)) return {};
    }
    ERR_clear_error();
    return "bad signature";
}

} // namespace pgsync::serve
