// The templates of record/record_scan.h: walking the members of a JSON object and the elements of
// a JSON array given as raw text. Included by record_scan.h only.
#pragma once

#include <cstddef>
#include <string_view>
#include <type_traits>

namespace pgsync::record {

size_t skip_json_value(std::string_view text, size_t pos);

namespace detail {

// The end of the JSON string token starting at text[pos] ('"'), or npos when malformed.
size_t skip_json_string(std::string_view text, size_t pos);

inline size_t skip_json_space(std::string_view text, size_t pos) {
    while (pos < text.size() &&
           (text[pos] == ' ' || text[pos] == '\t' || text[pos] == '\n' || text[pos] == '\r'))
        ++pos;
    return pos;
}

// Calls fn with args; a void fn always continues.
template <typename Fn, typename... Args> bool call_continues(Fn& fn, Args... args) {
    if constexpr (std::is_void_v<std::invoke_result_t<Fn&, Args...>>) {
        fn(args...);
        return true;
    } else {
        return bool(fn(args...));
    }
}

} // namespace detail

template <typename Fn> bool for_each_member(std::string_view object, Fn&& fn) {
    size_t pos = detail::skip_json_space(object, 0);
    if (pos >= object.size() || object[pos] != '{') return false;
    pos = detail::skip_json_space(object, pos + 1);
    if (pos < object.size() && object[pos] == '}') {
        return detail::skip_json_space(object, pos + 1) == object.size();
    }
    for (;;) {
        if (pos >= object.size() || object[pos] != '"') return false;
        size_t key_end = detail::skip_json_string(object, pos);
        if (key_end == std::string_view::npos) return false;
        std::string_view key = object.substr(pos, key_end - pos);
        pos = detail::skip_json_space(object, key_end);
        if (pos >= object.size() || object[pos] != ':') return false;
        pos = detail::skip_json_space(object, pos + 1);
        size_t value_end = skip_json_value(object, pos);
        if (value_end == std::string_view::npos) return false;
        if (!detail::call_continues(fn, key, object.substr(pos, value_end - pos))) return false;
        pos = detail::skip_json_space(object, value_end);
        if (pos >= object.size()) return false;
        if (object[pos] == '}') return detail::skip_json_space(object, pos + 1) == object.size();
        if (object[pos] != ',') return false;
        pos = detail::skip_json_space(object, pos + 1);
    }
}

template <typename Fn> bool for_each_element(std::string_view array, Fn&& fn) {
    size_t pos = detail::skip_json_space(array, 0);
    if (pos >= array.size() || array[pos] != '[') return false;
    pos = detail::skip_json_space(array, pos + 1);
    if (pos < array.size() && array[pos] == ']') {
        return detail::skip_json_space(array, pos + 1) == array.size();
    }
    for (;;) {
        size_t value_end = skip_json_value(array, pos);
        if (value_end == std::string_view::npos) return false;
        if (!detail::call_continues(fn, array.substr(pos, value_end - pos))) return false;
        pos = detail::skip_json_space(array, value_end);
        if (pos >= array.size()) return false;
        if (array[pos] == ']') return detail::skip_json_space(array, pos + 1) == array.size();
        if (array[pos] != ',') return false;
        pos = detail::skip_json_space(array, pos + 1);
    }
}

} // namespace pgsync::record
