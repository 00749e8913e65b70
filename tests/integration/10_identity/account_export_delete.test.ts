import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PASSWORD, signUp, type TestUser } from "../support/auth.ts";
import { admin, callFunction, client } from "../support/clients.ts";
import { orderAwaitingPayment } from "../support/marketplace.ts";
import { TINY_PNG as PNG } from "../support/storage.ts";

async function addAddress(user: TestUser, fullName: string): Promise<void> {
  const { error } = await user.client
    .from("addresses")
    .insert({
      full_name: fullName,
      address_line1: "1 Export Lane",
      city: "Leeds",
      country_code: "GB",
    });
  if (error) throw error;
}

async function uploadAvatar(user: TestUser): Promise<string> {
  const path = `${user.id}/face.png`;
  const { error } = await user.client.storage
    .from("avatars")
    .upload(path, new Blob([PNG], { type: "image/png" }), { contentType: "image/png" });
  if (error) throw error;
  return path;
}

async function canSignIn(email: string): Promise<boolean> {
  const { error } = await client().auth.signInWithPassword({ email, password: PASSWORD });
  return error === null;
}

async function objectNames(bucket: string, folder: string): Promise<string[]> {
  const { data, error } = await admin().storage.from(bucket).list(folder);
  if (error) throw error;
  return data.map((o) => `${folder}/${o.name}`);
}

describe("account export and deletion (edge functions)", () => {
  let owner: TestUser;
  let stranger: TestUser;
  let ownerAvatar: string;
  let strangerAvatar: string;
  let exportPath: string;

  beforeAll(async () => {
    [owner, stranger] = await Promise.all([signUp("export-owner"), signUp("export-stranger")]);
    await Promise.all([
      addAddress(owner, "Owner Exportable"),
      addAddress(stranger, "Stranger Private"),
    ]);
    [ownerAvatar, strangerAvatar] = await Promise.all([
      uploadAvatar(owner),
      uploadAvatar(stranger),
    ]);
  });

  it("exports the caller's data, and nobody else's, behind a signed URL", async () => {
    const { status, body } = await callFunction(owner.client, "account-export");
    expect(status).toBe(200);
    expect(body.expires_in).toBe(3600);
    expect(body.path).toMatch(new RegExp(`^${owner.id}/export-.+\\.json$`));
    exportPath = body.path;

    const response = await fetch(body.signed_url);
    expect(response.status).toBe(200);
    const text = await response.text();
    const document = JSON.parse(text);
    expect(document.user).toMatchObject({ id: owner.id, email: owner.email });
    expect(document.tables["public.profiles"].map((p: { id: string }) => p.id)).toEqual([owner.id]);
    expect(document.tables["public.private_profiles"].map((p: { id: string }) => p.id)).toEqual([
      owner.id,
    ]);
    expect(
      document.tables["public.addresses"].map((a: { full_name: string }) => a.full_name),
    ).toEqual(["Owner Exportable"]);
    expect(document.files).toContainEqual(
      expect.objectContaining({ bucket: "avatars", name: ownerAvatar }),
    );
    expect(new Date(document.exported_at).toISOString()).toBe(document.exported_at);
    expect(text).not.toContain(stranger.id);
    expect(text).not.toContain("Stranger Private");
  });

  it("keeps the export readable by its owner only, and writable by nobody", async () => {
    const own = await owner.client.storage.from("account-exports").download(exportPath);
    expect(own.error).toBeNull();

    const stolen = await stranger.client.storage.from("account-exports").download(exportPath);
    expect(stolen.error).not.toBeNull();
    const signed = await stranger.client.storage.from("account-exports").createSignedUrl(
      exportPath,
      60,
    );
    expect(signed.error).not.toBeNull();
    const anonymous = await client().storage.from("account-exports").download(exportPath);
    expect(anonymous.error).not.toBeNull();

    const forged = await owner.client.storage
      .from("account-exports")
      .upload(`${owner.id}/forged.json`, new Blob(["{}"], { type: "application/json" }), {
        contentType: "application/json",
      });
    expect(forged.error).not.toBeNull();
    const removed = await owner.client.storage.from("account-exports").remove([exportPath]);
    expect(removed.data ?? []).toEqual([]);
  });

  it("refuses callers who are not signed in with 401", async () => {
    const exported = await callFunction(client(), "account-export");
    expect(exported.status).toBe(401);
    expect(exported.body.error.code).toBe("unauthorized");
    const deleted = await callFunction(client(), "account-delete", {
      password: PASSWORD,
      confirm: "DELETE",
    });
    expect(deleted.status).toBe(401);
    expect(deleted.body.error.code).toBe("unauthorized");
  });

  it("refuses a deletion request that is not confirmed", async () => {
    const { status, body } = await callFunction(owner.client, "account-delete", {
      password: PASSWORD,
      confirm: "yes",
    });
    expect(status).toBe(400);
    expect(body.error.code).toBe("invalid_request");
    expect(body.error.details).toContainEqual(expect.objectContaining({ path: ["confirm"] }));
  });

  it("refuses a deletion with the wrong password and deletes nothing", async () => {
    const { status, body } = await callFunction(owner.client, "account-delete", {
      password: "Wrong-Horse-9",
      confirm: "DELETE",
    });
    expect(status).toBe(401);
    expect(body.error.code).toBe("reauthentication_failed");

    expect(await canSignIn(owner.email)).toBe(true);
    const profile = await admin().from("profiles").select("id").eq("id", owner.id);
    expect(profile.data).toEqual([{ id: owner.id }]);
    expect(await objectNames("avatars", owner.id)).toContain(ownerAvatar);
    expect(await objectNames("account-exports", owner.id)).toContain(exportPath);
  });

  it("deletes the account, its rows and its files with the right password, and nobody else's", async () => {
    const { status, body } = await callFunction(owner.client, "account-delete", {
      password: PASSWORD,
      confirm: "DELETE",
    });
    expect(status).toBe(200);
    expect(body).toEqual({ deleted: true });

    expect(await canSignIn(owner.email)).toBe(false);
    expect((await admin().auth.admin.getUserById(owner.id)).error).not.toBeNull();
    for (const reader of [admin(), client(), stranger.client]) {
      const { data } = await reader.from("profiles").select("id").eq("id", owner.id);
      expect(data).toEqual([]);
    }
    expect((await admin().from("private_profiles").select("id").eq("id", owner.id)).data).toEqual(
      [],
    );
    expect((await admin().from("addresses").select("id").eq("user_id", owner.id)).data).toEqual([]);
    expect(await objectNames("avatars", owner.id)).toEqual([]);
    expect(await objectNames("account-exports", owner.id)).toEqual([]);

    expect(await canSignIn(stranger.email)).toBe(true);
    const strangerProfile = await stranger.client.from("profiles").select("id").eq(
      "id",
      stranger.id,
    );
    expect(strangerProfile.data).toEqual([{ id: stranger.id }]);
    const strangerAddresses = await stranger.client.from("addresses").select("full_name");
    expect(strangerAddresses.data).toEqual([{ full_name: "Stranger Private" }]);
    expect(await objectNames("avatars", stranger.id)).toContain(strangerAvatar);
  });
});

