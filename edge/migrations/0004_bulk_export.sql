-- Bulk Data export jobs (FHIR Bulk Data Access STU 2). A job lives in its
-- practice's shard; its output files live in R2 (`EXPORTS`). The job is run
-- in bounded chunks (queue messages); `state` is the cursor of the next
-- chunk and `version` makes each chunk's commit exactly-once.
CREATE TABLE export_jobs (
  job_id TEXT PRIMARY KEY,
  practice TEXT NOT NULL,
  client_id TEXT NOT NULL,            -- '' for the operator
  request TEXT NOT NULL,              -- the kick-off URL
  kind TEXT NOT NULL,                 -- group | patient | system
  params TEXT NOT NULL,               -- JSON: types, ref_types, since, type_filters, elements, scope
  members TEXT NOT NULL,              -- JSON array of Patient ids (as of kick-off)
  transaction_time INTEGER NOT NULL,
  status TEXT NOT NULL,               -- running | done | failed | cancelled
  state TEXT NOT NULL,                -- JSON cursor of the next chunk
  version INTEGER NOT NULL,
  lease_until INTEGER NOT NULL,       -- a runner holds the job until then
  output TEXT NOT NULL,               -- JSON [{type, name, count}]
  error TEXT,                         -- why it failed
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  expires_at INTEGER                  -- files and job are deleted after this
);
CREATE INDEX export_jobs_client ON export_jobs(practice, client_id, status);
CREATE INDEX export_jobs_expiry ON export_jobs(expires_at);

-- Non-compartment resources (Medication, Location, Organization,
-- Practitioner, PractitionerRole) the members' records reference.
CREATE TABLE export_refs (
  job_id TEXT NOT NULL,
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  PRIMARY KEY (job_id, type, id)
);
