// The files scenario (004 "File Storage", supabase/schemas/85_files): what the owner-only rules
// on user files cost, as ratios within one run.
//
//   list:    the owner's 20 newest images with the total (Prefer: count=exact), as a client
//            lists its files, among OWNERS x FILES_EACH files: the owner (RLS on files) beside
//            service_role with the same filter (the same rows and total).
//   uploads: small PNGs into user-files through the gateway and the Storage stand-in, each to a
//            new name in the owner's image folder: the owner (the bucket's policies on
//            storage.objects: own folder, category and type, content rule, the upload limit's
//            restrictive policy) beside service_role (no policies); both fire the trigger that
//            writes the files row. The uploads are counted afterwards: every one answered 200
//            has its files row.
//
// The objects are seeded as Storage writes them (storage.objects with its metadata), so the
// trigger writes their files rows as it does for an upload. Load accounts are trusted
// (seedUsers): the upload limit is looked up, never reached.

import type autocannon from "autocannon";
import { RATIO_TARGET, type Scenario } from "./scenarios.ts";
import {
  accessTokenFor,
  type BenchStack,
  comparePair,
  count,
  printMeasured,
  progress,
  seconds,
  seedUsers,
} from "./support.ts";

const OWNERS = 100;
/**
 * What an owner's upload may cost against the service role's. Every signed-in write to
 * storage.objects plans every bucket's policies (Supabase keeps them all on that one table),
 * the upload limit is looked up, and the bucket's own rules run, at Storage's permission probe
 * and at the write: about 1 ms of Postgres CPU the service role never spends, a quarter of the
 * throughput of an empty upload, nothing beside a real file's transfer
 * (docs/domains/files.md, What an upload costs). Below 0.65 a helper has gone back to being
 * planned at every statement (0.51-0.58 when they were SQL functions).
 */
const UPLOAD_RATIO_TARGET = 0.65;
const FILES_EACH = 100;
const BUCKET = "user-files";
/** The smallest valid PNG: 1x1, one transparent pixel. */
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
  "base64",
);

/** Uploads to fresh names in `owner`'s image folder, one name per request, as `token`. */
function uploads(
  stack: BenchStack,
  owner: string,
  token: string,
  side: string,
): autocannon.Request[] {
  let next = 0;
  const run = Date.now().toString(36);
  return [{
    method: "POST",
    setupRequest(request) {
      request.path =
        `/storage/v1/object/${BUCKET}/${owner}/image/bench-${side}-${run}-${next++}.png`;
      request.headers = {
        apikey: side === "owner" ? stack.anonKey : stack.serviceRoleKey,
        authorization: `Bearer ${token}`,
        "content-type": "image/png",
      };
      request.body = PNG;
      return request;
    },
  }];
}

