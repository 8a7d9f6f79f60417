// Sends one call of each type (and optionally many tracks) with the real @segment/analytics-node,
// unmodified, then flushes and closes. Run by tests/integration/test_js_client_libraries.py:
//
//   node send_with_analytics_node.mjs '{"host": "http://localhost:8081", "writeKey": "wk_...",
//                                      "run": "node", "tracks": 0, "flushAt": 15}'
//
// Prints {"statuses": [...], "errors": [...]} (every HTTP answer the library got, every error it
// emitted) and exits 1 when the library emitted any error.
import { Analytics } from "@segment/analytics-node";

const { host, writeKey, run, tracks = 0, flushAt = 15, maxRetries = 3 } = JSON.parse(
  process.argv[2],
);
const WHEN = "2024-05-01T12:00:00.000Z";
const consent = () => ({ categoryPreferences: { Advertising: false, Analytics: true } });

const analytics = new Analytics({ writeKey, host, path: "/v1/batch", flushAt, maxRetries });
const statuses = [];
const errors = [];
analytics.on("http_response", (response) => statuses.push(response.status));
analytics.on("error", (error) =>
  errors.push({ code: error.code, reason: String(error.reason?.message ?? error.reason) }),
);

const user = `${run}-user`;
analytics.identify({
  userId: user,
  traits: { email: "ann@example.com", plan: "pro" },
  context: { consent: consent() },
  messageId: `${run}-identify`,
  timestamp: WHEN,
});
analytics.track({
  userId: user,
  event: "Order Completed",
  properties: { order_id: "o-1", revenue: 42.5, products: [{ sku: "A", qty: 2 }] },
  context: { consent: consent(), ip: "10.0.0.1" },
  messageId: `${run}-track`,
  timestamp: WHEN,
});
analytics.page({
  anonymousId: `${run}-anon`,
  category: "Docs",
  name: "Pricing",
  properties: { url: "https://shop.example.com/pricing" },
  messageId: `${run}-page`,
});
analytics.screen({
  userId: user,
  name: "Basket",
  properties: { items: 3 },
  messageId: `${run}-screen`,
});
analytics.group({
  userId: user,
  groupId: "acme",
  traits: { name: "Acme Ltd", employees: 40 },
  messageId: `${run}-group`,
});
analytics.alias({ userId: user, previousId: `${run}-anon`, messageId: `${run}-alias` });
for (let n = 0; n < tracks; n++) {
  analytics.track({
    userId: `user-${n % 17}`,
    event: "Product Viewed",
    properties: { sku: `SKU-${n}`, price: n / 4 },
    messageId: `many-${n}`,
  });
}

await analytics.closeAndFlush({ timeout: 30_000 });
process.stdout.write(JSON.stringify({ statuses, errors }));
process.exitCode = errors.length ? 1 : 0;
