// The row webhook client: asks the app's backend whether a row may reach a user, off the event
// loops, on one thread running libcurl's multi interface; coalesces identical checks, batches them
// and caches verdicts. Every failure is a Failed verdict with its reason (fail closed).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace pgsync::config {
struct RowWebhook;
}

namespace pgsync::serve {

struct RowWebhookOptions {
    std::string url;                            // http:// or https://
    std::chrono::milliseconds timeout{2000};    // per HTTP call
    int concurrency = 16;                       // HTTP calls in flight at most
    std::chrono::milliseconds cache_ttl{60000}; // a verdict is reused this long (0: never)
    size_t batch_size = 1;                      // >1: POST arrays of up to n checks
    enum class OnDeny { Cancel, DropRow } on_deny = OnDeny::Cancel;
    std::string source_db_id; // "sourceDbId" in each request
    std::string secret;       // sent as "Authorization: Bearer <secret>", so the app knows the
                              // caller; empty: no Authorization header
    size_t max_cache_entries = 1'000'000;
};

// The options serve.auth.row_webhook of pgsync.yaml stands for (the loader has checked its values;
// one it could not have accepted throws a usage Error, as does a secret_env naming a variable that
// is not set). source_db_id stays empty when not given.
RowWebhookOptions row_webhook_options(const config::RowWebhook& config);

struct RowCheck {
    uint64_t ticket = 0; // the caller's, returned with the verdict
    size_t shard = 0;    // which event loop takes the verdict
    std::string user_id; // the token's sub
    std::string schema, table;
    std::string row_json; // the row as pgsync renders it ({"col":value,...}); also the cache's row
                          // version. Sent as it is: it must be valid JSON text.
};

struct RowVerdict {
    uint64_t ticket = 0;
    enum class Kind { Authorized, Denied, Failed } kind = Kind::Failed;
    std::string reason; // Failed/Denied: one line for the client ("webhook http://h/a: HTTP 500")
};

class RowWebhook {
public:
    // wake(shard): verdicts for that shard are waiting (called from the webhook's thread, when the
    // shard's list goes from empty to non-empty; never with a lock held; it must not throw, and
    // should only signal the event loop, which then calls take_results). Throws a usage Error when
    // the options are not usable (a URL that is not http(s), a concurrency or batch size of 0).
    RowWebhook(RowWebhookOptions options, std::function<void(size_t shard)> wake);
    ~RowWebhook(); // stops the thread; checks in flight are dropped (no verdict, no wake)
    RowWebhook(const RowWebhook&) = delete;
    RowWebhook& operator=(const RowWebhook&) = delete;

    // A cached verdict at once (no HTTP call), or nullopt: then submit it. Any thread.
    std::optional<RowVerdict> cached(const RowCheck& check);
    // Any thread; never blocks on HTTP. Each check gets exactly one verdict (unless the webhook is
    // destroyed first), possibly shared with identical checks waiting or in flight.
    void submit(std::vector<RowCheck>&& checks);
    // The verdicts waiting for `shard`, in the order they were decided. Any thread.
    std::vector<RowVerdict> take_results(size_t shard);
    const RowWebhookOptions& options() const;

    struct Stats {
        uint64_t calls = 0;      // HTTP calls made (a batch is one call)
        uint64_t checks = 0;     // checks submitted
        uint64_t cache_hits = 0; // checks answered from the cache, by cached() or on submit
        uint64_t failures = 0;   // HTTP calls that ended with a Failed verdict for any check
        uint64_t coalesced = 0;  // checks that joined an identical check waiting or in flight
        uint64_t in_flight = 0;  // HTTP calls in flight now
    };
    Stats stats() const;

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

// The URL as it may appear in messages: without user:password@ and without the query (either may
// hold a secret).
std::string displayed_url(const std::string& url);

} // namespace pgsync::serve
