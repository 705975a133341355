// The row webhook client: one thread drives libcurl's multi interface (keep-alive connections, at
// most `concurrency` calls in flight), fed by a queue that any event loop appends to; verdicts go
// back per shard. The only file that uses libcurl.
#include "serve/access/row_webhook.h"

#include "config/config.h"
#include "util/error.h"
#include "util/units.h"

#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <curl/curl.h>
#include <deque>
#include <list>
#include <mutex>
#include <nlohmann/json.hpp>
#include <openssl/sha.h>
#include <thread>
#include <unordered_map>
#include <utility>

namespace pgsync::serve {

namespace {

using Clock = std::chrono::steady_clock;

// An answer past this is refused: a batch of 1000 verdicts is some 30 kB.
constexpr size_t kMaxAnswerBytes = 1 << 20;
// The longest curl_multi_poll waits with nothing to do (submit and the destructor wake it).
constexpr int kIdlePollMs = 1000;

struct EasyDeleter {
    void operator()(CURL* easy) const { curl_easy_cleanup(easy); }
};
struct MultiDeleter {
    void operator()(CURLM* multi) const { curl_multi_cleanup(multi); }
};
struct SlistDeleter {
    void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using EasyHandle = std::unique_ptr<CURL, EasyDeleter>;
using MultiHandle = std::unique_ptr<CURLM, MultiDeleter>;
using SlistHandle = std::unique_ptr<curl_slist, SlistDeleter>;

void init_curl_once() {
    static std::once_flag once;
    std::call_once(once, [] {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            throw Error("could not initialise libcurl for the row webhook");
    });
}

bool starts_with_nocase(std::string_view text, std::string_view prefix) {
    if (text.size() < prefix.size()) return false;
    for (size_t i = 0; i < prefix.size(); ++i) {
        char c = text[i];
        if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
        if (c != prefix[i]) return false;
    }
    return true;
}

// The identity of a check for coalescing and the cache: lengths make the fields unambiguous.
std::string check_key(const RowCheck& check) {
    std::string key;
    key.reserve(check.user_id.size() + check.schema.size() + check.table.size() +
                check.row_json.size() + 24);
    for (const std::string* part : {&check.user_id, &check.schema, &check.table}) {
        key += std::to_string(part->size());
        key += ':';
        key += *part;
    }
    key += check.row_json;
    return key;
}

std::string json_string(const std::string& text) {
    return nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void append_request(std::string& body, const RowCheck& check, const std::string& source_db_id) {
    body += "{\"userId\":";
    body += json_string(check.user_id);
    body += ",\"sourceDbId\":";
    body += json_string(source_db_id);
    body += ",\"schema\":";
    body += json_string(check.schema);
    body += ",\"table\":";
    body += json_string(check.table);
    body += ",\"row\":";
    body += check.row_json;
    body += '}';
}

// Text from elsewhere (libcurl, nlohmann, the answer) made one line.
std::string one_line(std::string text) {
    for (char& c : text)
        if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    while (!text.empty() && text.back() == ' ')
        text.pop_back();
    return text;
}

// What the cache files a check under: the SHA-256 of its identity (check_key), so an entry costs
// about 130 bytes whatever the row's size, not a copy of the row.
using CacheKey = std::array<unsigned char, SHA256_DIGEST_LENGTH>;

CacheKey cache_key(const std::string& check_key) {
    CacheKey digest;
    SHA256(reinterpret_cast<const unsigned char*>(check_key.data()), check_key.size(),
           digest.data());
    return digest;
}

struct CacheKeyHash {
    size_t operator()(const CacheKey& key) const {
        size_t hash;
        std::memcpy(&hash, key.data(), sizeof hash); // already uniform
        return hash;
    }
};

// Verdicts, kept until their TTL passes; past max entries the oldest go first. Only Authorized and
// Denied are kept. Not thread-safe: the owner locks.
class VerdictCache {
public:
    explicit VerdictCache(size_t max_entries) : m_max_entries(max_entries) {}

    // The verdict for key, if one is cached and still fresh.
    std::optional<bool> find(const std::string& check, Clock::time_point now) {
        auto it = m_entries.find(cache_key(check));
        if (it == m_entries.end()) return std::nullopt;
        if (it->second.expires <= now) {
            m_order.erase(it->second.order);
            m_entries.erase(it);
            return std::nullopt;
        }
        return it->second.authorized;
    }

    void insert(const std::string& check, bool authorized, Clock::time_point expires) {
        if (m_max_entries == 0) return;
        auto [it, inserted] = m_entries.try_emplace(cache_key(check));
        if (!inserted) m_order.erase(it->second.order);
        it->second.authorized = authorized;
        it->second.expires = expires;
        it->second.order = m_order.insert(m_order.end(), &it->first);
        // Oldest first: every entry has the same TTL, so the front also expires first.
        const Clock::time_point now = Clock::now();
        while (!m_order.empty() && (m_entries.size() > m_max_entries ||
                                    m_entries.find(*m_order.front())->second.expires <= now)) {
            const CacheKey* oldest = m_order.front();
            m_order.pop_front();
            m_entries.erase(*oldest);
        }
    }

private:
    struct Entry {
        bool authorized = false;
        Clock::time_point expires;
        std::list<const CacheKey*>::iterator order;
    };
    size_t m_max_entries;
    std::unordered_map<CacheKey, Entry, CacheKeyHash> m_entries;
    std::list<const CacheKey*> m_order; // keys of m_entries (stable), oldest first
};

struct Waiter {
    uint64_t ticket;
    size_t shard;
};

// One distinct check, waiting or in flight, and every ticket that waits for its verdict.
struct Group {
    RowCheck check;
    std::vector<Waiter> waiters;
};
using Groups = std::unordered_map<std::string, Group>;
using GroupEntry = Groups::value_type; // stable address until erased

struct Outcome {
    RowVerdict::Kind kind = RowVerdict::Kind::Failed;
    std::string reason;
};

// One HTTP call. Its easy handle is removed from the multi handle when it goes.
struct Transfer {
    CURLM* multi = nullptr; // set while the easy handle is added
    EasyHandle easy;
    std::string body;
    std::string answer;
    bool answer_too_large = false;
    std::vector<GroupEntry*> groups;
    char error[CURL_ERROR_SIZE] = {};

    Transfer() = default;
    Transfer(const Transfer&) = delete;
    Transfer& operator=(const Transfer&) = delete;
    ~Transfer() {
        if (multi) curl_multi_remove_handle(multi, easy.get());
    }
};

size_t write_answer(char* data, size_t size, size_t count, void* user) {
    Transfer& transfer = *static_cast<Transfer*>(user);
    const size_t bytes = size * count;
    if (transfer.answer.size() + bytes > kMaxAnswerBytes) {
        transfer.answer_too_large = true;
        return 0; // libcurl ends the call with CURLE_WRITE_ERROR
    }
    transfer.answer.append(data, bytes);
    return bytes;
}

// One object of the answer: {"delivery_authorized": true|false}.
Outcome judge_item(const nlohmann::json& item, const std::string& name) {
    if (!item.is_object()) return {RowVerdict::Kind::Failed, name + " is not an object"};
    auto member = item.find("delivery_authorized");
    if (member == item.end())
        return {RowVerdict::Kind::Failed, name + " has no \"delivery_authorized\""};
    if (!member->is_boolean())
        return {RowVerdict::Kind::Failed,
                "\"delivery_authorized\" in " + name + " is not true or false"};
    return {member->get<bool>() ? RowVerdict::Kind::Authorized : RowVerdict::Kind::Denied, {}};
}

} // namespace

std::string displayed_url(const std::string& url) {
    const size_t scheme_end = url.find("://");
    if (scheme_end == std::string::npos) return url.substr(0, url.find('?'));
    const size_t start = scheme_end + 3;
    size_t authority_end = url.find_first_of("/?#", start);
    if (authority_end == std::string::npos) authority_end = url.size();
    const size_t at = url.rfind('@', authority_end - 1);
    const size_t host = (at != std::string::npos && at >= start) ? at + 1 : start;
    std::string shown = url.substr(0, start) + url.substr(host, authority_end - host);
    const size_t path_end = url.find_first_of("?#", authority_end);
    shown += url.substr(authority_end,
                        (path_end == std::string::npos ? url.size() : path_end) - authority_end);
    return shown;
}

RowWebhookOptions row_webhook_options(const config::RowWebhook& config) {
    RowWebhookOptions options;
    options.url = config.url.value;
    auto duration = [](const config::Value<std::string>& value, const char* key) {
        std::optional<std::chrono::milliseconds> parsed = parse_milliseconds(value.value);
        if (!parsed)
            throw usage_error("invalid duration \"" + value.value + "\" in \"" + key + "\"");
        return *parsed;
    };
    options.timeout = duration(config.timeout, "serve.auth.row_webhook.timeout");
    options.cache_ttl = duration(config.cache_ttl, "serve.auth.row_webhook.cache_ttl");
    options.concurrency = config.concurrency.value;
    options.batch_size = size_t(config.batch_size.value);
    options.on_deny = config.on_deny.value == "drop" ? RowWebhookOptions::OnDeny::DropRow
                                                     : RowWebhookOptions::OnDeny::Cancel;
    options.source_db_id = config.source_db_id.value;
    if (config.secret_env.set) {
        const char* secret = std::getenv(config.secret_env.value.c_str());
        if (!secret || !*secret)
            throw usage_error("environment variable \"" + config.secret_env.value +
                                  "\" named by serve.auth.row_webhook.secret_env is not set",
                              "Export the secret your webhook expects as a bearer token, or "
                              "remove secret_env.");
        options.secret = secret;
    }
    return options;
}

struct RowWebhook::Impl {
    Impl(RowWebhookOptions options_, std::function<void(size_t)> wake_)
        : options(std::move(options_)), wake(std::move(wake_)),
          shown_url(displayed_url(options.url)), cache(options.max_cache_entries) {}
    ~Impl() {
        stop = true;
        if (multi) curl_multi_wakeup(multi.get());
        if (thread.joinable()) thread.join();
    }

