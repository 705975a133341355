// AckFile reads acknowledgement lines from a growing file or a FIFO: only complete lines, the
// highest LSN, through truncation, rotation and writers that come and go; bad lines only warn.
#include "ack/ack_file.h"
#include "stderr_capture.h"
#include "util/error.h"

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <poll.h>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

using pgsync::Lsn;
using pgsync::ack::AckFile;

namespace {

// A fresh directory from mkdtemp, removed with its contents at the end of the test.
class TempDir {
public:
    TempDir() {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "pgsync-ack-XXXXXX").string();
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        m_path = pattern;
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(m_path, ignored);
    }
    std::string file(const std::string& name) const { return m_path + "/" + name; }

private:
    std::string m_path;
};

void append(const std::string& path, const std::string& text) {
    int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, text.data(), text.size()) == ssize_t(text.size()));
    ::close(fd);
}

void write_fd(int fd, const std::string& text) {
    REQUIRE(::write(fd, text.data(), text.size()) == ssize_t(text.size()));
}

std::optional<Lsn> lsn(const char* text) {
    return Lsn::parse(text);
}

using pgsync::test::StderrCapture;

} // namespace

TEST_CASE("a missing ack file is created empty with mode 0600", "[ack]") {
    TempDir dir;
    std::string path = dir.file("ack.lsn");
    AckFile file(path);
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK(S_ISREG(st.st_mode));
    CHECK((st.st_mode & 0777) == 0600);
    CHECK(st.st_size == 0);
    CHECK(file.poll_fd() == -1);
    CHECK_FALSE(file.is_fifo());
    CHECK_FALSE(file.read_new());
}

TEST_CASE("read_new returns the highest LSN appended since the last call", "[ack]") {
    TempDir dir;
    std::string path = dir.file("ack.lsn");
    AckFile file(path);
    append(path, "0/100\n0/300\n0/200\n");
    CHECK(file.read_new() == lsn("0/300"));
    CHECK_FALSE(file.read_new());
    append(path, "0/250\n");
    CHECK(file.read_new() == lsn("0/250")); // the tracker, not the file, ignores lower acks
    append(path, "1/0\n");
    CHECK(file.read_new() == lsn("1/0"));
}

TEST_CASE("lines already in the file at open are from an earlier run and skipped", "[ack]") {
    TempDir dir;
    std::string path = dir.file("ack.lsn");
    append(path, "0/100\n0/200\n0/3"); // the consumer is in the middle of writing "0/300"
    AckFile file(path);
    CHECK_FALSE(file.read_new());
    append(path, "00\n");
    CHECK(file.read_new() == lsn("0/300"));
    // Line numbers count the skipped lines: this is line 4 of the file.
    StderrCapture capture;
    append(path, "oops\n");
    CHECK_FALSE(file.read_new());
    CHECK(capture.text().find("line 4 of ack file") != std::string::npos);
}

TEST_CASE("a partial last line waits for its newline", "[ack]") {
    TempDir dir;
    std::string path = dir.file("ack.lsn");
    AckFile file(path);
    append(path, "0/1");
    CHECK_FALSE(file.read_new());
    append(path, "6B3");
    CHECK_FALSE(file.read_new());
    append(path, "7D0\n0/2");
    CHECK(file.read_new() == lsn("0/16B37D0"));
    append(path, "0000000\n");
    CHECK(file.read_new() == lsn("0/20000000"));
}

TEST_CASE("white space around an LSN is fine and empty lines are skipped", "[ack]") {
    TempDir dir;
    std::string path = dir.file("ack.lsn");
    AckFile file(path);
    StderrCapture capture;
    append(path, "\n  0/A0 \r\n\t\n0/9F\t\n   \n");
    CHECK(file.read_new() == lsn("0/A0"));
    CHECK(capture.text().empty());
}

TEST_CASE("a malformed line is a warning naming file, line and text, never an ack", "[ack]") {
    TempDir dir;
    std::string path = dir.file("ack.lsn");
    AckFile file(path);
    StderrCapture capture;
    append(path, "0/100\nFFFF/FFFFFFFFF\n0/200 0/300\n{\"end_lsn\":\"9/0\"}\n0/150\n");
    CHECK(file.read_new() == lsn("0/150"));
    append(path, "garbage\n");
    CHECK_FALSE(file.read_new());
    std::string err = capture.text();
    CHECK(err.find("warning: ignoring line 2 of ack file \"" + path +
                   "\": \"FFFF/FFFFFFFFF\" is not an LSN") != std::string::npos);
    CHECK(err.find("ignoring line 3 of ack file \"" + path + "\": \"0/200 0/300\"") !=
          std::string::npos);
    CHECK(err.find("ignoring line 4 of ack file \"" + path + "\": \"{\"end_lsn\":\"9/0\"}\"") !=
          std::string::npos);
    CHECK(err.find("ignoring line 6 of ack file \"" + path + "\": \"garbage\"") !=
          std::string::npos);
}

TEST_CASE("an overlong line is ignored whole, with one warning", "[ack]") {
    TempDir dir;
    std::string path = dir.file("ack.lsn");
    AckFile file(path);
    StderrCapture capture;
    append(path, std::string(200, 'x'));
    CHECK_FALSE(file.read_new());
    append(path, std::string(200, 'x') + "0/500");
    CHECK_FALSE(file.read_new());
    append(path, "\n0/600\n");
    CHECK(file.read_new() == lsn("0/600")); // not 0/500: that was the end of the long line
    std::string err = capture.text();
    CHECK(err.find("ignoring line 1 of ack file \"" + path + "\": longer than 256 bytes") !=
          std::string::npos);
    CHECK(err.find("line 2") == std::string::npos);
}

