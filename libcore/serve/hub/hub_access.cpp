// The hub, fourth part: what a user may receive, as it changes while connected. A token refreshed
// in place ({"type":"auth"}) ends the subscriptions it no longer grants as they were.
//
// Rows that wait for the app's row webhook: with serve.auth.row_webhook, a
// row reaches a token's user only after the webhook said yes for that user and that version of
// the row. Each subscription's frames wait in order behind the first undecided one (verdicts come
// back in any order), so a client still sees whole transactions, in order, and nothing past a row
// that was not authorised. A denial ends the subscription (unauthorized-row), or with on_deny:
// drop skips that row; a webhook that fails ends it with authorization-unavailable, and the client
// resumes from its last up-to-date: fail closed, nothing lost.
#include "record/record_scan.h"
#include "serve/hub/hub.h"
#include "serve/hub/hub_state.h"
#include "serve/protocol/frames.h"
#include "util/log.h"

namespace pgsync::serve {

namespace {

constexpr std::string_view kChangeType = "{\"type\":\"change\"";

// A change frame's members the gate reads: the row it sends ("new"), the row before it ("old"),
// the key, the offset and the subscription's id.
struct FrameRows {
    std::string_view id, offset, key, new_row, old_row;
};

FrameRows frame_rows(std::string_view frame) {
    FrameRows rows;
    record::for_each_member(frame, [&](std::string_view name, std::string_view value) {
        if (name == "\"new\"")
            rows.new_row = value;
        else if (name == "\"old\"")
            rows.old_row = value;
        else if (name == "\"key\"")
            rows.key = value;
        else if (name == "\"offset\"")
            rows.offset = value;
        else if (name == "\"id\"")
            rows.id = value;
    });
    return rows;
}

// The frame that tells a client a row is gone without saying anything of it but its key: what a
// row the webhook refused becomes for a client that may hold an earlier version.
std::string key_only_delete(std::string_view frame) {
    const FrameRows rows = frame_rows(frame);
    std::string text = "{\"type\":\"change\",\"id\":";
    text += rows.id;
    text += ",\"op\":\"delete\"";
    if (!rows.offset.empty()) {
        text += ",\"offset\":";
        text += rows.offset;
    }
    text += ",\"key\":";
    text += rows.key;
    text += '}';
    return text;
}

} // namespace

bool Hub::Impl::gate(Session& session, Subscription& sub,
                     std::initializer_list<std::string_view> parts, const FrameMark& mark) {
    if (releasing || !options.row_webhook) return false;
    const std::string_view first = parts.size() ? *parts.begin() : std::string_view();
    const bool change = first.starts_with(kChangeType); // kChangeStart, or a whole frame's text
    if (!change && sub.gated.empty()) return false;     // nothing to wait for
    Subscription::Gated held;
    for (std::string_view part : parts)
        held.text += part;
    held.mark = mark;
    held.verdict = Subscription::Gated::Verdict::Deliver;
    if (change) {
        // An update's "old" is a version of the row nobody asked the webhook about: cut it.
        FrameRows rows = frame_rows(held.text);
        if (!rows.new_row.empty() && !rows.old_row.empty()) {
            const size_t value = size_t(rows.old_row.data() - held.text.data());
            const size_t member = held.text.rfind(",\"old\":", value);
            held.text.erase(member, value + rows.old_row.size() - member);
            rows = frame_rows(held.text);
        }
        // The row the frame shows: the new one, or a delete's old one (a key-only delete shows
        // nothing but the key, and goes as it is).
        held.old_row = rows.new_row.empty();
        const std::string_view row = held.old_row ? rows.old_row : rows.new_row;
        if (!row.empty()) {
            const TableSchema& table = *sub.shape->shape->table;
            RowCheck check;
            check.ticket = next_ticket++;
            check.shard = options.shard;
            check.user_id = session.principal.subject;
            check.schema = table.schema;
            check.table = table.name;
            check.row_json.assign(row);
            held.ticket = check.ticket;
            if (auto known = options.row_webhook->cached(check)) {
                held.verdict = known->kind == RowVerdict::Kind::Authorized
                                   ? Subscription::Gated::Verdict::Deliver
                               : known->kind == RowVerdict::Kind::Denied
                                   ? Subscription::Gated::Verdict::Denied
                                   : Subscription::Gated::Verdict::Failed;
                held.reason = known->reason;
            } else {
                held.verdict = Subscription::Gated::Verdict::Waiting;
                tickets[check.ticket] = {session.id, sub.id, sub.serial};
                checks_to_submit.push_back(std::move(check));
            }
        }
    }
    sub.gated_bytes += held.text.size();
    sub.gated.push_back(std::move(held));
    if (sub.gated_bytes > options.client_queue_bytes) {
        // The webhook is slower than the rows come: end it rather than hold memory without bound.
        Subscription::Gated& head = sub.gated.front();
        head.verdict = Subscription::Gated::Verdict::Failed;
        head.reason = "more than " + std::to_string(options.client_queue_bytes) +
                      " bytes of rows waited for the row webhook";
    }
    release(session, sub, false);
    return true;
}

void Hub::Impl::release(Session& session, Subscription& sub, bool may_end) {
    using Verdict = Subscription::Gated::Verdict;
    while (!sub.gated.empty()) {
        Subscription::Gated& head = sub.gated.front();
        if (head.verdict == Verdict::Waiting) return;
        // A refused row leaves only its key behind: a delete's old row (the client may hold an
        // earlier version, authorised then), or any row with on_deny: drop (the client may hold
        // the version before this update). A window's rows are placed by their neighbours, so a
        // refusal ends a window's subscription whatever on_deny says.
        const bool key_only = head.verdict == Verdict::Denied && !sub.shape->window &&
                              (head.old_row || options.row_webhook->options().on_deny ==
                                                   RowWebhookOptions::OnDeny::DropRow);
        if (head.verdict == Verdict::Deliver || key_only) {
            const size_t held_bytes = head.text.size();
            if (key_only) head.text = key_only_delete(head.text);
            releasing = true;
            enqueue(session, {std::string_view(head.text)}, head.mark);
            releasing = false;
            sub.gated_bytes -= held_bytes;
            sub.gated.pop_front();
            if (session.close_code) return; // dropped as a slow consumer
            continue;
        }
        if (!may_end) {
            gates_to_settle.push_back({session.id, sub.id, sub.serial});
            return;
        }
        const bool denied = head.verdict == Verdict::Denied;
        const std::string id_json = sub.id_json;
        const std::string reason = head.reason;
        remove_subscription(session, sub); // sub is gone from here on
        if (denied)
            error(session, id_json, "unauthorized-row",
                  "the app's row webhook refused a row of this subscription");
        else
            error(session, id_json, "authorization-unavailable",
                  "a row could not be authorised (" + reason +
                      "); nothing past the last up-to-date was sent: subscribe again later "
                      "from its offset");
        return;
    }
}

void Hub::Impl::on_verdicts(std::vector<RowVerdict>&& verdicts) {
    using Verdict = Subscription::Gated::Verdict;
    for (RowVerdict& verdict : verdicts) {
        auto ticket = tickets.find(verdict.ticket);
        if (ticket == tickets.end()) continue;
        const Ticket where = std::move(ticket->second);
        tickets.erase(ticket);
        auto session = sessions.find(where.session);
        if (session == sessions.end()) continue;
        auto sub = session->second->subscriptions.find(where.subscription);
        if (sub == session->second->subscriptions.end() || sub->second->serial != where.serial)
            continue; // it ended meanwhile
        for (Subscription::Gated& held : sub->second->gated)
            if (held.ticket == verdict.ticket) {
                held.verdict = verdict.kind == RowVerdict::Kind::Authorized ? Verdict::Deliver
                               : verdict.kind == RowVerdict::Kind::Denied   ? Verdict::Denied
                                                                            : Verdict::Failed;
                held.reason = std::move(verdict.reason);
                break;
            }
        release(*session->second, *sub->second, true);
    }
}

void Hub::Impl::settle_gates() {
    std::vector<Ticket> settling;
    settling.swap(gates_to_settle);
    for (const Ticket& where : settling) {
        auto session = sessions.find(where.session);
        if (session == sessions.end()) continue;
        auto sub = session->second->subscriptions.find(where.subscription);
        if (sub == session->second->subscriptions.end() || sub->second->serial != where.serial)
            continue;
        release(*session->second, *sub->second, true);
    }
    if (!checks_to_submit.empty()) {
        std::vector<RowCheck> checks;
        checks.swap(checks_to_submit);
        options.row_webhook->submit(std::move(checks));
    }
}

void Hub::Impl::reauthenticate(Session& session, const AuthRequest& request) {
    auto refuse = [&](const std::string& why) {
        error(session, {}, "bad-token", why + "; the connection keeps its current token");
    };
    if (!options.verify_token) return refuse("this server checks no tokens (--insecure)");
    AuthResult result = options.verify_token(request.token);
    if (!result.principal) return refuse("the token was refused: " + result.error);
    Principal& fresh = *result.principal;
    if (fresh.subject != session.principal.subject)
        return refuse("the token is for \"" + fresh.subject + "\", the connection's for \"" +
                      session.principal.subject + "\"");
    auto grant_of = [](const Principal& principal, const TableSchema& table) -> const TableGrant* {
        for (const auto& grant : principal.tables)
            if (grant.schema == table.schema && grant.name == table.name) return &grant;
        return nullptr;
    };
    // What each subscription may see now: the same, nothing (forbidden), or other rows (its
    // rows must be read again under the new grant).
    std::vector<std::pair<Subscription*, bool>> ending; // subscription, still granted
    for (auto& [id, sub] : session.subscriptions) {
        if (!sub->shape) continue;
        if (const auto& channel = sub->shape->shape->channel) {
            if (!grants_channel(fresh, channel->name)) ending.emplace_back(sub.get(), false);
            continue;
        }
        const TableSchema& table = *sub->shape->shape->table;
        const TableGrant* before = grant_of(session.principal, table);
        const TableGrant* after = grant_of(fresh, table);
        const bool granted = fresh.all_tables || after;
        const bool same =
            session.principal.all_tables == fresh.all_tables &&
            (before && after ? before->where == after->where && before->params == after->params
                             : before == after || fresh.all_tables);
        if (!granted || !same) ending.emplace_back(sub.get(), granted);
    }
    session.principal = std::move(fresh);
    for (auto [sub, granted] : ending) {
        const std::string id_json = sub->id_json;
        const auto& channel = sub->shape->shape->channel;
        const std::string what = channel ? "channel \"" + channel->name + '"'
                                         : "table \"" + sub->shape->shape->table->display_name() +
                                               '"';
        remove_subscription(session, *sub);
        if (granted)
            push(session, must_refetch_frame(id_json, "grant-changed"));
        else
            error(session, id_json, "forbidden", "the new token does not grant " + what);
    }
    Frame frame;
    frame.data = frame_buffer();
    frame.data +=
        "{\"type\":\"auth-ok\",\"expires_at\":" + std::to_string(session.principal.expires_at) +
        "}";
    push(session, std::move(frame));
}

} // namespace pgsync::serve
