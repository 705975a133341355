// Who may open a WebSocket: without tokens only loopback pages on a loopback Host (no "null", no
// rebinding); with tokens, any page unless --allow-origin lists some. Refusals are HTML-safe.
#include "serve/access/origin.h"

#include <catch2/catch.hpp>

using namespace pgsync::serve;

TEST_CASE("origin: insecure mode admits loopback pages and hosts only", "[serve]") {
    OriginPolicy policy{true, {"https://app.example.org"}};
    const char* host = "127.0.0.1:8080";
    CHECK(refuse_origin(policy, "", host) == nullptr);
    CHECK(refuse_origin(policy, "http://127.0.0.1:8080", host) == nullptr);
    CHECK(refuse_origin(policy, "http://localhost", host) == nullptr);
    CHECK(refuse_origin(policy, "http://[::1]:3000", host) == nullptr);
    CHECK(refuse_origin(policy, "https://app.example.org", host) == nullptr);
    CHECK(refuse_origin(policy, "null", host) != nullptr);
    CHECK(refuse_origin(policy, "https://evil.example", host) != nullptr);
    CHECK(refuse_origin(policy, "http://127.0.0.1.evil.example", host) != nullptr);
    CHECK(refuse_origin(policy, "http://localhost.evil.example:80", host) != nullptr);
    CHECK(refuse_origin(policy, "", "evil.example:8080") != nullptr);
    CHECK(refuse_origin(policy, "", "localhost:8080") == nullptr);
    CHECK(refuse_origin(policy, "", "[::1]:8080") == nullptr);
}

TEST_CASE("origin: with tokens, an allow list restricts pages, none admits all", "[serve]") {
    CHECK(refuse_origin({false, {}}, "https://any.example", "sync.example.com") == nullptr);
    OriginPolicy listed{false, {"https://app.example.org"}};
    CHECK(refuse_origin(listed, "https://APP.example.org", "sync.example.com") == nullptr);
    CHECK(refuse_origin(listed, "https://other.example.org", "sync.example.com") != nullptr);
    CHECK(refuse_origin(listed, "", "sync.example.com") == nullptr);
}

TEST_CASE("origin: loopback hosts and HTML escaping", "[serve]") {
    CHECK(is_loopback_host("127.0.0.1"));
    CHECK(is_loopback_host("127.255.0.9"));
    CHECK(is_loopback_host("::1"));
    CHECK(is_loopback_host("[::1]"));
    CHECK(is_loopback_host("LocalHost"));
    CHECK_FALSE(is_loopback_host("128.0.0.1"));
    CHECK_FALSE(is_loopback_host("localhost.example"));
    CHECK_FALSE(is_loopback_host(""));
    CHECK(html_escape("<script>\"x\" & 'y'</script>") ==
          "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;");
}
