// The token issuer behind POST /v1/token: an app's backend, holding the API key, asks for a token
// for one of its users and gets an HS256 JWT signed with the server's secret, so that apps need
// not hold the secret. Pure: request JSON in, token or a one-line error out; no I/O.
//
// Request: {"userId":"u42","tables":{"public.messages":{"where":"group_name = $1",
//           "params":["x"]}},"ttl":3600}
// Token claims: {"sub":"u42","iat":now,"exp":now+ttl,"pgsync":{"tables":...}} (plus "iss" and
// "aud" when the verifier wants them), checked with the verifier's own rules, so that every token
// issued verifies.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pgsync::serve {

inline constexpr int64_t kDefaultTokenSeconds = 3600;
inline constexpr int64_t kMaxTokenSeconds = 86400;
inline constexpr size_t kMaxUserIdBytes = 256;

struct TokenIssuerOptions {
    std::string secret;           // HS256; must not be empty
    std::string claim = "pgsync"; // where the grants go (the verifier's --jwt-claim)
    std::string issuer;           // "iss" of every token, when set
    std::string audience;         // "aud" of every token, when set
};

struct IssuedToken {
    std::string token;
    int64_t expires_at = 0; // Unix seconds
};

struct IssueResult {
    std::optional<IssuedToken> issued;
    std::string error; // when refused: one line, e.g. "\"ttl\" must be from 1 to 86400 seconds"
    std::string hint;  // a full sentence, or empty
};

// Checks the request body and signs its token (now: Unix seconds).
IssueResult issue_token(std::string_view body, const TokenIssuerOptions& options, int64_t now);

} // namespace pgsync::serve
