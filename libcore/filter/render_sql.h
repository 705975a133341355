// Renders a bound filter back to SQL for the initial load: quoted identifiers, constants as bound
// parameters, text ordering and LIKE under COLLATE "C" so PostgreSQL agrees with the evaluator.
// The client's text is never pasted into SQL.
#pragma once

#include "filter/bound_filter.h"

#include <string>
#include <vector>

namespace pgsync::filter {

struct SqlFilter {
    std::string sql;                 // e.g. ("group_name" = $1::text AND "ts" > $2::timestamptz)
    std::vector<std::string> params; // values for $first_param.. in order, as PostgreSQL input text
};

SqlFilter render_sql(const BoundFilter& filter, int first_param = 1);

} // namespace pgsync::filter
