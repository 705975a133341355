// Hostile pgsync.yaml input: each case ends in one diagnostic in well under a second, never in a
// crash, a hang or an exponential walk.
#include "config/load.h"
#include "config/yaml_document.h"

#include <catch2/catch.hpp>
#include <chrono>

using namespace pgsync::config;

namespace {

// The text of the diagnostics, checked to arrive within a second.
std::string problems(const std::string& text) {
    const auto start = std::chrono::steady_clock::now();
    LoadResult result = load_text(text, "h.yaml");
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
    return format_text(result.diagnostics);
}

} // namespace

TEST_CASE("an empty or blank file is reported as empty", "[config][hostile]") {
    const std::string expected =
        "h.yaml: error: file is empty\n"
        "hint: Run \"pgsync-config init\" to write a commented starting file.\n";
    CHECK(problems("") == expected);
    CHECK(problems(" \n\t\r\n  ") == expected);
}

TEST_CASE("a NUL byte or control character means the file is not text", "[config][hostile]") {
    CHECK(problems(std::string("source:\n  slot: a\0b\n", 19)) ==
          "h.yaml:2:10: error: file is not text: NUL byte at line 2\n");
    CHECK(problems("a: \x01\n") ==
          "h.yaml:1:4: error: file is not text: control character 0x01 at line 1\n");
    CHECK(problems(std::string("\xFF\xFEs\0", 4)) ==
          "h.yaml:1:1: error: file is not valid UTF-8: byte 0xff at line 1, column 1\n"
          "hint: The file is UTF-16; save it as UTF-8.\n");
}

TEST_CASE("invalid UTF-8 is reported where it is, a UTF-8 BOM is fine", "[config][hostile]") {
    CHECK(problems("source:\n  slot: \"ab\xC3\x28\"\n") ==
          "h.yaml:2:12: error: file is not valid UTF-8: byte 0xc3 at line 2, column 12\n");
    CHECK(problems("a: \xED\xA0\x80\n") == // a UTF-16 surrogate
          "h.yaml:1:4: error: file is not valid UTF-8: byte 0xed at line 1, column 4\n");
    CHECK(problems("a: \xC0\xAF\n") ==
          "h.yaml:1:4: error: file is not valid UTF-8: byte 0xc0 at line 1, column 4\n");
    CHECK(problems("\xEF\xBB\xBFsource:\n  slot: s\n") == "");
    CHECK(problems("tables:\n  - name: '\"Café ☕\"'\n") == "");
}

TEST_CASE("a file over 1 MiB is refused before parsing", "[config][hostile]") {
    std::string big = "# " + std::string(2 * 1024 * 1024, 'x') + "\n";
    CHECK(problems(big) ==
          "h.yaml: error: file is larger than 1 MiB\nhint: A configuration file is at "
          "most 1048576 bytes; this one has 2097155.\n");
}

TEST_CASE("10000 nested brackets are refused before yaml-cpp recurses", "[config][hostile]") {
    const std::string expected =
        "nesting is deeper than 64 levels\nhint: A pgsync.yaml file needs only a few "
        "levels; check for unbalanced brackets or runaway indentation.\n";
    CHECK(problems(std::string(10000, '[')) == "h.yaml:1:65: error: " + expected);
    CHECK(problems("a: " + std::string(10000, '{')) == "h.yaml:1:68: error: " + expected);
    // Brackets inside quotes and comments do not count.
    CHECK(problems("source:\n  slot: s # " + std::string(100, '[') + "\n  publication: \"" +
                   std::string(100, '[') + "\"\n") == "");
    // An apostrophe inside a plain scalar opens no quote that would hide the brackets after it.
    CHECK(problems("source:\n  slot: don't-'x\ntables: " + std::string(100, '['))
              .rfind("h.yaml:3:73: error: nesting is deeper than 64 levels", 0) == 0);
}

TEST_CASE("deep block nesting is refused", "[config][hostile]") {
    std::string deep;
    for (int i = 0; i < 100; ++i)
        deep += std::string(std::size_t(i), ' ') + "k" + std::to_string(i) + ":\n";
    CHECK(problems(deep).rfind("h.yaml:65:65: error: nesting is deeper than 64 levels\n", 0) == 0);
    std::string dashes;
    for (int i = 0; i < 200; ++i)
        dashes += "- ";
    CHECK(problems(dashes + "x\n")
              .rfind("h.yaml:1:129: error: nesting is deeper than 64 levels\n", 0) == 0);
}