    std::string reason(const std::string& what) const {
        return "webhook " + shown_url + ": " + what;
    }

    void run();
    void take_queue(std::vector<std::pair<size_t, RowVerdict>>& ready);
    void start_transfers(std::vector<std::pair<size_t, RowVerdict>>& ready);
    bool start(Transfer& transfer);
    void finish_transfers(std::vector<std::pair<size_t, RowVerdict>>& ready);
    std::vector<Outcome> judge(const Transfer& transfer, CURLcode result);
    void answer(GroupEntry* entry, const Outcome& outcome,
                std::vector<std::pair<size_t, RowVerdict>>& ready);
    void deliver(std::vector<std::pair<size_t, RowVerdict>>& ready);

    const RowWebhookOptions options;
    const std::function<void(size_t)> wake;
    const std::string shown_url;

    MultiHandle multi;
    SlistHandle headers;
    std::vector<EasyHandle> idle; // easy handles to reuse (they keep nothing between calls)

    // The webhook thread's own: distinct checks waiting or in flight, the order they wait in, and
    // the calls in flight (declared after the handles they remove themselves from).
    Groups groups;
    std::deque<GroupEntry*> waiting;
    std::unordered_map<CURL*, std::unique_ptr<Transfer>> active;

    std::mutex queue_mutex;
    std::vector<RowCheck> queue;

