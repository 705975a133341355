// Reads the golden pgoutput captures in tests/data/pgoutput/ (see its README.md): each file is
// records of a big-endian u32 length followed by one message as the server sent it.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace pgsync::test {

// $PGSYNC_TEST_DATA overrides the source tree's tests/data.
inline std::string test_data_path(const std::string& relative) {
    const char* dir = std::getenv("PGSYNC_TEST_DATA");
    return std::string(dir && *dir ? dir : PGSYNC_TEST_DATA_DEFAULT) + "/" + relative;
}

inline std::vector<std::string> read_golden_messages(const std::string& name) {
    std::string path = test_data_path("pgoutput/" + name);
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("could not open golden file \"" + path + "\"");
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::string> messages;
    for (size_t at = 0; at < data.size();) {
        if (data.size() - at < 4) throw std::runtime_error("golden file ends inside a length");
        uint32_t length = 0;
        for (int i = 0; i < 4; ++i)
            length = length << 8 | static_cast<unsigned char>(data[at++]);
        if (data.size() - at < length) throw std::runtime_error("golden file ends inside a record");
        messages.push_back(data.substr(at, length));
        at += length;
    }
    return messages;
}

} // namespace pgsync::test
