// pgsync_test_consumer OUT ACK: the at-least-once consumer of the chaos test. Reads records on
// stdin, keeps a transaction's lines until its commit, appends them to OUT and fsyncs, and only
// then appends the commit's end_lsn to ACK. Killed at any moment, it loses nothing acknowledged.
#include <cstdio>
#include <fcntl.h>
#include <iostream>
#include <string>
#include <unistd.h>

namespace {
bool write_all(int fd, const std::string& s) {
    size_t done = 0;
    while (done < s.size()) {
        ssize_t n = write(fd, s.data() + done, s.size() - done);
        if (n <= 0) return false;
        done += size_t(n);
    }
    return true;
}
} // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: pgsync_test_consumer OUT ACK\n");
        return 2;
    }
    int out = open(argv[1], O_WRONLY | O_CREAT | O_APPEND, 0644);
    int ack = open(argv[2], O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out < 0 || ack < 0) return 1;
    std::string txn, line;
    while (std::getline(std::cin, line)) {
        txn += line;
        txn += '\n';
        if (line.find("\"op\":\"commit\"") == std::string::npos) continue;
        const std::string key = "\"end_lsn\":\"";
        size_t at = line.find(key);
        if (at == std::string::npos) return 1;
        std::string end =
            line.substr(at + key.size(), line.find('"', at + key.size()) - at - key.size());
        if (!write_all(out, txn) || fsync(out) != 0) return 1;
        if (!write_all(ack, end + "\n")) return 1;
        txn.clear();
    }
    return 0;
}
