// The hub, first half: client frames (parsed by serve/client_frame), subscriptions and shapes, and
// each session's output queue. Routing of logged records is in hub_dispatch.cpp.
#include "serve/hub/hub.h"

#include "filter/evaluator.h"
#include "filter/shape_index.h"
#include "record/record_scan.h"
#include "serve/access/subscription_filter.h"
#include "serve/hub/hub_state.h"
#include "serve/protocol/client_frame.h"
#include "serve/protocol/frames.h"
#include "serve/shapes/order_by.h"
#include "serve/shapes/shape.h"
#include "serve/shapes/table_schema.h"
#include "serve/windows/window_order.h"
#include "util/durable_file.h"
#include "util/log.h"

#include <algorithm>
#include <fcntl.h>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <unistd.h>
#include <unordered_map>

namespace pgsync::serve {

namespace {

using json = nlohmann::json;

// How often a table's indexes may be read again for windows that none served.
constexpr auto kIndexRereadInterval = std::chrono::seconds(1);

} // namespace

Hub::Impl::Impl(const HubOptions& o, ChangeLog& l, Loader& ld, Metrics& m,
                std::function<std::vector<TableSchema>()> r, std::function<void(Session&)> w)
    : options(o), log(l), loader(ld), metrics(m), read_tables(std::move(r)), wake(std::move(w)) {
    load_tables();
    channel_list = channels::from_tables(options.tables);
    check_channels();
    dispatched = log.end();
    reader = log.read_after(dispatched);
    log_dir = options.storage_dir;
    std::filesystem::create_directories(log_dir + "/consumers"); // once, not on every ack
}

void Hub::Impl::load_tables() {
    std::vector<TableSchema> published = read_tables();
    std::map<std::pair<std::string, std::string>, TableState> fresh;
    for (auto& schema : published) {
        const ServedTable served = served_table(options.tables, schema);
        if (!served.served) continue; // the config lists the tables clients may see
        auto key = std::make_pair(schema.schema, schema.name);
        TableState& state = fresh[key];
        state.schema = std::make_shared<TableSchema>(std::move(schema));
        state.config = served.config;
    }
    // Keep the shapes of tables whose schema did not change.
    for (auto& [key, state] : tables) {
        auto it = fresh.find(key);
        if (it != fresh.end() && state.shapes.empty()) continue;
        if (it != fresh.end() && it->second.schema->columns.size() == state.schema->columns.size())
            it->second = std::move(state);
    }
    tables = std::move(fresh);
    last_table = nullptr;
}

TableState* Hub::Impl::find_table(std::string_view schema_token, std::string_view table_token) {
    if (last_table && last_table->schema->is(schema_token, table_token))
        return const_cast<TableState*>(last_table);
    for (auto& [key, state] : tables)
        if (state.schema->is(schema_token, table_token)) {
            last_table = &state;
            return &state;
        }
    return nullptr;
}

void Hub::Impl::push(Session& session, Frame&& frame) {
    FrameMark mark;
    mark.subscription = frame.subscription;
    mark.offset = frame.offset;
    mark.has_offset = frame.has_offset;
    mark.up_to_date = frame.up_to_date;
    enqueue(session, {std::string_view(frame.data).substr(kFrameHeadroom)}, mark);
}

void Hub::Impl::enqueue(Session& session, std::initializer_list<std::string_view> parts,
                        const FrameMark& mark) {
    if (session.close_code) return; // closing: nothing more
    if (session.row_checks && mark.subscription && gate(session, *mark.subscription, parts, mark))
        return; // waits for the row webhook
    if (mark.subscription && mark.up_to_date) {
        mark.subscription->announced = mark.offset;
        mark.subscription->announced_any = true;
    }
    size_t bytes = session.output.append(parts, mark);
    *session.shared_queued_bytes = session.output.bytes();
    queue_delta += int64_t(bytes);
    if (session.output.bytes() > options.client_queue_bytes) {
        // Past the cap, live subscriptions stop taking frames from the dispatcher and read
        // the log at the client's pace instead (the log is the buffer, F1); a client that
        // stops reading altogether is dropped by the loader's stall limit.
        demote(session);
    }
    if (session.output.bytes() > 2 * options.client_queue_bytes + (1u << 20)) {
        drop_slow(session); // never without bound, whatever produced the frames
        return;
    }
    if (!session.wake_requested) {
        // Written once the current dispatch is done: one write per client per slice.
        session.wake_requested = true;
        dirty.push_back(&session);
    }
}

void Hub::Impl::retract_up_to_date(Subscription& sub) {
    Session& session = *sub.session;
    const size_t removed = session.output.retract_up_to_date(&sub);
    *session.shared_queued_bytes = session.output.bytes();
    queue_delta -= int64_t(removed);
}

void Hub::Impl::clear_queue(Session& session) {
    queue_delta -= int64_t(session.output.clear());
    *session.shared_queued_bytes = session.output.bytes(); // a frame already begun stays
}

void Hub::Impl::drop_slow(Session& session) {
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
    // Past the cap on purpose: the one frame that says where to resume.
    const size_t bytes =
        session.output.append({std::string_view(frame.data).substr(kFrameHeadroom)}, {});
    *session.shared_queued_bytes = session.output.bytes();
    queue_delta += int64_t(bytes);
    demote(session);
    dropping.push_back(&session); // its subscriptions go once the current dispatch is done
    session.close_code = 4008;
    session.close_reason = "slow consumer";
    ++metrics.clients_dropped_total;
    session.wake_requested = true;
    wake(session);
}

void Hub::Impl::error(Session& session, std::string_view id_json, std::string_view code,
                      std::string_view message) {
    push(session, error_frame(id_json, code, message));
}

void Hub::Impl::remove_subscription(Session& session, Subscription& sub) {
    *sub.cancelled = true; // a running load stops at its next batch
    loader.cancel(session.id, sub.id);
    session.filter_cost -= std::min(session.filter_cost, sub.filter_cost);
    if (sub.shape) {
        auto& live = sub.shape->live;
        live.erase(std::remove(live.begin(), live.end(), &sub), live.end());
        if (sub.shape->window) std::erase(sub.shape->window->waiting, &sub);
        if (--sub.shape->subscribers == 0) drop_shape(*sub.shape);
    } else {
        raw_live.erase(std::remove(raw_live.begin(), raw_live.end(), &sub), raw_live.end());
    }
    touched.erase(std::remove(touched.begin(), touched.end(), &sub), touched.end());
    session.output.forget(&sub);
    --subscription_count;
    --metrics.subscriptions;
    session.subscriptions.erase(sub.id); // destroys sub
}

void Hub::Impl::remove_all_subscriptions(Session& session) {
    while (!session.subscriptions.empty())
        remove_subscription(session, *session.subscriptions.begin()->second);
}

void Hub::Impl::drop_shape(ShapeEntry& entry) {
    if (entry.window) forget_window(entry);
    const TableSchema& schema = *entry.shape->table;
    auto it = tables.find({schema.schema, schema.name});
    if (it == tables.end()) return;
    TableState& state = it->second;
    state.index.remove(entry.id);
    state.by_identity.erase(entry.identity);
    auto& needs = state.needs_old;
    needs.erase(std::remove(needs.begin(), needs.end(), entry.id), needs.end());
    state.shapes.erase(entry.id); // destroys entry
    --metrics.shapes;
}

void Hub::Impl::invalidate_table(TableState& state, std::string_view reason, bool keep_channels) {
    std::vector<Subscription*> subs;
    for (auto& session_pair : sessions)
        for (auto& [id, sub] : session_pair.second->subscriptions)
            if (sub->shape && !(keep_channels && sub->shape->shape->channel) &&
                sub->shape->shape->table->schema == state.schema->schema &&
                sub->shape->shape->table->name == state.schema->name)
                subs.push_back(sub.get());
    for (Subscription* sub : subs) {
        Session& session = *sub->session;
        std::string id_json = sub->id_json;
        remove_subscription(session, *sub);
        push(session, must_refetch_frame(id_json, reason));
    }
}

void Hub::Impl::subscribe(Session& session, SubscribeRequest& request) {
    const std::string id_json = json_string(request.id);
    const std::string& id = request.id;
    if (session.subscriptions.count(id))
        return error(session, id_json, "duplicate-id",
                     "subscription \"" + id + "\" already exists on this connection");
    if (session.subscriptions.size() >= options.max_subscriptions_per_client)
        return error(session, id_json, "too-many-subscriptions",
                     "a connection may hold at most " +
                         std::to_string(options.max_subscriptions_per_client) + " subscriptions");
    if (!request.channel.empty()) return subscribe_channel(session, request);
    auto it = tables.find({request.table.schema, request.table.name});
    if (it == tables.end())
        return error(session, id_json, "unknown-table",
                     "table \"" + request.table_text + "\" is not served (not in publication \"" +
                         options.publication + "\"" +
                         (options.tables.empty() ? "" : " or not listed in the config") + ")");
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
    // Every change of the table is evaluated against the filter on this thread: a connection
    // gets a bounded share of that work, whatever its patterns and lists.
    const uint64_t cost = filter.filter ? filter::evaluation_cost(*filter.filter) : 0;
    if (session.filter_cost + cost > options.max_filter_cost_per_client)
        return error(session, id_json, "too-expensive",
                     "the connection's filters would cost " +
                         std::to_string(session.filter_cost + cost) +
                         " units per change, the limit is " +
                         std::to_string(options.max_filter_cost_per_client) +
                         "; use shorter LIKE patterns, shorter IN lists or fewer subscriptions");
    if (loader.queued() >= options.max_queued_loads)
        return error(session, id_json, "server-busy",
                     "too many initial loads are waiting; subscribe again in a few seconds");

    std::vector<std::string> columns = request.columns;
    if (state.config && state.config->columns) {
        std::vector<std::string> allowed;
        for (const auto& c : *state.config->columns)
            allowed.push_back(c.value);
        if (columns.empty()) columns = allowed;
        for (const auto& c : columns)
            if (std::find(allowed.begin(), allowed.end(), c) == allowed.end())
                return error(session, id_json, "forbidden",
                             "column \"" + c + "\" is not served (not in the config's columns)");
    }
    auto shape = std::make_shared<Shape>();
    if (auto problem = make_shape(*shape, state.schema, std::move(filter.filter), columns))
        return error(session, id_json, "bad-frame", *problem);
    std::string identity = shape->identity;
    std::optional<WindowOrder> order;
    if (request.limit) {
        std::vector<OrderTerm> terms;
        std::string problem;
        if (!parse_order_by(*request.order_by, *state.schema, terms, problem))
            return error(session, id_json, "bad-order", "\"order_by\": " + problem);
        order.emplace();
        const std::vector<int> equalities =
            shape->filter ? shape->filter->equality_columns() : std::vector<int>{};
        auto refused = make_window_order(*state.schema, terms, equalities, *order);
        const auto now = std::chrono::steady_clock::now();
        if (refused && refused->missing_index && now - state.indexes_read > kIndexRereadInterval) {
            state.indexes_read = now;
            reload_table(state); // the shapes already made keep the schema they were made with
            refused = make_window_order(*state.schema, terms, equalities, *order);
        }
        if (refused)
            return error(session, id_json, "bad-order", refused->message + ". " + refused->hint);
        identity += "|order:" + order->identity + "|limit:" + std::to_string(*request.limit);
    }

    // The offset to resume from, if any.
    LogOffset after = dispatched;
    bool resume = false;
    if (!resume_offset(session, id_json, request.offset, after, resume)) return;

    // Share the shape with identical subscriptions.
    std::shared_ptr<ShapeEntry> entry;
    auto known = state.by_identity.find(identity);
    if (known != state.by_identity.end()) {
        entry = state.shapes[known->second];
    } else {
        std::shared_ptr<WindowEntry> window;
        if (order)
            window = std::make_shared<WindowEntry>(Window(shape, std::move(*order), *request.limit));
        entry = add_shape(state, shape, identity, std::move(window));
    }
    auto sub = new_subscription(session, id, id_json, entry, cost);
    sub->state = resume ? Subscription::State::CatchingUp : Subscription::State::Loading;
    if (entry->window) { // the window's rows, not a load of its own
        Subscription& joined = *sub;
        session.subscriptions[id] = std::move(sub);
        ++subscription_count;
        ++metrics.subscriptions;
        return join_window(*entry, joined);
    }
    LoadJob job = make_job(session, *sub);
    job.kind = resume ? LoadJob::Kind::CatchUp : LoadJob::Kind::Initial;
    job.after = after;
    job.after_at_boundary = resume ? ends_transaction(after) : dispatched_at_boundary;
    session.subscriptions[id] = std::move(sub);
    ++subscription_count;
    ++metrics.subscriptions;
    if (!resume) ++metrics.loads_total;
    loader.submit(std::move(job));
}

bool Hub::Impl::resume_offset(Session& session, const std::string& id_json,
                              const std::optional<std::string>& text, LogOffset& after,
                              bool& resume) {
    if (!text) return true;
    switch (parse_client_offset(*text, log.epoch(), after)) {
    case OffsetCheck::Malformed:
        error(session, id_json, "bad-offset",
              "\"offset\" is not an offset of this server; subscribe without one");
        return false;
    case OffsetCheck::OtherEpoch:
        push(session, must_refetch_frame(id_json, "epoch-changed"));
        return false;
    case OffsetCheck::Ok:
        break;
    }
    if (after < log.start()) {
        push(session, must_refetch_frame(id_json, "offset-expired"));
        return false;
    }
    if (past_known_wal(after)) {
        error(session, id_json, "bad-offset",
              "\"offset\" is past the end of this server's log; subscribe without one");
        return false;
    }
    resume = true;
    return true;
}

LoadJob Hub::Impl::make_job(Session& session, Subscription& sub) {
    LoadJob job;
    job.session_id = session.id;
    job.shard = options.shard;
    job.subscription_id = sub.id;
    job.id_json = sub.id_json;
    job.generation = sub.generation;
    job.shape = sub.shape ? sub.shape->shape : nullptr;
    job.queued_bytes = session.shared_queued_bytes;
    job.in_flight = session.in_flight;
    job.gone = session.gone;
    job.parked = session.catch_up_parked;
    job.cancelled = sub.cancelled;
    return job;
}

void Hub::Impl::ack(Session& session, const AckRequest& request) {
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
    if (offset < sub.acked) return error(session, id_json, "bad-ack", "acks must not go backwards");
    sub.acked = offset;
    if (session.endpoint == Endpoint::Raw && !session.consumer.empty())
        save_consumer(session.consumer, client_offset(log.epoch(), offset));
}

std::string Hub::Impl::consumer_path(const std::string& name) const {
    return log_dir + "/consumers/" + name;
}

void Hub::Impl::save_consumer(const std::string& name, const std::string& offset) {
    // Durably: a consumer that got its ack answered may rely on it after a crash.
    write_file_durably(consumer_path(name), offset + "\n");
}

std::string Hub::Impl::load_consumer(const std::string& name) const {
    std::optional<std::string> text = read_small_file(consumer_path(name));
    if (!text) return {};
    return text->substr(0, text->find('\n'));
}

Hub::Hub(const HubOptions& options, ChangeLog& log, Loader& loader, Metrics& metrics,
         std::function<std::vector<TableSchema>()> read_tables, std::function<void(Session&)> wake)
    : m_impl(std::make_unique<Impl>(options, log, loader, metrics, std::move(read_tables),
                                    std::move(wake))) {}

Hub::~Hub() = default;

void Hub::on_open(Session& session) {
    m_impl->sessions[session.id] = &session;
    // A token's user: each row waits for the app's row webhook (an API key is the app itself).
    session.row_checks = m_impl->options.row_webhook && !session.insecure &&
                         !session.principal.api_key && session.endpoint == Endpoint::Shapes;
    ++m_impl->metrics.clients;
}

void Hub::on_close(Session& session) {
    *session.gone = true;
    auto& dropping = m_impl->dropping;
    dropping.erase(std::remove(dropping.begin(), dropping.end(), &session), dropping.end());
    auto& dirty = m_impl->dirty;
    dirty.erase(std::remove(dirty.begin(), dirty.end(), &session), dirty.end());
    m_impl->remove_all_subscriptions(session);
    m_impl->clear_queue(session);
    if (m_impl->sessions.erase(session.id)) --m_impl->metrics.clients;
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
    if (auto* auth = std::get_if<AuthRequest>(&frame))
        return m_impl->reauthenticate(session, *auth);
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
            return impl.refuse_raw(session, "\"" + text + "\" is not an offset of this server");
        case OffsetCheck::OtherEpoch:
            return impl.push(session, must_refetch_frame({}, "epoch-changed"));
        case OffsetCheck::Ok:
            break;
        }
        if (after < impl.log.start())
            return impl.push(session, must_refetch_frame({}, "offset-expired"));
        if (impl.past_known_wal(after))
            return impl.refuse_raw(session,
                                   "\"" + text + "\" is past the end of this server's log");
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
    ++impl.metrics.subscriptions;
    impl.loader.submit(std::move(job));
}

