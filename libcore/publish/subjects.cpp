// Subject naming and the routing of records to subjects; the channel rule itself is
// channels::ChannelMatcher's (libcore/channels), reached through ChannelRoutes below.
#include "publish/subjects.h"

#include "config/config.h"
#include "util/error.h"

#if __has_include("channels/channel_matcher.h")
#include "channels/channel_matcher.h"
#define PGSYNC_PUBLISH_HAS_CHANNELS 1
#endif

namespace pgsync::publish {

// The seam to channels::ChannelMatcher. Until libcore/channels is in the tree (it is being written
// beside this), no record belongs to a channel and every change goes to its table subject.
class ChannelRoutes {
public:
#ifdef PGSYNC_PUBLISH_HAS_CHANNELS
    explicit ChannelRoutes(const config::Config* config)
        : m_matcher(config ? channels::from_config(*config) : std::vector<channels::Channel>{}) {
        for (const auto& channel : m_matcher.channels()) m_names.push_back(channel.name);
    }
    void learn(const record::ScannedRecord& relation) { m_matcher.learn(relation); }
    void match(const record::ScannedRecord& record, std::vector<size_t>& out) {
        m_matcher.match(record, out);
    }

private:
    channels::ChannelMatcher m_matcher;

public:
#else
    explicit ChannelRoutes(const config::Config*) {}
    void learn(const record::ScannedRecord&) {}
    void match(const record::ScannedRecord&, std::vector<size_t>& out) { out.clear(); }
#endif
    const std::vector<std::string>& names() const { return m_names; }

private:
    std::vector<std::string> m_names;
};

namespace {

bool must_encode(unsigned char c) {
    return c == '.' || c == '*' || c == '>' || c == '%' || c <= 0x20 || c == 0x7f;
}

void replace_all(std::string& text, std::string_view placeholder, std::string_view value) {
    for (size_t at = text.find(placeholder); at != std::string::npos;
         at = text.find(placeholder, at + value.size()))
        text.replace(at, placeholder.size(), value);
}

// The unescaped name of a record's schema or table: the scanner gives it unescaped unless it
// needed escapes, in which case the JSON token is unescaped here.
std::string_view name_of(std::string_view plain, std::string_view token, std::string& scratch) {
    if (token.find('\\') == std::string_view::npos) return plain;
    if (!record::unescape_json_string(token, scratch)) return plain;
    return scratch;
}

} // namespace

std::string encode_token(std::string_view text) {
    static const char* kHex = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size());
    for (char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if (must_encode(c)) {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 15];
        } else {
            out += ch;
        }
    }
    if (out.empty()) out = "%00"; // an empty token is not allowed either; names are never empty
    return out;
}

bool subject_covers(std::string_view filter, std::string_view subject) {
    auto split = [](std::string_view text) {
        std::vector<std::string_view> tokens;
        size_t start = 0;
        while (true) {
            const size_t dot = text.find('.', start);
            tokens.push_back(text.substr(start, dot - start));
            if (dot == std::string_view::npos) return tokens;
            start = dot + 1;
        }
    };
    const auto f = split(filter), s = split(subject);
    for (size_t i = 0; i < f.size(); ++i) {
        if (f[i] == ">") return i < s.size(); // covers one or more remaining tokens, > included
        if (i >= s.size() || s[i] == ">") return false; // only > covers the rest
        if (f[i] != "*" && f[i] != s[i]) return false;
    }
    return f.size() == s.size();
}

Router::Router(SubjectLayout layout, const config::Config* config)
    : m_layout(std::move(layout)), m_control(m_layout.control_subject()),
      m_channels(std::make_unique<ChannelRoutes>(config)) {
    for (const auto& name : m_channels->names()) {
        std::string subject = m_layout.channel_subject;
        replace_all(subject, "{prefix}", m_layout.prefix);
        replace_all(subject, "{channel}", encode_token(name));
        m_channel_subjects.push_back(std::move(subject));
    }
}

Router::~Router() = default;

const std::string& Router::table_subject(std::string_view schema, std::string_view table,
                                         std::string_view op) {
    m_key.assign(schema).append(1, '\0').append(table).append(1, '\0').append(op);
    auto it = m_table_subjects.find(m_key);
    if (it != m_table_subjects.end()) return it->second;
    std::string subject = m_layout.table_subject;
    replace_all(subject, "{prefix}", m_layout.prefix);
    replace_all(subject, "{schema}", encode_token(schema));
    replace_all(subject, "{table}", encode_token(table));
    replace_all(subject, "{op}", op);
    return m_table_subjects.emplace(m_key, std::move(subject)).first->second;
}

void Router::route(const record::ScannedRecord& record, std::vector<std::string>& out,
                   std::string& table) {
    out.clear();
    table.clear();
    const std::string_view op = record.op;
    if (op == "relation") m_channels->learn(record);
    const bool row = op == "insert" || op == "update" || op == "delete";
    if (!row && op != "truncate") {
        out.push_back(m_control);
        return;
    }
    std::string_view schema, name;
    if (row) {
        schema = name_of(record.schema, record.schema_token, m_schema);
        name = name_of(record.table, record.table_token, m_table);
    } else {
        // The first table the truncate names.
        std::string_view first;
        record::for_each_element(record.relations, [&](std::string_view element) {
            if (first.empty()) first = element;
        });
        record::for_each_member(first, [&](std::string_view key, std::string_view value) {
            if (key == "\"schema\"") record::unescape_json_string(value, m_schema);
            if (key == "\"table\"") record::unescape_json_string(value, m_table);
        });
        if (first.empty() || m_table.empty())
            throw Error("a truncate record names no table");
        schema = m_schema;
        name = m_table;
    }
    table.assign(schema).append(1, '.').append(name);
    m_channels->match(record, m_matches);
    for (size_t index : m_matches) out.push_back(m_channel_subjects[index]);
    if (out.empty()) out.push_back(table_subject(schema, name, op));
}

} // namespace pgsync::publish
