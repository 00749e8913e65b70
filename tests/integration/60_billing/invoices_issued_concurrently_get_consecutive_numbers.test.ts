// Invoice numbers under contention, black-box through supabase-js: 100 drafts of one seller's
// series issued at once by 100 concurrent requests get 100 distinct numbers YYYYMMDD-0001 ...
// YYYYMMDD-0100 with no gap (the counter row serialises them; no sequence). Plans are read by
// anyone, anon included, while active.

import { describe, expect, it } from "vitest";
import { exemptFromRateLimits, signUp, signUpWithRole } from "../support/auth.ts";
import { client } from "../support/clients.ts";

describe("invoice numbering", () => {
  it("gives 100 concurrent issues 100 consecutive numbers of the series, no gap", async () => {
    const seller = await signUpWithRole("billing-seller", "seller");
    // 200 writes within a minute, past the 100 a user may make: an operator exempts the account.
    await exemptFromRateLimits(seller);
    const customer = await signUp("billing-customer");
    const drafts: string[] = [];
    for (let batch = 0; batch < 10; batch++) {
      const created = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          seller.client.rpc("create_invoice", {
            customer_id: customer.id,
            currency: "KRW",
            items: [{ description: `Fitting ${batch * 10 + i}`, quantity: 1, unit_amount: 10000 }],
            customer_name: "김민수",
            tax_rate_bps: 1000,
            seller_id: seller.id,
          })),
      );
      for (const { data, error } of created) {
        expect(error).toBeNull();
        drafts.push((data as { id: string }).id);
      }
    }

    const issued = await Promise.all(
      drafts.map((invoice_id) => seller.client.rpc("issue_invoice", { invoice_id })),
    );
    const numbers = issued.map(({ data, error }) => {
      expect(error).toBeNull();
      return (data as { number: string }).number;
    });
    const day = numbers[0].slice(0, 8);
    expect(new Set(numbers).size).toBe(100);
    expect([...numbers].sort()).toEqual(
      Array.from({ length: 100 }, (_, i) => `${day}-${String(i + 1).padStart(4, "0")}`),
    );

    // The customer reads them, numbered, with the tax rounded on the subtotal.
    const { data: read, error } = await customer.client
      .from("invoices")
      .select("number, total_amount, customer_name")
      .eq("seller_id", seller.id);
    expect(error).toBeNull();
    expect(read).toHaveLength(100);
    expect(read!.every((r) => r.total_amount === 11000 && r.customer_name === "김민수")).toBe(true);
  }, 120_000);

  it("lets anyone read active plans and refuses a user creating one", async () => {
    const { data, error } = await client().from("plans").select("slug, is_free, limits").eq(
      "is_free",
      true,
    );
    expect(error).toBeNull();
    expect(data).toEqual([{ slug: "free", is_free: true, limits: {} }]);

    const user = await signUp("billing-user");
    const refused = await user.client.rpc("create_plan", { slug: "mine", name: "Mine" });
    expect(refused.error?.code).toBe("42501");
    expect(refused.error?.message).toBe("creating a plan needs the billing.manage permission");
  });
});
