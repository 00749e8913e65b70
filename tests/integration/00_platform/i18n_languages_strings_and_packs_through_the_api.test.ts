// i18n through supabase-js (004 "Internationalization"; docs/domains/platform.md#i18n): anon
// lists the active languages and reads strings by module, a page at a time with the total, with
// a missing key answered in English and flagged; a translator (admin) upserts many keys in one
// call, the valid ones saved and each invalid one reported; all or nothing when asked; the
// coverage report shows missing and stale keys; the language pack downloads as one JSON
// document; a user without i18n.manage is refused 403.

import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { signUp, signUpWithRole, type TestUser } from "../support/auth.ts";
import { client } from "../support/clients.ts";

describe("i18n through the API", () => {
  const anon = client();
  let translator: TestUser;
  let user: TestUser;
  // A module of this run's own, so runs and other tests never share keys.
  const module = `it_${randomUUID().slice(0, 8).replace(/-/g, "")}`;

  beforeAll(async () => {
    [translator, user] = await Promise.all([
      signUpWithRole("i18n-admin", "admin"),
      signUp("i18n-user"),
    ]);
  }, 30_000);

  it("anon lists the active languages", async () => {
    const { data, error } = await anon.from("languages").select(
      "code, name, native_name, is_default",
    ).order("code");
    expect(error).toBeNull();
    expect(data).toEqual([
      { code: "en", name: "English", native_name: "English", is_default: true },
      { code: "ko", name: "Korean", native_name: "한국어", is_default: false },
    ]);
  });

  it("a translator writes many keys in one call: valid ones saved, invalid ones reported", async () => {
    const { data, error } = await translator.client.rpc("upsert_translations", {
      entries: [
        { language: "en", module, key: "greeting", value: "Hello, {name}!" },
        { language: "en", module, key: "items", value: "{count} items" },
        { language: "en", module, key: "title", value: "Title" },
        { language: "ko", module, key: "greeting", value: "안녕하세요, {name}님!" },
        { language: "ko", module, key: "items", value: "항목 {{count}}개" },
        { language: "ko", module, key: "title", value: "" },
        { language: "xx", module, key: "title", value: "Title" },
      ],
    });
    expect(error).toBeNull();
    expect(data).toMatchObject({ saved_count: 4, error_count: 3 });
    expect((data as { errors: unknown[] }).errors).toEqual([
      {
        index: 4,
        module,
        key: "items",
        language: "ko",
        code: "placeholder_mismatch",
        message:
          `placeholders of ${module}.items (ko) do not match the source: {count} expected, {{count}} given`,
      },
      {
        index: 5,
        module,
        key: "title",
        language: "ko",
        code: "empty_value",
        message: `the value of ${module}.title (ko) is empty`,
      },
      {
        index: 6,
        module,
        key: "title",
        language: "xx",
        code: "unknown_language",
        message: "unknown language: xx",
      },
    ]);
  });

  it("all or nothing refuses the whole call with the errors in details", async () => {
    const { error } = await translator.client.rpc("upsert_translations", {
      entries: [
        { language: "ko", module, key: "title", value: "제목" },
        { language: "ko", module, key: "items", value: "항목" },
      ],
      all_or_nothing: true,
    });
    expect(error).toMatchObject({
      code: "22023",
      message: "1 of 2 strings refused; nothing saved",
    });
    expect(JSON.parse(error!.details)[0]).toMatchObject({
      code: "placeholder_mismatch",
      key: "items",
    });
    const { data } = await anon.rpc("translation", {
      for_language: "ko",
      in_module: module,
      for_key: "title",
    });
    expect(data).toMatchObject([{ value: "Title", language: "en", is_fallback: true }]);
  });

  it("anon reads a module a page at a time, missing keys in English and flagged", async () => {
    const first = await anon.rpc("translations", {
      for_language: "ko",
      in_module: module,
      page: 1,
      page_size: 2,
    });
    expect(first.error).toBeNull();
    expect(first.data).toMatchObject([
      {
        key: "greeting",
        value: "안녕하세요, {name}님!",
        language: "ko",
        is_fallback: false,
        total_count: 3,
      },
      { key: "items", value: "{count} items", language: "en", is_fallback: true, total_count: 3 },
    ]);
    const second = await anon.rpc("translations", {
      for_language: "ko",
      in_module: module,
      page: 2,
      page_size: 2,
    });
    expect(second.data).toMatchObject([{ key: "title", is_fallback: true }]);
    const tooBig = await anon.rpc("translations", { for_language: "ko", page_size: 500 });
    expect(tooBig.status).toBe(400);
    expect(tooBig.error?.message).toBe("page is 1 or more and page_size 1 to 100");
    const inactive = await anon.rpc("translations", { for_language: "fr" });
    expect(inactive.status).toBe(400);
    expect(inactive.error?.message).toBe("unknown language: fr");
    const missing = await anon.rpc("translation", {
      for_language: "ko",
      in_module: module,
      for_key: "nothing",
    });
    expect(missing.status).toBe(404);
  });

  it("the coverage report shows missing and stale keys; a changed source makes its translation stale", async () => {
    const changed = await translator.client.from("translation_strings").update({
      value: "Hi there, {name}!",
    })
      .match({ module, key: "greeting", language: "en" }).select("value");
    expect(changed.data).toEqual([{ value: "Hi there, {name}!" }]);
    const { data, error } = await translator.client.rpc("translation_coverage");
    expect(error).toBeNull();
    const ko = data!.find((row) => row.language === "ko")!;
    expect(ko.missing_keys).toEqual(expect.arrayContaining([`${module}.items`, `${module}.title`]));
    expect(ko.stale_keys).toContain(`${module}.greeting`);
    expect(ko.coverage_percent).toBeLessThan(100);
    const en = data!.find((row) => row.language === "en")!;
    expect(en).toMatchObject({ is_default: true, coverage_percent: 100, missing: 0 });
    const { data: one } = await anon.rpc("translation", {
      for_language: "ko",
      in_module: module,
      for_key: "greeting",
    });
    expect(one).toMatchObject([{ is_stale: true, is_fallback: false }]);
  });

  it("anon downloads a language pack, nested by module or flat", async () => {
    const nested = await anon.rpc("language_pack", { for_language: "ko", in_module: module });
    expect(nested.error).toBeNull();
    expect(nested.data).toMatchObject({
      language: "ko",
      default_language: "en",
      format: "nested",
      strings: {
        [module]: { greeting: "안녕하세요, {name}님!", items: "{count} items", title: "Title" },
      },
      fallback_keys: [`${module}.items`, `${module}.title`],
    });
    const flat = await anon.rpc("language_pack", { for_language: "ko", flat: true });
    expect((flat.data as { strings: Record<string, string> }).strings).toMatchObject({
      "common.save": "저장",
      [`${module}.greeting`]: "안녕하세요, {name}님!",
    });
  });

  it("a user without i18n.manage is refused, and anon cannot write", async () => {
    const upsert = await user.client.rpc("upsert_translations", {
      entries: [{ language: "en", module, key: "hack", value: "x" }],
    });
    expect(upsert.status).toBe(403);
    expect(upsert.error?.message).toBe(
      "permission denied: i18n.manage is required to write strings",
    );
    const coverage = await user.client.rpc("translation_coverage");
    expect(coverage.status).toBe(403);
    const insert = await anon.from("translation_strings").insert({
      module,
      key: "hack",
      language: "en",
      value: "x",
    });
    expect(insert.status).toBe(401);
    const update = await user.client.from("translation_strings").update({ value: "hacked" })
      .match({ module, key: "title", language: "en" }).select();
    expect(update.data).toEqual([]);
  });

  it("a profile's locale must be a known language", async () => {
    const refused = await user.client.from("private_profiles").update({ locale: "xx" }).eq(
      "id",
      user.id,
    );
    expect(refused.status).toBe(400);
    expect(refused.error).toMatchObject({ code: "22023", message: "unknown language: xx" });
    const ok = await user.client.from("private_profiles").update({ locale: "ko" }).eq("id", user.id)
      .select("locale");
    expect(ok.data).toEqual([{ locale: "ko" }]);
  });
});
