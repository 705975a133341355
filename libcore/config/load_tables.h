// The "tables" section of pgsync.yaml: names, columns, live queries and channels, with the checks
// that span the file (duplicate table and channel names).
#pragma once

#include "config/config.h"
#include "config/reader.h"
#include "config/yaml_document.h"

#include <vector>

namespace pgsync::config {

void read_tables(Reader& reader, const YamlNode& root, std::vector<Table>& tables);

} // namespace pgsync::config
