// pgsync-stream: placeholder until the tool lands (replaced shortly).
#include "tool_main.h"

int main(int argc, char** argv) {
    return pgsync::tool::run("pgsync-stream", [&] {
        CLI::App app{"pgsync-stream", "pgsync-stream"};
        pgsync::tool::CommonFlags common;
        pgsync::tool::add_common_flags(app, common);
        if (!pgsync::tool::parse(app, argc, argv)) return 0;
        return 2;
    });
}
