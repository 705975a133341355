// The pgsync.yaml loader: the model it builds, and each diagnostic with its exact position and
// wording; every problem of a file is reported in one run.
#include "config/load.h"
#include "config/table_name.h"
#include "util/error.h"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>

using namespace pgsync::config;

namespace {

// The diagnostics of `text` loaded as "t.yaml", formatted as a tool prints them.
std::string problems(const std::string& text) {
    return format_text(load_text(text, "t.yaml").diagnostics);
}

std::string examples_dir() {
    const char* env = std::getenv("PGSYNC_TEST_DATA");
    return std::string(env ? env : PGSYNC_TEST_DATA_DEFAULT) + "/../../examples/config";
}

} // namespace

TEST_CASE("a complete file loads into the model with the position of every value", "[config]") {
    const std::string text = R"(source:
  dsn: "host=127.0.0.1 dbname=app"
  slot: app_slot
  publication: app_pub
tables:
  - name: public.messages
    columns: [message_id, group_name, message_timestamp]
    live_queries:
      - conditions: [[group_name, "="], [message_timestamp, ">"]]
    channels:
      - name: chat-added
        operations: [insert]
      - name: chat-all
stream: {format: wal2json, status_interval: 2.5}
snapshot: {jobs: 4, numbers_as_strings: true}
serve:
  listen: "[::1]:9000"
  auth: {jwt_secret_env: JWT, insecure: false}
)";
    LoadResult result = load_text(text, "t.yaml");
    REQUIRE(format_text(result.diagnostics) == "");
    const Config& c = result.config;
    CHECK(c.source.dsn.value == "host=127.0.0.1 dbname=app");
    CHECK(c.source.dsn.origin.file == "t.yaml");
    CHECK(c.source.dsn.origin.line == 2);
    CHECK(c.source.dsn.origin.column == 8);
    CHECK(c.source.slot.value == "app_slot");
    REQUIRE(c.tables.size() == 1);
    CHECK(c.tables[0].name.value == "public.messages");
    REQUIRE(c.tables[0].columns);
    CHECK(c.tables[0].columns->size() == 3);
    REQUIRE(c.tables[0].live_queries.size() == 1);
    REQUIRE(c.tables[0].live_queries[0].conditions.size() == 2);
    CHECK(c.tables[0].live_queries[0].conditions[1].op.value == ">");
    REQUIRE(c.tables[0].channels.size() == 2);
    CHECK(c.tables[0].channels[0].operations.size() == 1);
    CHECK(c.tables[0].channels[1].operations.size() == 4); // all four when left out
    CHECK_FALSE(c.tables[0].channels[1].operations[0].set);
    CHECK(c.stream.format.value == "wal2json");
    CHECK(c.stream.status_interval.value == 2.5);
    CHECK_FALSE(c.stream.ack_file.set);
    CHECK(c.snapshot.jobs.value == 4);
    CHECK(c.snapshot.jobs.set);
    CHECK(c.snapshot.numbers_as_strings.value);
    CHECK(c.serve.listen.value == "[::1]:9000");
    CHECK(c.serve.storage_dir.value == "./pgsync-data");
    CHECK_FALSE(c.serve.storage_dir.set);
    CHECK(c.serve.auth.jwt_secret_env.value == "JWT");
}

TEST_CASE("JSON is accepted, being YAML", "[config]") {
    LoadResult result = load_text(
        R"({"source": {"slot": "s1"}, "tables": [{"name": "t", "columns": ["a", "b"]}], "snapshot": {"jobs": 8}})",
        "t.json");
    REQUIRE(format_text(result.diagnostics) == "");
    CHECK(result.config.source.slot.value == "s1");
    CHECK(result.config.snapshot.jobs.value == 8);
    REQUIRE(result.config.tables.size() == 1);
    CHECK(result.config.tables[0].columns->at(1).value == "b");
}

TEST_CASE("a misspelt key is reported with the closest valid key", "[config]") {
    CHECK(problems("source:\n  publicaton: p\n") ==
          "t.yaml:2:3: error: unknown key \"publicaton\" in \"source\"\n"
          "hint: Did you mean \"publication\"?\n");
}

TEST_CASE("an unknown key far from every valid one lists the valid keys", "[config]") {
    CHECK(problems("snapshot:\n  parallelism: 4\n") ==
          "t.yaml:2:3: error: unknown key \"parallelism\" in \"snapshot\"\n"
          "hint: Valid keys in \"snapshot\" are \"jobs\" and \"numbers_as_strings\".\n");
}

