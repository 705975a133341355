// parse_message decodes bytes captured from a PostgreSQL 15 server (tests/data/pgoutput, made by
// its capture script): every DML kind, replica identity FULL, TOAST, TRUNCATE options, logical
// messages, an origin, binary values and a streamed transaction with a rolled-back savepoint.
#include "decode/pgoutput.h"
#include "golden_messages.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <string>
#include <vector>

using namespace pgsync::decode;
using pgsync::Lsn;
using pgsync::test::read_golden_messages;

namespace {

// OIDs and xids of the capture (the script prints the OIDs).
constexpr uint32_t kMood = 20742;
constexpr uint32_t kItems = 20747;
constexpr uint32_t kFullRows = 20754;
constexpr uint32_t kToast = 20761;
constexpr uint32_t kParent = 20768;
constexpr uint32_t kBig = 20785;
constexpr uint32_t kNumeric = 1700;

std::vector<std::string> render(const Tuple& tuple) {
    std::vector<std::string> out;
    for (const TupleValue& v : tuple) {
        switch (v.kind) {
        case ValueKind::Null:
            out.emplace_back("<null>");
            break;
        case ValueKind::UnchangedToast:
            out.emplace_back("<unchanged>");
            break;
        case ValueKind::Text:
            out.emplace_back(v.data);
            break;
        case ValueKind::Binary:
            out.emplace_back("<binary>" + std::string(v.data));
            break;
        }
    }
    return out;
}

using Texts = std::vector<std::string>;

} // namespace

