// parse_listen_address and resolve_host; see serve/net/address.h.
#include "serve/net/address.h"

#include <arpa/inet.h>
#include <charconv>
#include <netdb.h>

namespace pgsync::serve {

std::optional<ListenAddress> parse_listen_address(const std::string& text) {
    const size_t colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) return std::nullopt;
    ListenAddress out;
    out.host = text.substr(0, colon);
    if (out.host.size() > 2 && out.host.front() == '[' && out.host.back() == ']')
        out.host = out.host.substr(1, out.host.size() - 2);
    const char* first = text.data() + colon + 1;
    const char* last = text.data() + text.size();
    auto [end, error] = std::from_chars(first, last, out.port);
    if (error != std::errc() || end != last || out.port < 0 || out.port > 65535)
        return std::nullopt;
    return out;
}

std::optional<std::string> resolve_host(const std::string& host, std::string& error) {
    in_addr v4{};
    in6_addr v6{};
    if (host.empty() || inet_pton(AF_INET, host.c_str(), &v4) == 1 ||
        inet_pton(AF_INET6, host.c_str(), &v6) == 1)
        return host;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (int rc = getaddrinfo(host.c_str(), nullptr, &hints, &found); rc != 0 || !found) {
        error = gai_strerror(rc);
        return std::nullopt;
    }
    std::string chosen;
    for (int family : {AF_INET, AF_INET6})
        for (addrinfo* a = found; a && chosen.empty(); a = a->ai_next) {
            if (a->ai_family != family) continue;
            char text[INET6_ADDRSTRLEN] = {};
            const void* address =
                family == AF_INET ? static_cast<const void*>(
                                        &reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr)
                                  : static_cast<const void*>(
                                        &reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr);
            if (inet_ntop(family, address, text, sizeof text)) chosen = text;
        }
    freeaddrinfo(found);
    if (chosen.empty()) {
        error = "no IPv4 or IPv6 address";
        return std::nullopt;
    }
    return chosen;
}

} // namespace pgsync::serve
