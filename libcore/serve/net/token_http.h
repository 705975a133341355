// TokenHttp: POST /v1/token on one shard's event loop. Takes the request's API key (Authorization:
// Bearer, or x-api-key) and its JSON body (at most 64 kB), and answers with the token issuer's
// (access/token_issuer.h) token or a one-line JSON error. The per-request state is the
// connection's until the request ends or the connection closes (on_closed), whichever is first.
#pragma once

#include "serve/access/token_issuer.h"

#include <string>

struct lws;

namespace pgsync::serve {

struct Metrics;

struct TokenHttpOptions {
    Metrics* metrics = nullptr;
    std::string api_key;       // empty: the endpoint is disabled (no one could call it)
    TokenIssuerOptions issuer; // an empty secret disables the endpoint too
};

struct TokenRequest; // per connection, owned by TokenHttp

class TokenHttp {
public:
    explicit TokenHttp(TokenHttpOptions options);

    // lws callbacks for a connection whose request is /v1/token. Non-zero closes it.
    int on_request(lws* wsi, TokenRequest*& request);
    // The body as it arrives (complete: the end of it).
    int on_body(lws* wsi, TokenRequest* request, const char* data, size_t length, bool complete);
    void on_closed(TokenRequest*& request);

private:
    int finish(lws* wsi, TokenRequest& request);

    TokenHttpOptions m_options;
};

} // namespace pgsync::serve
