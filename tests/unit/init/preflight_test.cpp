// List settings such as output_plugin_libraries are split into plain plugin names.
#include "init/preflight.h"

#include <catch2/catch.hpp>

using pgsync::init::split_setting_list;

TEST_CASE("list settings split on commas with quotes and spaces removed", "[init]") {
    using V = std::vector<std::string>;
    CHECK(split_setting_list("pgoutput, test_decoding") == V{"pgoutput", "test_decoding"});
    CHECK(split_setting_list("'pgoutput', 'test_decoding', 'wal2json'") ==
          V{"pgoutput", "test_decoding", "wal2json"});
    CHECK(split_setting_list("\"pgoutput\"") == V{"pgoutput"});
    CHECK(split_setting_list("") == V{});
    CHECK(split_setting_list(" , ") == V{});
    CHECK(split_setting_list("test_decoding") == V{"test_decoding"});
}
