// The Electric shape protocol: which reply a request gets, with which headers.
#include "serve/electric/shape_api.h"

#include "record/record_scan.h"
#include "serve/electric/messages.h"
#include "util/unix_time.h"

#include <chrono>
#include <nlohmann/json.hpp>
#include <random>

namespace pgsync::serve::electric {

namespace {

constexpr const char* kInitialCacheControl =
    "public, max-age=604800, s-maxage=3600, stale-while-revalidate=2629746";
constexpr const char* kLiveCacheControl = "public, max-age=5, stale-while-revalidate=5";
constexpr const char* kExposeHeaders =
    "electric-cursor,electric-handle,electric-has-data,electric-offset,electric-schema,"
    "electric-up-to-date,electric-internal-known-error,electric-snapshot,retry-after";
constexpr int64_t kCursorEpoch = 1728432000; // 2024-10-09T00:00:00Z


// A suffix that makes an empty response's etag never match again (Electric's monotonic time).
std::string monotonic_suffix() {
    return ":" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
}

std::string requested_offset_text(const ShapeRequest& request) {
    switch (request.start) {
    case ShapeRequest::Start::Beginning:
        return "-1";
    case ShapeRequest::Start::Now:
        return "now";
    case ShapeRequest::Start::At:
        break;
    }
    return offset_text(request.offset);
}

Lsn later(Lsn a, Lsn b) { return a < b ? b : a; }

} // namespace

uint64_t next_cursor(int64_t now, int long_poll_seconds, std::optional<uint64_t> client) {
    if (long_poll_seconds < 1) return 0;
    const int64_t since = std::max<int64_t>(0, now - kCursorEpoch);
    const uint64_t interval = uint64_t(long_poll_seconds);
    uint64_t cursor = (uint64_t(since) + interval - 1) / interval * interval;
    if (client && cursor <= *client) {
        static thread_local std::mt19937_64 random{std::random_device{}()};
        cursor = *client + 1 + random() % 3600;
    }
    return cursor;
}

void ShapeApi::common_headers(HttpReply& reply, const RequestInfo& info) const {
    reply.headers.emplace_back("access-control-allow-origin",
                               info.origin.empty() ? "*" : info.origin);
    reply.headers.emplace_back("access-control-expose-headers", kExposeHeaders);
    reply.headers.emplace_back("access-control-allow-methods", "GET, POST, HEAD, DELETE, OPTIONS");
    // A cache must not hand one client's answer to a request with other credentials (a token's
    // filter shapes the rows), nor one origin's CORS answer to another.
    if (info.authorized || !info.origin.empty())
        reply.headers.emplace_back("vary", info.authorized && !info.origin.empty()
                                               ? "origin, authorization"
                                           : info.authorized ? "authorization"
                                                             : "origin");
    reply.headers.emplace_back("electric-server", "pgsync/" PGSYNC_VERSION);
}

HttpReply ShapeApi::error(int status, const std::string& field, const std::string& message,
                          const RequestInfo& info) const {
    HttpReply reply;
    reply.status = status;
    nlohmann::json body;
    if (status == 400 && !field.empty()) {
        body["message"] = "Invalid request";
        body["errors"][field] = nlohmann::json::array({message});
    } else {
        body["message"] = message;
    }
    reply.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    reply.headers.emplace_back("content-type", "application/json; charset=utf-8");
    reply.headers.emplace_back("cache-control", "no-store");
    reply.headers.emplace_back("surrogate-control", "no-store");
    if (status == 503 || status == 429) reply.headers.emplace_back("retry-after", "1");
    common_headers(reply, info);
    return reply;
}

HttpReply ShapeApi::preflight(const RequestInfo& info) const {
    HttpReply reply;
    reply.status = 204;
    common_headers(reply, info);
    reply.headers.emplace_back("access-control-max-age", "86400");
    if (!info.request_headers.empty())
        reply.headers.emplace_back("access-control-allow-headers", info.request_headers);
    return reply;
}

HttpReply ShapeApi::data_reply(ElectricShape& shape, const ShapeRequest& request,
                               const RequestInfo& info, std::string body, LogOffset offset,
                               bool up_to_date, bool has_data,
                               const std::string& cache_control) const {
    HttpReply reply;
    reply.status = 200;
    reply.body = std::move(body);
    const std::string offset_string = offset_text(offset);
    reply.headers.emplace_back("content-type", "application/json; charset=utf-8");
    reply.headers.emplace_back("electric-handle", shape.handle);
    reply.headers.emplace_back("electric-offset", offset_string);
    if (!request.live) reply.headers.emplace_back("electric-schema", shape.schema_header);
    if (request.live)
        reply.headers.emplace_back(
            "electric-cursor",
            std::to_string(next_cursor(unix_now(), m_options.long_poll_seconds, request.cursor)));
    if (up_to_date) reply.headers.emplace_back("electric-up-to-date", "");
    reply.headers.emplace_back("electric-has-data", has_data ? "true" : "false");
    std::string etag = "\"" + shape.handle + ":" + requested_offset_text(request) + ":" +
                       offset_string + (has_data ? "" : monotonic_suffix()) + "\"";
    reply.headers.emplace_back("cache-control", cache_control);
    if (!info.if_none_match.empty() && info.if_none_match == etag) {
        reply.status = 304;
        reply.body.clear();
    }
    reply.headers.emplace_back("etag", std::move(etag));
    common_headers(reply, info);
    return reply;
}

Answer ShapeApi::answer(const ShapeRequest& request, const Principal* principal,
                        const RequestInfo& info, bool timed_out,
                        std::shared_ptr<SubsetQuery>& subset) {
    Answer out;
    auto reply = [&](HttpReply r) {
        out.kind = Answer::Kind::Reply;
        out.reply = std::move(r);
        return out;
    };
    ShapeLookup lookup = m_registry.get_or_create(request, principal);
    if (lookup.status == 200 && lookup.shape->state.load() == ElectricShape::State::Gone)
        lookup = m_registry.get_or_create(request, principal); // rotated meanwhile: the new one
    if (lookup.status != 200) return reply(error(lookup.status, lookup.field, lookup.message, info));
    ElectricShape& shape = *lookup.shape;
    out.shape = lookup.shape;
    const ElectricShape::State state = shape.state.load();
    if (state == ElectricShape::State::Failed)
        return reply(error(shape.failure_status, "table", shape.failure, info));
    if (request.start == ShapeRequest::Start::At && request.handle != shape.handle) {
        // The client's handle is not this definition's (rotated, unknown, or another
        // definition's): it must start over with the new one, which a 409 always carries.
        HttpReply r;
        r.status = 409;
        r.body = std::string(kMustRefetchBody);
        r.headers.emplace_back("content-type", "application/json; charset=utf-8");
        r.headers.emplace_back("electric-handle", shape.handle);
        r.headers.emplace_back("cache-control", "public, max-age=60, must-revalidate");
        common_headers(r, info);
        return reply(std::move(r));
    }
    if (state != ElectricShape::State::Ready) {
        out.kind = Answer::Kind::Wait; // loading (or rotated this instant: asked again)
        return out;
    }
    if (request.subset.present) return subset_answer(shape, request, info, subset, out);
    // Read before the log: everything up to it is in the shape's log by now.
    const Lsn processed = m_registry.processed_lsn();
    const std::string catch_up_cache = "public, max-age=" + std::to_string(m_options.max_age) +
                                       ", stale-while-revalidate=" +
                                       std::to_string(m_options.stale_age);
    ShapeLog& log = *shape.log;
    switch (request.start) {
    case ShapeRequest::Start::Beginning: {
        // Only the first chunk, never up-to-date: cacheable for a week, stable etag.
        ShapeLog::Slice slice = log.read_first();
        return reply(data_reply(shape, request, info, "[" + slice.messages + "]", slice.end, false,
                                true, kInitialCacheControl));
    }
    case ShapeRequest::Start::Now: {
        const LogOffset end = log.end();
        return reply(data_reply(shape, request, info,
                                "[" + up_to_date_message(processed) + "]",
                                end.lsn.is_valid() ? end : kSnapshotEnd, true, false,
                                catch_up_cache));
    }
    case ShapeRequest::Start::At:
        break;
    }
    const LogOffset after = request.offset;
    if (after.lsn.is_valid() && after.lsn > processed && log.end() < after)
        return reply(error(400, "offset", "out of bounds for this shape", info));
    if (request.live && request.sse) {
        out.kind = Answer::Kind::Stream;
        out.position = after;
        HttpReply& head = out.reply;
        head.status = 200;
        head.headers.emplace_back("content-type", "text/event-stream");
        head.headers.emplace_back("electric-handle", shape.handle);
        head.headers.emplace_back("electric-offset", offset_text(after));
        head.headers.emplace_back(
            "electric-cursor",
            std::to_string(next_cursor(unix_now(), m_options.long_poll_seconds, request.cursor)));
        head.headers.emplace_back("cache-control", "public, max-age=" +
                                                       std::to_string(m_options.sse_seconds - 1));
        common_headers(head, info);
        return out;
    }
    ShapeLog::Slice slice = log.read_after(after, m_options.chunk_bytes);
    const std::string& cache = request.live ? std::string(kLiveCacheControl) : catch_up_cache;
    if (!slice.entries) {
        if (request.live && !timed_out) {
            out.kind = Answer::Kind::Wait;
            return out;
        }
        return reply(data_reply(shape, request, info, "[" + up_to_date_message(processed) + "]",
                                after.lsn.is_valid() ? after : kSnapshotEnd, true, false, cache));
    }
    std::string body = "[" + slice.messages;
    if (slice.at_end) body += "," + up_to_date_message(later(processed, slice.last_lsn));
    body += "]";
    return reply(data_reply(shape, request, info, std::move(body), slice.end, slice.at_end, true,
                            cache));
}

Answer ShapeApi::subset_answer(ElectricShape& shape, const ShapeRequest& request,
                               const RequestInfo& info, std::shared_ptr<SubsetQuery>& subset,
                               Answer& out) {
    if (!subset) {
        ShapeLookup problem;
        subset = m_registry.start_subset(out.shape, request.subset, problem);
        if (!subset) {
            out.kind = Answer::Kind::Reply;
            out.reply = error(problem.status, problem.field, problem.message, info);
            return out;
        }
    }
    if (!subset->done.load()) {
        out.kind = Answer::Kind::Wait; // its query runs; the registry notifies the shape
        return out;
    }
    out.kind = Answer::Kind::Reply;
    if (subset->status != 200) {
        out.reply = error(subset->status, "subset", subset->message, info);
        return out;
    }
    HttpReply& r = out.reply;
    r.status = 200;
    r.body = subset->body;
    r.headers.emplace_back("content-type", "application/json; charset=utf-8");
    r.headers.emplace_back("electric-handle", shape.handle);
    r.headers.emplace_back("electric-offset", offset_text(subset->offset));
    r.headers.emplace_back("electric-schema", shape.schema_header);
    r.headers.emplace_back("electric-snapshot", "true");
    r.headers.emplace_back("cache-control", "no-cache");
    common_headers(r, info);
    return out;
}

HttpReply ShapeApi::remove(const ShapeRequest& request, const Principal* principal,
                           const RequestInfo& info) {
    std::shared_ptr<ElectricShape> shape;
    if (request.has_table) {
        ShapeLookup lookup = m_registry.get_or_create(request, principal, false);
        if (lookup.status != 200) return error(lookup.status, lookup.field, lookup.message, info);
        shape = lookup.shape;
        if (!request.handle.empty() && request.handle != shape->handle)
            return error(400, "handle",
                         "The specified shape definition and handle do not match. Omit the "
                         "handle or give the current one",
                         info);
    } else {
        shape = m_registry.find(request.handle);
    }
    if (!shape || !m_registry.rotate(shape)) return error(404, {}, "No existing shape found", info);
    HttpReply reply;
    reply.status = 202;
    reply.headers.emplace_back("cache-control", "no-cache");
    common_headers(reply, info);
    return reply;
}

std::string ShapeApi::sse_events(ElectricShape& shape, LogOffset& position) {
    std::string out;
    if (shape.state.load() != ElectricShape::State::Ready) return out;
    const Lsn processed = m_registry.processed_lsn();
    ShapeLog::Slice slice = shape.log->read_after(position, m_options.chunk_bytes);
    if (!slice.entries) return out;
    const std::string& text = slice.messages;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t end = record::skip_json_value(text, pos);
        if (end == std::string::npos) break;
        out += "data: ";
        out.append(text, pos, end - pos);
        out += "\n\n";
        pos = end;
        if (pos < text.size() && text[pos] == ',') ++pos;
    }
    // The client resumes from "<global_last_seen_lsn>_0": never past what this batch holds.
    const Lsn seen = slice.at_end ? later(processed, slice.last_lsn) : slice.last_lsn;
    out += "data: " + up_to_date_message(seen) + "\n\n";
    position = slice.end;
    return out;
}

} // namespace pgsync::serve::electric
