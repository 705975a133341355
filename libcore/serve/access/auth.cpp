// JWT verification and API-key comparison for pgsync-serve: base64url, HMAC-SHA256 through
// libcrypto (RS256/ES256 in jwt_keys.cpp), and the grants claim turned into TableGrants. Every
// refusal is an AuthResult error, never an exception: nlohmann/json's exceptions stop here.
#include "serve/access/auth.h"

#include "config/table_name.h"
#include "serve/access/jwt_keys.h"
#include "serve/access/strict_json.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <set>

namespace pgsync::serve {

namespace {

using nlohmann::json;

constexpr std::size_t kMaxTokenBytes = 16 * 1024;
constexpr int64_t kNotBeforeLeewaySeconds = 30;
// Claimed times are clamped to this so that adding the leeway can never overflow.
constexpr int64_t kTimeLimit = int64_t(1) << 62;
constexpr std::string_view kHeaderHs256 = R"({"alg":"HS256","typ":"JWT"})";

constexpr char kBase64UrlAlphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int base64url_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

// Unpadded base64url only (RFC 7515 §2), and only its canonical form: the unused low bits of the
// last character must be zero, so that exactly one text decodes to given bytes and flipping any
// character of a signature is always noticed.
std::optional<std::string> base64url_decode(std::string_view text) {
    if (text.size() % 4 == 1) return std::nullopt;
    std::string out;
    out.reserve(text.size() * 3 / 4);
    uint32_t bits = 0;
    int bit_count = 0;
    for (char c : text) {
        int value = base64url_value(c);
        if (value < 0) return std::nullopt;
        bits = (bits << 6) | uint32_t(value);
        bit_count += 6;
        if (bit_count >= 8) {
            bit_count -= 8;
            out += char((bits >> bit_count) & 0xFF);
        }
    }
    if ((bits & ((1u << bit_count) - 1)) != 0) return std::nullopt;
    return out;
}

using Hs256Digest = std::array<unsigned char, 32>;

Hs256Digest hmac_sha256(std::string_view key, std::string_view data) {
    static const unsigned char kEmpty = 0;
    Hs256Digest digest{};
    unsigned int length = 0;
    const void* key_bytes = key.empty() ? static_cast<const void*>(&kEmpty) : key.data();
    HMAC(EVP_sha256(), key_bytes, int(key.size()),
         reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest.data(), &length);
    return digest;
}

AuthResult refuse(std::string error) {
    return AuthResult{std::nullopt, std::move(error)};
}

AuthResult malformed(std::string_view why) {
    return refuse("malformed token: " + std::string(why));
}

// Parses one decoded token part (what: "header" or "payload") as a JSON object. Refuses an object
// with a duplicate key: libraries disagree on which of the two wins, and a token must mean the same
// to its issuer and to us.
std::optional<json> parse_object(const std::string& text, std::string_view what,
                                 std::string& error) {
    StrictJson parsed = parse_strict_json(text);
    if (!parsed.duplicate.empty())
        error =
            "malformed token: " + std::string(what) + " has key \"" + parsed.duplicate + "\" twice";
    else if (!parsed.value)
        error = "malformed token: " + std::string(what) + " is not valid JSON";
    else if (!parsed.value->is_object())
        error = "malformed token: " + std::string(what) + " is not a JSON object";
    else
        return std::move(parsed.value);
    return std::nullopt;
}

// A NumericDate (RFC 7519 §2): any JSON number of seconds, fractions rounded down.
std::optional<int64_t> numeric_date(const json& value) {
    if (value.is_number_unsigned())
        return int64_t(std::min<uint64_t>(value.get<uint64_t>(), uint64_t(kTimeLimit)));
    if (value.is_number_integer())
        return std::clamp<int64_t>(value.get<int64_t>(), -kTimeLimit, kTimeLimit);
    if (value.is_number_float()) {
        double seconds = std::floor(value.get<double>());
        if (seconds >= double(kTimeLimit)) return kTimeLimit;
        if (seconds <= -double(kTimeLimit)) return -kTimeLimit;
        return int64_t(seconds);
    }
    return std::nullopt;
}

// A $n value as the text PostgreSQL will be handed: strings as they are, numbers as their JSON
// text, booleans as true/false, null as SQL NULL.
std::optional<std::optional<std::string>> param_text(const json& value) {
    if (value.is_string()) return std::optional<std::string>(value.get<std::string>());
    if (value.is_number() || value.is_boolean()) return std::optional<std::string>(value.dump());
    if (value.is_null()) return std::optional<std::string>();
    return std::nullopt;
}

// Whether the claims name the configured issuer and audience; empty when they do (or none is set).
std::string check_issuer_and_audience(const json& claims, const JwtOptions& options) {
    if (!options.issuer.empty()) {
        auto iss = claims.find("iss");
        if (iss == claims.end()) return "token has no \"iss\" (issuer)";
        if (!iss->is_string() || iss->get<std::string>() != options.issuer)
            return "token issuer " + iss->dump() + " is not \"" + options.issuer + "\"";
    }
    if (!options.audience.empty()) {
        auto aud = claims.find("aud");
        if (aud == claims.end()) return "token has no \"aud\" (audience)";
        bool matches = aud->is_string() && aud->get<std::string>() == options.audience;
        if (aud->is_array())
            for (const json& one : *aud)
                matches =
                    matches || (one.is_string() && one.get<std::string>() == options.audience);
        if (!matches)
            return "token audience " + aud->dump() + " does not name \"" + options.audience + "\"";
    }
    return {};
}

AuthResult read_claims(const json& claims, int64_t now, const JwtOptions& options) {
    Principal principal;
    if (auto it = claims.find("sub"); it != claims.end()) {
        if (!it->is_string()) return malformed("\"sub\" is not a string");
        principal.subject = it->get<std::string>();
    }
    if (auto it = claims.find("exp"); it != claims.end()) {
        auto exp = numeric_date(*it);
        if (!exp) return malformed("\"exp\" is not a number");
        if (now >= *exp) return refuse("token expired");
        principal.expires_at = *exp;
    }
    if (auto it = claims.find("nbf"); it != claims.end()) {
        auto nbf = numeric_date(*it);
        if (!nbf) return malformed("\"nbf\" is not a number");
        if (*nbf > now + kNotBeforeLeewaySeconds) return refuse("token not yet valid");
    }
    if (std::string error = check_issuer_and_audience(claims, options); !error.empty())
        return refuse(std::move(error));
    const std::string what = options.claim + ".tables";
    auto grants = claims.find(options.claim);
    if (grants == claims.end()) return refuse("token has no " + what + " claim");
    if (!grants->is_object()) return malformed("\"" + options.claim + "\" claim is not an object");
    auto tables = grants->find("tables");
    auto channels = grants->find("channels");
    // A token may grant channels only (pgsync.yaml tables[].channels): then "tables" may be left out.
    if (tables == grants->end() && channels == grants->end())
        return refuse("token has no " + what + " claim");
    if (tables != grants->end())
        if (std::string error = read_table_grants(*tables, what, principal); !error.empty())
            return malformed(error);
    if (channels != grants->end())
        if (std::string error =
                read_channel_grants(*channels, options.claim + ".channels", principal);
            !error.empty())
            return malformed(error);
    return AuthResult{std::move(principal), {}};
}

} // namespace

std::string base64url_encode(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() * 4 + 2) / 3);
    uint32_t bits = 0;
    int bit_count = 0;
    for (unsigned char c : bytes) {
        bits = (bits << 8) | c;
        bit_count += 8;
        while (bit_count >= 6) {
            bit_count -= 6;
            out += kBase64UrlAlphabet[(bits >> bit_count) & 0x3F];
        }
    }
    if (bit_count > 0) out += kBase64UrlAlphabet[(bits << (6 - bit_count)) & 0x3F];
    return out;
}

