// Decoding of pgoutput's logical replication messages (protocol 1-4): one bounds-checked pass over
// the payload, views into it for names and values, and one error wording for every malformation.
#include "decode/pgoutput.h"

#include "util/error.h"

#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

namespace pgsync::decode {
namespace {

// The smallest encodings, used to reject element counts the remaining bytes cannot hold before
// reserving for them (a hostile count must not become a huge allocation).
constexpr size_t kMinColumnBytes = 1;          // a TupleData column: its kind byte
constexpr size_t kMinRelationColumnBytes = 10; // flags, "" name, type OID, typmod
constexpr size_t kRelationOidBytes = 4;

std::string describe_byte(uint8_t byte) {
    char text[16];
    if (byte > 0x20 && byte < 0x7f)
        std::snprintf(text, sizeof text, "'%c'", static_cast<char>(byte));
    else
        std::snprintf(text, sizeof text, "0x%02x", static_cast<unsigned>(byte));
    return text;
}

// A cursor over one message. Every read checks the remaining length; failures leave through
// fail(), kept out of line so the reads inline to a compare and a load.
class Reader {
public:
    explicit Reader(std::string_view bytes)
        : m_begin(bytes.data()), m_pos(bytes.data()), m_end(bytes.data() + bytes.size()),
          m_type(bytes.empty() ? '\0' : bytes.front()) {}

    size_t offset() const { return static_cast<size_t>(m_pos - m_begin); }
    size_t remaining() const { return static_cast<size_t>(m_end - m_pos); }

    [[noreturn, gnu::cold, gnu::noinline]] void fail_at(const std::string& what,
                                                        size_t offset) const {
        const char* name = m_begin == m_end ? "empty message" : message_name(m_type);
        throw Error("invalid pgoutput message: " + what + " in " + name + " at byte " +
                    std::to_string(offset));
    }
    [[noreturn]] void fail(const std::string& what) const { fail_at(what, offset()); }

    uint8_t u8(const char* what) {
        need(1, what);
        return static_cast<uint8_t>(*m_pos++);
    }
    uint16_t u16(const char* what) {
        need(2, what);
        auto p = reinterpret_cast<const unsigned char*>(m_pos);
        m_pos += 2;
        return static_cast<uint16_t>(p[0] << 8 | p[1]);
    }
    uint32_t u32(const char* what) {
        need(4, what);
        auto p = reinterpret_cast<const unsigned char*>(m_pos);
        m_pos += 4;
        return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
    }
    uint64_t u64(const char* what) {
        need(8, what);
        auto p = reinterpret_cast<const unsigned char*>(m_pos);
        m_pos += 8;
        uint64_t value = 0;
        for (int i = 0; i < 8; ++i)
            value = value << 8 | p[i];
        return value;
    }
    int32_t i32(const char* what) { return static_cast<int32_t>(u32(what)); }
    int64_t i64(const char* what) { return static_cast<int64_t>(u64(what)); }
    Lsn lsn(const char* what) { return Lsn(u64(what)); }

    // A NUL-terminated String; the view excludes the terminator.
    std::string_view cstring(const char* what) {
        const void* nul = std::memchr(m_pos, '\0', remaining());
        if (!nul) fail(std::string("unterminated ") + what);
        std::string_view text(m_pos, static_cast<size_t>(static_cast<const char*>(nul) - m_pos));
        m_pos += text.size() + 1;
        return text;
    }
    std::string_view bytes(size_t length, const char* what) {
        need(length, what);
        std::string_view data(m_pos, length);
        m_pos += length;
        return data;
    }

    // A (sub)transaction's xid, present between Stream Start and Stream Stop only. 0 is
    // InvalidTransactionId, which pgoutput never sends.
    uint32_t stream_xid(bool in_stream) {
        if (!in_stream) return 0;
        size_t at = offset();
        uint32_t xid = u32("transaction ID");
        if (xid == 0) fail_at("invalid transaction ID 0", at);
        return xid;
    }

    void expect_end() const {
        if (m_pos != m_end)
            fail("unexpected trailing data (" + std::to_string(remaining()) +
                 (remaining() == 1 ? " byte)" : " bytes)"));
    }

private:
    void need(size_t count, const char* what) const {
        if (remaining() < count) [[unlikely]]
            fail(std::string("truncated ") + what);
    }

