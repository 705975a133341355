// The hub's routing. Client frames are parsed with nlohmann/json (small, capped by the layer);
// logged records with record/record_scan (the hot path).
#include "serve/hub.h"

#include "filter/shape_index.h"
#include "record/record_scan.h"
#include "serve/client_frame.h"
#include "serve/frames.h"
#include "serve/shape.h"
#include "serve/subscription_filter.h"
#include "serve/table_schema.h"
#include "util/log.h"

#include <algorithm>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <unistd.h>
#include <unordered_map>

namespace pgsync::serve {

namespace {

using json = nlohmann::json;

struct TableState {
    std::shared_ptr<const TableSchema> schema;
    filter::ShapeIndex index;
    std::unordered_map<uint64_t, std::shared_ptr<ShapeEntry>> shapes;
    std::unordered_map<std::string, uint64_t> by_identity;
    std::vector<uint64_t> needs_old; // shapes to try whenever a row lacks a full old image
    const config::Table* config = nullptr;
};

// Whether a client's offset ends a transaction: commits have odd ops (serve/log_offset.h), rows
// even ones. A resume from a change inside a transaction gets its up-to-date at that
// transaction's commit, not at once.
bool ends_transaction(LogOffset offset) {
    return offset.op % 2 == 1;
}

} // namespace

struct Hub::Impl {
    Impl(const HubOptions& o, ChangeLog& l, Loader& ld, Metrics& m, pg::Connection c,
         std::function<void(Session&)> w)
        : options(o), log(l), loader(ld), metrics(m), catalog(std::move(c)), wake(std::move(w)) {
        load_tables();
        dispatched = log.end();
        reader = log.read_after(dispatched);
        log_dir = options.storage_dir;
    }

    const HubOptions& options;
    ChangeLog& log;
    Loader& loader;
    Metrics& metrics;
    pg::Connection catalog;
    std::function<void(Session&)> wake;

    std::map<std::pair<std::string, std::string>, TableState> tables;
    std::unordered_map<uint64_t, Session*> sessions;
    std::vector<Subscription*> raw_live;
    std::vector<Subscription*> touched;
    std::vector<Session*> dirty;    // sessions with frames to write after this dispatch
    std::vector<Session*> dropping; // dropped clients whose subscriptions go after dispatch
    std::vector<Subscription*> live_scratch;   // a copy of a live list, walked while it may change
    std::unique_ptr<ChangeLog::Reader> reader; // the dispatcher's position in the log
    LogOffset dispatched;
    bool dispatched_at_boundary = true;
    uint64_t next_shape_id = 1;
    uint64_t next_generation = 1;
    size_t subscription_count = 0;

    // Dispatch scratch, reused for every record.
    record::ScannedRecord scanned;
    RowImages row;
    std::vector<filter::ShapeIndex::ShapeId> candidates;
    std::string tail;
    const TableState* last_table = nullptr;

    void load_tables() {
        std::vector<TableSchema> published = load_published_tables(catalog, options.publication);
        std::map<std::pair<std::string, std::string>, TableState> fresh;
        for (auto& schema : published) {
            const config::Table* configured = nullptr;
            if (!options.tables.empty()) {
                for (const auto& table : options.tables) {
                    auto name = config::parse_table_name(table.name.value);
                    if (name && name->schema == schema.schema && name->name == schema.name)
                        configured = &table;
                }
                if (!configured) continue; // the config lists the tables clients may see
            }
            auto key = std::make_pair(schema.schema, schema.name);
            TableState& state = fresh[key];
            state.schema = std::make_shared<TableSchema>(std::move(schema));
            state.config = configured;
        }
        // Keep the shapes of tables whose schema did not change.
        for (auto& [key, state] : tables) {
            auto it = fresh.find(key);
            if (it != fresh.end() && state.shapes.empty()) continue;
            if (it != fresh.end() &&
                it->second.schema->columns.size() == state.schema->columns.size())
                it->second = std::move(state);
        }
        tables = std::move(fresh);
        last_table = nullptr;
    }

    TableState* find_table(std::string_view schema_token, std::string_view table_token) {
        if (last_table && last_table->schema->is(schema_token, table_token))
            return const_cast<TableState*>(last_table);
        for (auto& [key, state] : tables)
            if (state.schema->is(schema_token, table_token)) {
                last_table = &state;
                return &state;
            }
        return nullptr;
    }