TEST_CASE("a misspelt section is reported with the closest section", "[config]") {
    CHECK(problems("tabels: []\n") ==
          "t.yaml:1:1: error: unknown section \"tabels\"\nhint: Did you mean \"tables\"?\n");
    CHECK(problems("database: {}\n") ==
          "t.yaml:1:1: error: unknown section \"database\"\nhint: Valid sections are \"source\", "
          "\"tables\", \"stream\", \"snapshot\", \"serve\" and \"publish\".\n");
}

TEST_CASE("a key given twice is reported at the second", "[config]") {
    CHECK(problems("source:\n  slot: a\n  slot: b\n") ==
          "t.yaml:3:3: error: duplicate key \"slot\" in \"source\"\nhint: The first \"slot\" is at "
          "line 2.\n");
}

TEST_CASE("a value of the wrong type names both types", "[config]") {
    CHECK(problems("snapshot:\n  jobs: \"4\"\n") ==
          "t.yaml:2:9: error: \"jobs\" in \"snapshot\" must be an integer, not a string\n");
    CHECK(problems("snapshot:\n  jobs: 2.5\n") ==
          "t.yaml:2:9: error: \"jobs\" in \"snapshot\" must be an integer, not a number\n");
    CHECK(problems("snapshot:\n  numbers_as_strings: yes\n") ==
          "t.yaml:2:23: error: \"numbers_as_strings\" in \"snapshot\" must be a boolean, not a "
          "string\n"
          "hint: Write true or false.\n");
    CHECK(problems("stream:\n  status_interval: [1]\n") ==
          "t.yaml:2:20: error: \"status_interval\" in \"stream\" must be a number, not a list\n");
    CHECK(problems("source: [a]\n") ==
          "t.yaml:1:9: error: \"source\" must be a mapping, not a list\n");
    CHECK(problems("tables: {}\n") ==
          "t.yaml:1:9: error: \"tables\" must be a list, not a mapping\n");
    CHECK(problems("source:\n  slot: 12\n") ==
          "t.yaml:2:9: error: \"slot\" in \"source\" must be a string, not an integer\n"
          "hint: Quote the value to make it a string: \"12\".\n");
    CHECK(problems("- a\n") ==
          "t.yaml:1:1: error: the file must be a mapping of sections, not a list\n"
          "hint: A configuration starts with sections such as \"source:\" and \"tables:\".\n");
}

TEST_CASE("a number outside its range names the range", "[config]") {
    CHECK(problems("snapshot:\n  jobs: 65\n") ==
          "t.yaml:2:9: error: \"jobs\" in \"snapshot\" must be between 1 and 64\n");
    CHECK(problems("snapshot:\n  jobs: 0\n") ==
          "t.yaml:2:9: error: \"jobs\" in \"snapshot\" must be between 1 and 64\n");
    CHECK(problems("snapshot:\n  jobs: 99999999999999999999999\n") ==
          "t.yaml:2:9: error: \"jobs\" in \"snapshot\" must be between 1 and 64\n");
    CHECK(problems("stream:\n  status_interval: 0\n") ==
          "t.yaml:2:20: error: \"status_interval\" in \"stream\" must be greater than 0\n");
    CHECK(problems("stream:\n  status_interval: .inf\n") ==
          "t.yaml:2:20: error: \"status_interval\" in \"stream\" must be finite\n");
}

TEST_CASE("required keys are reported by the index of their item", "[config]") {
    CHECK(problems("tables:\n  - name: a\n  - name: b\n  - columns: [x]\n") ==
          "t.yaml:4:5: error: table at index 2 has no \"name\"\n"
          "hint: Name the table as name or schema.name, e.g. name: public.messages.\n");
    CHECK(problems("tables:\n  - name:\n") ==
          "t.yaml:2:5: error: table at index 0 has no \"name\"\n"
          "hint: Name the table as name or schema.name, e.g. name: public.messages.\n");
    CHECK(problems("tables:\n  - name: a\n    channels:\n      - operations: [insert]\n") ==
          "t.yaml:4:9: error: channel at index 0 in \"tables[0]\" has no \"name\"\n");
    CHECK(problems("tables:\n  - name: a\n    live_queries:\n      - {}\n") ==
          "t.yaml:4:9: error: live query at index 0 in \"tables[0]\" has no \"conditions\"\n"
          "hint: List the conditions a client gives, e.g. conditions: [[group_name, \"=\"]].\n");
}

