// Who a client is and what it may see: JWTs for /v1/ws (HS256 with the server's secret, RS256 and
// ES256 with an identity provider's public keys), API keys for /v1/stream. A token's
// claims name the tables a client may subscribe to and, per table, a mandatory filter that the
// server ANDs into the client's expression tree (never into its text), so a client can narrow but
// never widen what it sees (cdc-hard-cases F5).
//
// Claims: {"sub": "...", "exp": 1767225600, "nbf": ..., "pgsync": {"tables": {
//            "public.messages": {"where": "group_name = $1", "params": ["party_chat"]},
//            "public.groups": {}}}}
// A table key is "schema.name" (or "name" for public) with PostgreSQL identifier rules; "*" grants
// every published table with no mandatory filter. The claim's name ("pgsync") is configurable, for
// providers that namespace custom claims ("https://example.com/pgsync").
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgsync::serve {

struct TableGrant {
    std::string schema;
    std::string name;                               // both unquoted, case as in the catalog
    std::string where;                              // empty: no mandatory filter
    std::vector<std::optional<std::string>> params; // its $n values as text
};

struct Principal {
    std::string subject;
    int64_t expires_at = 0; // Unix seconds; 0: no expiry (API keys, --insecure)
    bool all_tables = false;
    bool api_key = false; // authenticated by the API key (a backend), not by a token
    std::vector<TableGrant> tables;
    // Channels (pgsync.yaml tables[].channels) by name: {"pgsync": {"channels": ["chat-added"]}}.
    // A table's grant does not grant its channels (a channel has no room for the grant's
    // mandatory filter); "tables": "*" grants every channel too.
    std::vector<std::string> channels;
};

struct AuthResult {
    std::optional<Principal> principal;
    std::string error; // when refused: "token expired", "bad signature", "malformed token: …"
};

class PublicKeys;

// What tokens are verified with and what they must say. Any combination of the three keys.
struct JwtOptions {
    std::string secret;           // HS256 (and only HS256); empty: none
    std::string public_key_file;  // PEM: an RSA key (RS256 only) or an EC P-256 key (ES256 only)
    std::string jwks_file;        // {"keys":[...]}: RS256 and ES256 keys, chosen by kid
    std::string claim = "pgsync"; // the claim holding {"tables": ...}
    std::string issuer;           // when set, "iss" must equal it
    std::string audience;         // when set, "aud" must equal it or be an array holding it
};

class JwtVerifier {
public:
    // HS256 with secret only, the grants in "pgsync".
    explicit JwtVerifier(std::string secret);
    // Reads the key files: throws pgsync::Error (exit 2) naming a file that cannot be read or
    // parsed.
    explicit JwtVerifier(JwtOptions options);
    ~JwtVerifier();
    JwtVerifier(JwtVerifier&&) noexcept;
    JwtVerifier& operator=(JwtVerifier&&) noexcept;

    // Checks the header (alg HS256, RS256 or ES256, each only with a key of its own; "none" and
    // every other alg refused), the signature (HS256 constant-time; RS256/ES256 by cjose), exp
    // and nbf against now (Unix seconds, 30 s leeway for nbf only), iss and aud when configured,
    // and the claims' shape. Safe to call from several threads at once.
    AuthResult verify(std::string_view token, int64_t now) const;

    const JwtOptions& options() const { return m_options; }

private:
    JwtOptions m_options;
    std::unique_ptr<const PublicKeys> m_keys; // null: no public key configured
};

// Reads a tables claim ({"schema.table": {"where": "...", "params": [...]}, ...} or "*") into
// principal's grants. Returns why it is not well formed (naming it as what, e.g. "pgsync.tables"),
// empty when it is. The token issuer checks requests with it, so that what it signs verifies.
std::string read_table_grants(const nlohmann::json& tables, std::string_view what,
                              Principal& principal);

// Reads a channels claim (["chat-added", ...]) into principal.channels; returns why it is not
// well formed, empty when it is.
std::string read_channel_grants(const nlohmann::json& channels, std::string_view what,
                                Principal& principal);

// Whether the principal may subscribe to the channel (granted by name, or every table granted).
bool grants_channel(const Principal& principal, std::string_view channel);

// Constant-time comparison of an API key.
bool api_key_matches(std::string_view given, std::string_view expected);

// Unpadded base64url (RFC 7515 §2), as JWTs carry their parts.
std::string base64url_encode(std::string_view bytes);

// Signs claims (a JSON object text) as an HS256 JWT: for tests, examples and the quickstart.
std::string sign_hs256(std::string_view claims_json, std::string_view secret);

} // namespace pgsync::serve
