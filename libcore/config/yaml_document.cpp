// The one file that includes yaml-cpp. Guards first (size, encoding, nesting), because yaml-cpp's
// parser is recursive; then builds YamlNode from yaml-cpp's parse events (not YAML::LoadAll,
// which loops forever on some input) within a depth and node budget, so a "billion laughs" file
// stops at kMaxNodes. Aliases are allowed (they are ordinary YAML); only their expansion is
// bounded.
#include "config/yaml_document.h"

#include <cstdio>
#include <exception>
#include <map>
#include <sstream>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

namespace pgsync::config {

namespace {

Diagnostic error_at(const std::string& file, int line, int column, std::string message,
                    std::string hint = {}) {
    Diagnostic d;
    d.origin = Origin{file, line, column};
    d.message = std::move(message);
    d.hint = std::move(hint);
    return d;
}

std::string hex_byte(unsigned char byte) {
    char buffer[8];
    std::snprintf(buffer, sizeof buffer, "0x%02x", byte);
    return buffer;
}

// Length of the UTF-8 sequence starting at text[i], or 0 when it is not well formed (overlong
// forms, surrogates and code points past U+10FFFF included).
std::size_t utf8_length(std::string_view text, std::size_t i) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
    const unsigned char lead = byte(i);
    std::size_t length;
    unsigned char low = 0x80, high = 0xBF; // allowed range of the second byte
    if (lead < 0x80) return 1;
    if (lead >= 0xC2 && lead <= 0xDF)
        length = 2;
    else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3;
        if (lead == 0xE0) low = 0xA0;
        if (lead == 0xED) high = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4;
        if (lead == 0xF0) low = 0x90;
        if (lead == 0xF4) high = 0x8F;
    } else
        return 0;
    if (i + length > text.size()) return 0;
    if (byte(i + 1) < low || byte(i + 1) > high) return 0;
    for (std::size_t k = 2; k < length; ++k)
        if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
    return length;
}

// Text checks: one diagnostic for the first problem, as later bytes mean little after it.
bool check_text(std::string_view text, const std::string& file, std::vector<Diagnostic>& out) {
    if (text.size() > kMaxFileBytes) {
        out.push_back(error_at(file, 0, 0, "file is larger than 1 MiB",
                               "A configuration file is at most 1048576 bytes; this one has " +
                                   std::to_string(text.size()) + "."));
        return false;
    }
    if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) {
        out.push_back(error_at(file, 0, 0, "file is empty",
                               "Run \"pgsync-config init\" to write a commented starting file."));
        return false;
    }
    int line = 1, column = 1;
    for (std::size_t i = 0; i < text.size();) {
        const auto byte = static_cast<unsigned char>(text[i]);
        if (byte == 0) {
            std::string hint;
            if (i <= 1 && text.size() >= 2 &&
                ((text[0] == '\xFF' && text[1] == '\xFE') ||
                 (text[0] == '\xFE' && text[1] == '\xFF')))
                hint = "The file is UTF-16; save it as UTF-8.";
            out.push_back(error_at(file, line, column,
                                   "file is not text: NUL byte at line " + std::to_string(line),
                                   hint));
            return false;
        }
        if ((byte < 0x20 && byte != '\t' && byte != '\n' && byte != '\r') || byte == 0x7F) {
            out.push_back(error_at(file, line, column,
                                   "file is not text: control character " + hex_byte(byte) +
                                       " at line " + std::to_string(line)));
            return false;
        }
        const std::size_t length = utf8_length(text, i);
        if (length == 0) {
            std::string hint;
            if (i == 0 && text.size() >= 2 && text[0] == '\xFF' && text[1] == '\xFE')
                hint = "The file is UTF-16; save it as UTF-8.";
            out.push_back(error_at(file, line, column,
                                   "file is not valid UTF-8: byte " + hex_byte(byte) + " at line " +
                                       std::to_string(line) + ", column " + std::to_string(column),
                                   hint));
            return false;
        }
        if (byte == '\n') {
            ++line;
            column = 1;
        } else
            ++column;
        i += length;
    }
    return true;
}

