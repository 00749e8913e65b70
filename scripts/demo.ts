// `npm run demo`: the commissions flow of spec 000 against a running project, as an app
// would drive it, through supabase-js and the edge functions only: a designer and a tailor
// sign up, the designer saves and exports a design and posts a project, the tailor bids,
// the designer accepts, they exchange messages in the order's thread (live, on its private
// Realtime channel), both approve the requirements, the tailor sets up payouts, the
// designer pays into escrow, the tailor delivers, the designer approves, the escrow is
// released; then the ledger's balances. Then the shop: two sellers open shops (an operator
// approves them with the service-role key, as `npm run admin -- sellers approve` does), a
// buyer pays a cart of both in one Checkout Session, and each shop is paid out less the
// commission. Each step is printed; any failure exits non-zero.
// Targets SUPABASE_URL, SUPABASE_ANON_KEY, STRIPE_API_BASE (the Stripe stand-in plays the
// customer and the seller at Stripe) and MAILPIT_URL (where the confirmation mails are read,
// as each user would open theirs), else the local `npm start`.

import { randomUUID } from "node:crypto";
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import ws from "ws";
import type { Database } from "../types/database.ts";
import { connect, loadConnection, localStackStatus } from "./admin/connection.ts";

type Client = SupabaseClient<Database>;

const PASSWORD = "Demo-Password-1";

interface Connection {
  url: string;
  anonKey: string;
  /** The Stripe stand-in, which plays the customer paying and the seller onboarding. */
  stripeApiBase: string;
  /** The mail catcher (Mailpit's API), where the users' confirmation mails arrive. */
  mailpitUrl: string;
}

function connection(): Connection {
  const {
    SUPABASE_URL: url,
    SUPABASE_ANON_KEY: anonKey,
    STRIPE_API_BASE: stripeApiBase,
    MAILPIT_URL: mailpitUrl,
  } = process.env;
  if (url && anonKey && stripeApiBase && mailpitUrl) {
    return { url, anonKey, stripeApiBase, mailpitUrl };
  }
  const status = localStackStatus(
    ["API_URL", "ANON_KEY", "STRIPE_API_BASE", "MAILPIT_URL"],
    "SUPABASE_URL, SUPABASE_ANON_KEY, STRIPE_API_BASE and MAILPIT_URL are not set",
  );
  return {
    url: status.API_URL,
    anonKey: status.ANON_KEY,
    stripeApiBase: status.STRIPE_API_BASE,
    mailpitUrl: status.MAILPIT_URL,
  };
}

const { url, anonKey, stripeApiBase, mailpitUrl } = connection();
const APP = "http://127.0.0.1:3000";

/** One of the Stripe stand-in's /_test/ simulations (the customer, the card network). */
async function simulate<T>(path: string, body: unknown = {}): Promise<T> {
  const response = await fetch(`${stripeApiBase}/_test/${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const payload = await response.json();
  if (!response.ok) {
    throw new Error(
      `Stripe stand-in ${path} answered ${response.status}: ${JSON.stringify(payload)}`,
    );
  }
  return payload as T;
}

/** Waits until Stripe's webhooks for what just happened have reached stripe-webhook. */
const webhooksDelivered = () => simulate("webhooks/drain", { timeout_ms: 20_000 });

function newClient(): Client {
  return createClient<Database>(url, anonKey, {
    auth: { persistSession: false, autoRefreshToken: false },
    realtime: { transport: ws as never },
  });
}

let stepNumber = 0;
/** Runs one step, printing what it did; the first failure ends the demo with exit code 1. */
async function step<T>(
  title: string,
  run: () => Promise<T>,
  describe: (result: T) => string,
): Promise<T> {
  stepNumber += 1;
  const begun = performance.now();
  try {
    const result = await run();
    const ms = (performance.now() - begun).toFixed(0);
    console.log(`${String(stepNumber).padStart(2)}. ${title} (${ms} ms)\n    ${describe(result)}`);
    return result;
  } catch (error) {
    console.error(
      `${String(stepNumber).padStart(2)}. ${title}: FAILED\n    ${
        error instanceof Error ? error.message : JSON.stringify(error)
      }`,
    );
    process.exit(1);
  }
}

/** supabase-js answers { data, error }; the demo wants the data or an exception. */
function must<R extends { data: unknown; error: { message: string; code?: string } | null }>(
  result: R,
): NonNullable<R["data"]> {
  if (result.error) throw new Error(`${result.error.code ?? ""} ${result.error.message}`.trim());
  return result.data as NonNullable<R["data"]>;
}

async function invoke<T>(c: Client, name: string, body: unknown): Promise<T> {
  const { data: session } = await c.auth.getSession();
  const response = await fetch(`${url}/functions/v1/${name}`, {
    method: "POST",
    headers: {
      apikey: anonKey,
      Authorization: `Bearer ${session.session?.access_token}`,
      "Content-Type": "application/json",
    },
    body: JSON.stringify(body),
  });
  const payload = await response.json();
  if (!response.ok) {
    throw new Error(`${name} answered ${response.status}: ${JSON.stringify(payload)}`);
  }
  return payload as T;
}

/**
 * The token hash of the newest confirmation mail to `email`, read through Mailpit's API: the
 * `token` of the link the mail carries, which the app passes to verifyOtp.
 */
async function confirmationTokenHash(email: string): Promise<string> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const search = await fetch(
      `${mailpitUrl}/api/v1/search?query=${encodeURIComponent(`to:"${email}"`)}`,
    );
    const { messages } = (await search.json()) as { messages: { ID: string }[] };
    if (messages.length > 0) {
      const message = await fetch(`${mailpitUrl}/api/v1/message/${messages[0].ID}`);
      const { HTML } = (await message.json()) as { HTML: string };
      const link = /href="([^"]*\/verify\?[^"]*)"/.exec(HTML)?.[1].replaceAll("&amp;", "&");
      const token = link ? new URL(link).searchParams.get("token") : null;
      if (token) return token;
      throw new Error(`the confirmation mail to ${email} carries no /verify link`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no confirmation mail reached ${email} in ${mailpitUrl} within 10 s`);
}