    // ---- output

    void push(Session& session, Frame&& frame) {
        if (session.close_code) return; // closing: nothing more
        if (frame.subscription && frame.up_to_date) {
            frame.subscription->announced = frame.offset;
            frame.subscription->announced_any = true;
        }
        const size_t bytes = frame.data.size();
        session.queue.push_back(std::move(frame));
        session.queued_bytes += bytes;
        *session.shared_queued_bytes = session.queued_bytes;
        metrics.queue_bytes += bytes;
        if (session.queued_bytes > options.client_queue_bytes) {
            // Past the cap, live subscriptions stop taking frames from the dispatcher and read
            // the log at the client's pace instead (the log is the buffer, F1); a client that
            // stops reading altogether is dropped by the loader's stall limit.
            demote(session);
        }
        if (session.queued_bytes > 2 * options.client_queue_bytes + (1u << 20)) {
            drop_slow(session); // never without bound, whatever produced the frames
            return;
        }
        if (!session.wake_requested) {
            // Written once the current dispatch is done: one write per client per slice.
            session.wake_requested = true;
            dirty.push_back(&session);
        }
    }

    void clear_queue(Session& session) {
        metrics.queue_bytes -= session.queued_bytes;
        session.queue.clear();
        session.queued_bytes = 0;
        *session.shared_queued_bytes = 0;
    }

    // F1: a client past its cap loses what is queued (never memory without bound, never slowing
    // others) and learns, per subscription, the last offset it got so it can resume from there.
    void drop_slow(Session& session) {
        clear_queue(session);
        json offsets = json::object();
        for (auto& [id, sub] : session.subscriptions)
            if (sub->delivered_any) offsets[id] = client_offset(log.epoch(), sub->delivered);
        Frame frame;
        frame.data = frame_buffer();
        json body = {{"type", "error"},
                     {"code", "slow-consumer"},
                     {"message", "the client read too slowly: its queue passed " +
                                     std::to_string(options.client_queue_bytes) +
                                     " bytes; resume each subscription from its offset"},
                     {"offsets", offsets}};
        frame.data += body.dump();
        session.queue.push_back(std::move(frame));
        session.queued_bytes = session.queue.back().data.size();
        metrics.queue_bytes += session.queued_bytes;
        demote(session);
        dropping.push_back(&session); // its subscriptions go once the current dispatch is done
        session.close_code = 4008;
        session.close_reason = "slow consumer";
        ++metrics.clients_dropped_total;
        session.wake_requested = true;
        wake(session);
    }

    void error(Session& session, std::string_view id_json, std::string_view code,
               std::string_view message) {
        push(session, error_frame(id_json, code, message));
    }

    // ---- subscriptions

    void remove_subscription(Session& session, Subscription& sub) {
        if (sub.shape) {
            auto& live = sub.shape->live;
            live.erase(std::remove(live.begin(), live.end(), &sub), live.end());
            if (--sub.shape->subscribers == 0) drop_shape(*sub.shape);
        } else {
            raw_live.erase(std::remove(raw_live.begin(), raw_live.end(), &sub), raw_live.end());
        }
        touched.erase(std::remove(touched.begin(), touched.end(), &sub), touched.end());
        for (auto& frame : session.queue)
            if (frame.subscription == &sub) frame.subscription = nullptr;
        --subscription_count;
        metrics.subscriptions = subscription_count;
        session.subscriptions.erase(sub.id); // destroys sub
    }

    void remove_all_subscriptions(Session& session) {
        while (!session.subscriptions.empty())
            remove_subscription(session, *session.subscriptions.begin()->second);
    }

    void drop_shape(ShapeEntry& entry) {
        const TableSchema& schema = *entry.shape->table;
        auto it = tables.find({schema.schema, schema.name});
        if (it == tables.end()) return;
        TableState& state = it->second;
        state.index.remove(entry.id);
        state.by_identity.erase(entry.shape->identity);
        auto& needs = state.needs_old;
        needs.erase(std::remove(needs.begin(), needs.end(), entry.id), needs.end());
        state.shapes.erase(entry.id); // destroys entry
        metrics.shapes = metrics.shapes - 1;
    }

