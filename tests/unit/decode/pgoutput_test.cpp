// parse_message decodes every pgoutput message kind from hand-built bytes (big-endian fields,
// streamed xid prefixes, TupleData n/u/t/b), and rejects every truncation and malformation with a
// pgsync::Error naming the message and byte offset. Captured server bytes: pgoutput_golden_test.
#include "decode/pgoutput.h"
#include "util/error.h"

#include <catch2/catch.hpp>
#include <deque>
#include <string>
#include <utility>
#include <vector>

using namespace pgsync::decode;
using pgsync::Error;
using pgsync::Lsn;

namespace {

// Builds a message field by field, the way pgoutput's pq_send* calls do.
class Bytes {
public:
    Bytes() = default;
    explicit Bytes(char type) { m_data.push_back(type); }
    Bytes& u8(int v) {
        m_data.push_back(static_cast<char>(v));
        return *this;
    }
    Bytes& u16(uint16_t v) { return u8(v >> 8).u8(v & 0xff); }
    Bytes& u32(uint32_t v) { return u16(static_cast<uint16_t>(v >> 16)).u16(v & 0xffff); }
    Bytes& u64(uint64_t v) { return u32(static_cast<uint32_t>(v >> 32)).u32(v & 0xffffffff); }
    Bytes& str(std::string_view s) {
        m_data.append(s);
        m_data.push_back('\0');
        return *this;
    }
    Bytes& raw(std::string_view s) {
        m_data.append(s);
        return *this;
    }
    Bytes& xid_if(bool in_stream, uint32_t xid) { return in_stream ? u32(xid) : *this; }
    // A Relation's column: flags (1 = key), name, type OID, typmod.
    Bytes& column(int flags, std::string_view name, uint32_t type_oid, int32_t typmod) {
        return u8(flags).str(name).u32(type_oid).u32(static_cast<uint32_t>(typmod));
    }
    // TupleData columns
    Bytes& text(std::string_view s) { return u8('t').u32(static_cast<uint32_t>(s.size())).raw(s); }
    Bytes& binary(std::string_view s) {
        return u8('b').u32(static_cast<uint32_t>(s.size())).raw(s);
    }
    operator std::string() const { return m_data; }

private:
    std::string m_data;
};

constexpr uint64_t kLsn = 0x16B374D848;
constexpr int64_t kTime = 757479845000000; // 2024-01-02 03:04:05 UTC, microseconds since 2000
constexpr uint32_t kXid = 4242;
constexpr uint32_t kSubXid = 4250;
constexpr uint32_t kItems = 16385;

std::string begin_bytes() {
    return Bytes('B').u64(kLsn).u64(kTime).u32(kXid);
}
std::string commit_bytes() {
    return Bytes('C').u8(0).u64(kLsn).u64(kLsn + 0x30).u64(kTime);
}
std::string origin_bytes() {
    return Bytes('O').u64(0x1234ABCD).str("node_a");
}
std::string relation_bytes(bool in_stream) {
    return Bytes('R')
        .xid_if(in_stream, kSubXid)
        .u32(kItems)
        .str("public")
        .str("items")
        .u8('d')
        .u16(3)
        .column(1, "id", 23, -1)
        .column(0, "price", 1700, 655366)
        .column(0, "note", 25, -1);
}
std::string type_bytes(bool in_stream) {
    return Bytes('Y').xid_if(in_stream, kSubXid).u32(90001).str("public").str("mood");
}
std::string insert_bytes(bool in_stream) {
    return Bytes('I')
        .xid_if(in_stream, kSubXid)
        .u32(kItems)
        .u8('N')
        .u16(4)
        .u8('n')
        .u8('u')
        .text("widget")
        .binary(std::string("\0\0\0\x2a", 4));
}
std::string update_bytes(bool in_stream, char old_kind) {
    Bytes b('U');
    b.xid_if(in_stream, kSubXid).u32(kItems);
    if (old_kind == 'K') b.u8('K').u16(2).text("1").u8('n'); // key columns only
    if (old_kind == 'O') b.u8('O').u16(2).text("1").text("x");
    return b.u8('N').u16(2).text("2").text("y");
}
std::string delete_bytes(bool in_stream, char old_kind) {
    return Bytes('D').xid_if(in_stream, kSubXid).u32(kItems).u8(old_kind).u16(2).text("1").u8('n');
}
std::string truncate_bytes(bool in_stream) {
    return Bytes('T').xid_if(in_stream, kSubXid).u32(2).u8(3).u32(kItems).u32(16390);
}
std::string message_bytes(bool in_stream) {
    return Bytes('M')
        .xid_if(in_stream, kSubXid)
        .u8(1)
        .u64(kLsn)
        .str("app")
        .u32(5)
        .raw(std::string("a\0b\xff"
                         "c",
                         5));
}
std::string stream_start_bytes() {
    return Bytes('S').u32(kXid).u8(1);
}
std::string stream_commit_bytes() {
    return Bytes('c').u32(kXid).u8(0).u64(kLsn).u64(kLsn + 0x30).u64(kTime);
}
std::string stream_abort_bytes() {
    return Bytes('A').u32(kXid).u32(kSubXid);
}
std::string stream_abort_parallel_bytes() {
    return Bytes('A').u32(kXid).u32(kSubXid).u64(kLsn).u64(kTime);
}

// Every valid message above, with the in_stream flag it is parsed with.
std::vector<std::pair<std::string, bool>> valid_messages() {
    std::vector<std::pair<std::string, bool>> all = {
        {begin_bytes(), false},        {commit_bytes(), false},
        {origin_bytes(), false},       {stream_start_bytes(), false},
        {std::string("E"), false},     {stream_commit_bytes(), false},
        {stream_abort_bytes(), false}, {stream_abort_parallel_bytes(), false},
    };
    for (bool in_stream : {false, true}) {
        all.emplace_back(relation_bytes(in_stream), in_stream);
        all.emplace_back(type_bytes(in_stream), in_stream);
        all.emplace_back(insert_bytes(in_stream), in_stream);
        for (char kind : {'\0', 'K', 'O'})
            all.emplace_back(update_bytes(in_stream, kind), in_stream);
        for (char kind : {'K', 'O'})
            all.emplace_back(delete_bytes(in_stream, kind), in_stream);
        all.emplace_back(truncate_bytes(in_stream), in_stream);
        all.emplace_back(message_bytes(in_stream), in_stream);
    }
    return all;
}

// Parses a copy that stays alive until the test program ends, as the views point into it.
Message parse(std::string bytes, bool in_stream) {
    static std::deque<std::string> kept;
    kept.push_back(std::move(bytes));
    return parse_message(kept.back(), in_stream);
}

std::string error_of(const std::string& bytes, bool in_stream = false) {
    try {
        parse_message(bytes, in_stream);
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}

} // namespace

TEST_CASE("Begin, Commit and Origin decode their big-endian LSNs, times and xid", "[pgoutput]") {
    auto begin = std::get<Begin>(parse(begin_bytes(), false));
    CHECK(begin.final_lsn == Lsn(kLsn));
    CHECK(begin.commit_time == kTime);
    CHECK(begin.xid == kXid);

    auto commit = std::get<Commit>(parse(commit_bytes(), false));
    CHECK(commit.flags == 0);
    CHECK(commit.commit_lsn == Lsn(kLsn));
    CHECK(commit.end_lsn == Lsn(kLsn + 0x30));
    CHECK(commit.commit_time == kTime);

    auto origin = std::get<Origin>(parse(origin_bytes(), false));
    CHECK(origin.commit_lsn == Lsn(0x1234ABCD));
    CHECK(origin.name == "node_a");
}

TEST_CASE("Relation decodes names, replica identity, key flags, type OIDs and typmods",
          "[pgoutput]") {
    auto rel = std::get<Relation>(parse(relation_bytes(false), false));
    CHECK(rel.xid == 0);
    CHECK(rel.oid == kItems);
    CHECK(rel.schema == "public");
    CHECK(rel.name == "items");
    CHECK(rel.replica_identity == 'd');
    REQUIRE(rel.columns.size() == 3);
    CHECK(rel.columns[0].key);
    CHECK(rel.columns[0].name == "id");
    CHECK(rel.columns[0].type_oid == 23);
    CHECK(rel.columns[0].typmod == -1);
    CHECK_FALSE(rel.columns[1].key);
    CHECK(rel.columns[1].name == "price");
    CHECK(rel.columns[1].type_oid == 1700);
    CHECK(rel.columns[1].typmod == 655366); // numeric(10,2)
    CHECK(rel.columns[2].name == "note");

    // pg_catalog is sent as the empty string; a relation may have no columns.
    std::string catalog_rel = Bytes('R').u32(1259).str("").str("pg_class").u8('n').u16(0);
    auto empty = std::get<Relation>(parse(catalog_rel, false));
    CHECK(empty.schema.empty());
    CHECK(empty.replica_identity == 'n');
    CHECK(empty.columns.empty());
}

TEST_CASE("Type decodes the type's OID, namespace and name", "[pgoutput]") {
    auto type = std::get<Type>(parse(type_bytes(false), false));
    CHECK(type.xid == 0);
    CHECK(type.oid == 90001);
    CHECK(type.schema == "public");
    CHECK(type.name == "mood");
}

TEST_CASE("Insert decodes TupleData with null, unchanged TOAST, text and binary columns",
          "[pgoutput]") {
    std::string bytes = insert_bytes(false);
    auto insert = std::get<Insert>(parse_message(bytes, false));
    CHECK(insert.xid == 0);
    CHECK(insert.relation == kItems);
    REQUIRE(insert.new_tuple.size() == 4);
    CHECK(insert.new_tuple[0].kind == ValueKind::Null);
    CHECK(insert.new_tuple[0].data.empty());
    CHECK(insert.new_tuple[1].kind == ValueKind::UnchangedToast);
    CHECK(insert.new_tuple[2].kind == ValueKind::Text);
    CHECK(insert.new_tuple[2].data == "widget");
    CHECK(insert.new_tuple[3].kind == ValueKind::Binary);
    CHECK(insert.new_tuple[3].data == std::string_view("\0\0\0\x2a", 4));
    // Values are views into the input, not copies.
    CHECK(insert.new_tuple[2].data.data() >= bytes.data());
    CHECK(insert.new_tuple[2].data.data() < bytes.data() + bytes.size());
}

TEST_CASE("Update decodes no old tuple, a 'K' key tuple or an 'O' whole old row", "[pgoutput]") {
    auto plain = std::get<Update>(parse(update_bytes(false, '\0'), false));
    CHECK(plain.old_kind == 0);
    CHECK(plain.old_tuple.empty());
    REQUIRE(plain.new_tuple.size() == 2);
    CHECK(plain.new_tuple[0].data == "2");
    CHECK(plain.new_tuple[1].data == "y");

    auto key = std::get<Update>(parse(update_bytes(false, 'K'), false));
    CHECK(key.old_kind == 'K');
    REQUIRE(key.old_tuple.size() == 2);
    CHECK(key.old_tuple[0].data == "1");
    CHECK(key.old_tuple[1].kind == ValueKind::Null); // not part of the identity
    CHECK(key.new_tuple[0].data == "2");

    auto full = std::get<Update>(parse(update_bytes(false, 'O'), false));
    CHECK(full.old_kind == 'O');
    REQUIRE(full.old_tuple.size() == 2);
    CHECK(full.old_tuple[1].kind == ValueKind::Text);
    CHECK(full.old_tuple[1].data == "x");
    CHECK(full.new_tuple[1].data == "y");
}

TEST_CASE("Delete decodes its 'K' or 'O' old tuple", "[pgoutput]") {
    for (char kind : {'K', 'O'}) {
        auto del = std::get<Delete>(parse(delete_bytes(false, kind), false));
        CHECK(del.old_kind == kind);
        CHECK(del.relation == kItems);
        REQUIRE(del.old_tuple.size() == 2);
        CHECK(del.old_tuple[0].data == "1");
        CHECK(del.old_tuple[1].kind == ValueKind::Null);
    }
}

TEST_CASE("Truncate decodes CASCADE and RESTART IDENTITY as bits and every relation (R5)",
          "[pgoutput]") {
    auto truncate = std::get<Truncate>(parse(truncate_bytes(false), false));
    CHECK(truncate.options == 3);
    CHECK(truncate.cascade());
    CHECK(truncate.restart_identity());
    CHECK(truncate.relations == std::vector<uint32_t>{kItems, 16390});

    std::string restart_only = Bytes('T').u32(1).u8(2).u32(kItems);
    auto restart = std::get<Truncate>(parse(restart_only, false));
    CHECK_FALSE(restart.cascade());
    CHECK(restart.restart_identity());
}

TEST_CASE("Message decodes the transactional flag, prefix and binary content (R13)", "[pgoutput]") {
    auto message = std::get<LogicalMessage>(parse(message_bytes(false), false));
    CHECK(message.transactional);
    CHECK(message.lsn == Lsn(kLsn));
    CHECK(message.prefix == "app");
    CHECK(message.content == std::string_view("a\0b\xff"
                                              "c",
                                              5));

    std::string immediate = Bytes('M').u8(0).u64(kLsn).str("app").u32(0);
    auto untransactional = std::get<LogicalMessage>(parse(immediate, false));
    CHECK_FALSE(untransactional.transactional);
    CHECK(untransactional.content.empty());
}

TEST_CASE("inside a stream, DML, Relation, Type, Truncate and Message carry the xid first",
          "[pgoutput]") {
    CHECK(std::get<Relation>(parse(relation_bytes(true), true)).xid == kSubXid);
    CHECK(std::get<Relation>(parse(relation_bytes(true), true)).name == "items");
    CHECK(std::get<Type>(parse(type_bytes(true), true)).xid == kSubXid);
    auto insert = std::get<Insert>(parse(insert_bytes(true), true));
    CHECK(insert.xid == kSubXid);
    CHECK(insert.relation == kItems);
    CHECK(insert.new_tuple.size() == 4);
    auto update = std::get<Update>(parse(update_bytes(true, 'K'), true));
    CHECK(update.xid == kSubXid);
    CHECK(update.old_kind == 'K');
    CHECK(std::get<Delete>(parse(delete_bytes(true, 'O'), true)).xid == kSubXid);
    auto truncate = std::get<Truncate>(parse(truncate_bytes(true), true));
    CHECK(truncate.xid == kSubXid);
    CHECK(truncate.relations.size() == 2);
    auto message = std::get<LogicalMessage>(parse(message_bytes(true), true));
    CHECK(message.xid == kSubXid);
    CHECK(message.prefix == "app");
}

TEST_CASE("Stream Start, Stop, Commit and Abort decode in both Stream Abort layouts",
          "[pgoutput]") {
    auto start = std::get<StreamStart>(parse(stream_start_bytes(), false));
    CHECK(start.xid == kXid);
    CHECK(start.first_segment);
    CHECK_FALSE(std::get<StreamStart>(parse(Bytes('S').u32(kXid).u8(0), true)).first_segment);
    CHECK(std::holds_alternative<StreamStop>(parse("E", true)));

    auto commit = std::get<StreamCommit>(parse(stream_commit_bytes(), false));
    CHECK(commit.xid == kXid);
    CHECK(commit.commit_lsn == Lsn(kLsn));
    CHECK(commit.end_lsn == Lsn(kLsn + 0x30));
    CHECK(commit.commit_time == kTime);

    // Protocol 2-3, and protocol 4 without parallel streaming: xid and subxid only.
    auto abort = std::get<StreamAbort>(parse(stream_abort_bytes(), false));
    CHECK(abort.xid == kXid);
    CHECK(abort.subxid == kSubXid);
    CHECK_FALSE(abort.abort_lsn.is_valid());
    CHECK(abort.abort_time == 0);

    // Protocol 4 with streaming = parallel: abort LSN and time follow.
    auto parallel = std::get<StreamAbort>(parse(stream_abort_parallel_bytes(), false));
    CHECK(parallel.subxid == kSubXid);
    CHECK(parallel.abort_lsn == Lsn(kLsn));
    CHECK(parallel.abort_time == kTime);
}

TEST_CASE("two-phase messages are refused: two_phase is never negotiated (R8)", "[pgoutput]") {
    for (char type : {'b', 'P', 'K', 'r', 'p'}) {
        std::string bytes = Bytes(type).u8(0).u64(kLsn).u64(kLsn).u64(kTime).u32(kXid).str("gid");
        try {
            parse(bytes, false);
            FAIL("no error for " << message_name(type));
        } catch (const Error& e) {
            CHECK(std::string(e.what()) == std::string("unexpected pgoutput message \"") +
                                               message_name(type) +
                                               "\": two-phase commit is not negotiated");
            CHECK(e.hint().find("two_phase") != std::string::npos);
        }
    }
}

TEST_CASE("message_name names every message type for errors", "[pgoutput]") {
    CHECK(std::string(message_name('I')) == "Insert");
    CHECK(std::string(message_name('Y')) == "Type");
    CHECK(std::string(message_name('M')) == "Message");
    CHECK(std::string(message_name('c')) == "Stream Commit");
    CHECK(std::string(message_name('A')) == "Stream Abort");
    CHECK(std::string(message_name('E')) == "Stream Stop");
    CHECK(std::string(message_name('b')) == "Begin Prepare");
    CHECK(std::string(message_name('K')) == "Commit Prepared");
    CHECK(std::string(message_name('r')) == "Rollback Prepared");
    CHECK(std::string(message_name('p')) == "Stream Prepare");
    CHECK(std::string(message_name('Z')) == "unknown message");
}

TEST_CASE("every truncation of every valid message throws an error naming the message",
          "[pgoutput]") {
    size_t checked = 0, prefixes = 0;
    for (const auto& [bytes, in_stream] : valid_messages()) {
        prefixes += bytes.size();
        for (size_t length = 0; length < bytes.size(); ++length) {
            std::string prefix = bytes.substr(0, length);
            // Stream Abort's parallel-streaming fields are optional: its 9-byte prefix is the
            // complete protocol 2 form.
            if (bytes == stream_abort_parallel_bytes() && length == 9) {
                CHECK_FALSE(std::get<StreamAbort>(parse(prefix, in_stream)).abort_lsn.is_valid());
                continue;
            }
            std::string error = error_of(prefix, in_stream);
            INFO(message_name(bytes[0])
                 << " cut to " << length << " of " << bytes.size() << " bytes: " << error);
            CHECK(error.rfind("invalid pgoutput message: ", 0) == 0);
            CHECK(error.find(length ? message_name(bytes[0]) : "empty message") !=
                  std::string::npos);
            CHECK(error.find(" at byte ") != std::string::npos);
            ++checked;
        }
    }
    CHECK(checked == prefixes - 1); // all but Stream Abort's 9-byte prefix
    CHECK(checked > 600);
}

TEST_CASE("truncation errors name the field and the byte where it starts", "[pgoutput]") {
    CHECK(error_of("") == "invalid pgoutput message: missing message type in empty message at "
                          "byte 0");
    CHECK(error_of(insert_bytes(false).substr(0, 7)) ==
          "invalid pgoutput message: truncated column count in Insert at byte 6");
    CHECK(error_of(begin_bytes().substr(0, 20)) ==
          "invalid pgoutput message: truncated transaction ID in Begin at byte 17");
    CHECK(error_of(insert_bytes(true).substr(0, 3), true) ==
          "invalid pgoutput message: truncated transaction ID in Insert at byte 1");
    CHECK(error_of(relation_bytes(false).substr(0, 14)) ==
          "invalid pgoutput message: unterminated relation name in Relation at byte 12");
    CHECK(error_of(stream_abort_parallel_bytes().substr(0, 13)) ==
          "invalid pgoutput message: truncated abort LSN in Stream Abort at byte 9");
}

TEST_CASE("malformed fields are rejected with the offending value and its offset", "[pgoutput]") {
    auto insert_with = [](const std::string& tuple) -> std::string {
        return Bytes('I').u32(kItems).u8('N').raw(tuple);
    };
    CHECK(error_of(Bytes('I').u32(kItems).u8('X').u16(0)) ==
          "invalid pgoutput message: tuple tag 'X' where 'N' was expected in Insert at byte 5");
    CHECK(error_of(insert_with(Bytes().u16(1).u8('z'))) ==
          "invalid pgoutput message: unknown column kind 'z' in Insert at byte 8");
    CHECK(error_of(insert_with(Bytes().u16(1).u8('t').u32(0xFFFFFFFF))) ==
          "invalid pgoutput message: negative value length -1 in Insert at byte 9");
    CHECK(error_of(insert_with(Bytes().u16(1).u8('t').u32(100).raw("abc"))) ==
          "invalid pgoutput message: truncated column value in Insert at byte 13");
    CHECK(error_of(insert_with(Bytes().u16(1000).u8('n'))) ==
          "invalid pgoutput message: column count 1000 exceeds the message in Insert at byte 6");
    CHECK(error_of(Bytes('U').u32(kItems).u8('K').u16(0).u8('O').u16(0)) ==
          "invalid pgoutput message: tuple tag 'O' where 'N' was expected in Update at byte 8");
    CHECK(error_of(Bytes('D').u32(kItems).u8('N').u16(0)) ==
          "invalid pgoutput message: tuple tag 'N' where 'K' or 'O' was expected in Delete at "
          "byte 5");
    CHECK(error_of(Bytes('R').u32(1).str("s").str("t").u8('x').u16(0)) ==
          "invalid pgoutput message: unknown replica identity 'x' in Relation at byte 9");
    CHECK(error_of(Bytes('R').u32(1).str("s").str("t").u8('d').u16(2).u8(0).str("a").u32(23)) ==
          "invalid pgoutput message: column count 2 exceeds the message in Relation at byte 10");
    CHECK(error_of(Bytes('T').u32(0xFFFFFFFF).u8(0).u32(1)) ==
          "invalid pgoutput message: relation count 4294967295 exceeds the message in Truncate "
          "at byte 1");
    CHECK(error_of(Bytes('M').u8(0).u64(kLsn).str("p").u32(0x80000000)) ==
          "invalid pgoutput message: negative content length -2147483648 in Message at byte 12");
    CHECK(error_of(Bytes('S').u32(kXid).u8(2)) ==
          "invalid pgoutput message: first-segment flag 0x02 is not 0 or 1 in Stream Start at "
          "byte 5");
    CHECK(error_of(Bytes('B').u64(0).u64(kTime).u32(kXid)) ==
          "invalid pgoutput message: final LSN not set in Begin at byte 1");
    CHECK(error_of(Bytes('I').u32(0).u32(kItems).u8('N').u16(0), true) ==
          "invalid pgoutput message: invalid transaction ID 0 in Insert at byte 1");
    CHECK(error_of(begin_bytes() + "x") ==
          "invalid pgoutput message: unexpected trailing data (1 byte) in Begin at byte 21");
    CHECK(error_of(std::string("E") + "ab", true) ==
          "invalid pgoutput message: unexpected trailing data (2 bytes) in Stream Stop at byte 1");
    CHECK(error_of(Bytes('Z').u32(1)) ==
          "invalid pgoutput message: unknown message type 'Z' in unknown message at byte 0");
    CHECK(error_of(std::string(1, '\x01')) ==
          "invalid pgoutput message: unknown message type 0x01 in unknown message at byte 0");
}

TEST_CASE("a streamed message parsed as unstreamed, or the reverse, is an error", "[pgoutput]") {
    // The stream layer's in_stream flag decides the layout; a mismatch must not decode silently.
    CHECK(error_of(insert_bytes(true), false).rfind("invalid pgoutput message: ", 0) == 0);
    CHECK(error_of(insert_bytes(false), true).rfind("invalid pgoutput message: ", 0) == 0);
    CHECK(error_of(truncate_bytes(true), false).rfind("invalid pgoutput message: ", 0) == 0);
}