    std::mutex cache_mutex;
    VerdictCache cache;

    std::mutex results_mutex;
    std::unordered_map<size_t, std::vector<RowVerdict>> results;

    std::atomic<uint64_t> calls{0}, checks{0}, cache_hits{0}, failures{0}, coalesced{0},
        in_flight{0};
    std::atomic<bool> stop{false};
    std::thread thread; // last: started when everything else exists
};

void RowWebhook::Impl::run() {
    std::vector<std::pair<size_t, RowVerdict>> ready; // (shard, verdict), delivered in one lock
    while (!stop) {
        take_queue(ready);
        start_transfers(ready);
        int running = 0;
        curl_multi_perform(multi.get(), &running);
        finish_transfers(ready);
        deliver(ready);
        // A finished call freed a slot for a waiting check: start it before sleeping.
        if (!waiting.empty() && active.size() < size_t(options.concurrency)) continue;
        curl_multi_poll(multi.get(), nullptr, 0, kIdlePollMs, nullptr);
    }
}

void RowWebhook::Impl::take_queue(std::vector<std::pair<size_t, RowVerdict>>& ready) {
    std::vector<RowCheck> incoming;
    {
        std::lock_guard lock(queue_mutex);
        incoming.swap(queue);
    }
    const Clock::time_point now = Clock::now();
    for (RowCheck& check : incoming) {
        std::string key = check_key(check);
        if (options.cache_ttl.count() > 0) {
            std::optional<bool> authorized;
            {
                std::lock_guard lock(cache_mutex);
                authorized = cache.find(key, now);
            }
            if (authorized) {
                ++cache_hits;
                Outcome outcome{*authorized ? RowVerdict::Kind::Authorized
                                            : RowVerdict::Kind::Denied,
                                *authorized ? std::string() : reason("delivery not authorized")};
                ready.emplace_back(
                    check.shard, RowVerdict{check.ticket, outcome.kind, std::move(outcome.reason)});
                continue;
            }
        }
        auto [it, inserted] = groups.try_emplace(std::move(key));
        it->second.waiters.push_back(Waiter{check.ticket, check.shard});
        if (inserted) {
            it->second.check = std::move(check);
            waiting.push_back(&*it);
        } else {
            ++coalesced;
        }
    }
}

void RowWebhook::Impl::start_transfers(std::vector<std::pair<size_t, RowVerdict>>& ready) {
    while (!waiting.empty() && active.size() < size_t(options.concurrency)) {
        auto transfer = std::make_unique<Transfer>();
        const size_t count = std::min(options.batch_size, waiting.size());
        transfer->groups.assign(waiting.begin(), waiting.begin() + std::ptrdiff_t(count));
        waiting.erase(waiting.begin(), waiting.begin() + std::ptrdiff_t(count));
        if (options.batch_size > 1) transfer->body += '[';
        for (size_t i = 0; i < count; ++i) {
            if (i > 0) transfer->body += ',';
            append_request(transfer->body, transfer->groups[i]->second.check, options.source_db_id);
        }
        if (options.batch_size > 1) transfer->body += ']';
        if (!start(*transfer)) {
            ++failures;
            const Outcome outcome{RowVerdict::Kind::Failed, reason("could not start an HTTP call")};
            for (GroupEntry* entry : transfer->groups)
                answer(entry, outcome, ready);
            continue;
        }
        ++calls;
        ++in_flight;
        CURL* easy = transfer->easy.get();
        active.emplace(easy, std::move(transfer));
    }
}

bool RowWebhook::Impl::start(Transfer& transfer) {
    if (!idle.empty()) {
        transfer.easy = std::move(idle.back());
        idle.pop_back();
    } else {
        transfer.easy.reset(curl_easy_init());
        if (!transfer.easy) return false;
    }
    CURL* easy = transfer.easy.get();
    curl_easy_setopt(easy, CURLOPT_URL, options.url.c_str());
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, long(options.timeout.count()));
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "pgsync-serve/" PGSYNC_VERSION);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, transfer.body.data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(transfer.body.size()));
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_answer);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &transfer);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, transfer.error);
#if LIBCURL_VERSION_NUM >= 0x075700
    // Removing a call still resolving a name does not wait for the resolver thread (shutdown).
    curl_easy_setopt(easy, CURLOPT_QUICK_EXIT, 1L);
