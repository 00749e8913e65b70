// The newsletter through the API and the mail catcher: anon subscribes, the confirmation mail's
// link confirms (once: a second use is refused), the mail's List-Unsubscribe link takes the
// address off in one click, a new request resubscribes; malformed addresses and a flood of
// requests are refused precisely; only notifications managers read the addresses.

import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { signUp, signUpWithRole } from "../support/auth.ts";
import { client, SUPABASE_URL } from "../support/clients.ts";
import { drainEmail } from "../support/notifications.ts";
import { linksIn, waitForMail } from "../support/mail.ts";

// Tests that drain the sender get 120 s: earlier test files may have left mail queued ahead.
describe("newsletter", () => {
  it(
    "subscribe, confirm from the mail, unsubscribe from its List-Unsubscribe link, resubscribe",
    async () => {
      const anon = client();
      const address = `reader-${randomUUID().slice(0, 8)}@example.com`;
      const since = new Date();
      const subscribed = await anon.rpc("subscribe_newsletter", { email: address.toUpperCase() });
      expect(subscribed.error).toBeNull();
      expect(subscribed.data).toEqual({
        email: address,
        confirmation: "sent if not already subscribed",
      });
      await drainEmail();

      const mail = await waitForMail({ to: address, subject: "Confirm your newsletter", since });
      // The text part's link (the HTML part has the same, entity-escaped by Mustache).
      const confirm = linksIn({ HTML: "", Text: mail.Text }).find((link) =>
        link.includes("action=confirm")
      );
      expect(confirm).toBeDefined();
      const confirmed = await fetch(confirm!);
      expect(confirmed.status).toBe(200);
      expect(await confirmed.text()).toContain("You are subscribed");
      const again = await fetch(confirm!);
      expect(again.status).toBe(409);
      expect((await again.json()).error.message).toBe("this confirmation link was already used");

      // Addresses: a manager reads them, a user and anon do not.
      const manager = await signUpWithRole("nl-manager", "admin");
      const seen = await manager.client.from("newsletter_subscribers").select("email, status")
        .eq("email", address);
      expect(seen.data).toEqual([{ email: address, status: "subscribed" }]);
      const user = await signUp("nl-user");
      expect((await user.client.from("newsletter_subscribers").select("email")).data).toEqual([]);
      const anonRead = await anon.from("newsletter_subscribers").select("email");
      expect(anonRead.error?.code).toBe("42501");

      // One click, no sign-in.
      expect(mail.ListUnsubscribe.HeaderPost).toBe("List-Unsubscribe=One-Click");
      const off = await fetch(mail.ListUnsubscribe.Links[0], {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: "List-Unsubscribe=One-Click",
      });
      expect(off.status).toBe(200);
      expect(await off.json()).toEqual({
        unsubscribed: true,
        category: "newsletter",
        channel: "email",
      });
      const after = await manager.client.from("newsletter_subscribers").select("status")
        .eq("email", address).single();
      expect(after.data).toEqual({ status: "unsubscribed" });

      // Resubscribing asks for confirmation again.
      const resince = new Date();
      expect((await anon.rpc("subscribe_newsletter", { email: address })).error).toBeNull();
      await drainEmail();
      await waitForMail({ to: address, subject: "Confirm your newsletter", since: resince });
      const pending = await manager.client.from("newsletter_subscribers").select("status")
        .eq("email", address).single();
      expect(pending.data).toEqual({ status: "pending" });
    },
    120_000,
  );

  it("refuses malformed addresses, floods and unknown links precisely", async () => {
    const anon = client();
    const bad = await anon.rpc("subscribe_newsletter", { email: "no-at-sign" });
    expect(bad.error?.code).toBe("22023");
    expect(bad.error?.message).toBe("not an e-mail address");

    const address = `flood-${randomUUID().slice(0, 8)}@example.com`;
    for (let i = 0; i < 3; i++) {
      expect((await anon.rpc("subscribe_newsletter", { email: address })).error).toBeNull();
    }
    const fourth = await anon.rpc("subscribe_newsletter", { email: address });
    // PT429: PostgREST answers HTTP 429 Too Many Requests.
    expect(fourth.status).toBe(429);
    expect(fourth.error?.code).toBe("PT429");
    expect(fourth.error?.message).toMatch(
      /^too many newsletter requests for this address: try again after \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
    );

    const unknown = await fetch(
      `${SUPABASE_URL}/functions/v1/notifications-newsletter?action=confirm&token=${randomUUID()}`,
    );
    expect(unknown.status).toBe(404);
    expect((await unknown.json()).error.message).toBe("confirmation link not found");
    const malformed = await fetch(
      `${SUPABASE_URL}/functions/v1/notifications-newsletter?action=confirm&token=nope`,
    );
    expect(malformed.status).toBe(400);
  }, 120_000);
});
