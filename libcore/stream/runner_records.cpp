// pgoutput messages to records: each handler renders its message through the formatter into the
// output, in order. A streamed transaction's changes are rendered as their chunks arrive (deferred:
// the commit's fields and seq left as markers) and kept until it commits (R6), so its commit only
// copies them out; with a format that cannot defer, they are kept raw and replayed through the
// same handlers at the commit.
#include "stream/runner.h"
#include "util/log.h"

namespace pgsync::stream {
namespace {

// The first byte of a kept message in deferred mode: what follows.
constexpr char kRendered = 'F';    // records rendered with markers (Formatter::expand)
constexpr char kRawRelation = 'R'; // a Relation message, applied to the cache at the commit

record::ValueKind value_kind(decode::ValueKind kind) {
    switch (kind) {
    case decode::ValueKind::Null:
        return record::ValueKind::Null;
    case decode::ValueKind::UnchangedToast:
        return record::ValueKind::UnchangedToast;
    case decode::ValueKind::Text:
        return record::ValueKind::Text;
    case decode::ValueKind::Binary:
        break;
    }
    throw Error("pgoutput sent a binary value, but binary mode was not requested");
}

} // namespace

// Handles one XLogData payload; returns true when --endpos is reached.
bool Runner::handle_xlog(std::string_view data, Lsn wal_start, pg::Connection& sql) {
    decode::Message message = decode::parse_message(data, m_in_stream);
    if (m_in_stream) {
        if (auto* s = std::get_if<decode::StreamStop>(&message)) {
            (void)s;
            m_in_stream = false;
            return false;
        }
        // Changes of an in-progress transaction are kept, raw, until it commits (R6).
        uint32_t sub = std::visit(
            [](const auto& m) -> uint32_t {
                if constexpr (requires { m.xid; })
                    return m.xid;
                else
                    return 0;
            },
            message);
        if (auto* lm = std::get_if<decode::LogicalMessage>(&message); lm && !lm->transactional)
            return handle(message, wal_start, sql);
        keep_streamed(message, data, wal_start, sub ? sub : m_stream_xid, sql);
        return false;
    }
    if (m_catching_up && already_delivered(message, sql)) return false;
    return handle(message, wal_start, sql);
}

void Runner::keep_streamed(const decode::Message& message, std::string_view data, Lsn lsn,
                           uint32_t sub_xid, pg::Connection& sql) {
    m_rendered.clear();
    if (!defer_streamed()) {
        // Kept with the change's LSN in front, so replayed records keep their own "lsn".
        for (int i = 0; i < 8; ++i)
            m_rendered += char(lsn.value() >> (56 - 8 * i));
        m_rendered.append(data);
    } else if (const auto* relation = std::get_if<decode::Relation>(&message)) {
        m_stream_relations[m_stream_xid][relation->oid] = m_relations.build(*relation, sql);
        m_rendered += kRawRelation;
        m_rendered.append(data);
    } else {
        m_rendered += kRendered;
        m_rendered_txn = {m_stream_xid, Lsn(), Lsn(), 0, true};
        m_rendering = true;
        struct Done {
            bool& flag;
            ~Done() { flag = false; }
        } done{m_rendering};
        handle(message, lsn, sql);
        if (m_rendered.size() == 1) return; // nothing to show (a Type or Origin message)
    }
    m_buffer.append(m_stream_xid, sub_xid, m_rendered);
}

bool Runner::replay_streamed(uint32_t xid, pg::Connection& sql, bool relations_only) {
    const bool deferred = defer_streamed();
    bool complete = true;
    m_buffer.replay(xid, [&](std::string_view kept) {
        if (!complete) return;
        if (deferred && kept[0] == kRendered) {
            if (relations_only) return;
            m_formatter->expand(m_output, kept.substr(1), m_txn, m_seq);
            // Copying out outpaces any consumer: keep the queue bounded here too.
            if (m_output.size() >= kChunkBytes) {
                push_output(Lsn());
                complete = wait_for_writer_room();
            }
            return;
        }
        uint64_t lsn = 0;
        if (deferred) {
            kept.remove_prefix(1);
        } else {
            for (int i = 0; i < 8; ++i)
                lsn = (lsn << 8) | uint8_t(kept[size_t(i)]);
            kept.remove_prefix(8);
        }
        decode::Message message = decode::parse_message(kept, true);
        if (relations_only) {
            if (const auto* relation = std::get_if<decode::Relation>(&message))
                m_relations.apply(*relation, sql);
            return;
        }
        handle(message, Lsn(lsn), sql);
        if (m_writer.full()) complete = wait_for_writer_room();
    });
    forget_streamed(xid);
    return complete;
}

void Runner::forget_streamed(uint32_t xid) {
    m_buffer.erase(xid);
    m_stream_relations.erase(xid);
}

void Runner::forget_all_streamed() {
    m_buffer.clear();
    m_stream_relations.clear();
}

const record::RelationInfo& Runner::relation(uint32_t oid) const {
    if (m_rendering) {
        if (auto txn = m_stream_relations.find(m_stream_xid); txn != m_stream_relations.end())
            if (auto it = txn->second.find(oid); it != txn->second.end()) return *it->second;
    }
    return m_relations.get(oid);
}

bool Runner::handle(const decode::Message& message, Lsn lsn, pg::Connection& sql) {
    return std::visit([&](const auto& m) { return on(m, lsn, sql); }, message);
}

bool Runner::on(const decode::Begin& m, Lsn, pg::Connection&) {
    m_txn = {m.xid, m.final_lsn, Lsn(), m.commit_time};
    m_in_txn = true;
    m_seq = 0;
    m_formatter->begin(m_output, m_txn);
    return false;
}
bool Runner::on(const decode::Commit& m, Lsn, pg::Connection&) {
    m_txn.end_lsn = m.end_lsn;
    m_txn.commit_time = m.commit_time;
    return end_transaction();
}
bool Runner::end_transaction() {
    m_formatter->commit(m_output, m_txn);
    m_in_txn = false;
    m_delivered_through = std::max(m_delivered_through, m_txn.commit_lsn);
    push_output(m_txn.end_lsn);
    return m_options.endpos.is_valid() && m_txn.end_lsn >= m_options.endpos;
}
bool Runner::on(const decode::Relation& m, Lsn, pg::Connection& sql) {
    auto applied = m_relations.apply(m, sql);
    if (applied.changed) m_formatter->relation(m_output, m_txn, *applied.info);
    return false;
}
void Runner::fill(const decode::Tuple& tuple, std::vector<record::Value>& out,
                  const record::RelationInfo& rel) {
    if (tuple.size() != rel.columns.size())
        throw Error("pgoutput sent " + std::to_string(tuple.size()) + " columns for \"" +
                    rel.schema + "." + rel.name + "\", which has " +
                    std::to_string(rel.columns.size()));
    out.resize(tuple.size());
    for (size_t i = 0; i < tuple.size(); ++i)
        out[i] = {value_kind(tuple[i].kind), tuple[i].data};
}
bool Runner::on(const decode::Insert& m, Lsn lsn, pg::Connection&) {
    const auto& rel = relation(m.relation);
    fill(m.new_tuple, m_new, rel);
    emit_row({record::RowOp::Insert, &rel, lsn, m_seq++, record::OldKind::None, {}, m_new});
    return false;
}
bool Runner::on(const decode::Update& m, Lsn lsn, pg::Connection&) {
    const auto& rel = relation(m.relation);
    fill(m.new_tuple, m_new, rel);
    record::OldKind kind = m.old_kind == 'O'   ? record::OldKind::Full
                           : m.old_kind == 'K' ? record::OldKind::Key
                                               : record::OldKind::None;
    if (kind != record::OldKind::None) fill(m.old_tuple, m_old, rel);
    emit_row({record::RowOp::Update, &rel, lsn, m_seq++, kind,
              kind == record::OldKind::None ? std::span<const record::Value>() : m_old, m_new});
    return false;
}
bool Runner::on(const decode::Delete& m, Lsn lsn, pg::Connection&) {
    const auto& rel = relation(m.relation);
    fill(m.old_tuple, m_old, rel);
    record::OldKind kind = m.old_kind == 'O' ? record::OldKind::Full : record::OldKind::Key;
    emit_row({record::RowOp::Delete, &rel, lsn, m_seq++, kind, m_old, {}});
    return false;
}
void Runner::emit_row(const record::RowChange& change) {
    m_formatter->row(target(), target_txn(), change);
    if (!m_rendering && m_output.size() >= kChunkBytes) push_output(Lsn());
}
bool Runner::on(const decode::Truncate& m, Lsn lsn, pg::Connection&) {
    record::TruncateChange change{lsn, m_seq++, {}, m.cascade(), m.restart_identity()};
    for (uint32_t oid : m.relations)
        change.relations.push_back(&relation(oid));
    m_formatter->truncate(target(), target_txn(), change);
    return false;
}
bool Runner::on(const decode::LogicalMessage& m, Lsn, pg::Connection&) {
    if (m.transactional && (m_in_txn || m_rendering)) {
        m_formatter->message(target(), &target_txn(), {m.lsn, m_seq++, true, m.prefix, m.content});
        return false;
    }
    // A non-transactional message stands alone, even if its transaction rolls back (R13).
    m_formatter->message(m_output, nullptr, {m.lsn, 0, m.transactional, m.prefix, m.content});
    if (!m_in_txn) {
        m_delivered_through = std::max(m_delivered_through, m.lsn);
        push_output(Lsn());
    }
    return false;
}
bool Runner::on(const decode::StreamStart& m, Lsn, pg::Connection&) {
    m_in_stream = true;
    m_stream_xid = m.xid;
    return false;
}
bool Runner::on(const decode::StreamStop&, Lsn, pg::Connection&) {
    m_in_stream = false;
    return false;
}
bool Runner::on(const decode::StreamAbort& m, Lsn, pg::Connection&) {
    if (m.subxid == m.xid) {
        forget_streamed(m.xid);
        return false;
    }
    // A subtransaction's abort drops only its part (R7). Its Relation messages stay in the
    // transaction's own view: pgoutput counts them as sent for the whole transaction.
    m_buffer.abort(m.xid, m.subxid);
    return false;
}
bool Runner::on(const decode::StreamCommit& m, Lsn, pg::Connection& sql) {
    m_txn = {m.xid, m.commit_lsn, m.end_lsn, m.commit_time};
    m_in_txn = true;
    m_seq = 0;
    m_formatter->begin(m_output, m_txn);
    const auto started = Clock::now();
    if (!replay_streamed(m.xid, sql, false)) {
        m_in_txn = false; // stopped: no commit record for what was not all written
        return false;
    }
    if (log::level() >= log::Level::Debug)
        log::debug("streamed transaction " + std::to_string(m.xid) + " written at its commit in " +
                   std::to_string(
                       std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started)
                           .count()) +
                   " ms");
    return end_transaction();
}

} // namespace pgsync::stream
