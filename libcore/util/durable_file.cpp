// write_file_durably and read_small_file; see util/durable_file.h.
#include "util/durable_file.h"

#include "util/error.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace pgsync {

namespace {

[[noreturn]] void fail(const char* step, const std::string& path, int error) {
    throw Error(std::string("could not ") + step + " \"" + path + "\": " + std::strerror(error),
                "Check that the directory exists, is writable and its file system is not full.");
}

// Closes on every path out, so a failure leaks no descriptor.
struct Fd {
    int fd;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

} // namespace

void write_file_durably(const std::string& path, const std::string& contents) {
    const size_t slash = path.rfind('/');
    const std::string dir = slash == std::string::npos ? "."
                            : slash == 0               ? "/"
                                                       : path.substr(0, slash);
    const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
    const std::string tmp = dir + "/." + name + ".tmp";
    {
        Fd file{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)};
        if (file.fd < 0) fail("create", tmp, errno);
        for (size_t written = 0; written < contents.size();) {
            ssize_t n = ::write(file.fd, contents.data() + written, contents.size() - written);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                const int error = errno;
                ::unlink(tmp.c_str());
                fail("write", tmp, error);
            }
            written += size_t(n);
        }
        if (::fsync(file.fd) != 0) {
            const int error = errno;
            ::unlink(tmp.c_str());
            fail("fsync", tmp, error);
        }
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const int error = errno;
        ::unlink(tmp.c_str());
        fail("rename", tmp, error);
    }
    Fd directory{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    if (directory.fd < 0) fail("open directory", dir, errno);
    if (::fsync(directory.fd) != 0) fail("fsync directory", dir, errno);
}

std::optional<std::string> read_small_file(const std::string& path) {
    Fd file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (file.fd < 0) {
        if (errno == ENOENT) return std::nullopt;
        fail("open", path, errno);
    }
    std::string out;
    char buffer[4096];
    for (;;) {
        ssize_t n = ::read(file.fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail("read", path, errno);
        if (n == 0) return out;
        out.append(buffer, size_t(n));
    }
}

} // namespace pgsync