// yaml-cpp parses flow collections recursively, so depth is checked on the raw text first:
// brackets outside quotes and comments, and block indentation levels (a "- " counts as one).
bool check_nesting(std::string_view text, const std::string& file, std::vector<Diagnostic>& out) {
    const std::string hint = "A pgsync.yaml file needs only a few levels; check for unbalanced "
                             "brackets or runaway indentation.";
    const std::string message = "nesting is deeper than " + std::to_string(kMaxNesting) + " levels";
    int flow_depth = 0;
    bool in_single = false, in_double = false, in_comment = false;
    char previous = '\n'; // last significant character on the line ('\n' at its start)
    int line = 1, column = 1;
    std::vector<int> indents; // block indentation stack
    bool at_line_start = true;
    for (std::size_t i = 0; i < text.size(); ++i, ++column) {
        const char c = text[i];
        if (c == '\n') {
            ++line;
            column = 0;
            in_comment = false;
            previous = '\n';
            at_line_start = true;
            continue;
        }
        if (at_line_start && !in_single && !in_double && flow_depth == 0) {
            at_line_start = false;
            std::size_t j = i;
            while (j < text.size() && text[j] == ' ')
                ++j;
            if (j < text.size() && text[j] != '\n' && text[j] != '\r' && text[j] != '#') {
                int indent = int(j - i);
                while (!indents.empty() && indents.back() > indent)
                    indents.pop_back();
                if (indents.empty() || indents.back() < indent) indents.push_back(indent);
                // "- - - x" nests one sequence per dash on a single line.
                while (int(indents.size()) <= kMaxNesting && j + 1 < text.size() &&
                       (text[j] == '-' || text[j] == '?') && text[j + 1] == ' ') {
                    j += 2;
                    while (j < text.size() && text[j] == ' ')
                        ++j;
                    indents.push_back(int(j - i));
                }
                if (int(indents.size()) > kMaxNesting) {
                    out.push_back(error_at(file, line, int(j - i) + 1, message, hint));
                    return false;
                }
            }
        }
        at_line_start = false;
        if (in_comment) continue;
        if (in_double) {
            if (c == '\\') {
                ++i;
                ++column;
            } else if (c == '"')
                in_double = false;
            continue;
        }
        if (in_single) {
            if (c == '\'') {
                if (i + 1 < text.size() && text[i + 1] == '\'') {
                    ++i;
                    ++column;
                } else
                    in_single = false;
            }
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\r') {
            if (i + 1 < text.size() && text[i + 1] == '#') in_comment = true;
            continue;
        }
        // A quote opens a scalar only where a token starts ("my-'x" is plain text, "- 'x'" not).
        const bool spaced = i > 0 && (text[i - 1] == ' ' || text[i - 1] == '\t');
        const bool token_start = previous == '\n' || previous == ':' || previous == ',' ||
                                 previous == '[' || previous == '{' ||
                                 ((previous == '-' || previous == '?') && spaced);
        if (c == '#' && previous == '\n')
            in_comment = true;
        else if (c == '"' && token_start)
            in_double = true;
        else if (c == '\'' && token_start)
            in_single = true;
        else if (c == '[' || c == '{') {
            if (++flow_depth > kMaxNesting) {
                out.push_back(error_at(file, line, column, message, hint));
                return false;
            }
        } else if ((c == ']' || c == '}') && flow_depth > 0)
            --flow_depth;
        previous = c;
    }
    return true;
}

// Thrown out of the event handler when a limit is hit or a quoted scalar is malformed, unwinding
// yaml-cpp; caught in parse_yaml.
struct StopParsing {
    Diagnostic diagnostic;
};

Origin origin_of(const std::string& file, const YAML::Mark& mark) {
    if (mark.is_null() || mark.line < 0) return Origin{file, 0, 0};
    return Origin{file, mark.line + 1, mark.column + 1};
}

// yaml-cpp 0.7 lets a quoted scalar run on to the end of the file, or across lines that are not
// indented more than its key, silently joining them into the value ("dsn: \"host=db" swallows
// the rest of the file). YAML forbids both (a flow scalar's continuation lines are indented more
// than its parent block node, 1.2 section 7.3), so each quoted scalar is checked in the text:
// `start` is where yaml-cpp's mark points (its anchor or tag, if any, then the quote), and
// `parent_column` the 0-based column of the innermost enclosing block collection (-1 at the root).
std::optional<Diagnostic> check_quoted_scalar(std::string_view text, std::size_t start,
                                              int parent_column, bool parent_is_sequence,
                                              const std::string& file, const Origin& origin) {
    std::size_t i = start;
    while (i < text.size() && (text[i] == '&' || text[i] == '!')) { // node properties
        while (i < text.size() && text[i] != ' ' && text[i] != '\t' && text[i] != '\n')
            ++i;
        while (i < text.size() && (text[i] == ' ' || text[i] == '\t'))
            ++i;
    }
    if (i >= text.size() || (text[i] != '"' && text[i] != '\'')) return std::nullopt; // unquoted
    const char quote = text[i];
    const std::string kind = quote == '"' ? "double-quoted" : "single-quoted";
    // The opening quote's position: yaml-cpp's mark is at the properties when there are any.
    Origin at = origin;
    for (std::size_t k = start; k < i; ++k)
        if (text[k] == '\n') {
            ++at.line;
            at.column = 1;
        } else
            ++at.column;
    const std::string message = "invalid YAML: unterminated " + kind + " string";
    const std::string close_it = std::string("add the closing ") + quote + " where the value ends.";
    int line = at.line;
    for (++i; i < text.size(); ++i) {
        const char c = text[i];
        if (c == quote) {
            if (quote == '\'' && i + 1 < text.size() && text[i + 1] == '\'')
                ++i; // '' is an escaped quote
            else
                return std::nullopt;
        } else if (c == '\\' && quote == '"') {
            if (i + 1 < text.size() && text[i + 1] != '\n') ++i; // "\<newline>" still breaks
        } else if (c == '\n') {
            ++line;
            std::size_t indent = 0;
            while (i + 1 + indent < text.size() && text[i + 1 + indent] == ' ')
                ++indent;
            std::size_t next = i + 1 + indent;
            while (next < text.size() && (text[next] == '\t' || text[next] == '\r'))
                ++next;
            const bool blank = next >= text.size() || text[next] == '\n';
            if (!blank && int(indent) <= parent_column) {
                Diagnostic d =
                    error_at(file, at.line, at.column, message,
                             "The string runs on into line " + std::to_string(line) +
                                 ", which is not indented more than its " +
                                 (parent_is_sequence ? "\"-\"" : "key") + "; " + close_it);
                return d;
            }
        }
    }
    return error_at(file, at.line, at.column, message,
                    "The string runs on to the end of the file; " + close_it);
}

