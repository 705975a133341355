// "Did you mean …": the closest of a set of words by edit distance (optimal string alignment:
// insertions, deletions, substitutions and adjacent transpositions), for unknown keys and commands.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgsync {

int edit_distance(std::string_view a, std::string_view b);

// The candidate nearest to word within max_distance (ties: the first), or nullopt.
std::optional<std::string> closest_word(std::string_view word,
                                        const std::vector<std::string>& candidates,
                                        int max_distance = 2);

} // namespace pgsync
