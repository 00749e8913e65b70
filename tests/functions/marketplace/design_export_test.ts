import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { handler } from "../../../functions/design-export/handler.ts";
import { exportRequestSchema } from "../../../functions/design-export/export.ts";
import { svgToPng } from "../../../functions/design-export/raster.ts";
import {
  escapeXml,
  pageFor,
  pixelSize,
  PresetTooLargeError,
  renderSvg,
} from "../../../functions/design-export/render.ts";
import { type Pattern, patternSchema } from "../../../functions/design-export/pattern.ts";
import { withFakeSupabase } from "../platform/fake_supabase.ts";
import fixture from "./fixtures/pattern.json" with { type: "json" };

const pattern: Pattern = patternSchema.parse(fixture);
const uid = "3f6a1c2e-8b7d-4e5f-9a0b-1c2d3e4f5a6b";
const designId = "7d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6";

// --- the SVG ----------------------------------------------------------------------------

Deno.test("the SVG is the canvas at true size with one group per piece", () => {
  const svg = renderSvg(pattern, pageFor(pattern), { title: "Gown <v2>" });
  ok(svg.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<svg '));
  ok(svg.includes('width="120cm" height="80cm" viewBox="0 0 120 80"'), svg);
  ok(svg.includes("<title>Gown &lt;v2&gt;</title>"));
  ok(svg.includes('<rect x="0" y="0" width="120" height="80" fill="#ffffff"/>'));
  strictEqual(svg.match(/<g id="piece-\d+" class="piece"/g)?.length, 3);
  ok(svg.includes('<polygon points="10,10 50,10 55,60 5,60" fill="#f2c14e"/>'));
  ok(svg.includes('<polygon points="70,10 110,20 100,50 65,40"/>'), "closed is the default");
  ok(svg.includes('<polyline points="5,75 60.25,72.5 115,75"/>'), "an open piece is a polyline");
  ok(svg.includes('data-name="Front &amp; &lt;bodice&gt;"'));
  ok(svg.includes("<title>Sleeve &apos;left&apos;</title>"));
  ok(svg.includes(">Hem &quot;line&quot;</text>"));
  ok(!/<[^>]*<bodice/.test(svg), "no name reaches the markup unescaped");
  ok(svg.trimEnd().endsWith("</svg>"));
});

Deno.test("a paper size centres the canvas on the page, turned to the drawing", () => {
  const page = pageFor(pattern, { size: "a4", background: "transparent" });
  strictEqual(page.unit, "mm");
  deepStrictEqual([page.width, page.height], [297, 210], "a wide pattern goes on landscape paper");
  // 120 x 80 on a 297:210 page: the height grows to 120 * 210 / 297, centred vertically.
  strictEqual(page.viewBox.width, 120);
  ok(Math.abs(page.viewBox.height - 84.8485) < 1e-3);
  ok(Math.abs(page.viewBox.y + (page.viewBox.height - 80) / 2) < 1e-9);
  const svg = renderSvg(pattern, page, { title: "t" });
  ok(svg.includes('width="297mm" height="210mm" viewBox="0 -2.4242 120 84.8485"'), svg);
  ok(!svg.includes("<rect"), "a transparent background draws no rectangle");
});

Deno.test("scale multiplies the physical size, not the viewBox", () => {
  const svg = renderSvg(pattern, pageFor(pattern, { scale: 0.5 }), { title: "t" });
  ok(svg.includes('width="60cm" height="40cm" viewBox="0 0 120 80"'));
});

Deno.test("escapeXml escapes markup and drops characters XML cannot hold", () => {
  strictEqual(escapeXml(`a<b>&"c'\u0001`), "a&lt;b&gt;&amp;&quot;c&apos;");
});

// --- PNG sizes ------------------------------------------------------------------------------

Deno.test("PNG sizes: 96 dpi by default, capped; width_px keeps the aspect; too large is refused", () => {
  // 120 cm at 96 dpi is 4535 px: shrunk to 4096 on the long side.
  deepStrictEqual(pixelSize(pageFor(pattern)), { width: 4096, height: 2731 });
  deepStrictEqual(pixelSize(pageFor(pattern), 600), { width: 600, height: 400 });
  const tall = patternSchema.parse({ ...fixture, width: 60, height: 1000 });
  throws(() => pixelSize(pageFor(tall), 1000), PresetTooLargeError);
});

Deno.test("svgToPng rasterises with resvg at the requested width", async () => {
  const svg = renderSvg(pattern, pageFor(pattern), { title: "t" });
  const png = await svgToPng(svg, 300);
  deepStrictEqual([png.width, png.height], [300, 200]);
  deepStrictEqual([...png.bytes.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10]);
  const ihdr = new DataView(png.bytes.buffer, png.bytes.byteOffset + 16, 8);
  deepStrictEqual([ihdr.getUint32(0), ihdr.getUint32(4)], [300, 200]);
});

// --- request and pattern validation -------------------------------------------------------

Deno.test("the request schema refuses bad formats, unknown keys and abusive presets", () => {
  const valid = { design_id: designId, format: "svg" };
  ok(exportRequestSchema.safeParse(valid).success);
  ok(exportRequestSchema.safeParse({ ...valid, format: ["json", "png"] }).success);
  const refused = [
    { ...valid, format: "pdf" },
    { ...valid, format: [] },
    { ...valid, design_id: "not-a-uuid" },
    { ...valid, extra: true },
    { ...valid, preset: { size: "b5" } },
    { ...valid, preset: { width_px: 8001 } },
    { ...valid, preset: { width_px: 10.5 } },
    { ...valid, preset: { scale: 0 } },
    { ...valid, preset: { scale: 11 } },
    { ...valid, preset: { size: "a4", scale: 2 } },
    { ...valid, preset: { background: "red" } },
    { ...valid, preset: { dpi: 9000 } },
    { ...valid, share_token: "" },
  ];
  for (const body of refused) {
    ok(!exportRequestSchema.safeParse(body).success, JSON.stringify(body));
  }
});

Deno.test("the pattern schema mirrors private.pattern_problem", () => {
  ok(patternSchema.safeParse(fixture).success);
  const refused = [
    { ...fixture, version: 2 },
    { ...fixture, units: "ft" },
    { ...fixture, width: 0 },
    { ...fixture, height: 100001 },
    { ...fixture, pieces: [] },
    { ...fixture, parameters: { bust: "92" } },
    { ...fixture, pieces: [{ name: "", points: [[0, 0], [1, 1]] }] },
    { ...fixture, pieces: [{ name: "a", points: [[0, 0]] }] },
    { ...fixture, pieces: [{ name: "a", points: [[0, 0], [1]] }] },
    { ...fixture, pieces: [{ name: "a", points: [[0, 0], [1, 1]], fill: "red" }] },
    { ...fixture, pieces: [{ name: "a", points: [[0, 0], [241, 1]] }] },
  ];
  for (const body of refused) ok(!patternSchema.safeParse(body).success, JSON.stringify(body));
});

// --- the handler ----------------------------------------------------------------------------

function post(body: unknown, token: string | null = "user-token"): Request {
  return new Request("http://localhost/design-export", {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify(body),
  });
}

function design(ownerId: string) {
  return {
    id: designId,
    owner_id: ownerId,
    title: "Gown",
    description: "",
    tags: [],
    visibility: "public",
    pattern: fixture,
    created_at: "2026-01-01T00:00:00Z",
    updated_at: "2026-01-01T00:00:00Z",
  };
}

const baseState = {
  user: { id: uid, email: "designer@example.com" },
  password: "unused",
  objects: {},
};

Deno.test("only POST is allowed", async () => {
  const res = await handler(new Request("http://localhost/design-export"));
  strictEqual(res.status, 405);
  strictEqual((await res.json()).error.code, "method_not_allowed");
});

Deno.test("a bad body is a 400 in the error format, before any request to Supabase", async () => {
  await withFakeSupabase(baseState, async (fake) => {
    const res = await handler(post({ design_id: designId, format: "svg", preset: { scale: 50 } }));
    strictEqual(res.status, 400);
    const body = await res.json();
    strictEqual(body.error.code, "invalid_request");
    deepStrictEqual(body.error.details[0].path, ["preset", "scale"]);
    strictEqual(fake.requests.length, 0);
  });
});

Deno.test("without a session or a share token the caller is refused with 401", async () => {
  await withFakeSupabase(baseState, async () => {
    const res = await handler(post({ design_id: designId, format: "json" }, "anon-key"));
    strictEqual(res.status, 401);
    strictEqual((await res.json()).error.code, "unauthorized");
  });
});

Deno.test("a design the caller cannot see is 404, someone else's public design 403", async () => {
  await withFakeSupabase(baseState, async () => {
    const missing = await handler(post({ design_id: designId, format: "json" }));
    strictEqual(missing.status, 404);
    strictEqual((await missing.json()).error.code, "not_found");
  });
  await withFakeSupabase(
    { ...baseState, rows: { designs: [design("someone-else")] } },
    async (fake) => {
      const res = await handler(post({ design_id: designId, format: "json" }));
      strictEqual(res.status, 403);
      strictEqual((await res.json()).error.code, "forbidden");
      ok(!fake.requests.some((r) => r.path.startsWith("/storage/")), "nothing was written");
    },
  );
});

Deno.test("the owner's export is read as them and written by the service role", async () => {
  await withFakeSupabase({ ...baseState, rows: { designs: [design(uid)] } }, async (fake) => {
    const res = await handler(post({ design_id: designId, format: ["svg", "json", "svg"] }));
    strictEqual(res.status, 200);
    const { exports } = await res.json();
    deepStrictEqual(exports.map((e: { format: string }) => e.format), ["svg", "json"]);
    for (const e of exports) {
      ok(new RegExp(`^${uid}/${designId}/[0-9T-]+Z\\.${e.format}$`).test(e.path), e.path);
      ok(e.signed_url.startsWith(`${fake.url}/storage/v1/object/sign/exports/`));
      const expiresIn = Date.parse(e.expires_at) - Date.now();
      ok(expiresIn > 3500_000 && expiresIn <= 3600_000);
    }
    const read = fake.requests.find((r) => r.path === "/rest/v1/designs");
    strictEqual(read?.authorization, "Bearer user-token");
    ok(read?.search.includes(`id=eq.${designId}`));
    const uploads = fake.requests.filter((r) => r.path.startsWith("/storage/v1/object/exports/"));
    strictEqual(uploads.length, 2);
    for (const upload of uploads) strictEqual(upload.authorization, "Bearer service-role-key");
    const svg = fake.state.uploads[`exports/${exports[0].path}`];
    ok(svg.includes('viewBox="0 0 120 80"'));
    strictEqual(JSON.parse(fake.state.uploads[`exports/${exports[1].path}`]).design.id, designId);
  });
});

Deno.test("a share token is checked by get_shared_design and must open this design", async () => {
  const shared = { status: 200, body: design("the-owner") };
  await withFakeSupabase({ ...baseState, rpc: { get_shared_design: shared } }, async (fake) => {
    const res = await handler(
      post({ design_id: designId, format: "json", share_token: "tok" }, "anon-key"),
    );
    strictEqual(res.status, 200);
    const { exports } = await res.json();
    ok(exports[0].path.startsWith(`the-owner/${designId}/`), "it lands in the owner's folder");
    const call = fake.requests.find((r) => r.path === "/rest/v1/rpc/get_shared_design");
    deepStrictEqual(JSON.parse(call!.body), { token: "tok" });
    strictEqual(call!.authorization, "Bearer anon-key");

    const other = await handler(post({
      design_id: "00000000-0000-4000-8000-000000000000",
      format: "json",
      share_token: "tok",
    }, "anon-key"));
    strictEqual(other.status, 404, "a token for another design opens nothing");
    await other.body?.cancel();
  });
});

Deno.test("revoked and expired share tokens are refused in the error format", async () => {
  const cases = [
    { code: "PT404", message: "share link not found or revoked", status: 404, error: "not_found" },
    { code: "PT410", message: "share link expired", status: 410, error: "share_link_expired" },
  ];
  for (const c of cases) {
    const rpc = {
      get_shared_design: { status: c.status, body: { code: c.code, message: c.message } },
    };
    await withFakeSupabase({ ...baseState, rpc }, async () => {
      const res = await handler(
        post({ design_id: designId, format: "svg", share_token: "tok" }, "anon-key"),
      );
      strictEqual(res.status, c.status);
      deepStrictEqual(await res.json(), { error: { code: c.error, message: c.message } });
    });
  }
});