// Builds one document's YamlNode tree from yaml-cpp's parse events. Throwing here bounds both
// the depth yaml-cpp recurses to (it emits a start event per level) and the size aliases expand
// to (each anchor remembers how many nodes it stands for, so an alias costs that many).
class TreeBuilder : public YAML::EventHandler {
public:
    TreeBuilder(std::string_view text, const std::string& file) : m_text(text), m_file(file) {}

    bool document_started = false;
    YAML::Mark document_mark;
    YamlNode root;

    void OnDocumentStart(const YAML::Mark& mark) override {
        document_started = true;
        document_mark = mark;
    }
    void OnDocumentEnd() override {}

    void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
        YamlNode node;
        node.origin = origin_of(m_file, mark);
        add(std::move(node), anchor, count(1));
    }
    void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
        auto it = m_anchors.find(anchor);
        if (it == m_anchors.end()) return OnNull(mark, YAML::NullAnchor);
        YamlNode copy = it->second.first;
        copy.origin = origin_of(m_file, mark);
        add(std::move(copy), YAML::NullAnchor, count(it->second.second));
    }
    void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                  const std::string& value) override {
        YamlNode node;
        node.kind = YamlNode::Kind::Scalar;
        node.origin = origin_of(m_file, mark);
        if (tag != "?" && mark.pos >= 0) check_quoted(std::size_t(mark.pos), node.origin);
        node.text = value;
        // "?" is an untagged plain scalar, "!" a quoted one; !!int and friends resolve by text.
        const std::string core = "tag:yaml.org,2002:";
        node.plain = tag == "?" || (tag.rfind(core, 0) == 0 && tag != core + "str");
        add(std::move(node), anchor, count(1));
    }
    void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                         YAML::EmitterStyle::value style) override {
        open(YamlNode::Kind::Sequence, mark, anchor, style);
    }
    void OnSequenceEnd() override { close(); }
    void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                    YAML::EmitterStyle::value style) override {
        open(YamlNode::Kind::Mapping, mark, anchor, style);
    }
    void OnMapEnd() override { close(); }

