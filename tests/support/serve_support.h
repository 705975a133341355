// A pgsync-serve of a test's own: a table, its publication and slot, the server started on a free
// port with a storage directory under the test tmp dir, and clients that speak its protocol.
#pragma once

#include "process.h"
#include "ws_client.h"

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace pgsync::test {

struct ServeConfig {
    std::vector<std::string> extra_args;    // e.g. {"--client-queue-bytes", "64kB"}
    std::map<std::string, std::string> env; // e.g. {{"JWT_SECRET", "..."}}
    bool insecure = true;
};

class ServeProcess {
public:
    // Starts pgsync-serve on slot/publication with storage in dir; waits until it listens. An
    // empty slot starts a replica: give --source in config.extra_args.
    ServeProcess(const std::string& slot, const std::string& publication, const std::string& dir,
                 const ServeConfig& config = {});
    ~ServeProcess();
    int port() const { return m_port; }
    // SIGTERM and wait: the exit code.
    int stop();
    // SIGKILL: no shutdown at all, as a crash.
    void kill();
    const std::string& err() { return m_process->err(); }

private:
    std::unique_ptr<LiveProcess> m_process;
    int m_port = 0;
    bool m_stopped = false;
    int m_exit_code = -1;
};

// Creates the publication and slot for tables with pgsync-init (the slot starts now).
void create_slot(const std::string& slot, const std::string& publication,
                 const std::vector<std::string>& tables);
void drop_slot(const std::string& slot);

// A WebSocket client of /v1/ws or /v1/stream with JSON helpers.
class ServeClient {
public:
    explicit ServeClient(WsClient client) : m_client(std::move(client)) {}
    static ServeClient connect(int port, const std::string& path = "/v1/ws",
                               const HttpHeaders& headers = {}, int receive_buffer_bytes = 0);

    void send(const nlohmann::json& frame);
    // The next frame, or nullopt after timeout_ms / on close.
    std::optional<nlohmann::json> next(int timeout_ms = 5000);
    // Frames up to and including the next one of the given type (for subscription id, if given);
    // fails the test on timeout.
    std::vector<nlohmann::json> until(const std::string& type, const std::string& id = {},
                                      int timeout_ms = 10000);
    WsClient& raw() { return m_client; }

private:
    WsClient m_client;
};

// A gauge or counter of /metrics, or -1 when absent.
int64_t metric(int port, const std::string& name);

// Applies change frames to a map key (its JSON text) -> new row.
void apply_changes(std::map<std::string, nlohmann::json>& rows,
                   const std::vector<nlohmann::json>& frames);

} // namespace pgsync::test
