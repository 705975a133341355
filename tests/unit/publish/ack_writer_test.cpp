// AckWriter on a FIFO that nobody reads: a full FIFO never blocks and never loses the highest
// acknowledgement; it is written once there is room, and at the end the writer waits for it.
#include "pg_test.h"
#include "process.h"
#include "publish/ack_writer.h"

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

using namespace pgsync;
using namespace pgsync::publish;
using namespace std::chrono_literals;

namespace {

// A FIFO with a reader that reads only when asked; its buffer shrunk to one page.
struct Fifo {
    Fifo() {
        path = test::test_tmp_dir() + "/" + test::unique_name("acks");
        ::unlink(path.c_str());
        REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
        reader = ::open(path.c_str(), O_RDONLY | O_NONBLOCK);
        REQUIRE(reader >= 0);
        REQUIRE(::fcntl(reader, F_SETPIPE_SZ, 4096) >= 0);
    }
    ~Fifo() {
        ::close(reader);
        ::unlink(path.c_str());
    }
    // Reads everything the FIFO holds; returns the last line.
    std::string drain() {
        std::string text;
        char buffer[4096];
        ssize_t n;
        while ((n = ::read(reader, buffer, sizeof buffer)) > 0)
            text.append(buffer, size_t(n));
        if (text.empty()) return {};
        text.pop_back(); // the last newline
        return text.substr(text.rfind('\n') + 1);
    }
    std::string path;
    int reader = -1;
};

// Writes increasing acknowledgements until the FIFO refuses one; returns the next LSN to use.
uint64_t fill(AckWriter& writer, uint64_t lsn) {
    for (; !writer.pending().is_valid(); lsn += 0x10) {
        REQUIRE(lsn < 0x100000);
        writer.write(Lsn(lsn));
    }
    return lsn;
}

} // namespace

TEST_CASE("a full ack FIFO keeps the highest acknowledgement and writes it once there is room",
          "[publish]") {
    Fifo fifo;
    AckWriter writer(fifo.path);
    uint64_t next = fill(writer, 0x1000);
    const Lsn written = writer.last();
    REQUIRE(writer.pending() > written);
    // Later acknowledgements replace the pending one; none blocks, none is written.
    writer.write(Lsn(next));
    writer.write(Lsn(next + 0x10));
    writer.retry();
    CHECK(writer.last() == written);
    CHECK(writer.pending() == Lsn(next + 0x10));
    // The reader catches up: the retry writes the highest, and only it.
    CHECK(fifo.drain() == written.str());
    writer.retry();
    CHECK(writer.last() == Lsn(next + 0x10));
    CHECK_FALSE(writer.pending().is_valid());
    CHECK(fifo.drain() == Lsn(next + 0x10).str());
    // Nothing below what was written is written again.
    writer.write(Lsn(0x1000));
    CHECK(fifo.drain().empty());
}

TEST_CASE("at the end the ack writer waits briefly for a full FIFO to take the last "
          "acknowledgement",
          "[publish]") {
    Fifo fifo;
    Lsn last;
    std::string read_last;
    {
        AckWriter writer(fifo.path);
        fill(writer, 0x1000);
        last = writer.pending();
        // The reader comes back 300 ms later, within the writer's wait at exit.
        std::thread reader([&] {
            std::this_thread::sleep_for(300ms);
            read_last = fifo.drain();
        });
        const auto start = std::chrono::steady_clock::now();
        CHECK(writer.finish(AckWriter::kExitWait));
        CHECK(std::chrono::steady_clock::now() - start < AckWriter::kExitWait);
        reader.join();
        CHECK(writer.last() == last);
    }
    // The last line is in the FIFO after what the reader drained.
    const std::string after = fifo.drain();
    CHECK((after.empty() ? read_last : after) == last.str());
}

TEST_CASE("finish gives up after its timeout when nobody reads the ack FIFO", "[publish]") {
    Fifo fifo;
    AckWriter writer(fifo.path);
    fill(writer, 0x1000);
    const auto start = std::chrono::steady_clock::now();
    CHECK_FALSE(writer.finish(100ms));
    CHECK(std::chrono::steady_clock::now() - start >= 100ms);
    CHECK(writer.pending().is_valid());
    fifo.drain(); // so the destructor need not wait
}

TEST_CASE("a regular ack file gets every acknowledgement appended", "[publish]") {
    const std::string path = test::test_tmp_dir() + "/" + test::unique_name("ackfile");
    ::unlink(path.c_str());
    {
        AckWriter writer(path);
        writer.write(Lsn(0x100));
        writer.write(Lsn(0x80)); // below the last: ignored
        writer.write(Lsn(0x1'0000'0200));
        CHECK_FALSE(writer.pending().is_valid());
    }
    std::string text(4096, '\0');
    const int fd = ::open(path.c_str(), O_RDONLY);
    REQUIRE(fd >= 0);
    text.resize(size_t(::read(fd, text.data(), text.size())));
    ::close(fd);
    CHECK(text == "0/100\n1/200\n");
    ::unlink(path.c_str());
}
