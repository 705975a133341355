// Placeholder while the server is being written in this session.
#include "serve/server.h"

#include "util/error.h"

namespace pgsync::serve {
void run_server(const ServeOptions&) { throw Error("pgsync-serve is not built yet"); }
bool is_loopback(const std::string& host) {
    return host == "localhost" || host == "::1" || host.starts_with("127.");
}
} // namespace pgsync::serve
