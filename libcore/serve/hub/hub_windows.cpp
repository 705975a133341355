// The hub, third part: ordered windows. Each window is kept once per shard for all its
// subscribers (serve/windows/window.h decides what a change does to it): a change costs one
// placement per window, a commit one diff per window rendered once and queued to each subscriber,
// and a refill one query per window, run by the loader pool while the window's changes wait.
#include "serve/hub/hub.h"
#include "serve/hub/hub_state.h"
#include "serve/protocol/frames.h"
#include "serve/shapes/record_meaning.h"
#include "util/log.h"

#include <algorithm>

namespace pgsync::serve {

namespace {

// Records of a window's table buffered while its fill runs: past this, the fill's result is
// stale before it arrives, and the window fills again.
constexpr size_t kMaxBufferedBytes = 16u << 20;
constexpr uint64_t kWindowIdBits = (1ull << 48) - 1;

} // namespace

void Hub::Impl::join_window(ShapeEntry& entry, Subscription& sub) {
    WindowEntry& window = *entry.window;
    if (!window.shown) {
        window.waiting.push_back(&sub);
        if (!window.filling) start_fill(entry);
        return;
    }
    // The rows its subscribers were last sent: a transaction being dispatched reaches the new
    // subscriber with the others, at its commit.
    FrameMark change;
    change.subscription = &sub; // no offset: a window's changes are not resumable
    for (const std::string& tail : window.window.snapshot())
        enqueue(*sub.session, {kChangeStart, sub.id_json, tail}, change);
    const std::string offset_text = client_offset(log.epoch(), window.shown_at);
    FrameMark mark;
    mark.subscription = &sub;
    mark.offset = window.shown_at;
    mark.has_offset = true;
    mark.up_to_date = true;
    enqueue(*sub.session, {kUpToDateStart, sub.id_json, kUpToDateOffset, offset_text, kUpToDateEnd},
            mark);
    sub.state = Subscription::State::Live;
    entry.live.push_back(&sub);
}

void Hub::Impl::dispatch_window(ShapeEntry& entry, ShapeOp op, const LogRecord& record) {
    WindowEntry& window = *entry.window;
    if (window.filling) {
        if (window.overflowed) return;
        if (!record_copy) record_copy = std::make_shared<const std::string>(record.line);
        window.buffer.push_back({record_copy, record.xid});
        window.buffer_bytes += record.line.size();
        if (window.buffer_bytes > kMaxBufferedBytes) {
            window.overflowed = true;
            window.buffer.clear();
            window.buffer_bytes = 0;
        }
        return;
    }
    if (window.load) {
        if (window.load->passed(scanned.commit_lsn))
            window.load.reset();
        else if (window.load->saw(scanned.commit_lsn, record.xid))
            return; // the fill's rows have it already
    }
    if (!record_keys_made) {
        record_keys = row_keys(*entry.shape->table, row);
        record_keys_made = true;
    }
    window.window.apply(op, row, record_keys);
    if (!window.touched) {
        window.touched = true;
        touched_windows.push_back(&entry);
    }
}

void Hub::Impl::commit_windows(LogOffset commit) {
    std::vector<ShapeEntry*> settling;
    settling.swap(touched_windows);
    for (ShapeEntry* entry : settling)
        entry->window->touched = false;
    // One at a time, looked up again: a window whose subscribers were all dropped while another
    // was shown is gone.
    for (ShapeEntry* entry : settling)
        if (windows.count(entry->id) && windows[entry->id] == entry) settle_window(*entry, commit);
}

void Hub::Impl::settle_window(ShapeEntry& entry, LogOffset at) {
    WindowEntry& window = *entry.window;
    if (window.filling) return; // its result settles it
    if (window.window.needs_fill()) return start_fill(entry);
    show_window(entry, at);
}

void Hub::Impl::show_window(ShapeEntry& entry, LogOffset at) {
    WindowEntry& window = *entry.window;
    const std::vector<std::string> tails = window.window.take_changes();
    std::vector<Subscription*> joining;
    joining.swap(window.waiting);
    const bool first = !window.shown;
    window.shown = true;
    window.shown_at = at;
    if (tails.empty() && joining.empty() && !first) return; // nothing its subscribers see moved
    const std::string offset_text = client_offset(log.epoch(), at);
    auto up_to_date = [&](Subscription& sub) {
        FrameMark mark;
        mark.subscription = &sub;
        mark.offset = at;
        mark.has_offset = true;
        mark.up_to_date = true;
        enqueue(*sub.session,
                {kUpToDateStart, sub.id_json, kUpToDateOffset, offset_text, kUpToDateEnd}, mark);
    };
    if (!tails.empty()) {
        const std::vector<Subscription*> live = entry.live; // a drop may shorten the list
        for (Subscription* sub : live) {
            FrameMark change;
            change.subscription = sub;
            for (const std::string& tail : tails)
                enqueue(*sub->session, {kChangeStart, sub->id_json, tail}, change);
            up_to_date(*sub);
        }
    }
    if (joining.empty()) return;
    const std::vector<std::string> rows = window.window.snapshot();
    for (Subscription* sub : joining) {
        FrameMark change;
        change.subscription = sub;
        for (const std::string& tail : rows)
            enqueue(*sub->session, {kChangeStart, sub->id_json, tail}, change);
        up_to_date(*sub);
        sub->state = Subscription::State::Live;
        entry.live.push_back(sub);
    }
}

void Hub::Impl::start_fill(ShapeEntry& entry) {
    WindowEntry& window = *entry.window;
    window.filling = true;
    window.generation = next_generation++;
    window.buffer.clear();
    window.buffer_bytes = 0;
    window.overflowed = false;
    LoadJob job;
    job.kind = LoadJob::Kind::WindowFill;
    job.session_id = kWindowJob | (uint64_t(options.shard) << 48) | (entry.id & kWindowIdBits);
    job.shard = options.shard;
    job.generation = window.generation;
    job.shape = entry.shape;
    job.cancelled = window.cancelled;
    job.order_sql = window.window.order().sql;
    job.fill_rows = window.window.fill_rows();
    ++metrics.window_fills_total;
    loader.submit(std::move(job));
}

void Hub::Impl::on_window_result(LoadResult& result) {
    auto found = windows.find(result.session_id & kWindowIdBits);
    if (found == windows.end()) return; // its subscribers left
    ShapeEntry& entry = *found->second;
    WindowEntry& window = *entry.window;
    if (window.generation != result.generation) return;
    window.filling = false;
    using Status = LoadResult::Status;
    switch (result.status) {
    case Status::CaughtUp:
        break;
    case Status::Unpublished:
    case Status::PublicationChanged: {
        const TableSchema& schema = *entry.shape->table;
        auto it = tables.find({schema.schema, schema.name});
        const bool gone = result.status == Status::Unpublished;
        if (it != tables.end())
            invalidate_table(it->second, gone ? "unpublished" : "schema-changed");
        reload_tables_logged();
        return;
    }
    default: {
        // The database's text is in the server's log: it may name what the client must not see.
        ++metrics.load_failures_total;
        std::vector<Subscription*> subs = entry.live;
        subs.insert(subs.end(), window.waiting.begin(), window.waiting.end());
        for (Subscription* sub : subs) // the last one ends the window too
            end_with(*sub->session, *sub,
                     error_frame(sub->id_json, "load-failed",
                                 "the window's rows could not be read; subscribe again later "
                                 "(the server's log has the cause)"));
        return;
    }
    }
    window.window.fill(std::move(result.rows));
    window.load = result.load;
    // What the log added while the query ran, but what its snapshot already saw.
    const TableSchema& table = *entry.shape->table;
    record::ScannedRecord replay_scanned;
    RowImages replay_row;
    for (const auto& buffered : window.buffer) {
        if (!record::scan_record(*buffered.line, replay_scanned) ||
            !read_row(table, replay_scanned, replay_row))
            continue;
        const ShapeOp op = classify(*entry.shape, replay_row);
        if (op == ShapeOp::None) continue;
        if (window.load && window.load->saw(replay_scanned.commit_lsn, buffered.xid)) continue;
        window.window.apply(op, replay_row, row_keys(table, replay_row));
    }
    window.buffer.clear();
    window.buffer_bytes = 0;
    if (window.overflowed) return start_fill(entry);
    if (dispatched_at_boundary) return settle_window(entry, dispatched);
    if (!window.touched) { // shown at the commit of the transaction being dispatched
        window.touched = true;
        touched_windows.push_back(&entry);
    }
}

void Hub::Impl::forget_window(ShapeEntry& entry) {
    *entry.window->cancelled = true; // a fill running stops, a queued one is skipped
    windows.erase(entry.id);
    std::erase(touched_windows, &entry);
    --metrics.windows;
}

} // namespace pgsync::serve
