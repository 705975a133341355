// The public keys pgsync-serve verifies an identity provider's tokens with: an RSA or EC P-256 key
// from a PEM file, and the keys of a JWKS file. Each key verifies exactly one algorithm (RSA:
// RS256, EC P-256: ES256), so a token can never pick how its key is used (the HS/RS confusion).
// Signatures are checked by cjose; the keys are read once, at start, and only read after.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgsync::serve {

class PublicKeys {
public:
    PublicKeys();
    ~PublicKeys();
    PublicKeys(const PublicKeys&) = delete;
    PublicKeys& operator=(const PublicKeys&) = delete;

    // Adds the key of a PEM file (SubjectPublicKeyInfo, or an X.509 certificate). Throws
    // pgsync::Error (exit 2) naming the file when it cannot be read, parsed, or is not RSA or
    // EC P-256.
    void add_pem_file(const std::string& path);
    // Adds the signing keys of a JWKS file ({"keys":[{kty,kid,alg?,n,e | crv,x,y}]}). Keys for
    // encryption ("use":"enc") or of another type, curve or algorithm are skipped; a file without
    // one usable key, or a key holding a private part, is an error (pgsync::Error, exit 2).
    void add_jwks_file(const std::string& path);
    // Parses a JWKS document (add_jwks_file's check; name is what messages call it).
    void add_jwks(std::string_view text, const std::string& name);

    bool empty() const;
    size_t size() const;

    // Checks the signature of a compact token whose header said alg (RS256 or ES256) and kid
    // (none: nullopt). Candidates: the PEM key when of alg, and the JWKS's keys of alg with that
    // kid (without a kid: the JWKS's only key of alg, if it has exactly one). Empty when one of
    // them verifies, else why not ("bad signature", "no key with kid \"k1\" for RS256", ...).
    std::string verify(std::string_view token, std::string_view alg,
                       const std::optional<std::string>& kid) const;

    struct Key; // public for jwt_keys.cpp's helpers

private:
    std::vector<std::unique_ptr<Key>> m_keys;
};

} // namespace pgsync::serve
