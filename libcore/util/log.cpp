// Logger implementation: builds each line in memory and writes it with one write(2) call so that
// lines from several threads never interleave.
#include "util/log.h"

#include <atomic>
#include <nlohmann/json.hpp>
#include <string>
#include <unistd.h>

namespace pgsync::log {
namespace {
std::string g_program = "pgsync";
std::atomic<int> g_level{static_cast<int>(Level::Info)};
std::atomic<bool> g_json{false};

const char* level_word(Level level) {
    switch (level) {
    case Level::Error:
        return "error";
    case Level::Warning:
        return "warning";
    case Level::Info:
        return "info";
    case Level::Debug:
        return "debug";
    }
    return "info";
}

void write_all(const std::string& line) {
    size_t done = 0;
    while (done < line.size()) {
        ssize_t n = ::write(STDERR_FILENO, line.data() + done, line.size() - done);
        if (n <= 0) return; // stderr gone: nothing sensible left to do
        done += static_cast<size_t>(n);
    }
}
} // namespace

void set_program(std::string_view program) {
    g_program = std::string(program);
}
void set_level(Level level) {
    g_level = static_cast<int>(level);
}
void set_json(bool json) {
    g_json = json;
}
Level level() {
    return static_cast<Level>(g_level.load());
}

void write(Level level, std::string_view message, std::string_view hint) {
    if (static_cast<int>(level) > g_level.load()) return;
    std::string line;
    if (g_json) {
        nlohmann::json j = {{"program", g_program},
                            {"level", level_word(level)},
                            {"message", std::string(message)}};
        if (!hint.empty()) j["hint"] = std::string(hint);
        line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    } else {
        line = g_program + ": ";
        if (level != Level::Info) line += std::string(level_word(level)) + ": ";
        line.append(message);
        line += "\n";
        if (!hint.empty()) {
            line += "hint: ";
            line.append(hint);
            line += "\n";
        }
    }
    write_all(line);
}

} // namespace pgsync::log