/** Signs up as the app does: sign-up, the confirmation mail, its link's token verified. */
async function signUp(
  role: "designer" | "tailor",
  label: string = role,
): Promise<{ client: Client; id: string; email: string }> {
  const client = newClient();
  const email = `demo-${label}-${randomUUID().slice(0, 8)}@example.com`;
  const { data, error } = await client.auth.signUp({
    email,
    password: PASSWORD,
    options: {
      data: { display_name: `Demo ${role}`, [`is_${role}`]: true },
      emailRedirectTo: APP,
    },
  });
  if (error) throw error;
  if (!data.user) throw new Error("sign-up returned no user");
  const confirmed = await client.auth.verifyOtp({
    token_hash: await confirmationTokenHash(email),
    type: "signup",
  });
  if (confirmed.error) throw confirmed.error;
  return { client, id: data.user.id, email };
}

console.log(`Commissions demo against ${url}\n`);

const designer = await step(
  "The designer signs up and confirms their e-mail",
  () => signUp("designer"),
  (u) => `${u.email} (${u.id})`,
);
const tailor = await step(
  "The tailor signs up and confirms their e-mail",
  () => signUp("tailor"),
  (u) => `${u.email} (${u.id})`,
);

const design = await step(
  "The designer saves a parametric design",
  async () =>
    must(
      await designer.client
        .from("designs")
        .insert({
          title: "Demo wool coat",
          tags: ["coat", "wool"],
          pattern: {
            version: 1,
            units: "cm",
            width: 120,
            height: 140,
            parameters: { chest: 96, length: 110 },
            pieces: [
              {
                name: "front",
                points: [[10, 10], [55, 10], [60, 120], [5, 120]],
                closed: true,
                fill: "#c8b89a",
              },
              {
                name: "back",
                points: [[65, 10], [110, 10], [115, 120], [60, 120]],
                closed: true,
                fill: "#a89a7c",
              },
              { name: "sleeve", points: [[20, 125], [100, 125]] },
            ],
          },
        })
        .select()
        .single(),
    ),
  (d) => `design ${d.id}, private`,
);

await step(
  "The designer exports it as SVG and PNG",
  () =>
    Promise.all(
      (["svg", "png"] as const).map((format) =>
        invoke<{ exports: { format: string; path: string; signed_url: string }[] }>(
          designer.client,
          "design-export",
          {
            design_id: design.id,
            format,
          },
        )
      ),
    ),
  (results) =>
    results.flatMap((r) => r.exports).map((e) => `${e.format}: ${e.path}`).join("\n    "),
);

