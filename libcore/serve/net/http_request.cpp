// Reading lws's parsed request headers.
#include "serve/net/http_request.h"

#include <strings.h>

namespace pgsync::serve {

std::string request_header(lws* wsi, lws_token_indexes token) {
    int length = lws_hdr_total_length(wsi, token);
    if (length <= 0 || length > kMaxHeaderBytes) return {};
    std::string value(size_t(length) + 1, '\0');
    int copied = lws_hdr_copy(wsi, value.data(), length + 1, token);
    if (copied < 0) return {};
    value.resize(size_t(copied));
    return value;
}

std::vector<std::pair<std::string, std::string>> request_query(lws* wsi, size_t max_params) {
    std::vector<std::pair<std::string, std::string>> out;
    static thread_local char buf[kMaxHeaderBytes];
    for (int i = 0; size_t(i) < max_params; ++i) {
        int n = lws_hdr_copy_fragment(wsi, buf, sizeof buf, WSI_TOKEN_HTTP_URI_ARGS, i);
        if (n < 0) break;
        std::string_view arg(buf, size_t(n));
        size_t eq = arg.find('=');
        if (eq == std::string_view::npos)
            out.emplace_back(std::string(arg), std::string());
        else
            out.emplace_back(std::string(arg.substr(0, eq)), std::string(arg.substr(eq + 1)));
    }
    return out;
}

std::string request_query_value(lws* wsi, std::string_view name) {
    static thread_local char buf[kMaxHeaderBytes];
    for (int i = 0;; ++i) {
        int n = lws_hdr_copy_fragment(wsi, buf, sizeof buf, WSI_TOKEN_HTTP_URI_ARGS, i);
        if (n < 0) return {};
        std::string_view arg(buf, size_t(n));
        if (arg.size() > name.size() && arg.substr(0, name.size()) == name &&
            arg[name.size()] == '=')
            return std::string(arg.substr(name.size() + 1));
    }
}

std::string request_bearer(lws* wsi) {
    std::string value = request_header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    if (value.size() > 7 && strncasecmp(value.c_str(), "Bearer ", 7) == 0) return value.substr(7);
    return {};
}

} // namespace pgsync::serve