TEST_CASE("table names are parsed like PostgreSQL identifiers", "[config]") {
    CHECK(parse_table_name("Messages") == TableName{"public", "messages"});
    CHECK(parse_table_name("app.messages") == TableName{"app", "messages"});
    CHECK(parse_table_name("\"My Schema\".\"T\"") == TableName{"My Schema", "T"});
    CHECK(parse_table_name("\"a\"\"b\"") == TableName{"public", "a\"b"});
    for (const char* bad : {"a.b.c", "", ".a", "a.", "\"unterminated", "\"\"", "a b", "1a", "a..b"})
        CHECK_FALSE(parse_table_name(bad));
    const std::string hint =
        "hint: Write name or schema.name; double-quote an identifier that needs "
        "it, e.g. '\"My Schema\".\"T\"'.\n";
    CHECK(problems("tables:\n  - name: a.b.c\n") ==
          "t.yaml:2:11: error: invalid table name \"a.b.c\"\n" + hint);
    CHECK(problems("tables:\n  - name: '\"open.t'\n") ==
          "t.yaml:2:11: error: invalid table name \"\"open.t\"\n" + hint);
}

TEST_CASE("a table named twice is reported at the second, also when spelt differently",
          "[config]") {
    CHECK(problems("tables:\n  - name: messages\n  - name: public.MESSAGES\n") ==
          "t.yaml:3:11: error: duplicate table name \"public.MESSAGES\"\n"
          "hint: The first table with this name is at line 2.\n");
}

TEST_CASE("a condition must be a [column, operator] pair", "[config]") {
    const std::string expected =
        "t.yaml:4:22: error: condition must be [column, operator]\n"
        "hint: Write each condition as a two-element list, e.g. [group_name, \"=\"].\n";
    CHECK(problems("tables:\n  - name: t\n    live_queries:\n      - conditions: [a]\n") ==
          "t.yaml:4:22: error: condition must be [column, operator]\n"
          "hint: Write each condition as a two-element list, e.g. [group_name, \"=\"].\n");
    CHECK(problems(
              "tables:\n  - name: t\n    live_queries:\n      - conditions: [[a, \"=\", b]]\n") ==
          expected);
    CHECK(problems("tables:\n  - name: t\n    live_queries:\n      - conditions: [[a, [b]]]\n") ==
          expected);
}

TEST_CASE("an unknown operator lists the allowed ones", "[config]") {
    CHECK(
        problems("tables:\n  - name: t\n    live_queries:\n      - conditions: [[a, \"!=\"]]\n") ==
        "t.yaml:4:26: error: unknown operator \"!=\" in condition\n"
        "hint: Valid operators are \"=\", \"<\", \"<=\", \">\" and \">=\".\n");
}

TEST_CASE("a live query with two inequalities is rejected", "[config]") {
    CHECK(problems("tables:\n  - name: t\n    live_queries:\n"
                   "      - conditions: [[a, \"=\"], [b, \">\"], [c, \"<=\"]]\n") ==
          "t.yaml:4:9: error: live query has 2 inequality conditions; at most one is allowed\n"
          "hint: An index serves any number of equality conditions plus one range condition; split "
          "the query or filter the rest in the client.\n");
}

TEST_CASE("a condition column must be one of the table's columns when they are listed",
          "[config]") {
    CHECK(problems("tables:\n  - name: t\n    columns: [a, b]\n    live_queries:\n"
                   "      - conditions: [[foo, \"=\"], [a, \"=\"]]\n") ==
          "t.yaml:5:23: error: column \"foo\" in a condition is not in the table's \"columns\"\n"
          "hint: Add it to \"columns\", or correct the name.\n");
    CHECK(
        problems("tables:\n  - name: t\n    live_queries:\n      - conditions: [[foo, \"=\"]]\n") ==
        "");
}

TEST_CASE("columns must be unique and not empty", "[config]") {
    CHECK(problems("tables:\n  - name: t\n    columns: [a, b, a]\n") ==
          "t.yaml:3:21: error: duplicate column \"a\" in \"tables[0]\"\nhint: The first \"a\" is "
          "at line 3.\n");
    CHECK(problems("tables:\n  - name: t\n    columns: []\n") ==
          "t.yaml:3:14: error: \"columns\" in \"tables[0]\" must not be empty\n"
          "hint: Leave out \"columns\" to replicate every column.\n");
    CHECK(problems("tables:\n  - name: t\n    columns: [a, 1]\n") ==
          "t.yaml:3:18: error: \"columns[1]\" in \"tables[0]\" must be a string, not an integer\n"
          "hint: Quote the value to make it a string: \"1\".\n");
}

