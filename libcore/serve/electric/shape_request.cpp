// Decoding and checking a /v1/shape request: the query string, Electric's rules for each parameter
// (field names and messages worded as Electric words them, since clients and tests compare them)
// and the POST subset body. nlohmann/json's exceptions stop here and become a RequestError.
#include "serve/electric/shape_request.h"

#include <charconv>
#include <map>
#include <nlohmann/json.hpp>
#include <unordered_set>

namespace pgsync::serve::electric {

namespace {

using json = nlohmann::json;

// PostgreSQL's NAMEDATALEN - 1. PostgreSQL truncates longer names silently; a request naming one
// could then reach a table it did not spell, so such names are refused instead.
constexpr size_t kMaxIdentifierBytes = 63;

const std::string kLongerThanLimit = "longer than " + std::to_string(kMaxParamBytes) + " bytes";
const std::string kTooManyParams = "can't hold more than " + std::to_string(kMaxParams) + " values";

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string decode_component(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '+') {
            out += ' ';
        } else if (c == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 &&
                   hex_value(text[i + 2]) >= 0) {
            out += char(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
            i += 2;
        } else {
            out += c; // a malformed escape stays as it is
        }
    }
    return out;
}

// A whole decimal uint64_t: from_chars takes no sign, space or "0x" for an unsigned type, and the
// end check refuses trailing text.
std::optional<uint64_t> parse_decimal(std::string_view text) {
    uint64_t value = 0;
    auto result = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || result.ec != std::errc() || result.ptr != text.data() + text.size())
        return std::nullopt;
    return value;
}

bool plain_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool plain_part(char c) {
    return plain_start(c) || (c >= '0' && c <= '9') || c == '$';
}

// A character for an error message: itself when printable, else its byte value, so a message
// never carries control bytes.
std::string describe(char c) {
    if (c >= 0x20 && c < 0x7f) return std::string("\"") + c + "\"";
    static const char kHex[] = "0123456789abcdef";
    auto byte = static_cast<unsigned char>(c);
    return std::string("byte 0x") + kHex[byte >> 4] + kHex[byte & 15];
}

enum class IdentifierKind { Quoted, Plain };

// Reads one identifier at text[i] by PostgreSQL's rules: "quoted" keeps its case and "" in it is
// a quote; plain is [A-Za-z_][A-Za-z0-9_$]* and lower-cased. On success i is just past it; the
// caller checks what follows. False with a reason otherwise.
bool read_identifier(std::string_view text, size_t& i, std::string& out, IdentifierKind& kind,
                     std::string& reason) {
    out.clear();
    if (i < text.size() && text[i] == '"') {
        kind = IdentifierKind::Quoted;
        for (++i;; ++i) {
            if (i >= text.size()) {
                reason = "unterminated quoted identifier";
                return false;
            }
            if (text[i] == '"') {
                if (i + 1 < text.size() && text[i + 1] == '"') {
                    out += '"';
                    ++i;
                    continue;
                }
                ++i;
                break;
            }
            if (text[i] == '\0') {
                reason = "a name cannot hold byte 0x00";
                return false;
            }
            out += text[i];
        }
        if (out.empty()) {
            reason = "zero-length delimited identifier";
            return false;
        }
    } else {
        kind = IdentifierKind::Plain;
        if (i >= text.size() || !plain_start(text[i])) {
            if (i >= text.size() || text[i] == '.' || text[i] == ',')
                reason = "a name is empty";
            else
                reason = "an unquoted name cannot start with " + describe(text[i]);
            return false;
        }
        for (; i < text.size() && plain_part(text[i]); ++i)
            out += (text[i] >= 'A' && text[i] <= 'Z') ? char(text[i] - 'A' + 'a') : text[i];
    }
    if (out.size() > kMaxIdentifierBytes) {
        reason =
            "name \"" + out + "\" is longer than " + std::to_string(kMaxIdentifierBytes) + " bytes";
        return false;
    }
    return true;
}