std::string read_channel_grants(const json& channels, std::string_view what,
                                Principal& principal) {
    if (!channels.is_array()) return std::string(what) + " is not an array of channel names";
    for (const auto& name : channels) {
        if (!name.is_string() || name.get_ref<const std::string&>().empty())
            return std::string(what) + " holds a name that is not a non-empty string";
        principal.channels.push_back(name.get<std::string>());
    }
    return {};
}

bool grants_channel(const Principal& principal, std::string_view channel) {
    if (principal.all_tables) return true;
    for (const auto& name : principal.channels)
        if (name == channel) return true;
    return false;
}

// Fills principal.tables (or all_tables) from the claim; returns an error, empty when well formed.
// Strict on purpose: an unknown key ("filter" for "where") or a second spelling of one table must
// not silently grant a table without the filter its issuer meant.
std::string read_table_grants(const json& tables, std::string_view what_view,
                              Principal& principal) {
    const std::string what(what_view);
    if (tables.is_string() && tables.get<std::string>() == "*") {
        principal.all_tables = true;
        return {};
    }
    if (!tables.is_object()) return what + " is not an object or \"*\"";
    for (const auto& [key, grant] : tables.items()) {
        if (!grant.is_object()) return "grant for table \"" + key + "\" is not an object";
        if (key == "*") {
            if (tables.size() != 1) return "\"*\" cannot be combined with other tables in " + what;
            if (!grant.empty()) return "the \"*\" grant takes no filter";
            principal.all_tables = true;
            return {};
        }
        auto name = config::parse_table_name(key);
        if (!name) return "invalid table name \"" + key + "\" in " + what;
        TableGrant out{name->schema, name->name, {}, {}};
        for (const auto& [field, value] : grant.items()) {
            if (field == "where") {
                if (!value.is_string())
                    return "\"where\" for table \"" + key + "\" is not a string";
                out.where = value.get<std::string>();
            } else if (field == "params") {
                if (!value.is_array())
                    return "\"params\" for table \"" + key + "\" is not an array";
                for (const json& param : value) {
                    auto text = param_text(param);
                    if (!text)
                        return "a parameter for table \"" + key +
                               "\" is not a string, number, boolean or null";
                    out.params.push_back(std::move(*text));
                }
            } else {
                return "unknown key \"" + field + "\" for table \"" + key + "\"";
            }
        }
        for (const TableGrant& earlier : principal.tables)
            if (earlier.schema == out.schema && earlier.name == out.name)
                return "table \"" + out.schema + "." + out.name + "\" is granted twice in " + what;
        principal.tables.push_back(std::move(out));
    }
    return {};
}

