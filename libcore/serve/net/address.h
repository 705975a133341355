// The listening address: "HOST:PORT" text split, and a host name resolved to the address
// libwebsockets binds (it takes addresses or interface names, not host names).
#pragma once

#include <optional>
#include <string>

namespace pgsync::serve {

struct ListenAddress {
    std::string host; // without the brackets of "[v6]:port"
    int port = 0;
};

// "host:port" or "[v6]:port"; nullopt when malformed or the port is not 0-65535.
std::optional<ListenAddress> parse_listen_address(const std::string& text);

// An IPv4 or IPv6 address as given, or the first address a name resolves to (IPv4 first).
// nullopt when it resolves to nothing; error then says why.
std::optional<std::string> resolve_host(const std::string& host, std::string& error);

} // namespace pgsync::serve
