// NatsCluster: tests/harness/nats-cluster driven from a test (see nats_cluster.h).
#include "nats_cluster.h"

#include "process.h"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <thread>
#include <unistd.h>

namespace pgsync::test {

namespace {

ProcessResult harness(const std::vector<std::string>& args) {
    std::vector<std::string> argv{nats_harness_path()};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessOptions options;
    options.timeout_seconds = 60;
    return run_process(argv, options);
}

std::string export_value(const std::string& out, const std::string& name) {
    const std::string key = "export " + name + "=";
    const size_t at = out.find(key);
    if (at == std::string::npos) return {};
    const size_t start = at + key.size();
    return out.substr(start, out.find('\n', start) - start);
}

} // namespace

std::string nats_harness_path() {
    if (const char* path = std::getenv("PGSYNC_NATS_HARNESS")) return path;
    return PGSYNC_NATS_HARNESS_DEFAULT;
}

NatsCluster::NatsCluster(int nodes) {
    static std::atomic<int> counter{0};
    m_dir = test_tmp_dir() + "/nats-" + std::to_string(::getpid()) + "-" +
            std::to_string(counter++);
    run_process({"rm", "-rf", m_dir});
    ProcessResult r = harness({"start", m_dir, "--nodes", std::to_string(nodes)});
    if (r.exit_code != 0) {
        harness({"stop", m_dir});
        throw std::runtime_error("could not start a NATS cluster: " + r.err);
    }
    m_url = export_value(r.out, "PGSYNC_NATS_URL");
    if (m_url.empty()) throw std::runtime_error("nats-cluster printed no URL: " + r.out);
}

NatsCluster::~NatsCluster() {
    harness({"stop", m_dir});
    run_process({"rm", "-rf", m_dir});
}

std::string NatsCluster::node_url(const std::string& name) const {
    // The harness lists nodes in order n1, n2, …: the URL list is in the same order.
    const size_t index = size_t(std::stoi(name.substr(1))) - 1;
    size_t start = 0;
    for (size_t i = 0; i < index; ++i) {
        start = m_url.find(',', start);
        if (start == std::string::npos) throw std::runtime_error("no node " + name);
        ++start;
    }
    return m_url.substr(start, m_url.find(',', start) - start);
}

void NatsCluster::kill(const std::string& name) {
    ProcessResult r = harness({"kill", name, m_dir});
    if (r.exit_code != 0) throw std::runtime_error("could not kill " + name + ": " + r.err);
}

void NatsCluster::restart(const std::string& name) {
    ProcessResult r = harness({"restart", name, m_dir});
    if (r.exit_code != 0) throw std::runtime_error("could not restart " + name + ": " + r.err);
}

std::string NatsCluster::leader(const std::string& stream, double timeout_seconds) {
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::milliseconds(int64_t(timeout_seconds * 1000));
    while (true) {
        ProcessResult r = harness({"leader", stream, m_dir});
        if (r.exit_code == 0 && !r.out.empty()) return r.out.substr(0, r.out.find('\n'));
        if (std::chrono::steady_clock::now() > deadline) return {};
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
}

} // namespace pgsync::test
