// A throwaway NATS JetStream cluster on loopback for integration tests: tests/harness/nats-cluster
// started in a scratch directory, stopped (every node) when the object goes. Real nats-server
// processes, never a mock; the tests kill and restart nodes through it to simulate crashes.
#pragma once

#include <string>

namespace pgsync::test {

class NatsCluster {
public:
    // Starts `nodes` (1 or 3) nats-server processes with JetStream and waits until each is
    // ready. Throws std::runtime_error with the harness's message when it cannot.
    explicit NatsCluster(int nodes = 3);
    ~NatsCluster();
    NatsCluster(const NatsCluster&) = delete;
    NatsCluster& operator=(const NatsCluster&) = delete;

    // Every node's client URL, comma-separated (what --nats and --source take).
    const std::string& url() const { return m_url; }
    // One node's URL ("n1", "n2", …).
    std::string node_url(const std::string& name) const;
    const std::string& dir() const { return m_dir; }

    void kill(const std::string& name);    // kill -9: a crash, its store kept
    void restart(const std::string& name); // started again on the same ports and store
    // The running node that leads the stream, waiting up to timeout_seconds for an election to
    // finish; empty when none did.
    std::string leader(const std::string& stream, double timeout_seconds = 20);

private:
    std::string m_dir;
    std::string m_url;
};

// tests/harness/nats-cluster ($PGSYNC_NATS_HARNESS overrides).
std::string nats_harness_path();

} // namespace pgsync::test
