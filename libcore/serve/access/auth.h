// Who a client is and what it may see: HS256 JWTs for /v1/ws, API keys for /v1/stream. A token's
// claims name the tables a client may subscribe to and, per table, a mandatory filter that the
// server ANDs into the client's expression tree (never into its text), so a client can narrow but
// never widen what it sees (cdc-hard-cases F5).
//
// Claims: {"sub": "...", "exp": 1767225600, "nbf": ..., "pgsync": {"tables": {
//            "public.messages": {"where": "group_name = $1", "params": ["party_chat"]},
//            "public.groups": {}}}}
// A table key is "schema.name" (or "name" for public) with PostgreSQL identifier rules; "*" grants
// every published table with no mandatory filter.
#pragma once

#include <cstdint>
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
};

struct AuthResult {
    std::optional<Principal> principal;
    std::string error; // when refused: "token expired", "bad signature", "malformed token: …"
};

class JwtVerifier {
public:
    explicit JwtVerifier(std::string secret) : m_secret(std::move(secret)) {}
    // Checks the header (alg HS256 only; "none" and every other alg refused), the signature
    // (constant-time), exp and nbf against now (Unix seconds, 30 s leeway for nbf only) and the
    // claims' shape.
    AuthResult verify(std::string_view token, int64_t now) const;

private:
    std::string m_secret;
};

// Constant-time comparison of an API key.
bool api_key_matches(std::string_view given, std::string_view expected);

// Signs claims (a JSON object text) as an HS256 JWT: for tests, examples and the quickstart.
std::string sign_hs256(std::string_view claims_json, std::string_view secret);

} // namespace pgsync::serve
