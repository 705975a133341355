// Subject naming and the routing of records to subjects; the channel rule itself is
// channels::ChannelMatcher's (libcore/channels).
#include "publish/subjects.h"

#include "channels/channel_matcher.h"
#include "config/config.h"
#include "util/error.h"

#include <charconv>

namespace pgsync::publish {

namespace {

constexpr uint32_t kFirstUserOid = 16384; // PostgreSQL's FirstNormalObjectId

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
      m_channels(std::make_unique<channels::ChannelMatcher>(
          config ? channels::from_config(*config) : std::vector<channels::Channel>{})) {
    for (const auto& channel : m_channels->channels()) {
        std::string subject = m_layout.channel_subject;
        replace_all(subject, "{prefix}", m_layout.prefix);
        replace_all(subject, "{channel}", encode_token(channel.name));
        m_channel_subjects.push_back(std::move(subject));
    }
}

Router::~Router() = default;

void Router::learn(const record::ScannedRecord& relation) {
    try {
        m_channels->learn(relation);
    } catch (const Error& error) {
        // A relation record names each column's declared type: for a domain (or an enum or any
        // other type of the database's own, OID 16384 and up) that is not the base type, so a
        // where that would bind against the catalog does not bind here. Say so; the channel's
        // where cannot change meaning mid-stream, so this stays an error.
        // The hint only when the error names such a column.
        const std::string_view message = error.what();
        bool user_type = false;
        record::for_each_element(relation.columns, [&](std::string_view element) {
            std::string name;
            uint32_t oid = 0;
            record::for_each_member(element, [&](std::string_view key, std::string_view value) {
                if (key == "\"name\"") record::unescape_json_string(value, name);
                if (key == "\"type_oid\"" &&
                    std::from_chars(value.data(), value.data() + value.size(), oid).ec !=
                        std::errc())
                    oid = 0;
            });
            if (oid >= kFirstUserOid && message.find('"' + name + '"') != std::string_view::npos)
                user_type = true;
        });
        if (!user_type) throw;
        throw Error(error.what(),
                    "pgsync-publish binds a channel's where to the column types of pgsync-stream's "
                    "relation records, which name a domain (or an enum, or another type the "
                    "database defines) by its own OID, not its base type: such a column can be "
                    "used in a where only with IS [NOT] NULL. Filter on another column, or leave "
                    "the where out and filter in the consumer.",
                    error.exit_code(), error.detail());
    }
}

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
    if (op == "relation") learn(record);
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
        if (first.empty() || m_table.empty()) throw Error("a truncate record names no table");
        schema = m_schema;
        name = m_table;
    }
    table.assign(schema).append(1, '.').append(name);
    m_channels->match(record, m_matches);
    for (size_t index : m_matches)
        out.push_back(m_channel_subjects[index]);
    if (out.empty()) out.push_back(table_subject(schema, name, op));
}

} // namespace pgsync::publish