TEST_CASE("channel names are unique across the whole file", "[config]") {
    CHECK(problems("tables:\n  - name: a\n    channels:\n      - name: chat-added\n"
                   "  - name: b\n    channels:\n      - name: chat-added\n") ==
          "t.yaml:7:15: error: duplicate channel name \"chat-added\"\n"
          "hint: The first channel named \"chat-added\" is at line 4.\n");
}

TEST_CASE("channel operations are known, unique and not empty", "[config]") {
    const std::string head = "tables:\n  - name: a\n    channels:\n      - name: c\n";
    CHECK(problems(head + "        operations: [insert, upsert]\n") ==
          "t.yaml:5:30: error: unknown operation \"upsert\" in \"tables[0].channels[0]\"\n"
          "hint: Valid operations are \"insert\", \"update\", \"delete\" and \"truncate\".\n");
    CHECK(problems(head + "        operations: [insert, insert]\n") ==
          "t.yaml:5:30: error: duplicate operation \"insert\" in \"tables[0].channels[0]\"\n"
          "hint: The first \"insert\" is at line 5.\n");
    CHECK(problems(head + "        operations: []\n") ==
          "t.yaml:5:21: error: \"operations\" in \"tables[0].channels[0]\" must not be empty\n"
          "hint: Leave out \"operations\" for all four, or name at least one.\n");
}

TEST_CASE("source takes dsn or dsn_env, not both", "[config]") {
    CHECK(problems("source:\n  dsn: host=x\n  dsn_env: PGSYNC_DSN\n") ==
          "t.yaml:3:12: error: \"source\" has both \"dsn\" and \"dsn_env\"\n"
          "hint: Give the connection string in \"dsn\" or the name of the variable holding it in "
          "\"dsn_env\", not both.\n");
    CHECK(problems("source:\n  dsn_env: host=x\n") ==
          "t.yaml:2:12: error: \"dsn_env\" in \"source\" must name an environment variable\n"
          "hint: An environment variable name has letters, digits and underscores, e.g. "
          "PGSYNC_DSN.\n");
}

TEST_CASE("stream, slot and listen values are checked", "[config]") {
    CHECK(problems("stream:\n  format: xml\n") ==
          "t.yaml:2:11: error: unknown format \"xml\" in \"stream\"\n"
          "hint: Valid formats are \"native\", \"wal2json\" and \"debezium\".\n");
    CHECK(
        problems("source:\n  slot: App-Slot\n") ==
        "t.yaml:2:9: error: invalid replication slot name \"App-Slot\"\n"
        "hint: A slot name has lower-case letters, digits and underscores, at most 63 of them.\n");
    const std::string listen_hint = "hint: Write host:port with a port between 1 and 65535, e.g. "
                                    "127.0.0.1:8080 or [::1]:8080.\n";
    for (const char* bad :
         {"localhost", "localhost:0", "localhost:65536", ":80", "::1:80", "[::1]", "h:8x"})
        CHECK(problems(std::string("serve:\n  listen: \"") + bad + "\"\n") ==
              "t.yaml:2:11: error: invalid listen address \"" + std::string(bad) +
                  "\" in \"serve\"\n" + listen_hint);
    for (const char* good : {"localhost:1", "0.0.0.0:65535", "[::1]:8080", "[::]:80"})
        CHECK(problems(std::string("serve:\n  listen: \"") + good + "\"\n") == "");
}