TEST_CASE("golden protocol 1 capture decodes to the statements that made it", "[pgoutput]") {
    const auto bytes = read_golden_messages("v1_changes.bin");
    std::vector<Message> m;
    std::string types;
    for (const std::string& b : bytes) {
        m.push_back(parse_message(b, false));
        types += b[0];
    }
    // One Begin…Commit per statement; non-transactional messages stand alone (R13).
    REQUIRE(types == "BYRIIC"
                     "BUC"
                     "BUC"
                     "BRIUDC"
                     "BDC"
                     "BRUC"
                     "BRIC"
                     "BRTC"
                     "MBIMC"
                     "M"
                     "BOIC");

    SECTION("INSERT of two rows: Type, then Relation, then the rows") {
        auto begin = std::get<Begin>(m[0]);
        CHECK(begin.final_lsn == Lsn(0x54AB3030));
        CHECK(begin.xid == 0x1FB01);
        auto type = std::get<Type>(m[1]);
        CHECK(type.oid == kMood);
        CHECK(type.schema == "public");
        CHECK(type.name == "mood");
        auto rel = std::get<Relation>(m[2]);
        CHECK(rel.oid == kItems);
        CHECK(rel.name == "items");
        CHECK(rel.replica_identity == 'd');
        REQUIRE(rel.columns.size() == 5);
        CHECK(rel.columns[0].key);
        CHECK(rel.columns[0].type_oid == 23);
        CHECK_FALSE(rel.columns[1].key);
        CHECK(rel.columns[2].name == "price");
        CHECK(rel.columns[2].type_oid == kNumeric);
        CHECK(rel.columns[2].typmod == (10 << 16 | 2) + 4); // numeric(10,2)
        CHECK(rel.columns[3].type_oid == kMood);
        CHECK(std::get<Insert>(m[3]).relation == kItems);
        CHECK(render(std::get<Insert>(m[3]).new_tuple) ==
              Texts{"1", "widget", "9.99", "calm", "<null>"});
        CHECK(render(std::get<Insert>(m[4]).new_tuple) ==
              Texts{"2", "gadget \xC3\xBC \"q\"\t", "-0.50", "busy", "note"});
        auto commit = std::get<Commit>(m[5]);
        CHECK(commit.commit_lsn == begin.final_lsn);
        CHECK(commit.end_lsn == Lsn(0x54AB3060));
        CHECK(commit.commit_time == begin.commit_time);
    }
    SECTION("UPDATE of a non-key column sends no old tuple") {
        auto update = std::get<Update>(m[7]);
        CHECK(update.old_kind == 0);
        CHECK(render(update.new_tuple) == Texts{"1", "widget", "9.99", "calm", "x"});
    }
    SECTION("UPDATE of the key sends the old key, other columns as 'n' (R2, R4)") {
        auto update = std::get<Update>(m[10]);
        CHECK(update.old_kind == 'K');
        CHECK(render(update.old_tuple) == Texts{"2", "<null>", "<null>", "<null>", "<null>"});
        CHECK(render(update.new_tuple)[0] == "3");
    }
    SECTION("REPLICA IDENTITY FULL: every column is key, UPDATE and DELETE send 'O'") {
        auto rel = std::get<Relation>(m[13]);
        CHECK(rel.oid == kFullRows);
        CHECK(rel.replica_identity == 'f');
        CHECK(rel.columns[0].key);
        CHECK(rel.columns[1].key);
        auto update = std::get<Update>(m[15]);
        CHECK(update.old_kind == 'O');
        CHECK(render(update.old_tuple) == Texts{"1", "a"});
        CHECK(render(update.new_tuple) == Texts{"1", "b"});
        auto del = std::get<Delete>(m[16]);
        CHECK(del.old_kind == 'O');
        CHECK(render(del.old_tuple) == Texts{"1", "b"});
    }
    SECTION("DELETE under the default identity sends the key only") {
        auto del = std::get<Delete>(m[19]);
        CHECK(del.relation == kItems);
        CHECK(del.old_kind == 'K');
        CHECK(render(del.old_tuple) == Texts{"3", "<null>", "<null>", "<null>", "<null>"});
    }
    SECTION("an UPDATE leaving a TOASTed value alone sends 'u' for it (R1)") {
        CHECK(std::get<Relation>(m[22]).oid == kToast);
        auto update = std::get<Update>(m[23]);
        CHECK(update.old_kind == 0);
        CHECK(render(update.new_tuple) == Texts{"1", "1", "<unchanged>"});
    }
    SECTION("TRUNCATE … RESTART IDENTITY CASCADE lists only the published table (R5)") {
        auto truncate = std::get<Truncate>(m[31]);
        CHECK(truncate.options == 3);
        CHECK(truncate.cascade());
        CHECK(truncate.restart_identity());
        CHECK(truncate.relations == std::vector<uint32_t>{kParent});
    }
    SECTION("logical messages: the non-transactional one comes first, outside the transaction") {
        auto immediate = std::get<LogicalMessage>(m[33]);
        CHECK_FALSE(immediate.transactional);
        CHECK(immediate.prefix == "golden");
        CHECK(immediate.content == "immediate");
        auto bound = std::get<LogicalMessage>(m[36]);
        CHECK(bound.transactional);
        CHECK(bound.content == "tx-bound");
        CHECK(bound.lsn < immediate.lsn); // emitted first, delivered at commit
        auto survivor = std::get<LogicalMessage>(m[38]);
        CHECK_FALSE(survivor.transactional);
        CHECK(survivor.content == "survives"); // its transaction rolled back
    }
    SECTION("a replicated-origin transaction carries Origin and the origin's commit time") {
        auto begin = std::get<Begin>(m[39]);
        CHECK(begin.commit_time == (int64_t{1704164645} - 946684800) * 1000000); // 2024-01-02
        auto origin = std::get<Origin>(m[40]);
        CHECK(origin.commit_lsn == Lsn(0x1234ABCD));
        CHECK(origin.name == "golden_origin");
        CHECK(render(std::get<Insert>(m[41]).new_tuple)[1] == "from origin");
    }
}

TEST_CASE("golden binary-mode capture carries send/recv bytes as 'b' values", "[pgoutput]") {
    const auto bytes = read_golden_messages("v1_binary.bin");
    REQUIRE(bytes.size() == 5);
    auto insert = std::get<Insert>(parse_message(bytes[3], false));
    REQUIRE(insert.new_tuple.size() == 5);
    for (int i = 0; i < 4; ++i)
        CHECK(insert.new_tuple[size_t(i)].kind == ValueKind::Binary);
    CHECK(insert.new_tuple[0].data == std::string_view("\0\0\0\x1e", 4)); // int4 30
    CHECK(insert.new_tuple[1].data == "binary");
    // numeric 12.5: 2 digits, weight 0, positive, dscale 2, base-10000 digits 12 and 5000.
    CHECK(insert.new_tuple[2].data == std::string_view("\0\2\0\0\0\0\0\2\0\x0c\x13\x88", 12));
    CHECK(insert.new_tuple[3].data == "busy");
    CHECK(insert.new_tuple[4].kind == ValueKind::Null);
}