#endif
    if (curl_multi_add_handle(multi.get(), easy) != CURLM_OK) return false;
    transfer.multi = multi.get();
    return true;
}

void RowWebhook::Impl::finish_transfers(std::vector<std::pair<size_t, RowVerdict>>& ready) {
    int left = 0;
    while (CURLMsg* message = curl_multi_info_read(multi.get(), &left)) {
        if (message->msg != CURLMSG_DONE) continue;
        const CURLcode result = message->data.result; // the message dies with the removal below
        auto it = active.find(message->easy_handle);
        if (it == active.end()) continue;
        std::unique_ptr<Transfer> transfer = std::move(it->second);
        active.erase(it);
        --in_flight;
        std::vector<Outcome> outcomes = judge(*transfer, result);
        curl_multi_remove_handle(multi.get(), transfer->easy.get());
        transfer->multi = nullptr;
        curl_easy_reset(transfer->easy.get()); // keeps its connection and DNS caches
        idle.push_back(std::move(transfer->easy));
        bool failed = false;
        for (size_t i = 0; i < transfer->groups.size(); ++i) {
            failed = failed || outcomes[i].kind == RowVerdict::Kind::Failed;
            answer(transfer->groups[i], outcomes[i], ready);
        }
        if (failed) ++failures;
    }
}

