// OutputQueue keeps frames framed for the wire in one buffer: headers of every length class,
// marks reported as frames complete (also across partial writes), up-to-dates retracted only
// while unsent and newest, and the buffer reused rather than grown.
#include "serve/hub/output.h"
#include "ws_client.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using namespace pgsync::serve;

using pgsync::test::server_text_payloads;

TEST_CASE("output: frames of every header size, marks as they complete", "[serve]") {
    OutputQueue out;
    auto* sub = reinterpret_cast<Subscription*>(0x1);
    const std::string mid(300, 'm'), big(70000, 'b');
    FrameMark mark;
    mark.subscription = sub;
    mark.has_offset = true;
    out.append({"{\"a\":", "1}"}, mark);
    out.append({mid}, mark);
    out.append({big}, mark);
    const std::string wire(out.next(std::string_view::npos));
    CHECK(server_text_payloads(wire) == std::vector<std::string>{"{\"a\":1}", mid, big});
    std::vector<size_t> done;
    out.consumed(5, [&](const FrameMark& m) { done.push_back(m.end); }); // a partial write
    CHECK(done.empty());
    out.consumed(10, [&](const FrameMark& m) { done.push_back(m.end); });
    CHECK(done.size() == 1);
    out.consumed(out.bytes(), [&](const FrameMark& m) { done.push_back(m.end); });
    CHECK(done.size() == 3);
    CHECK(out.empty());
}

TEST_CASE("output: an unsent newest up-to-date is retracted, nothing else", "[serve]") {
    OutputQueue out;
    auto* a = reinterpret_cast<Subscription*>(0x1);
    auto* b = reinterpret_cast<Subscription*>(0x2);
    FrameMark utd;
    utd.subscription = a;
    utd.up_to_date = true;
    out.append({"change"}, {});
    out.append({"utd-a"}, utd);
    CHECK(out.retract_up_to_date(b) == 0);
    const size_t before = out.bytes();
    CHECK(out.retract_up_to_date(a) == 7);
    CHECK(out.bytes() == before - 7);
    out.append({"utd-a2"}, utd);
    out.consumed(out.bytes() - 2, [](const FrameMark&) {}); // its write has started
    CHECK(out.retract_up_to_date(a) == 0);
}

TEST_CASE("output: a drained buffer is reused, a long backlog is compacted", "[serve]") {
    OutputQueue out;
    const std::string frame(1000, 'x');
    for (int round = 0; round < 3; ++round) {
        for (int i = 0; i < 100; ++i)
            out.append({frame}, {});
        out.consumed(out.bytes(), [](const FrameMark&) {});
        CHECK(out.empty());
    }
    for (int i = 0; i < 1000; ++i)
        out.append({frame}, {});
    size_t frames = 0;
    while (!out.empty()) {
        std::string_view span = out.next(64 * 1024 + 7);
        out.consumed(span.size(), [&](const FrameMark&) { ++frames; });
        if (!out.empty()) {
            CHECK(uint8_t(out.next(1)[0]) != 0); // still readable after compaction
        }
    }
    CHECK(frames == 1000);
}

TEST_CASE("output: clearing keeps the rest of a frame the socket has part of", "[serve]") {
    OutputQueue out;
    out.append({std::string(100, 'a')}, {});
    out.append({std::string(100, 'b')}, {});
    out.append({std::string(100, 'c')}, {});
    out.consumed(150, [](const FrameMark&) {}); // half of the second frame is out
    const size_t unsent = out.bytes();
    const size_t dropped = out.clear();
    CHECK(dropped == 102);                  // the third frame, header included
    CHECK(out.bytes() == unsent - dropped); // the second frame's tail stays
    std::string error = "{\"type\":\"error\"}";
    out.append({error}, {});
    const std::string rest(out.next(std::string_view::npos));
    CHECK(rest.substr(rest.size() - error.size()) == error);
    CHECK(rest.find('c') == std::string::npos);
}
