-- The invoices bucket (private): rendered PDFs under <customer id>/<invoice id>.pdf, written
-- by the billing-invoice-pdf function with the service role only (regenerated identically for
-- the same invoice), served by signed URL. The customer reads their own folder, billing
-- managers every folder. The bucket row is reference data (the billing reference-data
-- migration) and supabase/config.toml's [storage.buckets.invoices].

create policy "Customers read their invoice PDFs, billing managers all"
  on storage.objects for select to authenticated
  using (bucket_id = 'invoices'
         and ((storage.foldername(name))[1] = (select auth.uid())::text or (select private.has_permission('billing.manage'))));
