// Feature flags through supabase-js (000 POST /v1/admin/feature-flags;
// docs/domains/operations.md#feature-flags): an admin creates, toggles and deletes flags through
// the table API; every client (anon too) listening on the public Realtime topic feature-flags
// hears flags:changed and refetches my_feature_flags(), which answers for the caller; a plain
// user cannot write flags; bad input is a 400 with a precise message.

import { randomUUID } from "node:crypto";
import type { RealtimeChannel } from "@supabase/supabase-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signUp, signUpWithRole, type TestUser } from "../support/auth.ts";
import { client } from "../support/clients.ts";
import { received, subscribed, until } from "../support/realtime.ts";

interface Broadcast {
  event: string;
  payload: { key: string; action: string };
}

describe("feature flags", () => {
  const anon = client();
  let admin: TestUser;
  let user: TestUser;
  let channel: RealtimeChannel;
  let heard: Broadcast[];
  const key = `it_${randomUUID().slice(0, 8)}.new_checkout`;
  const flags = async (c = anon) => {
    const { data, error } = await c.rpc("my_feature_flags");
    if (error) throw error;
    return data as Record<string, boolean>;
  };

  beforeAll(async () => {
    [admin, user] = await Promise.all([signUpWithRole("ff-admin", "admin"), signUp("ff-user")]);
    channel = anon.channel("feature-flags");
    heard = received<Broadcast>(channel, "broadcast", "flags:changed");
    await subscribed(channel);
  }, 30_000);

  afterAll(async () => {
    await channel?.unsubscribe();
    anon.realtime.disconnect();
    await admin?.client.from("feature_flags").delete().eq("key", key);
  });

  it("an admin creates a flag for signed-in users; anon hears it and gets false, a user true", async () => {
    const created = await admin.client.from("feature_flags")
      .insert({ key, description: "The new checkout", enabled: true, roles: ["authenticated"] })
      .select("key, enabled, roles, rollout_percent").single();
    expect(created.error).toBeNull();
    expect(created.data).toEqual({
      key,
      enabled: true,
      roles: ["authenticated"],
      rollout_percent: 100,
    });
    await until(() => heard.some((m) => m.payload.key === key && m.payload.action === "insert"));
    expect((await flags())[key]).toBe(false);
    expect((await flags(user.client))[key]).toBe(true);
  });

  it("toggling it off is heard live, and the refetch says off", async () => {
    const before = heard.length;
    const toggled = await admin.client.from("feature_flags").update({ enabled: false }).eq(
      "key",
      key,
    ).select("enabled");
    expect(toggled.data).toEqual([{ enabled: false }]);
    await until(() =>
      heard.slice(before).some((m) => m.payload.key === key && m.payload.action === "update")
    );
    expect((await flags(user.client))[key]).toBe(false);
  });

  it("bad input is refused with a precise 400 and changes nothing", async () => {
    const rollout = await admin.client.from("feature_flags").update({ rollout_percent: 101 }).eq(
      "key",
      key,
    );
    expect(rollout.status).toBe(400);
    expect(rollout.error).toMatchObject({
      code: "22023",
      message: `rollout_percent of flag ${key} is 0 to 100, not 101`,
    });
    const role = await admin.client.from("feature_flags").update({ roles: ["astronaut"] }).eq(
      "key",
      key,
    );
    expect(role.status).toBe(400);
    expect(role.error?.message).toBe(`unknown role for flag ${key}: astronaut`);
    const badKey = await admin.client.from("feature_flags").insert({ key: "Bad Key" });
    expect(badKey.status).toBe(400);
    expect(badKey.error?.code).toBe("22023");
    const { data } = await admin.client.from("feature_flags").select("rollout_percent, roles").eq(
      "key",
      key,
    ).single();
    expect(data).toEqual({ rollout_percent: 100, roles: ["authenticated"] });
  });

  it("a user cannot write or read flags; anon cannot write", async () => {
    const insert = await user.client.from("feature_flags").insert({
      key: `${key}_x`,
      enabled: true,
    });
    expect(insert.status).toBe(403);
    const update = await user.client.from("feature_flags").update({ enabled: true }).eq("key", key)
      .select();
    expect(update.data).toEqual([]);
    const read = await user.client.from("feature_flags").select("key").eq("key", key);
    expect(read.data).toEqual([]);
    const anonInsert = await anon.from("feature_flags").insert({ key: `${key}_y`, enabled: true });
    expect(anonInsert.status).toBe(401);
  });

  it("an allow-listed user gets a flag at 0% rollout; deleting the flag is heard and removes it", async () => {
    await admin.client.from("feature_flags").update({
      enabled: true,
      roles: [],
      rollout_percent: 0,
    }).eq("key", key)
      .throwOnError();
    expect((await flags(user.client))[key]).toBe(false);
    await admin.client.from("feature_flag_users").insert({ flag_key: key, user_id: user.id })
      .throwOnError();
    expect((await flags(user.client))[key]).toBe(true);
    const before = heard.length;
    await admin.client.from("feature_flags").delete().eq("key", key).throwOnError();
    await until(() =>
      heard.slice(before).some((m) => m.payload.key === key && m.payload.action === "delete")
    );
    expect(key in (await flags(user.client))).toBe(false);
  });
});
