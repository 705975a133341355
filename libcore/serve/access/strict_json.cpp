// nlohmann's parser callback sees every key as it is read: a set per open object catches a repeat.
#include "serve/access/strict_json.h"

#include <set>
#include <vector>

namespace pgsync::serve {

StrictJson parse_strict_json(std::string_view text) {
    using json = nlohmann::json;
    StrictJson out;
    std::vector<std::set<std::string>> keys_per_object;
    auto reject_duplicates = [&](int, json::parse_event_t event, json& parsed) {
        if (event == json::parse_event_t::object_start) keys_per_object.emplace_back();
        if (event == json::parse_event_t::object_end) keys_per_object.pop_back();
        if (event == json::parse_event_t::key && !keys_per_object.empty() &&
            !keys_per_object.back().insert(parsed.get<std::string>()).second &&
            out.duplicate.empty())
            out.duplicate = parsed.get<std::string>();
        return true;
    };
    try {
        json value = json::parse(text, reject_duplicates);
        if (out.duplicate.empty()) out.value = std::move(value);
    } catch (const json::exception& e) {
        std::string message = e.what();
        if (auto colon = message.find(": "); colon != std::string::npos)
            message = message.substr(colon + 2);
        out.syntax_error = message;
    }
    return out;
}

} // namespace pgsync::serve