// Why an identifier cannot be followed by c.
std::string unexpected_after(IdentifierKind kind, char c) {
    if (kind == IdentifierKind::Quoted) return "unexpected " + describe(c) + " after a quoted name";
    return "unexpected " + describe(c) +
           " in an unquoted name (it holds letters, digits, \"_\" and \"$\"; quote other names)";
}

bool is_space(char c) {
    return c == ' ' || c == '\t';
}

// A $n index as a query key or JSON key: 1..kMaxParams, no sign, no leading zero (so "01" cannot
// stand for $1 beside "1"). 0 when malformed, kMaxParams + 1 when too large.
size_t param_index(std::string_view text) {
    if (text.empty() || text[0] == '0') return 0;
    for (char c : text)
        if (c < '0' || c > '9') return 0;
    if (text.size() > 4) return kMaxParams + 1;
    size_t value = 0;
    for (char c : text)
        value = value * 10 + size_t(c - '0');
    return value > kMaxParams ? kMaxParams + 1 : value;
}

using ParamMap = std::map<size_t, std::optional<std::string>>;

// Adds value at key; false with message when the key is not a usable index.
bool add_param(ParamMap& params, std::string_view key, std::optional<std::string> value,
               std::string& message) {
    size_t index = param_index(key);
    if (index == 0) {
        message = "has an invalid key \"" + std::string(key) + "\": keys are 1 to " +
                  std::to_string(kMaxParams);
        return false;
    }
    if (index > kMaxParams) {
        message = kTooManyParams;
        return false;
    }
    params[index] = std::move(value);
    return true;
}

// $1..$n in order; false with message naming the first missing one.
bool finish_params(ParamMap& params, std::vector<std::optional<std::string>>& out,
                   std::string& message) {
    out.clear();
    for (auto& [index, value] : params) {
        if (index != out.size() + 1) {
            message = "missing $" + std::to_string(out.size() + 1);
            return false;
        }
        out.push_back(std::move(value));
    }
    return true;
}

// $n values from JSON: an object {"1": ..., "2": ...} or an array. Strings as they are, numbers
// and booleans as their JSON text, null as nullopt.
bool json_params(const json& value, std::vector<std::optional<std::string>>& out,
                 std::string& message) {
    ParamMap params;
    auto add = [&](std::string_view key, const json& item) {
        std::optional<std::string> text;
        if (item.is_string()) {
            text = item.get<std::string>();
            if (text->size() > kMaxParamBytes) {
                message = "has a value " + kLongerThanLimit;
                return false;
            }
        } else if (item.is_number() || item.is_boolean()) {
            text = item.dump();
        } else if (!item.is_null()) {
            message = "has a value that is not a string, number, boolean or null";
            return false;
        }
        return add_param(params, key, std::move(text), message);
    };
    if (value.is_object()) {
        if (value.size() > kMaxParams) {
            message = kTooManyParams;
            return false;
        }
        for (const auto& [key, item] : value.items())
            if (!add(key, item)) return false;
    } else if (value.is_array()) {
        if (value.size() > kMaxParams) {
            message = kTooManyParams;
            return false;
        }
        for (size_t i = 0; i < value.size(); ++i)
            if (!add(std::to_string(i + 1), value[i])) return false;
    } else {
        message = "must be a JSON object";
        return false;
    }
    return finish_params(params, out, message);
}

// A JSON object (or array) of $n values given as one query parameter's text.
bool json_params_text(const std::string& text, std::vector<std::optional<std::string>>& out,
                      std::string& message) {
    try {
        json value = json::parse(text, nullptr, false);
        if (value.is_discarded() || !(value.is_object() || value.is_array())) {
            message = "must be a JSON object";
            return false;
        }
        return json_params(value, out, message);
    } catch (const json::exception& e) {
        message = std::string("could not be read: ") + e.what();
        return false;
    }
}

// $n values from the query: name[n]=value (indexed) or name=<JSON object> (form), not both.
bool query_params(const std::string* form, const std::vector<const QueryParam*>& indexed,
                  size_t prefix, std::vector<std::optional<std::string>>& out,
                  std::string& message) {
    if (form && !indexed.empty()) {
        message = "can't be given both as a JSON object and by index";
        return false;
    }
    if (form) return json_params_text(*form, out, message);
    ParamMap params;
    for (const QueryParam* param : indexed) {
        std::string_view name = param->name;
        if (!add_param(params, name.substr(prefix, name.size() - prefix - 1), param->value,
                       message))
            return false;
    }
    return finish_params(params, out, message);
}