TEST_CASE("every problem of a file is reported in one run, in file order", "[config]") {
    const std::string text = R"(source:
  publicaton: p
  dsn: a
  dsn_env: B
tables:
  - name: a.b.c
  - columns: [x]
  - name: t
    live_queries:
      - conditions: [[x, "!="], [y, ">"], [z, "<"]]
    channels:
      - name: c
      - name: c
snapshot:
  jobs: 100
serve:
  auth: {insecure: maybe}
)";
    LoadResult result = load_text(text, "t.yaml");
    std::vector<std::string> got;
    for (const Diagnostic& d : result.diagnostics)
        got.push_back(std::to_string(d.origin.line) + ":" + std::to_string(d.origin.column) + " " +
                      d.message);
    CHECK(got == std::vector<std::string>{
                     "2:3 unknown key \"publicaton\" in \"source\"",
                     "4:12 \"source\" has both \"dsn\" and \"dsn_env\"",
                     "6:11 invalid table name \"a.b.c\"",
                     "7:5 table at index 1 has no \"name\"",
                     "10:9 live query has 2 inequality conditions; at most one is allowed",
                     "10:26 unknown operator \"!=\" in condition",
                     "13:15 duplicate channel name \"c\"",
                     "15:9 \"jobs\" in \"snapshot\" must be between 1 and 64",
                     "17:20 \"insecure\" in \"serve.auth\" must be a boolean, not a string",
                 });
}

TEST_CASE("a file of comments only loads as all defaults, null values keep the default",
          "[config]") {
    LoadResult result = load_text("# nothing yet\n", "t.yaml");
    CHECK(result.diagnostics.empty());
    result = load_text("source:\nstream:\n  format:\n", "t.yaml");
    CHECK(format_text(result.diagnostics) == "");
    CHECK(result.config.stream.format.value == "native");
}

TEST_CASE("a file that cannot be read is one diagnostic", "[config]") {
    LoadResult result = load_file("/nonexistent/pgsync.yaml");
    CHECK(format_text(result.diagnostics) ==
          "/nonexistent/pgsync.yaml: error: could not open file \"/nonexistent/pgsync.yaml\": No "
          "such file or directory\n");
}

TEST_CASE("load_or_throw throws a usage error listing every problem", "[config]") {
    const std::string path = "load_or_throw_test.yaml";
    std::ofstream(path) << "source:\n  slotx: a\nsnapshot: {jobs: 0}\n";
    try {
        load_or_throw(path);
        FAIL("no error thrown");
    } catch (const pgsync::Error& e) {
        CHECK(e.exit_code() == pgsync::kExitUsage);
        CHECK(std::string(e.what()) ==
              "configuration file \"" + path + "\" is not valid: 2 errors");
        CHECK(e.hint() == "Correct these problems (\"pgsync-config validate\" checks a file):\n"
                          "  " +
                              path +
                              ":2:3: error: unknown key \"slotx\" in \"source\"\n"
                              "    hint: Did you mean \"slot\"?\n"
                              "  " +
                              path +
                              ":3:18: error: \"jobs\" in \"snapshot\" must be between 1 and 64");
    }
    std::remove(path.c_str());
}

TEST_CASE("resolved_dsn prefers dsn, then the variable named by dsn_env", "[config]") {
    Config config;
    CHECK(config.resolved_dsn() == "");
    config.source.dsn_env = {"PGSYNC_CONFIG_TEST_DSN", true, {}};
    ::unsetenv("PGSYNC_CONFIG_TEST_DSN");
    CHECK_THROWS_WITH(config.resolved_dsn(),
                      Catch::Contains("\"PGSYNC_CONFIG_TEST_DSN\" named by \"dsn_env\""));
    ::setenv("PGSYNC_CONFIG_TEST_DSN", "dbname=x", 1);
    CHECK(config.resolved_dsn() == "dbname=x");
    config.source.dsn = {"dbname=y", true, {}};
    CHECK(config.resolved_dsn() == "dbname=y");
    ::unsetenv("PGSYNC_CONFIG_TEST_DSN");
}

TEST_CASE("the example files load with zero diagnostics", "[config]") {
    for (const char* name : {"minimal.yaml", "full.yaml"}) {
        LoadResult result = load_file(examples_dir() + "/" + name);
        INFO(name);
        CHECK(format_text(result.diagnostics) == "");
    }
}

TEST_CASE("format_json writes one object per diagnostic with every field", "[config]") {
    std::vector<Diagnostic> diagnostics = load_text("source:\n  slotx: a\n", "t.yaml").diagnostics;
    diagnostics.push_back(Diagnostic{Severity::Warning, Origin{"t.yaml", 0, 0}, "a warning", ""});
    CHECK(format_json(diagnostics) == R"([
  {
    "column": 3,
    "file": "t.yaml",
    "hint": "Did you mean \"slot\"?",
    "line": 2,
    "message": "unknown key \"slotx\" in \"source\"",
    "severity": "error"
  },
  {
    "column": 0,
    "file": "t.yaml",
    "hint": "",
    "line": 0,
    "message": "a warning",
    "severity": "warning"
  }
]
)");
    CHECK(format_json({}) == "[]\n");
    CHECK(has_errors(diagnostics));
    CHECK_FALSE(has_errors({diagnostics.back()}));
    CHECK(format_text({diagnostics.back()}) == "t.yaml: warning: a warning\n");
}