    // Ends every subscription of a table with must-refetch (schema change, truncate, reload).
    void invalidate_table(TableState& state, std::string_view reason) {
        std::vector<Subscription*> subs;
        for (auto& session_pair : sessions)
            for (auto& [id, sub] : session_pair.second->subscriptions)
                if (sub->shape && sub->shape->shape->table == state.schema)
                    subs.push_back(sub.get());
        for (Subscription* sub : subs) {
            Session& session = *sub->session;
            std::string id_json = sub->id_json;
            remove_subscription(session, *sub);
            push(session, must_refetch_frame(id_json, reason));
        }
    }

    void subscribe(Session& session, SubscribeRequest& request) {
        const std::string id_json = json_string(request.id);
        const std::string& id = request.id;
        if (session.subscriptions.count(id))
            return error(session, id_json, "duplicate-id",
                         "subscription \"" + id + "\" already exists on this connection");
        if (session.subscriptions.size() >= options.max_subscriptions_per_client)
            return error(session, id_json, "too-many-subscriptions",
                         "a connection may hold at most " +
                             std::to_string(options.max_subscriptions_per_client) +
                             " subscriptions");
        auto it = tables.find({request.table.schema, request.table.name});
        if (it == tables.end())
            return error(session, id_json, "unknown-table",
                         "table \"" + request.table_text +
                             "\" is not served (not in publication \"" + options.publication +
                             "\"" + (options.tables.empty() ? "" : " or not listed in the config") +
                             ")");
        TableState& state = it->second;

        // Authorisation, per subscriber (F6): the token must grant the table.
        const TableGrant* grant = nullptr;
        if (!session.insecure && !session.principal.all_tables) {
            for (const auto& g : session.principal.tables)
                if (g.schema == request.table.schema && g.name == request.table.name) grant = &g;
            if (!grant)
                return error(session, id_json, "forbidden",
                             "the token does not grant table \"" + request.table_text + "\"");
        }
        FilterResult filter = subscription_filter(request, *state.schema, grant, state.config);
        if (!filter.ok()) return error(session, id_json, filter.error_code, filter.error_message);

        std::vector<std::string> columns = request.columns;
        if (state.config && state.config->columns) {
            std::vector<std::string> allowed;
            for (const auto& c : *state.config->columns)
                allowed.push_back(c.value);
            if (columns.empty()) columns = allowed;
            for (const auto& c : columns)
                if (std::find(allowed.begin(), allowed.end(), c) == allowed.end())
                    return error(session, id_json, "forbidden",
                                 "column \"" + c +
                                     "\" is not served (not in the config's columns)");
        }
        auto shape = std::make_shared<Shape>();
        if (auto problem = make_shape(*shape, state.schema, std::move(filter.filter), columns))
            return error(session, id_json, "bad-frame", *problem);

        // The offset to resume from, if any.
        LogOffset after = dispatched;
        bool resume = false;
        if (request.offset) {
            switch (parse_client_offset(*request.offset, log.epoch(), after)) {
            case OffsetCheck::Malformed:
                return error(session, id_json, "bad-offset",
                             "\"offset\" is not an offset of this server; subscribe without one");
            case OffsetCheck::OtherEpoch:
                return push(session, must_refetch_frame(id_json, "epoch-changed"));
            case OffsetCheck::Ok:
                break;
            }
            if (after < log.start())
                return push(session, must_refetch_frame(id_json, "offset-expired"));
            resume = true;
        }

        // Share the shape with identical subscriptions.
        std::shared_ptr<ShapeEntry> entry;
        auto known = state.by_identity.find(shape->identity);
        if (known != state.by_identity.end()) {
            entry = state.shapes[known->second];
        } else {
            entry = std::make_shared<ShapeEntry>();
            entry->id = next_shape_id++;
            entry->shape = shape;
            state.shapes[entry->id] = entry;
            state.by_identity[shape->identity] = entry->id;
            state.index.add(entry->id, shape->filter ? &*shape->filter : nullptr);
            if (shape->needs_old_image) state.needs_old.push_back(entry->id);
            metrics.shapes = metrics.shapes + 1;
        }
        ++entry->subscribers;

        auto sub = std::make_unique<Subscription>();
        sub->id = id;
        sub->id_json = id_json;
        sub->session = &session;
        sub->shape = entry;
        sub->generation = next_generation++;
        sub->state = resume ? Subscription::State::CatchingUp : Subscription::State::Loading;
        LoadJob job = make_job(session, *sub);
        job.kind = resume ? LoadJob::Kind::CatchUp : LoadJob::Kind::Initial;
        job.after = after;
        job.after_at_boundary = resume ? ends_transaction(after) : dispatched_at_boundary;
        session.subscriptions[id] = std::move(sub);
        ++subscription_count;
        metrics.subscriptions = subscription_count;
        if (!resume) ++metrics.loads_total;
        loader.submit(std::move(job));
    }

