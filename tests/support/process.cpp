// fork/exec with pipes and a poll loop, so large outputs never deadlock and time limits hold.
#include "process.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdexcept>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace pgsync::test {

namespace {
std::string env_or(const char* name, const char* fallback) {
    const char* value = std::getenv(name);
    return value && *value ? value : fallback;
}
} // namespace

std::string tool_path(const std::string& name) {
    return env_or("PGSYNC_BIN_DIR", PGSYNC_BIN_DIR_DEFAULT) + "/" + name;
}

std::string harness_path() {
    return env_or("PGSYNC_HARNESS", PGSYNC_HARNESS_DEFAULT);
}

std::string man_dir() {
    return env_or("PGSYNC_MAN_DIR", PGSYNC_MAN_DIR_DEFAULT);
}

std::string test_tmp_dir() {
    std::string dir = env_or("PGSYNC_TEST_TMP", PGSYNC_TEST_TMP_DEFAULT);
    ::mkdir(dir.c_str(), 0755);
    return dir;
}

ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& options) {
    int in_pipe[2], out_pipe[2], err_pipe[2];
    if (pipe2(in_pipe, O_CLOEXEC) || pipe2(out_pipe, O_CLOEXEC) || pipe2(err_pipe, O_CLOEXEC))
        throw std::runtime_error("pipe failed");
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        setpgid(0, 0);
        dup2(in_pipe[0], 0);
        dup2(out_pipe[1], 1);
        dup2(err_pipe[1], 2);
        for (const auto& [k, v] : options.env) {
            if (v.empty())
                unsetenv(k.c_str());
            else
                setenv(k.c_str(), v.c_str(), 1);
        }
        std::vector<char*> args;
        for (const auto& a : argv)
            args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        execvp(args[0], args.data());
        dprintf(2, "exec %s failed: %s\n", args[0], strerror(errno));
        _exit(127);
    }
    close(in_pipe[0]);
    close(out_pipe[1]);
    close(err_pipe[1]);

    ProcessResult result;
    size_t written = 0;
    int in_fd = in_pipe[1];
    if (options.stdin_data.empty() && options.close_stdin) {
        close(in_fd);
        in_fd = -1;
    } else {
        fcntl(in_fd, F_SETFL, O_NONBLOCK);
    }
    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::milliseconds(int64_t(options.timeout_seconds * 1000));
    int out_fd = out_pipe[0], err_fd = err_pipe[0];
    while (out_fd >= 0 || err_fd >= 0) {
        pollfd fds[3];
        int n = 0;
        if (out_fd >= 0) fds[n++] = {out_fd, POLLIN, 0};
        if (err_fd >= 0) fds[n++] = {err_fd, POLLIN, 0};
        bool want_in = in_fd >= 0 && written < options.stdin_data.size();
        if (want_in) fds[n++] = {in_fd, POLLOUT, 0};
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            result.timed_out = true;
            kill(-pid, SIGKILL);
            break;
        }
        int rc = poll(fds, nfds_t(n), int(std::min<int64_t>(left.count(), 200)));
        if (rc < 0 && errno == EINTR) continue;
        for (int i = 0; i < n; ++i) {
            if (!fds[i].revents) continue;
            if (fds[i].fd == in_fd) {
                ssize_t w = write(in_fd, options.stdin_data.data() + written,
                                  options.stdin_data.size() - written);
                if (w > 0) written += size_t(w);
                if (w < 0 || written == options.stdin_data.size()) {
                    if (options.close_stdin) {
                        close(in_fd);
                        in_fd = -1;
                    }
                }
                continue;
            }
            char buf[65536];
            ssize_t r = read(fds[i].fd, buf, sizeof buf);
            std::string& sink = fds[i].fd == out_fd ? result.out : result.err;
            if (r > 0)
                sink.append(buf, size_t(r));
            else {
                close(fds[i].fd);
                (fds[i].fd == out_fd ? out_fd : err_fd) = -1;
            }
        }
    }
    if (out_fd >= 0) close(out_fd);
    if (err_fd >= 0) close(err_fd);
    if (in_fd >= 0) close(in_fd);
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status))
        result.exit_code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
        result.signal = WTERMSIG(status);
    return result;
}