// "name[...]": the text between the brackets is checked later, with the other $n rules.
bool indexed_name(std::string_view name, std::string_view base) {
    return name.size() >= base.size() + 2 && name.substr(0, base.size()) == base &&
           name[base.size()] == '[' && name.back() == ']';
}

const char* const kOrderByRequired = "order_by is required with limit or offset";

} // namespace

std::string offset_text(LogOffset offset) {
    return offset == kSnapshotEnd ? "0_inf" : offset.str();
}

std::optional<LogOffset> parse_offset(std::string_view text) {
    if (text == "0_inf") return kSnapshotEnd;
    auto offset = LogOffset::parse(text);
    // kSnapshotEnd's one text is "0_inf": its decimal spelling would name the same position under
    // another cache key.
    if (offset && *offset == kSnapshotEnd) return std::nullopt;
    return offset;
}

std::vector<QueryParam> parse_query_string(std::string_view query) {
    std::vector<QueryParam> out;
    while (!query.empty()) {
        size_t amp = query.find('&');
        std::string_view part = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        if (part.empty()) continue; // "a=1&&b=2", or a trailing '&'
        size_t equals = part.find('=');
        QueryParam param;
        param.name = decode_component(part.substr(0, equals));
        if (equals != std::string_view::npos)
            param.value = decode_component(part.substr(equals + 1));
        out.push_back(std::move(param));
    }
    return out;
}

bool parse_table_name(std::string_view text, TableRef& out, std::string& error) {
    std::vector<std::string> parts;
    size_t i = 0;
    std::string reason;
    while (reason.empty()) {
        std::string part;
        IdentifierKind kind = IdentifierKind::Plain;
        if (!read_identifier(text, i, part, kind, reason)) break;
        parts.push_back(std::move(part));
        if (i == text.size()) break;
        if (text[i] != '.')
            reason = unexpected_after(kind, text[i]);
        else if (parts.size() == 2)
            reason = "more than one \".\" outside quotes (the form is name or schema.name)";
        ++i;
    }
    if (!reason.empty()) {
        error = "invalid table name \"" + std::string(text) + "\": " + reason;
        return false;
    }
    TableRef table;
    if (parts.size() == 2) table.schema = std::move(parts[0]);
    table.name = std::move(parts.back());
    out = std::move(table);
    return true;
}

bool parse_columns(std::string_view text, std::vector<std::string>& out, std::string& error) {
    std::vector<std::string> columns;
    size_t i = 0;
    std::string reason;
    auto skip_spaces = [&] {
        while (i < text.size() && is_space(text[i]))
            ++i;
    };
    skip_spaces();
    if (i == text.size()) reason = "it names no column";
    while (reason.empty()) {
        std::string column;
        IdentifierKind kind = IdentifierKind::Plain;
        skip_spaces();
        if (!read_identifier(text, i, column, kind, reason)) {
            reason = "column " + std::to_string(columns.size() + 1) + ": " + reason;
            break;
        }
        columns.push_back(std::move(column));
        size_t end = i;
        skip_spaces();
        if (i == text.size()) break;
        // "first name": the space is what is wrong, not the "n" after it.
        if (text[i] != ',')
            reason = "column " + std::to_string(columns.size()) + ": " +
                     unexpected_after(kind, text[end]);
        ++i;
    }
    if (reason.empty()) {
        // Built once the vector is complete, so the views stay valid.
        std::unordered_set<std::string_view> seen;
        for (const auto& column : columns)
            if (!seen.insert(column).second) {
                reason = "column \"" + column + "\" is named twice";
                break;
            }
    }
    if (!reason.empty()) {
        error = "invalid column list \"" + std::string(text) + "\": " + reason;
        return false;
    }
    out = std::move(columns);
    return true;
}

