// Which web pages may open a WebSocket: the Origin and Host checks of an upgrade request. Pure
// functions of the request's header values, so they are unit-tested without a server.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace pgsync::serve {

struct OriginPolicy {
    bool insecure = false;                  // no tokens: only loopback pages and hosts
    std::vector<std::string> allow_origins; // --allow-origin, exact "scheme://host[:port]"
};

// Whether host (a name or an address, IPv6 with or without brackets) is a loopback one:
// 127.0.0.0/8, ::1 or "localhost".
bool is_loopback_host(std::string_view host);

// Null when the upgrade may go on, else the reason to refuse it (403). origin and host are the
// header values, empty when absent. A request without Origin is not from a browser page and is
// judged by its credentials alone. Without tokens (--insecure), a page may connect only from a
// loopback origin or one listed, and the Host must be a loopback name or address, so that a
// public name rebound to 127.0.0.1 (DNS rebinding) does not get in. "null" (file:// pages,
// sandboxed frames of any site) is never a loopback origin. With tokens, a non-empty allow list
// restricts the pages.
const char* refuse_origin(const OriginPolicy& policy, std::string_view origin,
                          std::string_view host);

// Text safe to put in an HTML body (lws's status pages are HTML).
std::string html_escape(std::string_view text);

} // namespace pgsync::serve
