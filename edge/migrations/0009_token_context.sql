-- SMART App Launch 2.2 token introspection: an active token's answer echoes
-- the launch context of the token response that issued it (`patient`,
-- `encounter`, `fhirContext`, `need_patient_banner`, `smart_style_url`, as
-- sent) and, when that response carried an id_token, the id_token's `iss`,
-- `sub` and `fhirUser` (oauth::introspect::echo). A JSON object; NULL for
-- tokens issued before this migration (introspection then echoes the
-- token's `patient` column). Like 0003, this lives in DB_0.
ALTER TABLE access_tokens ADD COLUMN context TEXT;