TEST_CASE("a billion laughs stops at the node budget", "[config][hostile]") {
    std::string text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
    for (int i = 1; i < 10; ++i)
        text += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [" + std::string("*a") +
                std::to_string(i - 1) + ", *a" + std::to_string(i - 1) + ", *a" +
                std::to_string(i - 1) + ", *a" + std::to_string(i - 1) + ", *a" +
                std::to_string(i - 1) + ", *a" + std::to_string(i - 1) + ", *a" +
                std::to_string(i - 1) + ", *a" + std::to_string(i - 1) + ", *a" +
                std::to_string(i - 1) + ", *a" + std::to_string(i - 1) + "]\n";
    CHECK(problems(text) ==
          "h.yaml: error: document expands to too many nodes (aliases?)\n"
          "hint: A configuration has at most 100000 values after expanding aliases.\n");
}

TEST_CASE("aliases within the budget are expanded like any YAML", "[config][hostile]") {
    LoadResult result = load_text(
        "tables:\n  - name: a\n    columns: &cols [x, y]\n  - name: b\n    columns: *cols\n",
        "h.yaml");
    REQUIRE(format_text(result.diagnostics) == "");
    CHECK(result.config.tables.at(1).columns->size() == 2);
}

TEST_CASE("more than one document in a file is an error", "[config][hostile]") {
    CHECK(problems("source: {}\n---\nsnapshot: {}\n") ==
          "h.yaml:2:1: error: file has more than one YAML document\n"
          "hint: Keep one configuration per file; remove the \"---\" line that starts the second "
          "document.\n");
}

TEST_CASE("a stray comma, on which yaml-cpp's LoadAll loops forever, is a syntax error",
          "[config][hostile]") {
    CHECK(problems(",") == "h.yaml:1:1: error: invalid YAML: unexpected \",\"\n");
    CHECK(problems("\"a\", b") == "h.yaml:1:4: error: invalid YAML: unexpected \",\"\n");
    CHECK(problems("--- ,\n") == "h.yaml:1:5: error: invalid YAML: unexpected \",\"\n");
    CHECK(problems(",sgurce:-}\n-rr:} ge\n") ==
          "h.yaml:1:1: error: invalid YAML: unexpected \",\"\n");
}

TEST_CASE("a YAML syntax error is reported at yaml-cpp's position", "[config][hostile]") {
    CHECK(problems("source:\n  slot: [a, b\n") ==
          "h.yaml:3:1: error: invalid YAML: end of sequence flow not found\n");
    CHECK(problems("source:\n  - a\n  b: c\n") ==
          "h.yaml:3:3: error: invalid YAML: end of map not found\n");
    CHECK(problems("source:\n\tslot: a\n") ==
          "h.yaml:2:6: error: invalid YAML: illegal map value\n");
    CHECK(problems("a: b: c\n") == "h.yaml:1:5: error: invalid YAML: illegal map value\n");
}

TEST_CASE("an unterminated quoted string is an error at its opening quote, not joined lines",
          "[config][hostile]") {
    const std::string runs_on = "hint: The string runs on into line 3, which is not indented more "
                                "than its key; add the closing ";
    CHECK(problems("source:\n  dsn: \"host=db dbname=app\n  slot: s1\n  publication: p1\n") ==
          "h.yaml:2:8: error: invalid YAML: unterminated double-quoted string\n" + runs_on +
              "\" where the value ends.\n");
    CHECK(problems("source:\n  dsn: 'host=db dbname=app\n  slot: s1\n  publication: p1\n") ==
          "h.yaml:2:8: error: invalid YAML: unterminated single-quoted string\n" + runs_on +
              "' where the value ends.\n");
    // A later quote closes the string in the wrong place; yaml-cpp then fails further on.
    CHECK(problems("source:\n  dsn: \"host=db\n  slot: \"s1\"\n") ==
          "h.yaml:2:8: error: invalid YAML: unterminated double-quoted string\n" + runs_on +
              "\" where the value ends.\n");
    // An anchor before the quote: the position is the quote's.
    CHECK(problems("source:\n  dsn: &d \"host=db\nslot: s1\n") ==
          "h.yaml:2:11: error: invalid YAML: unterminated double-quoted string\nhint: The string "
          "runs on into line 3, which is not indented more than its key; add the closing \" "
          "where the value ends.\n");
    CHECK(problems("tables:\n  - \"public.t\n  - public.u\n") ==
          "h.yaml:2:5: error: invalid YAML: unterminated double-quoted string\nhint: The string "
          "runs on into line 3, which is not indented more than its \"-\"; add the closing \" "
          "where the value ends.\n");
    CHECK(problems("source:\n  dsn: \"host=db dbname=app\n") ==
          "h.yaml:2:8: error: invalid YAML: unterminated double-quoted string\nhint: The string "
          "runs on to the end of the file; add the closing \" where the value ends.\n");
    CHECK(problems("source:\n  dsn: 'it''s\n\n") ==
          "h.yaml:2:8: error: invalid YAML: unterminated single-quoted string\nhint: The string "
          "runs on to the end of the file; add the closing ' where the value ends.\n");
}

TEST_CASE("a quoted string over lines indented more than its key is valid YAML and loads",
          "[config][hostile]") {
    LoadResult result = load_text("source:\n  dsn: \"host=db\n\n    dbname=app\\\n   \"\n"
                                  "  slot: s1\n  publication: 'it''s\n   p1'\n",
                                  "h.yaml");
    REQUIRE(format_text(result.diagnostics) == "");
    CHECK(result.config.source.dsn.value == "host=db\ndbname=app");
    CHECK(result.config.source.publication.value == "it's p1");
    // In a sequence the lines go past the "-"; in a flow collection, past its block parent.
    std::vector<Diagnostic> diagnostics;
    auto root =
        parse_yaml("a:\n- \"x\n y\"\n- [\"p\n  q\", {k: 'r\n  s'}]\n", "h.yaml", diagnostics);
    REQUIRE(format_text(diagnostics) == "");
    REQUIRE(root);
    const YamlNode& list = root->entries.at(0).value;
    REQUIRE(list.items.size() == 2);
    CHECK(list.items[0].text == "x y");
    CHECK(list.items[1].items.at(0).text == "p q");
    CHECK(list.items[1].items.at(1).entries.at(0).value.text == "r s");
}

TEST_CASE("a key that is not a string is reported", "[config][hostile]") {
    CHECK(problems("? [a]\n: b\n") ==
          "h.yaml:1:3: error: a key in the file must be a string, not a list\n");
}