void Hub::send_error(Session& session, std::string_view code, std::string_view message) {
    m_impl->error(session, {}, code, message);
    m_impl->finish(); // written now, not with the next frame that happens to come
}

bool Hub::Impl::past_known_wal(LogOffset offset) const {
    // Past the log's end is legitimate only for records a client saw before a crash that are not
    // yet streamed again, and those lie before the server's WAL insert position.
    return offset > log.end() && offset.lsn.value() > server_wal.load();
}

void Hub::set_server_wal(Lsn lsn) {
    uint64_t known = m_impl->server_wal.load();
    while (lsn.value() > known && !m_impl->server_wal.compare_exchange_weak(known, lsn.value())) {
    }
}

void Hub::Impl::refuse_raw(Session& session, const std::string& message) {
    push(session, error_frame({}, "bad-offset", message));
    session.close_code = 4400; // after the frame: push drops frames of a closing session
    session.close_reason = "bad offset";
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

void Hub::on_frame_written(const FrameMark& mark) {
    if (mark.subscription && mark.has_offset) {
        mark.subscription->delivered = mark.offset;
        mark.subscription->delivered_any = true;
    }
}

void Hub::on_written(Session& session, size_t bytes, size_t frames) {
    *session.shared_queued_bytes = session.output.bytes();
    m_impl->queue_delta -= int64_t(bytes);
    m_impl->publish_queue_bytes();
    if (frames) m_impl->metrics.frames_sent_total += frames;
    // A catch-up that stepped aside for this client goes on once it has read most of its queue.
    if (session.catch_up_parked->load(std::memory_order_relaxed) &&
        session.output.bytes() + session.in_flight->load() <=
            m_impl->options.client_queue_bytes / 4)
        m_impl->loader.unpark(session.id);
}

std::shared_ptr<ShapeEntry> Hub::Impl::add_shape(TableState& state, std::shared_ptr<Shape> shape,
                                                 const std::string& identity,
                                                 std::shared_ptr<WindowEntry> window) {
    auto entry = std::make_shared<ShapeEntry>();
    entry->id = next_shape_id++;
    entry->shape = shape;
    entry->identity = identity;
    if (window) {
        entry->window = std::move(window);
        windows[entry->id] = entry.get();
        ++metrics.windows;
    }
    state.shapes[entry->id] = entry;
    state.by_identity[identity] = entry->id;
    state.index.add(entry->id, shape->filter ? &*shape->filter : nullptr);
    if (shape->needs_old_image) state.needs_old.push_back(entry->id);
    ++metrics.shapes;
    return entry;
}

std::unique_ptr<Subscription> Hub::Impl::new_subscription(Session& session, const std::string& id,
                                                          const std::string& id_json,
                                                          std::shared_ptr<ShapeEntry> entry,
                                                          uint64_t cost) {
    ++entry->subscribers;
    auto sub = std::make_unique<Subscription>();
    sub->id = id;
    sub->id_json = id_json;
    sub->session = &session;
    sub->shape = std::move(entry);
    sub->generation = next_generation++;
    sub->serial = sub->generation;
    sub->filter_cost = cost;
    session.filter_cost += cost;
    return sub;
}

} // namespace pgsync::serve
