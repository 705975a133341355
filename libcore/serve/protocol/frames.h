// The server's frames, built in one place: offsets as clients see them ("<epoch>:<lsn>_<op>"),
// change / up-to-date / must-refetch / error frames, and raw records for /v1/stream.
#pragma once

#include "changelog/log_offset.h"
#include "serve/hub/session.h"

#include <optional>
#include <string>
#include <string_view>

namespace pgsync::serve {

std::string client_offset(std::string_view epoch, LogOffset offset);

enum class OffsetCheck { Ok, Malformed, OtherEpoch };
// Parses a client's offset of this log's epoch.
OffsetCheck parse_client_offset(std::string_view text, std::string_view epoch, LogOffset& out);

// The pieces of the frames the dispatcher queues without building a Frame (serve/hub/output.h
// concatenates them): change = kChangeStart id tail; up-to-date = kUpToDateStart id
// kUpToDateOffset offset kUpToDateEnd; raw = kRawStart offset kRawEnd record-after-its-brace.
inline constexpr std::string_view kChangeStart = "{\"type\":\"change\",\"id\":";
inline constexpr std::string_view kUpToDateStart = "{\"type\":\"up-to-date\",\"id\":";
inline constexpr std::string_view kUpToDateOffset = ",\"offset\":\"";
inline constexpr std::string_view kUpToDateEnd = "\"}";
inline constexpr std::string_view kRawStart = "{\"offset\":\"";
inline constexpr std::string_view kRawEnd = "\",";

// A frame buffer with its headroom, ready for JSON text to be appended.
std::string frame_buffer(size_t reserve = 256);

// {"type":"change","id":<id_json><tail>  (tail from serve/shape.h append_change_tail)
Frame change_frame(std::string_view id_json, std::string_view tail);
Frame up_to_date_frame(std::string_view id_json, std::string_view offset_text);
Frame must_refetch_frame(std::string_view id_json, std::string_view reason);
// id_json may be empty (an error about the connection, not a subscription).
Frame error_frame(std::string_view id_json, std::string_view code, std::string_view message);
// /v1/stream: the native record with "offset" as its first member.
Frame raw_record_frame(std::string_view offset_text, std::string_view line);

// The JSON string token of text.
std::string json_string(std::string_view text);

} // namespace pgsync::serve
