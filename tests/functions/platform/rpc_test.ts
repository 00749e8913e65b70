import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { call, rpcSchema } from "../../../functions/_shared/platform/rpc.ts";
import { fakeDb } from "../payments/fake_payments.ts";

Deno.test("call() sends service-only RPCs to ops and client RPCs to public", async () => {
  const { db, calls, schemas } = fakeDb({
    claim_release: { state: "released" },
    export_my_data: { tables: {}, files: [] },
  });
  await call(db, "claim_release", { order_id: "o1", acting_user: null });
  await call(db, "export_my_data", {});
  deepStrictEqual(schemas, { claim_release: "ops", export_my_data: "public" });
  deepStrictEqual(calls.map((c) => c.fn), ["claim_release", "export_my_data"]);
});

Deno.test("every ops RPC of the generated types is known to live in ops", () => {
  for (
    const fn of [
      "accept_bid",
      "process_stripe_event",
      "erase_account",
      "run_scheduled_job",
    ] as const
  ) {
    strictEqual(rpcSchema(fn), "ops", fn);
  }
  for (const fn of ["approve_delivery", "export_my_data", "review_order"] as const) {
    strictEqual(rpcSchema(fn), "public", fn);
  }
});