std::vector<Outcome> RowWebhook::Impl::judge(const Transfer& transfer, CURLcode result) {
    const size_t count = transfer.groups.size();
    auto all = [&](std::string what) {
        return std::vector<Outcome>(count, Outcome{RowVerdict::Kind::Failed, reason(what)});
    };
    if (result == CURLE_OPERATION_TIMEDOUT)
        return all("timed out after " + std::to_string(options.timeout.count()) + " ms");
    if (result == CURLE_WRITE_ERROR && transfer.answer_too_large)
        return all("answer is larger than " + std::to_string(kMaxAnswerBytes >> 20) + " MiB");
    if (result != CURLE_OK)
        return all(one_line(transfer.error[0] ? transfer.error : curl_easy_strerror(result)));
    long status = 0;
    curl_easy_getinfo(transfer.easy.get(), CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) return all("HTTP " + std::to_string(status));

    nlohmann::json answer;
    try {
        answer = nlohmann::json::parse(transfer.answer);
    } catch (const nlohmann::json::exception& e) {
        // "[json.exception.parse_error.101] parse error at …": the bracket says nothing here.
        std::string what = e.what();
        if (!what.empty() && what[0] == '[' && what.find("] ") != std::string::npos)
            what.erase(0, what.find("] ") + 2);
        return all("answer is not JSON: " + one_line(what));
    }
    std::vector<Outcome> outcomes;
    outcomes.reserve(count);
    if (options.batch_size <= 1) {
        outcomes.push_back(judge_item(answer, "the answer"));
    } else {
        if (!answer.is_array())
            return all("answer to a batch of " + std::to_string(count) + " is not an array");
        if (answer.size() != count)
            return all("answer is an array of " + std::to_string(answer.size()) +
                       " for a batch of " + std::to_string(count));
        for (size_t i = 0; i < count; ++i)
            outcomes.push_back(judge_item(answer[i], "answer[" + std::to_string(i) + "]"));
    }
    for (Outcome& outcome : outcomes)
        if (outcome.kind == RowVerdict::Kind::Failed)
            outcome.reason = reason(outcome.reason);
        else if (outcome.kind == RowVerdict::Kind::Denied)
            outcome.reason = reason("delivery not authorized");
    return outcomes;
}

// Answers every ticket of a group, caches the verdict (never a Failed one) and forgets the group.
void RowWebhook::Impl::answer(GroupEntry* entry, const Outcome& outcome,
                              std::vector<std::pair<size_t, RowVerdict>>& ready) {
    for (const Waiter& waiter : entry->second.waiters)
        ready.emplace_back(waiter.shard, RowVerdict{waiter.ticket, outcome.kind, outcome.reason});
    if (outcome.kind != RowVerdict::Kind::Failed && options.cache_ttl.count() > 0) {
        std::lock_guard lock(cache_mutex);
        cache.insert(entry->first, outcome.kind == RowVerdict::Kind::Authorized,
                     Clock::now() + options.cache_ttl);
    }
    groups.erase(entry->first);
}

void RowWebhook::Impl::deliver(std::vector<std::pair<size_t, RowVerdict>>& ready) {
    if (ready.empty()) return;
    std::vector<size_t> woken;
    {
        std::lock_guard lock(results_mutex);
        for (auto& [shard, verdict] : ready) {
            std::vector<RowVerdict>& list = results[shard];
            if (list.empty()) woken.push_back(shard);
            list.push_back(std::move(verdict));
        }
    }
    ready.clear();
    for (size_t shard : woken)
        wake(shard);
}

