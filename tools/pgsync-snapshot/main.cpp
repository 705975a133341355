// pgsync-snapshot: placeholder main until the tool lands (replaced in the next commit).
#include "tool_main.h"

int main(int argc, char** argv) {
    return pgsync::tool::run("pgsync-snapshot", [&] {
        CLI::App app{"pgsync-snapshot", "pgsync-snapshot"};
        pgsync::tool::CommonFlags common;
        pgsync::tool::add_common_flags(app, common);
        if (!pgsync::tool::parse(app, argc, argv)) return 0;
        return 0;
    });
}
