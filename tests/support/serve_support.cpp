// pgsync-serve fixtures for integration tests.
#include "serve_support.h"

#include "pg_test.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace pgsync::test {

ServeProcess::ServeProcess(const std::string& slot, const std::string& publication,
                           const std::string& dir, const ServeConfig& config) {
    const std::string ready = dir + ".ready";
    std::filesystem::remove(ready);
    std::vector<std::string> argv = {tool_path("pgsync-serve"),
                                     "-d",
                                     test_dsn(),
                                     "-P",
                                     publication,
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--storage-dir",
                                     dir,
                                     "--ready-file",
                                     ready};
    if (!slot.empty()) argv.insert(argv.end(), {"-S", slot}); // none: a replica (--source)
    if (config.insecure) argv.push_back("--insecure");
    // ctest runs the serve tests once with one event-loop thread and once with several.
    const bool threads_given = std::find(config.extra_args.begin(), config.extra_args.end(),
                                         "--threads") != config.extra_args.end();
    if (const char* threads = std::getenv("PGSYNC_TEST_SERVE_THREADS");
        threads && *threads && !threads_given)
        argv.insert(argv.end(), {"--threads", threads});
    argv.insert(argv.end(), config.extra_args.begin(), config.extra_args.end());
    m_process = std::make_unique<LiveProcess>(argv, config.env);
    for (int i = 0; i < 300; ++i) {
        std::ifstream in(ready);
        std::string address;
        if (std::getline(in, address) && address.find(':') != std::string::npos) {
            m_port = std::stoi(address.substr(address.rfind(':') + 1));
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        if (i % 20 == 19 && !m_process->err().empty() &&
            m_process->err().find("error:") != std::string::npos)
            break;
    }
    FAIL("pgsync-serve did not start: " << m_process->err());
}

ServeProcess::~ServeProcess() {
    if (m_process && !m_stopped) stop();
}

void ServeProcess::kill() {
    if (m_stopped) return;
    m_stopped = true;
    m_process->signal(SIGKILL);
    m_exit_code = m_process->wait(20);
}

int64_t metric(int port, const std::string& name) {
    HttpResponse response = http_get("127.0.0.1", port, "/metrics");
    std::istringstream lines(response.body);
    std::string line;
    while (std::getline(lines, line))
        if (line.rfind(name + " ", 0) == 0) return std::stoll(line.substr(name.size() + 1));
    return -1;
}

int ServeProcess::stop() {
    if (m_stopped) return m_exit_code;
    m_stopped = true;
    m_process->signal(SIGTERM);
    m_exit_code = m_process->wait(20);
    // A server built with -fsanitize=thread (scripts/test's race check) reports races here.
    const bool race = m_process->err().find("ThreadSanitizer") != std::string::npos;
    if (race) FAIL_CHECK("pgsync-serve reported a data race:\n" << m_process->err());
    return m_exit_code;
}

void create_slot(const std::string& slot, const std::string& publication,
                 const std::vector<std::string>& tables) {
    std::vector<std::string> argv = {
        tool_path("pgsync-init"), "-d", test_dsn(), "-S", slot, "-P", publication};
    for (const auto& t : tables) {
        argv.push_back("-t");
        argv.push_back(t);
    }
    auto result = run_process(argv);
    REQUIRE(result.exit_code == 0);
}

void drop_slot(const std::string& slot) {
    auto db = connect_test_db();
    db.exec_params("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                   "WHERE slot_name = $1 AND NOT active",
                   {slot});
}

ServeClient ServeClient::connect(int port, const std::string& path, const HttpHeaders& headers,
                                 int receive_buffer_bytes) {
    WsConnectOptions options;
    options.receive_buffer_bytes = receive_buffer_bytes;
    auto result = WsClient::connect("127.0.0.1", port, path, headers, options);
    INFO("upgrade answered " << result.status << ": " << result.body << result.error);
    REQUIRE(result.ok());
    return ServeClient(std::move(*result.client));
}

void ServeClient::send(const nlohmann::json& frame) {
    REQUIRE(m_client.send_text(frame.dump()));
}

std::optional<nlohmann::json> ServeClient::next(int timeout_ms) {
    auto text = m_client.receive_text(timeout_ms);
    if (!text) return std::nullopt;
    auto frame = nlohmann::json::parse(*text, nullptr, false);
    INFO("frame: " << *text);
    REQUIRE(!frame.is_discarded());
    return frame;
}

std::vector<nlohmann::json> ServeClient::until(const std::string& type, const std::string& id,
                                               int timeout_ms) {
    std::vector<nlohmann::json> frames;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        int left = int(std::chrono::duration_cast<std::chrono::milliseconds>(
                           deadline - std::chrono::steady_clock::now())
                           .count());
        auto frame = left > 0 ? next(left) : std::nullopt;
        if (!frame) {
            std::string seen;
            for (const auto& f : frames)
                seen += f.dump() + "\n";
            FAIL("no \"" << type << "\" frame" << (id.empty() ? "" : " for " + id) << " within "
                         << timeout_ms << " ms; got:\n"
                         << seen);
        }
        frames.push_back(*frame);
        if (frame->value("type", "") == type && (id.empty() || frame->value("id", "") == id))
            return frames;
    }
}

void apply_changes(std::map<std::string, nlohmann::json>& rows,
                   const std::vector<nlohmann::json>& frames) {
    for (const auto& f : frames) {
        if (f.value("type", "") != "change") continue;
        const std::string key = f["key"].dump();
        const std::string op = f["op"];
        if (op == "delete") {
            rows.erase(key);
        } else {
            auto& row = rows[key];
            if (row.is_null()) row = nlohmann::json::object();
            for (auto& [k, v] : f["new"].items())
                row[k] = v;
        }
    }
}

} // namespace pgsync::test
