// The "publish" section of pgsync.yaml: pgsync-publish's NATS servers, stream and subject layout.
#pragma once

#include "config/config.h"
#include "config/reader.h"
#include "config/yaml_document.h"

namespace pgsync::config {

void read_publish(Reader& reader, const YamlNode& root, Publish& publish);

} // namespace pgsync::config
