// POST /v1/token's logic: the request checked member by member (the grants by auth.cpp's reader
// and the filter parser), the claims built and signed. nlohmann/json's exceptions stop here.
#include "serve/access/token_issuer.h"

#include "filter/where_parser.h"
#include "serve/access/auth.h"
#include "serve/access/strict_json.h"

#include <nlohmann/json.hpp>
#include <set>
#include <vector>

namespace pgsync::serve {

namespace {

using nlohmann::json;

constexpr const char* kExample =
    R"(Send {"userId":"u42","tables":{"public.messages":{"where":"group_name = $1",)"
    R"("params":["x"]}},"ttl":3600}.)";

IssueResult refuse(std::string error, std::string hint = kExample) {
    return IssueResult{std::nullopt, std::move(error), std::move(hint)};
}

// The highest $n of a filter tree (0: none).
int highest_param(const filter::Expr& expr) {
    int highest = 0;
    for (const auto& operand : expr.operands)
        if (operand.kind == filter::Operand::Kind::Param)
            highest = std::max(highest, operand.param);
    for (const auto& child : expr.children)
        highest = std::max(highest, highest_param(*child));
    return highest;
}

// Parses the body, refusing a key given twice in any object (a table granted twice must not be
// read one way here and another way by a verifier).
std::optional<json> parse_body(std::string_view body, std::string& error) {
    StrictJson parsed = parse_strict_json(body);
    if (!parsed.duplicate.empty())
        error = "the body has the key \"" + parsed.duplicate + "\" twice in one object";
    else if (!parsed.value)
        error = "the body is not valid JSON: " + parsed.syntax_error;
    else if (!parsed.value->is_object())
        error = "the body is not a JSON object";
    else
        return std::move(parsed.value);
    return std::nullopt;
}

} // namespace

IssueResult issue_token(std::string_view body, const TokenIssuerOptions& options, int64_t now) {
    if (options.secret.empty())
        return refuse("the server has no JWT secret to sign tokens with",
                      "Start pgsync-serve with --jwt-secret-env.");
    std::string error;
    auto request = parse_body(body, error);
    if (!request) return refuse(std::move(error));
    for (const auto& [key, value] : request->items())
        if (key != "userId" && key != "tables" && key != "channels" && key != "ttl")
            return refuse("unknown key \"" + key +
                          "\" in the body; expected \"userId\", "
                          "\"tables\", \"channels\" and \"ttl\"");

    auto user = request->find("userId");
    if (user == request->end()) return refuse("\"userId\" is missing");
    if (!user->is_string() || user->get_ref<const std::string&>().empty())
        return refuse("\"userId\" must be a non-empty string");
    if (user->get_ref<const std::string&>().size() > kMaxUserIdBytes)
        return refuse("\"userId\" is longer than " + std::to_string(kMaxUserIdBytes) + " bytes");

    // As the verifier reads grants (auth.cpp): tables, channels (pgsync.yaml tables[].channels
    // by name), or both.
    auto tables = request->find("tables");
    auto channels = request->find("channels");
    if (tables == request->end() && channels == request->end())
        return refuse(
            "\"tables\" is missing",
            "Give the tables the user may read, e.g. \"tables\":{\"public.messages\":{}}, "
            "or \"tables\":\"*\" for every published table, and/or the channels, e.g. "
            "\"channels\":[\"chat-added\"].");
    Principal principal;
    try {
        if (tables != request->end())
            if (std::string why = read_table_grants(*tables, "tables", principal); !why.empty())
                return refuse(std::move(why));
        if (channels != request->end())
            if (std::string why = read_channel_grants(*channels, "channels", principal);
                !why.empty())
                return refuse(std::move(why));
    } catch (const json::exception& e) {
        return refuse(std::string("the grants are not well formed: ") + e.what());
    }
    for (const TableGrant& grant : principal.tables) {
        if (grant.where.empty()) continue;
        const std::string table = grant.schema + "." + grant.name;
        auto parsed = filter::parse_where(grant.where);
        if (!parsed.ok())
            return refuse("the filter for table \"" + table +
                              "\" does not parse: " + parsed.error.message,
                          "Write a where clause as for a subscription, e.g. \"group_name = $1\" "
                          "with \"params\":[\"x\"].");
        const int highest = highest_param(*parsed.expr);
        if (size_t(highest) > grant.params.size())
            return refuse("the filter for table \"" + table + "\" uses $" +
                              std::to_string(highest) + " but has " +
                              std::to_string(grant.params.size()) + " parameter" +
                              (grant.params.size() == 1 ? "" : "s"),
                          "Give a value for each $n in \"params\".");
    }

    int64_t seconds = kDefaultTokenSeconds;
    if (auto ttl = request->find("ttl"); ttl != request->end()) {
        if (!ttl->is_number_integer() || ttl->get<int64_t>() < 1 ||
            ttl->get<int64_t>() > kMaxTokenSeconds)
            return refuse("\"ttl\" must be an integer from 1 to " +
                              std::to_string(kMaxTokenSeconds) + " seconds",
                          "Ask for a token that lasts at most a day, and a new one before it "
                          "expires.");
        seconds = ttl->get<int64_t>();
    }

    json claims = {{"sub", *user}, {"iat", now}, {"exp", now + seconds}};
    if (!options.issuer.empty()) claims["iss"] = options.issuer;
    if (!options.audience.empty()) claims["aud"] = options.audience;
    json grants = json::object();
    if (tables != request->end()) grants["tables"] = *tables;
    if (channels != request->end()) grants["channels"] = *channels;
    claims[options.claim] = std::move(grants);
    return IssueResult{
        IssuedToken{sign_hs256(claims.dump(), options.secret), now + seconds}, {}, {}};
}

} // namespace pgsync::serve