const project = await step(
  "The designer posts a project with the design and two requirements",
  async () => {
    const deadline = new Date(Date.now() + 30 * 86_400_000).toISOString().slice(0, 10);
    const p = must(
      await designer.client
        .from("projects")
        .insert({
          title: "Tailor my wool coat",
          description: "Fully lined, horn buttons",
          budget_amount: 60_000,
          currency: "EUR",
          deadline,
        })
        .select()
        .single(),
    );
    must(
      await designer.client.from("project_designs").insert({
        project_id: p.id,
        design_id: design.id,
      }),
    );
    must(
      await designer.client.from("project_requirements").insert([
        { project_id: p.id, position: 1, title: "At least 80% wool" },
        { project_id: p.id, position: 2, title: "Chest 96 cm, length 110 cm" },
      ]),
    );
    return p;
  },
  (p) =>
    `project ${p.id}: budget ${p.budget_amount} minor units of ${p.currency}, deadline ${p.deadline}`,
);

const bid = await step(
  "The tailor finds it among open projects and bids",
  async () => {
    const open = must(
      await tailor.client.from("projects").select("id, title").eq("status", "open").textSearch(
        "search",
        "wool coat",
        {
          type: "websearch",
          config: "simple",
        },
      ).order("created_at", { ascending: false }).limit(20),
    );
    if (!open.some((p) => p.id === project.id)) {
      throw new Error("the project is not listed to the tailor");
    }
    return must(
      await tailor.client.from("bids").insert({
        project_id: project.id,
        amount: 55_000,
        duration_days: 21,
        message: "Two fittings included",
      })
        .select().single(),
    );
  },
  (b) => `bid ${b.id}: ${b.amount} minor units, ${b.duration_days} days`,
);

const accepted = await step(
  "The designer accepts the bid (accept-bid function)",
  () =>
    invoke<{ order: Database["public"]["Tables"]["orders"]["Row"]; created: boolean }>(
      designer.client,
      "accept-bid",
      // The terms the designer read: accept-bid refuses (409) if the bid says otherwise by now.
      { bid_id: bid.id, amount: bid.amount, duration_days: bid.duration_days },
    ),
  ({ order }) =>
    `order ${order.id}: ${order.price_amount} ${order.currency}, commission ${
      order.commission_rate_bps / 100
    }%, status ${order.status}`,
);
const orderId = accepted.order.id;

await step(
  "Accepting again returns the same order",
  () =>
    invoke<{ order: { id: string }; created: boolean }>(designer.client, "accept-bid", {
      bid_id: bid.id,
      amount: bid.amount,
      duration_days: bid.duration_days,
    }),
  (again) => {
    if (again.order.id !== orderId || again.created) {
      throw new Error("a retried accept made another order");
    }
    return `order ${again.order.id}, created: ${again.created}`;
  },
);

await step(
  "Designer and tailor exchange messages in the order's thread, live on its private channel",
  async () => {
    const threadId = accepted.order.thread_id!;
    // The tailor listens on thread:<id> (a private channel: the realtime.messages policies let
    // only the thread's participants join) and hears the designer's message as it commits.
    const channel = tailor.client.channel(`thread:${threadId}`, { config: { private: true } });
    const heard = new Promise<{ content: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no message:new within 10 s")), 10_000);
      channel.on("broadcast", { event: "message:new" }, ({ payload }) => {
        clearTimeout(timer);
        resolve(payload as { content: string });
      });
    });
    await new Promise<void>((resolve, reject) =>
      channel.subscribe((status, error) => {
        if (status === "SUBSCRIBED") resolve();
        else if (status !== "CLOSED") reject(new Error(`${status}: ${error?.message ?? ""}`));
      })
    );
    must(
      await designer.client.rpc("post_message", {
        thread_id: threadId,
        body: "Welcome aboard! Could the hem be 2 cm shorter?",
      }),
    );
    const message = await heard;
    const reply = must(
      await tailor.client.rpc("post_message", {
        thread_id: threadId,
        body: "Noted: 2 cm shorter. I will send a fitting photo.",
      }),
    );
    must(
      await designer.client.rpc("mark_thread_read", { thread_id: threadId, message_id: reply.id }),
    );
    await channel.unsubscribe();
    const threads = must(await designer.client.rpc("list_my_threads", { page_size: 5 }));
    return { threadId, heard: message.content, reply: reply.body, unread: threads[0].unread_count };
  },
  (chat) =>
    `thread ${chat.threadId}: the tailor heard "${chat.heard}" and replied "${chat.reply}"; the designer has ${chat.unread} unread`,
);

await step(
  "Both approve the requirements",
  async () => {
    must(await tailor.client.rpc("approve_requirements", { order_id: orderId }));
    return must(await designer.client.rpc("approve_requirements", { order_id: orderId }));
  },
  (order) => `order status ${order.status}`,
);