TEST_CASE("a truncated file is read again from its start", "[ack]") {
    TempDir dir;
    std::string path = dir.file("ack.lsn");
    AckFile file(path);
    append(path, "0/100\n0/200\n0/300\n");
    CHECK(file.read_new() == lsn("0/300"));
    REQUIRE(::truncate(path.c_str(), 0) == 0);
    append(path, "0/400\n");
    CHECK(file.read_new() == lsn("0/400"));
    append(path, "0/500\n");
    CHECK(file.read_new() == lsn("0/500"));
}

TEST_CASE("a rotated file is read to its end, then the new file from its start", "[ack]") {
    TempDir dir;
    std::string path = dir.file("ack.lsn");
    AckFile file(path);
    append(path, "0/100\n");
    CHECK(file.read_new() == lsn("0/100"));
    append(path, "0/200\n");
    REQUIRE(std::rename(path.c_str(), dir.file("ack.lsn.1").c_str()) == 0);
    CHECK(file.read_new() == lsn("0/200")); // no new file yet: keeps reading the old one
    append(dir.file("ack.lsn.1"), "0/250\n");
    append(path, "0/300\n0/280\n");
    CHECK(file.read_new() == lsn("0/300"));
    append(path, "0/400\n");
    CHECK(file.read_new() == lsn("0/400"));

    // The old file's last lines count even when the new one holds only lower positions.
    append(path, "0/500\n");
    REQUIRE(std::rename(path.c_str(), dir.file("ack.lsn.2").c_str()) == 0);
    append(path, "0/450\n");
    CHECK(file.read_new() == lsn("0/500"));
}

TEST_CASE("a FIFO survives writers that come and go", "[ack]") {
    TempDir dir;
    std::string path = dir.file("ack.fifo");
    REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
    AckFile file(path);
    CHECK(file.is_fifo());
    REQUIRE(file.poll_fd() >= 0);
    CHECK_FALSE(file.read_new());

    // A writer opens without blocking (we are a writer too), writes half a line and leaves.
    int writer = ::open(path.c_str(), O_WRONLY | O_NONBLOCK);
    REQUIRE(writer >= 0);
    write_fd(writer, "0/100\n0/2");
    ::close(writer);
    pollfd p{file.poll_fd(), POLLIN, 0};
    REQUIRE(::poll(&p, 1, 1000) == 1);
    CHECK((p.revents & POLLIN) != 0);
    CHECK((p.revents & POLLHUP) == 0); // no end-of-file after the writer left
    CHECK(file.read_new() == lsn("0/100"));
    CHECK_FALSE(file.read_new());
    p.revents = 0;
    CHECK(::poll(&p, 1, 0) == 0);

    // The next writer finishes the line and adds another.
    writer = ::open(path.c_str(), O_WRONLY);
    REQUIRE(writer >= 0);
    write_fd(writer, "00\n0/300\n");
    ::close(writer);
    CHECK(file.read_new() == lsn("0/300"));

    // "echo LSN >> fifo" from a shell, twice.
    REQUIRE(std::system(("echo 0/400 >> '" + path + "' && echo 0/500 >> '" + path + "'").c_str()) ==
            0);
    CHECK(file.read_new() == lsn("0/500"));
}

TEST_CASE("a FIFO delivers more than one read's worth of lines", "[ack]") {
    TempDir dir;
    std::string path = dir.file("ack.fifo");
    REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
    AckFile file(path);
    int writer = ::open(path.c_str(), O_WRONLY | O_NONBLOCK);
    REQUIRE(writer >= 0);
    std::string lines;
    for (int i = 1; i <= 3000; ++i)
        lines += Lsn(uint64_t(i) * 0x100).str() + "\n";
    REQUIRE(lines.size() < 60000); // fits the pipe buffer (64 KiB)
    write_fd(writer, lines);
    ::close(writer);
    CHECK(file.read_new() == Lsn(3000 * 0x100));
}

TEST_CASE("an ack file that is neither regular nor a FIFO is a usage error", "[ack]") {
    TempDir dir;
    std::string path = dir.file("sub");
    REQUIRE(::mkdir(path.c_str(), 0700) == 0);
    try {
        AckFile file(path);
        FAIL("no error");
    } catch (const pgsync::Error& e) {
        CHECK(std::string(e.what()) == "ack file \"" + path + "\" is not a regular file or a FIFO");
        CHECK(e.exit_code() == pgsync::kExitUsage);
        CHECK_FALSE(e.hint().empty());
    }
}

TEST_CASE("an ack file that cannot be created is a runtime error with a hint", "[ack]") {
    TempDir dir;
    std::string path = dir.file("missing-dir/ack.lsn");
    try {
        AckFile file(path);
        FAIL("no error");
    } catch (const pgsync::Error& e) {
        CHECK(std::string(e.what()) ==
              "could not open ack file \"" + path + "\": No such file or directory");
        CHECK(e.exit_code() == pgsync::kExitRuntime);
        CHECK(e.hint().find("directory exists") != std::string::npos);
    }
}