private:
    struct Frame {
        YamlNode node;
        std::optional<YamlNode> pending_key; // a mapping's key waiting for its value
        YAML::anchor_t anchor;
        std::size_t nodes_before;
        bool flow; // [a, b] or {a: b}: its lines' indentation is its enclosing block's business
    };

    // Throws the diagnostic when the scalar at text position `start` is a quoted scalar that
    // YAML would not accept but yaml-cpp did (see check_quoted_scalar).
    void check_quoted(std::size_t start, const Origin& origin) {
        int parent_column = -1;
        bool parent_is_sequence = false;
        for (auto frame = m_stack.rbegin(); frame != m_stack.rend(); ++frame)
            if (!frame->flow) {
                parent_column = frame->node.origin.column - 1;
                parent_is_sequence = frame->node.kind == YamlNode::Kind::Sequence;
                break;
            }
        if (auto problem = check_quoted_scalar(m_text, start, parent_column, parent_is_sequence,
                                               m_file, origin))
            throw StopParsing{std::move(*problem)};
    }

    std::size_t count(std::size_t nodes) {
        m_nodes += nodes;
        if (m_nodes > kMaxNodes)
            throw StopParsing{error_at(m_file, 0, 0,
                                       "document expands to too many nodes (aliases?)",
                                       "A configuration has at most " + std::to_string(kMaxNodes) +
                                           " values after expanding aliases.")};
        return nodes;
    }

    void open(YamlNode::Kind kind, const YAML::Mark& mark, YAML::anchor_t anchor,
              YAML::EmitterStyle::value style) {
        Frame frame{YamlNode{}, std::nullopt, anchor, m_nodes, style == YAML::EmitterStyle::Flow};
        frame.node.kind = kind;
        frame.node.origin = origin_of(m_file, mark);
        if (m_stack.size() >= std::size_t(kMaxNesting))
            throw StopParsing{
                error_at(m_file, frame.node.origin.line, frame.node.origin.column,
                         "nesting is deeper than " + std::to_string(kMaxNesting) + " levels")};
        count(1);
        m_stack.push_back(std::move(frame));
    }

    void close() {
        Frame frame = std::move(m_stack.back());
        m_stack.pop_back();
        if (frame.pending_key) // a key without a value: yaml-cpp sends none for "? key"
            frame.node.entries.push_back(YamlEntry{std::move(*frame.pending_key), YamlNode{}});
        add(std::move(frame.node), frame.anchor, m_nodes - frame.nodes_before);
    }

    void add(YamlNode node, YAML::anchor_t anchor, std::size_t nodes) {
        if (anchor != YAML::NullAnchor) m_anchors[anchor] = {node, nodes};
        if (m_stack.empty()) {
            root = std::move(node);
            return;
        }
        Frame& top = m_stack.back();
        if (top.node.kind == YamlNode::Kind::Sequence)
            top.node.items.push_back(std::move(node));
        else if (!top.pending_key)
            top.pending_key = std::move(node);
        else {
            top.node.entries.push_back(YamlEntry{std::move(*top.pending_key), std::move(node)});
            top.pending_key.reset();
        }
    }

    std::string_view m_text;
    const std::string& m_file;
    std::vector<Frame> m_stack;
    std::map<YAML::anchor_t, std::pair<YamlNode, std::size_t>> m_anchors;
    std::size_t m_nodes = 0;
};

bool same_place(const YAML::Mark& a, const YAML::Mark& b) {
    return a.pos == b.pos;
}

} // namespace

std::optional<YamlNode> parse_yaml(std::string_view text, const std::string& file,
                                   std::vector<Diagnostic>& diagnostics) {
    if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
    if (!check_text(text, file, diagnostics) || !check_nesting(text, file, diagnostics))
        return std::nullopt;
    try {
        std::istringstream stream{std::string(text)};
        YAML::Parser parser(stream);
        TreeBuilder first(text, file);
        if (!parser.HandleNextDocument(first)) return YamlNode{}; // comments only
        // yaml-cpp 0.7 never gets past a token it cannot place (a stray ","): it returns the same
        // empty document at the same place forever (jbeder/yaml-cpp#1040). So a second document
        // is only believed when the parser moved on; never ask for more than three.
        TreeBuilder second(text, file), third(text, file);
        if (!parser.HandleNextDocument(second)) return std::move(first.root);
        const bool second_empty = second.root.kind == YamlNode::Kind::Null;
        const bool stuck = (first.root.kind == YamlNode::Kind::Null && second_empty &&
                            same_place(first.document_mark, second.document_mark)) ||
                           (second_empty && parser.HandleNextDocument(third) &&
                            third.root.kind == YamlNode::Kind::Null &&
                            same_place(second.document_mark, third.document_mark));
        if (stuck) {
            const int pos = second.document_mark.pos;
            std::string what = "unexpected text";
            if (pos >= 0 && std::size_t(pos) < text.size() && text[std::size_t(pos)] > ' ')
                what = std::string("unexpected \"") + text[std::size_t(pos)] + '"';
            const Origin where = origin_of(file, second.document_mark);
            diagnostics.push_back(
                error_at(file, where.line, where.column, "invalid YAML: " + what));
            return std::nullopt;
        }
        const Origin where = origin_of(file, second.document_mark);
        diagnostics.push_back(error_at(file, where.line, where.column,
                                       "file has more than one YAML document",
                                       "Keep one configuration per file; remove the \"---\" "
                                       "line that starts the second document."));
    } catch (const StopParsing& e) {
        diagnostics.push_back(e.diagnostic);
    } catch (const YAML::Exception& e) {
        const Origin where = origin_of(file, e.mark);
        diagnostics.push_back(error_at(file, where.line, where.column, "invalid YAML: " + e.msg));
    } catch (const std::bad_alloc&) {
        throw;
    } catch (const std::exception& e) {
        diagnostics.push_back(
            error_at(file, 0, 0, std::string("could not parse the file: ") + e.what()));
    }
    return std::nullopt;
}

} // namespace pgsync::config
