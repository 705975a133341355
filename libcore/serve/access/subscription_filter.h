// The filter a subscription really gets: the client's tree, checked against the table's
// live_queries allow-list, ANDed (as a tree, never as text) with the mandatory filter of the
// client's token, and bound to the table's columns (cdc-hard-cases F5).
#pragma once

#include "config/config.h"
#include "filter/bound_filter.h"
#include "serve/access/auth.h"
#include "serve/protocol/client_frame.h"
#include "serve/shapes/table_schema.h"

#include <optional>
#include <string>

namespace pgsync::serve {

struct FilterResult {
    std::optional<filter::BoundFilter> filter; // none: every row (when error is empty)
    std::string error_code;                    // bad-filter, not-allowed, forbidden
    std::string error_message;
    bool ok() const { return error_code.empty(); }
};

// request.where is consumed. grant: the token's grant for the table (null: none, or insecure).
// configured: the config's entry for the table (null: none).
FilterResult subscription_filter(SubscribeRequest& request, const TableSchema& table,
                                 const TableGrant* grant, const config::Table* configured);

// Whether a client's own filter is one of the table's live queries: an AND of `column op value`
// whose (column, operator) pairs are exactly one entry's conditions, in any order.
bool matches_live_query(const filter::Expr* expr, const config::Table& table);

} // namespace pgsync::serve