    const char* m_begin;
    const char* m_pos;
    const char* m_end;
    char m_type;
};

void read_tuple(Reader& in, Tuple& tuple) {
    size_t at = in.offset();
    uint16_t count = in.u16("column count");
    if (count * kMinColumnBytes > in.remaining())
        in.fail_at("column count " + std::to_string(count) + " exceeds the message", at);
    tuple.reserve(count);
    for (uint16_t i = 0; i < count; ++i) {
        size_t kind_at = in.offset();
        uint8_t kind = in.u8("column kind");
        switch (kind) {
        case 'n':
            tuple.push_back({ValueKind::Null, {}});
            break;
        case 'u':
            tuple.push_back({ValueKind::UnchangedToast, {}});
            break;
        case 't':
        case 'b': {
            size_t length_at = in.offset();
            int32_t length = in.i32("value length");
            if (length < 0)
                in.fail_at("negative value length " + std::to_string(length), length_at);
            std::string_view data = in.bytes(static_cast<size_t>(length), "column value");
            tuple.push_back({static_cast<ValueKind>(kind), data});
            break;
        }
        default:
            in.fail_at("unknown column kind " + describe_byte(kind), kind_at);
        }
    }
}

// The 'N'/'K'/'O' byte before a TupleData.
uint8_t read_tuple_tag(Reader& in, const char* allowed, const char* expected) {
    size_t at = in.offset();
    uint8_t tag = in.u8("tuple tag");
    for (const char* c = allowed; *c; ++c)
        if (tag == static_cast<uint8_t>(*c)) return tag;
    in.fail_at("tuple tag " + describe_byte(tag) + " where " + expected + " was expected", at);
}

Begin read_begin(Reader& in) {
    Begin m;
    size_t at = in.offset();
    m.final_lsn = in.lsn("final LSN");
    if (!m.final_lsn.is_valid()) in.fail_at("final LSN not set", at);
    m.commit_time = in.i64("commit timestamp");
    m.xid = in.u32("transaction ID");
    return m;
}

Commit read_commit(Reader& in) {
    Commit m;
    m.flags = in.u8("flags");
    m.commit_lsn = in.lsn("commit LSN");
    m.end_lsn = in.lsn("end LSN");
    m.commit_time = in.i64("commit timestamp");
    return m;
}

Origin read_origin(Reader& in) {
    Origin m;
    m.commit_lsn = in.lsn("origin LSN");
    m.name = in.cstring("origin name");
    return m;
}

Relation read_relation(Reader& in, bool in_stream) {
    Relation m;
    m.xid = in.stream_xid(in_stream);
    m.oid = in.u32("relation OID");
    m.schema = in.cstring("namespace");
    m.name = in.cstring("relation name");
    size_t identity_at = in.offset();
    m.replica_identity = static_cast<char>(in.u8("replica identity"));
    switch (m.replica_identity) {
    case 'd':
    case 'n':
    case 'f':
    case 'i':
        break;
    default:
        in.fail_at("unknown replica identity " +
                       describe_byte(static_cast<uint8_t>(m.replica_identity)),
                   identity_at);
    }
    size_t count_at = in.offset();
    uint16_t count = in.u16("column count");
    if (count * kMinRelationColumnBytes > in.remaining())
        in.fail_at("column count " + std::to_string(count) + " exceeds the message", count_at);
    m.columns.reserve(count);
    for (uint16_t i = 0; i < count; ++i) {
        RelationColumn column;
        column.key = in.u8("column flags") & 1;
        column.name = in.cstring("column name");
        column.type_oid = in.u32("column type OID");
        column.typmod = in.i32("column type modifier");
        m.columns.push_back(column);
    }
    return m;
}

Type read_type(Reader& in, bool in_stream) {
    Type m;
    m.xid = in.stream_xid(in_stream);
    m.oid = in.u32("type OID");
    m.schema = in.cstring("namespace");
    m.name = in.cstring("type name");
    return m;
}

Insert read_insert(Reader& in, bool in_stream) {
    Insert m;
    m.xid = in.stream_xid(in_stream);
    m.relation = in.u32("relation OID");
    read_tuple_tag(in, "N", "'N'");
    read_tuple(in, m.new_tuple);
    return m;
}

Update read_update(Reader& in, bool in_stream) {
    Update m;
    m.xid = in.stream_xid(in_stream);
    m.relation = in.u32("relation OID");
    uint8_t tag = read_tuple_tag(in, "KON", "'K', 'O' or 'N'");
    if (tag != 'N') {
        m.old_kind = static_cast<char>(tag);
        read_tuple(in, m.old_tuple);
        read_tuple_tag(in, "N", "'N'");
    }
    read_tuple(in, m.new_tuple);
    return m;
}

Delete read_delete(Reader& in, bool in_stream) {
    Delete m;
    m.xid = in.stream_xid(in_stream);
    m.relation = in.u32("relation OID");
    m.old_kind = static_cast<char>(read_tuple_tag(in, "KO", "'K' or 'O'"));
    read_tuple(in, m.old_tuple);
    return m;
}

Truncate read_truncate(Reader& in, bool in_stream) {
    Truncate m;
    m.xid = in.stream_xid(in_stream);
    size_t count_at = in.offset();
    uint32_t count = in.u32("relation count");
    m.options = in.u8("options");
    if (count > in.remaining() / kRelationOidBytes)
        in.fail_at("relation count " + std::to_string(count) + " exceeds the message", count_at);
    m.relations.reserve(count);
    for (uint32_t i = 0; i < count; ++i)
        m.relations.push_back(in.u32("relation OID"));
    return m;
}

LogicalMessage read_logical_message(Reader& in, bool in_stream) {
    LogicalMessage m;
    m.xid = in.stream_xid(in_stream);
    m.transactional = in.u8("flags") & 1;
    m.lsn = in.lsn("message LSN");
    m.prefix = in.cstring("prefix");
    size_t length_at = in.offset();
    int32_t length = in.i32("content length");
    if (length < 0) in.fail_at("negative content length " + std::to_string(length), length_at);
    m.content = in.bytes(static_cast<size_t>(length), "content");
    return m;
}

StreamStart read_stream_start(Reader& in) {
    StreamStart m;
    m.xid = in.u32("transaction ID");
    size_t at = in.offset();
    uint8_t first = in.u8("first-segment flag");
    if (first > 1) in.fail_at("first-segment flag " + describe_byte(first) + " is not 0 or 1", at);
    m.first_segment = first == 1;
    return m;
}

StreamCommit read_stream_commit(Reader& in) {
    StreamCommit m;
    m.xid = in.u32("transaction ID");
    m.flags = in.u8("flags");
    m.commit_lsn = in.lsn("commit LSN");
    m.end_lsn = in.lsn("end LSN");
    m.commit_time = in.i64("commit timestamp");
    return m;
}

// Protocol 4 with streaming = parallel appends the abort LSN and time; nothing else in the
// message says so, hence the decision by length: 8 bytes follow the type byte, or 24.
StreamAbort read_stream_abort(Reader& in) {
    StreamAbort m;
    m.xid = in.u32("transaction ID");
    m.subxid = in.u32("subtransaction ID");
    if (in.remaining() > 0) {
        m.abort_lsn = in.lsn("abort LSN");
        m.abort_time = in.i64("abort timestamp");
    }
    return m;
}

} // namespace

const char* message_name(char type) {
    switch (type) {
    case 'B':
        return "Begin";
    case 'C':
        return "Commit";
    case 'O':
        return "Origin";
    case 'R':
        return "Relation";
    case 'Y':
        return "Type";
    case 'I':
        return "Insert";
    case 'U':
        return "Update";
    case 'D':
        return "Delete";
    case 'T':
        return "Truncate";
    case 'M':
        return "Message";
    case 'S':
        return "Stream Start";
    case 'E':
        return "Stream Stop";
    case 'c':
        return "Stream Commit";
    case 'A':
        return "Stream Abort";
    case 'b':
        return "Begin Prepare";
    case 'P':
        return "Prepare";
    case 'K':
        return "Commit Prepared";
    case 'r':
        return "Rollback Prepared";
    case 'p':
        return "Stream Prepare";
    default:
        return "unknown message";
    }
}

Message parse_message(std::string_view bytes, bool in_stream) {
    Reader in(bytes);
    if (bytes.empty()) in.fail("missing message type");
    char type = bytes.front();
    in.u8("message type");
    // Each case builds the message in place and checks nothing is left over before returning.
    auto done = [&in](auto&& message) -> Message {
        in.expect_end();
        return Message(std::move(message));
    };
    switch (type) {
    case 'I':
        return done(read_insert(in, in_stream));
    case 'U':
        return done(read_update(in, in_stream));
    case 'D':
        return done(read_delete(in, in_stream));
    case 'B':
        return done(read_begin(in));
    case 'C':
        return done(read_commit(in));
    case 'R':
        return done(read_relation(in, in_stream));
    case 'Y':
        return done(read_type(in, in_stream));
    case 'T':
        return done(read_truncate(in, in_stream));
    case 'M':
        return done(read_logical_message(in, in_stream));
    case 'O':
        return done(read_origin(in));
    case 'S':
        return done(read_stream_start(in));
    case 'E':
        return done(StreamStop{});
    case 'c':
        return done(read_stream_commit(in));
    case 'A':
        return done(read_stream_abort(in));
    case 'b':
    case 'P':
    case 'K':
    case 'r':
    case 'p':
        throw Error(std::string("unexpected pgoutput message \"") + message_name(type) +
                        "\": two-phase commit is not negotiated",
                    "Start replication without the \"two_phase\" option: pgsync decodes a "
                    "prepared transaction when it is committed.");
    default:
        in.fail_at("unknown message type " + describe_byte(static_cast<uint8_t>(type)), 0);
    }
}

} // namespace pgsync::decode
