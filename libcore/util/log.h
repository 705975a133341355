// The one logger: diagnostics to stderr, one whole line per write, with levels (-v/-q) and an
// optional JSON line format. stdout is never touched: it carries data only.
#pragma once

#include <string>
#include <string_view>

namespace pgsync::log {

enum class Level { Error = 0, Warning = 1, Info = 2, Debug = 3 };

void set_program(std::string_view program); // "pgsync-init": prefixes every line
void set_level(Level level);
void set_json(bool json);
Level level();

void write(Level level, std::string_view message, std::string_view hint = {});

inline void error(std::string_view m, std::string_view hint = {}) {
    write(Level::Error, m, hint);
}
inline void warning(std::string_view m, std::string_view hint = {}) {
    write(Level::Warning, m, hint);
}
inline void info(std::string_view m) {
    write(Level::Info, m);
}
inline void debug(std::string_view m) {
    write(Level::Debug, m);
}

} // namespace pgsync::log
