// Rendering pgsync.yaml: the effective configuration marks defaults and masks passwords, and both
// it and the starting file load back with zero diagnostics.
#include "config/load.h"
#include "config/render.h"

#include <catch2/catch.hpp>
#include <cstdlib>

using namespace pgsync::config;

TEST_CASE("mask_password hides the password of a conninfo or a URI and nothing else", "[config]") {
    CHECK(mask_password("host=h password=s3cret user=u") == "host=h password=**** user=u");
    CHECK(mask_password("password = 'it\\'s x' dbname=d") == "password = **** dbname=d");
    CHECK(mask_password("host=h") == "host=h");
    CHECK(mask_password("postgresql://u:s3cret@h:5432/db") == "postgresql://u:****@h:5432/db");
    CHECK(mask_password("postgres://u@h/db?password=s3cret&sslmode=require") ==
          "postgres://u@h/db?password=****&sslmode=require");
    CHECK(mask_password("postgresql://h/db") == "postgresql://h/db");
}

TEST_CASE("render_effective shows every key, marks defaults and masks the password", "[config]") {
    ::setenv("PGSYNC_RENDER_TEST_SET", "x", 1);
    ::unsetenv("PGSYNC_RENDER_TEST_UNSET");
    LoadResult loaded = load_text(R"(source:
  dsn: "host=db password=hunter2 dbname=app"
  slot: s
tables:
  - name: messages
    live_queries:
      - conditions: [[room, "="]]
    channels:
      - name: all
snapshot:
  jobs: 3
serve:
  auth: {jwt_secret_env: PGSYNC_RENDER_TEST_SET, api_key_env: PGSYNC_RENDER_TEST_UNSET}
)",
                                  "r.yaml");
    REQUIRE(format_text(loaded.diagnostics) == "");
    const std::string text = render_effective(loaded.config, true);
    CHECK(text ==
          R"(# Effective configuration of "r.yaml": values marked "# default" are not in the file.
source:
  dsn: "host=db password=**** dbname=app"
  dsn_env: null   # default
  slot: s
  publication: null   # default
tables:
  - name: messages
    columns: null   # default, every column
    live_queries:
      - conditions: [[room, "="]]
    channels:
      - name: all
        operations: [insert, update, delete, truncate]   # default
stream:
  format: native   # default
  ack_file: null   # default
  status_interval: 10   # default
  spill_dir: null   # default
snapshot:
  jobs: 3
  numbers_as_strings: false   # default
serve:
  listen: "127.0.0.1:8080"   # default
  storage_dir: ./pgsync-data   # default
  source: null   # default
  retain_bytes: "1GB"   # default
  retain_age: "7d"   # default
  client_queue_bytes: "4MB"   # default
  client_timeout: 30   # default
  max_clients: 20000   # default
  load_jobs: 2   # default
  threads: 0   # default, one per CPU
  auth:
    jwt_secret_env: PGSYNC_RENDER_TEST_SET   # (set)
    api_key_env: PGSYNC_RENDER_TEST_UNSET   # (not set)
    insecure: false   # default
    jwt_public_key_file: null   # default
    jwks_file: null   # default
    jwt_claim: pgsync   # default
    jwt_issuer: null   # default
    jwt_audience: null   # default
    row_webhook: null   # default, no per-row authorisation
publish:
  nats: null   # default, --nats or $NATS_URL
  stream: PGSYNC   # default
  ack_file: null   # default
  subject_prefix: pgsync   # default
  channel_subject: "{prefix}.{channel}"   # default
  table_subject: "{prefix}.{schema}.{table}.{op}"   # default
  max_in_flight: 1024   # default
  ack_timeout: 10   # default
  create_stream: false   # default
  replicas: 1   # default
)");
    CHECK(render_effective(loaded.config, false).find("password=hunter2") != std::string::npos);

    LoadResult again = load_text(text, "rendered.yaml");
    CHECK(format_text(again.diagnostics) == "");
    CHECK(again.config.snapshot.jobs.value == 3);
    CHECK(again.config.tables.at(0).live_queries.at(0).conditions.at(0).op.value == "=");
    ::unsetenv("PGSYNC_RENDER_TEST_SET");
}

