// The row webhook's options from pgsync.yaml, and the URL as messages show it (the client itself is
// tested against a real HTTP server in tests/integration/serve/row_webhook_test.cpp).
#include "config/load.h"
#include "serve/access/row_webhook.h"
#include "util/error.h"

#include <cstdlib>

#include <catch2/catch.hpp>

using namespace pgsync::serve;
using namespace std::chrono_literals;

TEST_CASE("row_webhook_options turns serve.auth.row_webhook into the client's options",
          "[serve][webhook]") {
    pgsync::config::LoadResult loaded = pgsync::config::load_text(R"(serve:
  auth:
    row_webhook:
      url: https://app.example/authorize
      timeout: 750ms
      concurrency: 4
      cache_ttl: 5m
      batch_size: 50
      on_deny: drop
      source_db_id: chat
)",
                                                                  "w.yaml");
    REQUIRE(pgsync::config::format_text(loaded.diagnostics) == "");
    const RowWebhookOptions options = row_webhook_options(*loaded.config.serve.auth.row_webhook);
    CHECK(options.url == "https://app.example/authorize");
    CHECK(options.timeout == 750ms);
    CHECK(options.concurrency == 4);
    CHECK(options.cache_ttl == 300s);
    CHECK(options.batch_size == 50);
    CHECK(options.on_deny == RowWebhookOptions::OnDeny::DropRow);
    CHECK(options.source_db_id == "chat");

    pgsync::config::RowWebhook defaults;
    defaults.url.value = "http://127.0.0.1:3000/";
    const RowWebhookOptions fallback = row_webhook_options(defaults);
    CHECK(fallback.timeout == 2s);
    CHECK(fallback.cache_ttl == 60s);
    CHECK(fallback.concurrency == 16);
    CHECK(fallback.batch_size == 1);
    CHECK(fallback.on_deny == RowWebhookOptions::OnDeny::Cancel);
    CHECK(fallback.source_db_id.empty());
    defaults.cache_ttl.value = "0";
    CHECK(row_webhook_options(defaults).cache_ttl == 0ms);
}

TEST_CASE("a webhook URL is shown without its credentials and query", "[serve][webhook]") {
    CHECK(displayed_url("https://u:secret@app.example:8443/a/b?key=k#f") ==
          "https://app.example:8443/a/b");
    CHECK(displayed_url("http://127.0.0.1:3000/check") == "http://127.0.0.1:3000/check");
    CHECK(displayed_url("http://app.example?token=t") == "http://app.example");
    CHECK(displayed_url("http://app.example/p@q") == "http://app.example/p@q");
}

TEST_CASE("row_webhook_options reads the secret from the variable secret_env names, and refuses "
          "one that is not set",
          "[serve][webhook]") {
    auto load = [](const std::string& variable) {
        return pgsync::config::load_text("serve:\n  auth:\n    row_webhook:\n      url: http://h/\n"
                                         "      secret_env: " +
                                             variable + "\n",
                                         "w.yaml");
    };
    ::setenv("PGSYNC_TEST_WEBHOOK_SECRET", "hook-secret", 1);
    auto loaded = load("PGSYNC_TEST_WEBHOOK_SECRET");
    REQUIRE(pgsync::config::format_text(loaded.diagnostics) == "");
    CHECK(row_webhook_options(*loaded.config.serve.auth.row_webhook).secret == "hook-secret");
    ::unsetenv("PGSYNC_TEST_WEBHOOK_SECRET");
    try {
        row_webhook_options(*loaded.config.serve.auth.row_webhook);
        FAIL("an unset variable was accepted");
    } catch (const pgsync::Error& e) {
        CHECK(std::string(e.what()) == "environment variable \"PGSYNC_TEST_WEBHOOK_SECRET\" named "
                                       "by serve.auth.row_webhook.secret_env is not set");
    }
    CHECK(pgsync::config::format_text(load("not-a-name").diagnostics).find("secret_env") !=
          std::string::npos);
}
