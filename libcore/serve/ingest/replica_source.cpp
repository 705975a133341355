// Parsing --source and deriving a replica's epoch.
#include "serve/ingest/replica_source.h"

#include <array>
#include <cstdio>
#include <openssl/sha.h>

namespace pgsync::serve {

std::optional<ReplicaSource> parse_replica_source(std::string_view text, std::string& why) {
    constexpr std::string_view kScheme = "nats://";
    if (!text.starts_with(kScheme)) {
        why = "it does not start with nats://";
        return std::nullopt;
    }
    const std::string_view rest = text.substr(kScheme.size());
    const size_t slash = rest.rfind('/');
    if (slash == std::string_view::npos || slash + 1 == rest.size()) {
        why = "it names no stream after the servers";
        return std::nullopt;
    }
    const std::string_view servers = rest.substr(0, slash);
    const std::string_view stream = rest.substr(slash + 1);
    // JetStream stream names: no white space, '.', '*', '>', path separators.
    for (char c : stream)
        if (c == '.' || c == '*' || c == '>' || c == '/' || c == '\\' || c <= ' ' || c == 0x7f) {
            why = "the stream name \"" + std::string(stream) + "\" holds a character NATS forbids";
            return std::nullopt;
        }
    ReplicaSource source;
    source.stream = std::string(stream);
    size_t begin = 0;
    while (begin <= servers.size()) {
        size_t comma = servers.find(',', begin);
        if (comma == std::string_view::npos) comma = servers.size();
        std::string_view server = servers.substr(begin, comma - begin);
        if (server.starts_with(kScheme)) server.remove_prefix(kScheme.size());
        if (server.empty() || server.find('/') != std::string_view::npos) {
            why = "a server in it is empty or malformed";
            return std::nullopt;
        }
        if (!source.urls.empty()) source.urls += ',';
        source.urls += std::string(kScheme) + std::string(server);
        begin = comma + 1;
    }
    return source;
}

std::string replica_epoch(const std::string& stream, int64_t created_ns) {
    const std::string input = "nats:" + stream + ":" + std::to_string(created_ns);
    std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
    SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest.data());
    char hex[17];
    for (int i = 0; i < 8; ++i)
        std::snprintf(hex + 2 * i, 3, "%02X", digest[size_t(i)]);
    return std::string(hex, 16);
}

} // namespace pgsync::serve
