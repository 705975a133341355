// Origin and Host checks; see serve/access/origin.h.
#include "serve/access/origin.h"

#include <arpa/inet.h>
#include <strings.h>

namespace pgsync::serve {

namespace {

// "host" from "host:port", "[v6]:port", "[v6]" or "host".
std::string_view host_part(std::string_view authority) {
    if (!authority.empty() && authority.front() == '[') {
        size_t close = authority.find(']');
        return close == std::string_view::npos ? std::string_view{}
                                               : authority.substr(1, close - 1);
    }
    size_t colon = authority.rfind(':');
    if (colon != std::string_view::npos && authority.find(':') == colon)
        return authority.substr(0, colon);
    return authority;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

} // namespace

bool is_loopback_host(std::string_view host) {
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    if (iequals(host, "localhost") || iequals(host, "localhost.")) return true;
    const std::string text(host);
    in_addr v4{};
    if (inet_pton(AF_INET, text.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
    in6_addr v6{};
    return inet_pton(AF_INET6, text.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

const char* refuse_origin(const OriginPolicy& policy, std::string_view origin,
                          std::string_view host) {
    if (policy.insecure && !is_loopback_host(host_part(host)))
        return "the Host header is not a loopback name or address (without authentication only "
               "local pages may connect)";
    if (origin.empty()) return nullptr;
    for (const auto& allowed : policy.allow_origins)
        if (iequals(origin, allowed)) return nullptr;
    if (policy.insecure) {
        for (std::string_view scheme : {"http://", "https://"})
            if (origin.size() > scheme.size() && iequals(origin.substr(0, scheme.size()), scheme) &&
                is_loopback_host(host_part(origin.substr(scheme.size()))))
                return nullptr;
        return "the page's origin is not a loopback one (without authentication only local pages "
               "may connect; serve the page from 127.0.0.1 or list it with --allow-origin)";
    }
    if (!policy.allow_origins.empty()) return "the page's origin is not one of --allow-origin";
    return nullptr;
}

std::string html_escape(std::string_view text) {
    std::string out;
    for (char c : text) {
        switch (c) {
        case '<':
            out += "&lt;";
            break;
        case '>':
            out += "&gt;";
            break;
        case '&':
            out += "&amp;";
            break;
        case '"':
            out += "&quot;";
            break;
        case '\'':
            out += "&#39;";
            break;
        default:
            out += static_cast<unsigned char>(c) < 0x20 ? '?' : c;
        }
    }
    return out;
}

} // namespace pgsync::serve