JwtVerifier::JwtVerifier(std::string secret) {
    m_options.secret = std::move(secret);
}

JwtVerifier::JwtVerifier(JwtOptions options) : m_options(std::move(options)) {
    if (m_options.public_key_file.empty() && m_options.jwks_file.empty()) return;
    auto keys = std::make_unique<PublicKeys>();
    if (!m_options.public_key_file.empty()) keys->add_pem_file(m_options.public_key_file);
    if (!m_options.jwks_file.empty()) keys->add_jwks_file(m_options.jwks_file);
    m_keys = std::move(keys);
}

JwtVerifier::~JwtVerifier() = default;
JwtVerifier::JwtVerifier(JwtVerifier&&) noexcept = default;
JwtVerifier& JwtVerifier::operator=(JwtVerifier&&) noexcept = default;

AuthResult JwtVerifier::verify(std::string_view token, int64_t now) const {
    // An empty secret is public knowledge: anyone could sign with it.
    if (m_options.secret.empty() && !m_keys) return refuse("no JWT secret configured");
    if (token.size() > kMaxTokenBytes)
        return refuse("token too long (more than " + std::to_string(kMaxTokenBytes) + " bytes)");

    std::size_t first_dot = token.find('.');
    std::size_t second_dot =
        first_dot == std::string_view::npos ? first_dot : token.find('.', first_dot + 1);
    if (second_dot == std::string_view::npos ||
        token.find('.', second_dot + 1) != std::string_view::npos)
        return malformed("expected three dot-separated parts");
    std::string_view header_part = token.substr(0, first_dot);
    std::string_view payload_part = token.substr(first_dot + 1, second_dot - first_dot - 1);
    std::string_view signature_part = token.substr(second_dot + 1);

    // The header picks the algorithm, so it is read before the signature can be checked; nothing
    // else in it is trusted, and it picks only among the keys configured for that algorithm.
    auto header_text = base64url_decode(header_part);
    if (!header_text) return malformed("header is not base64url");
    std::string error;
    auto header = parse_object(*header_text, "header", error);
    if (!header) return refuse(std::move(error));
    auto alg_member = header->find("alg");
    if (alg_member == header->end()) return malformed("header has no \"alg\"");
    if (!alg_member->is_string()) return malformed("\"alg\" is not a string");
    const std::string alg = alg_member->get<std::string>();
    if (alg != "HS256" && alg != "RS256" && alg != "ES256")
        return refuse("unsupported JWT algorithm \"" + alg + "\"");
    // RFC 7515 §4.1.11: extensions marked critical that we do not implement must be refused.
    if (header->contains("crit")) return refuse("unsupported JWT header \"crit\"");
    std::optional<std::string> kid;
    if (auto it = header->find("kid"); it != header->end()) {
        if (!it->is_string()) return malformed("\"kid\" is not a string");
        kid = it->get<std::string>();
    }

    auto signature = base64url_decode(signature_part);
    if (!signature) return malformed("signature is not base64url");
    if (alg == "HS256") {
        // Only the secret: never a public key's bytes (the HS/RS confusion).
        if (m_options.secret.empty())
            return refuse("no key configured for JWT algorithm \"HS256\"");
        Hs256Digest expected = hmac_sha256(m_options.secret, token.substr(0, second_dot));
        if (signature->size() != expected.size() ||
            CRYPTO_memcmp(signature->data(), expected.data(), expected.size()) != 0)
            return refuse("bad signature");
    } else {
        if (!m_keys) return refuse("no key configured for JWT algorithm \"" + alg + "\"");
        if (std::string why = m_keys->verify(token, alg, kid); !why.empty())
            return refuse(std::move(why));
    }

    auto payload_text = base64url_decode(payload_part);
    if (!payload_text) return malformed("payload is not base64url");
    auto claims = parse_object(*payload_text, "payload", error);
    if (!claims) return refuse(std::move(error));
    try {
        return read_claims(*claims, now, m_options);
    } catch (const json::exception& e) {
        return malformed(e.what());
    }
}

bool api_key_matches(std::string_view given, std::string_view expected) {
    if (expected.empty()) return false; // no key configured matches nothing
    // Comparing digests keeps the time independent of both the contents and the lengths.
    std::array<unsigned char, SHA256_DIGEST_LENGTH> given_digest{};
    std::array<unsigned char, SHA256_DIGEST_LENGTH> expected_digest{};
    SHA256(reinterpret_cast<const unsigned char*>(given.data()), given.size(), given_digest.data());
    SHA256(reinterpret_cast<const unsigned char*>(expected.data()), expected.size(),
           expected_digest.data());
    return CRYPTO_memcmp(given_digest.data(), expected_digest.data(), given_digest.size()) == 0;
}

std::string sign_hs256(std::string_view claims_json, std::string_view secret) {
    std::string signing_input =
        base64url_encode(kHeaderHs256) + "." + base64url_encode(claims_json);
    Hs256Digest digest = hmac_sha256(secret, signing_input);
    return signing_input + "." +
           base64url_encode(
               std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

} // namespace pgsync::serve
