// A digital product fulfils on payment: its buyer gets a short-lived signed URL to the file in
// the private product-files bucket through commerce-download, and reads the file with it;
// before paying, nobody, the seller and a stranger get 404.

import { beforeAll, describe, expect, it } from "vitest";
import { signUp, type TestUser } from "../support/auth.ts";
import { openShop } from "../support/catalogue.ts";
import { callFunction } from "../support/clients.ts";
import { onboard, payAndComplete } from "../support/shop_payments.ts";

describe("downloading a bought digital product", () => {
  let seller: TestUser;
  let ebook: string;

  beforeAll(async () => {
    seller = await openShop("dl-seller");
    await onboard(seller);
    const { data } = await seller.client.from("products")
      .insert({ title: "Pattern book", price: 900, currency: "USD", kind: "digital" })
      .select("id").single().throwOnError();
    ebook = data!.id;
    const path = `${seller.id}/${ebook}/book.pdf`;
    const uploaded = await seller.client.storage.from("product-files").upload(
      path,
      new Blob([new TextEncoder().encode("%PDF-1.4 pattern")], { type: "application/pdf" }),
      { contentType: "application/pdf" },
    );
    expect(uploaded.error).toBeNull();
    await seller.client.from("products").update({ digital_file_path: path, status: "active" })
      .eq("id", ebook).throwOnError();
  });

  it("signs the file for its paying buyer only", async () => {
    const buyer = await signUp("dl-buyer");
    const { data: checkout } = await buyer.client.rpc("place_order", {
      items: [{ product_id: ebook, quantity: 1 }],
    }).throwOnError();

    const unpaid = await callFunction(buyer.client, "commerce-download", { product_id: ebook });
    expect(unpaid.status).toBe(404);
    expect(unpaid.body.error.message).toBe(`no paid purchase of product ${ebook} to download`);

    await payAndComplete(buyer, checkout!.id);
    const { data: order } = await buyer.client.from("shop_orders").select("status")
      .eq("checkout_id", checkout!.id).single().throwOnError();
    expect(order!.status).toBe("paid");

    const signed = await callFunction(buyer.client, "commerce-download", { product_id: ebook });
    expect(signed.status, JSON.stringify(signed.body)).toBe(200);
    expect(signed.body.expires_in).toBe(300);
    const file = await fetch(signed.body.signed_url);
    expect(file.status).toBe(200);
    expect(await file.text()).toBe("%PDF-1.4 pattern");

    const stranger = await signUp("dl-stranger");
    for (const who of [stranger, seller]) {
      const refused = await callFunction(who.client, "commerce-download", { product_id: ebook });
      expect(refused.status).toBe(404);
    }
  });
});
