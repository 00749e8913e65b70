// The catalogue through supabase-js: a seller publishes a product with a photo in the public
// product-images bucket; anyone (anon too) finds it by text (a prefix of a Korean word with
// a particle attached), seller, category with its subcategories, price range and stock, in
// price order, a page at a time by cursor or by page number with the total. Another seller
// cannot touch it; a view counts once per viewer and day.

import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { signUp, signUpWithRole, type TestUser } from "../support/auth.ts";
import { activeProduct, openShop, shippingProfile } from "../support/catalogue.ts";
import { ANON_KEY, client, SUPABASE_URL } from "../support/clients.ts";
import { uploadPng } from "../support/storage.ts";

describe("commerce: the catalogue", () => {
  let seller: TestUser;
  let other: TestUser;
  let staff: TestUser;
  let parentCategory: string;
  let childCategory: string;
  const tag = randomUUID().slice(0, 8);

  beforeAll(async () => {
    [seller, other, staff] = await Promise.all([
      openShop("cat-seller"),
      openShop("cat-other"),
      signUpWithRole("cat-staff", "staff"),
    ]);
    const { data: parent } = await staff.client.from("product_categories")
      .insert({ slug: `bags-${tag}`, name: "Bags" }).select("id").single().throwOnError();
    const { data: child } = await staff.client.from("product_categories")
      .insert({ slug: `leather-bags-${tag}`, name: "Leather bags", parent_id: parent!.id }).select(
        "id",
      ).single()
      .throwOnError();
    parentCategory = parent!.id;
    childCategory = child!.id;
  });

  it("lets a seller publish a product with a photo that anon then finds, filters and pages through", async () => {
    const profileId = await shippingProfile(seller);
    const { data: product } = await seller.client.from("products").insert({
      title: `가죽 가방을 ${tag}`,
      description: "Hand-stitched leather tote",
      price: 12000,
      currency: "USD",
      kind: "physical",
      sku: `TOTE-${tag}`,
      category_id: childCategory,
      shipping_profile_id: profileId,
    }).select("id, shop_id, status, in_stock").single().throwOnError();
    expect(product).toMatchObject({ shop_id: seller.id, status: "draft", in_stock: false });

    const path = `${seller.id}/${product!.id}/cover.png`;
    const uploaded = await uploadPng(seller, "product-images", path);
    expect(uploaded.error).toBeNull();
    const intruder = await uploadPng(
      other,
      "product-images",
      `${seller.id}/${product!.id}/fake.png`,
    );
    expect(intruder.error).not.toBeNull();
    await seller.client.from("product_images").insert({
      product_id: product!.id,
      path,
      position: 0,
    }).throwOnError();

    await seller.client.rpc("adjust_inventory", {
      product_id: product!.id,
      quantity_delta: 3,
      reason: "first batch",
    })
      .throwOnError();
    const published = await seller.client.from("products").update({ status: "active" }).eq(
      "id",
      product!.id,
    )
      .select("status, published_at, in_stock").single();
    expect(published.data).toMatchObject({ status: "active", in_stock: true });
    expect(published.data?.published_at).not.toBeNull();

    // Another seller can neither change it nor feature it; staff features it.
    const hijack = await other.client.from("products").update({ price: 1 }).eq("id", product!.id)
      .select("id");
    expect(hijack.data).toEqual([]);
    const selfFeature = await seller.client.rpc("set_product_featured", {
      product_id: product!.id,
      featured: true,
    });
    expect(selfFeature.error?.code).toBe("42501");
    await staff.client.rpc("set_product_featured", { product_id: product!.id, featured: true })
      .throwOnError();

    // Anyone reads the photo by its public URL and the product through the list.
    const anon = client(ANON_KEY);
    const photo = await fetch(`${SUPABASE_URL}/storage/v1/object/public/product-images/${path}`);
    expect(photo.status).toBe(200);
    expect(photo.headers.get("content-type")).toBe("image/png");
    const { data: images } = await anon.from("product_images").select("path").eq(
      "product_id",
      product!.id,
    );
    expect(images).toEqual([{ path }]);

    const found = await anon.rpc("search_products", { q: `가방 ${tag}` });
    expect(found.error).toBeNull();
    expect(found.data?.map((p) => p.id)).toEqual([product!.id]);
    const byFilters = await anon.rpc("search_products", {
      seller_id: seller.id,
      category: parentCategory, // the product is in its subcategory
      min_price: 10000,
      max_price: 12000,
      in_currency: "USD",
      of_kind: "physical",
      in_stock_only: true,
      featured_only: true,
    });
    expect(byFilters.data?.map((p) => p.id)).toEqual([product!.id]);
    const tooCheap = await anon.rpc("search_products", { seller_id: seller.id, max_price: 11999 });
    expect(tooCheap.data).toEqual([]);
    const badSort = await anon.rpc("search_products", { sort: "cheapest" });
    expect(badSort.error?.code).toBe("22023");
    expect(badSort.error?.message).toBe("sort is newest, price_asc, price_desc or popular");

    // A viewer counts once a day.
    expect((await anon.rpc("record_product_view", { product_id: product!.id })).data).toBe(true);
    expect((await anon.rpc("record_product_view", { product_id: product!.id })).data).toBe(false);
  });

  it("pages a seller's products by cursor and by page number with the total, in price order", async () => {
    const shop = await openShop("cat-pages");
    for (const price of [300, 100, 500, 200, 400]) {
      await activeProduct(shop, { title: `Page item ${price}`, price }, price === 500 ? 0 : 1);
    }
    const anon = client(ANON_KEY);
    const first = await anon.rpc("search_products", {
      seller_id: shop.id,
      sort: "price_asc",
      page_size: 2,
    });
    expect(first.error).toBeNull();
    expect(first.data?.map((p) => p.price)).toEqual([100, 200]);
    expect(first.data?.[0].total_count).toBeNull();
    const second = await anon.rpc("search_products", {
      seller_id: shop.id,
      sort: "price_asc",
      page_size: 2,
      after: first.data![1].cursor,
    });
    expect(second.data?.map((p) => p.price)).toEqual([300, 400]);

    const page2 = await anon.rpc("search_products", {
      seller_id: shop.id,
      sort: "price_desc",
      page: 2,
      page_size: 2,
    });
    expect(page2.data?.map((p) => [p.price, p.total_count])).toEqual([[300, 5], [200, 5]]);
    const inStock = await anon.rpc("search_products", {
      seller_id: shop.id,
      in_stock_only: true,
      page: 1,
    });
    expect(inStock.data?.map((p) => p.total_count)[0]).toBe(4);
    const both = await anon.rpc("search_products", {
      seller_id: shop.id,
      page: 1,
      after: first.data![0].cursor,
    });
    expect(both.error?.code).toBe("22023");
  });

  it("sells a digital product once its file is in the private product-files bucket, which nobody else reads", async () => {
    const { data: ebook } = await seller.client.from("products")
      .insert({ title: `Pattern book ${tag}`, price: 900, currency: "USD", kind: "digital" })
      .select("id").single().throwOnError();
    const path = `${seller.id}/${ebook!.id}/book.pdf`;
    const early = await seller.client.from("products").update({
      digital_file_path: path,
      status: "active",
    })
      .eq("id", ebook!.id);
    expect(early.error?.code).toBe("PT409");
    const file = new Blob([new TextEncoder().encode("%PDF-1.4 pattern")], {
      type: "application/pdf",
    });
    const uploaded = await seller.client.storage.from("product-files").upload(path, file, {
      contentType: "application/pdf",
    });
    expect(uploaded.error).toBeNull();
    await seller.client.from("products").update({ digital_file_path: path, status: "active" }).eq(
      "id",
      ebook!.id,
    )
      .throwOnError();

    const buyer = await signUp("cat-ebook-buyer");
    expect((await buyer.client.storage.from("product-files").download(path)).error).not.toBeNull();
    expect((await client(ANON_KEY).storage.from("product-files").download(path)).error).not
      .toBeNull();
    expect((await seller.client.storage.from("product-files").download(path)).error).toBeNull();
    const found = await buyer.client.rpc("search_products", {
      seller_id: seller.id,
      of_kind: "digital",
    });
    expect(found.data?.map((p) => [p.id, p.in_stock])).toEqual([[ebook!.id, true]]);
  });

  it("keeps drafts to their seller and refuses bad products precisely", async () => {
    const buyer = await signUp("cat-buyer");
    const { data: draft } = await seller.client.from("products")
      .insert({ title: `Draft ${tag}`, price: 500, currency: "USD" }).select("id").single()
      .throwOnError();
    expect((await buyer.client.from("products").select("id").eq("id", draft!.id)).data).toEqual([]);
    expect((await client(ANON_KEY).from("products").select("id").eq("id", draft!.id)).data).toEqual(
      [],
    );
    expect((await seller.client.from("products").select("id").eq("id", draft!.id)).data)
      .toHaveLength(1);

    const zero = await seller.client.from("products").insert({
      title: "Free",
      price: 0,
      currency: "USD",
    });
    expect(zero.error?.code).toBe("22023");
    expect(zero.error?.message).toBe(
      "price must be a positive whole number of minor units of USD, not 0",
    );
    const noProfile = await seller.client.from("products").update({ status: "active" }).eq(
      "id",
      draft!.id,
    );
    expect(noProfile.error?.code).toBe("PT409");
    expect(noProfile.error?.message).toBe(
      `product ${draft!.id} is physical: it needs a shipping profile of its shop to be active`,
    );
    const buyerSells = await buyer.client.from("products").insert({
      title: "Mine",
      price: 500,
      currency: "USD",
    });
    expect(buyerSells.error?.code).toBe("42501");
  });
});