    LoadJob make_job(Session& session, Subscription& sub) {
        LoadJob job;
        job.session_id = session.id;
        job.subscription_id = sub.id;
        job.id_json = sub.id_json;
        job.generation = sub.generation;
        job.shape = sub.shape ? sub.shape->shape : nullptr;
        job.queued_bytes = session.shared_queued_bytes;
        job.in_flight = session.in_flight;
        job.gone = session.gone;
        return job;
    }

    void ack(Session& session, const AckRequest& request) {
        const std::string id = session.endpoint == Endpoint::Raw ? "stream" : request.id;
        const std::string id_json = session.endpoint == Endpoint::Raw ? "" : json_string(id);
        auto it = session.subscriptions.find(id);
        if (it == session.subscriptions.end())
            return error(session, id_json, "unknown-subscription",
                         "no subscription \"" + id + "\" on this connection");
        Subscription& sub = *it->second;
        LogOffset offset;
        if (parse_client_offset(request.offset, log.epoch(), offset) != OffsetCheck::Ok)
            return error(session, id_json, "bad-ack", "\"offset\" is not an offset of this server");
        // F8: an ack moves only this client's cursor, never past what it was sent, never back.
        if (!sub.delivered_any || offset > sub.delivered)
            return error(session, id_json, "bad-ack",
                         "ack of " + request.offset + " is beyond what was delivered");
        if (offset < sub.acked)
            return error(session, id_json, "bad-ack", "acks must not go backwards");
        sub.acked = offset;
        if (session.endpoint == Endpoint::Raw && !session.consumer.empty())
            save_consumer(session.consumer, client_offset(log.epoch(), offset));
    }

    std::string consumer_path(const std::string& name) const {
        return log_dir + "/consumers/" + name;
    }
    std::string log_dir;

    void save_consumer(const std::string& name, const std::string& offset) {
        std::filesystem::create_directories(log_dir + "/consumers");
        const std::string path = consumer_path(name);
        {
            std::ofstream out(path + ".tmp", std::ios::trunc);
            out << offset << '\n';
        }
        std::filesystem::rename(path + ".tmp", path);
    }

    std::string load_consumer(const std::string& name) const {
        std::ifstream in(consumer_path(name));
        std::string line;
        std::getline(in, line);
        return line;
    }

    // ---- dispatch

    void deliver_change(Subscription& sub, LogOffset offset, std::string_view tail, Lsn commit_lsn,
                        uint32_t xid) {
        if (offset <= sub.cursor) return;
        if (sub.snapshot) {
            if (commit_lsn > sub.snapshot_lsn)
                sub.snapshot.reset(); // past every transaction the load could have seen
            else if (sub.snapshot->visible(xid))
                return;
        }
        Frame frame = change_frame(sub.id_json, tail);
        frame.subscription = &sub;
        frame.offset = offset;
        frame.has_offset = true;
        // The cursor moves before the push: a push past the cap demotes the subscription, whose
        // catch-up then starts after this frame, not before it.
        sub.cursor = offset;
        sub.cursor_at_boundary = false;
        if (!sub.touched) {
            sub.touched = true;
            touched.push_back(&sub);
        }
        push(*sub.session, std::move(frame));
    }