RowWebhook::RowWebhook(RowWebhookOptions options, std::function<void(size_t shard)> wake) {
    if (!starts_with_nocase(options.url, "http://") && !starts_with_nocase(options.url, "https://"))
        throw usage_error(
            "row webhook URL \"" + displayed_url(options.url) +
                "\" is not an http:// or https:// URL",
            "Give the URL of the app's endpoint, e.g. https://app.example/authorize.");
    if (options.concurrency < 1 || options.batch_size < 1 || options.timeout.count() < 1)
        throw usage_error("row webhook concurrency, batch size and timeout must be at least 1");
    init_curl_once();
    m_impl = std::make_unique<Impl>(std::move(options), std::move(wake));
    Impl& impl = *m_impl;
    impl.multi.reset(curl_multi_init());
    if (!impl.multi) throw Error("could not create the row webhook's HTTP client (libcurl)");
    // Keep one idle connection per possible call, so calls reuse them (HTTP keep-alive).
    curl_multi_setopt(impl.multi.get(), CURLMOPT_MAXCONNECTS, long(impl.options.concurrency));
    curl_multi_setopt(impl.multi.get(), CURLMOPT_MAX_TOTAL_CONNECTIONS,
                      long(impl.options.concurrency));
    curl_slist* headers = nullptr;
    const std::string authorization = "Authorization: Bearer " + impl.options.secret;
    for (const char* header : {"Content-Type: application/json", "Accept: application/json",
                               "Expect:", // no 100-continue round trip for large batches
                               impl.options.secret.empty() ? nullptr : authorization.c_str()}) {
        if (!header) continue;
        curl_slist* longer = curl_slist_append(headers, header);
        if (!longer) {
            curl_slist_free_all(headers);
            throw Error("could not create the row webhook's HTTP client (libcurl)");
        }
        headers = longer;
    }
    impl.headers.reset(headers);
    impl.thread = std::thread([&impl] { impl.run(); });
}

RowWebhook::~RowWebhook() = default;

std::optional<RowVerdict> RowWebhook::cached(const RowCheck& check) {
    Impl& impl = *m_impl;
    if (impl.options.cache_ttl.count() <= 0) return std::nullopt;
    const std::string key = check_key(check);
    std::optional<bool> authorized;
    {
        std::lock_guard lock(impl.cache_mutex);
        authorized = impl.cache.find(key, Clock::now());
    }
    if (!authorized) return std::nullopt;
    ++impl.cache_hits;
    if (*authorized) return RowVerdict{check.ticket, RowVerdict::Kind::Authorized, {}};
    return RowVerdict{check.ticket, RowVerdict::Kind::Denied,
                      impl.reason("delivery not authorized")};
}

void RowWebhook::submit(std::vector<RowCheck>&& checks) {
    if (checks.empty()) return;
    Impl& impl = *m_impl;
    impl.checks += checks.size();
    {
        std::lock_guard lock(impl.queue_mutex);
        if (impl.queue.empty())
            impl.queue = std::move(checks);
        else
            impl.queue.insert(impl.queue.end(), std::make_move_iterator(checks.begin()),
                              std::make_move_iterator(checks.end()));
    }
    checks.clear();
    curl_multi_wakeup(impl.multi.get());
}

std::vector<RowVerdict> RowWebhook::take_results(size_t shard) {
    Impl& impl = *m_impl;
    std::vector<RowVerdict> taken;
    std::lock_guard lock(impl.results_mutex);
    auto it = impl.results.find(shard);
    if (it != impl.results.end()) taken.swap(it->second);
    return taken;
}

const RowWebhookOptions& RowWebhook::options() const {
    return m_impl->options;
}

RowWebhook::Stats RowWebhook::stats() const {
    const Impl& impl = *m_impl;
    Stats stats;
    stats.calls = impl.calls;
    stats.checks = impl.checks;
    stats.cache_hits = impl.cache_hits;
    stats.failures = impl.failures;
    stats.coalesced = impl.coalesced;
    stats.in_flight = impl.in_flight;
    return stats;
}

} // namespace pgsync::serve