describe("account deletion of an admin", () => {
  let first: TestUser;
  let second: TestUser;

  beforeAll(async () => {
    [first, second] = await Promise.all([signUp("admin-leaving"), signUp("admin-staying")]);
    const { data: role } = await admin().from("roles").select("id").eq("name", "admin").single();
    const { error } = await admin()
      .from("user_roles")
      .insert([first, second].map((user) => ({ user_id: user.id, role_id: role!.id })));
    if (error) throw error;
  });

  afterAll(async () => {
    // The admin role must not outlive the test on a shared database.
    await admin().auth.admin.deleteUser(second.id);
  });

  // Refusing the platform's last admin is covered by tests/functions/identity/account_delete_test.ts:
  // here other admins may exist, so only the other half is certain.
  it("lets an admin delete their account while another admin remains", async () => {
    const { status } = await callFunction(first.client, "account-delete", {
      password: PASSWORD,
      confirm: "DELETE",
    });
    expect(status).toBe(200);
    const roles = await admin().from("user_roles").select("user_id").eq("user_id", first.id);
    expect(roles.data).toEqual([]);
  });
});

describe("account deletion with deals still open", () => {
  it("refuses either party of an order in progress, naming the order, until it is cancelled", async () => {
    const [designer, tailor] = await Promise.all([
      signUp("delete-open-buyer"),
      signUp("delete-open-seller"),
    ]);
    const orderId = await orderAwaitingPayment(designer, tailor, 15_000);
    for (const party of [designer, tailor]) {
      const { status, body } = await callFunction(party.client, "account-delete", {
        password: PASSWORD,
        confirm: "DELETE",
      });
      expect([status, body]).toEqual([409, {
        error: {
          code: "conflict",
          message: `account ${party.id} has 1 open order (${orderId}): finish or cancel them first`,
        },
      }]);
      // Nothing happened: the account signs in, its profile is there.
      expect(await canSignIn(party.email)).toBe(true);
      const profile = await admin().from("profiles").select("id").eq("id", party.id);
      expect(profile.data).toEqual([{ id: party.id }]);
    }

    const { error } = await designer.client.rpc("cancel_order", {
      order_id: orderId,
      reason: "Changed my mind",
    });
    expect(error).toBeNull();
    const { status } = await callFunction(designer.client, "account-delete", {
      password: PASSWORD,
      confirm: "DELETE",
    });
    expect(status).toBe(200);
    expect(await canSignIn(designer.email)).toBe(false);
  });
});