const account = await step(
  "The tailor sets up payouts (payments-onboard) and finishes Stripe's onboarding",
  async () => {
    const onboard = await invoke<{ account_id: string; onboarding_url: string }>(
      tailor.client,
      "payments-onboard",
      {
        return_url: `${APP}/payouts/done`,
        refresh_url: `${APP}/payouts/retry`,
      },
    );
    await simulate(`accounts/${onboard.account_id}/onboard`);
    await webhooksDelivered();
    return must(
      await tailor.client.from("seller_payment_accounts").select(
        "stripe_account_id, can_receive_transfers",
      ).single(),
    );
  },
  (a) =>
    `Express account ${a.stripe_account_id}, can receive transfers: ${a.can_receive_transfers}`,
);
if (!account.can_receive_transfers) {
  throw new Error("the tailor's account cannot receive transfers");
}

const checkout = await step(
  "The designer pays into escrow through Stripe Checkout (payments-initiate)",
  async () => {
    const session = await invoke<{ checkout_session_id: string; url: string }>(
      designer.client,
      "payments-initiate",
      {
        order_id: orderId,
        success_url: `${APP}/orders/${orderId}/paid`,
        cancel_url: `${APP}/orders/${orderId}`,
      },
    );
    await simulate(`checkout/sessions/${session.checkout_session_id}/complete`, {
      outcome: "paid",
    });
    await webhooksDelivered();
    return {
      session,
      escrow: must(
        await designer.client.from("payment_status").select("*").eq("order_id", orderId).single(),
      ),
    };
  },
  ({ session, escrow }) =>
    `session ${session.checkout_session_id}; escrow ${escrow.status}, ${escrow.amount_captured} ${escrow.currency}`,
);
if (checkout.escrow.status !== "held") throw new Error("the payment is not held in escrow");

await step(
  "The tailor uploads the finished work and delivers it",
  async () => {
    const path = `${orderId}/finished-coat.json`;
    must(
      await tailor.client.storage.from("deliverables").upload(
        path,
        new Blob([JSON.stringify({ photos: 3, notes: "Lined, horn buttons" })], {
          type: "application/json",
        }),
      ),
    );
    return must(
      await tailor.client.rpc("submit_delivery", {
        order_id: orderId,
        message: "Your coat is ready",
        file_paths: [path],
      }),
    );
  },
  (delivery) => `delivery ${delivery.id} with ${delivery.file_paths.length} file`,
);

await step(
  "The designer approves the delivery",
  async () => must(await designer.client.rpc("approve_delivery", { order_id: orderId })),
  (order) => `order status ${order.status}`,
);

await step(
  "The escrow is released to the tailor, minus the commission (payments-release)",
  () =>
    invoke<{ transfer_id: string; amount: number; commission: number; currency: string }>(
      designer.client,
      "payments-release",
      {
        order_id: orderId,
      },
    ),
  (r) =>
    `transfer ${r.transfer_id}: ${r.amount} to the tailor, ${r.commission} commission (${r.currency})`,
);

await step(
  "Both read the order's timeline",
  async () =>
    must(
      await tailor.client.from("order_events").select("event_type, to_status").eq(
        "order_id",
        orderId,
      ).order("id"),
    ),
  (events) =>
    events.map((e) => e.to_status ? `${e.event_type} -> ${e.to_status}` : e.event_type).join(", "),
);

await webhooksDelivered();
const balances = await step(
  "The ledger, as each party may read it",
  async () => {
    const asDesigner = must(
      await designer.client.from("ledger_balances").select("kind, balance").eq("order_id", orderId),
    );
    const asTailor = must(
      await tailor.client.from("ledger_balances").select("kind, balance").eq("user_id", tailor.id),
    );
    return [...asDesigner, ...asTailor];
  },
  (rows) => rows.map((r) => `${r.kind}: ${r.balance}`).join(", "),
);
const escrowBalance = balances.find((b) => b.kind === "escrow")?.balance;
const payable = balances.find((b) => b.kind === "seller_payable")?.balance;
if (escrowBalance !== 0 || payable !== 0) {
  throw new Error("escrow and the seller's payable should both be settled to zero");
}

console.log("\nEscrow is empty, the tailor has been paid, the platform kept its commission.\n");

// The shop (issue 17): a buyer buys from two shops in one checkout, paid once, split in two.
console.log("Shop: one checkout, two shops\n");

