// StderrCapture: collects what is written to file descriptor 2 (the logger) while it lives, for
// tests that assert on warnings.
#pragma once

#include <cstdio>
#include <string>
#include <unistd.h>

namespace pgsync::test {

class StderrCapture {
public:
    StderrCapture() {
        m_file = std::tmpfile();
        std::fflush(stderr);
        m_saved = ::dup(STDERR_FILENO);
        ::dup2(::fileno(m_file), STDERR_FILENO);
    }
    ~StderrCapture() {
        restore();
        if (m_file) std::fclose(m_file);
    }
    StderrCapture(const StderrCapture&) = delete;
    StderrCapture& operator=(const StderrCapture&) = delete;

    // Stops capturing and returns everything captured.
    std::string text() {
        restore();
        std::string out;
        std::rewind(m_file);
        char buf[4096];
        size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, m_file)) > 0)
            out.append(buf, n);
        return out;
    }

private:
    void restore() {
        if (m_saved < 0) return;
        ::dup2(m_saved, STDERR_FILENO);
        ::close(m_saved);
        m_saved = -1;
    }
    std::FILE* m_file = nullptr;
    int m_saved = -1;
};

} // namespace pgsync::test