bool parse_shape_request(const std::vector<QueryParam>& query, bool for_delete, ShapeRequest& out,
                         RequestError& error) {
    auto fail = [&](std::string field, std::string message) {
        error = RequestError{std::move(field), std::move(message)};
        return false;
    };

    // Sizes first, so nothing below reads a huge name or value.
    for (const auto& param : query) {
        if (param.name.size() > kMaxParamBytes)
            return fail("query", "has a parameter name " + kLongerThanLimit);
        if (param.value.size() > kMaxParamBytes) return fail(param.name, "is " + kLongerThanLimit);
    }

    // Where a parameter is repeated the last one counts, as in Electric (Plug keeps the last).
    const std::string *table = nullptr, *offset = nullptr, *handle = nullptr, *live = nullptr,
                      *live_sse = nullptr, *experimental_live_sse = nullptr, *cursor = nullptr,
                      *where = nullptr, *params = nullptr, *columns = nullptr, *replica = nullptr,
                      *log = nullptr, *secret = nullptr, *api_secret = nullptr,
                      *subset_where = nullptr, *subset_params = nullptr, *subset_limit = nullptr,
                      *subset_offset = nullptr, *subset_order_by = nullptr;
    std::vector<const QueryParam*> indexed_params, indexed_subset_params;
    const std::pair<std::string_view, const std::string**> named[] = {
        {"table", &table},
        {"offset", &offset},
        {"handle", &handle},
        {"live", &live},
        {"live_sse", &live_sse},
        {"experimental_live_sse", &experimental_live_sse},
        {"cursor", &cursor},
        {"where", &where},
        {"params", &params},
        {"columns", &columns},
        {"replica", &replica},
        {"log", &log},
        {"secret", &secret},
        {"api_secret", &api_secret},
        {"subset__where", &subset_where},
        {"subset__params", &subset_params},
        {"subset__limit", &subset_limit},
        {"subset__offset", &subset_offset},
        {"subset__order_by", &subset_order_by},
    };
    for (const auto& param : query) {
        bool known = false;
        for (const auto& [name, slot] : named)
            if (param.name == name) {
                *slot = &param.value;
                known = true;
                break;
            }
        if (known) continue;
        if (indexed_name(param.name, "params"))
            indexed_params.push_back(&param);
        else if (indexed_name(param.name, "subset__params"))
            indexed_subset_params.push_back(&param);
        // Anything else (cache-buster, expired_handle, the app's own parameters) is ignored.
    }

    ShapeRequest request;
    auto given = [](const std::string* value) { return value && !value->empty(); };

    if (given(table)) {
        std::string message;
        if (!parse_table_name(*table, request.table, message)) return fail("table", message);
        request.has_table = true;
    } else if (!for_delete) {
        return fail("table", "can't be blank");
    } else if (!given(handle)) {
        return fail("table", "can't be blank when handle is not given");
    }

    // DELETE needs no offset; without one, start stays Beginning and means nothing.
    if (given(offset)) {
        if (*offset == "-1") {
            request.start = ShapeRequest::Start::Beginning;
        } else if (*offset == "now") {
            request.start = ShapeRequest::Start::Now;
        } else if (auto parsed = parse_offset(*offset)) {
            request.start = ShapeRequest::Start::At;
            request.offset = *parsed;
        } else {
            return fail("offset", "has invalid format");
        }
    } else if (!for_delete) {
        return fail("offset", "can't be blank");
    }

    if (handle) request.handle = *handle;
    // A DELETE names its shape by handle whatever the offset; a GET's handle matters only to
    // resume at an offset (the client sends its old one with -1 after a 409).
    if (!for_delete) {
        if (request.start == ShapeRequest::Start::At && request.handle.empty())
            return fail("handle", "can't be blank when offset != -1");
        if (request.start != ShapeRequest::Start::At) request.handle.clear();
    }

    request.live = live && *live != "false";
    if (request.live && given(offset)) {
        if (request.start == ShapeRequest::Start::Beginning)
            return fail("live", "can't be true when offset == -1");
        if (request.start == ShapeRequest::Start::Now)
            return fail("live", "can't be true when offset == now");
    }
    request.sse = (live_sse && *live_sse == "true") ||
                  (experimental_live_sse && *experimental_live_sse == "true");
    if (request.sse && !request.live)
        return fail("live_sse", "can't be true unless live is also true");

    // The cursor only busts caches: one that is not a number is as good as none.
    if (cursor) request.cursor = parse_decimal(*cursor);

    if (where) request.where = *where;
    std::string message;
    if (!query_params(params, indexed_params, 7, request.params, message))
        return fail("params", message);

    if (columns && !parse_columns(*columns, request.columns, message))
        return fail("columns", message);

    if (replica) {
        if (*replica == "full")
            request.replica_full = true;
        else if (*replica != "default")
            return fail("replica", "must be one of default, full");
    }
    if (log) {
        if (*log == "changes_only")
            request.changes_only = true;
        else if (*log != "full")
            return fail("log", "must be one of full, changes_only");
    }

    // secret is the current name, api_secret the deprecated one: the current one wins.
    if (secret)
        request.secret = *secret;
    else if (api_secret)
        request.secret = *api_secret;

    Subset& subset = request.subset;
    subset.present = subset_where || subset_params || !indexed_subset_params.empty() ||
                     subset_limit || subset_offset || subset_order_by;
    if (subset_where) subset.where = *subset_where;
    if ((subset_params || !indexed_subset_params.empty()) &&
        !query_params(subset_params, indexed_subset_params, 15, subset.params, message))
        return fail("subset__params", message);
    if (subset_limit) {
        subset.limit = parse_decimal(*subset_limit);
        if (!subset.limit || *subset.limit == 0)
            return fail("subset__limit", "must be a positive integer");
    }
    if (subset_offset) {
        subset.offset = parse_decimal(*subset_offset);
        if (!subset.offset) return fail("subset__offset", "must be a non-negative integer");
    }
    if (subset_order_by) subset.order_by = *subset_order_by;
    if ((subset.limit || subset.offset) && subset.order_by.empty())
        return fail("subset", kOrderByRequired);

    out = std::move(request);
    return true;
}

