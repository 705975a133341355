// libFuzzer target for the pgsync.yaml loader: arbitrary bytes as a file. Any crash, hang or
// exception escaping load_text is a bug; so is an invalid result without an error, or an error
// diagnostic without a message.
#include "config/load.h"
#include "config/render.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    pgsync::config::LoadResult result = pgsync::config::load_text(text, "fuzz.yaml");
    for (const auto& diagnostic : result.diagnostics)
        if (diagnostic.message.empty()) std::abort();
    (void)pgsync::config::format_text(result.diagnostics);
    (void)pgsync::config::format_json(result.diagnostics);
    // A valid file renders to text that loads back valid.
    if (!pgsync::config::has_errors(result.diagnostics)) {
        std::string rendered = pgsync::config::render_effective(result.config, true);
        if (pgsync::config::has_errors(
                pgsync::config::load_text(rendered, "rendered.yaml").diagnostics))
            std::abort();
    }
    return 0;
}
