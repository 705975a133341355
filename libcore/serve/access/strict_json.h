// JSON from an untrusted party (a token's parts, a token request), parsed so that it means one
// thing: an object that names a key twice is refused, since libraries disagree on which of the
// two wins and the issuer and the verifier must read the same grants.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace pgsync::serve {

struct StrictJson {
    std::optional<nlohmann::json> value; // the parsed value, unless refused
    std::string duplicate;               // refused: the key given twice in one object
    std::string syntax_error;            // refused: nlohmann's words, after its "[json...]: "
};

StrictJson parse_strict_json(std::string_view text);

} // namespace pgsync::serve
