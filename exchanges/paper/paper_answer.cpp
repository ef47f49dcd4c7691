// PaperExchange::Answer: the host's calls, with a text fast path for the order calls a
// trading loop makes (createOrder, cancelOrder, fetchOrder). It repeats what
// ConnectorBase::Call and Dispatch do for them — parse the argument array, the same
// CallArgs checks in the same expressions, beforeCall, afterCall, the same mapping of
// exceptions to CallResult — but writes the answer with paper_json.h instead of
// building and dumping an nlohmann object, and does so outside the exchange's lock.
#include <string_view>

#include "paper_exchange.h"
#include "paper_json.h"

namespace ami::paper {

using Json = nlohmann::json;
using plugin::CallResult;

CallResult PaperExchange::Answer(const Ctx& ctx, const std::string& method, const std::string& args_json) {
  const std::string_view m = method;
  if (m != "createOrder" && m != "cancelOrder" && m != "fetchOrder") return Call(ctx, method, args_json);
  try {
    const plugin::MethodSpec* spec = plugin::FindCcxtMethod(method);
    plugin::CallArgs a(method, ParseArgs(method, args_json), spec);
    for (int i = 0; i < spec->required; ++i)
      if (!a.has(i)) a.Missing(i);
    beforeCall(ctx, method);
    // The argument expressions are Dispatch's, so a call with several bad arguments
    // names the same one.
    const OrderCopy o =
        m == "createOrder"
            ? PlaceOrder(ctx, a.str(0), a.str(1), a.str(2), a.number(3), a.opt_number(4), a.params(5))
        : m == "cancelOrder" ? CancelOne(ctx, a.str(0), a.opt_str(1), a.params(2))
                             : FetchOne(ctx, a.str(0), a.opt_str(1), a.params(2));
    Json unused;   // paper's afterCall never reads or rewrites the result
    afterCall(ctx, method, unused);
    std::string text;
    text.reserve(1024);
    AppendOrder(text, o.order, o.TradePointers());
    return CallResult::Ok(std::move(text));
  } catch (...) {
    return ErrorFromCurrentException(method);
  }
}

}  // namespace ami::paper
