// Reads and checks the "publish" section (pgsync.yaml(5), PUBLISH): the subject layout is checked
// here so that every subject pgsync-publish makes is valid and under "<subject_prefix>.>".
#include "config/load_publish.h"

#include <cmath>
#include <string_view>

namespace pgsync::config {

namespace {

// A subject prefix: dot-separated tokens without wildcards, white space or empty tokens.
bool valid_prefix(std::string_view prefix) {
    if (prefix.empty() || prefix.front() == '.' || prefix.back() == '.') return false;
    for (size_t i = 0; i < prefix.size(); ++i) {
        const auto c = static_cast<unsigned char>(prefix[i]);
        if (c <= 0x20 || c == 0x7f || c == '*' || c == '>') return false;
        if (c == '.' && prefix[i + 1] == '.') return false;
    }
    return true;
}

void check_template(Reader& reader, const Value<std::string>& value, const char* key,
                    std::initializer_list<std::string_view> required,
                    std::initializer_list<std::string_view> allowed) {
    if (!value.set) return;
    const std::string& text = value.value;
    const std::string example = std::string(key) == "channel_subject"
                                    ? "{prefix}.{channel}"
                                    : "{prefix}.{schema}.{table}.{op}";
    if (text.rfind("{prefix}.", 0) != 0) {
        reader.error(value.origin, subject(key, "publish") + " must start with \"{prefix}.\"",
                     "Every subject is under the subject prefix, so that one stream takes them "
                     "all, e.g. " + example + ".");
        return;
    }
    for (std::string_view placeholder : required)
        if (text.find(placeholder) == std::string::npos)
            reader.error(value.origin,
                         subject(key, "publish") + " must contain \"" + std::string(placeholder) +
                             "\"",
                         "Subjects must tell their feeds apart, e.g. " + example + ".");
    // Only known placeholders, and nothing NATS forbids in a subject besides them.
    for (size_t at = text.find('{'); at != std::string::npos; at = text.find('{', at + 1)) {
        const size_t close = text.find('}', at);
        const std::string_view name =
            std::string_view(text).substr(at, close == std::string::npos ? 1 : close - at + 1);
        bool known = false;
        for (std::string_view p : allowed) known = known || p == name;
        if (!known) {
            reader.error(value.origin,
                         "unknown placeholder \"" + std::string(name) + "\" in " +
                             subject(key, "publish"),
                         "Use " + example + " and literal text.");
            return;
        }
    }
    for (char c : text)
        if (static_cast<unsigned char>(c) <= 0x20 || c == '*' || c == '>') {
            reader.error(value.origin,
                         subject(key, "publish") + " contains a character NATS forbids in a "
                                                   "subject",
                         "Leave out white space, \"*\" and \">\".");
            return;
        }
}

} // namespace

void read_publish(Reader& reader, const YamlNode& root, Publish& publish) {
    const YamlNode* node = Reader::find(root, "publish");
    if (!node || node->kind == YamlNode::Kind::Null) return;
    if (!reader.expect(*node, NodeType::Mapping, "publish", "")) return;
    reader.check_keys(*node, "publish",
                      {"nats", "stream", "ack_file", "subject_prefix", "channel_subject",
                       "table_subject", "max_in_flight", "ack_timeout", "create_stream",
                       "replicas"});
    reader.read(*node, "nats", "publish", publish.nats);
    reader.read(*node, "stream", "publish", publish.stream);
    reader.read(*node, "ack_file", "publish", publish.ack_file);
    reader.read(*node, "subject_prefix", "publish", publish.subject_prefix);
    reader.read(*node, "channel_subject", "publish", publish.channel_subject);
    reader.read(*node, "table_subject", "publish", publish.table_subject);
    reader.read(*node, "max_in_flight", "publish", publish.max_in_flight, 1, 1000000);
    reader.read(*node, "ack_timeout", "publish", publish.ack_timeout);
    reader.read(*node, "create_stream", "publish", publish.create_stream);
    reader.read(*node, "replicas", "publish", publish.replicas, 1, 5);
    if (publish.subject_prefix.set && !valid_prefix(publish.subject_prefix.value))
        reader.error(publish.subject_prefix.origin,
                     "invalid \"subject_prefix\" in \"publish\": \"" +
                         publish.subject_prefix.value + "\"",
                     "A prefix is one or more tokens separated by dots, without white space, "
                     "\"*\" or \">\", e.g. pgsync or app.cdc.");
    if (publish.stream.set) {
        bool valid = true;
        for (char c : publish.stream.value)
            if (static_cast<unsigned char>(c) <= 0x20 || c == '.' || c == '*' || c == '>' ||
                c == '/' || c == '\\')
                valid = false;
        if (!valid)
            reader.error(publish.stream.origin,
                         "invalid stream name \"" + publish.stream.value + "\" in \"publish\"",
                         "A JetStream stream name has no white space, \".\", \"*\", \">\", "
                         "\"/\" or \"\\\".");
    }
    check_template(reader, publish.channel_subject, "channel_subject", {"{channel}"},
                   {"{prefix}", "{channel}"});
    check_template(reader, publish.table_subject, "table_subject", {"{schema}", "{table}", "{op}"},
                   {"{prefix}", "{schema}", "{table}", "{op}"});
    if (publish.ack_timeout.set &&
        !(std::isfinite(publish.ack_timeout.value) && publish.ack_timeout.value >= 0.1 &&
          publish.ack_timeout.value <= 3600))
        reader.error(publish.ack_timeout.origin,
                     "\"ack_timeout\" in \"publish\" must be between 0.1 and 3600 seconds");
}

} // namespace pgsync::config
