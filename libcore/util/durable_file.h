// The one way a small file (a mark, a consumer's ack, the log's identity) is replaced durably:
// after write_file_durably returns, a crash at any moment leaves either the old or the new
// contents under the name, never a torn or empty file, and never a stray file inside the
// caller's namespace of names.
#pragma once

#include <optional>
#include <string>

namespace pgsync {

// Writes contents to a temporary ".<name>.tmp" in the same directory (names starting with '.'
// are outside every namespace pgsync keeps in a directory), fsyncs it, renames it over path and
// fsyncs the directory. Throws pgsync::Error naming the step and the file on any failure; the
// temporary is removed then.
void write_file_durably(const std::string& path, const std::string& contents);

// The whole file, or nullopt when it does not exist. Throws pgsync::Error on other errors.
std::optional<std::string> read_small_file(const std::string& path);

} // namespace pgsync