TEST_CASE("serve sizes, durations and the client timeout are checked where they are written",
          "[config]") {
    LoadResult ok = load_text("serve:\n  retain_bytes: 512MB\n  retain_age: 36h\n"
                              "  client_queue_bytes: 64kB\n  client_timeout: 2.5\n"
                              "  max_clients: 100\n  load_jobs: 4\n",
                              "s.yaml");
    REQUIRE(format_text(ok.diagnostics) == "");
    CHECK(ok.config.serve.retain_bytes.value == "512MB");
    CHECK(ok.config.serve.client_timeout.value == 2.5);
    CHECK(ok.config.serve.load_jobs.value == 4);
    LoadResult bad = load_text("serve:\n  retain_bytes: lots\n  retain_age: 7 weeks\n"
                               "  client_timeout: 0\n",
                               "s.yaml");
    const std::string text = format_text(bad.diagnostics);
    CHECK(text.find("s.yaml:2:17: error: invalid size \"lots\" in \"serve\"") != std::string::npos);
    CHECK(text.find("s.yaml:3:15: error: invalid duration \"7 weeks\" in \"serve\"") !=
          std::string::npos);
    CHECK(text.find("s.yaml:4:19: error: \"client_timeout\" in \"serve\" must be between 0.1 and "
                    "86400 seconds") != std::string::npos);
}

TEST_CASE("serve.auth takes an identity provider's key files, claim, issuer and audience",
          "[config]") {
    LoadResult result = load_text(R"(serve:
  auth:
    jwt_public_key_file: /etc/pgsync/idp.pem
    jwks_file: jwks.json
    jwt_claim: https://example.com/pgsync
    jwt_issuer: https://idp.example.com/
    jwt_audience: sync
)",
                                  "t.yaml");
    REQUIRE(format_text(result.diagnostics) == "");
    const auto& auth = result.config.serve.auth;
    CHECK(auth.jwt_public_key_file.value == "/etc/pgsync/idp.pem");
    CHECK(auth.jwks_file.value == "jwks.json");
    CHECK(auth.jwt_claim.value == "https://example.com/pgsync");
    CHECK(auth.jwt_issuer.value == "https://idp.example.com/");
    CHECK(auth.jwt_audience.value == "sync");
    CHECK(Config().serve.auth.jwt_claim.value == "pgsync");

    CHECK(format_text(load_text("serve:\n  auth:\n    jwt_claim: \"\"\n", "t.yaml").diagnostics)
              .find("t.yaml:3:16: error: \"jwt_claim\" in \"serve.auth\" must not be empty") != std::string::npos);
    CHECK(format_text(load_text("serve:\n  auth:\n    jwks_file: [a]\n", "t.yaml").diagnostics)
              .find("\"jwks_file\" in \"serve.auth\" must be a string") != std::string::npos);
}

TEST_CASE("serve.auth.row_webhook is read with its defaults, and absent means no webhook",
          "[config]") {
    CHECK_FALSE(
        load_text("serve:\n  auth: {insecure: true}\n", "w.yaml").config.serve.auth.row_webhook);
    LoadResult defaults = load_text(
        "serve:\n  auth:\n    row_webhook: {url: \"http://127.0.0.1:3000/authorize\"}\n", "w.yaml");
    REQUIRE(format_text(defaults.diagnostics) == "");
    REQUIRE(defaults.config.serve.auth.row_webhook);
    const RowWebhook& d = *defaults.config.serve.auth.row_webhook;
    CHECK(d.url.value == "http://127.0.0.1:3000/authorize");
    CHECK(d.url.origin.line == 3);
    CHECK(d.timeout.value == "2s");
    CHECK_FALSE(d.timeout.set);
    CHECK(d.concurrency.value == 16);
    CHECK(d.cache_ttl.value == "60s");
    CHECK(d.batch_size.value == 1);
    CHECK(d.on_deny.value == "cancel");
    CHECK(d.source_db_id.value == "");

    LoadResult given = load_text(R"(serve:
  auth:
    row_webhook:
      url: https://app.example/authorize
      timeout: 500ms
      concurrency: 64
      cache_ttl: 0
      batch_size: 100
      on_deny: drop
      source_db_id: chat
)",
                                 "w.yaml");
    REQUIRE(format_text(given.diagnostics) == "");
    const RowWebhook& g = *given.config.serve.auth.row_webhook;
    CHECK(g.timeout.value == "500ms");
    CHECK(g.timeout.origin.line == 5);
    CHECK(g.concurrency.value == 64);
    CHECK(g.cache_ttl.value == "0");
    CHECK(g.batch_size.value == 100);
    CHECK(g.on_deny.value == "drop");
    CHECK(g.source_db_id.value == "chat");
}

