import { describe, expect, it } from "vitest";
import { signUp } from "../support/auth.ts";
import { admin, client } from "../support/clients.ts";

describe("identity: seller applications", () => {
  it("moves an application to approved only through review, which opens the shop", async () => {
    const applicant = await signUp("seller");
    const applied = await applicant.client
      .from("seller_applications")
      .insert({
        shop_name: "Vintage Vault",
        category: "Fashion",
        monthly_revenue: "1000_5000",
        platforms: ["eBay"],
        return_address: {
          full_name: "Vee",
          address_line1: "1 Main St",
          city: "NYC",
          country_code: "US",
        },
        agreed_to_terms: true,
      })
      .select("id, status")
      .single();
    expect(applied.data?.status).toBe("pending_verification");

    const selfApprove = await applicant.client.from("seller_applications").update(
      { status: "approved" } as never,
    ).eq("id", applied.data!.id);
    expect(selfApprove.error?.code).toBe("42501");
    const selfReview = await applicant.client.rpc("review_seller_application", {
      application_id: applied.data!.id,
      decision: "approved",
    });
    expect(selfReview.error?.code).toBe("42501");

    const approved = await admin().rpc("review_seller_application", {
      application_id: applied.data!.id,
      decision: "approved",
    });
    expect(approved.error).toBeNull();
    const shop = await client().from("shops").select("shop_name, follower_count").eq(
      "id",
      applicant.id,
    ).single();
    expect(shop.data).toEqual({ shop_name: "Vintage Vault", follower_count: 0 });
    const again = await admin().rpc("review_seller_application", {
      application_id: applied.data!.id,
      decision: "rejected",
      reason: "late",
    });
    expect(again).toMatchObject({ status: 409, error: { code: "PT409" } });
  });

  it("refuses an application without accepted terms", async () => {
    const applicant = await signUp("seller-terms");
    const { error } = await applicant.client.from("seller_applications").insert({
      shop_name: "No Terms",
      category: "Fashion",
      return_address: { full_name: "N", address_line1: "1", city: "C", country_code: "US" },
      agreed_to_terms: false,
    });
    expect(error?.code).toBe("23514");
  });
});
