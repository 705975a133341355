// The hub, fourth part: rows that wait for the app's row webhook. With serve.auth.row_webhook, a
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

// The "new" object of a change frame's text, or empty (a delete carries no row to authorise).
std::string_view new_row(std::string_view frame) {
    std::string_view row;
    record::for_each_member(frame, [&](std::string_view key, std::string_view value) {
        if (key == "\"new\"") row = value;
    });
    return row;
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
        const std::string_view row = new_row(held.text);
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
        const bool drop_row =
            head.verdict == Verdict::Denied &&
            options.row_webhook->options().on_deny == RowWebhookOptions::OnDeny::DropRow &&
            !sub.shape->window; // a window's frames place rows by their neighbours
        if (head.verdict == Verdict::Deliver || drop_row) {
            if (head.verdict == Verdict::Deliver) {
                releasing = true;
                enqueue(session, {std::string_view(head.text)}, head.mark);
                releasing = false;
            }
            sub.gated_bytes -= head.text.size();
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

} // namespace pgsync::serve