TEST_CASE("each row_webhook value is checked where it is written", "[config]") {
    CHECK(problems("serve:\n  auth:\n    row_webhook: {timeout: 1s}\n") ==
          "t.yaml:3:18: error: \"row_webhook\" in \"serve.auth\" has no \"url\"\n"
          "hint: Give the app's endpoint that authorises rows, e.g. url: "
          "https://app.example/authorize-row.\n");
    CHECK(problems(R"(serve:
  auth:
    row_webhook:
      url: ftp://app.example/authorize
      timeout: 2
      concurrency: 0
      cache_ttl: forever
      batch_size: 1001
      on_deny: ignore
      retries: 3
)") == R"(t.yaml:4:12: error: "url" in "serve.auth.row_webhook" must be an http:// or https:// URL
hint: Give the app's endpoint, e.g. https://app.example/authorize-row.
t.yaml:5:16: error: invalid duration "2" for "timeout" in "serve.auth.row_webhook"
hint: Write a number with a unit: ms, s, m or h, e.g. 500ms or 2s.
t.yaml:6:20: error: "concurrency" in "serve.auth.row_webhook" must be between 1 and 1024
t.yaml:7:18: error: invalid duration "forever" for "cache_ttl" in "serve.auth.row_webhook"
hint: Write a number with a unit: ms, s, m or h, e.g. 500ms or 2s.
t.yaml:8:19: error: "batch_size" in "serve.auth.row_webhook" must be between 1 and 1000
t.yaml:9:16: error: unknown value "ignore" for "on_deny" in "serve.auth.row_webhook"
hint: Valid values are "cancel" (end the subscription) and "drop" (skip the row).
t.yaml:10:7: error: unknown key "retries" in "serve.auth.row_webhook"
hint: Valid keys in "serve.auth.row_webhook" are "url", "timeout", "concurrency", "cache_ttl", "batch_size", "on_deny", "source_db_id" and "secret_env".
)");
    CHECK(problems("serve:\n  auth:\n    row_webhook:\n      url: http://h/\n      timeout: 0\n") ==
          "t.yaml:5:16: error: \"timeout\" in \"serve.auth.row_webhook\" must be longer than 0\n"
          "hint: Write a number with a unit: ms, s, m or h, e.g. 500ms or 2s.\n");
    CHECK(
        problems("serve:\n  auth:\n    row_webhook:\n      url: http://h/\n      timeout: 1h\n") ==
        "t.yaml:5:16: error: \"timeout\" in \"serve.auth.row_webhook\" must be at most 10m\n"
        "hint: Rows wait for the webhook's answer: a few seconds at most is usual.\n");
    CHECK(problems("serve:\n  auth:\n    row_webhook:\n      url: http://\n") ==
          "t.yaml:4:12: error: \"url\" in \"serve.auth.row_webhook\" must be an http:// or "
          "https:// URL\nhint: Give the app's endpoint, e.g. https://app.example/authorize-row.\n");
    CHECK(problems("serve:\n  auth:\n    row_webhook:\n      url: http://h/\n      on_dney: drop\n")
              .find("hint: Did you mean \"on_deny\"?") != std::string::npos);
}

TEST_CASE("serve.source is a replica's nats:// stream, and nothing else", "[config][replica]") {
    LoadResult result =
        load_text("serve:\n  source: nats://127.0.0.1:4222,127.0.0.1:4223/PGSYNC\n", "t.yaml");
    CHECK(result.diagnostics.empty());
    CHECK(result.config.serve.source.value == "nats://127.0.0.1:4222,127.0.0.1:4223/PGSYNC");
    CHECK(problems("serve:\n  source: postgres://x/PGSYNC\n").find(
              "t.yaml:2:11: error: \"source\" in \"serve\" must be nats://") == 0);
}
