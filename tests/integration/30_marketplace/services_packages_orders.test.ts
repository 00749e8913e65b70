import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { signUp, type TestUser } from "../support/auth.ts";
import { client } from "../support/clients.ts";
import { publishService } from "../support/marketplace.ts";

describe("services and packages (002) through supabase-js", () => {
  let provider: TestUser;
  let buyer: TestUser;
  // A tag of this run's own, so listings see only this run's services on a reused database.
  const tag = `run-${randomUUID().slice(0, 8)}`;
  let serviceId: string;
  const packageIds: Record<string, string> = {};

  beforeAll(async () => {
    [provider, buyer] = await Promise.all([signUp("svc-provider"), signUp("svc-buyer")]);
  });

  it("lets a provider publish a service with packages", async () => {
    const service = await provider.client
      .from("services")
      .insert({
        title: "Linen shirt tailoring",
        description: "Made to measure linen shirts",
        category: "shirts",
        tags: [tag, "linen"],
      })
      .select("id, provider_id, is_published")
      .single();
    expect(service.error).toBeNull();
    expect(service.data).toMatchObject({ provider_id: provider.id, is_published: false });
    serviceId = service.data!.id;

    const packages = await provider.client
      .from("service_packages")
      .insert([
        {
          service_id: serviceId,
          name: "Basic",
          price_amount: 8000,
          currency: "USD",
          delivery_days: 10,
          revisions: 1,
          features: ["One shirt"],
          position: 0,
        },
        {
          service_id: serviceId,
          name: "Premium",
          price_amount: 30000,
          currency: "USD",
          delivery_days: 21,
          revisions: null,
          features: ["Four shirts", "Monogram"],
          position: 1,
        },
        {
          service_id: serviceId,
          name: "Retired",
          price_amount: 1000,
          currency: "USD",
          delivery_days: 3,
          is_active: false,
          position: 2,
        },
      ], { defaultToNull: false }) // bulk inserts send null for keys a row lacks unless told to use the column defaults
      .select("id, name");
    expect(packages.error).toBeNull();
    for (const p of packages.data!) packageIds[p.name] = p.id;

    const published = await provider.client.from("services").update({ is_published: true }).eq(
      "id",
      serviceId,
    ).select("is_published").single();
    expect(published.data).toEqual({ is_published: true });
  });

  it("refuses bad prices and currencies with 22023 and a precise message", async () => {
    const attempt = (price_amount: number, currency = "USD") =>
      provider.client.from("service_packages").insert({
        service_id: serviceId,
        name: "Bad",
        price_amount,
        currency,
        delivery_days: 5,
      });
    const zero = await attempt(0);
    expect(zero.error).toMatchObject({
      code: "22023",
      message: "price must be a positive whole number of minor units of USD, not 0",
    });
    expect((await attempt(-500)).error?.code).toBe("22023");
    expect((await attempt(100_000_000)).error).toMatchObject({
      code: "22023",
      message: "price 100000000 exceeds the maximum of 99999999 minor units of USD",
    });
    expect((await attempt(500, "XYZ")).error).toMatchObject({
      code: "22023",
      message: "currency XYZ is not supported (see the currencies table)",
    });
  });

  it("does not let the provider write moderation columns or someone else add packages", async () => {
    const suspend = await provider.client.from("services").update({ suspended_at: null } as never)
      .eq("id", serviceId);
    expect(suspend.error?.code).toBe("42501");
    const foreign = await buyer.client
      .from("service_packages")
      .insert({
        service_id: serviceId,
        name: "Cheap",
        price_amount: 1,
        currency: "USD",
        delivery_days: 1,
      });
    expect(foreign.error?.code).toBe("42501");
  });

  it("lists published services to anon with filters, search, a price range and keyset pages", async () => {
    await publishService(
      provider,
      { title: "Wool coat relining", category: "coats", tags: [tag] },
      {
        name: "Basic",
        price_amount: 12000,
        currency: "USD",
        delivery_days: 14,
      },
    );
    await publishService(provider, {
      title: "Silk scarf hemming",
      category: "accessories",
      tags: [tag],
    }, {
      name: "Basic",
      price_amount: 2000,
      currency: "USD",
      delivery_days: 3,
    });
    const anon = client();

    const detail = await anon
      .from("services")
      .select("title, packages:service_packages(name, price_amount, currency, revisions, position)")
      .eq("id", serviceId)
      .order("position", { referencedTable: "packages" })
      .single();
    expect(detail.data).toEqual({
      title: "Linen shirt tailoring",
      packages: [
        { name: "Basic", price_amount: 8000, currency: "USD", revisions: 1, position: 0 },
        { name: "Premium", price_amount: 30000, currency: "USD", revisions: null, position: 1 },
      ],
    });

    const pages: string[][] = [];
    let last: { created_at: string; id: string } | undefined;
    for (;;) {
      let query = anon.from("services").select("id, title, created_at").contains("tags", [tag]);
      if (last) {
        query = query.or(
          `created_at.lt."${last.created_at}",and(created_at.eq."${last.created_at}",id.lt.${last.id})`,
        );
      }
      const { data, error } = await query.order("created_at", { ascending: false }).order("id", {
        ascending: false,
      }).limit(2);
      expect(error).toBeNull();
      if (!data!.length) break;
      pages.push(data!.map((s) => s.title));
      last = data![data!.length - 1];
    }
    expect(pages).toEqual([["Silk scarf hemming", "Wool coat relining"], [
      "Linen shirt tailoring",
    ]]);

    const byCategory = await anon.from("services").select("title").contains("tags", [tag]).eq(
      "category",
      "coats",
    );
    expect(byCategory.data).toEqual([{ title: "Wool coat relining" }]);

    const searched = await anon.from("services").select("title").contains("tags", [tag])
      .textSearch("search", "linen shirts", { type: "websearch", config: "simple" });
    expect(searched.data).toEqual([{ title: "Linen shirt tailoring" }]);

    const inRange = await anon
      .from("services")
      .select("title, in_range:service_packages!inner(price_amount)")
      .contains("tags", [tag])
      .eq("in_range.currency", "USD")
      .gte("in_range.price_amount", 10000)
      .lte("in_range.price_amount", 40000)
      .order("title");
    expect(inRange.data?.map((s) => s.title)).toEqual([
      "Linen shirt tailoring",
      "Wool coat relining",
    ]);
  });

  it("orders a package: awaiting payment with the package's snapshot, and a retry returns the same order", async () => {
    const request_id = randomUUID();
    const first = await buyer.client.rpc("order_service_package", {
      package_id: packageIds.Basic,
      details: { neck_cm: 40 },
      request_id,
    });
    expect(first.error).toBeNull();
    expect(first.data).toMatchObject({
      kind: "service",
      status: "awaiting_payment",
      buyer_id: buyer.id,
      seller_id: provider.id,
      service_id: serviceId,
      package_id: packageIds.Basic,
      price_amount: 8000,
      currency: "USD",
      duration_days: 10,
      revisions_allowed: 1,
      details: { neck_cm: 40 },
    });

    const retry = await buyer.client.rpc("order_service_package", {
      package_id: packageIds.Basic,
      details: { neck_cm: 40 },
      request_id,
    });
    expect(retry.data?.id).toBe(first.data!.id);

    // The package's later price is not the order's.
    await provider.client.from("service_packages").update({ price_amount: 9000 }).eq(
      "id",
      packageIds.Basic,
    );
    const seen = await buyer.client.from("orders").select("price_amount").eq("id", first.data!.id)
      .single();
    expect(seen.data).toEqual({ price_amount: 8000 });
  });

  it("gives concurrent requests with one request id exactly one order", async () => {
    const request_id = randomUUID();
    const results = await Promise.all(
      Array.from(
        { length: 4 },
        () =>
          buyer.client.rpc("order_service_package", { package_id: packageIds.Premium, request_id }),
      ),
    );
    expect(results.map((r) => r.error)).toEqual([null, null, null, null]);
    expect(new Set(results.map((r) => r.data!.id)).size).toBe(1);
    expect(results[0].data?.revisions_allowed).toBeNull();
    const orders = await buyer.client.from("orders").select("id").eq(
      "client_request_id",
      request_id,
    );
    expect(orders.data).toHaveLength(1);
  });

  it("refuses own, inactive, unknown and anonymous orders with precise codes", async () => {
    expect(
      (await provider.client.rpc("order_service_package", { package_id: packageIds.Basic })).error
        ?.code,
    ).toBe("42501");
    expect(
      (await buyer.client.rpc("order_service_package", { package_id: packageIds.Retired })).error
        ?.code,
    ).toBe("PT409");
    expect(
      (await buyer.client.rpc("order_service_package", { package_id: randomUUID() })).error?.code,
    ).toBe("PT404");
    expect(
      (await buyer.client.rpc("order_service_package", {
        package_id: packageIds.Basic,
        details: [1],
      })).error?.code,
    ).toBe("22023");
    expect(
      (await client().rpc("order_service_package", { package_id: packageIds.Basic })).error?.code,
    ).toBe("42501");

    await provider.client.from("services").update({ is_published: false }).eq("id", serviceId);
    expect(
      (await buyer.client.rpc("order_service_package", { package_id: packageIds.Basic })).error
        ?.code,
    ).toBe("PT409");
    expect((await client().from("services").select("id").eq("id", serviceId)).data).toEqual([]);
    await provider.client.from("services").update({ is_published: true }).eq("id", serviceId);
  });
});