/** A seller with an approved application (an operator approves, as `npm run admin -- sellers approve` does), a product in stock and payouts set up. */
async function openDemoShop(label: string, title: string, price: number) {
  const seller = await signUp("tailor", label);
  const application = must(
    await seller.client.from("seller_applications").insert({
      shop_name: `Demo ${label}`,
      category: "home",
      return_address: {
        full_name: `Demo ${label}`,
        address_line1: "1 Main St",
        city: "New York",
        country_code: "US",
      },
      agreed_to_terms: true,
    }).select("id").single(),
  );
  const operator = connect(loadConnection(), "demo-operator");
  must(
    await operator.rpc("review_seller_application", {
      application_id: application.id,
      decision: "approved",
    }),
  );
  must(await seller.client.auth.refreshSession()); // the seller role is in the new token
  const profile = must(
    await seller.client.from("shipping_profiles").insert({ name: "Standard", currency: "USD" })
      .select("id").single(),
  );
  must(
    await seller.client.from("shipping_rates").insert({
      profile_id: profile.id,
      country: "*",
      first_item: 500,
      additional_item: 100,
      min_days: 2,
      max_days: 5,
    }),
  );
  const product = must(
    await seller.client.from("products").insert({
      title,
      price,
      currency: "USD",
      kind: "physical",
      shipping_profile_id: profile.id,
      status: "active",
    }).select("id").single(),
  );
  must(
    await seller.client.rpc("adjust_inventory", {
      product_id: product.id,
      quantity_delta: 10,
      reason: "first stock",
    }),
  );
  const onboard = await invoke<{ account_id: string }>(seller.client, "payments-onboard", {
    return_url: `${APP}/payouts/done`,
    refresh_url: `${APP}/payouts/retry`,
  });
  await simulate(`accounts/${onboard.account_id}/onboard`);
  await webhooksDelivered();
  return { ...seller, productId: product.id, accountId: onboard.account_id };
}

const lampShop = await step(
  "A lamp maker opens a shop (approved by an operator), lists a lamp and sets up payouts",
  () => openDemoShop("lamp-shop", "Brass desk lamp", 4500),
  (s) => `shop ${s.id}, product ${s.productId}, account ${s.accountId}`,
);
const mugShop = await step(
  "A potter opens a second shop the same way",
  () => openDemoShop("mug-shop", "Stoneware mug", 1800),
  (s) => `shop ${s.id}, product ${s.productId}, account ${s.accountId}`,
);

const shopCheckout = await step(
  "The designer fills a cart from both shops and checks out once",
  async () => {
    const address = must(
      await designer.client.from("addresses").insert({
        full_name: "Demo Designer",
        address_line1: "5 Park Ave",
        city: "New York",
        country_code: "US",
      }).select("id").single(),
    );
    must(
      await designer.client.rpc("add_cart_item", { product_id: lampShop.productId, quantity: 1 }),
    );
    must(
      await designer.client.rpc("add_cart_item", { product_id: mugShop.productId, quantity: 2 }),
    );
    return must(await designer.client.rpc("checkout_cart", { address_id: address.id }));
  },
  (c) =>
    `checkout ${c.id}: ${c.total} ${c.currency} for two shop orders, stock reserved until ${c.expires_at}`,
);

await step(
  "The designer pays the whole checkout with one Stripe Checkout Session (commerce-checkout-pay)",
  async () => {
    const session = await invoke<{ checkout_session_id: string }>(
      designer.client,
      "commerce-checkout-pay",
      {
        checkout_id: shopCheckout.id,
        success_url: `${APP}/checkout/${shopCheckout.id}/paid`,
        cancel_url: `${APP}/checkout/${shopCheckout.id}`,
      },
    );
    await simulate(`checkout/sessions/${session.checkout_session_id}/complete`, {
      outcome: "paid",
    });
    await webhooksDelivered();
    return must(
      await designer.client.from("my_shop_payments").select("status, amount, shop_orders").eq(
        "checkout_id",
        shopCheckout.id,
      ).single(),
    );
  },
  (p) => `payment ${p.status}, ${p.amount}; shop orders ${JSON.stringify(p.shop_orders)}`,
);

const payouts = await step(
  "Each shop reads its payout: its order's total less the commission, transferred to its account",
  async () => [
    must(
      await lampShop.client.from("shop_transfers").select("amount, commission, stripe_transfer_id")
        .single(),
    ),
    must(
      await mugShop.client.from("shop_transfers").select("amount, commission, stripe_transfer_id")
        .single(),
    ),
  ],
  (rows) =>
    rows.map((t) => `${t.stripe_transfer_id}: ${t.amount} (commission ${t.commission})`).join("; "),
);
if (payouts.some((t) => !t.stripe_transfer_id)) throw new Error("a shop was not paid out");

console.log("\nOne payment, split between two shops less the platform's commission. Done.");
