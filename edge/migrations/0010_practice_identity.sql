-- Who a practice is in the public documents (the service base / User-access
-- Brands Bundle at GET /fhir): its NPI, its postal address (a FHIR Address,
-- JSON), the brand details apps show (a logo and the patient portal), and
-- its sites (JSON: each an Organization that is `partOf` the practice's).
-- The admin API requires the NPI and the address of every practice it
-- creates or updates; rows from before this migration have neither until
-- the operator sets them.
ALTER TABLE practices ADD COLUMN npi TEXT;
ALTER TABLE practices ADD COLUMN address TEXT;
ALTER TABLE practices ADD COLUMN logo_url TEXT;
ALTER TABLE practices ADD COLUMN portal_name TEXT;
ALTER TABLE practices ADD COLUMN portal_url TEXT;
ALTER TABLE practices ADD COLUMN sites TEXT;
