// The confirm mark file.
#include "serve/confirm_mark.h"

#include "util/error.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <unistd.h>

namespace pgsync::serve {

std::optional<Lsn> ConfirmMark::read() const {
    std::ifstream in(m_path);
    std::string line;
    if (!std::getline(in, line)) return std::nullopt;
    return Lsn::parse(line);
}

void ConfirmMark::write(Lsn lsn) {
    const std::string tmp = m_path + ".tmp";
    const std::string text = lsn.str() + "\n";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) throw Error("could not write \"" + tmp + "\": " + std::strerror(errno));
    const bool ok =
        ::write(fd, text.data(), text.size()) == ssize_t(text.size()) && ::fdatasync(fd) == 0;
    const int saved = errno;
    ::close(fd);
    if (!ok || ::rename(tmp.c_str(), m_path.c_str()) != 0)
        throw Error("could not write \"" + m_path + "\": " + std::strerror(ok ? errno : saved));
}

} // namespace pgsync::serve
