// The hub's channels (pgsync.yaml tables[].channels): a channel subscription is a shape whose rows
// belong by channels::row_belongs (serve/shapes/shape.h), fed from the log's end or from the
// client's offset (no initial load: an event feed), so acks, resume, demotion to catch-up and the
// row webhook work as for every shape. Truncates are events on it, not its end.
#include "filter/evaluator.h"
#include "serve/hub/hub.h"
#include "serve/hub/hub_state.h"
#include "serve/protocol/frames.h"
#include "util/error.h"
#include "util/log.h"

#include <algorithm>

namespace pgsync::serve {

void Hub::Impl::check_channels() {
    for (const channels::Channel& channel : channel_list) {
        auto it = tables.find({channel.table.schema, channel.table.name});
        if (it == tables.end()) {
            if (options.shard == 0)
                log::warning("channel \"" + channel.name + "\" is of table \"" +
                             channel.table.schema + "." + channel.table.name +
                             "\", which publication \"" + options.publication +
                             "\" does not send; subscribing to it fails");
            continue;
        }
        channels::bind_where(channel, it->second.schema->columns); // throws for a bad where
    }
}

void Hub::Impl::subscribe_channel(Session& session, SubscribeRequest& request) {
    const std::string id_json = json_string(request.id);
    const std::string& id = request.id;
    const channels::Channel* channel = channels::find_channel(channel_list, request.channel);
    if (!channel)
        return error(session, id_json, "bad-channel",
                     "no channel \"" + request.channel + "\" is configured (channels: " +
                         channels::channel_names(channel_list) + ")");
    // Authorisation, per subscriber (F6): the token must grant the channel by name.
    if (!session.insecure && !grants_channel(session.principal, channel->name))
        return error(session, id_json, "forbidden",
                     "the token does not grant channel \"" + channel->name + "\"");
    auto it = tables.find({channel->table.schema, channel->table.name});
    if (it == tables.end())
        return error(session, id_json, "bad-channel",
                     "the table of channel \"" + channel->name + "\" is not served (not in "
                     "publication \"" + options.publication + "\")");
    TableState& state = it->second;
    std::optional<filter::BoundFilter> where;
    try {
        where = channels::bind_where(*channel, state.schema->columns);
    } catch (const Error& e) { // the table changed since the server started
        return error(session, id_json, "bad-channel", e.what());
    }
    const uint64_t cost = where ? filter::evaluation_cost(*where) : 0;
    if (session.filter_cost + cost > options.max_filter_cost_per_client)
        return error(session, id_json, "too-expensive",
                     "the connection's filters would cost " +
                         std::to_string(session.filter_cost + cost) +
                         " units per change, the limit is " +
                         std::to_string(options.max_filter_cost_per_client));
    LogOffset after = dispatched;
    bool resume = false;
    if (!resume_offset(session, id_json, request.offset, after, resume)) return;

    const std::string identity = "channel:" + channel->name;
    std::shared_ptr<ShapeEntry> entry;
    if (auto known = state.by_identity.find(identity); known != state.by_identity.end()) {
        entry = state.shapes[known->second];
    } else {
        std::vector<std::string> columns; // the config's columns, else every one
        if (state.config && state.config->columns)
            for (const auto& c : *state.config->columns)
                columns.push_back(c.value);
        auto shape = std::make_shared<Shape>();
        if (auto problem = make_shape(*shape, state.schema, std::move(where), columns))
            return error(session, id_json, "bad-channel", *problem);
        shape->channel = std::make_shared<const channels::Channel>(*channel);
        shape->needs_old_image = false; // an undecided where does not match (row_belongs)
        shape->identity = identity;
        entry = add_shape(state, shape, identity, nullptr);
    }
    auto sub = new_subscription(session, id, id_json, entry, cost);
    sub->state = Subscription::State::CatchingUp;
    // No initial load: from the log's end (the up-to-date it gets names that offset) or from the
    // client's offset, read from the log like any catch-up.
    LoadJob job = make_job(session, *sub);
    job.kind = LoadJob::Kind::CatchUp;
    job.after = after;
    job.after_at_boundary = resume ? ends_transaction(after) : dispatched_at_boundary;
    session.subscriptions[id] = std::move(sub);
    ++subscription_count;
    ++metrics.subscriptions;
    loader.submit(std::move(job));
}

void Hub::Impl::dispatch_channel_truncate(const LogRecord& record, TableState& state) {
    std::string offset_text;
    for (auto& [shape_id, entry] : state.shapes) {
        if (!channel_takes_truncate(*entry->shape) || entry->live.empty()) continue;
        if (offset_text.empty()) offset_text = client_offset(log.epoch(), record.offset);
        tail.clear();
        append_truncate_tail(tail, *entry->shape, offset_text);
        live_scratch.assign(entry->live.begin(), entry->live.end());
        for (Subscription* sub : live_scratch)
            if (sub->state == Subscription::State::Live)
                deliver_change(*sub, record.offset, tail, scanned.commit_lsn, record.xid);
    }
}

} // namespace pgsync::serve
