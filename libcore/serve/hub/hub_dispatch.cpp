// The hub, second half: routing the records the log appends to the shapes they concern (the hot
// path: record/record_scan, the per-table ShapeIndex, one change tail per shape shared by its
// subscribers), loader results, and demoting clients that fall behind to reading the log.
#include "serve/hub/hub.h"
#include "serve/hub/hub_state.h"
#include "serve/protocol/frames.h"
#include "serve/shapes/record_meaning.h"
#include "util/log.h"

#include <algorithm>

namespace pgsync::serve {

void Hub::Impl::deliver_change(Subscription& sub, LogOffset offset, std::string_view tail,
                               Lsn commit_lsn, uint32_t xid) {
    if (offset <= sub.cursor) return;
    if (sub.load) {
        if (sub.load->passed(commit_lsn))
            sub.load.reset(); // past every transaction the load could have seen
        else if (sub.load->saw(commit_lsn, xid))
            return;
    }
    // The cursor moves before the push: a push past the cap demotes the subscription, whose
    // catch-up then starts after this frame, not before it.
    sub.cursor = offset;
    sub.cursor_at_boundary = false;
    if (!sub.touched) {
        sub.touched = true;
        touched.push_back(&sub);
        retract_up_to_date(sub); // a backlog's up-to-dates coalesce into the next one
    }
    FrameMark mark;
    mark.subscription = &sub;
    mark.offset = offset;
    mark.has_offset = true;
    enqueue(*sub.session, {kChangeStart, sub.id_json, tail}, mark);
}

void Hub::Impl::dispatch_row(const LogRecord& record) {
    if (options.shard == 0) ++metrics.changes_total; // every hub sees every change: count once
    TableState* state = find_table(scanned.schema_token, scanned.table_token);
    if (!state || state->shapes.empty()) return;
    if (!read_row(*state->schema, scanned, row)) {
        log::warning("a logged change of table \"" + state->schema->display_name() +
                     "\" does not fit its columns; reloading the schema");
        return;
    }
    change_candidates(state->index, state->needs_old, row, candidates);
    std::string offset_text;
    record_copy.reset();
    record_keys_made = false;
    for (auto id : candidates) {
        auto it = state->shapes.find(id);
        if (it == state->shapes.end()) continue;
        ShapeEntry& entry = *it->second;
        if (entry.window) {
            ShapeOp op = classify(*entry.shape, row);
            if (op != ShapeOp::None) dispatch_window(entry, op, record);
            continue;
        }
        if (entry.live.empty()) continue;
        ShapeOp op = classify(*entry.shape, row);
        if (op == ShapeOp::None) continue;
        if (offset_text.empty()) offset_text = client_offset(log.epoch(), record.offset);
        tail.clear();
        append_change_tail(tail, *entry.shape, op, row, offset_text, false);
        live_scratch.assign(entry.live.begin(), entry.live.end());
        for (Subscription* sub : live_scratch)
            if (sub->state == Subscription::State::Live)
                deliver_change(*sub, record.offset, tail, scanned.commit_lsn, record.xid);
    }
}

void Hub::Impl::dispatch_one(const LogRecord& record) {
    dispatched = record.offset;
    dispatched_at_boundary = record.commit || record.xid == 0;
    if (!raw_live.empty()) {
        const std::string offset_text = client_offset(log.epoch(), record.offset);
        const std::string_view members = std::string_view(record.line).substr(1);
        live_scratch.assign(raw_live.begin(), raw_live.end());
        for (Subscription* sub : live_scratch) {
            if (sub->state != Subscription::State::Live || record.offset <= sub->cursor) continue;
            sub->cursor = record.offset;
            sub->cursor_at_boundary = record.commit || record.xid == 0;
            FrameMark mark;
            mark.subscription = sub;
            mark.offset = record.offset;
            mark.has_offset = true;
            enqueue(*sub->session, {kRawStart, offset_text, kRawEnd, members}, mark);
        }
    }
    if (!record::scan_record(record.line, scanned)) {
        log::warning("skipping a log record that is not a native change record at " +
                     record.offset.str());
        return;
    }
    switch (record_kind(scanned)) {
    case RecordKind::Row:
        dispatch_row(record);
        break;
    case RecordKind::Commit:
        if (!touched.empty()) {
            const std::string offset_text = client_offset(log.epoch(), record.offset);
            live_scratch.swap(touched);
            touched.clear();
            for (Subscription* sub : live_scratch) {
                if (!sub->touched) continue; // demoted meanwhile: its catch-up says it
                if (record.offset < sub->cursor) {
                    // Its catch-up read past this commit before this hub's dispatcher got here
                    // (another shard's, or the loader's, reading ahead): the up-to-date it is
                    // owed is at the commit that ends the transaction at its cursor, later.
                    touched.push_back(sub);
                    continue;
                }
                sub->touched = false;
                sub->cursor = record.offset;
                sub->cursor_at_boundary = true;
                FrameMark mark;
                mark.subscription = sub;
                mark.offset = record.offset;
                mark.has_offset = true;
                mark.up_to_date = true;
                enqueue(*sub->session,
                        {kUpToDateStart, sub->id_json, kUpToDateOffset, offset_text, kUpToDateEnd},
                        mark);
            }
            live_scratch.clear();
        }
        if (!touched_windows.empty()) commit_windows(record.offset);
        break;
    case RecordKind::Relation: {
        TableState* state = find_table(scanned.schema_token, scanned.table_token);
        if (state && changes_schema(scanned, *state->schema)) {
            log::info("table \"" + state->schema->display_name() +
                      "\" changed shape; its subscribers must refetch");
            invalidate_table(*state, "schema-changed");
            reload_table(*state);
        }
        break;
    }
    case RecordKind::Truncate: {
        std::vector<TableState*> truncated;
        for (auto& [key, state] : tables)
            if (truncates(scanned, *state.schema)) truncated.push_back(&state);
        for (TableState* state : truncated) {
            dispatch_channel_truncate(record, *state); // an event on channels' feeds
            invalidate_table(*state, "truncated", true);
        }
        break;
    }
    case RecordKind::Other:
        break;
    }
}

void Hub::Impl::reload_tables_logged() {
    try {
        load_tables();
    } catch (const std::exception& e) {
        log::warning(std::string("could not read the publication's tables again: ") + e.what());
    }
}

void Hub::Impl::reload_table(TableState& state) {
    try {
        for (auto& schema : read_tables())
            if (schema.schema == state.schema->schema && schema.name == state.schema->name) {
                state.schema = std::make_shared<TableSchema>(std::move(schema));
                return;
            }
    } catch (const std::exception& e) {
        log::warning(std::string("could not reload the table's columns: ") + e.what());
    }
}

void Hub::Impl::on_result(LoadResult& result) {
    if (result.session_id & kWindowJob) return on_window_result(result);
    auto session_it = sessions.find(result.session_id);
    if (session_it == sessions.end()) return;
    Session& session = *session_it->second;
    *session.in_flight -= std::min<size_t>(*session.in_flight, result.bytes);
    auto sub_it = session.subscriptions.find(result.subscription_id);
    if (sub_it == session.subscriptions.end() || sub_it->second->generation != result.generation)
        return;
    Subscription& sub = *sub_it->second;
    for (auto& frame : result.frames) {
        frame.subscription = &sub; // its offset advances only when frame.has_offset
        push(session, std::move(frame));
        if (session.close_code) return; // dropped as a slow consumer
    }
    using Status = LoadResult::Status;
    switch (result.status) {
    case Status::More:
        return;
    case Status::CaughtUp:
        return caught_up(session, sub, result);
    case Status::Expired:
        return end_with(session, sub, must_refetch_frame(sub.id_json, "offset-expired"));
    case Status::SchemaChanged:
        return end_with(session, sub, must_refetch_frame(sub.id_json, "schema-changed"));
    case Status::Truncated:
        return end_with(session, sub, must_refetch_frame(sub.id_json, "truncated"));
    case Status::Stalled:
        return drop_slow(session);
    case Status::Unpublished:
    case Status::PublicationChanged: {
        // The publication changed under the served schema: every subscription of the table is
        // stale, and the tables are read again before anyone subscribes anew.
        const TableSchema& schema = *sub.shape->shape->table;
        auto it = tables.find({schema.schema, schema.name});
        const bool gone = result.status == Status::Unpublished;
        if (it != tables.end())
            invalidate_table(it->second, gone ? "unpublished" : "schema-changed");
        reload_tables_logged();
        return;
    }
    case Status::Failed:
        // The database's text is in the server's log: it may name what the client must not see.
        ++metrics.load_failures_total;
        return end_with(session, sub,
                        error_frame(sub.id_json, "load-failed",
                                    "the initial load failed; subscribe again later (the "
                                    "server's log has the cause)"));
    }
}

void Hub::Impl::demote(Session& session) {
    for (auto& [id, owned] : session.subscriptions) {
        Subscription& sub = *owned;
        if (sub.state != Subscription::State::Live) continue;
        // A window's frames say how its rows moved, not what the log holds: there is nothing to
        // read back, so a client that falls behind on one is dropped at twice its cap (enqueue)
        // and subscribes again.
        if (sub.shape && sub.shape->window) continue;
        if (sub.shape) {
            auto& live = sub.shape->live;
            live.erase(std::remove(live.begin(), live.end(), &sub), live.end());
        } else {
            raw_live.erase(std::remove(raw_live.begin(), raw_live.end(), &sub), raw_live.end());
        }
        const bool was_touched = sub.touched;
        if (was_touched) {
            touched.erase(std::remove(touched.begin(), touched.end(), &sub), touched.end());
            sub.touched = false;
        }
        sub.state = Subscription::State::CatchingUp;
        if (session.close_code) continue; // being dropped: no more reading for it
        sub.generation = next_generation++;
        LoadJob job = make_job(session, sub);
        job.kind = LoadJob::Kind::CatchUp;
        job.after = sub.cursor;
        job.after_at_boundary = sub.cursor_at_boundary;
        job.load = sub.load;
        job.touched = was_touched;
        loader.submit(std::move(job));
    }
}

void Hub::Impl::finish() {
    if (options.row_webhook) settle_gates(); // before the writes: it may queue frames
    // Both lists hold open sessions only: on_close takes a closing one off them.
    std::vector<Session*> sessions_to_drop;
    sessions_to_drop.swap(dropping);
    for (Session* session : sessions_to_drop)
        remove_all_subscriptions(*session);
    to_wake.swap(dirty);
    for (Session* session : to_wake)
        wake(*session);
    to_wake.clear();
    publish_queue_bytes();
}

void Hub::Impl::expire_all_live() {
    std::vector<Subscription*> live;
    for (auto& [id, session] : sessions)
        for (auto& [sub_id, sub] : session->subscriptions)
            if (sub->state == Subscription::State::Live) live.push_back(sub.get());
    for (Subscription* sub : live) {
        Session& session = *sub->session;
        std::string id_json = sub->id_json;
        remove_subscription(session, *sub);
        push(session, must_refetch_frame(id_json, "offset-expired"));
    }
}

void Hub::Impl::end_with(Session& session, Subscription& sub, Frame&& frame) {
    remove_subscription(session, sub);
    push(session, std::move(frame));
}

void Hub::Impl::caught_up(Session& session, Subscription& sub, LoadResult& result) {
    if (result.reached < dispatched) {
        // The live stream moved on while we read: read the rest, then try again.
        LoadJob job = make_job(session, sub);
        job.kind = LoadJob::Kind::CatchUp;
        job.after = result.reached;
        job.after_at_boundary = result.at_boundary;
        job.load = result.load;
        job.touched = result.touched;
        loader.submit(std::move(job));
        return;
    }
    // Live from here: the dispatcher delivers what comes after reached (it may already have
    // been read from the file, ahead of the dispatcher; deliver_change skips it then).
    sub.cursor = result.reached;
    sub.cursor_at_boundary = result.at_boundary;
    sub.load = result.load;
    sub.state = Subscription::State::Live;
    if (sub.shape)
        sub.shape->live.push_back(&sub);
    else
        raw_live.push_back(&sub);
    const bool announced = sub.announced_any && sub.announced == result.reached;
    if (result.at_boundary && !result.touched) {
        if (announced) return; // said already: a second one would claim a commit it never saw
        Frame frame = up_to_date_frame(sub.id_json, client_offset(log.epoch(), result.reached));
        frame.subscription = &sub;
        frame.offset = result.reached;
        frame.has_offset = true;
        push(session, std::move(frame));
    } else if (!sub.touched) {
        sub.touched = true; // up-to-date at the commit of the transaction in progress
        touched.push_back(&sub);
    }
}

bool Hub::pump(size_t max_records) {
    Impl& impl = *m_impl;
    LogRecord record;
    size_t n = 0;
    bool more = true;
    const auto started = std::chrono::steady_clock::now();
    if (impl.slice.count() == 0) impl.slice = impl.options.least_slice;
    while (n < max_records) {
        if (!impl.reader->next(record)) {
            more = false;
            break;
        }
        impl.dispatch_one(record);
        ++n;
        // The clock is read every 64 records: a slice ends at a bounded time, not mid-record.
        if (n % 64 == 0 && std::chrono::steady_clock::now() - started > impl.slice) break;
    }
    // Behind: the next slice is longer, so each client's write carries more changes.
    impl.slice =
        more ? std::min(impl.slice * 2, impl.options.most_slice) : impl.options.least_slice;
    if (impl.reader->expired()) {
        // The dispatcher fell behind by more than the log keeps: every live subscriber missed
        // changes and must start over.
        log::warning("the dispatcher fell behind the log's retention; every live subscription "
                     "must refetch");
        impl.expire_all_live();
        impl.reader = impl.log.read_after(impl.log.start());
        impl.dispatched = impl.log.start();
        more = true;
    }
    impl.finish();
    return more;
}

bool Hub::service(size_t max_records) {
    on_load_results(m_impl->loader.take_results(m_impl->options.shard));
    if (m_impl->options.row_webhook)
        m_impl->on_verdicts(m_impl->options.row_webhook->take_results(m_impl->options.shard));
    return pump(max_records);
}

void Hub::on_load_results(std::vector<LoadResult>&& results) {
    for (auto& result : results)
        m_impl->on_result(result);
    m_impl->finish();
}

} // namespace pgsync::serve