ProcessResult run_shell(const std::string& command, const ProcessOptions& options) {
    return run_process({"/bin/sh", "-c", command}, options);
}

} // namespace pgsync::test

namespace pgsync::test {

LiveProcess::LiveProcess(const std::vector<std::string>& argv,
                         const std::map<std::string, std::string>& env) {
    int out_pipe[2], err_pipe[2];
    if (pipe2(out_pipe, O_CLOEXEC) || pipe2(err_pipe, O_CLOEXEC))
        throw std::runtime_error("pipe failed");
    m_pid = fork();
    if (m_pid < 0) throw std::runtime_error("fork failed");
    if (m_pid == 0) {
        setpgid(0, 0);
        int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, 0);
        dup2(out_pipe[1], 1);
        dup2(err_pipe[1], 2);
        for (const auto& [k, v] : env)
            setenv(k.c_str(), v.c_str(), 1);
        std::vector<char*> args;
        for (const auto& a : argv)
            args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        execvp(args[0], args.data());
        _exit(127);
    }
    close(out_pipe[1]);
    close(err_pipe[1]);
    m_out = out_pipe[0];
    m_err = err_pipe[0];
    fcntl(m_out, F_SETFL, O_NONBLOCK);
    fcntl(m_err, F_SETFL, O_NONBLOCK);
}

LiveProcess::~LiveProcess() {
    if (!m_exited && m_pid > 0) {
        kill(-m_pid, SIGKILL);
        waitpid(m_pid, nullptr, 0);
    }
    if (m_out >= 0) close(m_out);
    if (m_err >= 0) close(m_err);
}

void LiveProcess::pump(int timeout_ms) {
    pollfd fds[2] = {{m_out, POLLIN, 0}, {m_err, POLLIN, 0}};
    if (poll(fds, 2, timeout_ms) <= 0) return;
    char buf[65536];
    if (fds[0].revents) {
        ssize_t n = read(m_out, buf, sizeof buf);
        if (n > 0)
            m_out_buffer.append(buf, size_t(n));
        else if (n == 0)
            m_out_closed = true;
    }
    if (fds[1].revents) {
        ssize_t n = read(m_err, buf, sizeof buf);
        if (n > 0) m_err_buffer.append(buf, size_t(n));
    }
}

std::optional<std::string> LiveProcess::read_line(double timeout_seconds) {
    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::milliseconds(int64_t(timeout_seconds * 1000));
    for (;;) {
        size_t nl = m_out_buffer.find('\n');
        if (nl != std::string::npos) {
            std::string line = m_out_buffer.substr(0, nl);
            m_out_buffer.erase(0, nl + 1);
            return line;
        }
        if (m_out_closed) return std::nullopt;
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                        deadline - std::chrono::steady_clock::now())
                        .count();
        if (left <= 0) return std::nullopt;
        pump(int(std::min<long long>(left, 100)));
    }
}

void LiveProcess::signal(int sig) {
    if (!m_exited) kill(m_pid, sig);
}

int LiveProcess::wait(double timeout_seconds) {
    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::milliseconds(int64_t(timeout_seconds * 1000));
    while (!m_exited) {
        int status = 0;
        pid_t r = waitpid(m_pid, &status, WNOHANG);
        if (r == m_pid) {
            m_exited = true;
            m_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            break;
        }
        if (std::chrono::steady_clock::now() > deadline) kill(-m_pid, SIGKILL);
        pump(50);
    }
    pump(0);
    return m_status;
}

const std::string& LiveProcess::err() {
    pump(0);
    return m_err_buffer;
}

} // namespace pgsync::test