    void dispatch_row(const LogRecord& record) {
        ++metrics.changes_total;
        TableState* state = find_table(scanned.schema_token, scanned.table_token);
        if (!state || state->shapes.empty()) return;
        if (!read_row(*state->schema, scanned, row)) {
            log::warning("a logged change of table \"" + state->schema->display_name() +
                         "\" does not fit its columns; reloading the schema");
            return;
        }
        candidates.clear();
        state->index.candidates(row.new_cells, candidates);
        if (row.has_old || row.op == RowImages::Op::Update)
            state->index.candidates(row.old_cells, candidates);
        if (!row.old_full && row.op != RowImages::Op::Insert)
            candidates.insert(candidates.end(), state->needs_old.begin(), state->needs_old.end());
        std::sort(candidates.begin(), candidates.end());
        candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
        std::string offset_text;
        for (auto id : candidates) {
            auto it = state->shapes.find(id);
            if (it == state->shapes.end() || it->second->live.empty()) continue;
            ShapeEntry& entry = *it->second;
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

    void dispatch_one(const LogRecord& record) {
        dispatched = record.offset;
        dispatched_at_boundary = record.commit || record.xid == 0;
        if (!raw_live.empty()) {
            Frame frame = raw_record_frame(client_offset(log.epoch(), record.offset), record.line);
            live_scratch.assign(raw_live.begin(), raw_live.end());
            for (Subscription* sub : live_scratch) {
                if (sub->state != Subscription::State::Live || record.offset <= sub->cursor)
                    continue;
                Frame copy = frame;
                copy.subscription = sub;
                copy.offset = record.offset;
                copy.has_offset = true;
                sub->cursor = record.offset;
                sub->cursor_at_boundary = record.commit || record.xid == 0;
                push(*sub->session, std::move(copy));
            }
        }
        if (!record::scan_record(record.line, scanned)) {
            log::warning("skipping a log record that is not a native change record at " +
                         record.offset.str());
            return;
        }
        const std::string_view op = scanned.op;
        if (op == "insert" || op == "update" || op == "delete") {
            dispatch_row(record);
        } else if (op == "commit") {
            if (!touched.empty()) {
                const std::string offset_text = client_offset(log.epoch(), record.offset);
                live_scratch.swap(touched);
                touched.clear();
                for (Subscription* sub : live_scratch) {
                    if (!sub->touched) continue; // demoted meanwhile: its catch-up says it
                    sub->touched = false;
                    Frame frame = up_to_date_frame(sub->id_json, offset_text);
                    frame.subscription = sub;
                    frame.offset = record.offset;
                    frame.has_offset = true;
                    sub->cursor = record.offset;
                    sub->cursor_at_boundary = true;
                    push(*sub->session, std::move(frame));
                }
                live_scratch.clear();
            }
        } else if (op == "relation") {
            TableState* state = find_table(scanned.schema_token, scanned.table_token);
            if (state && !relation_matches(*state->schema, scanned.columns)) {
                log::info("table \"" + state->schema->display_name() +
                          "\" changed shape; its subscribers must refetch");
                invalidate_table(*state, "schema-changed");
                reload_table(*state);
            }
        } else if (op == "truncate") {
            record::for_each_element(scanned.relations, [&](std::string_view element) {
                std::string_view schema, name;
                record::for_each_member(element, [&](std::string_view k, std::string_view v) {
                    if (k == "\"schema\"") schema = v;
                    if (k == "\"table\"") name = v;
                });
                if (TableState* state = find_table(schema, name))
                    invalidate_table(*state, "truncated");
            });
        }
    }

    void reload_table(TableState& state) {
        try {
            for (auto& schema : load_published_tables(catalog, options.publication))
                if (schema.schema == state.schema->schema && schema.name == state.schema->name) {
                    state.schema = std::make_shared<TableSchema>(std::move(schema));
                    return;
                }
        } catch (const std::exception& e) {
            log::warning(std::string("could not reload the table's columns: ") + e.what());
        }
    }

    // ---- loader results

    void on_result(LoadResult& result) {
        auto session_it = sessions.find(result.session_id);
        if (session_it == sessions.end()) return;
        Session& session = *session_it->second;
        *session.in_flight -= std::min<size_t>(*session.in_flight, result.bytes);
        auto sub_it = session.subscriptions.find(result.subscription_id);
        if (sub_it == session.subscriptions.end() ||
            sub_it->second->generation != result.generation)
            return;
        Subscription& sub = *sub_it->second;
        for (auto& frame : result.frames) {
            if (frame.has_offset) frame.subscription = &sub;
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
        case Status::Failed:
            ++metrics.load_failures_total;
            return end_with(session, sub,
                            error_frame(sub.id_json, "load-failed",
                                        "the initial load failed: " + result.error +
                                            "; subscribe again later"));
        }
    }

    // The live subscriptions of a client past its cap go back to reading the log from where
    // their queued frames end. Safe during dispatch: the dispatch loops walk copies and skip
    // subscriptions that are no longer live.
    void demote(Session& session) {
        for (auto& [id, owned] : session.subscriptions) {
            Subscription& sub = *owned;
            if (sub.state != Subscription::State::Live) continue;
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
            job.snapshot = sub.snapshot;
            job.snapshot_lsn = sub.snapshot_lsn;
            job.touched = was_touched;
            loader.submit(std::move(job));
        }
    }

    // Work put off while dispatch loops were running: the subscriptions of dropped clients.
    void finish() {
        std::vector<Session*> sessions_to_drop;
        sessions_to_drop.swap(dropping);
        for (Session* session : sessions_to_drop)
            if (sessions.count(session->id)) remove_all_subscriptions(*session);
        std::vector<Session*> to_wake;
        to_wake.swap(dirty);
        for (Session* session : to_wake)
            if (sessions.count(session->id)) wake(*session);
    }

    void expire_all_live() {
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

    void end_with(Session& session, Subscription& sub, Frame&& frame) {
        remove_subscription(session, sub);
        push(session, std::move(frame));
    }

    void caught_up(Session& session, Subscription& sub, LoadResult& result) {
        if (result.reached < dispatched) {
            // The live stream moved on while we read: read the rest, then try again.
            LoadJob job = make_job(session, sub);
            job.kind = LoadJob::Kind::CatchUp;
            job.after = result.reached;
            job.after_at_boundary = result.at_boundary;
            job.snapshot = result.snapshot;
            job.snapshot_lsn = result.snapshot_lsn;
            job.touched = result.touched;
            loader.submit(std::move(job));
            return;
        }
        // Live from here: the dispatcher delivers what comes after reached (it may already have
        // been read from the file, ahead of the dispatcher; deliver_change skips it then).
        sub.cursor = result.reached;
        sub.cursor_at_boundary = result.at_boundary;
        sub.snapshot = result.snapshot;
        sub.snapshot_lsn = result.snapshot_lsn;
        sub.state = Subscription::State::Live;
        if (sub.shape)
            sub.shape->live.push_back(&sub);
        else
            raw_live.push_back(&sub);
        const bool announced = sub.announced_any && sub.announced == result.reached;
        if (result.at_boundary && !result.touched && !announced) {
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
};

Hub::Hub(const HubOptions& options, ChangeLog& log, Loader& loader, Metrics& metrics,
         pg::Connection catalog, std::function<void(Session&)> wake)
    : m_impl(std::make_unique<Impl>(options, log, loader, metrics, std::move(catalog),
                                    std::move(wake))) {}

Hub::~Hub() = default;

void Hub::on_open(Session& session) {
    m_impl->sessions[session.id] = &session;
    m_impl->metrics.clients = m_impl->sessions.size();
}

void Hub::on_close(Session& session) {
    *session.gone = true;
    auto& dropping = m_impl->dropping;
    dropping.erase(std::remove(dropping.begin(), dropping.end(), &session), dropping.end());
    auto& dirty = m_impl->dirty;
    dirty.erase(std::remove(dirty.begin(), dirty.end(), &session), dirty.end());
    m_impl->remove_all_subscriptions(session);
    m_impl->clear_queue(session);
    m_impl->sessions.erase(session.id);
    m_impl->metrics.clients = m_impl->sessions.size();
}

void Hub::on_text(Session& session, std::string_view text) {
    handle_text(session, text);
    m_impl->finish();
}

void Hub::handle_text(Session& session, std::string_view text) {
    ClientFrame frame = parse_client_frame(text, session.endpoint == Endpoint::Raw);
    if (auto* e = std::get_if<FrameError>(&frame))
        return m_impl->error(session, e->id.empty() ? std::string() : json_string(e->id), e->code,
                             e->message);
    if (auto* subscribe = std::get_if<SubscribeRequest>(&frame))
        return m_impl->subscribe(session, *subscribe);
    if (auto* ack = std::get_if<AckRequest>(&frame)) return m_impl->ack(session, *ack);
    const auto& unsubscribe = std::get<UnsubscribeRequest>(frame);
    auto it = session.subscriptions.find(unsubscribe.id);
    if (it == session.subscriptions.end())
        return m_impl->error(session, json_string(unsubscribe.id), "unknown-subscription",
                             "no subscription \"" + unsubscribe.id + "\" on this connection");
    m_impl->remove_subscription(session, *it->second);
}

void Hub::start_raw(Session& session, std::string_view offset_text) {
    begin_raw(session, offset_text);
    m_impl->finish();
}

void Hub::begin_raw(Session& session, std::string_view offset_text) {
    Impl& impl = *m_impl;
    std::string text(offset_text);
    if (text.empty() && !session.consumer.empty()) text = impl.load_consumer(session.consumer);
    LogOffset after = impl.dispatched;
    bool resume = false;
    if (!text.empty()) {
        switch (parse_client_offset(text, impl.log.epoch(), after)) {
        case OffsetCheck::Malformed:
            session.close_code = 4400;
            session.close_reason = "bad offset";
            return impl.push(
                session,
                error_frame({}, "bad-offset", "\"" + text + "\" is not an offset of this server"));
        case OffsetCheck::OtherEpoch:
            return impl.push(session, must_refetch_frame({}, "epoch-changed"));
        case OffsetCheck::Ok:
            break;
        }
        if (after < impl.log.start())
            return impl.push(session, must_refetch_frame({}, "offset-expired"));
        resume = true;
    }
    auto sub = std::make_unique<Subscription>();
    sub->id = "stream";
    sub->session = &session;
    sub->generation = impl.next_generation++;
    sub->state = Subscription::State::CatchingUp;
    LoadJob job = impl.make_job(session, *sub);
    job.kind = LoadJob::Kind::CatchUp;
    job.after = after;
    job.after_at_boundary = resume ? ends_transaction(after) : impl.dispatched_at_boundary;
    session.subscriptions["stream"] = std::move(sub);
    ++impl.subscription_count;
    impl.metrics.subscriptions = impl.subscription_count;
    impl.loader.submit(std::move(job));
}

bool Hub::pump(size_t max_records) {
    Impl& impl = *m_impl;
    LogRecord record;
    size_t n = 0;
    bool more = true;
    while (n < max_records) {
        if (!impl.reader->next(record)) {
            more = false;
            break;
        }
        impl.dispatch_one(record);
        ++n;
    }
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

void Hub::on_load_results(std::vector<LoadResult>&& results) {
    for (auto& result : results)
        m_impl->on_result(result);
    m_impl->finish();
}

void Hub::send_error(Session& session, std::string_view code, std::string_view message) {
    m_impl->error(session, {}, code, message);
}

void Hub::close(Session& session, int close_code, std::string reason, std::string_view code_name,
                std::string_view message) {
    if (session.close_code) return;
    m_impl->clear_queue(session);
    m_impl->remove_all_subscriptions(session);
    if (!code_name.empty()) m_impl->error(session, {}, code_name, message);
    session.close_code = close_code;
    session.close_reason = std::move(reason);
    session.wake_requested = true;
    m_impl->wake(session);
}

void Hub::on_written(Session& session, const Frame& frame) {
    session.queued_bytes -= std::min(session.queued_bytes, frame.data.size());
    *session.shared_queued_bytes = session.queued_bytes;
    m_impl->metrics.queue_bytes -=
        std::min<uint64_t>(m_impl->metrics.queue_bytes, frame.data.size());
    ++m_impl->metrics.frames_sent_total;
    if (frame.subscription && frame.has_offset) {
        frame.subscription->delivered = frame.offset;
        frame.subscription->delivered_any = true;
    }
}

LogOffset Hub::dispatched() const {
    return m_impl->dispatched;
}

} // namespace pgsync::serve
