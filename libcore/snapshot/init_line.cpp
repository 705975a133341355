// Init line parsing: strict, with errors that say what the line should look like.
#include "snapshot/init_line.h"

#include "util/error.h"

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <unistd.h>

namespace pgsync::snapshot {

namespace {
const char* kExpected = "Pipe pgsync-init into pgsync-snapshot: pgsync-init --hold ... | "
                        "pgsync-snapshot ..., or pass --no-init-line to ignore standard input.";
}

InitLine parse_init_line(std::string_view text) {
    nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object())
        throw usage_error(
            "standard input does not start with a pgsync-init line (not a JSON object)", kExpected);
    InitLine line;
    auto get_string = [&](const char* key, bool required) -> std::optional<std::string> {
        auto it = j.find(key);
        if (it == j.end() || it->is_null()) {
            if (required)
                throw usage_error(std::string("the pgsync-init line has no \"") + key + "\"",
                                  kExpected);
            return std::nullopt;
        }
        if (!it->is_string())
            throw usage_error(std::string("the pgsync-init line's \"") + key + "\" is not a string",
                              kExpected);
        return it->get<std::string>();
    };
    line.slot = get_string("slot", false).value_or("");
    line.publication = get_string("publication", false).value_or("");
    std::string point = *get_string("consistent_point", true);
    auto lsn = Lsn::parse(point);
    if (!lsn)
        throw usage_error("the pgsync-init line's consistent_point \"" + point + "\" is not an LSN",
                          kExpected);
    line.consistent_point = *lsn;
    line.snapshot = get_string("snapshot", false);
    if (!line.snapshot)
        throw usage_error("the pgsync-init line carries no snapshot: slot \"" + line.slot +
                              "\" already existed, so no snapshot was exported",
                          "Drop the slot (pgsync-init --drop) and create it again with --hold, or "
                          "take a snapshot without an init line (--no-init-line).");
    return line;
}

std::optional<std::string> read_line(int fd, size_t max_bytes) {
    std::string line;
    char c;
    for (;;) {
        ssize_t n = ::read(fd, &c, 1);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw Error(std::string("could not read standard input: ") + std::strerror(errno));
        }
        if (n == 0) return line.empty() ? std::nullopt : std::optional(line);
        if (c == '\n') return line;
        line += c;
        if (line.size() > max_bytes)
            throw usage_error("standard input's first line is longer than " +
                                  std::to_string(max_bytes) + " bytes: not a pgsync-init line",
                              kExpected);
    }
}

} // namespace pgsync::snapshot
