// supabase-js's own CORS headers, as Supabase's docs now recommend: the four the docs list
// (authorization, x-client-info, apikey, content-type) plus every other header the SDK
// sends (retry and trace headers), kept in step with the SDK version pinned here.
import { corsHeaders as sdkCorsHeaders } from "npm:@supabase/supabase-js@2.119.1/cors";

export const corsHeaders: Readonly<Record<string, string>> = sdkCorsHeaders;

/** The answer to a browser's CORS preflight (an OPTIONS request, which carries no auth). */
export function preflightResponse(): Response {
  return new Response(null, { status: 204, headers: corsHeaders });
}
