// pgsync-serve: filtered, resumable change streams fanned out to many WebSocket clients.
#include "serve/server.h"
#include "tool_main.h"

int main(int argc, char** argv) {
    return pgsync::tool::run("pgsync-serve", [&] {
        CLI::App app{"Serve filtered, resumable change streams over WebSocket.", "pgsync-serve"};
        pgsync::tool::CommonFlags common;
        pgsync::tool::add_common_flags(app, common);
        if (!pgsync::tool::parse(app, argc, argv)) return 0;
        pgsync::serve::ServeOptions options;
        pgsync::serve::run_server(options);
        return 0;
    });
}
