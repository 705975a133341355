// pgsync-config: placeholder main until the tool lands (replaced in the next commits).
#include "tool_main.h"

int main(int argc, char** argv) {
    return pgsync::tool::run("pgsync-config", [&] {
        CLI::App app{"pgsync-config", "pgsync-config"};
        pgsync::tool::CommonFlags common;
        pgsync::tool::add_common_flags(app, common);
        if (!pgsync::tool::parse(app, argc, argv)) return 0;
        return 2;
    });
}
