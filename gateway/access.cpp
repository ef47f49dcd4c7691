#include "gateway/access.h"

#include <openssl/crypto.h>

#include <cctype>

namespace ami::gateway {

std::optional<std::string> BearerToken(const HttpRequest& request) {
  std::string_view value = request.Header("authorization");
  constexpr std::string_view kScheme = "bearer ";
  if (value.size() <= kScheme.size()) return std::nullopt;
  for (size_t i = 0; i < kScheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(value[i])) != kScheme[i]) return std::nullopt;
  value.remove_prefix(kScheme.size());
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  return std::string(value);
}

std::optional<Caller> CheckBearer(const HttpRequest& request, const std::string& admin_token) {
  auto token = BearerToken(request);
  if (!token || admin_token.empty() || token->size() != admin_token.size()) return std::nullopt;
  if (CRYPTO_memcmp(token->data(), admin_token.data(), admin_token.size()) != 0) return std::nullopt;
  return Caller{"admin token", true};
}

}  // namespace ami::gateway