TEST_CASE("golden streamed capture: xid prefixes, subtransaction and whole aborts (R6, R7)",
          "[pgoutput]") {
    const auto bytes = read_golden_messages("v2_stream.bin");
    bool in_stream = false;
    uint32_t stream_xid = 0;
    std::map<uint32_t, int> inserts_by_xid; // the xid each Insert carried
    std::vector<StreamAbort> aborts;
    std::vector<StreamCommit> commits;
    std::vector<uint32_t> relation_xids;
    int starts = 0, first_segments = 0;
    for (const std::string& b : bytes) {
        Message message = parse_message(b, in_stream);
        if (auto* start = std::get_if<StreamStart>(&message)) {
            REQUIRE_FALSE(in_stream);
            in_stream = true;
            stream_xid = start->xid;
            ++starts;
            first_segments += start->first_segment;
        } else if (std::holds_alternative<StreamStop>(message)) {
            REQUIRE(in_stream);
            in_stream = false;
        } else if (auto* insert = std::get_if<Insert>(&message)) {
            CHECK(insert->relation == kBig);
            CHECK((insert->xid == 0) == !in_stream);
            if (in_stream) CHECK(insert->xid >= stream_xid);
            ++inserts_by_xid[insert->xid];
        } else if (auto* rel = std::get_if<Relation>(&message)) {
            CHECK(rel->name == "big");
            relation_xids.push_back(rel->xid);
        } else if (auto* abort = std::get_if<StreamAbort>(&message)) {
            aborts.push_back(*abort);
        } else if (auto* commit = std::get_if<StreamCommit>(&message)) {
            commits.push_back(*commit);
        }
    }
    CHECK_FALSE(in_stream);
    CHECK(starts == 7);
    CHECK(first_segments == 2);
    // Top level 0x1FB0E: 1000 rows; its savepoint 0x1FB0F: 960 streamed before ROLLBACK TO;
    // the savepoint restarted as 0x1FB10: 1 row; 0x1FB11 aborted whole; one plain transaction.
    CHECK(inserts_by_xid ==
          std::map<uint32_t, int>{
              {0x1FB0E, 1000}, {0x1FB0F, 960}, {0x1FB10, 1}, {0x1FB11, 980}, {0, 1}});
    CHECK(relation_xids == std::vector<uint32_t>{0x1FB0E, 0x1FB10, 0x1FB11});
    REQUIRE(aborts.size() == 2);
    CHECK(aborts[0].xid == 0x1FB0E);
    CHECK(aborts[0].subxid == 0x1FB0F); // only the savepoint
    CHECK_FALSE(aborts[0].abort_lsn.is_valid());
    CHECK(aborts[1].xid == 0x1FB11);
    CHECK(aborts[1].subxid == 0x1FB11); // the whole transaction
    REQUIRE(commits.size() == 1);
    CHECK(commits[0].xid == 0x1FB0E);
    CHECK(commits[0].commit_lsn < commits[0].end_lsn);
}

// Hidden (run with: unit_tests "[.bench]"): the decoder's rate on captured small inserts, the hot
// path of a stream. Not part of the suite, whose machines vary in speed.
TEST_CASE("decode throughput of captured small inserts", "[.bench]") {
    auto measure = [](const std::vector<std::string>& inserts, bool in_stream, size_t columns) {
        size_t decoded = 0, seen_columns = 0;
        auto start = std::chrono::steady_clock::now();
        while (decoded < 4000000) {
            for (const std::string& b : inserts) {
                Message message = parse_message(b, in_stream);
                seen_columns += std::get<Insert>(message).new_tuple.size();
                ++decoded;
            }
        }
        std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
        WARN(decoded << " inserts of " << inserts[0].size() << " bytes, " << columns << " columns: "
                     << static_cast<long>(decoded / elapsed.count()) << " messages/s");
        CHECK(seen_columns == columns * decoded);
    };
    std::vector<std::string> streamed; // int, text; each with its xid
    bool in_stream = false;
    for (const std::string& b : read_golden_messages("v2_stream.bin")) {
        if (b[0] == 'S' || b[0] == 'E') in_stream = b[0] == 'S';
        if (b[0] == 'I' && in_stream) streamed.push_back(b);
    }
    REQUIRE(streamed.size() > 1000);
    measure(streamed, true, 2);
    std::vector<std::string> items; // int, text, numeric, enum, text
    for (const std::string& b : read_golden_messages("v1_changes.bin"))
        if (b[0] == 'I' && std::get<Insert>(parse_message(b, false)).relation == kItems)
            items.push_back(b);
    REQUIRE(items.size() == 4);
    measure(items, false, 5);
}