bool parse_subset_body(std::string_view body, Subset& out, RequestError& error) {
    auto fail = [&](std::string field, std::string message) {
        error = RequestError{std::move(field), std::move(message)};
        return false;
    };
    try {
        json document = json::parse(body, nullptr, false);
        if (document.is_discarded()) return fail("body", "is not valid JSON");
        if (!document.is_object()) return fail("body", "must be a JSON object");

        Subset subset;
        subset.present = true;
        // A member that is null counts as absent, as when JSON.stringify leaves it out.
        auto member = [&](const char* key) -> const json* {
            auto it = document.find(key);
            return it == document.end() || it->is_null() ? nullptr : &*it;
        };
        auto text = [&](const char* key, std::string& into) {
            const json* value = member(key);
            if (!value) return true;
            if (!value->is_string()) return fail(key, "must be a string");
            into = value->get<std::string>();
            if (into.size() > kMaxParamBytes) return fail(key, "is " + kLongerThanLimit);
            return true;
        };
        if (!text("where", subset.where) || !text("order_by", subset.order_by)) return false;
        if (const json* params = member("params")) {
            std::string message;
            if (!params->is_object() && !params->is_array())
                return fail("params", "must be a JSON object");
            if (!json_params(*params, subset.params, message)) return fail("params", message);
        }
        // Parsed non-negative integers are number_unsigned; floats and negatives are not.
        if (const json* limit = member("limit")) {
            if (!limit->is_number_unsigned() || limit->get<uint64_t>() == 0)
                return fail("limit", "must be a positive integer");
            subset.limit = limit->get<uint64_t>();
        }
        if (const json* offset = member("offset")) {
            if (!offset->is_number_unsigned())
                return fail("offset", "must be a non-negative integer");
            subset.offset = offset->get<uint64_t>();
        }
        if ((subset.limit || subset.offset) && subset.order_by.empty())
            return fail("subset", kOrderByRequired);
        out = std::move(subset);
        return true;
    } catch (const json::exception& e) {
        return fail("body", std::string("could not be read: ") + e.what());
    }
}

} // namespace pgsync::serve::electric
