// OutputSink: where a tool's data goes (stdout or a file). Writes whole chunks under a lock so
// lines from several workers never interleave; sync() makes the data durable before we report it.
#pragma once

#include "util/chunk_sink.h"

#include "util/stop_flag.h"

#include <csignal>
#include <mutex>
#include <string>
#include <string_view>

namespace pgsync {

class OutputSink final : public ChunkSink {
public:
    // Writes to an already-open descriptor (not owned), e.g. STDOUT_FILENO.
    static OutputSink to_fd(int fd, std::string name = "standard output");
    // Creates or truncates a file; throws pgsync::Error naming it on failure.
    static OutputSink to_file(const std::string& path);
    // Creates or appends to a file (a stream restarted after a crash never loses what it wrote).
    static OutputSink append_to_file(const std::string& path);

    OutputSink(OutputSink&& other) noexcept;
    OutputSink& operator=(OutputSink&&) = delete;
    ~OutputSink() override;

    // Writes all of data at once (thread-safe); throws pgsync::Error on failure (EPIPE included).
    void write(std::string_view data) override;
    // Makes what was written durable when the target is a regular file (fsync); no-op otherwise.
    void sync() override;
    // Reopens a file sink at its path for appending (after log rotation, on SIGHUP); no-op for a
    // descriptor sink. Throws pgsync::Error when the file cannot be opened.
    void reopen() override;

    enum class WaitResult { ReaderClosed, TimedOut, Stopped };
    // For a pipe: waits until its reader closes it, timeout_seconds pass (<= 0: no limit), or
    // *stop becomes non-zero. Not a pipe: waits only for the timeout or the stop flag.
    WaitResult wait_reader_closed(double timeout_seconds, const StopFlag* stop);

    bool is_pipe() const;
    const std::string& name() const { return m_name; }

private:
    OutputSink(int fd, bool owned, std::string name, std::string path = {})
        : m_fd(fd), m_owned(owned), m_name(std::move(name)), m_path(std::move(path)) {}

    int m_fd = -1;
    bool m_owned = false;
    std::string m_name;
    std::string m_path; // files only
    std::mutex m_mutex;
};

} // namespace pgsync