export const files: Scenario = {
  name: "files",
  describe: `a user's files among ${count(OWNERS * FILES_EACH)} (${OWNERS} owners): the owner's ` +
    "list with its total, and uploads through Storage, each beside service_role",
  async run(stack, db) {
    await seedUsers(db, "files", OWNERS);
    const line = progress(`  seeding ${count(OWNERS * FILES_EACH)} files`);
    const begun = performance.now();
    // As Storage inserts an uploaded object: its metadata (eTag, size, mimetype) makes the
    // trigger write the files row. A third of each owner's files are images.
    await db.query(
      `insert into storage.objects (bucket_id, name, owner_id, metadata, user_metadata, created_at)
       select $1, u.id || '/' || c.category || '/seed-' || i || '.' || c.ext, u.id::text,
              jsonb_build_object('eTag', '"' || md5(u.id::text || i) || '"', 'size', 1000 + i,
                                 'mimetype', c.content_type),
              jsonb_build_object('original_name', 'File ' || i || '.' || c.ext),
              now() - make_interval(secs => i * 60)
         from auth.users u
         cross join generate_series(1, $2::int) i
         cross join lateral (select (array['image', 'document', 'video'])[1 + i % 3] category,
                                    (array['png', 'pdf', 'mp4'])[1 + i % 3] ext,
                                    (array['image/png', 'application/pdf', 'video/mp4'])[1 + i % 3] content_type) c
        where u.email like 'files-%@example.com'`,
      [BUCKET, FILES_EACH],
    );
    await db.query("analyze public.files; analyze storage.objects");
    line.done(`done in ${seconds(performance.now() - begun)}`);

    const { rows: [owner] } = await db.query<{ id: string; images: number }>(
      `select u.id, (select count(*)::int from public.files f where f.owner_id = u.id and f.category = 'image') images
         from auth.users u where u.email = 'files-1@example.com'`,
    );
    const token = await accessTokenFor(stack, owner.id);
    const asOwner = { apikey: stack.anonKey, authorization: `Bearer ${token}` };
    const asService = {
      apikey: stack.serviceRoleKey,
      authorization: `Bearer ${stack.serviceRoleKey}`,
    };

    // The list: the same filter on both sides (owner_id, as supabase-js clients add it), so both
    // answer the same 20 rows and the same total; the owner's also passes the files policy.
    const listUrl =
      `${stack.apiUrl}/rest/v1/files?select=id,original_name,category,content_type,size,created_at` +
      `&owner_id=eq.${owner.id}&category=eq.image&order=created_at.desc&limit=20`;
    for (const headers of [asOwner, asService]) {
      const response = await fetch(listUrl, { headers: { ...headers, prefer: "count=exact" } });
      const rows = (await response.json()) as unknown[];
      const total = response.headers.get("content-range")?.split("/")[1];
      if (!response.ok || rows.length !== 20 || Number(total) !== owner.images) {
        throw new Error(
          `the list answered ${response.status}, ${rows.length} rows of ${total} (expected 20 of ${owner.images})`,
        );
      }
    }
    const [ownerList, serviceList] = await comparePair("list", stack, [
      { name: "owner", url: listUrl, headers: { ...asOwner, prefer: "count=exact" } },
      { name: "service_role", url: listUrl, headers: { ...asService, prefer: "count=exact" } },
    ]);
    printMeasured("list, owner (RLS)", ownerList);
    printMeasured("list, service_role", serviceList);
    const listRatio = ownerList.requestsPerSecond / serviceList.requestsPerSecond;
    console.log(`  list: ratio ${listRatio.toFixed(2)} (target >= ${RATIO_TARGET})`);

    const { rows: [before] } = await db.query<{ n: number }>(
      "select count(*)::int n from public.files where owner_id = $1",
      [owner.id],
    );
    const uploadUrl = `${stack.apiUrl}/storage/v1/object/${BUCKET}/`;
    const [ownerUploads, serviceUploads] = await comparePair("uploads", stack, [
      {
        name: "owner",
        url: uploadUrl,
        headers: {},
        requests: uploads(stack, owner.id, token, "owner"),
      },
      {
        name: "service_role",
        url: uploadUrl,
        headers: {},
        requests: uploads(stack, owner.id, stack.serviceRoleKey, "service"),
      },
    ]);
    printMeasured("uploads, owner (policies)", ownerUploads);
    printMeasured("uploads, service_role", serviceUploads);
    const uploadRatio = ownerUploads.requestsPerSecond / serviceUploads.requestsPerSecond;
    console.log(`  uploads: ratio ${uploadRatio.toFixed(2)} (target >= ${UPLOAD_RATIO_TARGET})`);

    // Every upload answered 200 is a stored object with its files row (the warm-up rounds'
    // too, which comparePair does not count: they are the difference, never fewer).
    const { rows: [after] } = await db.query<{ n: number; objects: number }>(
      `select (select count(*)::int from public.files where owner_id = $1) n,
              (select count(*)::int from storage.objects where bucket_id = $2 and name like $1 || '/image/bench-%') objects`,
      [owner.id, BUCKET],
    );
    const uploaded = ownerUploads.requests - ownerUploads.errors + serviceUploads.requests -
      serviceUploads.errors;
    const rowsAdded = after.n - before.n;
    if (rowsAdded !== after.objects || rowsAdded < uploaded) {
      throw new Error(
        `${uploaded} uploads answered 200, ${after.objects} objects stored, ${rowsAdded} files rows written`,
      );
    }

    return {
      numbers: {
        files: OWNERS * FILES_EACH,
        list: { owner: ownerList, service_role: serviceList, ratio: listRatio },
        uploads: {
          owner: ownerUploads,
          service_role: serviceUploads,
          ratio: uploadRatio,
          stored: after.objects,
        },
      },
      checks: [
        {
          row: "files: list, owner / service_role",
          value: listRatio,
          unit: "x",
          min: RATIO_TARGET,
        },
        {
          row: "files: uploads, owner / service_role",
          value: uploadRatio,
          unit: "x",
          min: UPLOAD_RATIO_TARGET,
        },
        {
          row: "files: failed requests",
          value: ownerList.errors + serviceList.errors + ownerUploads.errors +
            serviceUploads.errors,
          unit: "",
          below: 1,
        },
      ],
    };
  },
};
