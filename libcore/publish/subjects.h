// Which NATS subjects a native record goes to (pgsync-publish(1), SUBJECTS): change records to
// their channels' subjects, else to their table's; everything else to the control subject.
#pragma once

#include "record/record_scan.h"

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace pgsync::config {
struct Config;
}
namespace pgsync::channels {
class ChannelMatcher;
}

namespace pgsync::publish {

struct SubjectLayout {
    std::string prefix = "pgsync";
    std::string channel_subject = "{prefix}.{channel}";
    std::string table_subject = "{prefix}.{schema}.{table}.{op}";

    std::string control_subject() const { return prefix + "._txn"; }
    // What a stream's subjects must cover: every subject starts with the prefix.
    std::string stream_subject() const { return prefix + ".>"; }
};

// A token as NATS allows it: '.', '*', '>', white space, control characters and '%' become %XX.
std::string encode_token(std::string_view text);

// True when a stream subject filter (with * and > wildcards) covers every subject that subject
// (which may end in >) names: "pgsync.>" and ">" cover "pgsync.>", "pgsync.*" does not.
bool subject_covers(std::string_view filter, std::string_view subject);

class Router {
public:
    // channels: config's tables[].channels (null: none).
    Router(SubjectLayout layout, const config::Config* config);
    ~Router();
    Router(const Router&) = delete;
    Router& operator=(const Router&) = delete;

    // Fills out with the record's subjects, canonical first. table gets "schema.table" for row
    // and truncate records (a truncate's first table), else is cleared. Every relation record
    // must pass through here, also one whose messages are skipped: it teaches the channels their
    // table's columns. Throws pgsync::Error when a channel's where cannot be bound to a relation
    // record's columns (a usage error, exit 2: e.g. a column whose type is a domain) or a
    // truncate names no table.
    void route(const record::ScannedRecord& record, std::vector<std::string>& out,
               std::string& table);

private:
    void learn(const record::ScannedRecord& relation);
    const std::string& table_subject(std::string_view schema, std::string_view table,
                                     std::string_view op);

    SubjectLayout m_layout;
    std::string m_control;
    std::unique_ptr<channels::ChannelMatcher> m_channels;
    std::vector<std::string> m_channel_subjects;                   // per channel
    std::unordered_map<std::string, std::string> m_table_subjects; // "schema\0table\0op" -> subject
    std::string m_key, m_schema, m_table;                          // scratch
    std::vector<size_t> m_matches;
};

} // namespace pgsync::publish
