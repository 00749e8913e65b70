// POST /commerce-download { product_id }: the buyer of a paid digital item gets a short-lived
// signed URL (5 minutes) to the product's file in the private product-files bucket. Whether the
// caller bought it is read as the caller, under RLS (shop_order_items of their own shop orders:
// paid, shipped or delivered, so not cancelled or refunded); anyone else, the seller included
// (who reads their files through the bucket's policy), gets 404. Digital items fulfil on
// payment: nothing is shipped.
import { z } from "npm:zod@4.6.7";
import { HttpError, json, methodNotAllowed } from "../_shared/http/errors.ts";
import { createHandler } from "../_shared/http/handler.ts";
import { readJson } from "../_shared/http/request.ts";
import { requireUser, serviceClient } from "../_shared/platform/supabase.ts";

const downloadRequest = z.object({ product_id: z.uuid() }).strict();

export const SIGNED_URL_SECONDS = 300;

export const handler = createHandler(async (req) => {
  if (req.method !== "POST") throw methodNotAllowed(req.method, ["POST"]);
  const { user, client } = await requireUser(req);
  const { product_id } = await readJson(req, downloadRequest);
  const { data: bought, error } = await client
    .from("shop_order_items")
    .select("id, shop_orders!inner(buyer_id, status)")
    .eq("product_id", product_id)
    .eq("kind", "digital")
    .eq("shop_orders.buyer_id", user.id)
    .in("shop_orders.status", ["paid", "shipped", "delivered"])
    .limit(1);
  if (error) throw error;
  if (!bought || bought.length === 0) {
    throw new HttpError("not_found", `no paid purchase of product ${product_id} to download`);
  }
  const service = serviceClient();
  const { data: product, error: productError } = await service
    .from("products")
    .select("digital_file_path")
    .eq("id", product_id)
    .maybeSingle();
  if (productError) throw productError;
  if (!product?.digital_file_path) {
    throw new HttpError("not_found", `product ${product_id} has no file to download`);
  }
  const signed = await service.storage.from("product-files").createSignedUrl(
    product.digital_file_path,
    SIGNED_URL_SECONDS,
  );
  if (signed.error) throw signed.error;
  return json({
    product_id,
    signed_url: signed.data.signedUrl,
    expires_in: SIGNED_URL_SECONDS,
  });
});