TEST_CASE("render_effective shows the row webhook with its defaults and masks the URL's password",
          "[config]") {
    LoadResult loaded = load_text(R"(serve:
  auth:
    insecure: true
    row_webhook:
      url: "https://pgsync:s3cret@app.example/authorize"
      timeout: 500ms
      batch_size: 20
      on_deny: drop
)",
                                  "w.yaml");
    REQUIRE(format_text(loaded.diagnostics) == "");
    const std::string text = render_effective(loaded.config, true);
    const std::size_t start = text.find("    row_webhook:");
    const std::string webhook = text.substr(start, text.find("publish:") - start);
    CHECK(webhook == R"(    row_webhook:
      url: "https://pgsync:****@app.example/authorize"
      timeout: "500ms"
      concurrency: 16   # default
      cache_ttl: "60s"   # default
      batch_size: 20
      on_deny: drop
      source_db_id: null   # default, the database's name
)");
    CHECK(render_effective(loaded.config, false).find("s3cret") != std::string::npos);
    LoadResult again = load_text(text, "rendered.yaml");
    CHECK(format_text(again.diagnostics) == "");
    REQUIRE(again.config.serve.auth.row_webhook);
    CHECK(again.config.serve.auth.row_webhook->batch_size.value == 20);
    CHECK(again.config.serve.auth.row_webhook->timeout.value == "500ms");
}

TEST_CASE("render_effective shows the publish section, masks NATS passwords and reads back",
          "[config][publish]") {
    LoadResult loaded = load_text(R"(publish:
  nats: "nats://app:s3cret@a:4222,nats://b:4222,nats://u:pw2@c:4222"
  stream: EVENTS
  ack_file: /run/pgsync/acks
  subject_prefix: app.cdc
  table_subject: "{prefix}.{schema}.{table}.{op}.rows"
  max_in_flight: 64
  ack_timeout: 2.5
  create_stream: true
  replicas: 3
)",
                                  "p.yaml");
    REQUIRE(format_text(loaded.diagnostics) == "");
    const std::string text = render_effective(loaded.config, true);
    CHECK(text.substr(text.find("publish:")) == R"(publish:
  nats: "nats://app:****@a:4222,nats://b:4222,nats://u:****@c:4222"
  stream: EVENTS
  ack_file: /run/pgsync/acks
  subject_prefix: app.cdc
  channel_subject: "{prefix}.{channel}"   # default
  table_subject: "{prefix}.{schema}.{table}.{op}.rows"
  max_in_flight: 64
  ack_timeout: 2.5
  create_stream: true
  replicas: 3
)");
    CHECK(render_effective(loaded.config, false).find("s3cret@a:4222") != std::string::npos);
    LoadResult again = load_text(render_effective(loaded.config, false), "rendered.yaml");
    CHECK(format_text(again.diagnostics) == "");
    const Publish& back = again.config.publish;
    CHECK(back.nats.value == loaded.config.publish.nats.value);
    CHECK(back.subject_prefix.value == "app.cdc");
    CHECK(back.table_subject.value == "{prefix}.{schema}.{table}.{op}.rows");
    CHECK(back.max_in_flight.value == 64);
    CHECK(back.ack_timeout.value == 2.5);
    CHECK(back.create_stream.value);
    CHECK(back.replicas.value == 3);
}

TEST_CASE("render_effective quotes strings that YAML would read as something else", "[config]") {
    Config config;
    config.file = "q.yaml";
    config.source.slot = {"true", true, {}};
    config.source.publication = {"12", true, {}};
    config.stream.spill_dir = {"a: \"b\"", true, {}};
    const std::string text = render_effective(config, true);
    LoadResult back = load_text(text, "q.yaml");
    CHECK(back.config.source.publication.value == "12");
    CHECK(back.config.stream.spill_dir.value == "a: \"b\"");
    CHECK(text.find("slot: \"true\"") != std::string::npos);
}

TEST_CASE("the starting file loads with zero diagnostics and uses every section", "[config]") {
    const std::string text = starter_file();
    LoadResult result = load_text(text, "pgsync.yaml");
    CHECK(format_text(result.diagnostics) == "");
    for (const char* section : {"\nsource:", "\ntables:", "\nstream:", "\nsnapshot:", "\nserve:",
                                "\npublish:"})
        CHECK(text.find(section) != std::string::npos);
    CHECK(result.config.source.slot.set);
}
