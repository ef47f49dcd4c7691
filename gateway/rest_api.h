// REST API /api/v1/… (docs/http-api.md): one route per admin operation
// (docs/admin-api.md), each translated into one admin request and back.
//
//   - Auth: `Authorization: Bearer <admin token>`; the token goes to the admin service
//     unchanged, which checks it (constant time). No Authorization header → 401 without
//     asking the admin service.
//   - In: path parameters, query parameters (strict: an unknown one is 400, like an
//     unknown admin argument) and a JSON body for the routes that take one.
//   - Out: the admin `result` as the body; errors as {"error":{"code","message"}} with
//     the status of the admin code (ErrorStatus).
//   - Optimistic concurrency: replies holding a Worker carry `ETag: "<versionstamp>"`;
//     `If-Match` on PATCH/DELETE of a worker becomes the admin `versionstamp` argument,
//     and the admin's `conflict` then becomes 412 Precondition Failed (RFC 9110: a failed
//     If-Match is 412). Without If-Match a conflict stays 409.
#pragma once

#include <string>
#include <string_view>

#include "gateway/router.h"

namespace ami::gateway {

class AdminBridge;

// Adds every /api/v1 route that maps to an admin operation. `bridge` must outlive the
// router's use. `follow_logs` (optional) answers GET /api/v1/workers/{sid}/logs when its
// query has `follow` (a Server-Sent Events stream, gateway/log_stream.h).
void AddRestRoutes(Router& router, AdminBridge& bridge, RouteHandler follow_logs = nullptr);

// HTTP status for an admin error code (docs/http-api.md "Status codes"):
// invalid 400, unauthorized 401, not_found 404, conflict 409 (412 when `if_match` was
// given), unavailable 503, anything else 500.
int ErrorStatus(std::string_view code, bool if_match);

// The JSON error body every gateway error uses: {"error":{"code","message"}}.
HttpResponse ErrorResponse(int status, std::string_view code, std::string_view message);

}  // namespace ami::gateway
