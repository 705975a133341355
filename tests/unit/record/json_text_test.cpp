// append_json_string escapes exactly as PostgreSQL's escape_json() and is_json_number accepts
// exactly the JSON number grammar of IsValidJsonNumber(), at every position of the 8-byte scan.
#include "record/json_text.h"

#include <catch2/catch.hpp>
#include <cstdio>
#include <string>

using pgsync::record::append_json_escaped;
using pgsync::record::append_json_string;
using pgsync::record::is_json_number;

namespace {

std::string json(std::string_view text) {
    std::string out;
    append_json_string(out, text);
    return out;
}

// escape_json() from PostgreSQL 15, one byte at a time, as the reference.
std::string reference_escape(std::string_view text) {
    std::string out = "\"";
    for (char c : text) {
        switch (c) {
        case '\b':
            out += "\\b";
            break;
        case '\f':
            out += "\\f";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        case '\t':
            out += "\\t";
            break;
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        default:
            if (static_cast<unsigned char>(c) < ' ') {
                char buffer[8];
                std::snprintf(buffer, sizeof buffer, "\\u%04x", int(c));
                out += buffer;
            } else {
                out += c;
            }
        }
    }
    return out + "\"";
}

} // namespace

TEST_CASE("append_json_string uses escape_json's short escapes and lower-case u00xx",
          "[json_text]") {
    CHECK(json("") == "\"\"");
    CHECK(json("plain") == "\"plain\"");
    CHECK(json("a\"b\\c") == "\"a\\\"b\\\\c\"");
    CHECK(json("\b\f\n\r\t") == "\"\\b\\f\\n\\r\\t\"");
    CHECK(json(std::string_view("\x01\x1f\x0b\x1b", 4)) == "\"\\u0001\\u001f\\u000b\\u001b\"");
    CHECK(json(std::string_view("\0", 1)) == "\"\\u0000\"");
    CHECK(json("\x7f") == "\"\x7f\"");
    CHECK(json("na\xc3\xafve \xe2\x82\xac \xf0\x9f\x98\x80") ==
          "\"na\xc3\xafve \xe2\x82\xac \xf0\x9f\x98\x80\"");
    CHECK(json("/") == "\"/\""); // escape_json leaves the solidus alone
}

TEST_CASE("append_json_string matches escape_json for a special byte at every offset",
          "[json_text]") {
    const std::string specials = std::string("\"\\\n\x01\x1f\t", 6) + std::string(1, '\0');
    for (size_t length = 1; length <= 40; ++length) {
        for (size_t at = 0; at < length; ++at) {
            for (char special : specials) {
                std::string text(length, 'x');
                text[at] = special;
                if (at + 3 < length) text[at + 3] = '\xe9'; // high bytes must not confuse the scan
                INFO("length " << length << " at " << at << " byte " << int(special));
                REQUIRE(json(text) == reference_escape(text));
            }
        }
    }
}

TEST_CASE("append_json_string matches escape_json on every byte value", "[json_text]") {
    std::string all;
    for (int c = 1; c < 256; ++c)
        all.push_back(char(c));
    CHECK(json(all) == reference_escape(all));
    std::string body;
    append_json_escaped(body, all);
    CHECK("\"" + body + "\"" == reference_escape(all));
}

TEST_CASE("append_json_string appends to what is already there", "[json_text]") {
    std::string out = "{\"k\":";
    append_json_string(out, "v\n");
    CHECK(out == "{\"k\":\"v\\n\"");
}

TEST_CASE("is_json_number accepts JSON numbers", "[json_text]") {
    for (const char* good : {"0", "-0", "1", "-1", "10", "123456789012345678901234567890", "0.5",
                             "-0.10", "1e5", "1E5", "1e+308", "1e-38", "-1.5E-07",
                             "9223372036854775807", "-9223372036854775808", "1.17549435e-38"})
        CHECK(is_json_number(good));
}

TEST_CASE("is_json_number rejects what JSON does not call a number", "[json_text]") {
    for (const char* bad :
         {"",    "-",    "+1",    "01",  "-01",      "00",        ".5",  "1.", "1.e5",
          "1e",  "1e+",  "e5",    "NaN", "Infinity", "-Infinity", "inf", "1 ", " 1",
          "1,5", "0x10", "1_000", "--1", "1e5.5",    "$1.00",     "1a"})
        CHECK_FALSE(is_json_number(bad));
}
