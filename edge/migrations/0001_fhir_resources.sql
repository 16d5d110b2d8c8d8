-- FHIR data plane: current resource versions and their search indexes.
-- Index rows are computed at write time from the registry in flare-core
-- (core/src/index.rs); every search reads only these tables.

-- Practices (tenants). Each lives in exactly one D1 shard.
CREATE TABLE practices (
  key TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  organization_id TEXT,
  created_at INTEGER NOT NULL
);

-- One row per resource: the current version. rid only grows (AUTOINCREMENT),
-- so default paging by rid never repeats or skips a row while imports run.
CREATE TABLE resources (
  rid INTEGER PRIMARY KEY AUTOINCREMENT,
  practice TEXT NOT NULL,
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  version INTEGER NOT NULL,
  last_updated INTEGER NOT NULL, -- epoch milliseconds
  json TEXT NOT NULL
);
CREATE UNIQUE INDEX resources_key ON resources(practice, type, id);
-- (practice, type) rows come out in rid order: unfiltered searches page without sorting.
CREATE INDEX resources_type ON resources(practice, type);
CREATE INDEX resources_updated ON resources(practice, type, last_updated);

CREATE TABLE idx_token (
  rid INTEGER NOT NULL,
  practice TEXT NOT NULL,
  type TEXT NOT NULL,
  param TEXT NOT NULL,
  system TEXT,
  code TEXT,          -- lower-cased
  text TEXT           -- normalized display text, for :text
);
CREATE INDEX idx_token_code ON idx_token(practice, type, param, code, rid);
CREATE INDEX idx_token_rid ON idx_token(rid, param, code);

CREATE TABLE idx_string (
  rid INTEGER NOT NULL,
  practice TEXT NOT NULL,
  type TEXT NOT NULL,
  param TEXT NOT NULL,
  norm TEXT NOT NULL,  -- case- and accent-folded
  exact TEXT NOT NULL
);
CREATE INDEX idx_string_norm ON idx_string(practice, type, param, norm, rid);
CREATE INDEX idx_string_rid ON idx_string(rid, param, norm);

CREATE TABLE idx_date (
  rid INTEGER NOT NULL,
  practice TEXT NOT NULL,
  type TEXT NOT NULL,
  param TEXT NOT NULL,
  start INTEGER NOT NULL, -- epoch ms, inclusive
  "end" INTEGER NOT NULL  -- epoch ms, inclusive
);
CREATE INDEX idx_date_start ON idx_date(practice, type, param, start, rid);
CREATE INDEX idx_date_rid ON idx_date(rid, param, start, "end");

CREATE TABLE idx_reference (
  rid INTEGER NOT NULL,
  practice TEXT NOT NULL,
  type TEXT NOT NULL,
  param TEXT NOT NULL,
  target_type TEXT,
  target_id TEXT,
  url TEXT NOT NULL
);
CREATE INDEX idx_reference_target ON idx_reference(practice, type, param, target_id, rid);
CREATE INDEX idx_reference_rid ON idx_reference(rid, param, target_id);

-- Patient compartment membership (FHIR R4 CompartmentDefinition/patient).
CREATE TABLE compartment (
  rid INTEGER NOT NULL,
  practice TEXT NOT NULL,
  patient_id TEXT NOT NULL,
  type TEXT NOT NULL
);
CREATE INDEX compartment_patient ON compartment(practice, patient_id, type, rid);
CREATE INDEX compartment_rid ON compartment(rid);
