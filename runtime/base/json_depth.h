// How deeply arrays and objects nest in a JSON text, counted without parsing it, so that
// untrusted input (admin requests, HTTP bodies) nested too deep is refused before
// nlohmann::json recurses into it.
#pragma once

#include <climits>
#include <string_view>

namespace ami {

// The deepest nesting of [ and { in `text`, strings skipped. Stops counting as soon as
// the depth passes `limit` (and returns that depth), so a hostile text costs at most one pass.
int JsonNestingDepth(std::string_view text, int limit = INT_MAX);

}  // namespace ami
